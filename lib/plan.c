#include <fcntl.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include "duration.h"
#include "plan-yaml.h"
#include "plan.h"
#include "strv.h"
#include "unit-name.h"

/* PostgreSQL takes its timeouts as int milliseconds. */
#define POSTGRES_TIMEOUT_MAX_MS 2147483647ULL
#define IDENTIFIER_MAX 63

typedef struct Ctx {
	const char *path;
	char **ret_error;
} Ctx;

_printf_(3, 4) static int fail(Ctx *c, const PlanYamlNode *n, const char *fmt, ...)
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

typedef struct KeySpec KeySpec;
typedef struct Section Section;

/* Parses value into target (a field of the section's struct); label is "section.key". */
typedef int (*KeyParser)(Ctx *c, const KeySpec *spec, const char *label, const PlanYamlNode *value,
			 void *target);

struct KeySpec {
	const char *name;
	KeyParser parse;
	size_t offset;	    /* of the target in the section's struct */
	unsigned flags;	    /* parser-specific */
	const Section *sub; /* for nested sections */
};

struct Section {
	const char *name; /* NULL for the top level */
	const KeySpec *keys;
	size_t n_keys;
	/* Rules about which keys are present, checked before any value is parsed. */
	int (*check)(Ctx *c, const PlanYamlNode *map);
};

enum {
	DURATION_ZERO_MEANS_OFF = 1 << 0,
	DURATION_POSTGRES = 1 << 1, /* handed to PostgreSQL: at most INT_MAX ms */
};

static bool is_identifier(const char *s, size_t len)
{
	if (len == 0 || len > IDENTIFIER_MAX)
		return false;
	if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
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

static int expect_string(Ctx *c, const char *label, const PlanYamlNode *v, const char **ret)
{
	if (v->type != PLAN_YAML_SCALAR || plan_yaml_is_null(v))
		return fail(c, v, "%s: expected a string, got %s", label, plan_yaml_describe(v));
	if (v->value[0] == '\0')
		return fail(c, v, "%s: must not be empty", label);
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

static int parse_string(Ctx *c, const KeySpec *spec _unused_, const char *label,
			const PlanYamlNode *v, void *target)
{
	const char *s;
	int r = expect_string(c, label, v, &s);

	return r < 0 ? r : set_string(target, s);
}

static int check_absolute_path(Ctx *c, const char *label, const PlanYamlNode *v, const char *s)
{
	char quoted[PLAN_YAML_QUOTE_MAX];

	if (s[0] != '/')
		return fail(c, v, "%s: expected an absolute path, got '%s'", label,
			    plan_yaml_quote(s, quoted));
	if (strlen(s) >= PATH_MAX)
		return fail(c, v, "%s: path longer than %d bytes", label, PATH_MAX - 1);
	return 0;
}

static int parse_path(Ctx *c, const KeySpec *spec _unused_, const char *label,
		      const PlanYamlNode *v, void *target)
{
	const char *s;
	int r = expect_string(c, label, v, &s);

	if (r >= 0)
		r = check_absolute_path(c, label, v, s);
	return r < 0 ? r : set_string(target, s);
}

static int parse_duration(Ctx *c, const KeySpec *spec, const char *label, const PlanYamlNode *v,
			  void *target)
{
	char quoted[PLAN_YAML_QUOTE_MAX];
	const char *s, *reason = NULL;
	usec_t u;
	int r;

	if (v->type != PLAN_YAML_SCALAR || plan_yaml_is_null(v))
		return fail(c, v, "%s: expected a duration such as 5s, got %s", label,
			    plan_yaml_describe(v));
	s = v->value;
	r = duration_parse(s, &u, &reason);
	if (r < 0)
		return fail(c, v, "%s: invalid duration '%s': %s", label,
			    plan_yaml_quote(s, quoted), reason);
	if (u == 0 && !(spec->flags & DURATION_ZERO_MEANS_OFF))
		return fail(c, v, "%s: must be greater than 0 (it cannot be turned off)", label);
	if ((spec->flags & DURATION_POSTGRES) && u / USEC_PER_MSEC > POSTGRES_TIMEOUT_MAX_MS)
		return fail(c, v, "%s: '%s' is more than PostgreSQL accepts (at most %llums)",
			    label, plan_yaml_quote(s, quoted), POSTGRES_TIMEOUT_MAX_MS);
	*(usec_t *)target = u;
	return 0;
}

static int parse_bool(Ctx *c, const KeySpec *spec _unused_, const char *label,
		      const PlanYamlNode *v, void *target)
{
	char described[DESCRIBE_MAX];

	/* Only YAML 1.2's spelling: "yes", "on" and friends mean different things to
	 * different YAML readers, so a plan says true or false. */
	if (v->type == PLAN_YAML_SCALAR && v->plain && strcmp(v->value, "true") == 0)
		*(bool *)target = true;
	else if (v->type == PLAN_YAML_SCALAR && v->plain && strcmp(v->value, "false") == 0)
		*(bool *)target = false;
	else
		return fail(c, v, "%s: expected true or false, got %s", label,
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

static int parse_lock_retries(Ctx *c, const KeySpec *spec _unused_, const char *label,
			      const PlanYamlNode *v, void *target)
{
	char described[DESCRIBE_MAX];

	if (scalar_to_unsigned(v, PLAN_LOCK_RETRIES_MAX, target))
		return 0;
	return fail(c, v, "%s: expected a whole number from 0 to %d, got %s", label,
		    PLAN_LOCK_RETRIES_MAX, describe_value(v, described));
}

static int parse_version(Ctx *c, const KeySpec *spec _unused_, const char *label,
			 const PlanYamlNode *v, void *target)
{
	char quoted[PLAN_YAML_QUOTE_MAX], described[DESCRIBE_MAX];
	unsigned version;

	if (scalar_to_unsigned(v, 1, &version) && version == 1) {
		*(int *)target = 1;
		return 0;
	}
	if (v->type == PLAN_YAML_SCALAR && v->plain && v->value[0] != '\0' &&
	    strspn(v->value, "0123456789") == strlen(v->value))
		return fail(c, v, "%s: unsupported plan version %s (this deployd reads version 1)",
			    label, plan_yaml_quote(v->value, quoted));
	return fail(c, v, "%s: expected the number 1, got %s", label, describe_value(v, described));
}

static int parse_bus(Ctx *c, const KeySpec *spec _unused_, const char *label, const PlanYamlNode *v,
		     void *target)
{
	char quoted[PLAN_YAML_QUOTE_MAX];
	const char *s;
	int r = expect_string(c, label, v, &s);

	if (r < 0)
		return r;
	if (strcmp(s, "system") == 0)
		*(PlanBus *)target = PLAN_BUS_SYSTEM;
	else if (strcmp(s, "user") == 0)
		*(PlanBus *)target = PLAN_BUS_USER;
	else
		return fail(c, v, "%s: expected system or user, got '%s'", label,
			    plan_yaml_quote(s, quoted));
	return 0;
}

static int parse_on_failure(Ctx *c, const KeySpec *spec _unused_, const char *label,
			    const PlanYamlNode *v, void *target)
{
	char quoted[PLAN_YAML_QUOTE_MAX];
	const char *s;
	int r = expect_string(c, label, v, &s);

	if (r < 0)
		return r;
	if (strcmp(s, "leave-stopped") == 0)
		*(PlanOnFailure *)target = PLAN_ON_FAILURE_LEAVE_STOPPED;
	else if (strcmp(s, "start") == 0)
		*(PlanOnFailure *)target = PLAN_ON_FAILURE_START;
	else
		return fail(c, v, "%s: expected leave-stopped or start, got '%s'", label,
			    plan_yaml_quote(s, quoted));
	return 0;
}

static int parse_table(Ctx *c, const KeySpec *spec _unused_, const char *label,
		       const PlanYamlNode *v, void *target)
{
	char quoted[PLAN_YAML_QUOTE_MAX];
	const char *s, *dot;
	int r = expect_string(c, label, v, &s);

	if (r < 0)
		return r;
	dot = strchr(s, '.');
	if (dot ? !is_identifier(s, (size_t)(dot - s)) || !is_identifier(dot + 1, strlen(dot + 1))
		: !is_identifier(s, strlen(s)))
		return fail(c, v,
			    "%s: '%s' is not a table name (expected NAME or SCHEMA.NAME, each "
			    "[A-Za-z_][A-Za-z0-9_]*, at most %d characters)",
			    label, plan_yaml_quote(s, quoted), IDENTIFIER_MAX);
	return set_string(target, s);
}

/* conninfo, conninfo_env, conninfo_file, credential: spec->flags is the source. */
static int parse_conninfo(Ctx *c, const KeySpec *spec, const char *label, const PlanYamlNode *v,
			  void *target)
{
	char quoted[PLAN_YAML_QUOTE_MAX];
	PlanDatabase *db = target;
	const char *s;
	int r = expect_string(c, label, v, &s);

	if (r < 0)
		return r;
	switch ((PlanConninfoSource)spec->flags) {
	case PLAN_CONNINFO_LITERAL: {
		char *errmsg = NULL;
		PQconninfoOption *options = PQconninfoParse(s, &errmsg);
		if (!options) {
			if (!errmsg)
				return -ENOMEM;
			PQfreemem(errmsg);
			/* libpq's message quotes the text, which may hold a password. */
			return fail(c, v,
				    "%s: not a valid libpq connection string (key=value pairs or a "
				    "postgresql:// URI)",
				    label);
		}
		PQconninfoFree(options);
		break;
	}
	case PLAN_CONNINFO_ENV:
		if (!env_name_is_valid(s))
			return fail(c, v, "%s: '%s' is not an environment variable name", label,
				    plan_yaml_quote(s, quoted));
		break;
	case PLAN_CONNINFO_FILE:
		r = check_absolute_path(c, label, v, s);
		if (r < 0)
			return r;
		break;
	case PLAN_CONNINFO_CREDENTIAL:
		/* A credential is a file name in $CREDENTIALS_DIRECTORY. */
		if (strchr(s, '/') || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 ||
		    strlen(s) > NAME_MAX)
			return fail(c, v, "%s: '%s' is not a credential name (a file name, no '/')",
				    label, plan_yaml_quote(s, quoted));
		break;
	}
	r = set_string(&db->conninfo, s);
	if (r < 0)
		return r;
	db->conninfo_source = (PlanConninfoSource)spec->flags;
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

static int parse_units(Ctx *c, const KeySpec *spec _unused_, const char *label,
		       const PlanYamlNode *v, void *target)
{
	char quoted[PLAN_YAML_QUOTE_MAX];
	_cleanup_strv_free_ char **units = calloc(1, sizeof(char *));
	size_t dup, first;
	int r;

	if (!units)
		return -ENOMEM;
	if (v->type != PLAN_YAML_SEQUENCE)
		return fail(c, v, "%s: expected a list of unit names, got %s", label,
			    plan_yaml_describe(v));
	for (size_t i = 0; i < v->n_children; i++) {
		const PlanYamlNode *item = v->children[i];
		const char *name, *reason = NULL;

		r = expect_string(c, label, item, &name);
		if (r < 0)
			return r;
		r = unit_name_classify(name, &reason);
		if (r == UNIT_NAME_TEMPLATE)
			return fail(c, item,
				    "%s: '%s' is a template; name an instance such as "
				    "NAME@INSTANCE.service",
				    label, plan_yaml_quote(name, quoted));
		if (r < 0)
			return fail(c, item, "%s: '%s' is not a valid unit name: it %s", label,
				    plan_yaml_quote(name, quoted), reason);
	}
	r = find_duplicate(v->children, v->n_children, 1, &dup, &first);
	if (r < 0)
		return r;
	if (dup != SIZE_MAX)
		return fail(c, v->children[dup], "%s: '%s' is listed twice (first at line %zu)",
			    label, plan_yaml_quote(v->children[dup]->value, quoted),
			    v->children[first]->line);

	for (size_t i = 0; i < v->n_children; i++) {
		r = strv_extend(&units, v->children[i]->value);
		if (r < 0)
			return r;
	}
	strv_free(*(char ***)target);
	*(char ***)target = TAKE_PTR(units);
	return 0;
}

/* One argv: a non-empty list of strings whose first element (the program) is not empty. */
static int parse_argv_node(Ctx *c, const char *label, const PlanYamlNode *v, char ***ret)
{
	_cleanup_strv_free_ char **argv = NULL;
	int r;

	if (v->type != PLAN_YAML_SEQUENCE)
		return fail(c, v, "%s: expected a command as a list of strings, got %s", label,
			    plan_yaml_describe(v));
	if (v->n_children == 0)
		return fail(c, v, "%s: the command is empty; give at least the program to run",
			    label);
	for (size_t i = 0; i < v->n_children; i++) {
		const PlanYamlNode *item = v->children[i];
		if (item->type != PLAN_YAML_SCALAR || plan_yaml_is_null(item))
			return fail(c, item, "%s: each argument must be a string, got %s", label,
				    plan_yaml_describe(item));
		if (i == 0 && item->value[0] == '\0')
			return fail(c, item, "%s: the program (first element) must not be empty",
				    label);
		r = strv_extend(&argv, item->value);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(argv);
	return 0;
}

static int parse_command(Ctx *c, const KeySpec *spec _unused_, const char *label,
			 const PlanYamlNode *v, void *target)
{
	char **argv = NULL;
	int r = parse_argv_node(c, label, v, &argv);

	if (r < 0)
		return r;
	strv_free(*(char ***)target);
	*(char ***)target = argv;
	return 0;
}

static int parse_environment(Ctx *c, const KeySpec *spec _unused_, const char *label,
			     const PlanYamlNode *v, void *target)
{
	char quoted[PLAN_YAML_QUOTE_MAX];
	_cleanup_strv_free_ char **env = calloc(1, sizeof(char *));
	size_t dup, first;
	int r;

	if (!env)
		return -ENOMEM;
	if (v->type != PLAN_YAML_MAPPING)
		return fail(c, v, "%s: expected a mapping of NAME: value, got %s", label,
			    plan_yaml_describe(v));
	for (size_t i = 0; i < v->n_children; i += 2) {
		const PlanYamlNode *key = v->children[i], *value = v->children[i + 1];
		char *entry;

		if (key->type != PLAN_YAML_SCALAR || !env_name_is_valid(key->value))
			return fail(c, key,
				    "%s: '%s' is not an environment variable name "
				    "([A-Za-z_][A-Za-z0-9_]*)",
				    label,
				    key->type == PLAN_YAML_SCALAR
					    ? plan_yaml_quote(key->value, quoted)
					    : plan_yaml_describe(key));
		for (size_t k = 0; k < ELEMENTSOF(reserved_environment); k++)
			if (strcmp(key->value, reserved_environment[k]) == 0)
				return fail(c, key, "%s: %s is set by deployd and cannot be given",
					    label, key->value);
		if (value->type != PLAN_YAML_SCALAR || plan_yaml_is_null(value))
			return fail(c, value,
				    "%s: %s: expected a string (write \"\" for an empty value), "
				    "got %s",
				    label, key->value, plan_yaml_describe(value));
		if (asprintf(&entry, "%s=%s", key->value, value->value) < 0)
			return -ENOMEM;
		r = strv_push(&env, entry);
		if (r < 0)
			return r;
	}
	r = find_duplicate(v->children, v->n_children / 2, 2, &dup, &first);
	if (r < 0)
		return r;
	if (dup != SIZE_MAX)
		return fail(c, v->children[dup * 2],
			    "%s: duplicate variable %s (first at line %zu)", label,
			    v->children[dup * 2]->value, v->children[first * 2]->line);

	strv_free(*(char ***)target);
	*(char ***)target = TAKE_PTR(env);
	return 0;
}

static void hook_list_done(PlanHookList *h)
{
	for (size_t i = 0; i < h->n_commands; i++)
		strv_free(h->commands[i]);
	free(h->commands);
	*h = (PlanHookList){};
}

/* A hook holds one argv ([prog, arg…]) or a list of argvs; [] means none. */
static int parse_hook(Ctx *c, const KeySpec *spec _unused_, const char *label,
		      const PlanYamlNode *v, void *target)
{
	_cleanup_(hook_list_done) PlanHookList list = {};
	bool one;
	int r;

	if (v->type != PLAN_YAML_SEQUENCE)
		return fail(c, v,
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
				return fail(c, item,
					    "%s: in a list of commands each entry must be a list "
					    "of strings, got %s",
					    label, plan_yaml_describe(item));
			r = parse_argv_node(c, label, item, &list.commands[i]);
			if (r < 0)
				return r;
			list.n_commands++;
		}
	hook_list_done(target);
	*(PlanHookList *)target = list;
	list = (PlanHookList){};
	return 0;
}

/* ---- sections ---- */

static int parse_section(Ctx *c, const Section *s, const PlanYamlNode *map, void *base);

static int parse_subsection(Ctx *c, const KeySpec *spec, const char *label _unused_,
			    const PlanYamlNode *v, void *target)
{
	return parse_section(c, spec->sub, v, target);
}

/* The first key node named name in map, or NULL; its value follows it. */
static PlanYamlNode *const *map_find(const PlanYamlNode *map, const char *name)
{
	for (size_t i = 0; i < map->n_children; i += 2)
		if (map->children[i]->type == PLAN_YAML_SCALAR &&
		    strcmp(map->children[i]->value, name) == 0)
			return &map->children[i];
	return NULL;
}

static const PlanYamlNode *map_key(const PlanYamlNode *map, const char *name)
{
	PlanYamlNode *const *pair = map_find(map, name);

	return pair ? pair[0] : NULL;
}

/* Exactly one of keys must be present. */
static int check_one_of(Ctx *c, const PlanYamlNode *map, const char *section, const char *what,
			const char *const *keys)
{
	size_t n_keys = strv_length((char *const *)keys);
	_cleanup_free_ char *choices = NULL;
	const PlanYamlNode *found = NULL;
	int r = strv_join((char *const *)keys, ", ", &choices);

	if (r < 0)
		return r;
	for (size_t i = 0; i < map->n_children; i += 2) {
		const PlanYamlNode *key = map->children[i];
		for (size_t k = 0; k < n_keys; k++) {
			if (strcmp(key->value, keys[k]) != 0)
				continue;
			if (found)
				return fail(c, key,
					    "%s: %s conflicts with %s (line %zu); give exactly one "
					    "of %s",
					    section, key->value, found->value, found->line,
					    choices);
			found = key;
		}
	}
	if (!found)
		return fail(c, map, "%s: no %s given; give exactly one of %s", section, what,
			    choices);
	return 0;
}

static const char *const conninfo_keys[] = {"conninfo", "conninfo_env", "conninfo_file",
					    "credential", NULL};

static int check_database(Ctx *c, const PlanYamlNode *map)
{
	return check_one_of(c, map, "database", "connection", conninfo_keys);
}

static int check_migrations(Ctx *c, const PlanYamlNode *map)
{
	static const char *const sources[] = {"directory", "command", NULL};
	static const char *const command_only[] = {"working_directory", "environment"};
	const PlanYamlNode *key;
	int r;

	r = check_one_of(c, map, "migrations", "migration source", sources);
	if (r < 0)
		return r;
	if (map_key(map, "directory")) {
		for (size_t i = 0; i < ELEMENTSOF(command_only); i++) {
			key = map_key(map, command_only[i]);
			if (key)
				return fail(c, key,
					    "migrations.%s is only allowed with migrations.command",
					    command_only[i]);
		}
	} else {
		key = map_key(map, "table");
		if (key)
			return fail(c, key,
				    "migrations.table is only allowed with migrations.directory "
				    "(a command keeps its own history)");
	}
	return 0;
}

static int check_top_level(Ctx *c, const PlanYamlNode *map)
{
	static const char *const required[] = {"version", "database", "migrations"};

	for (size_t i = 0; i < ELEMENTSOF(required); i++)
		if (!map_key(map, required[i]))
			return fail(c, map, "missing required key '%s'", required[i]);
	return 0;
}

#define KEY(n, fn, type, field, ...)                                                               \
	{                                                                                          \
		.name = n, .parse = fn, .offset = offsetof(type, field), __VA_ARGS__               \
	}

static const KeySpec database_keys[] = {
	/* The conninfo keys fill two fields: their parser gets the whole PlanDatabase. */
	{.name = "conninfo", .parse = parse_conninfo, .flags = PLAN_CONNINFO_LITERAL},
	{.name = "conninfo_env", .parse = parse_conninfo, .flags = PLAN_CONNINFO_ENV},
	{.name = "conninfo_file", .parse = parse_conninfo, .flags = PLAN_CONNINFO_FILE},
	{.name = "credential", .parse = parse_conninfo, .flags = PLAN_CONNINFO_CREDENTIAL},
	KEY("lock_timeout", parse_duration, PlanDatabase, lock_timeout, .flags = DURATION_POSTGRES),
	KEY("statement_timeout", parse_duration, PlanDatabase, statement_timeout,
	    .flags = DURATION_POSTGRES | DURATION_ZERO_MEANS_OFF),
	KEY("idle_in_transaction_session_timeout", parse_duration, PlanDatabase,
	    idle_in_transaction_session_timeout,
	    .flags = DURATION_POSTGRES | DURATION_ZERO_MEANS_OFF),
	KEY("connect_timeout", parse_duration, PlanDatabase, connect_timeout),
};

static const KeySpec services_keys[] = {
	KEY("bus", parse_bus, PlanServices, bus),
	KEY("units", parse_units, PlanServices, units),
	KEY("stop_timeout", parse_duration, PlanServices, stop_timeout),
	KEY("start_timeout", parse_duration, PlanServices, start_timeout),
	KEY("settle", parse_duration, PlanServices, settle, .flags = DURATION_ZERO_MEANS_OFF),
};

static const KeySpec idle_transactions_keys[] = {
	KEY("terminate", parse_bool, PlanIdleTransactions, terminate),
	KEY("older_than", parse_duration, PlanIdleTransactions, older_than),
};

static const KeySpec migrations_keys[] = {
	KEY("directory", parse_path, PlanMigrations, directory),
	KEY("command", parse_command, PlanMigrations, command),
	KEY("working_directory", parse_path, PlanMigrations, working_directory),
	KEY("environment", parse_environment, PlanMigrations, environment),
	KEY("table", parse_table, PlanMigrations, table),
	KEY("lock_retries", parse_lock_retries, PlanMigrations, lock_retries),
	KEY("lock_retry_delay", parse_duration, PlanMigrations, lock_retry_delay,
	    .flags = DURATION_ZERO_MEANS_OFF),
	KEY("lock_watch_interval", parse_duration, PlanMigrations, lock_watch_interval),
};

static const KeySpec hooks_keys[] = {
	KEY("before_stop", parse_hook, PlanHooks, before_stop),
	KEY("after_migrate", parse_hook, PlanHooks, after_migrate),
	KEY("after_start", parse_hook, PlanHooks, after_start),
	KEY("timeout", parse_duration, PlanHooks, timeout),
};

static const Section database_section = {"database", database_keys, ELEMENTSOF(database_keys),
					 check_database};
static const Section services_section = {"services", services_keys, ELEMENTSOF(services_keys),
					 NULL};
static const Section idle_transactions_section = {"idle_transactions", idle_transactions_keys,
						  ELEMENTSOF(idle_transactions_keys), NULL};
static const Section migrations_section = {"migrations", migrations_keys,
					   ELEMENTSOF(migrations_keys), check_migrations};
static const Section hooks_section = {"hooks", hooks_keys, ELEMENTSOF(hooks_keys), NULL};

static const KeySpec top_level_keys[] = {
	KEY("version", parse_version, Plan, version),
	KEY("description", parse_string, Plan, description),
	KEY("database", parse_subsection, Plan, database, .sub = &database_section),
	KEY("services", parse_subsection, Plan, services, .sub = &services_section),
	KEY("idle_transactions", parse_subsection, Plan, idle_transactions,
	    .sub = &idle_transactions_section),
	KEY("migrations", parse_subsection, Plan, migrations, .sub = &migrations_section),
	KEY("on_failure", parse_on_failure, Plan, on_failure),
	KEY("hooks", parse_subsection, Plan, hooks, .sub = &hooks_section),
};

static const Section top_level_section = {NULL, top_level_keys, ELEMENTSOF(top_level_keys),
					  check_top_level};

static const Section *const all_sections[] = {
	&top_level_section,	    &database_section,	 &services_section,
	&idle_transactions_section, &migrations_section, &hooks_section,
};

static const KeySpec *section_find_key(const Section *s, const char *name)
{
	for (size_t i = 0; i < s->n_keys; i++)
		if (strcmp(s->keys[i].name, name) == 0)
			return &s->keys[i];
	return NULL;
}

/* Optimal string alignment distance (edits, with a swap of neighbours counting as
 * one), or SIZE_MAX when it is surely more than 2. */
static size_t edit_distance(const char *a, const char *b)
{
	enum { N = 64 };
	size_t la = strlen(a), lb = strlen(b);
	size_t d[N + 1][N + 1];

	if (la > N || lb > N || (la > lb ? la - lb : lb - la) > 2)
		return SIZE_MAX;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t best = d[i - 1][j - 1] + cost;
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	return d[la][lb];
}

static int fail_unknown_key(Ctx *c, const Section *s, const PlanYamlNode *key)
{
	char quoted[PLAN_YAML_QUOTE_MAX];
	_cleanup_free_ char *where = NULL, *known = NULL;
	const char *best = NULL;
	size_t best_distance = 3;

	if (asprintf(&where, "%s%s", s->name ? " in " : "", s->name ? s->name : "") < 0)
		return -ENOMEM;
	plan_yaml_quote(key->value, quoted);

	for (size_t i = 0; i < s->n_keys; i++) {
		size_t d = edit_distance(key->value, s->keys[i].name);
		/* A one-letter key is "close" to anything; demand a real resemblance. */
		if (d < best_distance && d < strlen(key->value)) {
			best = s->keys[i].name;
			best_distance = d;
		}
	}
	if (best)
		return fail(c, key, "unknown key '%s'%s (did you mean '%s'?)", quoted, where, best);

	for (size_t i = 0; i < ELEMENTSOF(all_sections); i++) {
		const Section *other = all_sections[i];
		if (other == s || !section_find_key(other, key->value))
			continue;
		if (other->name)
			return fail(c, key, "unknown key '%s'%s (did you mean '%s.%s'?)", quoted,
				    where, other->name, key->value);
		return fail(c, key, "unknown key '%s'%s ('%s' belongs at the top level)", quoted,
			    where, key->value);
	}

	for (size_t i = 0; i < s->n_keys; i++) {
		char *grown;
		if (asprintf(&grown, "%s%s%s", known ? known : "", known ? ", " : "",
			     s->keys[i].name) < 0)
			return -ENOMEM;
		free(known);
		known = grown;
	}
	return fail(c, key, "unknown key '%s'%s (known keys: %s)", quoted, where, known);
}

/* Every key a known scalar, none twice. */
static int check_keys(Ctx *c, const Section *s, const PlanYamlNode *map)
{
	for (size_t i = 0; i < map->n_children; i += 2) {
		const PlanYamlNode *key = map->children[i];

		if (key->type != PLAN_YAML_SCALAR)
			return fail(c, key, "%s%skeys must be strings, got %s",
				    s->name ? s->name : "", s->name ? ": " : "",
				    plan_yaml_describe(key));
		if (!section_find_key(s, key->value))
			return fail_unknown_key(c, s, key);
		/* All earlier keys are known and distinct, so this loop is short. */
		for (size_t j = 0; j < i; j += 2)
			if (strcmp(map->children[j]->value, key->value) == 0)
				return fail(c, key, "duplicate key '%s' (first at line %zu)",
					    key->value, map->children[j]->line);
	}
	return 0;
}

static int parse_section(Ctx *c, const Section *s, const PlanYamlNode *map, void *base)
{
	int r;

	if (map->type != PLAN_YAML_MAPPING)
		return fail(c, map, "%s: expected a mapping, got %s", s->name ? s->name : "plan",
			    plan_yaml_describe(map));
	r = check_keys(c, s, map);
	if (r < 0)
		return r;
	if (s->check) {
		r = s->check(c, map);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < map->n_children; i += 2) {
		const KeySpec *spec = section_find_key(s, map->children[i]->value);
		_cleanup_free_ char *label = NULL;

		if (asprintf(&label, "%s%s%s", s->name ? s->name : "", s->name ? "." : "",
			     spec->name) < 0)
			return -ENOMEM;
		r = spec->parse(c, spec, label, map->children[i + 1], (char *)base + spec->offset);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- the plan ---- */

static int hook_list_init(PlanHookList *h)
{
	h->commands = calloc(1, sizeof(char **));
	h->n_commands = 0;
	return h->commands ? 0 : -ENOMEM;
}

static int plan_new(const char *path, Plan **ret)
{
	_cleanup_(plan_freep) Plan *p = calloc(1, sizeof(Plan));
	const char *base, *ext;

	if (!p)
		return -ENOMEM;
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	ext = strrchr(base, '.');
	if (!ext || ext == base || (strcmp(ext, ".yaml") != 0 && strcmp(ext, ".yml") != 0))
		ext = base + strlen(base);
	p->path = strdup(path);
	p->name = strndup(base, (size_t)(ext - base));
	p->services.units = calloc(1, sizeof(char *));
	if (!p->path || !p->name || !p->services.units)
		return -ENOMEM;
	if (hook_list_init(&p->hooks.before_stop) < 0 ||
	    hook_list_init(&p->hooks.after_migrate) < 0 ||
	    hook_list_init(&p->hooks.after_start) < 0)
		return -ENOMEM;

	p->database.lock_timeout = 5 * USEC_PER_SEC;
	p->database.statement_timeout = 120 * USEC_PER_SEC;
	p->database.idle_in_transaction_session_timeout = 60 * USEC_PER_SEC;
	p->database.connect_timeout = 10 * USEC_PER_SEC;
	p->services.bus = PLAN_BUS_SYSTEM;
	p->services.stop_timeout = 90 * USEC_PER_SEC;
	p->services.start_timeout = 90 * USEC_PER_SEC;
	p->services.settle = 0;
	p->idle_transactions.terminate = false;
	p->idle_transactions.older_than = 60 * USEC_PER_SEC;
	p->migrations.lock_retries = 0;
	p->migrations.lock_retry_delay = 10 * USEC_PER_SEC;
	p->migrations.lock_watch_interval = 500 * USEC_PER_MSEC;
	p->on_failure = PLAN_ON_FAILURE_LEAVE_STOPPED;
	p->hooks.timeout = 60 * USEC_PER_SEC;
	*ret = TAKE_PTR(p);
	return 0;
}

int plan_parse(const char *path, const char *data, size_t size, Plan **ret, char **ret_error)
{
	_cleanup_(plan_yaml_freep) PlanYamlNode *root = NULL;
	_cleanup_(plan_freep) Plan *p = NULL;
	Ctx c = {.path = path, .ret_error = ret_error};
	PlanYamlNode *const *version;
	int r;

	r = plan_yaml_load(path, data, size, &root, ret_error);
	if (r < 0)
		return r;
	if (!root || plan_yaml_is_null(root))
		return plan_yaml_error(ret_error, path, root ? root->line : 1,
				       root ? root->column : 1,
				       "empty plan (expected a mapping with at least version, "
				       "database and migrations)");
	if (root->type != PLAN_YAML_MAPPING)
		return fail(&c, root,
			    "a plan is a mapping of keys (version: 1, database: …), got %s",
			    plan_yaml_describe(root));

	r = plan_new(path, &p);
	if (r < 0)
		return r;

	/* The version first: a newer plan's keys would otherwise look like mistakes. */
	version = map_find(root, "version");
	if (!version)
		return fail(&c, root, "missing required key 'version' (this format is version 1)");
	r = parse_version(&c, NULL, "version", version[1], &p->version);
	if (r < 0)
		return r;

	r = parse_section(&c, &top_level_section, root, p);
	if (r < 0)
		return r;

	if (p->migrations.directory && !p->migrations.table) {
		p->migrations.table = strdup(PLAN_DEFAULT_TABLE);
		if (!p->migrations.table)
			return -ENOMEM;
	}
	if (p->migrations.command && !p->migrations.environment) {
		p->migrations.environment = calloc(1, sizeof(char *));
		if (!p->migrations.environment)
			return -ENOMEM;
	}
	*ret = TAKE_PTR(p);
	return 0;
}

/* Reads at most PLAN_MAX_BYTES + 1 bytes: one past the limit is enough to refuse. */
static int read_plan_file(const char *path, char **ret_data, size_t *ret_size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	_cleanup_free_ char *data = NULL;
	size_t size = 0;

	if (fd < 0)
		return -errno;
	data = malloc(PLAN_MAX_BYTES + 1);
	if (!data)
		return -ENOMEM;
	while (size < PLAN_MAX_BYTES + 1) {
		ssize_t n = read(fd, data + size, PLAN_MAX_BYTES + 1 - size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		size += (size_t)n;
	}
	*ret_data = TAKE_PTR(data);
	*ret_size = size;
	return 0;
}

int plan_load(const char *path, Plan **ret, char **ret_error)
{
	_cleanup_free_ char *data = NULL;
	size_t size = 0;
	int r;

	r = read_plan_file(path, &data, &size);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		char *msg;
		if (asprintf(&msg, "%s: cannot read plan: %s", path, strerror(-r)) < 0)
			return -ENOMEM;
		*ret_error = msg;
		return r;
	}
	return plan_parse(path, data, size, ret, ret_error);
}

Plan *plan_free(Plan *p)
{
	if (!p)
		return NULL;
	free(p->path);
	free(p->name);
	free(p->description);
	free(p->database.conninfo);
	strv_free(p->services.units);
	free(p->migrations.directory);
	strv_free(p->migrations.command);
	free(p->migrations.working_directory);
	strv_free(p->migrations.environment);
	free(p->migrations.table);
	hook_list_done(&p->hooks.before_stop);
	hook_list_done(&p->hooks.after_migrate);
	hook_list_done(&p->hooks.after_start);
	free(p);
	return NULL;
}

bool plan_name_is_valid(const char *name)
{
	size_t len = strlen(name);

	/* The name plus ".yaml" must fit in a file name. */
	return len > 0 && len <= PLAN_NAME_MAX && name[0] != '.' &&
	       strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") ==
		       len;
}

int plan_path_for_name(const char *dir, const char *name, char **ret)
{
	size_t len = strlen(dir);
	char *path;

	if (!plan_name_is_valid(name))
		return -EINVAL;
	if (asprintf(&path, "%s%s%s.yaml", dir, len > 0 && dir[len - 1] == '/' ? "" : "/", name) <
	    0)
		return -ENOMEM;
	*ret = path;
	return 0;
}

const char *plan_bus_to_string(PlanBus b)
{
	return b == PLAN_BUS_USER ? "user" : b == PLAN_BUS_SYSTEM ? "system" : NULL;
}

const char *plan_conninfo_source_to_string(PlanConninfoSource s)
{
	static const char *const names[] = {
		[PLAN_CONNINFO_LITERAL] = "conninfo",
		[PLAN_CONNINFO_ENV] = "conninfo_env",
		[PLAN_CONNINFO_FILE] = "conninfo_file",
		[PLAN_CONNINFO_CREDENTIAL] = "credential",
	};

	return (unsigned)s < ELEMENTSOF(names) ? names[s] : NULL;
}

const char *plan_on_failure_to_string(PlanOnFailure f)
{
	return f == PLAN_ON_FAILURE_START	    ? "start"
	       : f == PLAN_ON_FAILURE_LEAVE_STOPPED ? "leave-stopped"
						    : NULL;
}
