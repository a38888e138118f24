/* migration-progress and migration-running events (progress-event.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "progress-event.h"

static int add_migration(Event *ev, const ProgressSession *s, const ProgressMigration *m)
{
	int r;

	if (m->version && (r = event_add(ev, "MIGRATION_VERSION", "%s", m->version)) < 0)
		return r;
	if ((r = event_add(ev, "MIGRATION_NAME", "%s", m->name ?: "")) < 0 ||
	    (r = event_add(ev, "MIGRATION_PID", "%d", s->pid)) < 0 ||
	    (r = event_add(ev, "DURATION_MS", "%llu",
			   (unsigned long long)(s->elapsed_usec == USEC_INFINITY
							? 0
							: s->elapsed_usec / USEC_PER_MSEC))) < 0)
		return r;
	return 0;
}

/* "Migration 42_add_index" or "Migration command ./migrate up". */
static int label(const ProgressMigration *m, char **ret)
{
	int r = m->version ? asprintf(ret, "Migration %s_%s", m->version, m->name ?: "")
			   : asprintf(ret, "Migration command %s", m->name ?: "");
	return r < 0 ? -ENOMEM : 0;
}

int progress_to_event(const ProgressSession *s, const ProgressMigration *m, double percent,
		      int priority, Event **ret)
{
	_cleanup_(event_freep) Event *ev = NULL;
	_cleanup_free_ char *who = NULL, *count = NULL;
	char age[FORMAT_AGE_MAX];
	int r;

	if (!s->command)
		return -EINVAL;
	if ((r = event_new(EVENT_MIGRATION_PROGRESS, DEPLOY_PHASE_MIGRATE, priority, &ev)) < 0 ||
	    (r = label(m, &who)) < 0)
		return r;
	if (!s->unit)
		r = asprintf(&count, "%s", "");
	else if (percent >= 0)
		r = asprintf(&count, ": %.1f %% (%lld of %lld %s)", percent, (long long)s->done,
			     (long long)s->total, s->unit);
	else
		r = asprintf(&count, ": %lld %s", (long long)s->done, s->unit);
	if (r < 0)
		return -ENOMEM;
	if ((r = event_set_message(ev, "%s: %s, %s%s, running for %s.", who, s->command,
				   s->phase ?: "", count, format_age(s->elapsed_usec, age))) < 0 ||
	    (r = add_migration(ev, s, m)) < 0 ||
	    (r = event_add(ev, "PROGRESS_COMMAND", "%s", s->command)) < 0 ||
	    (r = event_add(ev, "PROGRESS_PHASE", "%s", s->phase ?: "")) < 0 ||
	    (r = event_add(ev, "PROGRESS_UNIT", "%s", s->unit ?: "")) < 0 ||
	    (r = event_add(ev, "PROGRESS_DONE", "%lld", (long long)s->done)) < 0 ||
	    (r = event_add(ev, "PROGRESS_TOTAL", "%lld", (long long)s->total)) < 0)
		return r;
	if (percent >= 0 && (r = event_add(ev, "PROGRESS_PERCENT", "%.1f", percent)) < 0)
		return r;
	*ret = TAKE_PTR(ev);
	return 0;
}

int progress_running_to_event(const ProgressSession *s, const ProgressMigration *m, int priority,
			      Event **ret)
{
	_cleanup_(event_freep) Event *ev = NULL;
	_cleanup_free_ char *who = NULL;
	char age[FORMAT_AGE_MAX];
	int r;

	if ((r = event_new(EVENT_MIGRATION_RUNNING, DEPLOY_PHASE_MIGRATE, priority, &ev)) < 0 ||
	    (r = label(m, &who)) < 0)
		return r;
	if (s->wait_event_type)
		r = event_set_message(ev, "%s has been running for %s, waiting on %s (%s).", who,
				      format_age(s->elapsed_usec, age), s->wait_event_type,
				      s->wait_event ?: "");
	else
		r = event_set_message(ev, "%s has been running for %s, working.", who,
				      format_age(s->elapsed_usec, age));
	if (r < 0 || (r = add_migration(ev, s, m)) < 0 ||
	    (r = event_add(ev, "PG_WAIT_EVENT_TYPE", "%s", s->wait_event_type ?: "")) < 0 ||
	    (r = event_add(ev, "PG_WAIT_EVENT", "%s", s->wait_event ?: "")) < 0)
		return r;
	*ret = TAKE_PTR(ev);
	return 0;
}
