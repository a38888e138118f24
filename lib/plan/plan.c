#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "plan-value.h"
#include "plan.h"
#include "strv.h"

typedef struct Section Section;

typedef struct KeySpec {
	const char *name;
	PlanValueParser parse; /* NULL for a nested section */
	size_t offset;	       /* of the target in the section's struct */
	unsigned flags;	       /* for parse */
	const Section *sub;    /* the nested section */
} KeySpec;

struct Section {
	const char *name; /* NULL for the top level */
	const KeySpec *keys;
	size_t n_keys;
	/* Rules about which keys are present, checked before any value is parsed. */
	int (*check)(PlanContext *c, const PlanYamlNode *map);
};

/* ---- sections ---- */

static int parse_section(PlanContext *c, const Section *s, const PlanYamlNode *map, void *base);

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
static int check_one_of(PlanContext *c, const PlanYamlNode *map, const char *section,
			const char *what, const char *const *keys)
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
				return plan_fail(
					c, key,
					"%s: %s conflicts with %s (line %zu); give exactly one "
					"of %s",
					section, key->value, found->value, found->line, choices);
			found = key;
		}
	}
	if (!found)
		return plan_fail(c, map, "%s: no %s given; give exactly one of %s", section, what,
				 choices);
	return 0;
}

static const char *const conninfo_keys[] = {"conninfo", "conninfo_env", "conninfo_file",
					    "credential", NULL};

static int check_database(PlanContext *c, const PlanYamlNode *map)
{
	return check_one_of(c, map, "database", "connection", conninfo_keys);
}

static int check_migrations(PlanContext *c, const PlanYamlNode *map)
{
	static const char *const sources[] = {"directory", "command", NULL};
	static const char *const command_only[] = {"working_directory", "environment"};
	static const char *const directory_only[] = {"table", "format", "adopt"};
	const PlanYamlNode *key;
	PlanYamlNode *const *adopt, *const *format;
	int r;

	r = check_one_of(c, map, "migrations", "migration source", sources);
	if (r < 0)
		return r;
	if (map_key(map, "directory")) {
		for (size_t i = 0; i < ELEMENTSOF(command_only); i++) {
			key = map_key(map, command_only[i]);
			if (key)
				return plan_fail(
					c, key,
					"migrations.%s is only allowed with migrations.command",
					command_only[i]);
		}
	} else
		for (size_t i = 0; i < ELEMENTSOF(directory_only); i++) {
			key = map_key(map, directory_only[i]);
			if (key)
				return plan_fail(c, key,
						 "migrations.%s is only allowed with "
						 "migrations.directory (a command keeps its own "
						 "history)",
						 directory_only[i]);
		}
	/* Adopting reads another tool's history: the plan must say which tool. */
	adopt = map_find(map, "adopt");
	format = map_find(map, "format");
	if (adopt && adopt[1]->type == PLAN_YAML_SCALAR && adopt[1]->plain &&
	    strcmp(adopt[1]->value, "true") == 0 &&
	    (!format ||
	     (format[1]->type == PLAN_YAML_SCALAR && strcmp(format[1]->value, "deployd") == 0)))
		return plan_fail(c, adopt[0],
				 "migrations.adopt: true needs migrations.format: dbmate, "
				 "golang-migrate or flyway (the tool whose history to adopt)");
	return 0;
}

static int check_top_level(PlanContext *c, const PlanYamlNode *map)
{
	static const char *const required[] = {"version", "database", "migrations"};

	for (size_t i = 0; i < ELEMENTSOF(required); i++)
		if (!map_key(map, required[i]))
			return plan_fail(c, map, "missing required key '%s'", required[i]);
	return 0;
}

static int check_remote(PlanContext *c, const PlanYamlNode *map)
{
	static const char *const required[] = {"host", "units"};

	for (size_t i = 0; i < ELEMENTSOF(required); i++)
		if (!map_key(map, required[i]))
			return plan_fail(c, map, "services.remote: missing required key '%s'",
					 required[i]);
	return 0;
}

#define KEY(n, fn, type, field, ...)                                                               \
	{                                                                                          \
		.name = n, .parse = fn, .offset = offsetof(type, field), __VA_ARGS__               \
	}

static const KeySpec database_keys[] = {
	/* The conninfo keys fill two fields: their parser gets the whole PlanDatabase. */
	{.name = "conninfo", .parse = plan_value_conninfo, .flags = PG_CONNINFO_LITERAL},
	{.name = "conninfo_env", .parse = plan_value_conninfo, .flags = PG_CONNINFO_ENV},
	{.name = "conninfo_file", .parse = plan_value_conninfo, .flags = PG_CONNINFO_FILE},
	{.name = "credential", .parse = plan_value_conninfo, .flags = PG_CONNINFO_CREDENTIAL},
	KEY("lock_timeout", plan_value_duration, PlanDatabase, lock_timeout,
	    .flags = PLAN_VALUE_POSTGRES),
	KEY("statement_timeout", plan_value_duration, PlanDatabase, statement_timeout,
	    .flags = PLAN_VALUE_POSTGRES | PLAN_VALUE_ZERO_MEANS_OFF),
	KEY("idle_in_transaction_session_timeout", plan_value_duration, PlanDatabase,
	    idle_in_transaction_session_timeout,
	    .flags = PLAN_VALUE_POSTGRES | PLAN_VALUE_ZERO_MEANS_OFF),
	KEY("connect_timeout", plan_value_duration, PlanDatabase, connect_timeout),
	KEY("preflight_wait", plan_value_duration, PlanDatabase, preflight_wait,
	    .flags = PLAN_VALUE_ZERO_MEANS_OFF),
};

static int parse_remote(PlanContext *c, const char *label, const PlanYamlNode *v, unsigned flags,
			void *target);

static const Section sessions_section;

static const KeySpec services_keys[] = {
	KEY("bus", plan_value_bus, PlanServices, bus),
	KEY("units", plan_value_units, PlanServices, units),
	/* Fills two fields: its parser gets the whole PlanServices. */
	{.name = "remote", .parse = parse_remote},
	KEY("stop_timeout", plan_value_duration, PlanServices, stop_timeout),
	KEY("start_timeout", plan_value_duration, PlanServices, start_timeout),
	KEY("settle", plan_value_duration, PlanServices, settle,
	    .flags = PLAN_VALUE_ZERO_MEANS_OFF),
	KEY("sessions", NULL, PlanServices, sessions, .sub = &sessions_section),
};

static const KeySpec sessions_keys[] = {
	KEY("users", plan_value_globs, PlanSessions, users),
	KEY("applications", plan_value_globs, PlanSessions, applications),
};

static const KeySpec remote_keys[] = {
	KEY("host", plan_value_remote_host, PlanRemote, host),
	KEY("bus", plan_value_bus, PlanRemote, bus),
	KEY("units", plan_value_units, PlanRemote, units),
};

static const KeySpec idle_transactions_keys[] = {
	KEY("terminate", plan_value_bool, PlanIdleTransactions, terminate),
	KEY("older_than", plan_value_duration, PlanIdleTransactions, older_than),
};

static const KeySpec migrations_keys[] = {
	KEY("directory", plan_value_path, PlanMigrations, directory),
	KEY("command", plan_value_command, PlanMigrations, command),
	KEY("working_directory", plan_value_path, PlanMigrations, working_directory),
	KEY("environment", plan_value_environment, PlanMigrations, environment),
	KEY("table", plan_value_table, PlanMigrations, table),
	KEY("format", plan_value_migrations_format, PlanMigrations, format),
	KEY("adopt", plan_value_bool, PlanMigrations, adopt),
	KEY("lock_retries", plan_value_lock_retries, PlanMigrations, lock_retries),
	KEY("lock_retry_delay", plan_value_duration, PlanMigrations, lock_retry_delay,
	    .flags = PLAN_VALUE_ZERO_MEANS_OFF),
	/* deployd.plan(5): 0 = no watch. */
	KEY("lock_watch_interval", plan_value_duration, PlanMigrations, lock_watch_interval,
	    .flags = PLAN_VALUE_ZERO_MEANS_OFF),
};

static const KeySpec hooks_keys[] = {
	KEY("before_stop", plan_value_hook, PlanHooks, before_stop),
	KEY("after_migrate", plan_value_hook, PlanHooks, after_migrate),
	KEY("after_start", plan_value_hook, PlanHooks, after_start),
	KEY("timeout", plan_value_duration, PlanHooks, timeout),
};

static const Section database_section = {"database", database_keys, ELEMENTSOF(database_keys),
					 check_database};
static const Section services_section = {"services", services_keys, ELEMENTSOF(services_keys),
					 NULL};
static const Section sessions_section = {"services.sessions", sessions_keys,
					 ELEMENTSOF(sessions_keys), NULL};
static const Section remote_section = {"services.remote", remote_keys, ELEMENTSOF(remote_keys),
				       check_remote};
static const Section idle_transactions_section = {"idle_transactions", idle_transactions_keys,
						  ELEMENTSOF(idle_transactions_keys), NULL};
static const Section migrations_section = {"migrations", migrations_keys,
					   ELEMENTSOF(migrations_keys), check_migrations};
static const Section hooks_section = {"hooks", hooks_keys, ELEMENTSOF(hooks_keys), NULL};

static const KeySpec top_level_keys[] = {
	KEY("version", plan_value_version, Plan, version),
	KEY("description", plan_value_string, Plan, description),
	KEY("database", NULL, Plan, database, .sub = &database_section),
	KEY("services", NULL, Plan, services, .sub = &services_section),
	KEY("idle_transactions", NULL, Plan, idle_transactions, .sub = &idle_transactions_section),
	KEY("migrations", NULL, Plan, migrations, .sub = &migrations_section),
	KEY("on_failure", plan_value_on_failure, Plan, on_failure),
	KEY("hooks", NULL, Plan, hooks, .sub = &hooks_section),
};

static const Section top_level_section = {NULL, top_level_keys, ELEMENTSOF(top_level_keys),
					  check_top_level};

static const Section *const all_sections[] = {
	&top_level_section, &database_section,		&services_section,   &remote_section,
	&sessions_section,  &idle_transactions_section, &migrations_section, &hooks_section,
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

static int fail_unknown_key(PlanContext *c, const Section *s, const PlanYamlNode *key)
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
		return plan_fail(c, key, "unknown key '%s'%s (did you mean '%s'?)", quoted, where,
				 best);

	for (size_t i = 0; i < ELEMENTSOF(all_sections); i++) {
		const Section *other = all_sections[i];
		if (other == s || !section_find_key(other, key->value))
			continue;
		if (other->name)
			return plan_fail(c, key, "unknown key '%s'%s (did you mean '%s.%s'?)",
					 quoted, where, other->name, key->value);
		return plan_fail(c, key, "unknown key '%s'%s ('%s' belongs at the top level)",
				 quoted, where, key->value);
	}

	for (size_t i = 0; i < s->n_keys; i++) {
		char *grown;
		if (asprintf(&grown, "%s%s%s", known ? known : "", known ? ", " : "",
			     s->keys[i].name) < 0)
			return -ENOMEM;
		free(known);
		known = grown;
	}
	return plan_fail(c, key, "unknown key '%s'%s (known keys: %s)", quoted, where, known);
}

/* Every key a known scalar, none twice. */
static int check_keys(PlanContext *c, const Section *s, const PlanYamlNode *map)
{
	for (size_t i = 0; i < map->n_children; i += 2) {
		const PlanYamlNode *key = map->children[i];

		if (key->type != PLAN_YAML_SCALAR)
			return plan_fail(c, key, "%s%skeys must be strings, got %s",
					 s->name ? s->name : "", s->name ? ": " : "",
					 plan_yaml_describe(key));
		if (!section_find_key(s, key->value))
			return fail_unknown_key(c, s, key);
		/* All earlier keys are known and distinct, so this loop is short. */
		for (size_t j = 0; j < i; j += 2)
			if (strcmp(map->children[j]->value, key->value) == 0)
				return plan_fail(c, key, "duplicate key '%s' (first at line %zu)",
						 key->value, map->children[j]->line);
	}
	return 0;
}

static int parse_section(PlanContext *c, const Section *s, const PlanYamlNode *map, void *base)
{
	int r;

	if (map->type != PLAN_YAML_MAPPING)
		return plan_fail(c, map, "%s: expected a mapping, got %s",
				 s->name ? s->name : "plan", plan_yaml_describe(map));
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
		void *target = (char *)base + spec->offset;
		r = spec->sub ? parse_section(c, spec->sub, map->children[i + 1], target)
			      : spec->parse(c, label, map->children[i + 1], spec->flags, target);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- services.remote ---- */

static void remote_done(PlanRemote *r)
{
	free(r->host);
	strv_free(r->units);
	*r = (PlanRemote){};
}

static void remotes_free(PlanRemote *remotes, size_t n)
{
	for (size_t i = 0; remotes && i < n; i++)
		remote_done(&remotes[i]);
	free(remotes);
}

/* The value node of key in map (which has it). */
static const PlanYamlNode *map_value(const PlanYamlNode *map, const char *key)
{
	return map_find(map, key)[1];
}

typedef struct RemoteKey {
	const char *host;
	UnitsBus bus;
	size_t index;
} RemoteKey;

static bool remote_key_equal(const RemoteKey *x, const RemoteKey *y)
{
	return x->bus == y->bus && strcmp(x->host, y->host) == 0;
}

static int remote_key_compare(const void *a, const void *b)
{
	const RemoteKey *x = a, *y = b;
	int r = strcmp(x->host, y->host);

	if (r != 0)
		return r;
	if (x->bus != y->bus)
		return x->bus < y->bus ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* One manager per entry: the same host with the same bus twice is refused at the earliest
 * repetition (sorted, so that thousands of entries cost no more than a sort). */
static int check_remote_duplicates(PlanContext *c, const PlanYamlNode *list,
				   const PlanRemote *remotes, size_t n)
{
	_cleanup_free_ RemoteKey *keys = calloc(n ? n : 1, sizeof(RemoteKey));
	size_t dup = SIZE_MAX, first = SIZE_MAX, start = 0;
	char quoted[PLAN_YAML_QUOTE_MAX];

	if (!keys)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		keys[i] = (RemoteKey){remotes[i].host, remotes[i].bus, i};
	qsort(keys, n, sizeof(RemoteKey), remote_key_compare);
	/* Equal entries sort together, by their place in the list. */
	for (size_t i = 1; i < n; i++) {
		if (!remote_key_equal(&keys[start], &keys[i]))
			start = i;
		else if (i == start + 1 && keys[i].index < dup) {
			dup = keys[i].index;
			first = keys[start].index;
		}
	}
	if (dup == SIZE_MAX)
		return 0;
	return plan_fail(c, map_value(list->children[dup], "host"),
			 "services.remote.host: '%s' is listed twice with bus %s (first at line "
			 "%zu); list each of its units once",
			 plan_yaml_quote(remotes[dup].host, quoted),
			 plan_bus_to_string(remotes[dup].bus),
			 map_value(list->children[first], "host")->line);
}

/* services.remote: a list of mappings {host, bus, units}. */
static int parse_remote(PlanContext *c, const char *label, const PlanYamlNode *v,
			unsigned flags _unused_, void *target)
{
	PlanServices *services = target;
	PlanRemote *remotes;
	size_t n = v->n_children;
	int r;

	if (v->type != PLAN_YAML_SEQUENCE)
		return plan_fail(c, v,
				 "%s: expected a list of hosts (each with host, units and "
				 "optionally bus), got %s",
				 label, plan_yaml_describe(v));
	remotes = calloc(n ? n : 1, sizeof(PlanRemote));
	if (!remotes)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const PlanYamlNode *item = v->children[i];

		remotes[i].bus = UNITS_BUS_SYSTEM;
		r = parse_section(c, &remote_section, item, &remotes[i]);
		if (r >= 0 && !remotes[i].units[0])
			r = plan_fail(c, map_value(item, "units"),
				      "services.remote.units: a remote host needs at least one "
				      "unit");
		if (r < 0) {
			remotes_free(remotes, n);
			return r;
		}
	}
	r = check_remote_duplicates(c, v, remotes, n);
	if (r < 0) {
		remotes_free(remotes, n);
		return r;
	}
	remotes_free(services->remote, services->n_remote);
	services->remote = n > 0 ? remotes : NULL;
	services->n_remote = n;
	if (n == 0)
		free(remotes);
	return 0;
}

/* ---- the plan ---- */

/* A deploy stops the app before it migrates: a plan that names no unit would migrate under a
 * live app, the very thing deployd exists to prevent.  Refused at services.units (or where it
 * is missing). */
static int check_some_unit(PlanContext *c, const PlanYamlNode *root, const Plan *p)
{
	static const char why[] = "deployd stops the app's units before it migrates and starts "
				  "them after, so that no migration runs under a live app";
	PlanYamlNode *const *services = map_find(root, "services");

	if (plan_n_units(p) > 0)
		return 0;
	if (!services)
		return plan_fail(c, root,
				 "missing required key 'services' with at least one unit in "
				 "services.units or services.remote: %s",
				 why);
	PlanYamlNode *const *units =
		services[1]->type == PLAN_YAML_MAPPING ? map_find(services[1], "units") : NULL;
	return plan_fail(c, units ? units[1] : services[1],
			 "services.units: no unit named (nor any services.remote host): %s", why);
}

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
	p->database.preflight_wait = 10 * USEC_PER_SEC;
	p->services.bus = UNITS_BUS_SYSTEM;
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
	PlanContext c = {.path = path, .ret_error = ret_error};
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
		return plan_fail(&c, root,
				 "a plan is a mapping of keys (version: 1, database: …), got %s",
				 plan_yaml_describe(root));

	r = plan_new(path, &p);
	if (r < 0)
		return r;

	/* The version first: a newer plan's keys would otherwise look like mistakes. */
	version = map_find(root, "version");
	if (!version)
		return plan_fail(&c, root,
				 "missing required key 'version' (this format is version 1)");
	r = plan_value_version(&c, "version", version[1], 0, &p->version);
	if (r < 0)
		return r;

	r = parse_section(&c, &top_level_section, root, p);
	if (r < 0)
		return r;
	r = check_some_unit(&c, root, p);
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
static int read_plan_file(int fd, char **ret_data, size_t *ret_size)
{
	_cleanup_free_ char *data = NULL;
	size_t size = 0;

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

int plan_load_fd(int fd, const char *path, Plan **ret, char **ret_error)
{
	_cleanup_free_ char *data = NULL;
	size_t size = 0;
	int r;

	r = read_plan_file(fd, &data, &size);
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

int plan_load(const char *path, Plan **ret, char **ret_error)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		int r = -errno;
		char *msg;
		if (asprintf(&msg, "%s: cannot read plan: %s", path, strerror(-r)) < 0)
			return -ENOMEM;
		*ret_error = msg;
		return r;
	}
	return plan_load_fd(fd, path, ret, ret_error);
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
	remotes_free(p->services.remote, p->services.n_remote);
	strv_free(p->services.sessions.users);
	strv_free(p->services.sessions.applications);
	free(p->migrations.directory);
	strv_free(p->migrations.command);
	free(p->migrations.working_directory);
	strv_free(p->migrations.environment);
	free(p->migrations.table);
	plan_hook_list_done(&p->hooks.before_stop);
	plan_hook_list_done(&p->hooks.after_migrate);
	plan_hook_list_done(&p->hooks.after_start);
	free(p);
	return NULL;
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

size_t plan_n_units(const Plan *p)
{
	size_t n = strv_length(p->services.units);

	for (size_t i = 0; i < p->services.n_remote; i++)
		n += strv_length(p->services.remote[i].units);
	return n;
}

/* The one table of each enum's names, read both ways. */
static const char *const bus_names[] = {
	[UNITS_BUS_SYSTEM] = "system",
	[UNITS_BUS_USER] = "user",
};

static const char *const on_failure_names[] = {
	[PLAN_ON_FAILURE_LEAVE_STOPPED] = "leave-stopped",
	[PLAN_ON_FAILURE_START] = "start",
};

static int lookup(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (names[i] && strcmp(names[i], s) == 0)
			return (int)i;
	return -EINVAL;
}

const char *plan_bus_to_string(UnitsBus b)
{
	return (unsigned)b < ELEMENTSOF(bus_names) ? bus_names[b] : NULL;
}

int plan_bus_from_string(const char *s)
{
	return lookup(bus_names, ELEMENTSOF(bus_names), s);
}

int plan_on_failure_from_string(const char *s)
{
	return lookup(on_failure_names, ELEMENTSOF(on_failure_names), s);
}

const char *plan_conninfo_source_to_string(PgConninfoSource s)
{
	static const char *const names[] = {
		[PG_CONNINFO_LITERAL] = "conninfo",
		[PG_CONNINFO_ENV] = "conninfo_env",
		[PG_CONNINFO_FILE] = "conninfo_file",
		[PG_CONNINFO_CREDENTIAL] = "credential",
	};

	return (unsigned)s < ELEMENTSOF(names) ? names[s] : NULL;
}

const char *plan_on_failure_to_string(PlanOnFailure f)
{
	return (unsigned)f < ELEMENTSOF(on_failure_names) ? on_failure_names[f] : NULL;
}

PgSessionSettings plan_database_session_settings(const PlanDatabase *db,
						 const char *application_name)
{
	return (PgSessionSettings){
		.application_name = application_name,
		.connect_timeout = db->connect_timeout,
		.lock_timeout = db->lock_timeout,
		.statement_timeout = db->statement_timeout,
		.idle_in_transaction_session_timeout = db->idle_in_transaction_session_timeout,
	};
}
