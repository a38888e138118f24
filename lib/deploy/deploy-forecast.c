/* The dry run's lock forecast as events (deploy-forecast.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "cleanup.h"
#include "deploy-forecast.h"
#include "forecast.h"

void deploy_forecast_events_done(DeployForecastEvents *e)
{
	for (size_t i = 0; i < e->n; i++)
		event_free(e->events[i]);
	free(e->events);
	*e = (DeployForecastEvents){};
}

static int push(DeployForecastEvents *e, Event *ev)
{
	Event **events = reallocarray(e->events, e->n + 1, sizeof(Event *));

	if (!events) {
		event_free(ev);
		return -ENOMEM;
	}
	e->events = events;
	e->events[e->n++] = ev;
	return 0;
}

/* "schema.a=AccessExclusiveLock,schema.b=ShareLock" */
static int locks_field(const ForecastStatement *s, char **ret)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_locks; i++)
		fprintf(f, "%s%s=%s", i ? "," : "", s->locks[i].relation,
			lock_mode_to_string(s->locks[i].mode));
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	return 0;
}

static int statement_event(const ForecastMigration *m, const ForecastStatement *s,
			   DeployPhase phase, Event **ret)
{
	_cleanup_(event_freep) Event *ev = NULL;
	_cleanup_free_ char *message = NULL, *locks = NULL;

	if (forecast_statement_describe(m, s, &message) < 0 || locks_field(s, &locks) < 0 ||
	    event_new(EVENT_LOCK_FORECAST, phase, LOG_INFO, &ev) < 0 ||
	    event_set_message(ev, "Would take %s", message) < 0 ||
	    event_add(ev, "MIGRATION_VERSION", "%s", m->version) < 0 ||
	    event_add(ev, "MIGRATION_NAME", "%s", m->name) < 0 ||
	    event_add(ev, "MIGRATION_FILE", "%s", m->file) < 0 ||
	    event_add(ev, "MIGRATION_LINE", "%u", s->line) < 0 ||
	    event_add(ev, "FORECAST_SQL", "%s", s->sql_first_line) < 0 ||
	    event_add(ev, "FORECAST_LOCKS", "%s", locks) < 0 ||
	    event_add(ev, "FORECAST_REWRITE", "%s", s->rewrite ? "yes" : "no") < 0 ||
	    event_add(ev, "FORECAST_SCAN", "%s", s->scan ? "yes" : "no") < 0 ||
	    event_add(ev, "FORECAST_UNKNOWN", "%s", s->unknown ? "yes" : "no") < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(ev);
	return 0;
}

static int holder_event(const ForecastHolder *h, DeployPhase phase, Event **ret)
{
	_cleanup_(event_freep) Event *ev = NULL;
	_cleanup_free_ char *message = NULL;

	if (forecast_holder_describe(h, &message) < 0 ||
	    event_new(EVENT_FORECAST_HOLDER, phase, LOG_WARNING, &ev) < 0 ||
	    event_set_message(ev, "%s", message) < 0 ||
	    event_add(ev, "BLOCKER_PID", "%d", h->pid) < 0 ||
	    (h->gid && event_add(ev, "BLOCKER_GID", "%s", h->gid) < 0) ||
	    (h->user && event_add(ev, "BLOCKER_USER", "%s", h->user) < 0) ||
	    (h->application && event_add(ev, "BLOCKER_APPLICATION", "%s", h->application) < 0) ||
	    (h->client && event_add(ev, "BLOCKER_CLIENT", "%s", h->client) < 0) ||
	    (h->state && event_add(ev, "BLOCKER_STATE", "%s", h->state) < 0) ||
	    (h->xact_age != USEC_INFINITY &&
	     event_add(ev, "BLOCKER_XACT_AGE_MS", "%llu",
		       (unsigned long long)(h->xact_age / USEC_PER_MSEC)) < 0) ||
	    event_add(ev, "BLOCKER_MODE", "%s", lock_mode_to_string(h->mode)) < 0 ||
	    event_add(ev, "BLOCKER_QUEUED", "%s", h->granted ? "no" : "yes") < 0 ||
	    event_add(ev, "LOCK_MODE", "%s", lock_mode_to_string(h->conflicts_with)) < 0 ||
	    event_add(ev, "LOCK_RELATION", "%s", h->relation) < 0 ||
	    (h->query && event_add(ev, "BLOCKER_QUERY", "%s", h->query) < 0))
		return -ENOMEM;
	*ret = TAKE_PTR(ev);
	return 0;
}

int deploy_forecast_events(PGconn *conn, Migration *const *pending, size_t n_pending,
			   const char *command, DeployPhase phase, DeployForecastEvents *ret,
			   char **ret_error)
{
	_cleanup_(deploy_forecast_events_done) DeployForecastEvents e = {};
	_cleanup_(forecast_freep) Forecast *f = NULL;
	ForecastHolder *holders = NULL;
	size_t n_holders = 0;
	Event *ev = NULL;
	int r;

	if (command) {
		if (event_new(EVENT_LOCK_FORECAST, phase, LOG_INFO, &ev) < 0 ||
		    event_set_message(ev,
				      "The migration command %s has no SQL to read: no lock "
				      "forecast.",
				      command) < 0 ||
		    event_add(ev, "MIGRATION_NAME", "%s", command) < 0) {
			event_free(ev);
			return -ENOMEM;
		}
		r = push(&e, ev);
		if (r < 0)
			return r;
		*ret = e;
		e = (DeployForecastEvents){};
		return 0;
	}
	r = forecast_pending(conn, pending, n_pending, FORECAST_EVERY_LOCK, &f, ret_error);
	if (r < 0)
		return r;
	for (size_t i = 0; i < f->n_migrations; i++)
		for (size_t j = 0; j < f->migrations[i].n_statements; j++) {
			r = statement_event(&f->migrations[i], &f->migrations[i].statements[j],
					    phase, &ev);
			if (r >= 0)
				r = push(&e, ev);
			if (r < 0)
				return r;
		}
	r = forecast_holders(conn, f, &holders, &n_holders, ret_error);
	if (r < 0)
		return r;
	for (size_t i = 0; r >= 0 && i < n_holders; i++) {
		r = holder_event(&holders[i], phase, &ev);
		if (r >= 0)
			r = push(&e, ev);
	}
	forecast_holders_free(holders, n_holders);
	if (r < 0)
		return r;
	*ret = e;
	e = (DeployForecastEvents){};
	return 0;
}
