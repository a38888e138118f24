/* sql-index.h — the index a CREATE INDEX CONCURRENTLY statement builds, from its parse tree.
 *
 * sql_index_concurrent() reads sql with sql_parse() (libpg_query, PostgreSQL 15's grammar)
 * and, when it is exactly one CREATE INDEX CONCURRENTLY statement, hands back the index's name
 * as written (NULL when the statement leaves the name to the server) and the table's schema
 * (NULL when unqualified) and name.  Such a build that fails leaves an INVALID index behind. */
#pragma once

#include <stdbool.h>

typedef struct SqlIndexBuild {
	char *index;  /* NULL: the server picks the name */
	char *schema; /* the table's; NULL: unqualified */
	char *table;
	bool if_not_exists;
} SqlIndexBuild;

/* 1 with *ret filled for a CREATE INDEX CONCURRENTLY statement; 0 for anything else (other
 * statements, several statements, text the grammar rejects); -ENOMEM. */
int sql_index_concurrent(const char *sql, SqlIndexBuild *ret);
void sql_index_build_done(SqlIndexBuild *b);
