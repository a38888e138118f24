/* watch-session.h — a watch connection made ready for lockwatch.h and progress.h, once.
 *
 * A fresh backend's first look at pg_stat_activity, pg_locks and the progress views costs
 * 15–25 ms (catalog caches, planning) where a warm one costs 0.2–3 ms: a watch that paid it
 * at its first check would name a blocker that much later.  So the connection is made ready
 * before it is needed: jit off (the planner's row guesses for these views put the statements
 * above jit_above_cost, and compiling costs far more than running them), generic plans
 * (planning costs more than running), lock_timeout 100 ms (a watch's query must never wait on
 * a lock itself), the watches' statements prepared and each run once with no target.  watch_session_prepare_send() only queues all that, so that the server does
 * it while the caller does something else (the deploy: stopping the units);
 * watch_session_prepare_finish() waits for it and takes its results; watch_session_prepare()
 * does both.  Each returns 0, or -EIO with *ret_error ("SQLSTATE: message"; "no SQLSTATE"
 * when the connection itself failed), or -ENOMEM.  Nothing here prints or logs. */
#pragma once

#include <libpq-fe.h>

int watch_session_prepare_send(PGconn *conn, char **ret_error);
int watch_session_prepare_finish(PGconn *conn, char **ret_error);
int watch_session_prepare(PGconn *conn, char **ret_error);
