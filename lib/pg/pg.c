/* Sessions: connect with timeouts, run SQL with bounded, cancellable waits (pg.h). */
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "pg.h"

/* How long pg_terminate_backend() waits for the backend to be gone. */
#define TERMINATE_WAIT_MSEC 5000

/* Milliseconds as PostgreSQL's timeout settings take them: rounded up (so that a non-zero
 * timeout stays on) and capped at their maximum, INT_MAX. */
static unsigned long long timeout_msec(usec_t u)
{
	usec_t ms = u / USEC_PER_MSEC + (u % USEC_PER_MSEC != 0);

	return ms > INT_MAX ? INT_MAX : ms;
}

int pg_session_options(const PgSessionSettings *s, char **ret)
{
	char *options;

	if (asprintf(&options,
		     "-c lock_timeout=%llu -c statement_timeout=%llu "
		     "-c idle_in_transaction_session_timeout=%llu "
		     "-c client_connection_check_interval=%llu%s",
		     timeout_msec(s->lock_timeout), timeout_msec(s->statement_timeout),
		     timeout_msec(s->idle_in_transaction_session_timeout),
		     timeout_msec(PG_CLIENT_CHECK_INTERVAL_USEC),
		     s->read_only ? " -c default_transaction_read_only=on" : "") < 0)
		return -ENOMEM;
	*ret = options;
	return 0;
}

bool pg_wait_hooks_cancelled(const PgWaitHooks *hooks)
{
	if (!hooks || hooks->cancel_fd < 0)
		return false;

	struct pollfd p = {.fd = hooks->cancel_fd, .events = POLLIN};
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR));
}

static void discard_notice(void *arg _unused_, const char *message _unused_)
{
}

/* libpq's last message without its trailing newline; never NULL. */
static char *libpq_message(PGconn *conn)
{
	const char *m = conn ? PQerrorMessage(conn) : NULL;
	size_t len;

	if (!m || m[0] == '\0')
		m = "out of memory";
	len = strlen(m);
	while (len > 0 && (m[len - 1] == '\n' || m[len - 1] == ' '))
		len--;
	return strndup(m, len);
}

static int set_libpq_error(PgError *e, PGconn *conn, PgErrorKind kind)
{
	_cleanup_free_ char *m = libpq_message(conn);

	if (!m)
		return -ENOMEM;
	return pg_error_set(e, kind, "%s", m);
}

typedef enum WaitEvent {
	WAIT_READY,    /* the socket is ready (or failed) */
	WAIT_CANCEL,   /* the cancel fd is readable */
	WAIT_DEADLINE, /* deadline passed */
} WaitEvent;

/* Waits until fd has events, cancel_fd (-1: none) is readable or the monotonic deadline
 * passes (USEC_INFINITY: never). */
static int wait_for(int fd, short events, int cancel_fd, usec_t deadline)
{
	for (;;) {
		struct pollfd p[2] = {
			{.fd = fd, .events = events},
			{.fd = cancel_fd, .events = POLLIN},
		};
		struct timespec ts, *timeout = NULL;
		usec_t now = now_usec(CLOCK_MONOTONIC);

		if (deadline != USEC_INFINITY) {
			usec_t left = deadline > now ? deadline - now : 0;
			ts.tv_sec = (time_t)(left / USEC_PER_SEC);
			ts.tv_nsec = (long)(left % USEC_PER_SEC) * 1000;
			timeout = &ts;
		}
		int n = ppoll(p, cancel_fd >= 0 ? 2 : 1, timeout, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (cancel_fd >= 0 && p[1].revents)
			return WAIT_CANCEL;
		if (p[0].revents)
			return WAIT_READY;
		if (n == 0)
			return WAIT_DEADLINE;
	}
}

/* Takes a connection under way as far as it goes without waiting: PQconnectStartParams() only
 * begins connect(), and the server starts the backend once the startup packet (or the SSL or
 * GSS request before it) arrives.  A step that fails is left for pg_connect_finish() to report:
 * PQconnectPoll() keeps saying so. */
static void connect_advance(PGconn *conn)
{
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	while (st == PGRES_POLLING_WRITING) {
		struct pollfd p = {.fd = PQsocket(conn), .events = POLLOUT};

		if (p.fd < 0 || poll(&p, 1, 0) <= 0)
			return;
		st = PQconnectPoll(conn);
	}
}

static usec_t deadline_after(usec_t timeout)
{
	return timeout == 0 || timeout == USEC_INFINITY ? USEC_INFINITY
							: now_usec(CLOCK_MONOTONIC) + timeout;
}

int pg_connect_start(const char *conninfo, const PgSessionSettings *s, PGconn **ret,
		     PgError *ret_error)
{
	_cleanup_(PQconninfoFreep) PQconninfoOption *parsed = NULL;
	_cleanup_(PQfinishp) PGconn *conn = NULL;
	_cleanup_free_ const char **keywords = NULL, **values = NULL;
	_cleanup_free_ char *our_options = NULL, *options = NULL;
	const char *own_options = NULL;
	size_t n = 0, n_parsed = 0;
	char *errmsg = NULL;
	int r;

	parsed = PQconninfoParse(conninfo, &errmsg);
	if (!parsed) {
		/* libpq's message may quote part of the conninfo, password included. */
		PQfreemem(errmsg);
		return pg_error_set(ret_error, PG_ERROR_CONNECT_FAILED,
				    "the conninfo is neither key=value pairs nor a postgresql:// "
				    "URI libpq accepts")
			       ?: -EINVAL;
	}

	r = pg_session_options(s, &our_options);
	if (r < 0)
		return r;
	for (PQconninfoOption *o = parsed; o->keyword; o++) {
		n_parsed++;
		if (o->val && strcmp(o->keyword, "options") == 0)
			own_options = o->val;
	}
	/* The conninfo's own options come first so that ours win.  idle_session_timeout would
	 * end a session that waits while units stop, dropping the deploy lock with it. */
	if (asprintf(&options, "%s%s%s -c idle_session_timeout=0", own_options ?: "",
		     own_options ? " " : "", our_options) < 0)
		return -ENOMEM;

	keywords = calloc(n_parsed + 4, sizeof(char *));
	values = calloc(n_parsed + 4, sizeof(char *));
	if (!keywords || !values)
		return -ENOMEM;
	for (PQconninfoOption *o = parsed; o->keyword; o++) {
		if (!o->val || strcmp(o->keyword, "options") == 0 ||
		    strcmp(o->keyword, "application_name") == 0 ||
		    strcmp(o->keyword, "client_encoding") == 0)
			continue;
		keywords[n] = o->keyword;
		values[n++] = o->val;
	}
	keywords[n] = "application_name";
	values[n++] = s->application_name;
	/* Error positions count characters of the text sent: make that text UTF-8. */
	keywords[n] = "client_encoding";
	values[n++] = "UTF8";
	keywords[n] = "options";
	values[n++] = options;

	conn = PQconnectStartParams(keywords, values, 0);
	if (!conn)
		return -ENOMEM;
	PQsetNoticeProcessor(conn, discard_notice, NULL);
	if (PQstatus(conn) == CONNECTION_BAD)
		return set_libpq_error(ret_error, conn, PG_ERROR_CONNECT_FAILED) ?: -ECONNREFUSED;
	connect_advance(conn);
	*ret = TAKE_PTR(conn);
	return 0;
}

int pg_connect_finish(PGconn **connp, const PgSessionSettings *s, const PgWaitHooks *hooks,
		      PGconn **ret, PgError *ret_error)
{
	_cleanup_(PQfinishp) PGconn *conn = TAKE_PTR(*connp);
	int r;

	/* PQconnectPoll() ignores connect_timeout: the deadline is ours to keep. */
	usec_t deadline = deadline_after(s->connect_timeout);
	int cancel_fd = hooks ? hooks->cancel_fd : -1;
	for (;;) {
		PostgresPollingStatusType st = PQconnectPoll(conn);
		short events;

		if (st == PGRES_POLLING_OK)
			break;
		if (st == PGRES_POLLING_FAILED)
			return set_libpq_error(ret_error, conn, PG_ERROR_CONNECT_FAILED)
				       ?: -ECONNREFUSED;
		events = st == PGRES_POLLING_WRITING ? POLLOUT : POLLIN;
		r = wait_for(PQsocket(conn), events, cancel_fd, deadline);
		if (r < 0)
			return r;
		if (r == WAIT_CANCEL)
			return pg_error_set(ret_error, PG_ERROR_CANCELED,
					    "cancelled while connecting")
				       ?: -ECANCELED;
		if (r == WAIT_DEADLINE)
			return pg_error_set(
				       ret_error, PG_ERROR_CONNECT_FAILED,
				       "no connection within connect_timeout (%llu ms)",
				       (unsigned long long)(s->connect_timeout / USEC_PER_MSEC))
				       ?: -ETIMEDOUT;
	}
	if (PQsetnonblocking(conn, 1) < 0)
		return set_libpq_error(ret_error, conn, PG_ERROR_CONNECT_FAILED) ?: -EIO;
	*ret = TAKE_PTR(conn);
	return 0;
}

int pg_connect(const char *conninfo, const PgSessionSettings *s, const PgWaitHooks *hooks,
	       PGconn **ret, PgError *ret_error)
{
	PGconn *started = NULL;
	int r;

	r = pg_connect_start(conninfo, s, &started, ret_error);
	return r < 0 ? r : pg_connect_finish(&started, s, hooks, ret, ret_error);
}

static void send_cancel(PGconn *conn)
{
	PGcancel *cancel = PQgetCancel(conn);
	char errbuf[256];

	/* Whether the request arrives shows in the answer; pg_exec() bounds the wait for it. */
	if (cancel) {
		PQcancel(cancel, errbuf, sizeof(errbuf));
		PQfreeCancel(cancel);
	}
}

static int dup_field(const PGresult *r, int field, char **ret)
{
	const char *v = PQresultErrorField(r, field);

	*ret = NULL;
	if (!v)
		return 0;
	*ret = strdup(v);
	return *ret ? 0 : -ENOMEM;
}

static int set_result_error(PgError *e, PGconn *conn, const PGresult *r)
{
	const char *sqlstate = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	const char *position = PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION);
	const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

	pg_error_done(e);
	if (!sqlstate || !primary) {
		/* libpq's own failure (the connection broke): no SQLSTATE. */
		_cleanup_free_ char *m = NULL;
		const char *text = PQresultErrorMessage(r);
		size_t len = strlen(text);
		while (len > 0 && text[len - 1] == '\n')
			len--;
		m = len > 0 ? strndup(text, len) : libpq_message(conn);
		if (!m)
			return -ENOMEM;
		return pg_error_set(e,
				    PQstatus(conn) == CONNECTION_BAD ? PG_ERROR_CONNECTION_LOST
								     : PG_ERROR_OTHER,
				    "%s", m);
	}
	e->kind = pg_error_classify(sqlstate, primary);
	snprintf(e->sqlstate, sizeof(e->sqlstate), "%s", sqlstate);
	e->message = strdup(primary);
	if (!e->message || dup_field(r, PG_DIAG_MESSAGE_DETAIL, &e->detail) < 0 ||
	    dup_field(r, PG_DIAG_MESSAGE_HINT, &e->hint) < 0)
		return -ENOMEM;
	if (position) {
		unsigned long p = strtoul(position, NULL, 10);
		e->position = p <= UINT_MAX ? (unsigned)p : 0;
	}
	return 0;
}

/* Ends a COPY the migration text started: COPY FROM STDIN gets no data (the server reports
 * the error), COPY TO STDOUT is read and dropped.  Returns 1 while COPY TO data is still
 * coming, 0 when done, <0 on a broken connection. */
static int drain_copy_out(PGconn *conn)
{
	for (;;) {
		char *buf = NULL;
		int n = PQgetCopyData(conn, &buf, 1);
		if (n > 0) {
			PQfreemem(buf);
			continue;
		}
		return n == 0 ? 1 : 0;
	}
}

static int refuse_copy_in(PGconn *conn)
{
	int r;

	/* Blocking for this one tiny message keeps the nonblocking retry logic out. */
	PQsetnonblocking(conn, 0);
	r = PQputCopyEnd(conn, "COPY FROM STDIN has no data in a deploy");
	PQsetnonblocking(conn, 1);
	return r < 0 ? -EIO : 0;
}

/* pg_exec() and pg_exec_each(): each completed result goes to on_result (when not NULL) as
 * it is read, and the last one to *ret (when not NULL). */
static int exec_internal(PGconn *conn, const char *sql, const PgWaitHooks *hooks,
			 PgResultFn on_result, void *userdata, PGresult **ret, PgError *ret_error)
{
	_cleanup_(PQclearp) PGresult *last = NULL, *failed = NULL;
	int cancel_fd = hooks ? hooks->cancel_fd : -1;
	usec_t tick_interval = hooks && hooks->tick ? hooks->tick_interval : 0;
	TickSchedule ticks;
	usec_t give_up = USEC_INFINITY;
	size_t n_completed = 0;
	bool cancel_sent = false, copy_out = false;
	int r;

	if (pg_wait_hooks_cancelled(hooks))
		return pg_error_set(ret_error, PG_ERROR_CANCELED,
				    "cancelled before the statement was sent")
			       ?: -ECANCELED;
	if (!PQsendQuery(conn, sql))
		return set_libpq_error(ret_error, conn,
				       PQstatus(conn) == CONNECTION_BAD ? PG_ERROR_CONNECTION_LOST
									: PG_ERROR_OTHER)
			       ?: -EIO;
	/* The first checks come soon after sending: a lock wait begins right away. */
	tick_schedule_start(&ticks, hooks ? hooks->tick_first : 0, tick_interval,
			    now_usec(CLOCK_MONOTONIC));

	for (;;) {
		/* A broken connection still hands out what it received (a FATAL error first):
		 * drain it rather than fail on the flush. */
		int flush = PQstatus(conn) == CONNECTION_BAD ? 0 : PQflush(conn);
		if (flush < 0)
			return set_libpq_error(ret_error, conn, PG_ERROR_CONNECTION_LOST) ?: -EIO;

		if (copy_out) {
			r = drain_copy_out(conn);
			copy_out = r > 0;
		}
		while (!copy_out && !PQisBusy(conn)) {
			PGresult *res = PQgetResult(conn);
			if (!res)
				goto finished;
			switch (PQresultStatus(res)) {
			case PGRES_COPY_IN:
				PQclear(res);
				if (refuse_copy_in(conn) < 0)
					return set_libpq_error(ret_error, conn,
							       PG_ERROR_CONNECTION_LOST)
						       ?: -EIO;
				break;
			case PGRES_COPY_OUT:
				PQclear(res);
				copy_out = drain_copy_out(conn) > 0;
				break;
			case PGRES_FATAL_ERROR:
			case PGRES_BAD_RESPONSE:
			case PGRES_NONFATAL_ERROR:
				/* After a FATAL error more results follow; the first one tells. */
				if (!failed)
					failed = res;
				else
					PQclear(res);
				break;
			default:
				if (failed) {
					PQclear(res);
					break;
				}
				n_completed++;
				if (on_result)
					on_result(res, userdata);
				PQclear(last);
				last = res;
			}
		}

		int fd = PQsocket(conn);
		if (fd < 0)
			return set_libpq_error(ret_error, conn, PG_ERROR_CONNECTION_LOST) ?: -EIO;
		r = wait_for(fd, POLLIN | (flush > 0 ? POLLOUT : 0), cancel_sent ? -1 : cancel_fd,
			     ticks.next < give_up ? ticks.next : give_up);
		if (r < 0)
			return r;
		if (r == WAIT_READY && !PQconsumeInput(conn) && PQstatus(conn) != CONNECTION_BAD)
			return set_libpq_error(ret_error, conn, PG_ERROR_CONNECTION_LOST) ?: -EIO;
		if (r == WAIT_CANCEL) {
			send_cancel(conn);
			cancel_sent = true;
			give_up = deadline_after(PG_CANCEL_GRACE_USEC);
		}
		usec_t now = now_usec(CLOCK_MONOTONIC);
		if (now >= give_up)
			return pg_error_set(
				       ret_error, PG_ERROR_CANCELED,
				       "the server did not answer the cancel request within "
				       "%llu s",
				       (unsigned long long)(PG_CANCEL_GRACE_USEC / USEC_PER_SEC))
				       ?: -ECANCELED;
		if (now >= ticks.next) {
			if (hooks->tick(hooks->userdata) < 0 && !cancel_sent) {
				send_cancel(conn);
				cancel_sent = true;
				give_up = deadline_after(PG_CANCEL_GRACE_USEC);
			}
			tick_schedule_advance(&ticks, now_usec(CLOCK_MONOTONIC));
		}
	}

finished:
	if (failed) {
		r = set_result_error(ret_error, conn, failed);
		if (r < 0)
			return r;
		ret_error->statement_index = n_completed;
		if (cancel_sent && strcmp(ret_error->sqlstate, "57014") == 0)
			ret_error->kind = PG_ERROR_CANCELED;
		return ret_error->kind == PG_ERROR_CANCELED ? -ECANCELED : -EIO;
	}
	if (ret)
		*ret = TAKE_PTR(last);
	return 0;
}

int pg_exec(PGconn *conn, const char *sql, const PgWaitHooks *hooks, PGresult **ret,
	    PgError *ret_error)
{
	return exec_internal(conn, sql, hooks, NULL, NULL, ret, ret_error);
}

int pg_exec_each(PGconn *conn, const char *sql, const PgWaitHooks *hooks, PgResultFn on_result,
		 void *userdata, PgError *ret_error)
{
	return exec_internal(conn, sql, hooks, on_result, userdata, NULL, ret_error);
}

int pg_terminate_backend(PGconn *conn, int pid, PgError *ret_error)
{
	_cleanup_(PQclearp) PGresult *res = NULL;
	char sql[128];
	int r;

	snprintf(sql, sizeof(sql), "SELECT pg_catalog.pg_terminate_backend(%d, %d)", pid,
		 TERMINATE_WAIT_MSEC);
	r = pg_exec(conn, sql, NULL, &res, ret_error);
	if (r < 0)
		return r;
	return PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
}

int pg_terminate_application(PGconn *conn, const char *application_name, unsigned *ret_n,
			     PgError *ret_error)
{
	_cleanup_(PQclearp) PGresult *res = NULL;
	_cleanup_(PQfreemem_p) char *literal = NULL;
	_cleanup_free_ char *sql = NULL;
	int r;

	literal = PQescapeLiteral(conn, application_name, strlen(application_name));
	if (!literal)
		return set_libpq_error(ret_error, conn, PG_ERROR_OTHER) ?: -EINVAL;
	if (asprintf(&sql,
		     "SELECT count(*) FILTER (WHERE pg_catalog.pg_terminate_backend(pid, %d)) "
		     "FROM pg_catalog.pg_stat_activity "
		     "WHERE application_name = %s AND pid <> pg_catalog.pg_backend_pid()",
		     TERMINATE_WAIT_MSEC, literal) < 0)
		return -ENOMEM;
	r = pg_exec(conn, sql, NULL, &res, ret_error);
	if (r < 0)
		return r;
	if (ret_n)
		*ret_n = PQntuples(res) == 1 ? (unsigned)strtoul(PQgetvalue(res, 0, 0), NULL, 10)
					     : 0;
	return 0;
}

int pg_session_check(PGconn *conn, PgError *ret_error)
{
	/* A session the server ends sends its error, then closes: the close is seen by the read
	 * after the one that takes the error.  So read while there is something to read (a few
	 * times at most: a busy session's results may keep coming). */
	for (int i = 0; i < 8; i++) {
		struct pollfd p = {.fd = PQsocket(conn), .events = POLLIN};

		if (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK)
			return set_libpq_error(ret_error, conn, PG_ERROR_CONNECTION_LOST) ?: -EIO;
		if (poll(&p, 1, 0) <= 0)
			break;
	}
	return 0;
}

void pg_session_abandon(PGconn **conn, PGconn *other)
{
	int pid;
	bool running;

	if (!*conn)
		return;
	pid = PQbackendPID(*conn);
	running = PQstatus(*conn) == CONNECTION_OK && PQtransactionStatus(*conn) == PQTRANS_ACTIVE;
	PQfinish(*conn);
	*conn = NULL;
	/* A backend busy with a statement (say, waiting on a lock) notices the closed socket only
	 * at the next client_connection_check_interval; terminate it now. */
	if (running && other && pid > 0) {
		PgError e = {};
		(void)pg_terminate_backend(other, pid, &e);
		pg_error_done(&e);
	}
}
