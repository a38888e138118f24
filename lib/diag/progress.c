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
};

/* The statements a check runs, prepared on the watch connection by watch-session.h and then
 * run once each with no target, which warms a fresh session. */
const char progress_session_sql[] =
	/* PROGRESS_STATEMENT.  Parameter: $1 int[], the sessions to look up (found by the probe
	 * below).
	 *
	 * Each view's row becomes (pid, command, phase, unit, done, total), the counter chosen by
	 * phase as PostgreSQL's documentation describes the columns:
	 * - CREATE INDEX: the "waiting for …" phases wait out lockers; scanning phases count blocks
	 *   (heap or index, whichever the access method reports); loading and sorting count tuples.
	 * - CLUSTER / VACUUM FULL: a sequential scan counts heap blocks; an index scan counts
	 * tuples against the table's estimated row count (reltuples); writing the new heap counts
	 * tuples written of those scanned; rebuilding indexes counts indexes of the table's.
	 * - VACUUM: scanning and vacuuming the heap count blocks.
	 * - ANALYZE: sample blocks, child tables, extended statistics.
	 * - COPY: bytes when the size is known (a file), else tuples (of reltuples for COPY TO).
	 * The view rows are read once (MATERIALIZED) and only for target sessions. */
	"PREPARE " PROGRESS_STATEMENT "(int[]) AS\n"
	"WITH target AS MATERIALIZED (SELECT DISTINCT unnest($1::int[]) AS pid),\n"
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
	"SELECT DISTINCT ON (pid) pid, command, phase, unit, done, COALESCE(total, 0) FROM p\n"
	"ORDER BY pid;\n"
	/* PROGRESS_PROBE_STATEMENT, the look at the target sessions: cheap enough for every
	 * check.  Parameters: $1 int[] target pids, $2 target application_name (either may be
	 * NULL). */
	"PREPARE " PROGRESS_PROBE_STATEMENT "(int[], text) AS\n"
	"SELECT pid, (extract(epoch FROM query_start) * 1e6)::bigint,\n"
	"       (extract(epoch FROM now() - query_start) * 1e6)::bigint,\n"
	"       wait_event_type, wait_event\n"
	"FROM pg_stat_activity\n"
	"WHERE state = 'active' AND pid <> pg_backend_pid()\n"
	"  AND (pid = ANY ($1::int[]) OR application_name = $2)\n"
	"ORDER BY pid;\n"
	"EXECUTE " PROGRESS_PROBE_STATEMENT "('{}', NULL)";

enum {
	PROBE_PID,
	PROBE_STATEMENT_START,
	PROBE_ELAPSED,
	PROBE_WAIT_EVENT_TYPE,
	PROBE_WAIT_EVENT,
	_PROBE_MAX,
};

enum {
	COL_PID,
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

static int parse_probe_row(const PGresult *res, int row, ProgressSession *s)
{
	const PgResultText texts[] = {
		{PROBE_WAIT_EVENT_TYPE, 64, 0, &s->wait_event_type},
		{PROBE_WAIT_EVENT, 64, 0, &s->wait_event},
	};

	s->pid = pg_result_int(res, row, PROBE_PID);
	s->statement_start = result_int64(res, row, PROBE_STATEMENT_START);
	s->elapsed_usec = pg_result_age(res, row, PROBE_ELAPSED);
	return pg_result_texts(res, row, texts, ELEMENTSOF(texts));
}

static int parse_progress_row(const PGresult *res, int row, ProgressSession *s)
{
	const PgResultText texts[] = {
		{COL_COMMAND, 64, 0, &s->command},
		{COL_PHASE, 128, 0, &s->phase},
		{COL_UNIT, 16, 0, &s->unit},
	};

	s->done = result_int64(res, row, COL_DONE);
	s->total = result_int64(res, row, COL_TOTAL);
	if (s->done < 0)
		s->done = 0;
	if (s->total < 0)
		s->total = 0;
	return pg_result_texts(res, row, texts, ELEMENTSOF(texts));
}

/* The progress views' rows for the sessions of s that have run at least min_elapsed. */
static int add_progress(ProgressWatch *w, ProgressSnapshot *s, usec_t min_elapsed, char **ret_error)
{
	_cleanup_(PQclearp) PGresult *res = NULL;
	_cleanup_free_ char *pids = NULL;
	size_t size = 0, n = 0;
	FILE *f;

	f = open_memstream(&pids, &size);
	if (!f)
		return -ENOMEM;
	fputc('{', f);
	for (size_t i = 0; i < s->n_sessions; i++)
		if (s->sessions[i].elapsed_usec != USEC_INFINITY &&
		    s->sessions[i].elapsed_usec >= min_elapsed)
			fprintf(f, "%s%d", n++ > 0 ? "," : "", s->sessions[i].pid);
	fputc('}', f);
	if (fclose(f) != 0)
		return -ENOMEM;
	if (n == 0)
		return 0;

	const char *params[1] = {pids};
	res = PQexecPrepared(w->conn, PROGRESS_STATEMENT, 1, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return pg_result_error(w->conn, res, ret_error);
	if (PQnfields(res) != _COL_MAX) {
		*ret_error = strdup("the progress query returned an unexpected number of columns");
		return *ret_error ? -EIO : -ENOMEM;
	}
	for (int row = 0; row < PQntuples(res); row++) {
		int pid = pg_result_int(res, row, COL_PID);
		for (size_t i = 0; i < s->n_sessions; i++)
			if (s->sessions[i].pid == pid && !s->sessions[i].command) {
				int r = parse_progress_row(res, row, &s->sessions[i]);
				if (r < 0)
					return r;
			}
	}
	return 0;
}

int progress_check(ProgressWatch *w, usec_t progress_after, ProgressSnapshot **ret,
		   char **ret_error)
{
	_cleanup_(progress_snapshot_freep) ProgressSnapshot *s = NULL;
	_cleanup_(PQclearp) PGresult *res = NULL;
	const char *params[2] = {w->pids, w->application_name};
	int n, r;

	if (PQtransactionStatus(w->conn) != PQTRANS_IDLE) {
		*ret_error = strdup("the watch connection is not idle outside a transaction");
		return *ret_error ? -EBUSY : -ENOMEM;
	}
	res = PQexecPrepared(w->conn, PROGRESS_PROBE_STATEMENT, ELEMENTSOF(params), params, NULL,
			     NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return pg_result_error(w->conn, res, ret_error);
	if (PQnfields(res) != _PROBE_MAX) {
		*ret_error = strdup("the session query returned an unexpected number of columns");
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
		r = parse_probe_row(res, row, &s->sessions[row]);
		s->n_sessions++;
		if (r < 0)
			return r;
		if (s->sessions[row].wait_event_type &&
		    strcmp(s->sessions[row].wait_event_type, "Lock") == 0)
			s->waiting_on_lock = true;
	}
	if (progress_after != USEC_INFINITY &&
	    (r = add_progress(w, s, progress_after, ret_error)) < 0)
		return r;
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
