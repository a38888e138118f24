/* lockwatch.h — who blocks a waiting session, from one query per check.
 *
 * A LockWatch is bound to a watch connection (never inside a transaction: pg_stat_activity
 * and pg_locks would be a snapshot frozen at its start) and a target: our backend pids
 * (directory migrations), an application_name (command migrations), or every waiting
 * session of the connection's database (deployctl locks).  lockwatch_check() runs ONE
 * statement that follows pg_blocking_pids() — exact: lock-mode conflicts and queue order,
 * unlike the classic pg_locks self-join — from the target's sessions through the whole
 * chain, and hands back a LockSnapshot: one LockBlocker per (blocked, blocker) edge, roots
 * marked, a prepared transaction as pid 0 with its gid.  Every text from the server is
 * sanitized (text-sanitize.h).  Nothing here prints, logs or builds events
 * (lockwatch-event.h does that for the pipeline). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>

#include "time-util.h"

/* Characters of a blocker's query kept in LockBlocker.query. */
#define LOCKWATCH_QUERY_MAX 200

typedef struct LockBlocker {
	/* The waiting session and the lock it waits for. */
	int blocked_pid;
	bool blocked_is_target; /* a watched session; else a blocker further down the chain */
	usec_t wait_age_usec;	/* how long blocked_pid has waited; USEC_INFINITY if unknown */
	char *mode_wanted;	/* e.g. "AccessExclusiveLock"; NULL if unknown */
	char *lock_type;	/* pg_locks.locktype: relation, tuple, transactionid, … */
	char *relation; /* "schema.table" the lock is on (for a row lock: the row's table) or NULL
			 */

	/* The session (or prepared transaction) in the way. */
	int blocker_pid; /* 0 for a prepared transaction */
	char *gid;	 /* the prepared transaction's gid, else NULL */
	char *user;	 /* NULL when not visible (or a background process) */
	char *application;
	char *client;	       /* "ADDRESS:PORT", "[local]" for a Unix socket, or NULL */
	char *state;	       /* pg_stat_activity.state, "prepared" for a prepared transaction */
	char *backend_type;    /* "client backend", "autovacuum worker", …; NULL for pid 0 */
	usec_t xact_age_usec;  /* since its transaction (or PREPARE) began; USEC_INFINITY if unknown
				*/
	usec_t state_age_usec; /* time in its current state; USEC_INFINITY if unknown */
	/* The blocker's modes on that lock that conflict with mode_wanted ("A,B").  When it holds
	 * none (queued is true) it blocks by being ahead in the wait queue, for mode_held. */
	char *mode_held;
	bool queued;
	char *query;  /* its (last) query: at most LOCKWATCH_QUERY_MAX characters, one line */
	bool is_root; /* it waits for nobody: ending it unblocks the chain */
} LockBlocker;

/* Edges ordered by blocked pid, blocker pid, gid.  Empty when nothing waits. */
typedef struct LockSnapshot {
	LockBlocker *blockers;
	size_t n_blockers;
} LockSnapshot;

typedef struct LockWatch LockWatch;

/* The statement a check runs, prepared on the watch connection by watch-session.h: its
 * PREPARE, then one run of it with no target (what warms a fresh session). */
#define LOCKWATCH_STATEMENT "deployd_lockwatch"
extern const char lockwatch_session_sql[];

/* The watch reads over conn, made ready by watch_session_prepare() (watch-session.h); conn
 * stays the caller's and must outlive the watch. */
int lockwatch_new_for_pids(PGconn *conn, const int *pids, size_t n_pids, LockWatch **ret);
int lockwatch_new_for_application(PGconn *conn, const char *application_name, LockWatch **ret);
int lockwatch_new_for_database(PGconn *conn, LockWatch **ret);
LockWatch *lockwatch_free(LockWatch *w);
static inline void lockwatch_freep(LockWatch **w)
{
	lockwatch_free(*w);
}

/* One check.  Returns 0 with the snapshot; -EBUSY when the watch connection is inside a
 * transaction, -EIO when the statement failed (*ret_error: "SQLSTATE: message"), -ENOMEM. */
int lockwatch_check(LockWatch *w, LockSnapshot **ret, char **ret_error);

LockSnapshot *lockwatch_snapshot_free(LockSnapshot *s);
static inline void lockwatch_snapshot_freep(LockSnapshot **s)
{
	lockwatch_snapshot_free(*s);
}
/* Set equality of the (blocked pid, blocker pid, gid) edges; NULL is the empty snapshot.
 * The pipeline reports again only when this turns false. */
bool lockwatch_snapshot_same_blockers(const LockSnapshot *a, const LockSnapshot *b);

/* One complete sentence about one edge, naming the blocker's pid, user, application and
 * state, e.g. "Migration (pid 4242) has waited 1.2 s for AccessExclusiveLock on
 * public.accounts; pid 4100 holds AccessShareLock on it (user app_user, application api,
 * client [local], idle in transaction for 12 s, transaction open for 15 s) and is the root
 * of the chain."  target_noun names a watched session ("Migration", "Session"); timed_out
 * words it for the lock timeout that ended the wait. */
int lockwatch_blocker_message(const LockBlocker *b, const char *target_noun, bool timed_out,
			      char **ret);
