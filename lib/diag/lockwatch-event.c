#include <errno.h>
#include <syslog.h>

#include "lockwatch-event.h"

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

/* Milliseconds, or "" when unknown. */
static int add_age_ms(Event *ev, const char *key, usec_t u)
{
	if (u == USEC_INFINITY)
		return event_add(ev, key, "%s", "");
	return event_add(ev, key, "%llu", (unsigned long long)(u / USEC_PER_MSEC));
}

int lockwatch_blocker_add_fields(Event *ev, const LockBlocker *b)
{
	int r;

	if ((r = event_add(ev, "BLOCKED_PID", "%d", b->blocked_pid)) < 0 ||
	    (r = add_age_ms(ev, "LOCK_WAIT_MS", b->wait_age_usec)) < 0 ||
	    (r = event_add(ev, "BLOCKER_PID", "%d", b->blocker_pid)) < 0 ||
	    (r = event_add(ev, "BLOCKER_USER", "%s", str_or_empty(b->user))) < 0 ||
	    (r = event_add(ev, "BLOCKER_APPLICATION", "%s", str_or_empty(b->application))) < 0 ||
	    (r = event_add(ev, "BLOCKER_CLIENT", "%s", str_or_empty(b->client))) < 0 ||
	    (r = event_add(ev, "BLOCKER_STATE", "%s", str_or_empty(b->state))) < 0 ||
	    (r = add_age_ms(ev, "BLOCKER_XACT_AGE_MS", b->xact_age_usec)) < 0 ||
	    (r = add_age_ms(ev, "BLOCKER_STATE_AGE_MS", b->state_age_usec)) < 0 ||
	    (r = event_add(ev, "BLOCKER_MODE", "%s", str_or_empty(b->mode_held))) < 0 ||
	    (r = event_add(ev, "BLOCKER_QUEUED", "%s", b->queued ? "yes" : "no")) < 0 ||
	    (r = event_add(ev, "LOCK_MODE", "%s", str_or_empty(b->mode_wanted))) < 0 ||
	    (r = event_add(ev, "LOCK_RELATION", "%s", str_or_empty(b->relation))) < 0 ||
	    (r = event_add(ev, "BLOCKER_QUERY", "%s", str_or_empty(b->query))) < 0 ||
	    (r = event_add(ev, "BLOCKER_ROOT", "%s", b->is_root ? "yes" : "no")) < 0 ||
	    (r = event_add(ev, "BLOCKER_GID", "%s", str_or_empty(b->gid))) < 0)
		return r;
	return 0;
}

int lockwatch_blocker_to_event(const LockBlocker *b, EventType type, DeployPhase phase, Event **ret)
{
	_cleanup_(event_freep) Event *ev = NULL;
	_cleanup_free_ char *message = NULL;
	bool timed_out = type == EVENT_LOCK_TIMEOUT;
	int r;

	if (!b || (type != EVENT_LOCK_WAIT && type != EVENT_LOCK_TIMEOUT))
		return -EINVAL;
	r = event_new(type, phase, timed_out ? LOG_ERR : LOG_WARNING, &ev);
	if (r < 0)
		return r;
	r = lockwatch_blocker_message(b, "Migration", timed_out, &message);
	if (r < 0)
		return r;

	r = event_set_message(ev, "%s", message);
	if (r < 0)
		return r;
	r = lockwatch_blocker_add_fields(ev, b);
	if (r < 0)
		return r;

	*ret = TAKE_PTR(ev);
	return 0;
}
