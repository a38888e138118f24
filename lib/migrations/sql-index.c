/* The index a CREATE INDEX CONCURRENTLY builds, read from libpg_query's tree (sql-index.h). */
#include <errno.h>
#include <json-c/json.h>
#include <pg_query.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "sql-index.h"

void sql_index_build_done(SqlIndexBuild *b)
{
	free(b->index);
	free(b->schema);
	free(b->table);
	*b = (SqlIndexBuild){};
}

static json_object *member(json_object *o, const char *key)
{
	json_object *v = NULL;

	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static int dup_member(json_object *o, const char *key, char **ret)
{
	json_object *v = member(o, key);

	*ret = NULL;
	if (!v || !json_object_is_type(v, json_type_string))
		return 0;
	*ret = strdup(json_object_get_string(v));
	return *ret ? 0 : -ENOMEM;
}

static bool member_true(json_object *o, const char *key)
{
	json_object *v = member(o, key);

	return v && json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}

int sql_index_concurrent(const char *sql, SqlIndexBuild *ret)
{
	_cleanup_(sql_index_build_done) SqlIndexBuild b = {};
	PgQueryParseResult parsed = pg_query_parse(sql);
	json_object *tree = NULL;
	int r = 0;

	if (parsed.error || !parsed.parse_tree)
		goto done;
	tree = json_tokener_parse(parsed.parse_tree);
	json_object *stmts = member(tree, "stmts");
	if (!stmts || !json_object_is_type(stmts, json_type_array) ||
	    json_object_array_length(stmts) != 1)
		goto done;
	json_object *index =
		member(member(json_object_array_get_idx(stmts, 0), "stmt"), "IndexStmt");
	json_object *relation = member(index, "relation");
	if (!index || !relation || !member_true(index, "concurrent"))
		goto done;
	if (dup_member(index, "idxname", &b.index) < 0 ||
	    dup_member(relation, "schemaname", &b.schema) < 0 ||
	    dup_member(relation, "relname", &b.table) < 0) {
		r = -ENOMEM;
		goto done;
	}
	if (!b.table)
		goto done;
	b.if_not_exists = member_true(index, "if_not_exists");
	*ret = b;
	b = (SqlIndexBuild){};
	r = 1;
done:
	json_object_put(tree);
	pg_query_free_parse_result(parsed);
	return r;
}
