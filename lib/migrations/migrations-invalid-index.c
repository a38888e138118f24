/* INVALID indexes left by failed concurrent builds: marked, then dropped before the retry
 * (migrations-invalid-index.h). */
#include <stdio.h>
#include <string.h>

#include "migrations-invalid-index.h"

void invalid_index_guard_done(InvalidIndexGuard *g)
{
	sql_index_build_done(&g->build);
	free(g->table);
	free(g->marker);
	free(g->before);
	*g = (InvalidIndexGuard){};
}

/* "schema"."table" or "table" as text for to_regclass(), as an SQL literal. */
static int table_literal(PGconn *conn, const SqlIndexBuild *b, char **ret)
{
	_cleanup_(PQfreemem_p) char *schema = NULL, *table = NULL, *literal = NULL;
	_cleanup_free_ char *name = NULL;

	table = PQescapeIdentifier(conn, b->table, strlen(b->table));
	schema = b->schema ? PQescapeIdentifier(conn, b->schema, strlen(b->schema)) : NULL;
	if (!table || (b->schema && !schema))
		return -ENOMEM;
	if (asprintf(&name, "%s%s%s", schema ?: "", schema ? "." : "", table) < 0)
		return -ENOMEM;
	literal = PQescapeLiteral(conn, name, strlen(name));
	if (!literal || !(*ret = strdup(literal)))
		return -ENOMEM;
	return 0;
}

/* Runs sql and hands back its first column, one string per row (NULL-terminated). */
static int query_column(PGconn *conn, const char *sql, const PgWaitHooks *hooks, char ***ret,
			PgError *ret_error)
{
	_cleanup_(PQclearp) PGresult *res = NULL;
	char **v;
	int r, n;

	r = pg_exec(conn, sql, hooks, &res, ret_error);
	if (r < 0)
		return r;
	n = PQntuples(res);
	v = calloc((size_t)n + 1, sizeof(char *));
	if (!v)
		return -ENOMEM;
	for (int i = 0; i < n; i++)
		if (!(v[i] = strdup(PQgetvalue(res, i, 0)))) {
			for (int j = 0; j < i; j++)
				free(v[j]);
			free(v);
			return -ENOMEM;
		}
	*ret = v;
	return 0;
}

static void strv_free_all(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

int invalid_index_guard_begin(PGconn *conn, const Migration *m, const MigrationsApplyOptions *o,
			      InvalidIndexGuard *g, PgError *ret_error)
{
	_cleanup_(PQfreemem_p) char *marker = NULL;
	_cleanup_free_ char *sql = NULL;
	char **left = NULL, **before = NULL;
	int r;

	*g = (InvalidIndexGuard){};
	if (!m->directives.no_transaction)
		return 0;
	r = sql_index_concurrent(m->sql, &g->build);
	if (r <= 0)
		return r;
	g->active = true;
	if (table_literal(conn, &g->build, &g->table) < 0 ||
	    asprintf(&g->marker, "deployd: INVALID index left by failed migration %s of %s ",
		     m->version, o->table) < 0) {
		g->marker = NULL;
		return -ENOMEM;
	}
	marker = PQescapeLiteral(conn, g->marker, strlen(g->marker));
	if (!marker)
		return -ENOMEM;

	/* What an earlier run of this migration left: INVALID, and marked as ours. */
	if (asprintf(&sql,
		     "SELECT format('%%I.%%I', n.nspname, c.relname)\n"
		     "FROM pg_catalog.pg_index i\n"
		     "JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid\n"
		     "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n"
		     "JOIN pg_catalog.pg_description d ON d.objoid = c.oid\n"
		     "     AND d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass\n"
		     "     AND d.objsubid = 0\n"
		     "WHERE NOT i.indisvalid AND pg_catalog.starts_with(d.description, %s)\n"
		     "ORDER BY 1",
		     marker) < 0)
		return -ENOMEM;
	r = query_column(conn, sql, o->hooks, &left, ret_error);
	if (r < 0)
		return r;
	for (char **p = left; *p; p++) {
		_cleanup_free_ char *drop = NULL;
		if (asprintf(&drop, "DROP INDEX CONCURRENTLY %s", *p) < 0) {
			r = -ENOMEM;
			break;
		}
		r = pg_exec(conn, drop, o->hooks, NULL, ret_error);
		if (r < 0) {
			_cleanup_free_ char *why = NULL;
			if (asprintf(&why,
				     "dropping the INVALID index %s that its failed run left "
				     "failed: %s",
				     *p, ret_error->message) >= 0) {
				free(ret_error->message);
				ret_error->message = TAKE_PTR(why);
			}
			break;
		}
		if (o->observer && o->observer->invalid_index_dropped)
			o->observer->invalid_index_dropped(m, *p, o->observer->userdata);
	}
	strv_free_all(left);
	if (r < 0)
		return r;

	/* The table's INVALID indexes now: none of them is this run's. */
	free(sql);
	if (asprintf(&sql,
		     "SELECT COALESCE(array_agg(indexrelid ORDER BY indexrelid)::text, '{}')\n"
		     "FROM pg_catalog.pg_index\n"
		     "WHERE NOT indisvalid AND indrelid = pg_catalog.to_regclass(%s)",
		     g->table) < 0)
		return -ENOMEM;
	r = query_column(conn, sql, o->hooks, &before, ret_error);
	if (r < 0)
		return r;
	/* An oid[] literal from the server: digits, commas and braces, or nothing is kept. */
	if (before[0] && strspn(before[0], "{},0123456789") == strlen(before[0]))
		g->before = strdup(before[0]);
	strv_free_all(before);
	return !g->before ? pg_error_set(ret_error, PG_ERROR_OTHER,
					 "the server listed the table's INVALID indexes unreadably")
				    ?: -EIO
			  : 0;
}

void invalid_index_guard_failed(PGconn *conn, const Migration *m, const MigrationsApplyOptions *o,
				InvalidIndexGuard *g)
{
	_cleanup_(PQfreemem_p) char *name = NULL, *comment = NULL;
	_cleanup_free_ char *sql = NULL, *text = NULL;
	char **left = NULL;
	PgError e = {};

	if (!g->active || !g->before || PQstatus(conn) != CONNECTION_OK ||
	    PQtransactionStatus(conn) != PQTRANS_IDLE)
		return;
	name = g->build.index ? PQescapeLiteral(conn, g->build.index, strlen(g->build.index))
			      : NULL;
	if ((g->build.index && !name) ||
	    asprintf(&text, "%s(deploy %s); the next deploy drops it before running it again",
		     g->marker, o->deploy_id ?: "") < 0)
		return;
	comment = PQescapeLiteral(conn, text, strlen(text));
	if (!comment ||
	    asprintf(&sql,
		     "SELECT format('%%I.%%I', n.nspname, c.relname)\n"
		     "FROM pg_catalog.pg_index i\n"
		     "JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid\n"
		     "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n"
		     "WHERE NOT i.indisvalid AND i.indrelid = pg_catalog.to_regclass(%s)\n"
		     "  AND NOT i.indexrelid = ANY ('%s'::pg_catalog.oid[])\n"
		     "  AND c.relname = COALESCE(%s, c.relname)\n"
		     "ORDER BY 1",
		     g->table, g->before, name ?: "NULL") < 0)
		return;
	/* No hooks: the migration has failed already, a cancel included. */
	if (query_column(conn, sql, NULL, &left, &e) < 0) {
		pg_error_done(&e);
		return;
	}
	for (char **p = left; *p; p++) {
		_cleanup_free_ char *mark = NULL;
		if (asprintf(&mark, "COMMENT ON INDEX %s IS %s", *p, comment) < 0)
			break;
		if (pg_exec(conn, mark, NULL, NULL, &e) < 0) {
			pg_error_done(&e);
			continue;
		}
		if (o->observer && o->observer->invalid_index_left)
			o->observer->invalid_index_left(m, *p, o->observer->userdata);
	}
	strv_free_all(left);
}
