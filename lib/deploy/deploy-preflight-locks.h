/* deploy-preflight-locks.h — before anything is stopped: would the migrations' locks wait on
 * someone stopping the units cannot end?  And after the stop: are the units' sessions gone?
 *
 * deploy_preflight_locks_check() (the preflight, after the units' managers were reached) takes
 * the pending migrations' locks from the lock forecast (forecast.h; a forecast that fails
 * fails the preflight; a migration command has no SQL, hence no requests), finds the sessions
 * holding or queued for a lock that conflicts with them (blockers.h) and attributes each
 * (blocker-owner.h): this machine's TCP sockets come from the kernel's socket diagnostics, the
 * units' cgroups from their managers (ControlGroup); services.sessions decides where given.
 * The units' own sessions are fine (preflight-blocker, stops-with-units), unknown ones are
 * warned about (may-wait) and do not refuse.  Outside ones: with --terminate-idle those idle
 * in a transaction for longer than idle_transactions.older_than are terminated at once
 * (idle-terminated events, as the idle phase reports them); for the rest the preflight waits
 * up to database.preflight_wait, reporting them once (waiting), and refuses when any is left:
 * one preflight-blocker event per blocker (refused for the outside ones), a deploy-failed
 * event, -ENOLCK (exit code 5); nothing was stopped.  A dry run looks and reports the same way
 * but terminates nothing.
 *
 * deploy_preflight_locks_after_stop() (after the stop phase, before the idle phase and the
 * migrations) waits up to DEPLOY_LEFTOVER_GRACE_USEC for the sessions the preflight found to
 * be the units' to end, then reports each that is still in the way (leftover: a pooler, a
 * forked child outside the stop's reach); with --terminate-idle it terminates them
 * (terminated).  It never fails the deploy: the lock watch names whatever the migration then
 * waits on.  Both return as phases do (deploy-context.h): 0 (at once when there are no
 * requests), -ECANCELED, -ENOMEM, or -EIO/-ENOLCK for a failure their events explain. */
#pragma once

#include "blocker-owner.h"
#include "blockers.h"
#include "deploy-context.h"
#include "deploy-migrate.h"
#include "deploy-units.h"

#define DEPLOY_LEFTOVER_GRACE_USEC (2 * USEC_PER_SEC)
/* How often the preflight looks again while it waits for outside blockers to go. */
#define DEPLOY_PREFLIGHT_POLL_USEC (200 * USEC_PER_MSEC)

typedef struct DeployPreflightLocks {
	LockRequest *requests; /* modes point to lock_mode_to_string()'s names */
	size_t n_requests;
	BlockerOwnerUnit *units; /* this machine's units; names are the plan's */
	size_t n_units;
	bool units_incomplete;
	int *unit_pids; /* the sessions the preflight attributed to the units */
	size_t n_unit_pids;
} DeployPreflightLocks;

/* Copies the requests (deploy_preflight_locks_check() sets them from the forecast); -EINVAL
 * for a mode that is not a table lock mode. */
int deploy_preflight_locks_set_requests(DeployPreflightLocks *p, const LockRequest *requests,
					size_t n);
void deploy_preflight_locks_done(DeployPreflightLocks *p);

int deploy_preflight_locks_check(DeployPreflightLocks *p, DeployContext *ctx, DeployMigrate *db,
				 const DeployUnits *u);
int deploy_preflight_locks_after_stop(DeployPreflightLocks *p, DeployContext *ctx,
				      DeployMigrate *db);
