#include <libpq-fe.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>

#include "duration.h"
#include "name-rules.h"
#include "plan-value.h"
#include "remote-host.h"
#include "strv.h"
#include "unit-name.h"

/* PostgreSQL takes its timeouts as int milliseconds. */
#define POSTGRES_TIMEOUT_MAX_MS 2147483647ULL

int plan_fail(PlanContext *c, const PlanYamlNode *n, const char *fmt, ...)
{
	_cleanup_free_ char *message = NULL;
	va_list ap;

	va_start(ap, fmt);
	int r = vasprintf(&message, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	return plan_yaml_error(c->ret_error, c->path, n->line, n->column, "%s", message);
}

/* [A-Za-z_][A-Za-z0-9_]*: the names a shell and execve() users agree on. */
static bool env_name_is_valid(const char *s)
{
	size_t len = strlen(s);

	return len > 0 && !(s[0] >= '0' && s[0] <= '9') &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == len;
}

static const char *const reserved_environment[] = {
	"DATABASE_URL", "PGOPTIONS", "PGAPPNAME", "DEPLOY_ID", "DEPLOY_PLAN", "DEPLOY_RELEASE",
};

/* ---- scalar values ---- */

#define DESCRIBE_MAX (PLAN_YAML_QUOTE_MAX + 32)

/* What the plan has where a number or boolean belongs: "'yes'", "the quoted string '1'"
 * (quotes make YAML's 1 and true strings), or "a list" and the like. */
static const char *describe_value(const PlanYamlNode *v, char buf[static DESCRIBE_MAX])
{
	char quoted[PLAN_YAML_QUOTE_MAX];

	if (v->type != PLAN_YAML_SCALAR || plan_yaml_is_null(v))
		return plan_yaml_describe(v);
	snprintf(buf, DESCRIBE_MAX, "%s'%s'", v->plain ? "" : "the quoted string ",
		 plan_yaml_quote(v->value, quoted));
	return buf;
}

static int expect_string(PlanContext *c, const char *label, const PlanYamlNode *v, const char **ret)
{
	if (v->type != PLAN_YAML_SCALAR || plan_yaml_is_null(v))
		return plan_fail(c, v, "%s: expected a string, got %s", label,
				 plan_yaml_describe(v));
	if (v->value[0] == '\0')
		return plan_fail(c, v, "%s: must not be empty", label);
	*ret = v->value;
	return 0;
}

static int set_string(char **target, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return -ENOMEM;
	free(*target);
	*target = copy;
	return 0;
}

int plan_value_string(PlanContext *c, const char *label, const PlanYamlNode *v,
		      unsigned flags _unused_, void *target)
{
	const char *s;
	int r = expect_string(c, label, v, &s);

	return r < 0 ? r : set_string(target, s);
}

static int check_absolute_path(PlanContext *c, const char *label, const PlanYamlNode *v,
			       const char *s)
{
	char quoted[PLAN_YAML_QUOTE_MAX];

	if (s[0] != '/')
		return plan_fail(c, v, "%s: expected an absolute path, got '%s'", label,
				 plan_yaml_quote(s, quoted));
	if (strlen(s) >= PATH_MAX)
		return plan_fail(c, v, "%s: path longer than %d bytes", label, PATH_MAX - 1);
	return 0;
}

int plan_value_path(PlanContext *c, const char *label, const PlanYamlNode *v,
		    unsigned flags _unused_, void *target)
{
	const char *s;
	int r = expect_string(c, label, v, &s);

	if (r >= 0)
		r = check_absolute_path(c, label, v, s);
	return r < 0 ? r : set_string(target, s);
}

int plan_value_duration(PlanContext *c, const char *label, const PlanYamlNode *v, unsigned flags,
			void *target)
{
	char quoted[PLAN_YAML_QUOTE_MAX];
	const char *s, *reason = NULL;
	usec_t u;
	int r;

	if (v->type != PLAN_YAML_SCALAR || plan_yaml_is_null(v))
		return plan_fail(c, v, "%s: expected a duration such as 5s, got %s", label,
				 plan_yaml_describe(v));
	s = v->value;
	r = duration_parse(s, &u, &reason);
	if (r < 0)
		return plan_fail(c, v, "%s: invalid duration '%s': %s", label,
				 plan_yaml_quote(s, quoted), reason);
	if (u == 0 && !(flags & PLAN_VALUE_ZERO_MEANS_OFF))
		return plan_fail(c, v, "%s: must be greater than 0 (it cannot be turned off)",
				 label);
	if ((flags & PLAN_VALUE_POSTGRES) && u / USEC_PER_MSEC > POSTGRES_TIMEOUT_MAX_MS)
		return plan_fail(c, v, "%s: '%s' is more than PostgreSQL accepts (at most %llums)",
				 label, plan_yaml_quote(s, quoted), POSTGRES_TIMEOUT_MAX_MS);
	*(usec_t *)target = u;
	return 0;
}

int plan_value_bool(PlanContext *c, const char *label, const PlanYamlNode *v,
		    unsigned flags _unused_, void *target)
{
	char described[DESCRIBE_MAX];

	/* Only YAML 1.2's spelling: "yes", "on" and friends mean different things to
	 * different YAML readers, so a plan says true or false. */
	if (v->type == PLAN_YAML_SCALAR && v->plain && strcmp(v->value, "true") == 0)
		*(bool *)target = true;
	else if (v->type == PLAN_YAML_SCALAR && v->plain && strcmp(v->value, "false") == 0)
		*(bool *)target = false;
	else
		return plan_fail(c, v, "%s: expected true or false, got %s", label,
				 describe_value(v, described));
	return 0;
}

/* A plain scalar of decimal digits; returns false when it is not one or exceeds max. */
static bool scalar_to_unsigned(const PlanYamlNode *v, unsigned max, unsigned *ret)
{
	unsigned long long n = 0;
	const char *p;

	if (v->type != PLAN_YAML_SCALAR || !v->plain || v->value[0] == '\0')
		return false;
	for (p = v->value; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (unsigned)(*p - '0');
		if (n > max)
			return false;
	}
	if (*p != '\0')
		return false;
	*ret = (unsigned)n;
	return true;
}

int plan_value_lock_retries(PlanContext *c, const char *label, const PlanYamlNode *v,
			    unsigned flags _unused_, void *target)
{
	char described[DESCRIBE_MAX];

	if (scalar_to_unsigned(v, PLAN_LOCK_RETRIES_MAX, target))
		return 0;
	return plan_fail(c, v, "%s: expected a whole number from 0 to %d, got %s", label,
			 PLAN_LOCK_RETRIES_MAX, describe_value(v, described));
}

int plan_value_version(PlanContext *c, const char *label, const PlanYamlNode *v,
		       unsigned flags _unused_, void *target)
{
	char quoted[PLAN_YAML_QUOTE_MAX], described[DESCRIBE_MAX];
	unsigned version;

	if (scalar_to_unsigned(v, 1, &version) && version == 1) {
		*(int *)target = 1;
		return 0;
	}
	if (v->type == PLAN_YAML_SCALAR && v->plain && v->value[0] != '\0' &&
	    strspn(v->value, "0123456789") == strlen(v->value))
		return plan_fail(c, v,
				 "%s: unsupported plan version %s (this deployd reads version 1)",
				 label, plan_yaml_quote(v->value, quoted));
	return plan_fail(c, v, "%s: expected the number 1, got %s", label,
			 describe_value(v, described));
}

int plan_value_bus(PlanContext *c, const char *label, const PlanYamlNode *v,
		   unsigned flags _unused_, void *target)
{
	char quoted[PLAN_YAML_QUOTE_MAX];
	const char *s;
	int r = expect_string(c, label, v, &s);

	if (r < 0)
		return r;
	r = plan_bus_from_string(s);
	if (r < 0)
		return plan_fail(c, v, "%s: expected system or user, got '%s'", label,
				 plan_yaml_quote(s, quoted));
	*(UnitsBus *)target = (UnitsBus)r;
	return 0;
}

int plan_value_on_failure(PlanContext *c, const char *label, const PlanYamlNode *v,
			  unsigned flags _unused_, void *target)
{
	char quoted[PLAN_YAML_QUOTE_MAX];
	const char *s;
	int r = expect_string(c, label, v, &s);

	if (r < 0)
		return r;
	r = plan_on_failure_from_string(s);
	if (r < 0)
		return plan_fail(c, v, "%s: expected leave-stopped or start, got '%s'", label,
				 plan_yaml_quote(s, quoted));
	*(PlanOnFailure *)target = (PlanOnFailure)r;
	return 0;
}

int plan_value_migrations_format(PlanContext *c, const char *label, const PlanYamlNode *v,
				 unsigned flags _unused_, void *target)
{
	char quoted[PLAN_YAML_QUOTE_MAX];
	const char *s;
	int r = expect_string(c, label, v, &s);

	if (r < 0)
		return r;
	r = migrations_format_from_string(s);
	if (r < 0)
		return plan_fail(c, v,
				 "%s: expected deployd, dbmate, golang-migrate or flyway, got '%s'",
				 label, plan_yaml_quote(s, quoted));
	*(MigrationsFormat *)target = (MigrationsFormat)r;
	return 0;
}

int plan_value_table(PlanContext *c, const char *label, const PlanYamlNode *v,
		     unsigned flags _unused_, void *target)
{
	char quoted[PLAN_YAML_QUOTE_MAX];
	const char *s;
	int r = expect_string(c, label, v, &s);

	if (r < 0)
		return r;
	if (!sql_table_name_is_valid(s))
		return plan_fail(c, v,
				 "%s: '%s' is not a table name (expected NAME or SCHEMA.NAME, each "
				 "[A-Za-z_][A-Za-z0-9_]*, at most %d characters)",
				 label, plan_yaml_quote(s, quoted), SQL_IDENTIFIER_MAX);
	return set_string(target, s);
}

int plan_value_remote_host(PlanContext *c, const char *label, const PlanYamlNode *v,
			   unsigned flags _unused_, void *target)
{
	char quoted[PLAN_YAML_QUOTE_MAX];
	const char *s, *reason = NULL;
	RemoteHost host;
	int r = expect_string(c, label, v, &s);

	if (r < 0)
		return r;
	if (remote_host_parse(s, &host, &reason) < 0)
		return plan_fail(c, v,
				 "%s: '%s' is not an ssh destination [user@]host[:port]: it %s",
				 label, plan_yaml_quote(s, quoted), reason);
	return set_string(target, s);
}

/* conninfo, conninfo_env, conninfo_file, credential: flags is the source. */
int plan_value_conninfo(PlanContext *c, const char *label, const PlanYamlNode *v, unsigned flags,
			void *target)
{
	char quoted[PLAN_YAML_QUOTE_MAX];
	PlanDatabase *db = target;
	const char *s;
	int r = expect_string(c, label, v, &s);

	if (r < 0)
		return r;
	switch ((PgConninfoSource)flags) {
	case PG_CONNINFO_LITERAL: {
		char *errmsg = NULL;
		PQconninfoOption *options = PQconninfoParse(s, &errmsg);
		if (!options) {
			if (!errmsg)
				return -ENOMEM;
			PQfreemem(errmsg);
			/* libpq's message quotes the text, which may hold a password. */
			return plan_fail(
				c, v,
				"%s: not a valid libpq connection string (key=value pairs or a "
				"postgresql:// URI)",
				label);
		}
		PQconninfoFree(options);
		break;
	}
	case PG_CONNINFO_ENV:
		if (!env_name_is_valid(s))
			return plan_fail(c, v, "%s: '%s' is not an environment variable name",
					 label, plan_yaml_quote(s, quoted));
		break;
	case PG_CONNINFO_FILE:
		r = check_absolute_path(c, label, v, s);
		if (r < 0)
			return r;
		break;
	case PG_CONNINFO_CREDENTIAL:
		/* A credential is a file name in $CREDENTIALS_DIRECTORY. */
		if (!credential_name_is_valid(s))
			return plan_fail(c, v,
					 "%s: '%s' is not a credential name (a file name, no '/')",
					 label, plan_yaml_quote(s, quoted));
		break;
	}
	r = set_string(&db->conninfo, s);
	if (r < 0)
		return r;
	db->conninfo_source = (PgConninfoSource)flags;
	return 0;
}

/* ---- lists and mappings of values ---- */

typedef struct NamedNode {
	const char *name;
	size_t index;
} NamedNode;

static int named_node_compare(const void *a, const void *b)
{
	const NamedNode *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	if (r != 0)
		return r;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Finds a repeated string among nodes[0..n) in O(n log n): returns the index of the
 * earliest second occurrence and, in *ret_first, of its first one; n when none. */
static int find_duplicate(PlanYamlNode *const *nodes, size_t n, size_t stride, size_t *ret_dup,
			  size_t *ret_first)
{
	_cleanup_free_ NamedNode *sorted = calloc(n ? n : 1, sizeof(NamedNode));
	size_t dup = SIZE_MAX, first = SIZE_MAX;

	if (!sorted)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		sorted[i] = (NamedNode){nodes[i * stride]->value, i};
	qsort(sorted, n, sizeof(NamedNode), named_node_compare);
	for (size_t i = 1; i < n; i++)
		if (strcmp(sorted[i - 1].name, sorted[i].name) == 0 && sorted[i].index < dup &&
		    (i < 2 || strcmp(sorted[i - 2].name, sorted[i].name) != 0)) {
			dup = sorted[i].index;
			first = sorted[i - 1].index;
		}
	*ret_dup = dup;
	*ret_first = first;
	return 0;
}

/* A strv of the scalars' values, sized once: lists may hold many thousands of items. */
static int strv_from_scalars(PlanYamlNode *const *nodes, size_t n, char ***ret)
{
	_cleanup_strv_free_ char **l = calloc(n + 1, sizeof(char *));

	if (!l)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		l[i] = strdup(nodes[i]->value);
		if (!l[i])
			return -ENOMEM;
	}
	*ret = TAKE_PTR(l);
	return 0;
}

int plan_value_units(PlanContext *c, const char *label, const PlanYamlNode *v,
		     unsigned flags _unused_, void *target)
{
	char quoted[PLAN_YAML_QUOTE_MAX];
	char **units = NULL;
	size_t dup, first;
	int r;

	if (v->type != PLAN_YAML_SEQUENCE)
		return plan_fail(c, v, "%s: expected a list of unit names, got %s", label,
				 plan_yaml_describe(v));
	for (size_t i = 0; i < v->n_children; i++) {
		const PlanYamlNode *item = v->children[i];
		const char *name, *reason = NULL;

		r = expect_string(c, label, item, &name);
		if (r < 0)
			return r;
		r = unit_name_check_deployable(name, &reason);
		if (r == -EOPNOTSUPP)
			return plan_fail(c, item, "%s: '%s' %s", label,
					 plan_yaml_quote(name, quoted), reason);
		if (r < 0)
			return plan_fail(c, item, "%s: '%s' is not a valid unit name: it %s", label,
					 plan_yaml_quote(name, quoted), reason);
	}
	r = find_duplicate(v->children, v->n_children, 1, &dup, &first);
	if (r < 0)
		return r;
	if (dup != SIZE_MAX)
		return plan_fail(
			c, v->children[dup], "%s: '%s' is listed twice (first at line %zu)", label,
			plan_yaml_quote(v->children[dup]->value, quoted), v->children[first]->line);

	r = strv_from_scalars(v->children, v->n_children, &units);
	if (r < 0)
		return r;
	strv_free(*(char ***)target);
	*(char ***)target = units;
	return 0;
}

/* One argv: a non-empty list of strings whose first element (the program) is not empty. */
static int parse_argv_node(PlanContext *c, const char *label, const PlanYamlNode *v, char ***ret)
{
	if (v->type != PLAN_YAML_SEQUENCE)
		return plan_fail(c, v, "%s: expected a command as a list of strings, got %s", label,
				 plan_yaml_describe(v));
	if (v->n_children == 0)
		return plan_fail(c, v, "%s: the command is empty; give at least the program to run",
				 label);
	for (size_t i = 0; i < v->n_children; i++) {
		const PlanYamlNode *item = v->children[i];
		if (item->type != PLAN_YAML_SCALAR || plan_yaml_is_null(item))
			return plan_fail(c, item, "%s: each argument must be a string, got %s",
					 label, plan_yaml_describe(item));
		if (i == 0 && item->value[0] == '\0')
			return plan_fail(c, item,
					 "%s: the program (first element) must not be empty",
					 label);
	}
	return strv_from_scalars(v->children, v->n_children, ret);
}

int plan_value_globs(PlanContext *c, const char *label, const PlanYamlNode *v,
		     unsigned flags _unused_, void *target)
{
	char **globs = NULL;
	int r;

	if (v->type != PLAN_YAML_SEQUENCE || v->n_children == 0)
		return plan_fail(c, v, "%s: expected a non-empty list of patterns, got %s", label,
				 plan_yaml_describe(v));
	for (size_t i = 0; i < v->n_children; i++) {
		const PlanYamlNode *item = v->children[i];
		if (item->type != PLAN_YAML_SCALAR || plan_yaml_is_null(item) ||
		    item->value[0] == '\0')
			return plan_fail(c, item, "%s: each pattern must be a non-empty string, got %s",
					 label, plan_yaml_describe(item));
	}
	r = strv_from_scalars(v->children, v->n_children, &globs);
	if (r < 0)
		return r;
	strv_free(*(char ***)target);
	*(char ***)target = globs;
	return 0;
}

int plan_value_command(PlanContext *c, const char *label, const PlanYamlNode *v,
		       unsigned flags _unused_, void *target)
{
	char **argv = NULL;
	int r = parse_argv_node(c, label, v, &argv);

	if (r < 0)
		return r;
	strv_free(*(char ***)target);
	*(char ***)target = argv;
	return 0;
}

int plan_value_environment(PlanContext *c, const char *label, const PlanYamlNode *v,
			   unsigned flags _unused_, void *target)
{
	char quoted[PLAN_YAML_QUOTE_MAX];
	_cleanup_strv_free_ char **env = NULL;
	size_t dup, first;
	int r;

	if (v->type != PLAN_YAML_MAPPING)
		return plan_fail(c, v, "%s: expected a mapping of NAME: value, got %s", label,
				 plan_yaml_describe(v));
	env = calloc(v->n_children / 2 + 1, sizeof(char *));
	if (!env)
		return -ENOMEM;
	for (size_t i = 0; i < v->n_children; i += 2) {
		const PlanYamlNode *key = v->children[i], *value = v->children[i + 1];

		if (key->type != PLAN_YAML_SCALAR || !env_name_is_valid(key->value))
			return plan_fail(c, key,
					 "%s: '%s' is not an environment variable name "
					 "([A-Za-z_][A-Za-z0-9_]*)",
					 label,
					 key->type == PLAN_YAML_SCALAR
						 ? plan_yaml_quote(key->value, quoted)
						 : plan_yaml_describe(key));
		for (size_t k = 0; k < ELEMENTSOF(reserved_environment); k++)
			if (strcmp(key->value, reserved_environment[k]) == 0)
				return plan_fail(c, key,
						 "%s: %s is set by deployd and cannot be given",
						 label, key->value);
		if (value->type != PLAN_YAML_SCALAR || plan_yaml_is_null(value))
			return plan_fail(
				c, value,
				"%s: %s: expected a string (write \"\" for an empty value), "
				"got %s",
				label, key->value, plan_yaml_describe(value));
		if (asprintf(&env[i / 2], "%s=%s", key->value, value->value) < 0) {
			env[i / 2] = NULL; /* asprintf() leaves it undefined on failure */
			return -ENOMEM;
		}
	}
	r = find_duplicate(v->children, v->n_children / 2, 2, &dup, &first);
	if (r < 0)
		return r;
	if (dup != SIZE_MAX)
		return plan_fail(c, v->children[dup * 2],
				 "%s: duplicate variable %s (first at line %zu)", label,
				 v->children[dup * 2]->value, v->children[first * 2]->line);

	strv_free(*(char ***)target);
	*(char ***)target = TAKE_PTR(env);
	return 0;
}

void plan_hook_list_done(PlanHookList *h)
{
	for (size_t i = 0; i < h->n_commands; i++)
		strv_free(h->commands[i]);
	free(h->commands);
	*h = (PlanHookList){};
}

/* A hook holds one argv ([prog, arg…]) or a list of argvs; [] means none. */
int plan_value_hook(PlanContext *c, const char *label, const PlanYamlNode *v,
		    unsigned flags _unused_, void *target)
{
	_cleanup_(plan_hook_list_done) PlanHookList list = {};
	bool one;
	int r;

	if (v->type != PLAN_YAML_SEQUENCE)
		return plan_fail(
			c, v,
			"%s: expected a command as a list ([/usr/bin/prog, arg]) or a list of "
			"them, got %s",
			label, plan_yaml_describe(v));
	/* [] is no command; [prog, …] one; [[prog, …], …] several. */
	one = v->n_children > 0 && v->children[0]->type != PLAN_YAML_SEQUENCE;
	list.commands = calloc(one ? 2 : v->n_children + 1, sizeof(char **));
	if (!list.commands)
		return -ENOMEM;
	if (one) {
		r = parse_argv_node(c, label, v, &list.commands[0]);
		if (r < 0)
			return r;
		list.n_commands = 1;
	} else
		for (size_t i = 0; i < v->n_children; i++) {
			const PlanYamlNode *item = v->children[i];
			if (item->type != PLAN_YAML_SEQUENCE)
				return plan_fail(
					c, item,
					"%s: in a list of commands each entry must be a list "
					"of strings, got %s",
					label, plan_yaml_describe(item));
			r = parse_argv_node(c, label, item, &list.commands[i]);
			if (r < 0)
				return r;
			list.n_commands++;
		}
	plan_hook_list_done(target);
	*(PlanHookList *)target = list;
	list = (PlanHookList){};
	return 0;
}
