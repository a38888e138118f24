/* pg.h — PostgreSQL sessions of a deploy: conninfo, timeouts, bounded waits, typed errors.
 *
 * pg_conninfo_resolve() reads the conninfo from where the caller says it is (literal,
 * environment variable, file, systemd credential); pg_conninfo_mask() is the only form in which
 * a conninfo is ever shown (passwords replaced).  pg_connect() opens a session bounded by
 * connect_timeout that runs with the given lock_timeout, statement_timeout and
 * idle_in_transaction_session_timeout and an application_name naming the deploy.  pg_exec()
 * sends SQL (simple query protocol, one or more statements) and waits for every result while
 * honouring PgWaitHooks: a periodic tick, and a cancel fd on which a cancel request is sent and
 * the server's answer awaited.  Failures are PgError values classified by SQLSTATE, carrying
 * the server's message, detail, hint and position.  Nothing here prints: libpq's notices are
 * discarded. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>

#include "pg-cleanup.h"
#include "pg-options.h"
#include "tick-schedule.h"
#include "time-util.h"

/* How often the server checks that our client is still there (client_connection_check_interval):
 * a session whose deploy process died ends within about this long, even while it waits on a lock.
 */
#define PG_CLIENT_CHECK_INTERVAL_USEC (1 * USEC_PER_SEC)
/* How long pg_exec() waits for the server's answer to a cancel request before it gives up. */
#define PG_CANCEL_GRACE_USEC (5 * USEC_PER_SEC)

typedef enum PgErrorKind {
	PG_ERROR_NONE,
	PG_ERROR_LOCK_TIMEOUT,	    /* 55P03 */
	PG_ERROR_STATEMENT_TIMEOUT, /* 57014, not a cancel request */
	PG_ERROR_CANCELED,	    /* 57014 after a cancel request, or cancelled before sending */
	PG_ERROR_TERMINATED,	    /* 57P01, 57P02: backend terminated, server shutting down */
	PG_ERROR_IDLE_TIMEOUT,	    /* 25P03 idle in transaction, 57P05 idle session */
	PG_ERROR_CONNECTION_LOST,   /* the connection broke (08xxx or no answer at all) */
	PG_ERROR_CONNECT_FAILED,    /* no session could be opened */
	PG_ERROR_OTHER,		    /* any other SQLSTATE or client-side failure */
	_PG_ERROR_KIND_MAX,
} PgErrorKind;

typedef struct PgError {
	PgErrorKind kind;
	char sqlstate[6]; /* "" when the server gave none */
	char *message;	  /* the server's primary message, or libpq's / ours; never NULL once set */
	char *detail;	  /* may be NULL */
	char *hint;	  /* may be NULL */
	unsigned position; /* 1-based character offset into the SQL sent, 0 when none */
	/* The statements of the SQL sent that completed before the failing one, i.e. the 0-based
	 * index of the failing statement (simple query protocol: one result per statement). */
	size_t statement_index;
} PgError;

/* Frees the strings and resets *e to PG_ERROR_NONE. */
void pg_error_done(PgError *e);
/* Sets a client-side error (no SQLSTATE); returns -ENOMEM when even that fails, else 0. */
int pg_error_set(PgError *e, PgErrorKind kind, const char *fmt, ...) _printf_(3, 4);
/* The kind a server error has, from its SQLSTATE and (for 57014) its primary message. */
PgErrorKind pg_error_classify(const char *sqlstate, const char *message);
const char *pg_error_kind_to_string(PgErrorKind k);

/* What a wait on the server does besides waiting.  tick (may be NULL) is called while a
 * statement runs, on the schedule of tick-schedule.h counted from the moment the statement is
 * sent: tick_first, its doubles, then every tick_interval (tick_first 0: every tick_interval);
 * a negative return cancels the statement.  cancel_fd
 * (-1 for none) cancels once it is readable; it is never read, so it stays readable and every
 * later wait is cancelled too. */
typedef struct PgWaitHooks {
	usec_t tick_first;
	usec_t tick_interval;
	int (*tick)(void *userdata);
	int cancel_fd;
	void *userdata;
} PgWaitHooks;

/* True once hooks->cancel_fd is readable. */
bool pg_wait_hooks_cancelled(const PgWaitHooks *hooks);

/* Opens a session: the conninfo's own parameters, then application_name, client_encoding
 * UTF8, and options (the conninfo's own first) with the settings' timeouts,
 * client_connection_check_interval and idle_session_timeout=0.  The connection attempt is
 * bounded by connect_timeout and by hooks->cancel_fd (hooks may be NULL).  The session is in
 * nonblocking mode with notices discarded.  Errors: PG_ERROR_CONNECT_FAILED (libpq's message,
 * which holds no password), PG_ERROR_CANCELED. */
int pg_connect(const char *conninfo, const PgSessionSettings *s, const PgWaitHooks *hooks,
	       PGconn **ret, PgError *ret_error);
/* pg_connect() in two steps, so that several sessions open at once (each costs the server a
 * backend to start): pg_connect_start() sends the request and returns at once with the
 * connection under way; pg_connect_finish() takes it over (*started becomes NULL, whatever the
 * outcome) and waits for it as pg_connect() does, connect_timeout counted from there.  A
 * connection under way that is not finished is given up with PQfinish(). */
int pg_connect_start(const char *conninfo, const PgSessionSettings *s, PGconn **ret,
		     PgError *ret_error);
int pg_connect_finish(PGconn **started, const PgSessionSettings *s, const PgWaitHooks *hooks,
		      PGconn **ret, PgError *ret_error);

/* Sends sql and waits for all its results, honouring hooks (may be NULL).  On success hands
 * back the last result (ret may be NULL).  On failure fills *ret_error with the first error
 * and returns -ECANCELED (cancelled, by cancel_fd, a tick, or before sending) or -EIO.  When
 * the server has not answered a cancel request within PG_CANCEL_GRACE_USEC, pg_exec() returns
 * with the statement still running (PQtransactionStatus() is PQTRANS_ACTIVE): the session
 * must be given up with pg_session_abandon(). */
int pg_exec(PGconn *conn, const char *sql, const PgWaitHooks *hooks, PGresult **ret,
	    PgError *ret_error);

/* Told of each completed (non-error) result of pg_exec_each(), in order, as it is read. */
typedef void (*PgResultFn)(const PGresult *res, void *userdata);
/* pg_exec() that hands every completed result to on_result as it arrives (a server sends a
 * message's results when its output buffer fills, when it sends a notice, and at the end)
 * instead of handing back the last one.  After an error no further result is passed on;
 * ret_error->statement_index is the number of results that were. */
int pg_exec_each(PGconn *conn, const char *sql, const PgWaitHooks *hooks, PgResultFn on_result,
		 void *userdata, PgError *ret_error);

/* Terminates the backend pid (pg_terminate_backend) over conn; 1 when a backend was
 * signalled, 0 when there was none. */
int pg_terminate_backend(PGconn *conn, int pid, PgError *ret_error);
/* Terminates every session of the current database whose application_name is
 * application_name, except conn's own; hands back how many were signalled. */
int pg_terminate_application(PGconn *conn, const char *application_name, unsigned *ret_n,
			     PgError *ret_error);
/* Whether conn's session is still there as far as can be told without a round trip (it may be
 * busy): what the server sent has been read, and a session it ended (its error, or the socket
 * closed) fails with PG_ERROR_CONNECTION_LOST.  0, or -EIO. */
int pg_session_check(PGconn *conn, PgError *ret_error);
/* Closes *conn; when a statement of it may still run on the server, terminates its backend
 * over other (if not NULL) so that nothing of ours is left waiting on a lock. */
void pg_session_abandon(PGconn **conn, PGconn *other);
