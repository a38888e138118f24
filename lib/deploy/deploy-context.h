/* deploy-context.h — what one running deploy carries between its phases, and the one way
 * its phases turn outcomes into events (internal to lib/deploy and its tests).
 *
 * deploy_emit() stamps DEPLOY_ID and DEPLOY_PLAN on every event, replaces every form of the
 * database password in it by "***" (secrets, once the preflight resolved the conninfo) and
 * hands it to the sink;
 * deploy_emitf() builds and emits one from a message and a list of fields.
 * deploy_phase_begin()/deploy_phase_end() bracket a phase with phase-started/phase-finished
 * and its duration.
 *
 * Phases return 0, or a negative errno: -ECANCELED (cancelled), -EBUSY (another deploy holds
 * the deploy lock), -ENOMEM (out of memory), anything else meaning the phase failed and its
 * events say why; deploy_exit_for() maps that to the deploy's exit code.  Running out of memory
 * is treated one way: an event that cannot be built marks the context, and the phase that
 * emitted it ends with -ENOMEM (deploy_phase_end()), an internal error. */
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
	bool out_of_memory;   /* an event was lost: the current phase fails as internal */
	Event *finished;      /* deploy-finished, built and stamped, until deploy_finish_send() */
} DeployContext;

/* One field of an event being built; a NULL value leaves the field out. */
typedef struct DeployField {
	const char *key;
	const char *value;
} DeployField;

/* A context for a deploy of plan as req asks (both must outlive it), reporting to sink. */
void deploy_context_init(DeployContext *ctx, const Plan *plan, const DeployRequest *req,
			 int cancel_fd, EventSink sink, void *userdata);

/* Sends ev (consumed) with the common fields added; NULL (an event that could not be built)
 * marks the context out of memory. */
void deploy_emit(DeployContext *ctx, Event *ev);
/* Creates an event of the current phase with a formatted MESSAGE; NULL on ENOMEM. */
Event *deploy_event(DeployContext *ctx, EventType type, int priority, const char *fmt, ...)
	_printf_(4, 5);
/* Emits an event of the current phase: fields (ending with a NULL key) and MESSAGE. */
void deploy_emitf(DeployContext *ctx, EventType type, int priority, const DeployField *fields,
		  const char *fmt, ...) _printf_(5, 6);
void deploy_phase_begin(DeployContext *ctx, DeployPhase phase);
/* Ends the current phase with the phase's result r; returns r, or -ENOMEM when an event of
 * the phase was lost. */
int deploy_phase_end(DeployContext *ctx, int r);
/* The exit code for a phase's result r: cancelled, busy and internal as r says, else
 * otherwise (the phase's own failure). */
DeployExit deploy_exit_for(int r, DeployExit otherwise);
/* Builds deploy-finished with DEPLOY_RESULT/DEPLOY_EXIT/DURATION_MS and returns exit_code;
 * deploy_finish_send() sends it, once deploy_run() has closed the deploy's sessions and
 * connections: whoever hears of the end may start the next deploy at once. */
DeployExit deploy_finish(DeployContext *ctx, DeployExit exit_code, const char *message);
void deploy_finish_send(DeployContext *ctx);
