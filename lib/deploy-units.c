#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "deploy-units.h"
#include "strv.h"

typedef struct UnitsReport {
	DeployContext *ctx;
	EventType ok_type; /* unit-stopped or unit-started */
	const char *doing; /* "stop", "start", "stay active" */
} UnitsReport;

static Event *failed_event(DeployContext *ctx, const UnitOutcome *o, const char *doing)
{
	_cleanup_free_ char *lines = NULL, *why = NULL;

	if (o->journal_lines && strv_join(o->journal_lines, "\n  ", &lines) < 0)
		return NULL;
	if (o->error == -ETIMEDOUT)
		why = strdup("it did not finish within the plan's timeout");
	else if (o->error_message)
		why = strdup(o->error_message); /* the manager refused the job */
	else if (asprintf(&why, "%s%s%sunit %s%s%s%s", o->job_result ? "job " : "",
			  o->job_result ?: "", o->job_result ? ", " : "",
			  o->active_state ?: "unknown", o->service_result ? " (result " : "",
			  o->service_result ?: "", o->service_result ? ")" : "") < 0)
		why = NULL;

	Event *ev = deploy_event(ctx, EVENT_UNIT_FAILED, LOG_ERR, "Unit %s did not %s: %s.%s%s",
				 o->name, doing, why ?: "unknown",
				 lines ? " Its last journal lines:\n  " : "", lines ?: "");
	if (ev && (event_add(ev, "DEPLOY_UNIT", "%s", o->name) < 0 ||
		   event_add(ev, "JOB_RESULT", "%s", o->job_result ?: "") < 0 ||
		   event_add(ev, "UNIT_ACTIVE_STATE", "%s", o->active_state ?: "") < 0 ||
		   event_add(ev, "UNIT_RESULT", "%s", o->service_result ?: "") < 0 ||
		   (lines && event_add(ev, "UNIT_JOURNAL", "%s", lines) < 0)))
		ev = event_free(ev);
	return ev;
}

static void on_unit_outcome(const UnitOutcome *o, void *userdata)
{
	UnitsReport *report = userdata;
	DeployContext *ctx = report->ctx;
	unsigned long long ms = (unsigned long long)(o->duration / USEC_PER_MSEC);
	Event *ev;

	if (o->error < 0) {
		deploy_emit(ctx, failed_event(ctx, o, report->doing));
		return;
	}
	if (report->ok_type == _EVENT_TYPE_MAX)
		return; /* settle reports only the units that fell */
	ev = deploy_event(ctx, report->ok_type, LOG_INFO, "Unit %s %s (job %s) in %llu ms.",
			  o->name, report->ok_type == EVENT_UNIT_STOPPED ? "stopped" : "started",
			  o->job_result ?: "done", ms);
	if (ev && (event_add(ev, "DEPLOY_UNIT", "%s", o->name) < 0 ||
		   event_add(ev, "JOB_RESULT", "%s", o->job_result ?: "") < 0 ||
		   event_add(ev, "UNIT_ACTIVE_STATE", "%s", o->active_state ?: "") < 0 ||
		   event_add(ev, "DURATION_MS", "%llu", ms) < 0))
		ev = event_free(ev);
	deploy_emit(ctx, ev);
}

static int bus_failure(DeployContext *ctx, int r, const char *doing)
{
	if (r != -ECANCELED)
		deploy_emit(ctx, deploy_event(ctx, EVENT_DEPLOY_FAILED, LOG_ERR,
					      "Could not %s the units: the service manager did not "
					      "answer (%s).",
					      doing, strerror(-r)));
	return r;
}

int deploy_units_check(DeployContext *ctx, UnitsManager *m)
{
	_cleanup_(units_problems_freep) UnitProblem *problems = NULL;
	UnitsOptions o = {.timeout = ctx->plan->services.start_timeout,
			  .cancel_fd = ctx->cancel_fd};
	int r = units_check(m, ctx->plan->services.units, &o, &problems);

	if (r < 0)
		return bus_failure(ctx, r, "check");
	for (UnitProblem *p = problems; p && p->name; p++) {
		Event *ev = deploy_event(ctx, EVENT_DEPLOY_FAILED, LOG_ERR,
					 "Unit %s cannot be deployed: it is %s%s%s.", p->name,
					 p->load_state ?: "unknown to the manager",
					 p->message ? ": " : "", p->message ?: "");
		if (ev && event_add(ev, "DEPLOY_UNIT", "%s", p->name) < 0)
			ev = event_free(ev);
		deploy_emit(ctx, ev);
	}
	return r > 0 ? -ENOENT : 0;
}

int deploy_units_stop(DeployContext *ctx, UnitsManager *m)
{
	_cleanup_(units_outcomes_freep) UnitOutcome *outcomes = NULL;
	UnitsReport report = {.ctx = ctx, .ok_type = EVENT_UNIT_STOPPED, .doing = "stop"};
	UnitsOptions o = {.timeout = ctx->plan->services.stop_timeout,
			  .cancel_fd = ctx->cancel_fd,
			  .on_outcome = on_unit_outcome,
			  .userdata = &report};
	int r = units_stop(m, ctx->plan->services.units, &o, &outcomes);

	if (r < 0)
		return bus_failure(ctx, r, "stop");
	return r > 0 ? -EIO : 0;
}

int deploy_units_start(DeployContext *ctx, UnitsManager *m)
{
	_cleanup_(units_outcomes_freep) UnitOutcome *started = NULL, *settled = NULL;
	UnitsReport report = {.ctx = ctx, .ok_type = EVENT_UNIT_STARTED, .doing = "start"};
	UnitsOptions o = {.timeout = ctx->plan->services.start_timeout,
			  .cancel_fd = ctx->cancel_fd,
			  .on_outcome = on_unit_outcome,
			  .userdata = &report};
	int r = units_start(m, ctx->plan->services.units, &o, &started);

	if (r < 0)
		return bus_failure(ctx, r, "start");
	if (r > 0)
		return -EIO;
	if (ctx->plan->services.settle == 0)
		return 0;

	/* A crash loop of the new code shows here, after the start jobs succeeded. */
	report = (UnitsReport){.ctx = ctx, .ok_type = _EVENT_TYPE_MAX, .doing = "stay active"};
	o.timeout = ctx->plan->services.settle;
	r = units_settle(m, ctx->plan->services.units, &o, &settled);
	if (r < 0)
		return bus_failure(ctx, r, "watch");
	return r > 0 ? -EIO : 0;
}
