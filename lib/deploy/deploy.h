/* deploy.h — one deploy, phase by phase (docs/design.md, steps 1–5).
 *
 * deploy_run() runs preflight, stop, idle, migrate and start in order for a
 * loaded plan, sends every event (with DEPLOY_ID and DEPLOY_PLAN on each)
 * to the sink, and returns the deploy's exit code (exit-code.h).  It ends
 * with exactly one deploy-finished event.  When cancel_fd becomes readable
 * the running step is cancelled (a statement is cancelled on the server and
 * rolled back) and the deploy ends as cancelled.  It never prints. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "event.h"
#include "exit-code.h"
#include "name-rules.h"
#include "plan.h"
#include "units.h"

typedef struct DeployRequest {
	char id[DEPLOY_ID_LENGTH + 1]; /* from deploy_id_new() */
	const char *release;	       /* may be NULL */
	uid_t requester_uid;
	const char *requester; /* who asked: user name [@host]; the history's applied_by */
	bool dry_run;
	int terminate_idle;	    /* <0: as the plan says, 0: no, 1: yes */
	const UnitsSshOptions *ssh; /* how remote hosts are reached; NULL: ssh's own defaults */
} DeployRequest;

/* A new random deploy id, 32 lower-case hex digits (sd-id128). */
int deploy_id_new(char ret[DEPLOY_ID_LENGTH + 1]);

DeployExit deploy_run(const Plan *plan, const DeployRequest *req, int cancel_fd, EventSink sink,
		      void *userdata);
