/* The relations a run of statements names, resolved in one catalog query
 * (forecast-internal.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "cleanup.h"
#include "forecast-internal.h"

static int compare_names(const void *a, const void *b)
{
	const FcResolved *x = a, *y = b;
	int r = strcmp(x->schema, y->schema);

	return r != 0 ? r : strcmp(x->name, y->name);
}

static void resolved_done(FcResolved *r)
{
	free(r->schema);
	free(r->name);
	free(r->display);
}

void fc_prefetch_done(FcContext *c)
{
	for (size_t i = 0; i < c->n_resolved; i++)
		resolved_done(&c->resolved[i]);
	free(c->resolved);
	c->resolved = NULL;
	c->n_resolved = c->allocated_resolved = 0;
}

static int add_name(FcContext *c, const char *schema, const char *name)
{
	if (array_grow((void **)&c->resolved, c->n_resolved, &c->allocated_resolved,
		       sizeof(FcResolved), 64) < 0)
		return -ENOMEM;
	FcResolved *r = &c->resolved[c->n_resolved];
	*r = (FcResolved){.schema = strdup(schema ?: ""), .name = strdup(name)};
	if (!r->schema || !r->name) {
		resolved_done(r);
		return -ENOMEM;
	}
	c->n_resolved++;
	return 0;
}

/* Every RangeVar under o (an object with a relname; libpg_query wraps it as {"RangeVar": …}
 * only where the field may hold other nodes): the relations a statement names, and WITH query
 * names, harmlessly. */
static int collect_names(FcContext *c, json_object *o)
{
	json_object *schema = NULL, *name = NULL;
	int r;

	if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++) {
			r = collect_names(c, json_object_array_get_idx(o, i));
			if (r < 0)
				return r;
		}
		return 0;
	}
	if (!json_object_is_type(o, json_type_object))
		return 0;
	if (json_object_object_get_ex(o, "relname", &name) &&
	    json_object_is_type(name, json_type_string)) {
		json_object_object_get_ex(o, "schemaname", &schema);
		r = add_name(c,
			     json_object_is_type(schema, json_type_string)
				     ? json_object_get_string(schema)
				     : NULL,
			     json_object_get_string(name));
		if (r < 0)
			return r;
	}
	json_object_object_foreach(o, key, value)
	{
		(void)key;
		r = collect_names(c, value);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Sorted, each name once. */
static void sort_unique(FcContext *c)
{
	size_t kept = 0;

	if (c->n_resolved > 1)
		qsort(c->resolved, c->n_resolved, sizeof(FcResolved), compare_names);
	for (size_t i = 0; i < c->n_resolved; i++) {
		if (kept > 0 && compare_names(&c->resolved[kept - 1], &c->resolved[i]) == 0) {
			resolved_done(&c->resolved[i]);
			continue;
		}
		c->resolved[kept++] = c->resolved[i];
	}
	c->n_resolved = kept;
}

static void json_object_putp(json_object **o)
{
	json_object_put(*o);
}

/* The names as one JSON array of [schema, name] pairs: json-c does the quoting. */
static int names_json(const FcContext *c, char **ret)
{
	_cleanup_(json_object_putp) json_object *list = json_object_new_array();

	if (!list)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_resolved; i++) {
		json_object *pair = json_object_new_array();
		if (!pair || json_object_array_add(list, pair) < 0) {
			json_object_put(pair);
			return -ENOMEM;
		}
		for (int k = 0; k < 2; k++) {
			json_object *part = json_object_new_string(k == 0 ? c->resolved[i].schema
									  : c->resolved[i].name);
			if (!part || json_object_array_add(pair, part) < 0) {
				json_object_put(part);
				return -ENOMEM;
			}
		}
	}
	*ret = strdup(json_object_to_json_string_ext(list, JSON_C_TO_STRING_PLAIN));
	return *ret ? 0 : -ENOMEM;
}

/* "[1,2,3]": oids as a JSON array. */
static int parse_oids(const char *text, uint32_t **ret, size_t *ret_n)
{
	_cleanup_(json_object_putp) json_object *list = json_tokener_parse(text);

	if (!json_object_is_type(list, json_type_array))
		return -EBADMSG;
	size_t n = json_object_array_length(list);
	uint32_t *oids = calloc(n + 1, sizeof(uint32_t));
	if (!oids)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		oids[i] = (uint32_t)json_object_get_int64(json_object_array_get_idx(list, i));
	*ret = oids;
	*ret_n = n;
	return 0;
}

/* What lock_relid() asks of a relation that exists, kept for the rest of the forecast. */
static int remember(FcContext *c, PGresult *res, int row, uint32_t relid)
{
	_cleanup_free_ uint32_t *children = NULL;
	size_t n_children = 0;
	char id[16];
	int r;

	snprintf(id, sizeof(id), "%u", relid);
	r = fc_memo_relation_put(c, relid, PQgetvalue(res, row, 2)[0], PQgetvalue(res, row, 3));
	if (r >= 0)
		r = parse_oids(PQgetvalue(res, row, 4), &children, &n_children);
	if (r >= 0)
		r = fc_memo_oids_put(c, FC_CHILDREN, (const char *const[]){id}, 1, children,
				     n_children);
	return r;
}

int fc_prefetch(FcContext *c)
{
	/* fc_resolve()'s question for every name at once, and for those that exist,
	 * fc_relation()'s and FC_CHILDREN's. */
#define CHILDREN_OF_R "array_to_json(ARRAY(" FC_CHILDREN_SQL("r.oid") "))"
	static const char sql[] =
		"SELECT coalesce(r.oid, 0),\n"
		"       format('%I.%I', CASE WHEN e.v->>0 = '' THEN current_schema() ELSE "
		"e.v->>0 END, e.v->>1),\n"
		"       c.relkind,\n"
		"       CASE WHEN c.oid IS NOT NULL THEN format('%I.%I', n.nspname, c.relname) "
		"END,\n"
		"       " CHILDREN_OF_R "\n"
		"FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(v, i)\n"
		"CROSS JOIN LATERAL (SELECT to_regclass(CASE WHEN e.v->>0 = '' THEN "
		"quote_ident(e.v->>1)\n"
		"     ELSE quote_ident(e.v->>0) || '.' || quote_ident(e.v->>1) END)::oid AS oid) "
		"r\n"
		"LEFT JOIN pg_class c ON c.oid = r.oid\n"
		"LEFT JOIN pg_namespace n ON n.oid = c.relnamespace\n"
		"ORDER BY e.i";
#undef CHILDREN_OF_R
	_cleanup_free_ char *names = NULL;
	PGresult *res = NULL;
	int r;

	fc_prefetch_done(c);
	for (size_t i = 0; i < c->n_chunk_trees; i++) {
		r = collect_names(c, c->chunk_trees[i]);
		if (r < 0)
			goto fail;
	}
	sort_unique(c);
	if (c->n_resolved == 0)
		return 0;
	r = names_json(c, &names);
	if (r < 0)
		goto fail;
	r = fc_query(c, sql, 1, (const char *const[]){names}, &res);
	if (r < 0)
		goto fail;
	if ((size_t)PQntuples(res) != c->n_resolved) {
		r = fc_fail(c, -EIO, "catalog query gave %d rows for %zu names", PQntuples(res),
			    c->n_resolved);
		goto fail;
	}
	for (size_t i = 0; i < c->n_resolved; i++) {
		FcResolved *e = &c->resolved[i];
		e->relid = (uint32_t)strtoul(PQgetvalue(res, (int)i, 0), NULL, 10);
		e->display = strdup(PQgetvalue(res, (int)i, 1));
		r = e->display ? 0 : -ENOMEM;
		/* A relation dropped since to_regclass() read it has no pg_class row. */
		if (r >= 0 && e->relid != 0 && !PQgetisnull(res, (int)i, 2))
			r = remember(c, res, (int)i, e->relid);
		if (r < 0)
			goto fail;
	}
	PQclear(res);
	c->resolved_path_generation = c->path_generation;
	return 0;
fail:
	PQclear(res);
	fc_prefetch_done(c);
	return r;
}

const FcResolved *fc_prefetched(const FcContext *c, const char *schema, const char *name)
{
	FcResolved key = {.schema = (char *)(schema ?: ""), .name = (char *)name};

	if (c->n_resolved == 0 || c->resolved_path_generation != c->path_generation)
		return NULL;
	return bsearch(&key, c->resolved, c->n_resolved, sizeof(FcResolved), compare_names);
}
