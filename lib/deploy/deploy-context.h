/* deploy-context.h — what one running deploy carries between its phases,
 * and the emitter that turns outcomes into events (internal to deploy_*).
 *
 * deploy_emit() stamps DEPLOY_ID and DEPLOY_PLAN on every event, redacts the
 * secrets from it (an event that cannot be redacted is dropped) and hands it to the sink; deploy_phase_begin()/deploy_phase_end() bracket a phase
 * with phase-started/phase-finished and its duration. */
#pragma once

#include "deploy.h"
#include "time-util.h"

typedef struct DeployContext {
	const Plan *plan;
	const DeployRequest *req;
	int cancel_fd;
	EventSink sink;
	void *userdata;
	DeployPhase phase;
	usec_t started;	      /* monotonic, the deploy's start */
	usec_t phase_started; /* monotonic, the current phase's start */
	bool terminate_idle;  /* the request's choice, else the plan's */
	char *const *secrets; /* the password's forms once resolved: redacted from every event */
} DeployContext;

/* Sends ev (consumed) with the common fields added. */
void deploy_emit(DeployContext *ctx, Event *ev);
/* Creates an event of the current phase with a formatted MESSAGE; NULL on ENOMEM. */
Event *deploy_event(DeployContext *ctx, EventType type, int priority, const char *fmt, ...)
	_printf_(4, 5);
void deploy_phase_begin(DeployContext *ctx, DeployPhase phase);
void deploy_phase_end(DeployContext *ctx, bool ok);
/* Emits deploy-finished with DEPLOY_RESULT/DEPLOY_EXIT/DURATION_MS and returns exit_code. */
DeployExit deploy_finish(DeployContext *ctx, DeployExit exit_code, const char *message);
