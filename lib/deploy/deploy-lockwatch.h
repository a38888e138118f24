/* deploy-lockwatch.h — the watch of a running migration, as events: who blocks it, and how
 * far it has got.
 *
 * A DeployLockwatch reads over a second session (autocommit, idle outside a transaction), the
 * caller's: deploy_lockwatch_new() sends what makes it ready (watch-session.h) without waiting,
 * so that the server warms it while the caller goes on; the first check, or
 * deploy_lockwatch_settle() before the caller uses the session for anything else, takes the
 * results (deploy_lockwatch_preparing() asks whether they are in).  deploy_lockwatch_tick() fits
 * PgWaitHooks.tick (and SpawnOptions.tick), called on the schedule of tick-schedule.h from the
 * moment a statement is sent (DEPLOY_LOCKWATCH_FIRST_CHECK, its doubles, then lock_watch_interval):
 * a wait that begins with the statement is named within about one check of its start, a statement
 * that ends within the first delay costs no check at all, and a long one costs one check per
 * interval.  Each check is ONE cheap look at the migration's sessions (progress.h); only when one
 * of them waits on a lock does it run the lock check (lockwatch.h), and when the set of blockers
 * changes to a non-empty one it sends one lock-wait event per blocker.
 * deploy_lockwatch_report_timeout() sends lock-timeout events from the last snapshot that saw the
 * migration wait (after the failure the server no longer shows it; a check may even land between
 * the server's timeout and our reading of it).
 *
 * Progress: once a statement has run DEPLOY_LOCKWATCH_PROGRESS_AFTER, a check that finds it
 * in a progress view sends migration-progress, at most one per
 * DEPLOY_LOCKWATCH_PROGRESS_EVERY and only when a count, the phase or the command changed;
 * the percentage never falls within one phase's count.  A statement no view shows gets a
 * migration-running heartbeat every DEPLOY_LOCKWATCH_HEARTBEAT_EVERY of its run.  The first
 * such event of a statement has priority info, later ones debug; when the statement ends
 * (the watch sees another statement or none, or deploy_lockwatch_end() is called) the last
 * one, if it went out at debug, is sent once more at info, so the journal at info holds the
 * first and the last of each statement.  A command's sessions are followed one statement at
 * a time: one in a progress view first, else the one that has run longest.
 *
 * A watch that fails never fails the migration: it says so once and falls silent. */
#pragma once

#include <libpq-fe.h>

#include "event.h"

#define DEPLOY_LOCKWATCH_FIRST_CHECK (10 * USEC_PER_MSEC)
#define DEPLOY_LOCKWATCH_PROGRESS_AFTER (1 * USEC_PER_SEC)
#define DEPLOY_LOCKWATCH_PROGRESS_EVERY (1 * USEC_PER_SEC)
#define DEPLOY_LOCKWATCH_HEARTBEAT_EVERY (5 * USEC_PER_SEC)

typedef struct DeployLockwatch DeployLockwatch;

/* Receives each event (consumed); the caller adds DEPLOY_ID and DEPLOY_PLAN. */
typedef void (*DeployLockwatchSend)(Event *ev, void *userdata);

/* conn stays the caller's and must outlive the watch. */
int deploy_lockwatch_new(PGconn *conn, DeployLockwatchSend send, void *userdata,
			 DeployLockwatch **ret);
/* The session's preparation is over (its results taken): the caller may use conn. */
void deploy_lockwatch_settle(DeployLockwatch *w);
/* Whether the preparation still runs on the server, without waiting: when its results are in,
 * they are taken (deploy_lockwatch_settle()). */
bool deploy_lockwatch_preparing(DeployLockwatch *w);
DeployLockwatch *deploy_lockwatch_free(DeployLockwatch *w);
static inline void deploy_lockwatch_freep(DeployLockwatch **w)
{
	deploy_lockwatch_free(*w);
}

/* What to watch: our migration session, or a migration command's sessions. */
int deploy_lockwatch_watch_pid(DeployLockwatch *w, int pid);
int deploy_lockwatch_watch_application(DeployLockwatch *w, const char *application_name);

/* The migration whose statements run from now on: what was seen before is not its blockers,
 * and its progress events carry its version (NULL for a migration command) and name.  Call it
 * before the migration's first statement is sent; with several migrations in one message,
 * call it again whenever the running one changes. */
int deploy_lockwatch_begin(DeployLockwatch *w, const char *version, const char *name);
/* The migration ended (applied or failed): its last progress event goes out at info. */
void deploy_lockwatch_end(DeployLockwatch *w);
/* PgWaitHooks.tick; always 0 (a watch failure never cancels a migration). */
int deploy_lockwatch_tick(void *userdata);
/* 1 when the last check saw the migration waiting. */
int deploy_lockwatch_waiting(const DeployLockwatch *w);
void deploy_lockwatch_report_timeout(DeployLockwatch *w);
