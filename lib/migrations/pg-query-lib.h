/* pg-query-lib.h — PostgreSQL's parser (libpg_query), loaded when it is first needed.
 *
 * The daemon's own process never reads SQL; its deploy workers and deployctl do.  Linked in,
 * the library's relocated data would cost every process 0.6 MiB of resident memory, the idle
 * daemon included.  pg_query_lib_open() loads it with dlopen() instead (by its soname, the
 * one the build found; RTLD_NODELETE: once loaded it stays, and later calls only find it)
 * and hands back the entry points this project uses.  It returns 0, or -ENOPKG with
 * *ret_error saying which library could not be loaded and why (the dynamic loader's words),
 * or -ENOMEM.  Nothing here prints or logs. */
#pragma once

#include <pg_query.h>

typedef struct PgQueryLib {
	PgQueryParseResult (*parse)(const char *input);
	void (*free_parse_result)(PgQueryParseResult result);
	PgQuerySplitResult (*split_with_parser)(const char *input);
	void (*free_split_result)(PgQuerySplitResult result);
} PgQueryLib;

int pg_query_lib_open(PgQueryLib *ret, char **ret_error);
