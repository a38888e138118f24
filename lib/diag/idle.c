#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "idle.h"
#include "pg-result.h"
#include "text-sanitize.h"

/* Parameters: $1 older_than in microseconds, $2 int[] pids to spare, $3 int[] the only pids
 * to consider (NULL: all). */
#define IDLE_CANDIDATES                                                                            \
	"SELECT a.pid, a.usename::text AS usename, a.application_name,\n"                          \
	"       CASE WHEN a.client_port = -1 THEN '[local]'\n"                                     \
	"            WHEN a.client_addr IS NOT NULL THEN\n"                                        \
	"              host(a.client_addr) || ':' || a.client_port END AS client,\n"               \
	"       a.state, a.state_change, a.xact_start, a.backend_start, a.query\n"                 \
	"FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid\n"                     \
	"WHERE a.datname = current_database()\n"                                                   \
	"  AND a.state IN ('idle in transaction', 'idle in transaction (aborted)')\n"              \
	"  AND a.state_change < now() - $1::bigint * interval '1 microsecond'\n"                   \
	"  AND a.pid <> pg_backend_pid()\n"                                                        \
	"  AND a.pid <> ALL ($2::int[])\n"                                                         \
	"  AND ($3::int[] IS NULL OR a.pid = ANY ($3::int[]))\n"                                   \
	"  AND ((SELECT rolsuper FROM pg_roles WHERE rolname = current_user)\n"                    \
	"       OR NOT COALESCE(r.rolsuper, false))\n"

#define IDLE_COLUMNS(c, s)                                                                         \
	c ".pid, " c ".usename, " c ".application_name, " c ".client, " s ".state,\n"              \
	  "(extract(epoch FROM now() - " s ".state_change) * 1e6)::bigint,\n"                      \
	  "(extract(epoch FROM now() - " s ".xact_start) * 1e6)::bigint,\n"                        \
	  "left(" s ".query, 1000),\n"

static const char idle_list_sql[] =
	"SELECT " IDLE_COLUMNS("c", "c") "false\n"
					 "FROM (" IDLE_CANDIDATES ") AS c";

/* The candidates are read once (MATERIALIZED); then, for each in turn, the refresh subquery
 * drops the statement's pg_stat_activity snapshot and reads that one backend afresh (OFFSET 0
 * keeps it a separate step evaluated per candidate, and PostgreSQL keeps volatile outputs
 * even when unused), the WHERE clause re-checks it, and only a row that passes reaches the
 * target list that signals.  client_min_messages is raised for this statement only, so the
 * WARNING of a backend that went away meanwhile is not printed by the client's libpq.  The
 * signal does not wait: wait_for_exit() then waits for all of them at once. */
static const char idle_terminate_sql[] =
	"WITH candidate AS MATERIALIZED (" IDLE_CANDIDATES ")\n"
	"SELECT " IDLE_COLUMNS(
		"c",
		"f") "pg_terminate_backend(c.pid)\n"
		     "FROM candidate c\n"
		     "CROSS JOIN LATERAL (\n"
		     "  SELECT s.* FROM (SELECT pg_stat_clear_snapshot() AS cleared,\n"
		     "                          set_config('client_min_messages', 'error', true) "
		     "AS quiet,\n"
		     "                          c.pid OFFSET 0) AS refresh\n"
		     "  CROSS JOIN LATERAL pg_stat_get_activity(refresh.pid) AS s) AS f\n"
		     "WHERE f.backend_start = c.backend_start\n"
		     "  AND f.state_change = c.state_change\n"
		     "  AND f.state IN ('idle in transaction', 'idle in transaction (aborted)')";

enum {
	COL_PID,
	COL_USER,
	COL_APPLICATION,
	COL_CLIENT,
	COL_STATE,
	COL_IDLE_AGE,
	COL_XACT_AGE,
	COL_QUERY,
	COL_TERMINATED,
	_COL_MAX,
};

static const char privileges_sql[] =
	"SELECT quote_ident(current_user), r.rolsuper,\n"
	"       pg_has_role(current_user, 'pg_read_all_stats', 'USAGE'),\n"
	"       pg_has_role(current_user, 'pg_signal_backend', 'USAGE')\n"
	"FROM pg_roles r WHERE r.rolname = current_user";

static int set_error(char **ret_error, int error, const char *message)
{
	*ret_error = strdup(message);
	return *ret_error ? error : -ENOMEM;
}

int idle_check_privileges(PGconn *conn, bool terminate, char **ret_error)
{
	_cleanup_(PQclearp) PGresult *res = NULL;
	_cleanup_free_ char *role = NULL;
	bool superuser, read_stats, signal;
	int r;

	res = PQexec(conn, privileges_sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return pg_result_error(conn, res, ret_error);
	if (PQntuples(res) != 1 || PQnfields(res) != 4)
		return set_error(ret_error, -EIO, "the privilege check returned no role");

	r = text_sanitize(PQgetvalue(res, 0, 0), 0, 0, &role);
	if (r < 0)
		return r;
	superuser = PQgetvalue(res, 0, 1)[0] == 't';
	read_stats = superuser || PQgetvalue(res, 0, 2)[0] == 't';
	signal = superuser || !terminate || PQgetvalue(res, 0, 3)[0] == 't';
	if (read_stats && signal)
		return 0;

	if (!read_stats && !signal)
		r = asprintf(ret_error,
			     "role %s lacks the privileges of pg_read_all_stats (to see other "
			     "roles' sessions) and of pg_signal_backend (to terminate them); "
			     "GRANT pg_read_all_stats, pg_signal_backend TO %s",
			     role, role);
	else if (!read_stats)
		r = asprintf(ret_error,
			     "role %s lacks the privileges of pg_read_all_stats: it cannot see "
			     "whether other roles' sessions are idle in a transaction; "
			     "GRANT pg_read_all_stats TO %s",
			     role, role);
	else
		r = asprintf(ret_error,
			     "role %s lacks the privileges of pg_signal_backend: it cannot "
			     "terminate other roles' sessions; GRANT pg_signal_backend TO %s",
			     role, role);
	return r < 0 ? -ENOMEM : -EACCES;
}

static void idle_session_done(IdleSession *s)
{
	free(s->user);
	free(s->application);
	free(s->client);
	free(s->state);
	free(s->query);
}

IdleSessions *idle_sessions_free(IdleSessions *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n_sessions; i++)
		idle_session_done(&s->sessions[i]);
	free(s->sessions);
	free(s);
	return NULL;
}

static int parse_row(const PGresult *res, int row, IdleSession *s)
{
	const PgResultText texts[] = {
		{COL_USER, 0, 0, &s->user},
		{COL_APPLICATION, 0, 0, &s->application},
		{COL_CLIENT, 0, 0, &s->client},
		{COL_STATE, 0, 0, &s->state},
		{COL_QUERY, IDLE_QUERY_MAX, TEXT_SANITIZE_SQUEEZE_SPACE, &s->query},
	};

	s->pid = pg_result_int(res, row, COL_PID);
	s->idle_age_usec = pg_result_age(res, row, COL_IDLE_AGE);
	s->xact_age_usec = pg_result_age(res, row, COL_XACT_AGE);
	s->terminated = pg_result_bool(res, row, COL_TERMINATED);
	return pg_result_texts(res, row, texts, ELEMENTSOF(texts));
}

static int compare_idle_age(const void *a, const void *b)
{
	const IdleSession *x = a, *y = b;

	if (x->idle_age_usec != y->idle_age_usec)
		return x->idle_age_usec > y->idle_age_usec ? -1 : 1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* Waits, up to IDLE_TERMINATE_WAIT_MSEC for all of them together, until every signalled session
 * (terminated set by the signal) has left pg_stat_activity: by then its transaction has ended
 * and its locks are released.  One still there at the deadline ends with terminated false.
 * (pg_terminate_backend()'s own wait polls every 100 ms, one backend after another: 200
 * sessions took 20 s that way.) */
static int wait_for_exit(PGconn *conn, IdleSessions *s, char **ret_error)
{
	usec_t deadline = now_usec(CLOCK_MONOTONIC) + IDLE_TERMINATE_WAIT_MSEC * USEC_PER_MSEC;
	_cleanup_free_ bool *waiting = calloc(s->n_sessions ?: 1, sizeof(bool));
	size_t n_waiting = 0;

	if (!waiting)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_sessions; i++) {
		waiting[i] = s->sessions[i].terminated;
		n_waiting += waiting[i];
		s->sessions[i].terminated = false;
	}
	while (n_waiting > 0) {
		_cleanup_(PQclearp) PGresult *res = NULL;
		_cleanup_free_ char *pids = NULL;
		size_t size = 0, k = 0;
		FILE *f = open_memstream(&pids, &size);

		if (!f)
			return -ENOMEM;
		fputc('{', f);
		for (size_t i = 0; i < s->n_sessions; i++)
			if (waiting[i])
				fprintf(f, "%s%d", k++ > 0 ? "," : "", s->sessions[i].pid);
		fputc('}', f);
		if (fclose(f) != 0)
			return -ENOMEM;
		const char *params[] = {pids};
		res = PQexecParams(conn,
				   "SELECT pid FROM pg_catalog.pg_stat_activity "
				   "WHERE pid = ANY ($1::int[])",
				   1, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			return pg_result_error(conn, res, ret_error);
		for (size_t i = 0; i < s->n_sessions; i++) {
			bool still_there = false;

			if (!waiting[i])
				continue;
			for (int row = 0; row < PQntuples(res) && !still_there; row++)
				still_there = atoi(PQgetvalue(res, row, 0)) == s->sessions[i].pid;
			if (!still_there) {
				waiting[i] = false;
				s->sessions[i].terminated = true;
				n_waiting--;
			}
		}
		if (n_waiting == 0 || now_usec(CLOCK_MONOTONIC) >= deadline)
			break;
		(void)nanosleep(&(struct timespec){.tv_nsec = 2 * 1000 * 1000}, NULL);
	}
	return 0;
}

static int pid_array(const int *pids, size_t n_pids, char **ret)
{
	_cleanup_free_ char *list = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&list, &size);

	if (!f)
		return -ENOMEM;
	fputc('{', f);
	for (size_t i = 0; pids && i < n_pids; i++)
		fprintf(f, "%s%d", i > 0 ? "," : "", pids[i]);
	fputc('}', f);
	if (fclose(f) != 0)
		return -ENOMEM;
	*ret = TAKE_PTR(list);
	return 0;
}

static int idle_run(PGconn *conn, const IdleFilter *filter, bool terminate, IdleSessions **ret,
		    char **ret_error)
{
	_cleanup_(idle_sessions_freep) IdleSessions *sessions = NULL;
	_cleanup_(PQclearp) PGresult *res = NULL;
	_cleanup_free_ char *older_than = NULL, *exclude = NULL, *only = NULL;
	int r, n;

	if (!conn || !filter || filter->older_than == USEC_INFINITY)
		return -EINVAL;
	if (PQtransactionStatus(conn) != PQTRANS_IDLE)
		return set_error(ret_error, -EBUSY,
				 "the connection is not idle outside a transaction");
	r = idle_check_privileges(conn, terminate, ret_error);
	if (r < 0)
		return r;

	if (asprintf(&older_than, "%llu", (unsigned long long)filter->older_than) < 0)
		return -ENOMEM;
	r = pid_array(filter->exclude_pids, filter->n_exclude_pids, &exclude);
	if (r >= 0 && filter->only_pids)
		r = pid_array(filter->only_pids, filter->n_only_pids, &only);
	if (r < 0)
		return r;
	const char *params[] = {older_than, exclude, only};
	res = PQexecParams(conn, terminate ? idle_terminate_sql : idle_list_sql, 3, NULL, params,
			   NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return pg_result_error(conn, res, ret_error);
	if (PQnfields(res) != _COL_MAX)
		return set_error(ret_error, -EIO,
				 "the idle-session query returned an unexpected number of columns");

	sessions = calloc(1, sizeof(IdleSessions));
	if (!sessions)
		return -ENOMEM;
	n = PQntuples(res);
	if (n > 0) {
		sessions->sessions = calloc(n, sizeof(IdleSession));
		if (!sessions->sessions)
			return -ENOMEM;
	}
	for (int row = 0; row < n; row++) {
		r = parse_row(res, row, &sessions->sessions[row]);
		sessions->n_sessions++;
		if (r < 0)
			return r;
	}
	if (terminate) {
		r = wait_for_exit(conn, sessions, ret_error);
		if (r < 0)
			return r;
	}
	if (sessions->n_sessions > 1)
		qsort(sessions->sessions, sessions->n_sessions, sizeof(IdleSession),
		      compare_idle_age);
	*ret = TAKE_PTR(sessions);
	return 0;
}

int idle_list(PGconn *conn, const IdleFilter *filter, IdleSessions **ret, char **ret_error)
{
	return idle_run(conn, filter, false, ret, ret_error);
}

int idle_terminate(PGconn *conn, const IdleFilter *filter, IdleSessions **ret, char **ret_error)
{
	return idle_run(conn, filter, true, ret, ret_error);
}
