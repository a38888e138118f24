/* plan.h — a deploy plan (deployd.plan(5), version 1), loaded from YAML.
 *
 * plan_load() parses and validates a plan file with libyaml and fills in
 * every default.  On failure it returns a negative errno and, in
 * *ret_error, one line "FILE:LINE:COLUMN: message" naming the offending
 * node (plans are refused over 1 MiB, with aliases/anchors, or when not
 * UTF-8).  It never prints.  A Plan is freed with plan_free().
 *
 * Errors: -EBADMSG for an invalid plan, -ENOMEM, or the -errno of opening
 * or reading the file (then *ret_error is "FILE: cannot read plan: …").
 * Strict, as deployd.plan(5) says: booleans are true or false only (not yes/no);
 * tags and more than one YAML document are refused; paths (directory,
 * working_directory, conninfo_file) must be absolute; PostgreSQL timeouts
 * are at most 2147483647ms; migrations.environment may not set the
 * variables deployd sets itself (DATABASE_URL, PGOPTIONS, PGAPPNAME,
 * DEPLOY_ID, DEPLOY_PLAN, DEPLOY_RELEASE); a unit may not be listed twice;
 * a duration may be 0 only where the comment below says "0 = off"; a remote
 * host (remote-host.h) needs at least one unit and may not be listed twice
 * with the same bus. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "cleanup.h"
#include "migration-format.h"
#include "name-rules.h"
#include "pg-options.h"
#include "time-util.h"
#include "units.h"

#define PLAN_MAX_BYTES (1024 * 1024)
#define PLAN_DEFAULT_TABLE "deployd_schema_migrations"
#define PLAN_LOCK_RETRIES_MAX 100

typedef enum PlanOnFailure {
	PLAN_ON_FAILURE_LEAVE_STOPPED,
	PLAN_ON_FAILURE_START,
} PlanOnFailure;

typedef struct PlanDatabase {
	PgConninfoSource conninfo_source; /* conninfo | conninfo_env | conninfo_file | credential */
	char *conninfo; /* per conninfo_source: the conninfo, variable, path or credential name */
	usec_t lock_timeout;			    /* default 5s; never 0 (fail fast) */
	usec_t statement_timeout;		    /* default 120s; 0 = off */
	usec_t idle_in_transaction_session_timeout; /* default 60s; 0 = off */
	usec_t connect_timeout;			    /* default 10s; never 0 */
	/* How long the preflight waits for an outside session in the way of the migrations'
	 * locks to go before it refuses the deploy; default 10s; 0 = off (refuse at once). */
	usec_t preflight_wait;
} PlanDatabase;

/* One entry of services.remote: units of a manager on another machine, reached over ssh. */
typedef struct PlanRemote {
	char *host;   /* "[user@]host[:port]" as written, valid for remote_host_parse() */
	UnitsBus bus; /* that host's manager; default system */
	char **units; /* strv of valid unit names, at least one */
} PlanRemote;

/* services.sessions: the database sessions of the plan's units, for where deployd cannot tell
 * them from their sockets (units on other hosts, a pooler, Unix sockets).  fnmatch(3) globs;
 * each list NULL when not given, else non-empty. */
typedef struct PlanSessions {
	char **users;	     /* pg_stat_activity.usename */
	char **applications; /* pg_stat_activity.application_name */
} PlanSessions;

typedef struct PlanServices {
	UnitsBus bus;	    /* default system */
	char **units;	    /* strv of valid unit names (no templates), never NULL, may be empty */
	PlanRemote *remote; /* services.remote: n_remote entries, NULL when there are none */
	size_t n_remote;
	usec_t stop_timeout;  /* default 90s */
	usec_t start_timeout; /* default 90s */
	usec_t settle;	      /* default 0 = off */
	PlanSessions sessions;
} PlanServices;

typedef struct PlanIdleTransactions {
	bool terminate;	   /* default false */
	usec_t older_than; /* default 60s; never 0 */
} PlanIdleTransactions;

typedef struct PlanMigrations {
	char *directory;	 /* exactly one of directory and command is set */
	char **command;		 /* argv strv, at least the program */
	char *working_directory; /* command only; may be NULL */
	char **environment;	 /* command only (then never NULL); strv of "KEY=VALUE" */
	char *table;		 /* directory only (NULL with command): default
				    PLAN_DEFAULT_TABLE; may be "schema.table" */
	MigrationsFormat format; /* directory only: the files' layout, default deployd */
	bool adopt; /* directory only, not with format deployd: on the first deploy, record
		       the format's tool's history as applied (default false) */
	unsigned lock_retries;	    /* default 0, at most PLAN_LOCK_RETRIES_MAX */
	usec_t lock_retry_delay;    /* default 10s; 0 = off (retry at once) */
	usec_t lock_watch_interval; /* default 500ms; 0 = no watch */
} PlanMigrations;

/* A hook key holds one argv ([prog, arg…]) or a list of them; [] is none. */
typedef struct PlanHookList {
	char ***commands; /* NULL-terminated array of argv strvs, never NULL */
	size_t n_commands;
} PlanHookList;

typedef struct PlanHooks {
	PlanHookList before_stop;
	PlanHookList after_migrate;
	PlanHookList after_start;
	usec_t timeout; /* hooks.timeout, default 60s, per command; never 0 */
} PlanHooks;

typedef struct Plan {
	char *path;	   /* the file it was loaded from */
	char *name;	   /* file name without directory and ".yaml" */
	int version;	   /* 1 */
	char *description; /* may be NULL */
	PlanDatabase database;
	PlanServices services;
	PlanIdleTransactions idle_transactions;
	PlanMigrations migrations;
	PlanOnFailure on_failure; /* default leave-stopped */
	PlanHooks hooks;
} Plan;

int plan_load(const char *path, Plan **ret, char **ret_error);
/* Reads the plan from fd (one already opened and judged, plan-trust.h); path is used for
 * messages only. */
int plan_load_fd(int fd, const char *path, Plan **ret, char **ret_error);
/* Parses a plan from memory; path is used for messages only. */
int plan_parse(const char *path, const char *data, size_t size, Plan **ret, char **ret_error);
Plan *plan_free(Plan *p);
static inline void plan_freep(Plan **p)
{
	plan_free(*p);
}

/* Resolves NAME in dir to "dir/NAME.yaml"; -EINVAL for a bad name. */
int plan_path_for_name(const char *dir, const char *name, char **ret);

/* How many units the plan stops and starts, on this host and on every remote host. */
size_t plan_n_units(const Plan *p);

/* The database settings as the pg layer takes them, with the given application_name. */
PgSessionSettings plan_database_session_settings(const PlanDatabase *db,
						 const char *application_name);

const char *plan_bus_to_string(UnitsBus b);
const char *plan_conninfo_source_to_string(PgConninfoSource s);
const char *plan_on_failure_to_string(PlanOnFailure f);
/* The enum value of a name, as the plan format writes it; -EINVAL for none. */
int plan_bus_from_string(const char *s);
int plan_on_failure_from_string(const char *s);
