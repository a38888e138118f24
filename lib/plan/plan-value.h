/* plan-value.h — the typed values of plan keys, the layer under plan.c.
 *
 * Each plan_value_*() checks one YAML node against what its key holds and
 * writes one field (target), or returns -EBADMSG with "FILE:LINE:COLUMN:
 * LABEL: message" in *c->ret_error, naming the offending node (the item of
 * a list, the key of an environment entry).  label is the key's dotted
 * name, e.g. "database.lock_timeout".  -ENOMEM on allocation failure;
 * target is only written on success.  Echoed user text is shortened and
 * escaped; a conninfo is never echoed (it may hold a password). */
#pragma once

#include "plan-yaml.h"
#include "plan.h"

typedef struct PlanContext {
	const char *path; /* for messages */
	char **ret_error;
} PlanContext;

/* Flags for plan_value_duration(). */
enum {
	PLAN_VALUE_ZERO_MEANS_OFF = 1 << 0, /* 0 allowed */
	PLAN_VALUE_POSTGRES = 1 << 1,	    /* handed to PostgreSQL: at most INT_MAX ms */
};

typedef int (*PlanValueParser)(PlanContext *c, const char *label, const PlanYamlNode *v,
			       unsigned flags, void *target);

/* Formats the message at node n; returns -EBADMSG (or -ENOMEM). */
int plan_fail(PlanContext *c, const PlanYamlNode *n, const char *fmt, ...) _printf_(3, 4);

/* char **: a non-empty string. */
int plan_value_string(PlanContext *c, const char *label, const PlanYamlNode *v, unsigned flags,
		      void *target);
/* char **: an absolute path. */
int plan_value_path(PlanContext *c, const char *label, const PlanYamlNode *v, unsigned flags,
		    void *target);
/* usec_t *: a duration (duration.h), never 0 unless PLAN_VALUE_ZERO_MEANS_OFF. */
int plan_value_duration(PlanContext *c, const char *label, const PlanYamlNode *v, unsigned flags,
			void *target);
/* bool *: unquoted true or false. */
int plan_value_bool(PlanContext *c, const char *label, const PlanYamlNode *v, unsigned flags,
		    void *target);
/* unsigned *: an unquoted whole number from 0 to PLAN_LOCK_RETRIES_MAX. */
int plan_value_lock_retries(PlanContext *c, const char *label, const PlanYamlNode *v,
			    unsigned flags, void *target);
/* int *: the unquoted number 1; other numbers are "unsupported plan version". */
int plan_value_version(PlanContext *c, const char *label, const PlanYamlNode *v, unsigned flags,
		       void *target);
/* UnitsBus *: system or user. */
int plan_value_bus(PlanContext *c, const char *label, const PlanYamlNode *v, unsigned flags,
		   void *target);
/* PlanOnFailure *: leave-stopped or start. */
int plan_value_on_failure(PlanContext *c, const char *label, const PlanYamlNode *v, unsigned flags,
			  void *target);
/* MigrationsFormat *: deployd, dbmate, golang-migrate or flyway. */
int plan_value_migrations_format(PlanContext *c, const char *label, const PlanYamlNode *v,
				 unsigned flags, void *target);
/* char **: NAME or SCHEMA.NAME, each [A-Za-z_][A-Za-z0-9_]{0,62}. */
int plan_value_table(PlanContext *c, const char *label, const PlanYamlNode *v, unsigned flags,
		     void *target);
/* PlanDatabase *: the connection; flags is the PgConninfoSource the key names. */
int plan_value_conninfo(PlanContext *c, const char *label, const PlanYamlNode *v, unsigned flags,
			void *target);
/* char ***: a list of unit names (no templates, none twice). */
int plan_value_units(PlanContext *c, const char *label, const PlanYamlNode *v, unsigned flags,
		     void *target);
/* char ***: a non-empty list of non-empty glob patterns (fnmatch(3)). */
int plan_value_globs(PlanContext *c, const char *label, const PlanYamlNode *v, unsigned flags,
		     void *target);
/* char **: an ssh destination [user@]host[:port] (remote-host.h). */
int plan_value_remote_host(PlanContext *c, const char *label, const PlanYamlNode *v, unsigned flags,
			   void *target);
/* char ***: one argv, a non-empty list of strings. */
int plan_value_command(PlanContext *c, const char *label, const PlanYamlNode *v, unsigned flags,
		       void *target);
/* char ***: a mapping NAME: value as "NAME=value" strings. */
int plan_value_environment(PlanContext *c, const char *label, const PlanYamlNode *v, unsigned flags,
			   void *target);
/* PlanHookList *: [] (none), one argv, or a list of argvs. */
int plan_value_hook(PlanContext *c, const char *label, const PlanYamlNode *v, unsigned flags,
		    void *target);

/* Frees a hook list's commands and empties it. */
void plan_hook_list_done(PlanHookList *h);
