/* deploy-migrate.h — the database's part of a deploy: its preflight, the idle phase and the
 * migrate phase, reported as events through the deploy context (deploy-context.h).
 *
 * deploy_migrate_preflight() touches nothing: it resolves the conninfo, reads and checks the
 * migration files (or the migration command), connects, takes the deploy lock on a session of
 * its own, reads the history (refusing changed checksums) and finds what is pending.  Once it
 * has the conninfo it sets the context's secrets (every form of its password), which
 * deploy_emit() redacts from every later event and which command output is redacted of.
 * deploy_migrate_apply() applies the pending migrations fail-fast (or runs the migration
 * command, then terminates any session it left behind).  Each reports migration-started/
 * -applied/-failed, command-output, and deploy-failed for a failure no other event explains,
 * and returns as every phase does (deploy-context.h): 0, -EBUSY (another deploy holds the
 * lock; the message names it and its host), -ECANCELED, -ENOMEM, or another -errno for a
 * failure its events explain.  Sessions are named deployd/DEPLOY_ID, the deploy lock's
 * deployd/DEPLOY_ID@HOST, a migration command's deployd-migrate/DEPLOY_ID.
 * deploy_migrate_free() closes the sessions, which frees the deploy lock.
 *
 * A dry run (the request's dry_run) takes the lock and reads the history like a real one, then
 * reports each pending migration as a migration-pending event.  The idle-transaction
 * terminator runs on the migration session: deploy_migrate_idle_preflight() checks in the
 * preflight that the role may see and signal other roles' sessions (and in a dry run lists
 * those it would end as idle-found events); deploy_migrate_idle_terminate() is the idle
 * phase, one idle-terminated event per session, never one of the deploy's own. */
#pragma once

#include <libpq-fe.h>

#include "deploy-context.h"
#include "migrations.h"
#include "time-util.h"

#define DEPLOY_MIGRATE_APPLICATION_PREFIX "deployd/"

typedef struct DeployMigrate DeployMigrate;

/* ctx must outlive the result. */
int deploy_migrate_new(DeployContext *ctx, DeployMigrate **ret);
DeployMigrate *deploy_migrate_free(DeployMigrate *m);
static inline void deploy_migrate_freep(DeployMigrate **m)
{
	deploy_migrate_free(*m);
}

int deploy_migrate_preflight(DeployMigrate *m);
/* The delay before lock-timeout retry attempt (1-based): lock_retry_delay doubling each time,
 * plus a jitter of up to a tenth drawn from getrandom() (random-util.h), so that deploys
 * retrying against one blocker do not march in step. */
usec_t deploy_migrate_retry_delay(const PlanMigrations *pm, unsigned attempt);
/* Only after a successful preflight (else -ESTALE). */
int deploy_migrate_apply(DeployMigrate *m);
/* After a successful preflight, when idle transactions are to be terminated: fails (with a
 * deploy-failed event naming the missing role and its GRANT) when the role may not see or
 * signal other roles' sessions. */
int deploy_migrate_idle_preflight(DeployMigrate *m, usec_t older_than);
/* The idle phase: terminates sessions idle in transaction for longer than older_than. */
int deploy_migrate_idle_terminate(DeployMigrate *m, usec_t older_than);

/* Pending directory migrations found by the preflight. */
size_t deploy_migrate_n_pending(const DeployMigrate *m);
/* Those migrations, in the order they would apply (n_pending of them). */
Migration *const *deploy_migrate_pending(const DeployMigrate *m);

/* The migration session, idle between phases (NULL before the preflight connected it), and
 * the backend pids of the deploy's own sessions (the deploy lock's and the migration's): the
 * lock preflight reads over the one and never counts the others as blockers. */
PGconn *deploy_migrate_connection(const DeployMigrate *m);
size_t deploy_migrate_own_pids(const DeployMigrate *m, int ret_pids[static 2]);
