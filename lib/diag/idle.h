/* idle.h — sessions idle in a transaction: find them, terminate them.
 *
 * A candidate is a session of the connection's database whose state is "idle in
 * transaction" or "idle in transaction (aborted)" and whose state_change is more than
 * older_than ago; never the connection's own session, never one of exclude_pids (the
 * deploy's own sessions, among them the deploy lock holder), never a superuser's session
 * unless the connection's role is superuser.  Both functions run on a connection idle
 * outside a transaction (pg_stat_activity would be a stale snapshot otherwise; -EBUSY) and
 * first check the role's privileges: seeing other roles' sessions needs pg_read_all_stats,
 * terminating them pg_signal_backend (or superuser); a missing one is -EACCES with an error
 * that names it and the GRANT that fixes it, never an empty answer.
 *
 * idle_terminate() selects and terminates in ONE statement.  Right before signalling a
 * candidate it reads that backend's state afresh (pg_stat_clear_snapshot() and
 * pg_stat_get_activity(pid)) and spares it unless it is the same backend (backend_start), in
 * the same idle period (state_change) and still idle in a transaction.  Guarantee: a session
 * that ran any statement before that re-check is spared; one that starts a statement in the
 * microseconds between re-check and signal is terminated (no SQL can close that window).
 * All are signalled first; then idle_terminate() waits up to IDLE_TERMINATE_WAIT_MSEC, for all
 * of them together, until each backend has left pg_stat_activity, so that their locks are gone
 * when it returns.  Server text is sanitized (text-sanitize.h).
 * Nothing here prints, logs or builds events (idle-event.h does that for the pipeline). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>

#include "time-util.h"

/* How long idle_terminate() waits for the signalled backends to exit (all together). */
#define IDLE_TERMINATE_WAIT_MSEC 5000
/* Characters of a session's last query kept in IdleSession.query. */
#define IDLE_QUERY_MAX 200

typedef struct IdleFilter {
	usec_t older_than;	 /* idle for longer than this (the plan's default: 60 s) */
	const int *exclude_pids; /* never these; may be NULL */
	size_t n_exclude_pids;
	const int *only_pids; /* when not NULL, only (some of) these */
	size_t n_only_pids;
} IdleFilter;

typedef struct IdleSession {
	int pid;
	char *user;
	char *application;
	char *client; /* "ADDRESS:PORT", "[local]" for a Unix socket, or NULL */
	char *state;  /* "idle in transaction" or "idle in transaction (aborted)" */
	usec_t idle_age_usec;
	usec_t xact_age_usec; /* USEC_INFINITY when unknown (always for an aborted transaction) */
	char *query;	      /* its last query: at most IDLE_QUERY_MAX characters, one line */
	bool terminated;      /* idle_terminate(): the backend exited within the wait */
} IdleSession;

/* Longest idle first. */
typedef struct IdleSessions {
	IdleSession *sessions;
	size_t n_sessions;
} IdleSessions;

/* Checks the connection's role may see (and, with terminate, signal) other roles' sessions:
 * 0, or -EACCES with *ret_error naming the missing role membership and its GRANT. */
int idle_check_privileges(PGconn *conn, bool terminate, char **ret_error);

/* The candidates, untouched (dry run, deployctl idle). */
int idle_list(PGconn *conn, const IdleFilter *filter, IdleSessions **ret, char **ret_error);
/* Terminates the candidates; hands back those signalled.  Errors: -EBUSY, -EACCES, -EIO
 * (*ret_error: "SQLSTATE: message"), -ENOMEM. */
int idle_terminate(PGconn *conn, const IdleFilter *filter, IdleSessions **ret, char **ret_error);

IdleSessions *idle_sessions_free(IdleSessions *s);
static inline void idle_sessions_freep(IdleSessions **s)
{
	idle_sessions_free(*s);
}

/* One complete sentence about one session: "Terminated pid 4100 (user app_user, application
 * api, client [local]): idle in transaction for 75 s; last query: UPDATE …", worded for a
 * session found (terminated false in a listing) or terminated. */
int idle_session_message(const IdleSession *s, bool terminating, char **ret);
