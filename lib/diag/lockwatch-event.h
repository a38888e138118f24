/* lockwatch-event.h — a lock-wait or lock-timeout event for one blocker.
 *
 * lockwatch_blocker_to_event() fills the event the pipeline sends for one LockBlocker:
 * priority (LOG_WARNING for lock-wait, LOG_ERR for lock-timeout), MESSAGE (the sentence of
 * lockwatch_blocker_message() for a migration) and every field deployd(8) (JOURNAL) lists
 * for these events, each present (empty when the server did not say): BLOCKED_PID,
 * LOCK_WAIT_MS (how long the blocked session had waited when the check saw it), BLOCKER_PID,
 * BLOCKER_USER, BLOCKER_APPLICATION, BLOCKER_CLIENT, BLOCKER_STATE, BLOCKER_XACT_AGE_MS,
 * BLOCKER_STATE_AGE_MS, BLOCKER_MODE, LOCK_MODE, LOCK_RELATION, BLOCKER_QUERY, BLOCKER_ROOT
 * (yes/no), BLOCKER_GID; and BLOCKER_QUEUED (yes when the blocker holds nothing and is ahead
 * in the queue for BLOCKER_MODE).  The caller adds DEPLOY_ID and DEPLOY_PLAN. */
#pragma once

#include "event.h"
#include "lockwatch.h"

/* Adds the fields above (all but MESSAGE) to ev: the one place they are named, for every
 * event shaped like lock-wait (preflight-blocker too). */
int lockwatch_blocker_add_fields(Event *ev, const LockBlocker *b);

/* type is EVENT_LOCK_WAIT or EVENT_LOCK_TIMEOUT (-EINVAL otherwise). */
int lockwatch_blocker_to_event(const LockBlocker *b, EventType type, DeployPhase phase,
			       Event **ret);
