/* deploy-migrate.h — the preflight and migrate phases of a deploy, reported as events.
 *
 * deploy_migrate_preflight() touches nothing: it resolves the conninfo, reads and checks the
 * migration files (or the migration command), connects, takes the deploy lock on a session of
 * its own, reads the history (refusing changed checksums) and finds what is pending.
 * deploy_migrate_apply() applies the pending migrations fail-fast (or runs the migration
 * command, then terminates any session it left behind).  Each phase reports through the sink
 * (migration-started/-applied/-failed, command-output, and deploy-failed for a failure no other
 * event explains) and returns a DeployExit: OK, BUSY (another deploy holds the lock; the
 * message names it and its host), PREFLIGHT, MIGRATE, CANCELLED or INTERNAL.  Sessions are
 * named deployd/DEPLOY_ID, the deploy lock's deployd/DEPLOY_ID@HOST, a migration command's
 * deployd-migrate/DEPLOY_ID.  deploy_migrate_free()
 * closes the sessions, which frees the deploy lock.  deploy_migrate_run() runs both phases for
 * a plan without units, framed by phase-started/phase-finished events.
 *
 * A dry run (options.dry_run) takes the lock and reads the history like a real one, then
 * reports each pending migration as a migration-pending event.  The idle-transaction
 * terminator runs on the migration session: deploy_migrate_idle_preflight() checks in the
 * preflight that the role may see and signal other roles' sessions (and in a dry run lists
 * those it would end as idle-found events); deploy_migrate_idle_terminate() is the idle
 * phase, one idle-terminated event per session, never one of the deploy's own. */
#pragma once

#include <libpq-fe.h>

#include "event.h"
#include "migrations.h"
#include "exit-code.h"
#include "plan.h"
#include "time-util.h"

#define DEPLOY_MIGRATE_APPLICATION_PREFIX "deployd/"

typedef struct DeployMigrateOptions {
	const char *deploy_id;	/* 32 hex digits */
	const char *release;	/* DEPLOY_RELEASE; may be NULL */
	const char *applied_by; /* the history's applied_by; NULL: the database user */
	int cancel_fd;		/* readable = cancel (deployctl cancel, SIGTERM); -1: none */
	usec_t command_timeout; /* 0: migrations_command_timeout() */
	/* Called every tick_interval while a statement or the migration command runs (the lock
	 * watch plugs in here); a negative return cancels like cancel_fd.  May be NULL. */
	int (*tick)(void *userdata);
	usec_t tick_interval;
	void *tick_userdata;
	bool dry_run; /* preflight reports what would be done (migration-pending, idle-found) */
	/* This machine as the deploy lock's session names it; NULL: its host name. */
	const char *host;
} DeployMigrateOptions;

typedef struct DeployMigrate DeployMigrate;

/* plan must outlive the context; options are copied; sink may be NULL (no events).  -EINVAL
 * for a bad deploy_id. */
int deploy_migrate_new(const Plan *plan, const DeployMigrateOptions *o, EventSink sink,
		       void *userdata, DeployMigrate **ret);
DeployMigrate *deploy_migrate_free(DeployMigrate *m);
static inline void deploy_migrate_freep(DeployMigrate **m)
{
	deploy_migrate_free(*m);
}

DeployExit deploy_migrate_preflight(DeployMigrate *m);
/* Only after a successful preflight. */
DeployExit deploy_migrate_apply(DeployMigrate *m);
/* After a successful preflight, when idle transactions are to be terminated: PREFLIGHT (with a
 * deploy-failed event naming the missing role and its GRANT) when the role may not see or
 * signal other roles' sessions. */
DeployExit deploy_migrate_idle_preflight(DeployMigrate *m, usec_t older_than);
/* The idle phase: terminates sessions idle in transaction for longer than older_than.
 * MIGRATE when that fails (the units are stopped by then: the deploy cannot go on). */
DeployExit deploy_migrate_idle_terminate(DeployMigrate *m, usec_t older_than);

/* Pending directory migrations found by the preflight. */
size_t deploy_migrate_n_pending(const DeployMigrate *m);
/* Those migrations, in the order they would apply (n_pending of them). */
Migration *const *deploy_migrate_pending(const DeployMigrate *m);
/* The backend pid of the session that runs directory migrations (0 before the preflight
 * connected it); a command's sessions are named migrations_command_application_name(). */
int deploy_migrate_session_pid(const DeployMigrate *m);

/* The migration session, idle between phases (NULL before the preflight connected it), and
 * the backend pids of the deploy's own sessions (the deploy lock's and the migration's): the
 * lock preflight reads over the one and never counts the others as blockers. */
PGconn *deploy_migrate_connection(const DeployMigrate *m);
size_t deploy_migrate_own_pids(const DeployMigrate *m, int ret_pids[static 2]);

DeployExit deploy_migrate_run(const Plan *plan, const DeployMigrateOptions *o, EventSink sink,
			      void *userdata);
