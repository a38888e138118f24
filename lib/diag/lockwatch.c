#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "lockwatch.h"
#include "pg-result.h"
#include "text-sanitize.h"

typedef enum LockWatchTarget {
	LOCKWATCH_TARGET_PIDS,
	LOCKWATCH_TARGET_APPLICATION,
	LOCKWATCH_TARGET_DATABASE,
} LockWatchTarget;

struct LockWatch {
	PGconn *conn;
	LockWatchTarget target;
	char *pids;		/* int[] literal "{1,2}" for LOCKWATCH_TARGET_PIDS */
	char *application_name; /* for LOCKWATCH_TARGET_APPLICATION */
};

/* Parameters: $1 int[] target pids, $2 target application_name, $3 every waiting session of
 * this database (each may be NULL/false).
 *
 * pg_stat_activity and pg_locks are read once each (MATERIALIZED) so that every part of the
 * answer comes from the same look.  The chain is followed over nodes, not edges: UNION keeps
 * each pid once, so the recursion ends (cycles included) and costs one pg_blocking_pids()
 * call per session involved, however many wait in one queue.  pg_blocking_pids() reports a
 * prepared transaction as 0: the prepared transactions in the way are those holding, on the
 * lock waited for, a mode that conflicts with the one wanted (PostgreSQL's conflict table,
 * below); the gid is found through the transactionid lock of the same virtual transaction.
 * A row-lock wait is a wait on a transactionid (or tuple) lock: its table is the relation of
 * the tuple lock the waiter holds or waits for.  Ages are taken against now(), the
 * statement's start, so they agree with each other.  Run once with no target, it only warms
 * the session (watch-session.h). */
const char lockwatch_session_sql[] =
	"PREPARE " LOCKWATCH_STATEMENT "(int[], text, bool) AS\n"
	"WITH RECURSIVE\n"
	"activity AS MATERIALIZED (SELECT * FROM pg_stat_activity),\n"
	"locks AS MATERIALIZED (SELECT * FROM pg_locks),\n"
	"target AS MATERIALIZED (\n"
	"  SELECT pid FROM activity\n"
	"  WHERE pid <> pg_backend_pid()\n"
	"    AND (pid = ANY ($1::int[]) OR application_name = $2\n"
	"         OR ($3 AND datname = current_database() AND wait_event_type = 'Lock'))),\n"
	"node(pid) AS (\n"
	"  SELECT pid FROM target\n"
	"  UNION\n"
	"  SELECT b.pid FROM node n CROSS JOIN LATERAL unnest(pg_blocking_pids(n.pid)) AS b(pid)\n"
	"  WHERE b.pid <> 0),\n"
	"edge AS MATERIALIZED (\n"
	"  SELECT DISTINCT n.pid AS blocked_pid, b.pid AS blocker_pid\n"
	"  FROM node n CROSS JOIN LATERAL unnest(pg_blocking_pids(n.pid)) AS b(pid)),\n"
	"conflict(mode, conflicts) AS (VALUES\n"
	"  ('AccessShareLock', '{AccessExclusiveLock}'::text[]),\n"
	"  ('RowShareLock', '{ExclusiveLock,AccessExclusiveLock}'),\n"
	"  ('RowExclusiveLock',\n"
	"   '{ShareLock,ShareRowExclusiveLock,ExclusiveLock,AccessExclusiveLock}'),\n"
	"  ('ShareUpdateExclusiveLock', '{ShareUpdateExclusiveLock,ShareLock,"
	"ShareRowExclusiveLock,ExclusiveLock,AccessExclusiveLock}'),\n"
	"  ('ShareLock', '{RowExclusiveLock,ShareUpdateExclusiveLock,ShareRowExclusiveLock,"
	"ExclusiveLock,AccessExclusiveLock}'),\n"
	"  ('ShareRowExclusiveLock', '{RowExclusiveLock,ShareUpdateExclusiveLock,ShareLock,"
	"ShareRowExclusiveLock,ExclusiveLock,AccessExclusiveLock}'),\n"
	"  ('ExclusiveLock', '{RowShareLock,RowExclusiveLock,ShareUpdateExclusiveLock,ShareLock,"
	"ShareRowExclusiveLock,ExclusiveLock,AccessExclusiveLock}'),\n"
	"  ('AccessExclusiveLock', '{AccessShareLock,RowShareLock,RowExclusiveLock,"
	"ShareUpdateExclusiveLock,ShareLock,ShareRowExclusiveLock,ExclusiveLock,"
	"AccessExclusiveLock}')),\n"
	"wanted AS (\n"
	"  SELECT DISTINCT ON (w.pid) w.*, c.conflicts,\n"
	"         COALESCE(w.relation, t.relation) AS rel, COALESCE(w.database, t.database) AS "
	"reldb\n"
	"  FROM locks w\n"
	"  LEFT JOIN conflict c ON c.mode = w.mode\n"
	"  LEFT JOIN LATERAL (SELECT relation, database FROM locks t\n"
	"                     WHERE t.pid = w.pid AND t.locktype = 'tuple' LIMIT 1) t\n"
	"         ON w.relation IS NULL\n"
	"  WHERE NOT w.granted AND w.pid IN (SELECT blocked_pid FROM edge)\n"
	"  ORDER BY w.pid),\n"
	"holder AS (\n"
	"  SELECT e.blocked_pid, e.blocker_pid, h.virtualtransaction,\n"
	"         string_agg(DISTINCT h.mode, ',') FILTER (WHERE h.granted) AS held,\n"
	"         string_agg(DISTINCT h.mode, ',') FILTER (WHERE NOT h.granted) AS queued\n"
	"  FROM edge e\n"
	"  JOIN wanted w ON w.pid = e.blocked_pid\n"
	"  JOIN locks h ON h.pid IS NOT DISTINCT FROM NULLIF(e.blocker_pid, 0)\n"
	"       AND h.locktype = w.locktype\n"
	"       AND h.database IS NOT DISTINCT FROM w.database\n"
	"       AND h.relation IS NOT DISTINCT FROM w.relation\n"
	"       AND h.page IS NOT DISTINCT FROM w.page\n"
	"       AND h.tuple IS NOT DISTINCT FROM w.tuple\n"
	"       AND h.virtualxid IS NOT DISTINCT FROM w.virtualxid\n"
	"       AND h.transactionid IS NOT DISTINCT FROM w.transactionid\n"
	"       AND h.classid IS NOT DISTINCT FROM w.classid\n"
	"       AND h.objid IS NOT DISTINCT FROM w.objid\n"
	"       AND h.objsubid IS NOT DISTINCT FROM w.objsubid\n"
	"       AND h.mode = ANY (w.conflicts)\n"
	"  GROUP BY e.blocked_pid, e.blocker_pid, h.virtualtransaction),\n"
	"here AS (SELECT oid FROM pg_database WHERE datname = current_database())\n"
	"SELECT e.blocked_pid,\n"
	"       e.blocked_pid IN (SELECT pid FROM target),\n"
	"       (extract(epoch FROM now() - w.waitstart) * 1e6)::bigint,\n"
	"       w.mode, w.locktype,\n"
	"       CASE WHEN w.rel IS NULL THEN NULL\n"
	"            WHEN w.reldb = 0 OR w.reldb = (SELECT oid FROM here) THEN\n"
	"              COALESCE((SELECT format('%I.%I', n.nspname, c.relname)\n"
	"                        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace\n"
	"                        WHERE c.oid = w.rel), w.rel::text)\n"
	"            ELSE format('relation %s of database %s', w.rel,\n"
	"                        COALESCE((SELECT datname::text FROM pg_database\n"
	"                                  WHERE oid = w.reldb), w.reldb::text)) END,\n"
	"       e.blocker_pid, px.gid,\n"
	"       COALESCE(a.usename, px.owner)::text,\n"
	"       a.application_name,\n"
	"       CASE WHEN a.client_port = -1 THEN '[local]'\n"
	"            WHEN a.client_addr IS NOT NULL THEN\n"
	"              host(a.client_addr) || ':' || a.client_port END,\n"
	"       CASE WHEN e.blocker_pid = 0 THEN 'prepared' ELSE a.state END,\n"
	"       a.backend_type,\n"
	"       (extract(epoch FROM now() - COALESCE(a.xact_start, px.prepared)) * 1e6)::bigint,\n"
	"       (extract(epoch FROM now() - COALESCE(a.state_change, px.prepared)) * "
	"1e6)::bigint,\n"
	"       COALESCE(h.held, h.queued),\n"
	"       h.held IS NULL AND h.queued IS NOT NULL,\n"
	"       left(a.query, 1000),\n"
	"       e.blocker_pid = 0\n"
	"         OR NOT EXISTS (SELECT 1 FROM edge r WHERE r.blocked_pid = e.blocker_pid)\n"
	"FROM edge e\n"
	"LEFT JOIN wanted w ON w.pid = e.blocked_pid\n"
	"LEFT JOIN holder h ON h.blocked_pid = e.blocked_pid AND h.blocker_pid = e.blocker_pid\n"
	"LEFT JOIN activity a ON a.pid = NULLIF(e.blocker_pid, 0)\n"
	"LEFT JOIN locks pl ON e.blocker_pid = 0 AND pl.pid IS NULL\n"
	"     AND pl.locktype = 'transactionid' AND pl.virtualtransaction = h.virtualtransaction\n"
	"LEFT JOIN pg_prepared_xacts px ON px.transaction = pl.transactionid\n"
	"ORDER BY e.blocked_pid, e.blocker_pid, px.gid;\n"
	"EXECUTE " LOCKWATCH_STATEMENT "('{}', NULL, false)";

enum {
	COL_BLOCKED_PID,
	COL_BLOCKED_IS_TARGET,
	COL_WAIT_AGE,
	COL_MODE_WANTED,
	COL_LOCK_TYPE,
	COL_RELATION,
	COL_BLOCKER_PID,
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

static int lockwatch_new(PGconn *conn, LockWatchTarget target, LockWatch **ret)
{
	LockWatch *w;

	if (!conn)
		return -EINVAL;
	w = calloc(1, sizeof(LockWatch));
	if (!w)
		return -ENOMEM;
	w->conn = conn;
	w->target = target;
	*ret = w;
	return 0;
}

int lockwatch_new_for_pids(PGconn *conn, const int *pids, size_t n_pids, LockWatch **ret)
{
	_cleanup_(lockwatch_freep) LockWatch *w = NULL;
	_cleanup_free_ char *list = NULL;
	size_t size = 0;
	FILE *f;
	int r;

	if (n_pids == 0 || !pids)
		return -EINVAL;
	r = lockwatch_new(conn, LOCKWATCH_TARGET_PIDS, &w);
	if (r < 0)
		return r;

	f = open_memstream(&list, &size);
	if (!f)
		return -ENOMEM;
	fputc('{', f);
	for (size_t i = 0; i < n_pids; i++)
		fprintf(f, "%s%d", i > 0 ? "," : "", pids[i]);
	fputc('}', f);
	if (fclose(f) != 0)
		return -ENOMEM;
	w->pids = TAKE_PTR(list);
	*ret = TAKE_PTR(w);
	return 0;
}

int lockwatch_new_for_application(PGconn *conn, const char *application_name, LockWatch **ret)
{
	_cleanup_(lockwatch_freep) LockWatch *w = NULL;
	int r;

	if (!application_name || !*application_name)
		return -EINVAL;
	r = lockwatch_new(conn, LOCKWATCH_TARGET_APPLICATION, &w);
	if (r < 0)
		return r;
	w->application_name = strdup(application_name);
	if (!w->application_name)
		return -ENOMEM;
	*ret = TAKE_PTR(w);
	return 0;
}

int lockwatch_new_for_database(PGconn *conn, LockWatch **ret)
{
	return lockwatch_new(conn, LOCKWATCH_TARGET_DATABASE, ret);
}

LockWatch *lockwatch_free(LockWatch *w)
{
	if (!w)
		return NULL;
	free(w->pids);
	free(w->application_name);
	free(w);
	return NULL;
}

static void lock_blocker_done(LockBlocker *b)
{
	free(b->mode_wanted);
	free(b->lock_type);
	free(b->relation);
	free(b->gid);
	free(b->user);
	free(b->application);
	free(b->client);
	free(b->state);
	free(b->backend_type);
	free(b->mode_held);
	free(b->query);
}

LockSnapshot *lockwatch_snapshot_free(LockSnapshot *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n_blockers; i++)
		lock_blocker_done(&s->blockers[i]);
	free(s->blockers);
	free(s);
	return NULL;
}

static int parse_row(const PGresult *res, int row, LockBlocker *b)
{
	const PgResultText texts[] = {
		{COL_MODE_WANTED, 0, 0, &b->mode_wanted},
		{COL_LOCK_TYPE, 0, 0, &b->lock_type},
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

	b->blocked_pid = pg_result_int(res, row, COL_BLOCKED_PID);
	b->blocked_is_target = pg_result_bool(res, row, COL_BLOCKED_IS_TARGET);
	b->wait_age_usec = pg_result_age(res, row, COL_WAIT_AGE);
	b->blocker_pid = pg_result_int(res, row, COL_BLOCKER_PID);
	b->xact_age_usec = pg_result_age(res, row, COL_XACT_AGE);
	b->state_age_usec = pg_result_age(res, row, COL_STATE_AGE);
	b->queued = pg_result_bool(res, row, COL_QUEUED);
	b->is_root = pg_result_bool(res, row, COL_IS_ROOT);
	return pg_result_texts(res, row, texts, ELEMENTSOF(texts));
}

int lockwatch_check(LockWatch *w, LockSnapshot **ret, char **ret_error)
{
	_cleanup_(lockwatch_snapshot_freep) LockSnapshot *s = NULL;
	_cleanup_(PQclearp) PGresult *res = NULL;
	const char *params[3] = {
		w->pids,
		w->application_name,
		w->target == LOCKWATCH_TARGET_DATABASE ? "true" : "false",
	};
	int n;

	if (PQtransactionStatus(w->conn) != PQTRANS_IDLE) {
		*ret_error = strdup("the watch connection is not idle outside a transaction");
		return *ret_error ? -EBUSY : -ENOMEM;
	}

	res = PQexecPrepared(w->conn, LOCKWATCH_STATEMENT, ELEMENTSOF(params), params, NULL, NULL,
			     0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return pg_result_error(w->conn, res, ret_error);
	if (PQnfields(res) != _COL_MAX) {
		*ret_error =
			strdup("the lock watch query returned an unexpected number of columns");
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
		int r = parse_row(res, row, &s->blockers[row]);
		s->n_blockers++;
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(s);
	return 0;
}

static bool same_edge(const LockBlocker *a, const LockBlocker *b)
{
	return a->blocked_pid == b->blocked_pid && a->blocker_pid == b->blocker_pid &&
	       (a->gid == b->gid || (a->gid && b->gid && strcmp(a->gid, b->gid) == 0));
}

/* Every edge of a is in b. */
static bool edges_included(const LockSnapshot *a, const LockSnapshot *b)
{
	for (size_t i = 0; a && i < a->n_blockers; i++) {
		bool found = false;
		for (size_t j = 0; b && j < b->n_blockers && !found; j++)
			found = same_edge(&a->blockers[i], &b->blockers[j]);
		if (!found)
			return false;
	}
	return true;
}

bool lockwatch_snapshot_same_blockers(const LockSnapshot *a, const LockSnapshot *b)
{
	return edges_included(a, b) && edges_included(b, a);
}
