/* The preflight-blocker event (blocker-event.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "blocker-event.h"
#include "cleanup.h"
#include "duration.h"
#include "lockwatch-event.h"

static const char *const verdict_names[_BLOCKER_VERDICT_MAX] = {
	[BLOCKER_VERDICT_STOPS_WITH_UNITS] = "stops-with-units",
	[BLOCKER_VERDICT_MAY_WAIT] = "may-wait",
	[BLOCKER_VERDICT_WAITING] = "waiting",
	[BLOCKER_VERDICT_REFUSED] = "refused",
	[BLOCKER_VERDICT_LEFTOVER] = "leftover",
	[BLOCKER_VERDICT_TERMINATED] = "terminated",
};

static const int verdict_priorities[_BLOCKER_VERDICT_MAX] = {
	[BLOCKER_VERDICT_STOPS_WITH_UNITS] = LOG_INFO, [BLOCKER_VERDICT_MAY_WAIT] = LOG_WARNING,
	[BLOCKER_VERDICT_WAITING] = LOG_WARNING,       [BLOCKER_VERDICT_REFUSED] = LOG_ERR,
	[BLOCKER_VERDICT_LEFTOVER] = LOG_WARNING,      [BLOCKER_VERDICT_TERMINATED] = LOG_NOTICE,
};

const char *blocker_verdict_to_string(BlockerVerdict v)
{
	return v >= 0 && v < _BLOCKER_VERDICT_MAX ? verdict_names[v] : NULL;
}

/* "Pid 4100 (user u, application a, client c, idle in transaction for 12 s, transaction open
 * for 15 s) holds AccessShareLock on public.accounts" */
static void put_blocker(FILE *f, const LockBlocker *b)
{
	char age[FORMAT_AGE_MAX];

	if (b->blocker_pid == 0)
		fprintf(f, "Prepared transaction '%s' (pid 0, user %s, prepared %s ago)",
			b->gid ?: "?", b->user ?: "unknown", format_age(b->xact_age_usec, age));
	else {
		fprintf(f, "Pid %d (user %s, ", b->blocker_pid, b->user ?: "not visible");
		if (b->application && b->application[0])
			fprintf(f, "application %s, ", b->application);
		else if (b->backend_type && strcmp(b->backend_type, "client backend") != 0)
			fprintf(f, "%s, ", b->backend_type);
		else
			fputs("no application, ", f);
		fprintf(f, "client %s, ", b->client ?: "none");
		if (b->state)
			fprintf(f, "%s for %s", b->state, format_age(b->state_age_usec, age));
		else
			fputs("state not visible", f);
		if (b->xact_age_usec != USEC_INFINITY)
			fprintf(f, ", transaction open for %s", format_age(b->xact_age_usec, age));
		fputc(')', f);
	}
	fprintf(f, " %s %s on %s, in the way of the migrations' %s",
		b->queued ? "is queued for" : "holds", b->mode_held ?: "a conflicting lock",
		b->relation ?: "a relation", b->mode_wanted ?: "lock");
}

int blocker_event_new(const LockBlocker *b, const BlockerAttribution *a, BlockerVerdict v,
		      DeployPhase phase, usec_t wait_usec, Event **ret)
{
	_cleanup_(event_freep) Event *ev = NULL;
	_cleanup_free_ char *message = NULL;
	char wait[DURATION_FORMAT_MAX];
	size_t size = 0;
	FILE *f;
	int r;

	if (!b || !a || v < 0 || v >= _BLOCKER_VERDICT_MAX)
		return -EINVAL;
	f = open_memstream(&message, &size);
	if (!f)
		return -ENOMEM;
	put_blocker(f, b);
	switch (v) {
	case BLOCKER_VERDICT_STOPS_WITH_UNITS:
		fprintf(f, "; it is the plan's (%s) and goes away when the units stop.", a->reason);
		break;
	case BLOCKER_VERDICT_MAY_WAIT:
		fprintf(f,
			"; deployd cannot tell whose it is (%s): if it is still there when the "
			"units have stopped, the migration will wait on it.",
			a->reason);
		break;
	case BLOCKER_VERDICT_WAITING:
		fprintf(f,
			"; it is outside the plan's units (%s), so stopping them would not end it: "
			"waiting up to %s for it to go before anything is stopped.",
			a->reason, duration_format(wait_usec, wait));
		break;
	case BLOCKER_VERDICT_REFUSED:
		fprintf(f,
			"; it is outside the plan's units (%s), so stopping them would not end it: "
			"the deploy is refused and nothing was touched.%s",
			a->reason,
			b->blocker_pid == 0 ? " End it with COMMIT PREPARED or ROLLBACK PREPARED."
					    : "");
		break;
	case BLOCKER_VERDICT_LEFTOVER:
		fprintf(f,
			"; the units have stopped, but this session of theirs (%s) is still there.",
			a->reason);
		break;
	case BLOCKER_VERDICT_TERMINATED:
		fprintf(f,
			"; the units have stopped, but this session of theirs (%s) was still there: "
			"terminated.",
			a->reason);
		break;
	default:
		break;
	}
	if (fclose(f) != 0)
		return -ENOMEM;

	r = event_new(EVENT_PREFLIGHT_BLOCKER, phase, verdict_priorities[v], &ev);
	if (r < 0)
		return r;
	if ((r = event_set_message(ev, "%s", message)) < 0 ||
	    (r = lockwatch_blocker_add_fields(ev, b)) < 0 ||
	    (r = event_add(ev, "BLOCKER_OWNER", "%s", blocker_owner_to_string(a->owner))) < 0 ||
	    (r = event_add(ev, "BLOCKER_UNIT", "%s", a->unit ?: "")) < 0 ||
	    (r = event_add(ev, "BLOCKER_REASON", "%s", a->reason ?: "")) < 0 ||
	    (r = event_add(ev, "PREFLIGHT_VERDICT", "%s", verdict_names[v])) < 0)
		return r;
	*ret = TAKE_PTR(ev);
	return 0;
}
