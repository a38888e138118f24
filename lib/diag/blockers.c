/* The sessions in the way of a deploy's locks, from one statement (blockers.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockers.h"
#include "cleanup.h"
#include "lock-mode.h"
#include "pg-result.h"
#include "text-sanitize.h"

/* $1 oid[], $2 text[], $3 text[]: one row (relation, requested mode, conflicting mode) per
 * conflicting mode of every request; $4 int[]: sessions that are never blockers.
 *
 * pg_locks and pg_stat_activity are read once each (MATERIALIZED), so that the answer comes
 * from one look.  Relation locks only: those are what DDL and DML take on a table, and what a
 * session that read or wrote the table holds until its transaction ends.  A prepared
 * transaction's locks have no pid; its gid is found through the transactionid lock of the same
 * virtual transaction.  Ages are taken against now(), the statement's start. */
static const char blockers_sql[] =
	"WITH activity AS MATERIALIZED (SELECT * FROM pg_stat_activity),\n"
	"locks AS MATERIALIZED (SELECT * FROM pg_locks),\n"
	"req AS (SELECT DISTINCT * FROM unnest($1::oid[], $2::text[], $3::text[])\n"
	"        AS r(relid, wanted, conflicting)),\n"
	"hit AS (\n"
	"  SELECT l.relation AS relid, l.pid, l.virtualtransaction,\n"
	"         string_agg(DISTINCT r.wanted, ',') AS wanted,\n"
	"         string_agg(DISTINCT l.mode, ',') FILTER (WHERE l.granted) AS held,\n"
	"         string_agg(DISTINCT l.mode, ',') FILTER (WHERE NOT l.granted) AS queued\n"
	"  FROM req r\n"
	"  JOIN locks l ON l.locktype = 'relation' AND l.relation = r.relid\n"
	"       AND l.mode = r.conflicting\n"
	"       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())\n"
	"  WHERE l.pid IS NULL OR (l.pid <> pg_backend_pid() AND l.pid <> ALL ($4::int[]))\n"
	"  GROUP BY l.relation, l.pid, l.virtualtransaction)\n"
	"SELECT h.wanted,\n"
	"       COALESCE((SELECT format('%I.%I', n.nspname, c.relname)\n"
	"                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace\n"
	"                 WHERE c.oid = h.relid), h.relid::text) AS relation,\n"
	"       COALESCE(h.pid, 0) AS pid, px.gid,\n"
	"       COALESCE(a.usename, px.owner)::text,\n"
	"       a.application_name,\n"
	"       CASE WHEN a.client_port = -1 THEN '[local]'\n"
	"            WHEN a.client_addr IS NOT NULL THEN\n"
	"              host(a.client_addr) || ':' || a.client_port END,\n"
	"       CASE WHEN h.pid IS NULL THEN 'prepared' ELSE a.state END,\n"
	"       a.backend_type,\n"
	"       (extract(epoch FROM now() - COALESCE(a.xact_start, px.prepared)) * 1e6)::bigint,\n"
	"       (extract(epoch FROM now() - COALESCE(a.state_change, px.prepared)) * "
	"1e6)::bigint,\n"
	"       COALESCE(h.held, h.queued),\n"
	"       h.held IS NULL AND h.queued IS NOT NULL,\n"
	"       left(a.query, 1000),\n"
	"       h.pid IS NULL OR cardinality(pg_blocking_pids(h.pid)) = 0\n"
	"FROM hit h\n"
	"LEFT JOIN activity a ON a.pid = h.pid\n"
	"LEFT JOIN locks pl ON h.pid IS NULL AND pl.pid IS NULL\n"
	"     AND pl.locktype = 'transactionid' AND pl.virtualtransaction = h.virtualtransaction\n"
	"LEFT JOIN pg_prepared_xacts px ON px.transaction = pl.transactionid\n"
	"ORDER BY relation, pid, px.gid";

enum {
	COL_WANTED,
	COL_RELATION,
	COL_PID,
	COL_GID,
	COL_USER,
	COL_APPLICATION,
	COL_CLIENT,
	COL_STATE,
	COL_BACKEND_TYPE,
	COL_XACT_AGE,
	COL_STATE_AGE,
	COL_MODE_HELD,
	COL_QUEUED,
	COL_QUERY,
	COL_IS_ROOT,
	_COL_MAX,
};

/* The array literals of the statement's parameters: for each request, one element per mode
 * that conflicts with it. */
static int build_parameters(const LockRequest *requests, size_t n, const int *exclude,
			    size_t n_exclude, char *ret[static 4])
{
	FILE *f[4] = {};
	char *buf[4] = {};
	size_t size[4] = {};
	bool first = true;
	int r = 0;

	for (int i = 0; i < 4; i++) {
		f[i] = open_memstream(&buf[i], &size[i]);
		if (!f[i]) {
			r = -ENOMEM;
			goto finish;
		}
		fputc('{', f[i]);
	}
	for (size_t i = 0; i < n; i++) {
		LockMode wanted = lock_mode_from_string(requests[i].mode);
		if (wanted == LOCK_MODE_NONE) {
			r = -EINVAL;
			goto finish;
		}
		for (LockMode m = LOCK_MODE_NONE + 1; m < _LOCK_MODE_MAX; m++) {
			if (!lock_modes_conflict(m, wanted))
				continue;
			/* Mode names are fixed identifiers: no quoting needed. */
			fprintf(f[0], "%s%u", first ? "" : ",", requests[i].relid);
			fprintf(f[1], "%s%s", first ? "" : ",", lock_mode_to_string(wanted));
			fprintf(f[2], "%s%s", first ? "" : ",", lock_mode_to_string(m));
			first = false;
		}
	}
	for (size_t i = 0; i < n_exclude; i++)
		fprintf(f[3], "%s%d", i > 0 ? "," : "", exclude[i]);
finish:
	for (int i = 0; i < 4; i++) {
		if (!f[i])
			continue;
		fputc('}', f[i]);
		if (fclose(f[i]) != 0 && r == 0)
			r = -ENOMEM;
	}
	if (r < 0) {
		for (int i = 0; i < 4; i++)
			free(buf[i]);
		return r;
	}
	for (int i = 0; i < 4; i++)
		ret[i] = buf[i];
	return 0;
}

static int parse_row(const PGresult *res, int row, int waiter_pid, LockBlocker *b)
{
	const PgResultText texts[] = {
		{COL_WANTED, 0, 0, &b->mode_wanted},
		{COL_RELATION, 0, 0, &b->relation},
		{COL_GID, 0, 0, &b->gid},
		{COL_USER, 0, 0, &b->user},
		{COL_APPLICATION, 0, 0, &b->application},
		{COL_CLIENT, 0, 0, &b->client},
		{COL_STATE, 0, 0, &b->state},
		{COL_BACKEND_TYPE, 0, 0, &b->backend_type},
		{COL_MODE_HELD, 0, 0, &b->mode_held},
		{COL_QUERY, LOCKWATCH_QUERY_MAX, TEXT_SANITIZE_SQUEEZE_SPACE, &b->query},
	};

	b->blocked_pid = waiter_pid;
	b->blocked_is_target = true;
	b->wait_age_usec = USEC_INFINITY;
	b->blocker_pid = pg_result_int(res, row, COL_PID);
	b->xact_age_usec = pg_result_age(res, row, COL_XACT_AGE);
	b->state_age_usec = pg_result_age(res, row, COL_STATE_AGE);
	b->queued = pg_result_bool(res, row, COL_QUEUED);
	b->is_root = pg_result_bool(res, row, COL_IS_ROOT);
	b->lock_type = strdup("relation");
	if (!b->lock_type)
		return -ENOMEM;
	return pg_result_texts(res, row, texts, ELEMENTSOF(texts));
}

static void end_transaction(PGconn *conn)
{
	_cleanup_(PQclearp) PGresult *res = NULL;

	if (PQtransactionStatus(conn) != PQTRANS_IDLE)
		res = PQexec(conn, "ROLLBACK");
}

int blockers_find(PGconn *conn, const LockRequest *requests, size_t n_requests, int waiter_pid,
		  const int *exclude_pids, size_t n_exclude_pids, LockSnapshot **ret,
		  char **ret_error)
{
	_cleanup_(lockwatch_snapshot_freep) LockSnapshot *s = NULL;
	_cleanup_(PQclearp) PGresult *res = NULL;
	_cleanup_free_ char *p0 = NULL, *p1 = NULL, *p2 = NULL, *p3 = NULL;
	char *params[4];
	int r, n;

	if (!conn || (n_requests > 0 && !requests) || (n_exclude_pids > 0 && !exclude_pids))
		return -EINVAL;
	if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
		*ret_error = strdup("the connection is not idle outside a transaction");
		return *ret_error ? -EBUSY : -ENOMEM;
	}
	r = build_parameters(requests, n_requests, exclude_pids, n_exclude_pids, params);
	if (r < 0)
		return r;
	p0 = params[0], p1 = params[1], p2 = params[2], p3 = params[3];

	/* pg_stat_activity and pg_locks are read in this transaction for the first time by the
	 * statement itself, so it sees them now.  JIT off: the planner's guesses for the views
	 * put the cost above jit_above_cost, and compiling takes far longer than running. */
	res = PQexec(conn, "BEGIN; SET LOCAL jit = off");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		r = pg_result_error(conn, res, ret_error);
		end_transaction(conn);
		return r;
	}
	PQclear(TAKE_PTR(res));
	res = PQexecParams(conn, blockers_sql, 4, NULL, (const char *const *)params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		r = pg_result_error(conn, res, ret_error);
		end_transaction(conn);
		return r;
	}
	end_transaction(conn);
	if (PQnfields(res) != _COL_MAX) {
		*ret_error = strdup("the blockers query returned an unexpected number of columns");
		return *ret_error ? -EIO : -ENOMEM;
	}

	s = calloc(1, sizeof(LockSnapshot));
	if (!s)
		return -ENOMEM;
	n = PQntuples(res);
	if (n > 0) {
		s->blockers = calloc(n, sizeof(LockBlocker));
		if (!s->blockers)
			return -ENOMEM;
	}
	for (int row = 0; row < n; row++) {
		r = parse_row(res, row, waiter_pid, &s->blockers[row]);
		s->n_blockers++;
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(s);
	return 0;
}

int blockers_client_address(const char *client, char **ret_address, unsigned *ret_port)
{
	const char *colon;
	char *end;
	unsigned long port;

	if (!client || client[0] == '[')
		return -EINVAL;
	colon = strrchr(client, ':');
	if (!colon || colon == client || colon[1] == '\0')
		return -EINVAL;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || port == 0 || port > 65535)
		return -EINVAL;
	*ret_address = strndup(client, colon - client);
	if (!*ret_address)
		return -ENOMEM;
	*ret_port = (unsigned)port;
	return 0;
}
