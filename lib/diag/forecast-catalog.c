/* The catalog questions a forecast asks (forecast-internal.h).  Every query is read-only and
 * runs inside the forecast's own transaction. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "forecast-internal.h"
#include "pg-result.h"

static void pg_resultp(PGresult **r)
{
	PQclear(*r);
}
#define _cleanup_result_ _cleanup_(pg_resultp)

int fc_fail(FcContext *c, int error, const char *fmt, ...)
{
	va_list ap;

	if (c->error && !*c->error) {
		va_start(ap, fmt);
		if (vasprintf(c->error, fmt, ap) < 0)
			*c->error = NULL;
		va_end(ap);
	}
	return error;
}

int fc_query(FcContext *c, const char *sql, int n, const char *const *params, PGresult **ret)
{
	PGresult *res = PQexecParams(c->conn, sql, n, NULL, params, NULL, NULL, 0);

	if (!res)
		return -ENOMEM;
	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
		_cleanup_free_ char *why = NULL;
		pg_result_error(c->conn, res, &why);
		PQclear(res);
		return fc_fail(c, -EIO, "catalog query failed: %s", why ?: "out of memory");
	}
	*ret = res;
	return 0;
}

/* The oids of a one-column result. */
static int oids_of(FcContext *c, const char *sql, int n, const char *const *params, uint32_t **ret,
		   size_t *ret_n)
{
	_cleanup_result_ PGresult *res = NULL;
	_cleanup_free_ uint32_t *oids = NULL;
	int r, rows;

	r = fc_query(c, sql, n, params, &res);
	if (r < 0)
		return r;
	rows = PQntuples(res);
	oids = calloc((size_t)rows + 1, sizeof(uint32_t));
	if (!oids)
		return -ENOMEM;
	for (int i = 0; i < rows; i++)
		oids[i] = (uint32_t)strtoul(PQgetvalue(res, i, 0), NULL, 10);
	*ret = TAKE_PTR(oids);
	*ret_n = (size_t)rows;
	return 0;
}

int fc_resolve(FcContext *c, const char *schema, const char *name, uint32_t *ret_relid,
	       char **ret_display)
{
	static const char sql[] =
		"SELECT coalesce(to_regclass(CASE WHEN $1 = '' THEN quote_ident($2)\n"
		"                                 ELSE quote_ident($1) || '.' || quote_ident($2) "
		"END)"
		"::oid, 0),\n"
		"       format('%I.%I', CASE WHEN $1 = '' THEN current_schema() ELSE $1 END, $2)";
	const char *params[] = {schema ?: "", name};
	_cleanup_result_ PGresult *res = NULL;
	const FcResolved *ahead;
	int r;

	if (c->prefetch_due) {
		/* The first name asked about: the chunk's names all at once. */
		c->prefetch_due = false;
		r = fc_prefetch(c);
		if (r < 0)
			return r;
	}
	ahead = fc_prefetched(c, schema, name);
	if (ahead) {
		if (ret_display && !(*ret_display = strdup(ahead->display)))
			return -ENOMEM;
		*ret_relid = ahead->relid;
		return 0;
	}
	r = fc_query(c, sql, 2, params, &res);
	if (r < 0)
		return r;
	if (PQntuples(res) != 1)
		return fc_fail(c, -EIO, "catalog query gave no row");
	*ret_relid = (uint32_t)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
	if (ret_display) {
		*ret_display = strdup(PQgetvalue(res, 0, 1));
		if (!*ret_display)
			return -ENOMEM;
	}
	return 0;
}

int fc_resolve_text(FcContext *c, const char *text, uint32_t *ret_relid)
{
	const char *params[] = {text};
	PGresult *res = NULL;
	int r;

	r = fc_query(c, "SELECT coalesce(to_regclass($1)::oid, 0)", 1, params, &res);
	if (r < 0)
		return r;
	*ret_relid = PQntuples(res) == 1 ? (uint32_t)strtoul(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	PQclear(res);
	return 0;
}

int fc_relation(FcContext *c, uint32_t relid, char *ret_relkind, char **ret_name)
{
	static const char sql[] = "SELECT c.relkind, format('%I.%I', n.nspname, c.relname)\n"
				  "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
				  "WHERE c.oid = $1::oid";
	char id[16];
	const char *params[] = {id};
	_cleanup_result_ PGresult *res = NULL;
	int r;

	r = fc_memo_relation_get(c, relid, ret_relkind, ret_name);
	if (r != 0)
		return r < 0 ? r : 0;
	snprintf(id, sizeof(id), "%u", relid);
	r = fc_query(c, sql, 1, params, &res);
	if (r < 0)
		return r;
	if (PQntuples(res) != 1)
		return fc_memo_relation_put(c, relid, '\0', NULL) ?: -ENOENT;
	r = fc_memo_relation_put(c, relid, PQgetvalue(res, 0, 0)[0], PQgetvalue(res, 0, 1));
	if (r < 0)
		return r;
	*ret_relkind = PQgetvalue(res, 0, 0)[0];
	*ret_name = strdup(PQgetvalue(res, 0, 1));
	return *ret_name ? 0 : -ENOMEM;
}

int fc_oids(FcContext *c, FcQuestion q, const char *const *params, int n, uint32_t **ret,
	    size_t *ret_n)
{
	static const char *const sql[_FC_QUESTION_MAX] = {
		[FC_CHILDREN] = FC_CHILDREN_SQL("$1::oid"),
		[FC_INDEXES] = "SELECT indexrelid FROM pg_index WHERE indrelid = $1::oid "
			       "ORDER BY indexrelid",
		[FC_VIEW_BASE] =
			"SELECT DISTINCT d.refobjid FROM pg_rewrite r\n"
			"JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND "
			"d.objid = r.oid\n"
			"WHERE r.ev_class = $1::oid AND d.refclassid = 'pg_class'::regclass\n"
			"  AND d.refobjid <> $1::oid ORDER BY 1",
		/* Sequences owned by a column (serial, identity) that the INSERT leaves to its
		 * default: $2 the columns it gives ({} for none). */
		[FC_DEFAULT_SEQUENCES] =
			"SELECT d.objid FROM pg_depend d\n"
			"JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = "
			"d.refobjsubid\n"
			"JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'\n"
			"WHERE d.classid = 'pg_class'::regclass AND d.refclassid = "
			"'pg_class'::regclass\n"
			"  AND d.refobjid = $1::oid AND d.deptype IN ('a', 'i')\n"
			"  AND a.attname <> ALL ($2::text[]) ORDER BY 1",
		/* Tables whose foreign keys reference relid, with the action $2 asks about:
		 * 'check' (NO ACTION/RESTRICT: a FOR KEY SHARE check) or 'write' (CASCADE, SET
		 * NULL, SET DEFAULT), for $3 = 'delete' or 'update' ($4: the columns set). */
		[FC_REFERENCING] =
			"SELECT DISTINCT con.conrelid FROM pg_constraint con\n"
			"WHERE con.contype = 'f' AND con.confrelid = $1::oid\n"
			"  AND (CASE WHEN $3 = 'delete' THEN con.confdeltype ELSE con.confupdtype "
			"END\n"
			"       IN ('a', 'r')) = ($2 = 'check')\n"
			"  AND ($3 = 'delete' OR EXISTS (SELECT 1 FROM pg_attribute a\n"
			"       WHERE a.attrelid = con.confrelid AND a.attnum = ANY (con.confkey)\n"
			"         AND a.attname = ANY ($4::text[])))\n"
			"ORDER BY 1",
		/* Tables relid's foreign keys reference, through any of the columns $2 (NULL:
		 * every foreign key). */
		[FC_REFERENCED] =
			"SELECT DISTINCT con.confrelid FROM pg_constraint con\n"
			"WHERE con.contype = 'f' AND con.conrelid = $1::oid\n"
			"  AND ($2::text[] IS NULL OR EXISTS (SELECT 1 FROM pg_attribute a\n"
			"       WHERE a.attrelid = con.conrelid AND a.attnum = ANY (con.conkey)\n"
			"         AND a.attname = ANY ($2::text[])))\n"
			"ORDER BY 1",
		/* The other table of every foreign key that has column $2 of relid on either
		 * side. */
		[FC_FK_PARTNERS_OF_COLUMN] =
			"SELECT DISTINCT CASE WHEN con.conrelid = $1::oid THEN con.confrelid ELSE "
			"con.conrelid END\n"
			"FROM pg_constraint con JOIN pg_attribute a ON a.attrelid = $1::oid AND "
			"a.attname = $2\n"
			"WHERE con.contype = 'f'\n"
			"  AND ((con.conrelid = $1::oid AND a.attnum = ANY (con.conkey))\n"
			"    OR (con.confrelid = $1::oid AND a.attnum = ANY (con.confkey)))\n"
			"ORDER BY 1",
		/* Indexes that use column $2 of relid (key, expression or predicate). */
		[FC_INDEXES_OF_COLUMN] =
			"SELECT DISTINCT d.objid FROM pg_depend d\n"
			"JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = "
			"d.refobjsubid\n"
			"JOIN pg_class i ON i.oid = d.objid AND i.relkind IN ('i', 'I')\n"
			"WHERE d.classid = 'pg_class'::regclass AND d.refclassid = "
			"'pg_class'::regclass\n"
			"  AND d.refobjid = $1::oid AND a.attname = $2 ORDER BY 1",
		/* The default partition of partitioned table relid. */
		[FC_DEFAULT_PARTITION] = "SELECT partdefid FROM pg_partitioned_table\n"
					 "WHERE partrelid = $1::oid AND partdefid <> 0",
		/* The other table of constraint $2 of relid when it is a foreign key, and its
		 * index when it has one (primary key, unique, exclusion). */
		[FC_CONSTRAINT_RELATIONS] =
			"SELECT CASE WHEN contype = 'f' THEN confrelid ELSE conindid END\n"
			"FROM pg_constraint WHERE conrelid = $1::oid AND conname = $2\n"
			"  AND (contype = 'f' OR conindid <> 0)",
		[FC_NOT_VALID_CONSTRAINT] =
			"SELECT confrelid FROM pg_constraint\n"
			"WHERE conrelid = $1::oid AND conname = $2 AND NOT convalidated",
	};
	uint32_t *oids = NULL;
	size_t n_oids = 0;
	int r = fc_memo_oids_get(c, q, params, n, ret, ret_n);

	if (r != 0)
		return r < 0 ? r : 0;
	r = oids_of(c, sql[q], n, params, &oids, &n_oids);
	if (r >= 0)
		r = fc_memo_oids_put(c, q, params, n, oids, n_oids);
	if (r < 0) {
		free(oids);
		return r;
	}
	*ret = oids;
	*ret_n = n_oids;
	return 0;
}

int fc_oids_of(FcContext *c, FcQuestion q, uint32_t relid, const char *arg, uint32_t **ret,
	       size_t *ret_n)
{
	char id[16];
	const char *params[] = {id, arg};
	bool one = q == FC_CHILDREN || q == FC_INDEXES || q == FC_VIEW_BASE ||
		   q == FC_DEFAULT_PARTITION;

	snprintf(id, sizeof(id), "%u", relid);
	return fc_oids(c, q, params, one ? 1 : 2, ret, ret_n);
}
