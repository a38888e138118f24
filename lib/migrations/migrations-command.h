/* migrations-command.h — command migrations: the plan's program applies them itself.
 *
 * The program runs with an environment built here, nothing else inherited: PATH (the
 * caller's, else a default), LANG, LC_ALL, TZ and HOME when set; then the plan's environment;
 * then PGOPTIONS (the plan's three timeouts and client_connection_check_interval),
 * PGAPPNAME=deployd-migrate/DEPLOY_ID, DATABASE_URL (a postgresql:// URI of the conninfo with
 * that application name and those options, for clients that ignore PGOPTIONS/PGAPPNAME),
 * DEPLOY_ID, DEPLOY_PLAN and DEPLOY_RELEASE.  Its total run time is bounded by
 * migrations_command_timeout().  Sessions it leaves behind are found by application name. */
#pragma once

#include "pg-options.h"
#include "time-util.h"

#define MIGRATIONS_COMMAND_APPLICATION_PREFIX "deployd-migrate/"
#define MIGRATIONS_COMMAND_DEFAULT_PATH                                                            \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* The run-time bound is this many times statement_timeout … */
#define MIGRATIONS_COMMAND_TIMEOUT_FACTOR 10
/* … or this when statement_timeout is 0 (off). */
#define MIGRATIONS_COMMAND_TIMEOUT_DEFAULT (1 * USEC_PER_HOUR)

/* What the plan says about the command (migrations.command, working_directory, environment). */
typedef struct MigrationsCommand {
	char **argv;		       /* the program and its arguments */
	const char *working_directory; /* may be NULL */
	char **environment;	       /* KEY=VALUE, may be NULL */
	const char *plan_name;	       /* DEPLOY_PLAN; may be NULL ("") */
	PgSessionSettings session; /* the timeouts its sessions get (application_name ignored) */
} MigrationsCommand;

/* "deployd-migrate/DEPLOY_ID". */
int migrations_command_application_name(const char *deploy_id, char **ret);
/* The environment (strv of KEY=VALUE) the program runs with; release may be NULL (""). */
int migrations_command_environment(const MigrationsCommand *c, const char *conninfo,
				   const char *deploy_id, const char *release, char ***ret);
/* Preflight: the working directory is a directory and the program is found and executable
 * (looked up in the PATH it will get).  On failure *ret_error says what is wrong. */
int migrations_command_check(const MigrationsCommand *c, char **ret_error);
/* The bound on the program's run time for a plan's statement_timeout (0 = off). */
usec_t migrations_command_timeout(usec_t statement_timeout);
