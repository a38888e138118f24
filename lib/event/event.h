/* event.h — the one record type a deploy reports, and its fields.
 *
 * An Event is a type, a phase, a priority, a MESSAGE sentence and a list of
 * KEY=VALUE fields named as in deployd(8), JOURNAL.  The
 * deploy pipeline creates events; sinks (journal, client stream, state
 * file) render them.  Modules below the pipeline never create events.
 * Adding a field copies key and value; functions return 0 or -ENOMEM. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "cleanup.h"

typedef enum EventType {
	EVENT_DEPLOY_STARTED,
	EVENT_PHASE_STARTED,
	EVENT_PHASE_FINISHED,
	EVENT_UNIT_STOPPED,
	EVENT_UNIT_STARTED,
	EVENT_UNIT_FAILED,
	EVENT_IDLE_TERMINATED,
	EVENT_IDLE_FOUND,
	EVENT_MIGRATION_STARTED,
	EVENT_MIGRATION_APPLIED,
	EVENT_MIGRATION_FAILED,
	EVENT_MIGRATION_PENDING, /* dry run: would be applied */
	EVENT_MIGRATION_RETRY,	 /* a lock timeout, retried as the plan's lock_retries allow */
	EVENT_MIGRATION_ADOPTED, /* recorded as applied from another tool's history */
	EVENT_LOCK_WAIT,
	EVENT_LOCK_TIMEOUT,
	EVENT_MIGRATION_PROGRESS,    /* a progress view's count for the running statement */
	EVENT_MIGRATION_RUNNING,     /* heartbeat of a long statement no progress view shows */
	EVENT_INVALID_INDEX_LEFT,    /* a failed concurrent build left this INVALID index */
	EVENT_INVALID_INDEX_DROPPED, /* …and it was dropped before the migration's retry */
	EVENT_PREFLIGHT_BLOCKER, /* a session in the way of the migrations' locks, before a stop */
	EVENT_COMMAND_OUTPUT,
	EVENT_HOOK_OUTPUT,
	EVENT_DEPLOY_FAILED, /* why a deploy failed, when no more specific event says it */
	EVENT_DEPLOY_FINISHED,
	EVENT_LOCK_FORECAST,   /* dry run: the locks a pending migration's statement will take */
	EVENT_FORECAST_HOLDER, /* dry run: a session holding or awaiting a conflicting lock */
	_EVENT_TYPE_MAX,
} EventType;

typedef enum DeployPhase {
	DEPLOY_PHASE_PREFLIGHT,
	DEPLOY_PHASE_STOP,
	DEPLOY_PHASE_IDLE,
	DEPLOY_PHASE_MIGRATE,
	DEPLOY_PHASE_START,
	DEPLOY_PHASE_DONE,
	_DEPLOY_PHASE_MAX,
} DeployPhase;

typedef struct EventField {
	char *key;
	char *value;
} EventField;

typedef struct Event {
	EventType type;
	DeployPhase phase;
	int priority; /* syslog priority, LOG_ERR … LOG_DEBUG */
	char *message;
	EventField *fields;
	size_t n_fields;
} Event;

/* Receives every event of a deploy, in order. */
typedef void (*EventSink)(const Event *ev, void *userdata);

int event_new(EventType type, DeployPhase phase, int priority, Event **ret);
Event *event_free(Event *ev);
static inline void event_freep(Event **ev)
{
	event_free(*ev);
}

int event_set_message(Event *ev, const char *fmt, ...) _printf_(2, 3);
/* Sets key to the formatted value, replacing an earlier value of key. */
int event_add(Event *ev, const char *key, const char *fmt, ...) _printf_(3, 4);
const char *event_get(const Event *ev, const char *key);
/* Replaces every occurrence of a secret (NULL-terminated list, may be NULL) in the message and
 * the field values by "***" (text-redact.h).  On -ENOMEM the event may still hold one: the
 * caller must drop it. */
int event_redact(Event *ev, char *const *secrets);

const char *event_type_to_string(EventType t);
int event_type_from_string(const char *s);
const char *deploy_phase_to_string(DeployPhase p);
int deploy_phase_from_string(const char *s);
/* The fixed 128-bit MESSAGE_ID of an event type, as 32 hex digits. */
const char *event_type_message_id(EventType t);
