/* deploy-lockwatch.h — the lock watch of a running migration, as events.
 *
 * A DeployLockwatch owns a second session (autocommit) that checks, every
 * lock_watch_interval while a migration statement or command runs, whether
 * the migration waits on a lock (lockwatch.h).  deploy_lockwatch_tick() fits
 * PgWaitHooks.tick: when the set of blockers changes to a non-empty one it
 * sends one lock-wait event per blocker.  deploy_lockwatch_report_timeout()
 * sends lock-timeout events from the last snapshot that saw the migration
 * wait (after the failure the server no longer shows it; a check may even
 * land between the server's timeout and our reading of it).  A watch that
 * fails never fails the migration: it says so once and falls silent. */
#pragma once

#include <libpq-fe.h>

#include "event.h"
#include "pg.h"

typedef struct DeployLockwatch DeployLockwatch;

/* Receives each event (consumed); the caller adds DEPLOY_ID and DEPLOY_PLAN. */
typedef void (*DeployLockwatchSend)(Event *ev, void *userdata);

int deploy_lockwatch_new(const char *conninfo, const PgSessionSettings *settings,
			 const PgWaitHooks *connect_hooks, DeployLockwatchSend send, void *userdata,
			 DeployLockwatch **ret);
DeployLockwatch *deploy_lockwatch_free(DeployLockwatch *w);
static inline void deploy_lockwatch_freep(DeployLockwatch **w)
{
	deploy_lockwatch_free(*w);
}

/* What to watch: our migration session, or a migration command's sessions. */
int deploy_lockwatch_watch_pid(DeployLockwatch *w, int pid);
int deploy_lockwatch_watch_application(DeployLockwatch *w, const char *application_name);

/* A new migration begins: what was seen before is not its blockers. */
void deploy_lockwatch_forget(DeployLockwatch *w);
/* PgWaitHooks.tick; always 0 (a watch failure never cancels a migration). */
int deploy_lockwatch_tick(void *userdata);
/* 1 when the last check saw the migration waiting. */
int deploy_lockwatch_waiting(const DeployLockwatch *w);
void deploy_lockwatch_report_timeout(DeployLockwatch *w);
