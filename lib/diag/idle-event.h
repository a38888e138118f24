/* idle-event.h — an idle-terminated or idle-found event for one session.
 *
 * idle_session_to_event() fills the event the pipeline sends for one IdleSession: priority
 * (LOG_NOTICE for idle-terminated, LOG_INFO for idle-found in a dry run), MESSAGE (the
 * sentence of idle_session_message()) and every field deployd(8) (JOURNAL) lists, each
 * present (empty when the server did not say): IDLE_PID, IDLE_USER, IDLE_APPLICATION, IDLE_CLIENT,
 * IDLE_AGE_MS, IDLE_QUERY.  The caller adds DEPLOY_ID and DEPLOY_PLAN. */
#pragma once

#include "event.h"
#include "idle.h"

/* type is EVENT_IDLE_TERMINATED or EVENT_IDLE_FOUND (-EINVAL otherwise). */
int idle_session_to_event(const IdleSession *s, EventType type, DeployPhase phase, Event **ret);
