/* progress.h — what a migration's sessions are doing right now, from one query per look.
 *
 * A ProgressWatch is bound to a watch connection (autocommit: pg_stat_activity inside a
 * transaction is a frozen snapshot) and a target: backend pids (directory migrations) or an
 * application_name (a migration command's sessions).  progress_check() runs one cheap
 * statement that lists each target session running a statement (state active): its pid, when
 * the statement began and how long it has run, what it waits for (wait_event_type,
 * wait_event).  Only for sessions whose statement has run at least progress_after does it run
 * a second one that adds, when one of PostgreSQL 15's progress views shows the session
 * (pg_stat_progress_create_index, _cluster — CLUSTER and VACUUM FULL —, _vacuum, _analyze, _copy),
 * the command, the phase and the counter the view keeps for that phase with its total: blocks,
 * tuples, bytes, lockers (sessions a concurrent build waits out), indexes, tables or statistics.  A
 * total of 0 means the view does not know it (COPY from a pipe).  waiting_on_lock says whether a
 * target waits on a heavyweight lock: only then can pg_blocking_pids() name anyone, so the far
 * dearer lock check (lockwatch.h) is needed only then.  Texts are sanitized; nothing here
 * prints, logs or builds events (progress-event.h builds them). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "cleanup.h"
#include "time-util.h"

typedef struct ProgressSession {
	int pid;
	int64_t statement_start; /* query_start, µs since the epoch: names the statement */
	usec_t elapsed_usec;	 /* how long the statement has run */
	char *wait_event_type;	 /* NULL: not waiting */
	char *wait_event;
	char *command; /* "CREATE INDEX CONCURRENTLY", "VACUUM FULL", "COPY FROM", …; NULL when no
			  progress view shows the session */
	char *phase;   /* the view's phase ("building index: scanning table"); for COPY, its
			  type ("file", "pipe", …) */
	char *unit;    /* what done and total count; NULL when the phase counts nothing */
	int64_t done;
	int64_t total; /* 0: unknown */
} ProgressSession;

/* Sessions ordered by pid. */
typedef struct ProgressSnapshot {
	ProgressSession *sessions;
	size_t n_sessions;
	bool waiting_on_lock;
} ProgressSnapshot;

typedef struct ProgressWatch ProgressWatch;

/* The two statements a check runs, prepared on the watch connection by watch-session.h:
 * their PREPAREs, then one run of the probe with no target (what warms a fresh session for
 * every check).  The progress statement itself is first run for a statement that has run
 * long (its first run costs 5–10 ms more than the next ones, nothing beside such a wait),
 * and is not run ahead: the time it would take there competes with the migrations. */
#define PROGRESS_PROBE_STATEMENT "deployd_progress_probe"
#define PROGRESS_STATEMENT "deployd_progress"
extern const char progress_session_sql[];

/* conn, made ready by watch_session_prepare() (watch-session.h), stays the caller's and must
 * outlive the watch. */
int progress_watch_new_for_pids(PGconn *conn, const int *pids, size_t n_pids, ProgressWatch **ret);
int progress_watch_new_for_application(PGconn *conn, const char *application_name,
				       ProgressWatch **ret);
ProgressWatch *progress_watch_free(ProgressWatch *w);
static inline void progress_watch_freep(ProgressWatch **w)
{
	progress_watch_free(*w);
}

/* One look; progress for the sessions that have run at least progress_after (USEC_INFINITY:
 * none).  0 with the snapshot; -EBUSY when conn is inside a transaction, -EIO when a statement
 * failed (*ret_error: "SQLSTATE: message"), -ENOMEM. */
int progress_check(ProgressWatch *w, usec_t progress_after, ProgressSnapshot **ret,
		   char **ret_error);

ProgressSnapshot *progress_snapshot_free(ProgressSnapshot *s);
static inline void progress_snapshot_freep(ProgressSnapshot **s)
{
	progress_snapshot_free(*s);
}

/* done of total as a percentage rounded down to a tenth (so that 100.0 means done), capped at
 * 100; -1 when total is unknown. */
double progress_percent(int64_t done, int64_t total);
