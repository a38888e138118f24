#include <errno.h>
#include <stdio.h>
#include <syslog.h>

#include "idle-event.h"

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

int idle_session_to_event(const IdleSession *s, EventType type, DeployPhase phase, Event **ret)
{
	_cleanup_(event_freep) Event *ev = NULL;
	_cleanup_free_ char *message = NULL, *age = NULL;
	bool terminating = type == EVENT_IDLE_TERMINATED;
	int r;

	if (!s || (type != EVENT_IDLE_TERMINATED && type != EVENT_IDLE_FOUND))
		return -EINVAL;
	r = event_new(type, phase, terminating ? LOG_NOTICE : LOG_INFO, &ev);
	if (r < 0)
		return r;
	r = idle_session_message(s, terminating, &message);
	if (r < 0)
		return r;
	if (s->idle_age_usec != USEC_INFINITY &&
	    asprintf(&age, "%llu", (unsigned long long)(s->idle_age_usec / USEC_PER_MSEC)) < 0)
		return -ENOMEM;

	if ((r = event_set_message(ev, "%s", message)) < 0 ||
	    (r = event_add(ev, "IDLE_PID", "%d", s->pid)) < 0 ||
	    (r = event_add(ev, "IDLE_USER", "%s", str_or_empty(s->user))) < 0 ||
	    (r = event_add(ev, "IDLE_APPLICATION", "%s", str_or_empty(s->application))) < 0 ||
	    (r = event_add(ev, "IDLE_CLIENT", "%s", str_or_empty(s->client))) < 0 ||
	    (r = event_add(ev, "IDLE_AGE_MS", "%s", str_or_empty(age))) < 0 ||
	    (r = event_add(ev, "IDLE_QUERY", "%s", str_or_empty(s->query))) < 0)
		return r;

	*ret = TAKE_PTR(ev);
	return 0;
}
