/* The forecast of pending migrations (forecast.h): parse, ask the catalog, sum up. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "forecast-internal.h"
#include "pg-result.h"
#include "strv.h"
#include "text-sanitize.h"

#define SQL_FIRST_LINE_MAX 200
/* Migrations parsed and resolved together: one catalog query for their relation names, and
 * no more than this many parse trees (of this much SQL, but one) held at once. */
#define FORECAST_CHUNK 64
#define FORECAST_CHUNK_BYTES (1024 * 1024)

static void statement_done(ForecastStatement *s)
{
	for (size_t i = 0; i < s->n_locks; i++)
		free(s->locks[i].relation);
	free(s->locks);
	free(s->sql_first_line);
	free(s->command);
}

static void forecast_migration_done(ForecastMigration *m)
{
	for (size_t j = 0; j < m->n_statements; j++)
		statement_done(&m->statements[j]);
	free(m->statements);
	free(m->version);
	free(m->name);
	free(m->file);
	*m = (ForecastMigration){};
}

void forecast_free(Forecast *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_migrations; i++)
		forecast_migration_done(&f->migrations[i]);
	free(f->migrations);
	for (size_t i = 0; i < f->n_locks; i++)
		free(f->locks[i].relation);
	free(f->locks);
	free(f);
}

int forecast_command(Forecast **ret)
{
	Forecast *f = calloc(1, sizeof(Forecast));

	if (!f)
		return -ENOMEM;
	f->command = true;
	*ret = f;
	return 0;
}

static int compare_locks(const void *a, const void *b)
{
	const ForecastLock *x = a, *y = b;
	int r = strcmp(x->relation, y->relation);

	if (r != 0)
		return r;
	return (int)x->mode - (int)y->mode;
}

static int run(FcContext *c, const char *sql)
{
	PGresult *res = NULL;
	int r = fc_query(c, sql, 0, NULL, &res);

	PQclear(res);
	return r;
}

static int set_search_path(FcContext *c, const char *value)
{
	const char *params[] = {value};
	PGresult *res = NULL;
	int r = fc_query(c, "SELECT set_config('search_path', $1, true)", 1, params, &res);

	PQclear(res);
	c->path_generation++;
	return r;
}

static int current_search_path(FcContext *c, char **ret)
{
	PGresult *res = NULL;
	int r = fc_query(c, "SELECT current_setting('search_path')", 0, NULL, &res);

	if (r < 0)
		return r;
	*ret = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return *ret ? 0 : -ENOMEM;
}

static int first_line(const char *sql, const SqlStatement *s, char **ret)
{
	const char *start = sql + s->offset;
	const char *nl = memchr(start, '\n', s->end - s->offset);
	size_t len = nl ? (size_t)(nl - start) : s->end - s->offset;
	_cleanup_free_ char *raw = strndup(start, len);

	if (!raw)
		return -ENOMEM;
	/* A CRLF file's line ends in CR. */
	if (len > 0 && raw[len - 1] == '\r')
		raw[len - 1] = '\0';
	return text_sanitize(raw, SQL_FIRST_LINE_MAX, 0, ret);
}

/* session_path: the search_path the migration starts with (what the session has), updated by
 * a session-wide SET in it.  The server is asked nothing about it: only a migration that sets
 * search_path costs round trips (its SETs replayed, then the session's value back). */
static int forecast_migration(FcContext *c, const Migration *m, const SqlParse *p,
			      char **session_path, ForecastMigration *fm)
{
	bool path_changed = false;
	int r;

	fm->version = strdup(m->version);
	fm->name = strdup(m->name);
	fm->file = strdup(m->path);
	fm->no_transaction = m->directives.no_transaction;
	if (!fm->version || !fm->name || !fm->file)
		return -ENOMEM;
	fm->statements = calloc(p->n ?: 1, sizeof(ForecastStatement));
	if (!fm->statements)
		return -ENOMEM;
	for (size_t i = 0; i < p->n; i++) {
		ForecastStatement *st = &fm->statements[fm->n_statements++];

		st->line = migrations_line_of_offset(m->sql, m->size, p->statements[i].offset);
		r = first_line(m->sql, &p->statements[i], &st->sql_first_line);
		if (r < 0)
			return r;
		c->st = st;
		c->allocated = 0;
		r = fc_statement(c, p->trees[i]);
		if (r < 0)
			return r;
		if (st->n_locks > 1)
			qsort(st->locks, st->n_locks, sizeof(ForecastLock), compare_locks);
		if (c->search_path_set) {
			/* It applies from the next statement on; a session-wide SET outlives the
			 * migration, SET LOCAL its transaction. */
			r = set_search_path(c, c->search_path_set);
			if (r < 0)
				return r;
			path_changed = true;
			if (!c->search_path_local) {
				free(*session_path);
				*session_path = TAKE_PTR(c->search_path_set);
			}
			free(c->search_path_set);
			c->search_path_set = NULL;
		}
	}
	c->st = NULL;
	return path_changed ? set_search_path(c, *session_path) : 0;
}

/* Adds a migration's locks to the flat list for the preflight: per relation, the modes not
 * covered by another. */
static int flatten_migration(Forecast *f, const ForecastMigration *m)
{
	for (size_t j = 0; j < m->n_statements; j++) {
		const ForecastStatement *st = &m->statements[j];
		for (size_t k = 0; k < st->n_locks; k++) {
			const ForecastLock *l = &st->locks[k];
			bool covered = l->relid == 0;
			for (size_t x = 0; !covered && x < f->n_locks; x++) {
				ForecastLock *have = &f->locks[x];
				if (have->relid != l->relid)
					continue;
				if (lock_mode_covers(have->mode, l->mode))
					covered = true;
				else if (lock_mode_covers(l->mode, have->mode)) {
					/* The new one says more: it replaces this one. */
					have->mode = l->mode;
					covered = true;
				}
			}
			if (covered)
				continue;
			ForecastLock *locks =
				reallocarray(f->locks, f->n_locks + 1, sizeof(ForecastLock));
			if (!locks)
				return -ENOMEM;
			f->locks = locks;
			f->locks[f->n_locks] = (ForecastLock){
				.relation = strdup(l->relation),
				.relid = l->relid,
				.mode = l->mode,
				.size_bytes = -1,
				.rows = -1,
			};
			if (!f->locks[f->n_locks].relation)
				return -ENOMEM;
			f->n_locks++;
		}
	}
	return 0;
}

/* Sizes and row estimates of every relation locked.  pg_total_relation_size() takes an
 * AccessShareLock: it is skipped for a relation on which someone holds or waits for an
 * AccessExclusiveLock (it would wait behind it), and lock_timeout bounds a race with one. */
static int read_sizes(FcContext *c, Forecast *f)
{
	static const char sql[] =
		"SELECT c.oid, CASE WHEN NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.relation = "
		"c.oid\n"
		"                               AND l.mode = 'AccessExclusiveLock'\n"
		"                               AND l.pid IS DISTINCT FROM pg_backend_pid())\n"
		"            THEN pg_total_relation_size(c.oid) ELSE -1 END,\n"
		"       CASE WHEN c.reltuples < 0 THEN -1 ELSE c.reltuples::bigint END\n"
		"FROM pg_class c WHERE c.oid = ANY ($1::oid[])";
	_cleanup_free_ char *oids = NULL;
	size_t size = 0;
	PGresult *res = NULL;
	FILE *out = open_memstream(&oids, &size);
	int r;

	if (!out)
		return -ENOMEM;
	fputc('{', out);
	for (size_t i = 0; i < f->n_locks; i++)
		fprintf(out, "%s%u", i ? "," : "", f->locks[i].relid);
	fputc('}', out);
	if (fclose(out) != 0)
		return -ENOMEM;
	const char *params[] = {oids};
	r = fc_query(c, sql, 1, params, &res);
	if (r < 0)
		return r;
	for (size_t i = 0; i < f->n_migrations; i++)
		for (size_t j = 0; j < f->migrations[i].n_statements; j++) {
			ForecastStatement *st = &f->migrations[i].statements[j];
			for (size_t k = 0; k < st->n_locks; k++) {
				ForecastLock *l = &st->locks[k];
				l->size_bytes = l->rows = -1;
				for (int row = 0; l->relid && row < PQntuples(res); row++)
					if (strtoul(PQgetvalue(res, row, 0), NULL, 10) ==
					    l->relid) {
						l->size_bytes =
							strtoll(PQgetvalue(res, row, 1), NULL, 10);
						l->rows =
							strtoll(PQgetvalue(res, row, 2), NULL, 10);
					}
			}
		}
	PQclear(res);
	return 0;
}

/* Up to FORECAST_CHUNK migrations: parsed, their relation names resolved in one query, then
 * forecast one after the other; *ret_taken says how many.  A parse error is told after the
 * migrations before it, as if each were read alone. */
static int forecast_chunk(FcContext *c, Forecast *f, Migration *const *pending, size_t n,
			  char **session_path, size_t *ret_taken)
{
	SqlParse parses[FORECAST_CHUNK] = {};
	_cleanup_(sql_parse_error_done) SqlParseError e = {};
	_cleanup_free_ json_object **trees = NULL;
	size_t n_parsed = 0, n_trees = 0, bytes = 0;
	int parse_error = 0, r;

	for (; n_parsed < n && n_parsed < FORECAST_CHUNK; n_parsed++) {
		if (n_parsed > 0 && bytes + pending[n_parsed]->size > FORECAST_CHUNK_BYTES)
			break;
		parse_error = sql_parse(pending[n_parsed]->sql, &parses[n_parsed], &e);
		if (parse_error < 0)
			break;
		bytes += pending[n_parsed]->size;
		n_trees += parses[n_parsed].n;
	}
	trees = calloc(n_trees ?: 1, sizeof(json_object *));
	r = trees ? 0 : -ENOMEM;
	for (size_t i = 0, k = 0; r >= 0 && i < n_parsed; i++)
		for (size_t j = 0; j < parses[i].n; j++)
			trees[k++] = parses[i].trees[j];
	c->chunk_trees = trees;
	c->n_chunk_trees = n_trees;
	c->prefetch_due = true;
	for (size_t i = 0; r >= 0 && i < n_parsed; i++) {
		ForecastMigration *fm = &f->migrations[f->n_migrations++];
		r = forecast_migration(c, pending[i], &parses[i], session_path, fm);
		if (r >= 0)
			r = flatten_migration(f, fm);
		/* The preflight needs the flat list only: with thousands of migrations, their
		 * statements' details would be most of the worker's memory. */
		if (c->scope == FORECAST_EXISTING_RELATIONS)
			forecast_migration_done(&f->migrations[--f->n_migrations]);
	}
	c->chunk_trees = NULL;
	c->n_chunk_trees = 0;
	c->prefetch_due = false;
	fc_prefetch_done(c);
	for (size_t i = 0; i < n_parsed; i++)
		sql_parse_done(&parses[i]);
	if (r < 0)
		return r;
	if (parse_error == -EINVAL) {
		const Migration *m = pending[n_parsed];
		return fc_fail(c, parse_error, "%s:%u: %s", m->path,
			       migrations_line_of_position(m->sql, m->size, e.position, false),
			       e.message);
	}
	if (parse_error < 0)
		return parse_error;
	*ret_taken = n_parsed;
	return 0;
}

int forecast_pending(PGconn *conn, Migration *const *pending, size_t n_pending, ForecastScope scope,
		     Forecast **ret, char **ret_error)
{
	Forecast *f = calloc(1, sizeof(Forecast));
	FcContext c = {.conn = conn, .error = ret_error, .scope = scope};
	_cleanup_free_ char *session_path = NULL;
	int r;

	if (ret_error)
		*ret_error = NULL;
	if (!f)
		return -ENOMEM;
	f->migrations = calloc(n_pending ?: 1, sizeof(ForecastMigration));
	if (!f->migrations) {
		free(f);
		return -ENOMEM;
	}
	/* Read only, and rolled back: SET search_path is replayed with set_config(…, true). */
	r = run(&c, "BEGIN READ ONLY");
	if (r >= 0)
		r = run(&c, "SET LOCAL lock_timeout = '2s'");
	if (r >= 0)
		r = current_search_path(&c, &session_path);
	for (size_t i = 0, taken = 0; r >= 0 && i < n_pending; i += taken)
		r = forecast_chunk(&c, f, pending + i, n_pending - i, &session_path, &taken);
	if (r >= 0 && f->n_locks > 1)
		qsort(f->locks, f->n_locks, sizeof(ForecastLock), compare_locks);
	if (r >= 0 && scope == FORECAST_EVERY_LOCK)
		r = read_sizes(&c, f);
	if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
		int k = run(&c, "ROLLBACK");
		if (r >= 0)
			r = k;
	}
	strv_free(c.ctes);
	free(c.search_path_set);
	fc_prefetch_done(&c);
	fc_memo_done(&c);
	if (r < 0) {
		forecast_free(f);
		if (r == -ENOMEM && ret_error) {
			free(*ret_error);
			*ret_error = NULL;
		}
		return r;
	}
	*ret = f;
	return 0;
}
