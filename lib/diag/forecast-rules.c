/* Which locks a statement takes: PostgreSQL 15's lock levels per command (the "Table-Level
 * Locks" section of its docs, ALTER TABLE's per-subcommand levels) and what the catalog
 * implies (forecast-internal.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "cleanup.h"
#include "forecast-internal.h"
#include "strv.h"

/* How far a lock on a relation spreads. */
typedef enum Spread {
	SPREAD_CHILDREN = 1 << 0, /* partitions and inheritance children (unless ONLY) */
	SPREAD_INDEXES = 1 << 1,  /* its indexes, in the same mode */
	SPREAD_VIEWS = 1 << 2,	  /* a view: the relations it reads, as a query would */
	/* A query plans it: the planner opens its indexes in the same mode and expands views. */
	SPREAD_PLANNED = SPREAD_CHILDREN | SPREAD_INDEXES | SPREAD_VIEWS,
} Spread;

#define MAX_CASCADE_DEPTH 8

/* ---- JSON access: libpg_query leaves out fields at their default (false, 0, NULL). */

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v = get(o, key);
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static bool get_bool(json_object *o, const char *key)
{
	json_object *v = get(o, key);
	return v && json_object_get_boolean(v);
}

static int64_t get_int(json_object *o, const char *key)
{
	json_object *v = get(o, key);
	return v ? json_object_get_int64(v) : 0;
}

static bool str_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* The node of wrapper {"Type":{…}} when it is of that type. */
static json_object *node(json_object *wrapper, const char *type)
{
	return get(wrapper, type);
}

static size_t list_len(json_object *list)
{
	return list && json_object_is_type(list, json_type_array) ? json_object_array_length(list)
								  : 0;
}

/* Element i of a list, NULL when list is no list or shorter. */
static json_object *list_at(json_object *list, size_t i)
{
	return i < list_len(list) ? json_object_array_get_idx(list, i) : NULL;
}

/* The text of a {"String":{"sval":…}} node. */
static const char *string_of(json_object *wrapper)
{
	return get_str(node(wrapper, "String"), "sval");
}

/* ---- Recording locks. */

static int add_lock(FcContext *c, uint32_t relid, const char *name, LockMode mode)
{
	ForecastStatement *st = c->st;

	for (size_t i = 0; i < st->n_locks; i++) {
		ForecastLock *l = &st->locks[i];
		if (relid ? l->relid == relid : (l->relid == 0 && strcmp(l->relation, name) == 0)) {
			if (mode > l->mode)
				l->mode = mode;
			return 0;
		}
	}
	if (array_grow((void **)&st->locks, st->n_locks, &c->allocated, sizeof(ForecastLock), 8) <
	    0)
		return -ENOMEM;
	st->locks[st->n_locks] =
		(ForecastLock){.relation = strdup(name), .relid = relid, .mode = mode};
	if (!st->locks[st->n_locks].relation)
		return -ENOMEM;
	st->n_locks++;
	return 0;
}

static int lock_relid(FcContext *c, uint32_t relid, LockMode mode, Spread spread);

static int lock_oids(FcContext *c, FcQuestion q, uint32_t relid, const char *arg, LockMode mode,
		     Spread spread)
{
	_cleanup_free_ uint32_t *oids = NULL;
	size_t n = 0;
	int r;

	r = fc_oids_of(c, q, relid, arg, &oids, &n);
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = lock_relid(c, oids[i], mode, spread);
	return r;
}

static int lock_relid(FcContext *c, uint32_t relid, LockMode mode, Spread spread)
{
	_cleanup_free_ char *name = NULL;
	char relkind = 0;
	int r;

	r = fc_relation(c, relid, &relkind, &name);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	r = add_lock(c, relid, name, mode);
	if (r < 0)
		return r;
	if ((spread & SPREAD_VIEWS) && relkind == 'v')
		/* The rewriter replaces a view by its query: its relations are read (and
		 * planned) as the query's own. */
		return lock_oids(c, FC_VIEW_BASE, relid, NULL, LOCK_MODE_ACCESS_SHARE,
				 SPREAD_PLANNED);
	if (relkind == 'i' && mode == LOCK_MODE_ACCESS_EXCLUSIVE && c->st->rewrite)
		/* An index rebuilt after a rewrite reads the whole new table. */
		c->st->scan = true;
	/* Queries and DML lock the indexes of the partitions they reach, never those of a
	 * partitioned table itself (which hold no data). */
	if ((spread & SPREAD_INDEXES) && relkind != 'v' && relkind != 'S' &&
	    !(relkind == 'p' && mode <= LOCK_MODE_ROW_EXCLUSIVE)) {
		r = lock_oids(c, FC_INDEXES, relid, NULL, mode, 0);
		if (r < 0)
			return r;
	}
	if ((spread & SPREAD_CHILDREN) && (relkind == 'r' || relkind == 'p'))
		r = lock_oids(c, FC_CHILDREN, relid, NULL, mode, spread & ~SPREAD_CHILDREN);
	return r;
}

/* The relation a RangeVar (wrapped or not) names; *ret_relid 0 when it does not exist. */
static int resolve_rangevar(FcContext *c, json_object *rv, uint32_t *ret_relid, char **ret_display)
{
	json_object *inner = node(rv, "RangeVar") ?: rv;
	const char *relname = get_str(inner, "relname");

	if (!relname)
		return fc_fail(c, -EINVAL, "a relation without a name");
	return fc_resolve(c, get_str(inner, "schemaname"), relname, ret_relid, ret_display);
}

static bool rangevar_inh(json_object *rv)
{
	return get_bool(node(rv, "RangeVar") ?: rv, "inh");
}

/* Locks what rv names; a relation that does not exist yet is recorded with relid 0. */
static int lock_rangevar(FcContext *c, json_object *rv, LockMode mode, Spread spread,
			 uint32_t *ret_relid)
{
	_cleanup_free_ char *display = NULL;
	uint32_t relid = 0;
	int r;

	r = resolve_rangevar(c, rv, &relid, &display);
	if (r < 0)
		return r;
	if (ret_relid)
		*ret_relid = relid;
	if (relid == 0)
		return add_lock(c, 0, display, mode);
	if (!rangevar_inh(rv))
		spread &= ~SPREAD_CHILDREN;
	return lock_relid(c, relid, mode, spread);
}

/* A qualified name given as a list of String nodes: [schema,] name (extra leading parts,
 * e.g. a catalog, are ignored; the last `skip_last` parts are not the relation's). */
static int lock_name_list(FcContext *c, json_object *names, size_t skip_last, LockMode mode,
			  Spread spread, uint32_t *ret_relid)
{
	size_t n = list_len(names);
	_cleanup_free_ char *display = NULL;
	uint32_t relid = 0;
	int r;

	if (n < 1 + skip_last)
		return fc_fail(c, -EINVAL, "a relation without a name");
	n -= skip_last;
	const char *name = string_of(list_at(names, n - 1));
	const char *schema = n >= 2 ? string_of(list_at(names, n - 2)) : NULL;
	if (!name)
		return fc_fail(c, -EINVAL, "a relation without a name");
	r = fc_resolve(c, schema, name, &relid, &display);
	if (r < 0)
		return r;
	if (ret_relid)
		*ret_relid = relid;
	if (relid == 0)
		return add_lock(c, 0, display, mode);
	return lock_relid(c, relid, mode, spread);
}

/* ---- Walking queries. */

static bool is_cte(FcContext *c, json_object *rv)
{
	json_object *inner = node(rv, "RangeVar") ?: rv;
	return !get_str(inner, "schemaname") && strv_contains(c->ctes, get_str(inner, "relname"));
}

static int collect_ctes(FcContext *c, json_object *o)
{
	if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < list_len(o); i++) {
			int r = collect_ctes(c, list_at(o, i));
			if (r < 0)
				return r;
		}
		return 0;
	}
	if (!json_object_is_type(o, json_type_object))
		return 0;
	json_object_object_foreach(o, key, value)
	{
		if (strcmp(key, "CommonTableExpr") == 0) {
			const char *name = get_str(value, "ctename");
			if (name && strv_extend(&c->ctes, name) < 0)
				return -ENOMEM;
		}
		int r = collect_ctes(c, value);
		if (r < 0)
			return r;
	}
	return 0;
}

/* nextval('seq'), setval('seq', …), currval('seq'): RowExclusiveLock on the sequence a
 * constant names (a name computed at run time cannot be known). */
static int lock_sequence_call(FcContext *c, json_object *call)
{
	json_object *names = get(call, "funcname");
	const char *name = string_of(list_at(names, list_len(names) - 1));
	json_object *arg = list_at(get(call, "args"), 0);
	json_object *cast = node(arg, "TypeCast");
	const char *text;
	uint32_t relid = 0;
	int r;

	if (!name ||
	    !(str_eq(name, "nextval") || str_eq(name, "setval") || str_eq(name, "currval")))
		return 0;
	if (cast)
		arg = get(cast, "arg");
	text = get_str(get(node(arg, "A_Const"), "sval"), "sval");
	if (!text)
		return 0;
	r = fc_resolve_text(c, text, &relid);
	if (r < 0 || relid == 0)
		return r;
	return lock_relid(c, relid, LOCK_MODE_ROW_EXCLUSIVE, 0);
}

/* Every relation a query (or any expression) reads: AccessShareLock, planned.  `planned`
 * false: only parse analysis runs (CREATE VIEW), which opens relations but plans nothing. */
static int lock_read_relations(FcContext *c, json_object *o, bool planned)
{
	if (!o)
		return 0;
	if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < list_len(o); i++) {
			int r = lock_read_relations(c, list_at(o, i), planned);
			if (r < 0)
				return r;
		}
		return 0;
	}
	if (!json_object_is_type(o, json_type_object))
		return 0;
	json_object_object_foreach(o, key, value)
	{
		int r;
		if (strcmp(key, "FuncCall") == 0) {
			r = lock_sequence_call(c, value);
			if (r >= 0)
				r = lock_read_relations(c, value, planned);
		} else if (strcmp(key, "RangeVar") == 0) {
			if (is_cte(c, value))
				continue;
			r = lock_rangevar(c, value, LOCK_MODE_ACCESS_SHARE,
					  planned ? SPREAD_PLANNED : SPREAD_CHILDREN | SPREAD_VIEWS,
					  NULL);
		} else
			r = lock_read_relations(c, value, planned);
		if (r < 0)
			return r;
	}
	return 0;
}

/* SELECT … FOR UPDATE/SHARE: RowShareLock on the relations locked (all of the FROM list
 * when the clause names none). */
static int lock_locking_clause(FcContext *c, json_object *select)
{
	json_object *clauses = get(select, "lockingClause");

	for (size_t i = 0; i < list_len(clauses); i++) {
		json_object *lc = node(list_at(clauses, i), "LockingClause");
		json_object *rels = get(lc, "lockedRels");
		if (list_len(rels) == 0)
			rels = get(select, "fromClause");
		for (size_t j = 0; j < list_len(rels); j++) {
			json_object *rv = node(list_at(rels, j), "RangeVar");
			if (!rv || is_cte(c, rv))
				continue;
			int r = lock_rangevar(c, rv, LOCK_MODE_ROW_SHARE, SPREAD_PLANNED, NULL);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* ---- Foreign keys seen from DML. */

/* A text[] literal of the names of a list of ResTarget (UPDATE's SET) or String nodes. */
static int names_array(json_object *list, const char *type, char **ret)
{
	_cleanup_free_ char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		return -ENOMEM;
	fputc('{', f);
	for (size_t i = 0; i < list_len(list); i++) {
		json_object *item = list_at(list, i);
		const char *name = type ? get_str(node(item, type), "name") : string_of(item);
		if (!name)
			continue;
		fputs(i ? ",\"" : "\"", f);
		for (const char *p = name; *p; p++) {
			if (*p == '"' || *p == '\\')
				fputc('\\', f);
			fputc(*p, f);
		}
		fputc('"', f);
	}
	fputc('}', f);
	if (fclose(f) != 0)
		return -ENOMEM;
	*ret = TAKE_PTR(buf);
	return 0;
}

static int lock_dml_target(FcContext *c, uint32_t relid, bool delete, const char *set_columns);

/* RI actions on the tables whose foreign keys reference relid, after rows of relid were
 * deleted or had the columns set_columns updated. */
static int lock_referencing(FcContext *c, uint32_t relid, bool delete, const char *set_columns)
{
	char id[16];
	const char *check[] = {id, "check", delete ? "delete" : "update", set_columns ?: "{}"};
	const char *write[] = {id, "write", delete ? "delete" : "update", set_columns ?: "{}"};
	_cleanup_free_ uint32_t *checked = NULL, *written = NULL;
	size_t n_checked = 0, n_written = 0;
	int r;

	snprintf(id, sizeof(id), "%u", relid);
	r = fc_oids(c, FC_REFERENCING, check, 4, &checked, &n_checked);
	if (r < 0)
		return r;
	/* NO ACTION, RESTRICT: SELECT … FOR KEY SHARE on the referencing table. */
	for (size_t i = 0; i < n_checked; i++) {
		r = lock_relid(c, checked[i], LOCK_MODE_ROW_SHARE, SPREAD_INDEXES);
		if (r < 0)
			return r;
	}
	r = fc_oids(c, FC_REFERENCING, write, 4, &written, &n_written);
	if (r < 0)
		return r;
	/* CASCADE, SET NULL, SET DEFAULT: a DELETE or UPDATE of the referencing rows, which
	 * cascades in turn. */
	for (size_t i = 0; i < n_written; i++) {
		if (c->depth >= MAX_CASCADE_DEPTH)
			return lock_relid(c, written[i], LOCK_MODE_ROW_EXCLUSIVE, SPREAD_INDEXES);
		c->depth++;
		r = lock_dml_target(c, written[i], delete, NULL);
		c->depth--;
		if (r < 0)
			return r;
	}
	return 0;
}

/* RowShareLock (FOR KEY SHARE) on the tables relid's foreign keys reference, for rows
 * inserted (columns NULL) or updated in columns. */
static int lock_referenced_checks(FcContext *c, uint32_t relid, const char *columns)
{
	return lock_oids(c, FC_REFERENCED, relid, columns, LOCK_MODE_ROW_SHARE, SPREAD_INDEXES);
}

/* The target of UPDATE or DELETE and what its foreign keys imply. */
static int lock_dml_target(FcContext *c, uint32_t relid, bool delete, const char *set_columns)
{
	int r;

	r = lock_relid(c, relid, LOCK_MODE_ROW_EXCLUSIVE, SPREAD_INDEXES | SPREAD_CHILDREN);
	if (r < 0)
		return r;
	if (!delete &&set_columns) {
		r = lock_referenced_checks(c, relid, set_columns);
		if (r < 0)
			return r;
	}
	return lock_referencing(c, relid, delete, set_columns);
}

static int forecast_insert(FcContext *c, json_object *s)
{
	_cleanup_free_ char *given = NULL;
	uint32_t relid = 0;
	int r;

	r = collect_ctes(c, s);
	if (r < 0)
		return r;
	r = lock_read_relations(c, get(s, "selectStmt"), true);
	if (r >= 0)
		r = lock_read_relations(c, get(s, "withClause"), true);
	if (r < 0)
		return r;
	/* The executor opens the target's indexes only while it inserts (their locks are
	 * released at once).  A partitioned target routes rows to partitions the data
	 * decides: all of them are assumed. */
	r = lock_rangevar(c, get(s, "relation"), LOCK_MODE_ROW_EXCLUSIVE, SPREAD_CHILDREN, &relid);
	if (r < 0 || relid == 0)
		return r;
	r = lock_referenced_checks(c, relid, NULL);
	if (r < 0)
		return r;
	/* Columns left to their default advance their sequences (serial, identity). */
	r = names_array(get(s, "cols"), "ResTarget", &given);
	if (r < 0)
		return r;
	/* ON CONFLICT: the planner opens every index to find the arbiter, and keeps it. */
	if (get(s, "onConflictClause")) {
		r = lock_oids(c, FC_INDEXES, relid, NULL, LOCK_MODE_ROW_EXCLUSIVE, 0);
		if (r < 0)
			return r;
	}
	if (list_len(get(s, "cols")) == 0) {
		/* No column list: the values fill the columns from the first; the others take
		 * their defaults.  Which ones those are needs the row's width: assume every
		 * column is given, the common case. */
		return 0;
	}
	return lock_oids(c, FC_DEFAULT_SEQUENCES, relid, given, LOCK_MODE_ROW_EXCLUSIVE, 0);
}

static int forecast_update(FcContext *c, json_object *s)
{
	_cleanup_free_ char *set = NULL;
	uint32_t relid = 0;
	int r;

	r = collect_ctes(c, s);
	if (r < 0)
		return r;
	r = lock_read_relations(c, get(s, "fromClause"), true);
	if (r >= 0)
		r = lock_read_relations(c, get(s, "whereClause"), true);
	if (r >= 0)
		r = lock_read_relations(c, get(s, "targetList"), true);
	if (r >= 0)
		r = lock_read_relations(c, get(s, "withClause"), true);
	if (r >= 0)
		r = names_array(get(s, "targetList"), "ResTarget", &set);
	if (r < 0)
		return r;
	r = resolve_rangevar(c, get(s, "relation"), &relid, NULL);
	if (r < 0)
		return r;
	if (relid == 0)
		return lock_rangevar(c, get(s, "relation"), LOCK_MODE_ROW_EXCLUSIVE, 0, NULL);
	if (!rangevar_inh(get(s, "relation")))
		return lock_relid(c, relid, LOCK_MODE_ROW_EXCLUSIVE, SPREAD_INDEXES);
	return lock_dml_target(c, relid, false, set);
}

static int forecast_delete(FcContext *c, json_object *s)
{
	uint32_t relid = 0;
	int r;

	r = collect_ctes(c, s);
	if (r < 0)
		return r;
	r = lock_read_relations(c, get(s, "usingClause"), true);
	if (r >= 0)
		r = lock_read_relations(c, get(s, "whereClause"), true);
	if (r >= 0)
		r = lock_read_relations(c, get(s, "withClause"), true);
	if (r < 0)
		return r;
	r = resolve_rangevar(c, get(s, "relation"), &relid, NULL);
	if (r < 0)
		return r;
	if (relid == 0)
		return lock_rangevar(c, get(s, "relation"), LOCK_MODE_ROW_EXCLUSIVE, 0, NULL);
	if (!rangevar_inh(get(s, "relation")))
		return lock_relid(c, relid, LOCK_MODE_ROW_EXCLUSIVE, SPREAD_INDEXES);
	return lock_dml_target(c, relid, true, NULL);
}

static int forecast_select(FcContext *c, json_object *s)
{
	int r;

	r = collect_ctes(c, s);
	if (r < 0)
		return r;
	/* Locking clauses first: the lock they take is the stronger one. */
	r = lock_locking_clause(c, s);
	if (r < 0)
		return r;
	if (get(s, "intoClause"))
		return fc_fail(c, -EOPNOTSUPP, "SELECT INTO");
	return lock_read_relations(c, s, true);
}

/* ---- ALTER TABLE. */

static LockMode reloptions_mode(json_object *def)
{
	json_object *defs = get(node(def, "List"), "items") ?: def;
	static const char *const light[] = {
		"fillfactor",		"parallel_workers", "toast_tuple_target",
		"vacuum_index_cleanup", "vacuum_truncate",  "log_autovacuum_min_duration",
	};
	LockMode mode = LOCK_MODE_NONE;

	for (size_t i = 0; i < list_len(defs); i++) {
		json_object *d = node(list_at(defs, i), "DefElem");
		const char *name = get_str(d, "defname");
		bool is_light = name && strncmp(name, "autovacuum_", 11) == 0;
		for (size_t j = 0; !is_light && name && j < ELEMENTSOF(light); j++)
			is_light = strcmp(name, light[j]) == 0;
		LockMode m =
			is_light ? LOCK_MODE_SHARE_UPDATE_EXCLUSIVE : LOCK_MODE_ACCESS_EXCLUSIVE;
		if (m > mode)
			mode = m;
	}
	return mode ?: LOCK_MODE_ACCESS_EXCLUSIVE;
}

typedef struct AlterEffects {
	LockMode mode;	      /* on the table */
	bool spread_children; /* the subcommands recurse to partitions and children */
	bool rewrite;
	bool rebuild_indexes; /* a rewrite rebuilds every index */
	bool scan;
	bool no_children; /* a partition attached or detached: the subcommand names it */
} AlterEffects;

/* The partitioned indexes of partitioned table relid, which a new or attached partition's
 * indexes join. */
static int lock_partitioned_indexes(FcContext *c, uint32_t relid)
{
	return lock_oids(c, FC_INDEXES, relid, NULL, LOCK_MODE_SHARE_UPDATE_EXCLUSIVE, 0);
}

/* Whether a default expression is volatile (a rewrite fills the column then). */
static int default_is_volatile(FcContext *c, json_object *expr, bool *ret)
{
	json_object *fc = node(expr, "FuncCall");
	json_object *tc = node(expr, "TypeCast");

	*ret = false;
	if (tc)
		return default_is_volatile(c, get(tc, "arg"), ret);
	if (!fc)
		return 0;
	json_object *names = get(fc, "funcname");
	const char *name = string_of(list_at(names, list_len(names) - 1));
	const char *params[] = {name};
	PGresult *res = NULL;
	int r = fc_query(c,
			 "SELECT coalesce(bool_or(provolatile = 'v'), true) FROM pg_proc WHERE "
			 "proname = $1",
			 1, params, &res);
	if (r < 0)
		return r;
	*ret = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	return 0;
}

/* A column's constraint list: NOT NULL, PRIMARY KEY, UNIQUE, REFERENCES, CHECK. */
static int column_constraints(FcContext *c, json_object *coldef, AlterEffects *e, bool new_column)
{
	json_object *cons = get(coldef, "constraints");
	bool has_default = false;
	int r;

	for (size_t i = 0; i < list_len(cons); i++)
		if (str_eq(get_str(node(list_at(cons, i), "Constraint"), "contype"),
			   "CONSTR_DEFAULT"))
			has_default = true;
	for (size_t i = 0; i < list_len(cons); i++) {
		json_object *con = node(list_at(cons, i), "Constraint");
		const char *type = get_str(con, "contype");
		if (str_eq(type, "CONSTR_DEFAULT")) {
			bool vol = false;
			r = default_is_volatile(c, get(con, "raw_expr"), &vol);
			if (r < 0)
				return r;
			if (vol && new_column)
				e->rewrite = e->rebuild_indexes = true;
		} else if (str_eq(type, "CONSTR_IDENTITY")) {
			if (new_column)
				e->rewrite = e->rebuild_indexes = true;
		} else if (str_eq(type, "CONSTR_FOREIGN")) {
			r = lock_rangevar(c, get(con, "pktable"), LOCK_MODE_SHARE_ROW_EXCLUSIVE, 0,
					  NULL);
			if (r < 0)
				return r;
			/* A new column without a default is all NULL: nothing to check. */
			if (!get_bool(con, "skip_validation") && has_default && new_column)
				e->scan = true;
		} else if (str_eq(type, "CONSTR_PRIMARY") || str_eq(type, "CONSTR_UNIQUE") ||
			   str_eq(type, "CONSTR_CHECK") || str_eq(type, "CONSTR_NOTNULL")) {
			if (!str_eq(type, "CONSTR_NOTNULL") || !has_default)
				e->scan = true;
		}
	}
	return 0;
}

static bool is_serial(json_object *coldef)
{
	json_object *names = get(get(coldef, "typeName"), "names");
	const char *t = string_of(list_at(names, list_len(names) - 1));
	return t && (strcmp(t, "serial") == 0 || strcmp(t, "bigserial") == 0 ||
		     strcmp(t, "smallserial") == 0 || strcmp(t, "serial4") == 0 ||
		     strcmp(t, "serial8") == 0 || strcmp(t, "serial2") == 0);
}

/* ALTER COLUMN TYPE without USING keeps the bytes when the new type is binary coercible from
 * the old: the same type with a looser modifier (a longer varchar, numeric with more
 * precision and the same scale, none at all), or a binary cast (varchar to text) to a type
 * without a modifier. */
static int type_change_rewrites(FcContext *c, uint32_t relid, const char *column,
				json_object *coldef, bool *ret)
{
	static const char sql[] =
		"SELECT a.atttypid = t.oid, a.atttypmod, t.typname,\n"
		"       EXISTS (SELECT 1 FROM pg_cast WHERE castsource = a.atttypid\n"
		"               AND casttarget = t.oid AND castmethod = 'b')\n"
		"FROM pg_attribute a, pg_type t\n"
		"WHERE a.attrelid = $1::oid AND a.attname = $2 AND t.oid = to_regtype($3)";
	json_object *tn = get(coldef, "typeName");
	json_object *names = get(tn, "names");
	json_object *mods = get(tn, "typmods");
	_cleanup_free_ char *type = NULL;
	long long mod[2] = {-1, 0};
	char id[16];
	size_t size = 0;
	PGresult *res = NULL;
	int r;

	*ret = true;
	if (get(coldef, "raw_default") || list_len(get(tn, "arrayBounds")) > 0 ||
	    list_len(mods) > 2)
		return 0;
	FILE *f = open_memstream(&type, &size);
	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < list_len(names); i++)
		fprintf(f, "%s\"%s\"", i ? "." : "", string_of(list_at(names, i)) ?: "");
	if (fclose(f) != 0)
		return -ENOMEM;
	for (size_t i = 0; i < list_len(mods); i++) {
		json_object *a = node(list_at(mods, i), "A_Const");
		if (!get(a, "ival"))
			return 0;
		mod[i] = get_int(get(a, "ival"), "ival");
	}

	snprintf(id, sizeof(id), "%u", relid);
	const char *params[] = {id, column, type};
	r = fc_query(c, sql, 3, params, &res);
	if (r < 0)
		return r;
	if (PQntuples(res) == 1) {
		bool same = PQgetvalue(res, 0, 0)[0] == 't';
		long old = strtol(PQgetvalue(res, 0, 1), NULL, 10);
		const char *name = PQgetvalue(res, 0, 2);
		bool binary_cast = PQgetvalue(res, 0, 3)[0] == 't';

		if (list_len(mods) == 0)
			*ret = !(same || binary_cast);
		else if (same && strcmp(name, "varchar") == 0)
			*ret = !(old != -1 && mod[0] + 4 >= old);
		else if (same && strcmp(name, "numeric") == 0) {
			long new_scale = list_len(mods) == 2 ? (long)mod[1] : 0;
			long old_precision = old == -1 ? -1 : ((old - 4) >> 16) & 0xffff;
			long old_scale = old == -1 ? -1 : (old - 4) & 0xffff;
			*ret = !(old != -1 && new_scale == old_scale && mod[0] >= old_precision);
		}
	}
	PQclear(res);
	return 0;
}

/* Locks index `name` of table relid's schema (an index lives in its table's schema). */
static int lock_index_of(FcContext *c, uint32_t relid, const char *name, LockMode mode)
{
	_cleanup_free_ char *display = NULL;
	PGresult *res = NULL;
	uint32_t idx = 0;
	char id[16];
	const char *params[] = {id};
	int r;

	if (!name)
		return 0;
	snprintf(id, sizeof(id), "%u", relid);
	r = fc_query(c,
		     "SELECT nspname FROM pg_class c JOIN pg_namespace n ON n.oid = "
		     "c.relnamespace WHERE c.oid = $1::oid",
		     1, params, &res);
	if (r < 0)
		return r;
	if (PQntuples(res) == 1)
		r = fc_resolve(c, PQgetvalue(res, 0, 0), name, &idx, &display);
	PQclear(res);
	if (r >= 0 && idx)
		r = lock_relid(c, idx, mode, 0);
	return r;
}

static int alter_cmd(FcContext *c, uint32_t relid, json_object *cmd, AlterEffects *e)
{
	const char *sub = get_str(cmd, "subtype");
	const char *column = get_str(cmd, "name");
	json_object *def = get(cmd, "def");
	LockMode mode = LOCK_MODE_ACCESS_EXCLUSIVE;
	int r;

	if (!sub)
		return fc_fail(c, -EINVAL, "ALTER TABLE without a subcommand");
	if (str_eq(sub, "AT_AddColumn") || str_eq(sub, "AT_AddColumnToView")) {
		json_object *coldef = node(def, "ColumnDef");
		if (is_serial(coldef))
			e->rewrite = e->rebuild_indexes = true;
		r = column_constraints(c, coldef, e, true);
		if (r < 0)
			return r;
	} else if (str_eq(sub, "AT_DropColumn")) {
		/* Indexes and foreign keys that use the column go with it. */
		r = lock_oids(c, FC_INDEXES_OF_COLUMN, relid, column, LOCK_MODE_ACCESS_EXCLUSIVE,
			      0);
		if (r >= 0)
			r = lock_oids(c, FC_FK_PARTNERS_OF_COLUMN, relid, column,
				      LOCK_MODE_ACCESS_EXCLUSIVE, 0);
		if (r < 0)
			return r;
	} else if (str_eq(sub, "AT_AlterColumnType")) {
		bool rewrites = true;
		r = type_change_rewrites(c, relid, column, node(def, "ColumnDef"), &rewrites);
		if (r < 0)
			return r;
		if (rewrites) {
			e->rewrite = e->rebuild_indexes = true;
		}
		/* Indexes on the column are rebuilt; foreign keys that use it are dropped and
		 * added again, which locks the table at their other end as a DROP CONSTRAINT
		 * does, and validates them again when the bytes change. */
		_cleanup_free_ uint32_t *indexes = NULL;
		size_t n_indexes = 0;
		r = fc_oids_of(c, FC_INDEXES_OF_COLUMN, relid, column, &indexes, &n_indexes);
		for (size_t i = 0; r >= 0 && i < n_indexes; i++)
			r = lock_relid(c, indexes[i], LOCK_MODE_ACCESS_EXCLUSIVE, 0);
		if (r < 0)
			return r;
		/* Rebuilding them reads the table. */
		if (n_indexes > 0)
			e->scan = true;
		_cleanup_free_ uint32_t *partners = NULL;
		size_t n = 0;
		r = fc_oids_of(c, FC_FK_PARTNERS_OF_COLUMN, relid, column, &partners, &n);
		for (size_t i = 0; r >= 0 && i < n; i++) {
			r = lock_relid(c, partners[i], LOCK_MODE_ACCESS_EXCLUSIVE, 0);
			if (r >= 0 && rewrites) {
				e->scan = true;
				/* The check query plans both tables. */
				r = lock_oids(c, FC_INDEXES, partners[i], NULL,
					      LOCK_MODE_ACCESS_SHARE, 0);
			}
		}
		if (r < 0)
			return r;
	} else if (str_eq(sub, "AT_SetNotNull")) {
		e->scan = true;
	} else if (str_eq(sub, "AT_AddConstraint")) {
		json_object *con = node(def, "Constraint");
		const char *type = get_str(con, "contype");
		if (str_eq(type, "CONSTR_FOREIGN")) {
			uint32_t pk = 0;
			mode = LOCK_MODE_SHARE_ROW_EXCLUSIVE;
			r = lock_rangevar(c, get(con, "pktable"), LOCK_MODE_SHARE_ROW_EXCLUSIVE, 0,
					  &pk);
			if (r < 0)
				return r;
			if (!get_bool(con, "skip_validation")) {
				/* Validation runs a query over both tables. */
				e->scan = true;
				r = lock_oids(c, FC_INDEXES, relid, NULL, LOCK_MODE_ACCESS_SHARE,
					      0);
				if (r >= 0 && pk)
					r = lock_oids(c, FC_INDEXES, pk, NULL,
						      LOCK_MODE_ACCESS_SHARE, 0);
				if (r < 0)
					return r;
			}
		} else if (str_eq(type, "CONSTR_CHECK")) {
			if (!get_bool(con, "skip_validation"))
				e->scan = true;
		} else if (str_eq(type, "CONSTR_PRIMARY") || str_eq(type, "CONSTR_UNIQUE") ||
			   str_eq(type, "CONSTR_EXCLUSION")) {
			const char *index = get_str(con, "indexname");
			if (index) {
				/* USING INDEX: the index becomes the constraint's. */
				r = lock_index_of(c, relid, index, LOCK_MODE_ACCESS_EXCLUSIVE);
				if (r < 0)
					return r;
			} else
				e->scan = true;
		}
	} else if (str_eq(sub, "AT_ValidateConstraint")) {
		mode = LOCK_MODE_SHARE_UPDATE_EXCLUSIVE;
		_cleanup_free_ uint32_t *others = NULL;
		size_t n = 0;
		r = fc_oids_of(c, FC_NOT_VALID_CONSTRAINT, relid, column, &others, &n);
		/* A constraint already valid is left alone: nothing is read. */
		e->scan = r >= 0 && n > 0;
		if (r >= 0 && n > 0 && others[0] == 0)
			n = 0; /* a CHECK constraint: the table alone */
		for (size_t i = 0; r >= 0 && i < n; i++) {
			/* A foreign key's referenced table, read by the check query. */
			r = lock_relid(c, others[i], LOCK_MODE_ROW_SHARE, 0);
			if (r >= 0)
				r = lock_oids(c, FC_INDEXES, others[i], NULL,
					      LOCK_MODE_ACCESS_SHARE, 0);
			if (r >= 0)
				r = lock_oids(c, FC_INDEXES, relid, NULL, LOCK_MODE_ACCESS_SHARE,
					      0);
		}
		if (r < 0)
			return r;
	} else if (str_eq(sub, "AT_DropConstraint")) {
		/* A foreign key's other table is locked as strongly; a primary key's or unique
		 * constraint's index is dropped. */
		r = lock_oids(c, FC_CONSTRAINT_RELATIONS, relid, column, LOCK_MODE_ACCESS_EXCLUSIVE,
			      0);
		if (r < 0)
			return r;
	} else if (str_eq(sub, "AT_EnableTrig") || str_eq(sub, "AT_EnableAlwaysTrig") ||
		   str_eq(sub, "AT_EnableReplicaTrig") || str_eq(sub, "AT_EnableTrigAll") ||
		   str_eq(sub, "AT_EnableTrigUser") || str_eq(sub, "AT_DisableTrig") ||
		   str_eq(sub, "AT_DisableTrigAll") || str_eq(sub, "AT_DisableTrigUser")) {
		mode = LOCK_MODE_SHARE_ROW_EXCLUSIVE;
	} else if (str_eq(sub, "AT_ClusterOn")) {
		mode = LOCK_MODE_SHARE_UPDATE_EXCLUSIVE;
		r = lock_index_of(c, relid, column, LOCK_MODE_SHARE_UPDATE_EXCLUSIVE);
		if (r < 0)
			return r;
	} else if (str_eq(sub, "AT_SetStatistics") || str_eq(sub, "AT_DropCluster") ||
		   str_eq(sub, "AT_SetOptions") || str_eq(sub, "AT_ResetOptions") ||
		   str_eq(sub, "AT_DetachPartitionFinalize")) {
		mode = LOCK_MODE_SHARE_UPDATE_EXCLUSIVE;
	} else if (str_eq(sub, "AT_SetRelOptions") || str_eq(sub, "AT_ResetRelOptions")) {
		mode = reloptions_mode(def);
	} else if (str_eq(sub, "AT_AttachPartition")) {
		json_object *pc = node(def, "PartitionCmd");
		uint32_t part = 0;
		mode = LOCK_MODE_SHARE_UPDATE_EXCLUSIVE;
		/* The partition is checked against its bound (a scan), and so is the default
		 * partition, which may hold rows of that bound. */
		r = lock_rangevar(c, get(pc, "name"), LOCK_MODE_ACCESS_EXCLUSIVE, SPREAD_CHILDREN,
				  &part);
		if (r >= 0)
			r = lock_oids(c, FC_DEFAULT_PARTITION, relid, NULL,
				      LOCK_MODE_ACCESS_EXCLUSIVE, 0);
		if (r >= 0)
			r = lock_partitioned_indexes(c, relid);
		if (r < 0)
			return r;
		e->scan = true;
		e->no_children = true;
	} else if (str_eq(sub, "AT_DetachPartition")) {
		json_object *pc = node(def, "PartitionCmd");
		bool concurrent = get_bool(pc, "concurrent");
		mode = concurrent ? LOCK_MODE_SHARE_UPDATE_EXCLUSIVE : LOCK_MODE_ACCESS_EXCLUSIVE;
		/* Its indexes leave the partitioned ones. */
		r = lock_rangevar(c, get(pc, "name"), LOCK_MODE_ACCESS_EXCLUSIVE, SPREAD_INDEXES,
				  NULL);
		e->no_children = true;
		if (r >= 0 && !concurrent)
			r = lock_oids(c, FC_DEFAULT_PARTITION, relid, NULL,
				      LOCK_MODE_ACCESS_EXCLUSIVE, 0);
		if (r < 0)
			return r;
	} else if (str_eq(sub, "AT_SetLogged") || str_eq(sub, "AT_SetUnLogged") ||
		   str_eq(sub, "AT_SetTableSpace") || str_eq(sub, "AT_SetAccessMethod")) {
		e->rewrite = e->rebuild_indexes = true;
	} else if (str_eq(sub, "AT_AddInherit") || str_eq(sub, "AT_DropInherit")) {
		/* The parent is read (its columns, its constraints); joining it also keeps
		 * others from changing it meanwhile. */
		r = lock_rangevar(c, def,
				  str_eq(sub, "AT_AddInherit") ? LOCK_MODE_SHARE_UPDATE_EXCLUSIVE
							       : LOCK_MODE_ACCESS_SHARE,
				  0, NULL);
		if (r < 0)
			return r;
	} else if (str_eq(sub, "AT_ColumnDefault") || str_eq(sub, "AT_DropNotNull") ||
		   str_eq(sub, "AT_ChangeOwner") || str_eq(sub, "AT_EnableRowSecurity") ||
		   str_eq(sub, "AT_DisableRowSecurity") || str_eq(sub, "AT_ForceRowSecurity") ||
		   str_eq(sub, "AT_NoForceRowSecurity") || str_eq(sub, "AT_ReplicaIdentity") ||
		   str_eq(sub, "AT_SetStorage") || str_eq(sub, "AT_SetCompression") ||
		   str_eq(sub, "AT_AddIdentity") || str_eq(sub, "AT_DropIdentity") ||
		   str_eq(sub, "AT_SetIdentity") || str_eq(sub, "AT_DropExpression") ||
		   str_eq(sub, "AT_AlterConstraint") || str_eq(sub, "AT_EnableRule") ||
		   str_eq(sub, "AT_DisableRule") || str_eq(sub, "AT_EnableAlwaysRule") ||
		   str_eq(sub, "AT_EnableReplicaRule") || str_eq(sub, "AT_GenericOptions") ||
		   str_eq(sub, "AT_AlterColumnGenericOptions") || str_eq(sub, "AT_AddOf") ||
		   str_eq(sub, "AT_DropOf")) {
		mode = LOCK_MODE_ACCESS_EXCLUSIVE;
	} else {
		c->st->unknown = true;
	}
	if (mode > e->mode)
		e->mode = mode;
	return 0;
}

static int forecast_alter_table(FcContext *c, json_object *s)
{
	json_object *cmds = get(s, "cmds");
	json_object *rv = get(s, "relation");
	AlterEffects e = {};
	uint32_t relid = 0;
	int r;

	r = resolve_rangevar(c, rv, &relid, NULL);
	if (r < 0)
		return r;
	if (relid == 0)
		/* Created earlier in the migrations, or missing (IF EXISTS): nothing of it
		 * is in the catalog yet. */
		return lock_rangevar(c, rv, LOCK_MODE_ACCESS_EXCLUSIVE, 0, NULL);
	for (size_t i = 0; i < list_len(cmds); i++) {
		r = alter_cmd(c, relid, node(list_at(cmds, i), "AlterTableCmd"), &e);
		if (r < 0)
			return r;
	}
	c->st->rewrite |= e.rewrite;
	c->st->scan |= e.scan || e.rewrite;
	/* A partition attached or detached is handled by its subcommand; every other
	 * subcommand reaches the partitions and children too (unless ONLY). */
	Spread spread = SPREAD_CHILDREN | (e.rebuild_indexes ? SPREAD_INDEXES : 0);
	if (!rangevar_inh(rv) || e.no_children)
		spread &= ~SPREAD_CHILDREN;
	return lock_relid(c, relid, e.mode ?: LOCK_MODE_ACCESS_EXCLUSIVE, spread);
}

/* ---- Other commands. */

static int forecast_index(FcContext *c, json_object *s)
{
	bool concurrent = get_bool(s, "concurrent");

	/* CREATE INDEX reads the whole table under a lock that keeps writers out (ShareLock);
	 * CONCURRENTLY lets them write (ShareUpdateExclusiveLock) and reads it twice. */
	c->st->scan = true;
	return lock_rangevar(c, get(s, "relation"),
			     concurrent ? LOCK_MODE_SHARE_UPDATE_EXCLUSIVE : LOCK_MODE_SHARE,
			     SPREAD_CHILDREN, NULL);
}

static int forecast_drop(FcContext *c, json_object *s)
{
	const char *type = get_str(s, "removeType");
	json_object *objects = get(s, "objects");
	bool concurrent = get_bool(s, "concurrent");
	int r = 0;

	for (size_t i = 0; r >= 0 && i < list_len(objects); i++) {
		json_object *names = get(node(list_at(objects, i), "List"), "items");
		uint32_t relid = 0;

		if (str_eq(type, "OBJECT_TABLE") || str_eq(type, "OBJECT_MATVIEW")) {
			r = lock_name_list(c, names, 0, LOCK_MODE_ACCESS_EXCLUSIVE,
					   SPREAD_INDEXES | SPREAD_CHILDREN, &relid);
			/* Owned sequences go with it; foreign keys to other tables are dropped
			 * (which locks those tables as strongly). */
			if (r >= 0 && relid)
				r = lock_oids(c, FC_DEFAULT_SEQUENCES, relid, "{}",
					      LOCK_MODE_ACCESS_EXCLUSIVE, 0);
			if (r >= 0 && relid)
				r = lock_oids(c, FC_REFERENCED, relid, NULL,
					      LOCK_MODE_ACCESS_EXCLUSIVE, 0);
		} else if (str_eq(type, "OBJECT_VIEW") || str_eq(type, "OBJECT_SEQUENCE")) {
			r = lock_name_list(c, names, 0, LOCK_MODE_ACCESS_EXCLUSIVE, 0, NULL);
		} else if (str_eq(type, "OBJECT_INDEX")) {
			LockMode mode = concurrent ? LOCK_MODE_SHARE_UPDATE_EXCLUSIVE
						   : LOCK_MODE_ACCESS_EXCLUSIVE;
			r = lock_name_list(c, names, 0, mode, 0, &relid);
			if (r >= 0 && relid) {
				char id[16];
				const char *params[] = {id};
				snprintf(id, sizeof(id), "%u", relid);
				PGresult *res = NULL;
				r = fc_query(
					c,
					"SELECT indrelid FROM pg_index WHERE indexrelid = $1::oid",
					1, params, &res);
				if (r >= 0) {
					for (int row = 0; r >= 0 && row < PQntuples(res); row++)
						r = lock_relid(
							c,
							(uint32_t)strtoul(PQgetvalue(res, row, 0),
									  NULL, 10),
							mode, 0);
					PQclear(res);
				}
			}
		} else if (str_eq(type, "OBJECT_TRIGGER") || str_eq(type, "OBJECT_POLICY") ||
			   str_eq(type, "OBJECT_RULE")) {
			/* [schema,] table, name */
			r = lock_name_list(c, names, 1, LOCK_MODE_ACCESS_EXCLUSIVE, 0, NULL);
		} else if (str_eq(type, "OBJECT_FUNCTION") || str_eq(type, "OBJECT_PROCEDURE") ||
			   str_eq(type, "OBJECT_TYPE") || str_eq(type, "OBJECT_DOMAIN") ||
			   str_eq(type, "OBJECT_EXTENSION") || str_eq(type, "OBJECT_SCHEMA")) {
			/* No relation unless CASCADE reaches one. */
			if (str_eq(get_str(s, "behavior"), "DROP_CASCADE"))
				c->st->unknown = true;
		} else
			c->st->unknown = true;
	}
	return r;
}

static int forecast_create(FcContext *c, json_object *s)
{
	json_object *parents = get(s, "inhRelations");
	json_object *elts = get(s, "tableElts");
	bool partition = get(s, "partbound") != NULL;
	int r;

	for (size_t i = 0; i < list_len(parents); i++) {
		uint32_t parent = 0;
		r = lock_rangevar(c, list_at(parents, i),
				  partition ? LOCK_MODE_ACCESS_EXCLUSIVE
					    : LOCK_MODE_SHARE_UPDATE_EXCLUSIVE,
				  0, &parent);
		if (r < 0)
			return r;
		if (partition && parent) {
			/* The default partition must give up the new bound's rows: checked. */
			r = lock_oids(c, FC_DEFAULT_PARTITION, parent, NULL,
				      LOCK_MODE_ACCESS_EXCLUSIVE, 0);
			if (r >= 0)
				r = lock_partitioned_indexes(c, parent);
			if (r < 0)
				return r;
		}
	}
	for (size_t i = 0; i < list_len(elts); i++) {
		json_object *el = list_at(elts, i);
		json_object *con = node(el, "Constraint");
		json_object *like = node(el, "TableLikeClause");
		json_object *col = node(el, "ColumnDef");
		if (like) {
			r = lock_rangevar(c, get(like, "relation"), LOCK_MODE_ACCESS_SHARE, 0,
					  NULL);
		} else if (con && str_eq(get_str(con, "contype"), "CONSTR_FOREIGN")) {
			r = lock_rangevar(c, get(con, "pktable"), LOCK_MODE_SHARE_ROW_EXCLUSIVE, 0,
					  NULL);
		} else if (col) {
			AlterEffects e = {};
			r = column_constraints(c, col, &e, false);
		} else
			r = 0;
		if (r < 0)
			return r;
	}
	/* The new table itself: nobody else can hold a lock on it. */
	if (c->scope == FORECAST_EXISTING_RELATIONS)
		return 0;
	return lock_rangevar(c, get(s, "relation"), LOCK_MODE_ACCESS_EXCLUSIVE, 0, NULL);
}

static int forecast_rename(FcContext *c, json_object *s)
{
	const char *type = get_str(s, "renameType");
	json_object *rv = get(s, "relation");

	if (str_eq(type, "OBJECT_INDEX"))
		return lock_rangevar(c, rv, LOCK_MODE_SHARE_UPDATE_EXCLUSIVE, 0, NULL);
	if (str_eq(type, "OBJECT_TABLE") || str_eq(type, "OBJECT_VIEW") ||
	    str_eq(type, "OBJECT_MATVIEW") || str_eq(type, "OBJECT_SEQUENCE") ||
	    str_eq(type, "OBJECT_TRIGGER") || str_eq(type, "OBJECT_POLICY") ||
	    str_eq(type, "OBJECT_RULE"))
		return lock_rangevar(c, rv, LOCK_MODE_ACCESS_EXCLUSIVE, 0, NULL);
	if (str_eq(type, "OBJECT_COLUMN") || str_eq(type, "OBJECT_TABCONSTRAINT"))
		return lock_rangevar(c, rv, LOCK_MODE_ACCESS_EXCLUSIVE, SPREAD_CHILDREN, NULL);
	c->st->unknown = rv != NULL;
	return rv ? lock_rangevar(c, rv, LOCK_MODE_ACCESS_EXCLUSIVE, 0, NULL) : 0;
}

static int forecast_refresh(FcContext *c, json_object *s)
{
	bool concurrent = get_bool(s, "concurrent");
	uint32_t relid = 0;
	int r;

	r = lock_rangevar(c, get(s, "relation"),
			  concurrent ? LOCK_MODE_EXCLUSIVE : LOCK_MODE_ACCESS_EXCLUSIVE, 0, &relid);
	if (r < 0 || relid == 0)
		return r;
	/* Its query runs, planned, over the relations it reads. */
	r = lock_oids(c, FC_VIEW_BASE, relid, NULL, LOCK_MODE_ACCESS_SHARE, SPREAD_PLANNED);
	if (r < 0)
		return r;
	if (concurrent) {
		/* The new contents are compared with the old (a full read) and merged in by DML
		 * on the materialized view. */
		c->st->scan = true;
		return lock_oids(c, FC_INDEXES, relid, NULL, LOCK_MODE_ROW_EXCLUSIVE, 0);
	}
	/* A new heap, and every index rebuilt. */
	c->st->rewrite = true;
	return lock_oids(c, FC_INDEXES, relid, NULL, LOCK_MODE_ACCESS_EXCLUSIVE, 0);
}

static int forecast_truncate(FcContext *c, json_object *s)
{
	json_object *rels = get(s, "relations");
	int r = 0;

	c->st->rewrite = true;
	for (size_t i = 0; r >= 0 && i < list_len(rels); i++)
		r = lock_rangevar(c, list_at(rels, i), LOCK_MODE_ACCESS_EXCLUSIVE,
				  SPREAD_INDEXES | SPREAD_CHILDREN, NULL);
	return r;
}

static int forecast_lock(FcContext *c, json_object *s)
{
	json_object *rels = get(s, "relations");
	int64_t mode = get_int(s, "mode");
	int r = 0;

	if (mode <= LOCK_MODE_NONE || mode >= _LOCK_MODE_MAX)
		return fc_fail(c, -EINVAL, "LOCK with mode %lld", (long long)mode);
	for (size_t i = 0; r >= 0 && i < list_len(rels); i++)
		r = lock_rangevar(c, list_at(rels, i), (LockMode)mode, SPREAD_CHILDREN, NULL);
	return r;
}

static int forecast_reindex(FcContext *c, json_object *s)
{
	const char *kind = get_str(s, "kind");
	uint32_t relid = 0;
	int r;

	if (str_eq(kind, "REINDEX_OBJECT_TABLE")) {
		r = lock_rangevar(c, get(s, "relation"), LOCK_MODE_SHARE, 0, &relid);
		if (r < 0 || relid == 0)
			return r;
		c->st->scan = true;
		return lock_oids(c, FC_INDEXES, relid, NULL, LOCK_MODE_ACCESS_EXCLUSIVE, 0);
	}
	if (str_eq(kind, "REINDEX_OBJECT_INDEX")) {
		r = lock_rangevar(c, get(s, "relation"), LOCK_MODE_ACCESS_EXCLUSIVE, 0, &relid);
		if (r < 0 || relid == 0)
			return r;
		c->st->scan = true;
		char id[16];
		const char *params[] = {id};
		PGresult *res = NULL;
		snprintf(id, sizeof(id), "%u", relid);
		r = fc_query(c, "SELECT indrelid FROM pg_index WHERE indexrelid = $1::oid", 1,
			     params, &res);
		for (int row = 0; r >= 0 && row < PQntuples(res); row++)
			r = lock_relid(c, (uint32_t)strtoul(PQgetvalue(res, row, 0), NULL, 10),
				       LOCK_MODE_SHARE, 0);
		PQclear(res);
		return r;
	}
	c->st->unknown = true;
	return 0;
}

static int forecast_comment(FcContext *c, json_object *s)
{
	const char *type = get_str(s, "objtype");
	json_object *names = get(node(get(s, "object"), "List"), "items");

	if (str_eq(type, "OBJECT_TABLE") || str_eq(type, "OBJECT_VIEW") ||
	    str_eq(type, "OBJECT_MATVIEW") || str_eq(type, "OBJECT_INDEX") ||
	    str_eq(type, "OBJECT_SEQUENCE"))
		return lock_name_list(c, names, 0, LOCK_MODE_SHARE_UPDATE_EXCLUSIVE, 0, NULL);
	if (str_eq(type, "OBJECT_COLUMN"))
		return lock_name_list(c, names, 1, LOCK_MODE_SHARE_UPDATE_EXCLUSIVE, 0, NULL);
	if (str_eq(type, "OBJECT_TABCONSTRAINT") || str_eq(type, "OBJECT_TRIGGER"))
		return lock_name_list(c, names, 1, LOCK_MODE_SHARE_UPDATE_EXCLUSIVE, 0, NULL);
	return 0;
}

static int forecast_set(FcContext *c, json_object *s)
{
	json_object *args = get(s, "args");
	_cleanup_free_ char *value = NULL;
	size_t size = 0;

	if (!str_eq(get_str(s, "name"), "search_path"))
		return 0;
	if (!str_eq(get_str(s, "kind"), "VAR_SET_VALUE"))
		/* RESET, SET … TO DEFAULT: the value from the session's start. */
		return fc_fail(c, -EOPNOTSUPP, "RESET search_path");
	FILE *f = open_memstream(&value, &size);
	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < list_len(args); i++) {
		const char *v = get_str(node(node(list_at(args, i), "A_Const"), "sval"), "sval");
		if (!v)
			continue;
		/* Each element as an identifier, as SET does. */
		fprintf(f, "%s\"", i ? ", " : "");
		for (const char *p = v; *p; p++)
			fprintf(f, *p == '"' ? "\"\"" : "%c", *p);
		fputc('"', f);
	}
	if (fclose(f) != 0)
		return -ENOMEM;
	free(c->search_path_set);
	c->search_path_set = TAKE_PTR(value);
	c->search_path_local = get_bool(s, "is_local");
	return 0;
}

/* Every relation the statement names, AccessExclusiveLock: the assumption for a statement
 * the forecast does not understand. */
static int lock_all_named(FcContext *c, json_object *o)
{
	if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < list_len(o); i++) {
			int r = lock_all_named(c, list_at(o, i));
			if (r < 0)
				return r;
		}
		return 0;
	}
	if (!json_object_is_type(o, json_type_object))
		return 0;
	json_object_object_foreach(o, key, value)
	{
		int r;
		if (strcmp(key, "RangeVar") == 0 || strcmp(key, "relation") == 0)
			r = get_str(value, "relname")
				    ? lock_rangevar(c, value, LOCK_MODE_ACCESS_EXCLUSIVE, 0, NULL)
				    : lock_all_named(c, value);
		else
			r = lock_all_named(c, value);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Commands that lock no relation at all. */
static bool locks_nothing(const char *type)
{
	static const char *const none[] = {
		"CreateSchemaStmt",  "CreateFunctionStmt", "CreateEnumStmt", "AlterEnumStmt",
		"CompositeTypeStmt", "CreateDomainStmt",   "DefineStmt",     "TransactionStmt",
		"CreateRoleStmt",    "AlterRoleStmt",	   "GrantRoleStmt",  "CreateSeqStmt",
		"CreateRangeStmt",   "AlterFunctionStmt",  "CreateCastStmt",
	};

	for (size_t i = 0; i < ELEMENTSOF(none); i++)
		if (strcmp(type, none[i]) == 0)
			return true;
	return false;
}

int fc_statement(FcContext *c, json_object *tree)
{
	const char *type = NULL;
	json_object *s = NULL;
	int r;

	json_object_object_foreach(tree, key, value)
	{
		type = key;
		s = value;
		break;
	}
	if (!type)
		return fc_fail(c, -EINVAL, "an empty parse tree");
	c->st->command = strdup(type);
	if (!c->st->command)
		return -ENOMEM;
	strv_free(c->ctes);
	c->ctes = NULL;

	if (strcmp(type, "SelectStmt") == 0)
		r = forecast_select(c, s);
	else if (strcmp(type, "InsertStmt") == 0)
		r = forecast_insert(c, s);
	else if (strcmp(type, "UpdateStmt") == 0)
		r = forecast_update(c, s);
	else if (strcmp(type, "DeleteStmt") == 0)
		r = forecast_delete(c, s);
	else if (strcmp(type, "AlterTableStmt") == 0)
		r = forecast_alter_table(c, s);
	else if (strcmp(type, "IndexStmt") == 0)
		r = forecast_index(c, s);
	else if (strcmp(type, "DropStmt") == 0)
		r = forecast_drop(c, s);
	else if (strcmp(type, "CreateStmt") == 0)
		r = forecast_create(c, s);
	else if (strcmp(type, "RenameStmt") == 0)
		r = forecast_rename(c, s);
	else if (strcmp(type, "RefreshMatViewStmt") == 0)
		r = forecast_refresh(c, s);
	else if (strcmp(type, "TruncateStmt") == 0)
		r = forecast_truncate(c, s);
	else if (strcmp(type, "LockStmt") == 0)
		r = forecast_lock(c, s);
	else if (strcmp(type, "ReindexStmt") == 0)
		r = forecast_reindex(c, s);
	else if (strcmp(type, "CommentStmt") == 0)
		r = forecast_comment(c, s);
	else if (strcmp(type, "VariableSetStmt") == 0)
		r = forecast_set(c, s);
	else if (strcmp(type, "VacuumStmt") == 0 && !get_bool(s, "is_vacuumcmd")) {
		/* ANALYZE: its indexes are read for their statistics. */
		json_object *rels = get(s, "rels");
		r = list_len(rels) == 0 ? fc_fail(c, -EOPNOTSUPP, "ANALYZE of everything") : 0;
		for (size_t i = 0; r >= 0 && i < list_len(rels); i++) {
			uint32_t relid = 0;
			r = lock_rangevar(c,
					  get(node(list_at(rels, i), "VacuumRelation"), "relation"),
					  LOCK_MODE_SHARE_UPDATE_EXCLUSIVE, 0, &relid);
			if (r >= 0 && relid)
				r = lock_oids(c, FC_INDEXES, relid, NULL, LOCK_MODE_ACCESS_SHARE,
					      0);
		}
	} else if (strcmp(type, "AlterSeqStmt") == 0)
		r = lock_rangevar(c, get(s, "sequence"), LOCK_MODE_SHARE_ROW_EXCLUSIVE, 0, NULL);
	else if (strcmp(type, "CreateTrigStmt") == 0)
		r = lock_rangevar(c, get(s, "relation"), LOCK_MODE_SHARE_ROW_EXCLUSIVE, 0, NULL);
	else if (strcmp(type, "CreatePolicyStmt") == 0 || strcmp(type, "AlterPolicyStmt") == 0)
		r = lock_rangevar(c, get(s, "table"), LOCK_MODE_ACCESS_EXCLUSIVE, 0, NULL);
	else if (strcmp(type, "RuleStmt") == 0)
		r = lock_rangevar(c, get(s, "relation"), LOCK_MODE_ACCESS_EXCLUSIVE, 0, NULL);
	else if (strcmp(type, "CreateStatsStmt") == 0) {
		json_object *rels = get(s, "relations");
		r = 0;
		for (size_t i = 0; r >= 0 && i < list_len(rels); i++)
			r = lock_rangevar(c, list_at(rels, i), LOCK_MODE_SHARE_UPDATE_EXCLUSIVE, 0,
					  NULL);
	} else if (strcmp(type, "ViewStmt") == 0) {
		r = collect_ctes(c, get(s, "query"));
		if (r >= 0)
			r = lock_read_relations(c, get(s, "query"), false);
		if (r >= 0 && get_bool(s, "replace")) {
			uint32_t relid = 0;
			r = resolve_rangevar(c, get(s, "view"), &relid, NULL);
			if (r >= 0 && relid)
				r = lock_relid(c, relid, LOCK_MODE_ACCESS_EXCLUSIVE, 0);
		}
	} else if (strcmp(type, "CreateTableAsStmt") == 0) {
		json_object *into = get(s, "into");
		bool skip = get_bool(into, "skipData");
		r = collect_ctes(c, get(s, "query"));
		if (r >= 0)
			r = lock_read_relations(c, get(s, "query"), !skip);
		if (r >= 0 && !skip)
			c->st->scan = false;
	} else if (strcmp(type, "GrantStmt") == 0 || locks_nothing(type))
		r = 0;
	else {
		c->st->unknown = true;
		r = lock_all_named(c, s);
	}
	if (r == -EOPNOTSUPP) {
		/* Understood too little after all. */
		c->st->unknown = true;
		r = lock_all_named(c, s);
	}
	return r;
}
