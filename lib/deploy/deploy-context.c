/* The deploy context: events stamped and sent, phases bracketed (deploy-context.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <systemd/sd-id128.h>

#include "deploy-context.h"

int deploy_id_new(char ret[DEPLOY_ID_LENGTH + 1])
{
	sd_id128_t id;
	int r = sd_id128_randomize(&id);

	if (r < 0)
		return r;
	sd_id128_to_string(id, ret);
	return 0;
}

void deploy_context_init(DeployContext *ctx, const Plan *plan, const DeployRequest *req,
			 int cancel_fd, EventSink sink, void *userdata)
{
	*ctx = (DeployContext){
		.plan = plan,
		.req = req,
		.cancel_fd = cancel_fd,
		.sink = sink,
		.userdata = userdata,
		.phase = DEPLOY_PHASE_PREFLIGHT,
		.started = now_usec(CLOCK_MONOTONIC),
		.terminate_idle = req->terminate_idle >= 0 ? req->terminate_idle > 0
							   : plan->idle_transactions.terminate,
	};
}

static Event *event_newv(const DeployContext *ctx, EventType type, int priority, const char *fmt,
			 va_list ap)
{
	_cleanup_(event_freep) Event *ev = NULL;
	_cleanup_free_ char *message = NULL;

	if (vasprintf(&message, fmt, ap) < 0 || event_new(type, ctx->phase, priority, &ev) < 0)
		return NULL;
	ev->message = TAKE_PTR(message);
	return TAKE_PTR(ev);
}

Event *deploy_event(DeployContext *ctx, EventType type, int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	Event *ev = event_newv(ctx, type, priority, fmt, ap);
	va_end(ap);
	return ev;
}

/* Stamps ev for its sink; false (ev freed) when out of memory. */
static bool stamp(DeployContext *ctx, Event *ev)
{
	/* Redacted here, where every event of the deploy passes: no sink sees a password. */
	if (!ev || event_add(ev, "DEPLOY_ID", "%s", ctx->req->id) < 0 ||
	    event_add(ev, "DEPLOY_PLAN", "%s", ctx->plan->name ?: "") < 0 ||
	    event_redact(ev, ctx->secrets) < 0) {
		event_free(ev);
		ctx->out_of_memory = true;
		return false;
	}
	return true;
}

void deploy_emit(DeployContext *ctx, Event *ev)
{
	_cleanup_(event_freep) Event *owned = NULL;

	if (!stamp(ctx, ev))
		return;
	owned = ev;
	if (ctx->sink)
		ctx->sink(owned, ctx->userdata);
}

void deploy_emitf(DeployContext *ctx, EventType type, int priority, const DeployField *fields,
		  const char *fmt, ...)
{
	_cleanup_(event_freep) Event *ev = NULL;
	va_list ap;

	va_start(ap, fmt);
	ev = event_newv(ctx, type, priority, fmt, ap);
	va_end(ap);
	for (const DeployField *f = fields; ev && f && f->key; f++)
		if (f->value && event_add(ev, f->key, "%s", f->value) < 0)
			ev = event_free(ev);
	deploy_emit(ctx, TAKE_PTR(ev));
}

static unsigned long long elapsed_ms(usec_t since)
{
	return (unsigned long long)((now_usec(CLOCK_MONOTONIC) - since) / USEC_PER_MSEC);
}

void deploy_phase_begin(DeployContext *ctx, DeployPhase phase)
{
	ctx->phase = phase;
	ctx->phase_started = now_usec(CLOCK_MONOTONIC);
	deploy_emit(ctx, deploy_event(ctx, EVENT_PHASE_STARTED, LOG_INFO, "Phase %s started.",
				      deploy_phase_to_string(phase)));
}

int deploy_phase_end(DeployContext *ctx, int r)
{
	unsigned long long ms = elapsed_ms(ctx->phase_started);
	bool ok = r >= 0 && !ctx->out_of_memory;
	Event *ev = deploy_event(ctx, EVENT_PHASE_FINISHED, ok ? LOG_INFO : LOG_ERR,
				 "Phase %s %s after %llu ms.", deploy_phase_to_string(ctx->phase),
				 ok ? "finished" : "failed", ms);

	if (ev && event_add(ev, "DURATION_MS", "%llu", ms) < 0)
		ev = event_free(ev);
	deploy_emit(ctx, ev);
	if (ctx->out_of_memory && r >= 0)
		r = -ENOMEM;
	ctx->out_of_memory = false;
	return r;
}

DeployExit deploy_exit_for(int r, DeployExit otherwise)
{
	switch (r) {
	case -ECANCELED:
		return DEPLOY_EXIT_CANCELLED;
	case -EBUSY:
		return DEPLOY_EXIT_BUSY;
	case -ENOMEM:
		return DEPLOY_EXIT_INTERNAL;
	default:
		return r >= 0 ? DEPLOY_EXIT_OK : otherwise;
	}
}

static const char *result_for(const DeployContext *ctx, DeployExit exit_code)
{
	if (exit_code == DEPLOY_EXIT_OK)
		return ctx->req->dry_run ? "dry-run" : "ok";
	if (exit_code == DEPLOY_EXIT_CANCELLED)
		return "cancelled";
	return "failed";
}

DeployExit deploy_finish(DeployContext *ctx, DeployExit exit_code, const char *message)
{
	unsigned long long ms = elapsed_ms(ctx->started);
	const char *result = result_for(ctx, exit_code);

	ctx->phase = DEPLOY_PHASE_DONE;
	Event *ev = deploy_event(ctx, EVENT_DEPLOY_FINISHED,
				 exit_code == DEPLOY_EXIT_OK ? LOG_NOTICE : LOG_ERR, "%s", message);
	if (ev && (event_add(ev, "DEPLOY_RESULT", "%s", result) < 0 ||
		   event_add(ev, "DEPLOY_EXIT", "%d", exit_code) < 0 ||
		   event_add(ev, "DURATION_MS", "%llu", ms) < 0))
		ev = event_free(ev);
	/* Stamped (redacted) now, while the secrets are known; sent by deploy_finish_send(). */
	event_free(ctx->finished);
	ctx->finished = stamp(ctx, ev) ? ev : NULL;
	return exit_code;
}

void deploy_finish_send(DeployContext *ctx)
{
	_cleanup_(event_freep) Event *ev = TAKE_PTR(ctx->finished);

	if (ev && ctx->sink)
		ctx->sink(ev, ctx->userdata);
}
