/* libpg_query through dlopen() (pg-query-lib.h). */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>

#include "pg-query-lib.h"

#ifndef PG_QUERY_SONAME
#error "PG_QUERY_SONAME (libpg_query's soname) is set by the Makefile"
#endif

static int loader_error(char **ret_error)
{
	const char *why = dlerror();

	if (asprintf(ret_error, "PostgreSQL's parser (%s) cannot be loaded: %s", PG_QUERY_SONAME,
		     why ?: "unknown reason") < 0)
		return -ENOMEM;
	return -ENOPKG;
}

int pg_query_lib_open(PgQueryLib *ret, char **ret_error)
{
	void *lib = dlopen(PG_QUERY_SONAME, RTLD_NOW | RTLD_NODELETE);
	PgQueryLib l;

	if (!lib)
		return loader_error(ret_error);
	/* POSIX's way of turning a symbol into a function pointer. */
	*(void **)&l.parse = dlsym(lib, "pg_query_parse");
	*(void **)&l.free_parse_result = dlsym(lib, "pg_query_free_parse_result");
	*(void **)&l.split_with_parser = dlsym(lib, "pg_query_split_with_parser");
	*(void **)&l.free_split_result = dlsym(lib, "pg_query_free_split_result");
	/* Closing drops a reference only: RTLD_NODELETE keeps the library loaded, so the entry
	 * points stay valid for the life of the process. */
	dlclose(lib);
	if (!l.parse || !l.free_parse_result || !l.split_with_parser || !l.free_split_result)
		return loader_error(ret_error);
	*ret = l;
	return 0;
}
