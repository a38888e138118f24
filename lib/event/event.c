#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "text-redact.h"

static const char *const event_type_names[_EVENT_TYPE_MAX] = {
	[EVENT_DEPLOY_STARTED] = "deploy-started",
	[EVENT_PHASE_STARTED] = "phase-started",
	[EVENT_PHASE_FINISHED] = "phase-finished",
	[EVENT_UNIT_STOPPED] = "unit-stopped",
	[EVENT_UNIT_STARTED] = "unit-started",
	[EVENT_UNIT_FAILED] = "unit-failed",
	[EVENT_IDLE_TERMINATED] = "idle-terminated",
	[EVENT_IDLE_FOUND] = "idle-found",
	[EVENT_MIGRATION_STARTED] = "migration-started",
	[EVENT_MIGRATION_APPLIED] = "migration-applied",
	[EVENT_MIGRATION_FAILED] = "migration-failed",
	[EVENT_MIGRATION_PENDING] = "migration-pending",
	[EVENT_MIGRATION_RETRY] = "migration-retry",
	[EVENT_MIGRATION_ADOPTED] = "migration-adopted",
	[EVENT_LOCK_WAIT] = "lock-wait",
	[EVENT_LOCK_TIMEOUT] = "lock-timeout",
	[EVENT_MIGRATION_PROGRESS] = "migration-progress",
	[EVENT_MIGRATION_RUNNING] = "migration-running",
	[EVENT_INVALID_INDEX_LEFT] = "invalid-index-left",
	[EVENT_INVALID_INDEX_DROPPED] = "invalid-index-dropped",
	[EVENT_PREFLIGHT_BLOCKER] = "preflight-blocker",
	[EVENT_COMMAND_OUTPUT] = "command-output",
	[EVENT_HOOK_OUTPUT] = "hook-output",
	[EVENT_DEPLOY_FAILED] = "deploy-failed",
	[EVENT_DEPLOY_FINISHED] = "deploy-finished",
	[EVENT_LOCK_FORECAST] = "lock-forecast",
	[EVENT_FORECAST_HOLDER] = "forecast-holder",
};

/* Made once with `systemd-id128 new`; they never change (the catalog keys on them). */
static const char *const event_message_ids[_EVENT_TYPE_MAX] = {
	[EVENT_DEPLOY_STARTED] = "f59ecd72700942e29ac76f0a09fc69a9",
	[EVENT_PHASE_STARTED] = "0278feaf526d4bf9abf0504fc0fefa52",
	[EVENT_PHASE_FINISHED] = "fc50ecb9600e4f98beefc5477d4746ab",
	[EVENT_UNIT_STOPPED] = "80f68527fc2b4264bac6753face19c70",
	[EVENT_UNIT_STARTED] = "ac8e3ccb84fc47bc8bc81c40134c25b3",
	[EVENT_UNIT_FAILED] = "b01cec5c57d1447aab7506bd88498fe2",
	[EVENT_IDLE_TERMINATED] = "50877a10d19e4bdd94dcdf297d88f64b",
	[EVENT_IDLE_FOUND] = "4d5a7b0307c846edac9ffdf916c803c2",
	[EVENT_MIGRATION_STARTED] = "37a70ec6eb36470ebf1f895fecf1e8c7",
	[EVENT_MIGRATION_APPLIED] = "545930700c7f47cd88bfeb877fd2a9fc",
	[EVENT_MIGRATION_FAILED] = "cce02f2601974de69aa8008c2d9ad1cd",
	[EVENT_MIGRATION_PENDING] = "6cab10837061463796104ecf1ef77036",
	[EVENT_MIGRATION_RETRY] = "abed77b3a25b4aa4963912b650d4133f",
	[EVENT_MIGRATION_ADOPTED] = "6ac784244e3b45f787e80c765817e0ba",
	[EVENT_LOCK_WAIT] = "79714371a2234b1c8123d630dc9fde08",
	[EVENT_LOCK_TIMEOUT] = "441f6034fbb94cd7b57275677692d0ff",
	[EVENT_MIGRATION_PROGRESS] = "13bad1d052b0416db3a81fe20c82d51f",
	[EVENT_MIGRATION_RUNNING] = "f53d2785ee0941608138555eaad6e3d4",
	[EVENT_INVALID_INDEX_LEFT] = "8ef6f95883404a20892af09e12546b11",
	[EVENT_INVALID_INDEX_DROPPED] = "03c7645bfe384197acc9e9dde696a5e0",
	[EVENT_PREFLIGHT_BLOCKER] = "fd17370d45df456ca6d3640722a5310c",
	[EVENT_COMMAND_OUTPUT] = "102ee9fea00c4383aa2a11d3a36bd431",
	[EVENT_HOOK_OUTPUT] = "3404d309b0974a979ca0b0d7c63b910d",
	[EVENT_DEPLOY_FAILED] = "be3dc9a865ae42feb8cb3fe2c3aa4bea",
	[EVENT_DEPLOY_FINISHED] = "2d718a6bfb8447e89e9082a9a3c22ee6",
	[EVENT_LOCK_FORECAST] = "8fb6c781f66741d9aacafb2d64776b74",
	[EVENT_FORECAST_HOLDER] = "c3c7c7f8a69a4729a98d95916f18e734",
};

static const char *const deploy_phase_names[_DEPLOY_PHASE_MAX] = {
	[DEPLOY_PHASE_PREFLIGHT] = "preflight", [DEPLOY_PHASE_STOP] = "stop",
	[DEPLOY_PHASE_IDLE] = "idle",		[DEPLOY_PHASE_MIGRATE] = "migrate",
	[DEPLOY_PHASE_START] = "start",		[DEPLOY_PHASE_DONE] = "done",
};

static int lookup(const char *const *names, int n, const char *s)
{
	for (int i = 0; s && i < n; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -EINVAL;
}

const char *event_type_to_string(EventType t)
{
	return t >= 0 && t < _EVENT_TYPE_MAX ? event_type_names[t] : NULL;
}

int event_type_from_string(const char *s)
{
	return lookup(event_type_names, _EVENT_TYPE_MAX, s);
}

const char *event_type_message_id(EventType t)
{
	return t >= 0 && t < _EVENT_TYPE_MAX ? event_message_ids[t] : NULL;
}

const char *deploy_phase_to_string(DeployPhase p)
{
	return p >= 0 && p < _DEPLOY_PHASE_MAX ? deploy_phase_names[p] : NULL;
}

int deploy_phase_from_string(const char *s)
{
	return lookup(deploy_phase_names, _DEPLOY_PHASE_MAX, s);
}

int event_new(EventType type, DeployPhase phase, int priority, Event **ret)
{
	Event *ev = calloc(1, sizeof(Event));

	if (!ev)
		return -ENOMEM;
	ev->type = type;
	ev->phase = phase;
	ev->priority = priority;
	*ret = ev;
	return 0;
}

Event *event_free(Event *ev)
{
	if (!ev)
		return NULL;
	for (size_t i = 0; i < ev->n_fields; i++) {
		free(ev->fields[i].key);
		free(ev->fields[i].value);
	}
	free(ev->fields);
	free(ev->message);
	free(ev);
	return NULL;
}

int event_set_message(Event *ev, const char *fmt, ...)
{
	char *m;
	va_list ap;

	va_start(ap, fmt);
	int n = vasprintf(&m, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	free(ev->message);
	ev->message = m;
	return 0;
}

int event_add(Event *ev, const char *key, const char *fmt, ...)
{
	_cleanup_free_ char *value = NULL;
	va_list ap;

	va_start(ap, fmt);
	int n = vasprintf(&value, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;

	for (size_t i = 0; i < ev->n_fields; i++)
		if (strcmp(ev->fields[i].key, key) == 0) {
			free(ev->fields[i].value);
			ev->fields[i].value = TAKE_PTR(value);
			return 0;
		}

	_cleanup_free_ char *k = strdup(key);
	if (!k)
		return -ENOMEM;
	EventField *grown = realloc(ev->fields, (ev->n_fields + 1) * sizeof(EventField));
	if (!grown)
		return -ENOMEM;
	ev->fields = grown;
	ev->fields[ev->n_fields++] = (EventField){.key = TAKE_PTR(k), .value = TAKE_PTR(value)};
	return 0;
}

const char *event_get(const Event *ev, const char *key)
{
	for (size_t i = 0; i < ev->n_fields; i++)
		if (strcmp(ev->fields[i].key, key) == 0)
			return ev->fields[i].value;
	return NULL;
}

/* Replaces *s by its redacted copy when it holds a secret. */
static int redact_string(char **s, char *const *secrets)
{
	char *redacted;
	int r;

	if (!*s)
		return 0;
	r = text_redact(*s, strlen(*s), secrets, &redacted);
	if (r < 0)
		return r;
	free(*s);
	*s = redacted;
	return 0;
}

int event_redact(Event *ev, char *const *secrets)
{
	int r;

	if (!secrets || !secrets[0])
		return 0;
	r = redact_string(&ev->message, secrets);
	for (size_t i = 0; r >= 0 && i < ev->n_fields; i++)
		r = redact_string(&ev->fields[i].value, secrets);
	return r;
}
