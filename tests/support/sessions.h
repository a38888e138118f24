/* sessions.h — PostgreSQL sessions for the lock and idle-transaction tests.
 *
 * Each helper aborts the test with the reason on failure.  A test_session() backend notices
 * within 100 ms (client_connection_check_interval) that the test process went away, even in
 * the middle of a statement, so a failed test cannot leave locks held for the next one. */
#pragma once

#include <stdbool.h>
#include <libpq-fe.h>

#include "cleanup.h"

/* conninfo with more key=value pairs appended (later keys win); free() it. */
char *test_conninfo_with(const char *conninfo, const char *extra);
/* A session with application_name set. */
PGconn *test_session(const char *conninfo, const char *application_name);
/* A superuser session on database app, to watch and clean up from outside. */
PGconn *test_observer(void);
/* A session made ready for lockwatch.h and progress.h (watch-session.h). */
PGconn *test_watch_session(const char *conninfo);
/* Runs sql, aborting on failure. */
void test_exec(PGconn *conn, const char *sql);
/* DROP and CREATE TABLE name (id int PRIMARY KEY, v int) with 10 rows, owned by deployer,
 * usable by app_user. */
void test_create_table(const char *name);
/* Wait (bounded) until pid waits on a lock / holds a lock on relation / is in state. */
void test_wait_until_waiting(PGconn *observer, int pid);
void test_wait_until_holding(PGconn *observer, int pid, const char *relation);
void test_wait_until_state(PGconn *observer, int pid, const char *state);
/* Whether pid is a live backend. */
bool test_backend_alive(PGconn *observer, int pid);
