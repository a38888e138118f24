/* The index a CREATE INDEX CONCURRENTLY builds, read from its parse tree (sql-index.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "sql-index.h"
#include "sql-parse.h"

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

	return o && json_object_is_type(o, json_type_object) &&
			       json_object_object_get_ex(o, key, &v)
		       ? v
		       : NULL;
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
	SqlParse parsed = {};
	SqlParseError error = {};
	int r;

	r = sql_parse(sql, &parsed, &error);
	sql_parse_error_done(&error);
	if (r == -EINVAL)
		return 0; /* not even SQL the parser reads: no build */
	if (r < 0)
		return r;
	json_object *index = parsed.n == 1 ? member(parsed.trees[0], "IndexStmt") : NULL;
	json_object *relation = member(index, "relation");
	r = 0;
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
	sql_parse_done(&parsed);
	return r;
}
