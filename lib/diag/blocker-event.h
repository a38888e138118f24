/* blocker-event.h — a preflight-blocker event: a session in the way of the migrations' locks,
 * seen before (or right after) the units are stopped.
 *
 * blocker_event_new() builds it for one LockBlocker of blockers_find() and its attribution:
 * every field of a lock-wait event (lockwatch_blocker_add_fields(): BLOCKED_PID, BLOCKER_PID,
 * BLOCKER_USER, …, BLOCKER_GID), plus BLOCKER_OWNER (units, outside, unknown), BLOCKER_UNIT
 * (the unit, when known; else empty), BLOCKER_REASON (why it was attributed so) and
 * PREFLIGHT_VERDICT, which also sets the priority and the sentence's ending:
 *   stops-with-units (LOG_INFO)  the units' own: it goes when they stop;
 *   may-wait (LOG_WARNING)       unknown: the migration may wait on it;
 *   waiting (LOG_WARNING)        outside: the preflight waits up to wait_usec for it to end;
 *   refused (LOG_ERR)            outside: the deploy is refused, nothing was touched;
 *   leftover (LOG_WARNING)       a unit's session still there after the units stopped;
 *   terminated (LOG_NOTICE)      such a leftover (or an outside idle session), terminated.
 * The caller adds DEPLOY_ID and DEPLOY_PLAN. */
#pragma once

#include "blocker-owner.h"
#include "event.h"
#include "lockwatch.h"
#include "time-util.h"

typedef enum BlockerVerdict {
	BLOCKER_VERDICT_STOPS_WITH_UNITS,
	BLOCKER_VERDICT_MAY_WAIT,
	BLOCKER_VERDICT_WAITING,
	BLOCKER_VERDICT_REFUSED,
	BLOCKER_VERDICT_LEFTOVER,
	BLOCKER_VERDICT_TERMINATED,
	_BLOCKER_VERDICT_MAX,
} BlockerVerdict;

const char *blocker_verdict_to_string(BlockerVerdict v);

/* wait_usec is used by BLOCKER_VERDICT_WAITING only. */
int blocker_event_new(const LockBlocker *b, const BlockerAttribution *a, BlockerVerdict v,
		      DeployPhase phase, usec_t wait_usec, Event **ret);
