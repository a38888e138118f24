/* forecast-internal.h — what the forecast's files share: the context of one statement's
 * forecast, the catalog questions (forecast-catalog.c) and the statement rules
 * (forecast-rules.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include <libpq-fe.h>

#include "forecast.h"

/* A relation name resolved ahead (fc_prefetch()). */
typedef struct FcResolved {
	char *schema; /* "" when unqualified */
	char *name;
	uint32_t relid; /* 0: no such relation */
	char *display;	/* "schema.name", as fc_resolve() gives it */
} FcResolved;

typedef struct FcContext {
	PGconn *conn;
	char **error;		/* the first failure's reason */
	ForecastStatement *st;	/* the statement being forecast: locks, flags */
	size_t allocated;	/* of st->locks */
	char **ctes;		/* names of the statement's WITH queries (not relations) */
	unsigned depth;		/* of cascading foreign-key actions */
	char *search_path_set;	/* a SET search_path seen: the value to apply, consumed */
	bool search_path_local; /* it was SET LOCAL */
	ForecastScope scope;
	/* The migrations being forecast: their names are resolved at the first asked about. */
	json_object **chunk_trees;
	size_t n_chunk_trees;
	bool prefetch_due;
	/* Names resolved ahead, sorted, valid while path_generation is what it was then. */
	FcResolved *resolved;
	size_t n_resolved, allocated_resolved;
	unsigned path_generation; /* bumped by every change of the session's search_path */
	unsigned resolved_path_generation;
	/* The answers about relations by oid, for the whole forecast (forecast-memo.c). */
	struct lh_table *memo;
} FcContext;

int fc_fail(FcContext *c, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int fc_query(FcContext *c, const char *sql, int n, const char *const *params, PGresult **ret);

/* The oid of schema.name as the session resolves it (schema NULL or "": its search_path), 0
 * when there is no such relation; *ret_display is "schema.name" either way (the creation
 * schema, current_schema(), for an unqualified name that does not resolve). */
int fc_resolve(FcContext *c, const char *schema, const char *name, uint32_t *ret_relid,
	       char **ret_display);
/* Resolves every relation c->chunk_trees name (their RangeVars) in one query, so that
 * fc_resolve() answers them without a round trip each while the search_path stays the same,
 * and remembers (fc_memo_*) the relkind, name and children of those that exist.  Replaces
 * what an earlier call resolved. */
int fc_prefetch(FcContext *c);
/* The entry for schema.name (schema NULL: unqualified), NULL when not resolved ahead or the
 * search_path changed since. */
const FcResolved *fc_prefetched(const FcContext *c, const char *schema, const char *name);
void fc_prefetch_done(FcContext *c);

/* The catalog's answers by oid, kept for the rest of the forecast (the catalog is read as
 * of the forecast's moment; a migration's own changes are never in it).  get: 1 with the
 * answer (copied), 0 when not known yet; -ENOENT from fc_memo_relation_get() when the
 * relation is known not to exist.  A relkind of '\0' records that. */
int fc_memo_relation_put(FcContext *c, uint32_t relid, char relkind, const char *name);
int fc_memo_relation_get(const FcContext *c, uint32_t relid, char *ret_relkind, char **ret_name);
void fc_memo_done(FcContext *c);

/* The oid of a relation named by text as regclass reads it (quoting, search_path), 0 when
 * there is none. */
int fc_resolve_text(FcContext *c, const char *text, uint32_t *ret_relid);
/* relkind and "schema.name" of relid; -ENOENT when it does not exist. */
int fc_relation(FcContext *c, uint32_t relid, char *ret_relkind, char **ret_name);

/* Every partition and inheritance child of the relation oid `parent` (an SQL expression),
 * recursively. */
#define FC_CHILDREN_SQL(parent)                                                                    \
	"WITH RECURSIVE t(oid) AS (\n"                                                             \
	"  SELECT inhrelid FROM pg_inherits WHERE inhparent = " parent "\n"                        \
	"  UNION SELECT i.inhrelid FROM pg_inherits i JOIN t ON i.inhparent = t.oid)\n"            \
	"SELECT oid FROM t ORDER BY oid"

typedef enum FcQuestion {
	FC_CHILDREN,		  /* all partitions and inheritance children, recursively */
	FC_INDEXES,		  /* indexes of a table (or of a partitioned table) */
	FC_VIEW_BASE,		  /* relations a view or materialized view reads */
	FC_DEFAULT_SEQUENCES,	  /* $2: columns given; owned sequences of the others */
	FC_REFERENCING,		  /* see forecast-catalog.c */
	FC_REFERENCED,		  /* $2: columns or NULL */
	FC_FK_PARTNERS_OF_COLUMN, /* $2: column */
	FC_INDEXES_OF_COLUMN,	  /* $2: column */
	FC_DEFAULT_PARTITION,
	FC_CONSTRAINT_RELATIONS, /* $2: constraint name */
	FC_NOT_VALID_CONSTRAINT, /* $2: constraint name; confrelid (0 for CHECK) if not valid */
	_FC_QUESTION_MAX,
} FcQuestion;

/* The oids answering q; params[0] is the relation's oid as text. */
int fc_oids(FcContext *c, FcQuestion q, const char *const *params, int n, uint32_t **ret,
	    size_t *ret_n);
int fc_memo_oids_put(FcContext *c, FcQuestion q, const char *const *params, int n,
		     const uint32_t *oids, size_t n_oids);
int fc_memo_oids_get(const FcContext *c, FcQuestion q, const char *const *params, int n,
		     uint32_t **ret, size_t *ret_n);
/* The same with relid and one text argument (may be NULL: SQL NULL). */
int fc_oids_of(FcContext *c, FcQuestion q, uint32_t relid, const char *arg, uint32_t **ret,
	       size_t *ret_n);

/* Forecasts one statement's parse tree into c->st. */
int fc_statement(FcContext *c, json_object *tree);
