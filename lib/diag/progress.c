/* Progress of a migration's sessions from PostgreSQL's progress views (progress.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg-result.h"
#include "progress.h"

struct ProgressWatch {
	PGconn *conn;
	char *pids;		/* int[] literal, or NULL */
	char *application_name; /* or NULL */
	bool jit_disabled;
};

/* Parameters: $1 int[] target pids, $2 target application_name (either may be NULL).
 *
 * Each view's row becomes (pid, command, phase, unit, done, total), the counter chosen by
 * phase as PostgreSQL's documentation describes the columns:
 * - CREATE INDEX: the "waiting for …" phases wait out lockers; scanning phases count blocks
 *   (heap or index, whichever the access method reports); loading and sorting count tuples.
 * - CLUSTER / VACUUM FULL: a sequential scan counts heap blocks; an index scan counts tuples
 *   against the table's estimated row count (reltuples); writing the new heap counts tuples
 *   written of those scanned; rebuilding indexes counts indexes of the table's.
 * - VACUUM: scanning and vacuuming the heap count blocks.
 * - ANALYZE: sample blocks, child tables, extended statistics.
 * - COPY: bytes when the size is known (a file), else tuples (of reltuples for COPY TO).
 * The view rows are read once (MATERIALIZED) and only for target sessions. */
static const char progress_sql[] =
	"WITH target AS MATERIALIZED (\n"
	"  SELECT pid, query_start, wait_event_type, wait_event FROM pg_stat_activity\n"
	"  WHERE state = 'active' AND pid <> pg_backend_pid()\n"
	"    AND (pid = ANY ($1::int[]) OR application_name = $2)),\n"
	"ci AS MATERIALIZED (SELECT * FROM pg_stat_progress_create_index\n"
	"                    WHERE pid IN (SELECT pid FROM target)),\n"
	"cl AS MATERIALIZED (SELECT * FROM pg_stat_progress_cluster\n"
	"                    WHERE pid IN (SELECT pid FROM target)),\n"
	"va AS MATERIALIZED (SELECT * FROM pg_stat_progress_vacuum\n"
	"                    WHERE pid IN (SELECT pid FROM target)),\n"
	"an AS MATERIALIZED (SELECT * FROM pg_stat_progress_analyze\n"
	"                    WHERE pid IN (SELECT pid FROM target)),\n"
	"co AS MATERIALIZED (SELECT * FROM pg_stat_progress_copy\n"
	"                    WHERE pid IN (SELECT pid FROM target)),\n"
	"p(pid, command, phase, unit, done, total) AS (\n"
	"  SELECT pid, command, phase, u.unit, u.done, u.total FROM ci LEFT JOIN LATERAL (\n"
	"    SELECT * FROM (VALUES ('lockers', lockers_done, lockers_total)) v(unit, done, total)\n"
	"      WHERE phase LIKE 'waiting for%'\n"
	"    UNION ALL SELECT 'blocks', blocks_done, blocks_total\n"
	"      WHERE phase LIKE '%scanning%' AND blocks_total > 0\n"
	"    UNION ALL SELECT 'tuples', tuples_done, tuples_total\n"
	"      WHERE (phase LIKE '%loading%' OR phase LIKE '%sorting%'\n"
	"             OR (phase LIKE '%scanning%' AND blocks_total = 0)) AND tuples_total > 0\n"
	"    LIMIT 1) u ON true\n"
	"  UNION ALL\n"
	"  SELECT pid, command, phase, u.unit, u.done, u.total FROM cl LEFT JOIN LATERAL (\n"
	"    SELECT * FROM (VALUES ('blocks', heap_blks_scanned, heap_blks_total))\n"
	"        v(unit, done, total) WHERE phase = 'seq scanning heap'\n"
	"    UNION ALL SELECT 'tuples', heap_tuples_scanned,\n"
	"        (SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = cl.relid)\n"
	"      WHERE phase = 'index scanning heap'\n"
	"    UNION ALL SELECT 'tuples', heap_tuples_written, heap_tuples_scanned\n"
	"      WHERE phase = 'writing new heap'\n"
	"    UNION ALL SELECT 'indexes', index_rebuild_count,\n"
	"        (SELECT count(*) FROM pg_index WHERE indrelid = cl.relid)\n"
	"      WHERE phase = 'rebuilding index') u ON true\n"
	"  UNION ALL\n"
	"  SELECT pid, 'VACUUM', phase, u.unit, u.done, u.total FROM va LEFT JOIN LATERAL (\n"
	"    SELECT * FROM (VALUES ('blocks', heap_blks_scanned, heap_blks_total))\n"
	"        v(unit, done, total) WHERE phase = 'scanning heap'\n"
	"    UNION ALL SELECT 'blocks', heap_blks_vacuumed, heap_blks_total\n"
	"      WHERE phase = 'vacuuming heap') u ON true\n"
	"  UNION ALL\n"
	"  SELECT pid, 'ANALYZE', phase, u.unit, u.done, u.total FROM an LEFT JOIN LATERAL (\n"
	"    SELECT * FROM (VALUES ('blocks', sample_blks_scanned, sample_blks_total))\n"
	"        v(unit, done, total) WHERE phase = 'acquiring sample rows'\n"
	"    UNION ALL SELECT 'tables', child_tables_done, child_tables_total\n"
	"      WHERE phase = 'acquiring inherited sample rows'\n"
	"    UNION ALL SELECT 'statistics', ext_stats_computed, ext_stats_total\n"
	"      WHERE phase = 'computing extended statistics') u ON true\n"
	"  UNION ALL\n"
	"  SELECT pid, command, lower(type),\n"
	"         CASE WHEN bytes_total > 0 THEN 'bytes' ELSE 'tuples' END,\n"
	"         CASE WHEN bytes_total > 0 THEN bytes_processed ELSE tuples_processed END,\n"
	"         CASE WHEN bytes_total > 0 THEN bytes_total\n"
	"              WHEN command = 'COPY TO' THEN\n"
	"                (SELECT greatest(reltuples, 0)::bigint FROM pg_class\n"
	"                 WHERE oid = co.relid)\n"
	"              ELSE 0 END\n"
	"  FROM co)\n"
	"SELECT t.pid,\n"
	"       (extract(epoch FROM t.query_start) * 1e6)::bigint,\n"
	"       (extract(epoch FROM now() - t.query_start) * 1e6)::bigint,\n"
	"       t.wait_event_type, t.wait_event,\n"
	"       p.command, p.phase, p.unit, p.done, COALESCE(p.total, 0)\n"
	"FROM target t\n"
	"LEFT JOIN LATERAL (SELECT * FROM p WHERE p.pid = t.pid LIMIT 1) p ON true\n"
	"ORDER BY t.pid";

enum {
	COL_PID,
	COL_STATEMENT_START,
	COL_ELAPSED,
	COL_WAIT_EVENT_TYPE,
	COL_WAIT_EVENT,
	COL_COMMAND,
	COL_PHASE,
	COL_UNIT,
	COL_DONE,
	COL_TOTAL,
	_COL_MAX,
};

static int watch_new(PGconn *conn, ProgressWatch **ret)
{
	ProgressWatch *w;

	if (!conn)
		return -EINVAL;
	w = calloc(1, sizeof(ProgressWatch));
	if (!w)
		return -ENOMEM;
	w->conn = conn;
	*ret = w;
	return 0;
}

int progress_watch_new_for_pids(PGconn *conn, const int *pids, size_t n_pids, ProgressWatch **ret)
{
	_cleanup_(progress_watch_freep) ProgressWatch *w = NULL;
	size_t size = 0;
	FILE *f;
	int r;

	if (!pids || n_pids == 0)
		return -EINVAL;
	r = watch_new(conn, &w);
	if (r < 0)
		return r;
	f = open_memstream(&w->pids, &size);
	if (!f)
		return -ENOMEM;
	fputc('{', f);
	for (size_t i = 0; i < n_pids; i++)
		fprintf(f, "%s%d", i > 0 ? "," : "", pids[i]);
	fputc('}', f);
	if (fclose(f) != 0)
		return -ENOMEM;
	*ret = TAKE_PTR(w);
	return 0;
}

int progress_watch_new_for_application(PGconn *conn, const char *application_name,
				       ProgressWatch **ret)
{
	_cleanup_(progress_watch_freep) ProgressWatch *w = NULL;
	int r;

	if (!application_name || !*application_name)
		return -EINVAL;
	r = watch_new(conn, &w);
	if (r < 0)
		return r;
	w->application_name = strdup(application_name);
	if (!w->application_name)
		return -ENOMEM;
	*ret = TAKE_PTR(w);
	return 0;
}

ProgressWatch *progress_watch_free(ProgressWatch *w)
{
	if (!w)
		return NULL;
	free(w->pids);
	free(w->application_name);
	free(w);
	return NULL;
}

static void session_done(ProgressSession *s)
{
	free(s->wait_event_type);
	free(s->wait_event);
	free(s->command);
	free(s->phase);
	free(s->unit);
}

ProgressSnapshot *progress_snapshot_free(ProgressSnapshot *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n_sessions; i++)
		session_done(&s->sessions[i]);
	free(s->sessions);
	free(s);
	return NULL;
}

static int64_t result_int64(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static int parse_row(const PGresult *res, int row, ProgressSession *s)
{
	const PgResultText texts[] = {
		{COL_WAIT_EVENT_TYPE, 64, 0, &s->wait_event_type},
		{COL_WAIT_EVENT, 64, 0, &s->wait_event},
		{COL_COMMAND, 64, 0, &s->command},
		{COL_PHASE, 128, 0, &s->phase},
		{COL_UNIT, 16, 0, &s->unit},
	};

	s->pid = pg_result_int(res, row, COL_PID);
	s->statement_start = result_int64(res, row, COL_STATEMENT_START);
	s->elapsed_usec = pg_result_age(res, row, COL_ELAPSED);
	s->done = result_int64(res, row, COL_DONE);
	s->total = result_int64(res, row, COL_TOTAL);
	if (s->done < 0)
		s->done = 0;
	if (s->total < 0)
		s->total = 0;
	return pg_result_texts(res, row, texts, ELEMENTSOF(texts));
}

int progress_check(ProgressWatch *w, ProgressSnapshot **ret, char **ret_error)
{
	_cleanup_(progress_snapshot_freep) ProgressSnapshot *s = NULL;
	_cleanup_(PQclearp) PGresult *res = NULL;
	const char *params[2] = {w->pids, w->application_name};
	int n;

	if (PQtransactionStatus(w->conn) != PQTRANS_IDLE) {
		*ret_error = strdup("the watch connection is not idle outside a transaction");
		return *ret_error ? -EBUSY : -ENOMEM;
	}
	/* The planner's row guesses for the views would put the statement above
	 * jit_above_cost: compiling it costs far more than running it. */
	if (!w->jit_disabled) {
		res = PQexec(w->conn, "SET jit = off");
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			return pg_result_error(w->conn, res, ret_error);
		PQclear(TAKE_PTR(res));
		w->jit_disabled = true;
	}
	res = PQexecParams(w->conn, progress_sql, ELEMENTSOF(params), NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return pg_result_error(w->conn, res, ret_error);
	if (PQnfields(res) != _COL_MAX) {
		*ret_error = strdup("the progress query returned an unexpected number of columns");
		return *ret_error ? -EIO : -ENOMEM;
	}

	s = calloc(1, sizeof(ProgressSnapshot));
	if (!s)
		return -ENOMEM;
	n = PQntuples(res);
	if (n > 0) {
		s->sessions = calloc(n, sizeof(ProgressSession));
		if (!s->sessions)
			return -ENOMEM;
	}
	for (int row = 0; row < n; row++) {
		int r = parse_row(res, row, &s->sessions[row]);
		s->n_sessions++;
		if (r < 0)
			return r;
		if (s->sessions[row].wait_event_type &&
		    strcmp(s->sessions[row].wait_event_type, "Lock") == 0)
			s->waiting_on_lock = true;
	}
	*ret = TAKE_PTR(s);
	return 0;
}

double progress_percent(int64_t done, int64_t total)
{
	if (total <= 0)
		return -1;
	if (done >= total)
		return 100.0;
	/* Rounded down: 99.96 % is not yet 100.0 %. */
	return (double)(done * 1000 / total) / 10.0;
}
