/* watched-statement.h — run one statement while a LockWatch checks it, as the pipeline does.
 *
 * watched_statement_run() sends SQL on a connection and, until its last result arrives,
 * checks the watch every interval (the first check one interval after sending), counting a
 * report each time the set of blockers changes to a non-empty one.  Times are CLOCK_REALTIME
 * microseconds (the server's clock on this host, so wait starts from pg_locks compare).  It
 * aborts the test when the statement runs longer than the bound or a check fails. */
#pragma once

#include <libpq-fe.h>

#include "lockwatch.h"
#include "time-util.h"

typedef struct WatchedStatement {
	usec_t sent_usec;
	usec_t first_report_usec; /* 0 when no check found a blocker */
	usec_t wait_start_usec;	  /* the target's wait start per the first report; 0 if unknown */
	usec_t done_usec;
	unsigned n_checks;
	unsigned n_reports;	   /* checks whose blockers differed from the previous check's */
	LockSnapshot **snapshots;  /* every check's, in order */
	const LockSnapshot *first; /* the first non-empty one */
	const LockSnapshot *last;  /* the last non-empty one (what a lock-timeout event repeats) */
	char sqlstate[6];	   /* of the first error; "" on success */
	char *error;		   /* its primary message, or NULL */
} WatchedStatement;

/* Called after each check with its number (1, 2, …). */
typedef void (*WatchedStatementHook)(unsigned n_check, void *userdata);

void watched_statement_run(PGconn *conn, const char *sql, LockWatch *watch, usec_t interval,
			   usec_t bound, WatchedStatementHook hook, void *userdata,
			   WatchedStatement *ret);
/* The same on the deploy's schedule (tick-schedule.h): the first check first after sending,
 * then its doubles, then every interval. */
void watched_statement_run_scheduled(PGconn *conn, const char *sql, LockWatch *watch, usec_t first,
				     usec_t interval, usec_t bound, WatchedStatementHook hook,
				     void *userdata, WatchedStatement *ret);
void watched_statement_done(WatchedStatement *w);
