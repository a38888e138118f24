/* deployctl-client.h — talking to deployd and showing what it says.
 *
 * ctl_call() sends one request record and hands every record the daemon
 * sends back to on_record until the final EXIT= record, whose code it
 * returns (1 when the daemon went away without one); whatever the handler
 * printed is flushed before it waits for more (a write per chunk the daemon
 * sends, not per record).  The render functions print events for people (one
 * line each, a closing summary) or as JSON, and leave flushing to their caller. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "deployctl-progress.h"
#include "event.h"
#include "proto.h"

typedef struct CtlRender {
	FILE *out;
	bool json;
	bool color;
	const char *plan;	 /* for hints */
	uint64_t timestamp_usec; /* when the next event happened (realtime); 0 = now */
	/* Remembered for the closing summary. */
	char *last_failure; /* MESSAGE of the last failure event */
	char *blocker;	    /* "pid N (user U, application A, state S)" of the last lock report */
	bool lock_timed_out;
	CtlProgress progress; /* the line a running migration's progress is drawn on */
} CtlRender;

typedef int (*CtlRecordHandler)(const ProtoRecord *rec, void *userdata);

int ctl_connect(const char *socket_path, int *ret_fd);
/* Returns the EXIT code, or a negative errno when the daemon cannot be reached. */
int ctl_call(const char *socket_path, const ProtoRecord *request, CtlRecordHandler on_record,
	     void *userdata);

/* Says why the daemon at socket_path cannot be reached (error: a negative errno from
 * ctl_call) and returns the exit code: 9 when the socket refused the caller (EACCES, EPERM),
 * else 1. */
int ctl_unreachable(const char *socket_path, int error);

void ctl_render_init(CtlRender *r, FILE *out, bool json, const char *plan);
void ctl_render_done(CtlRender *r);
void ctl_render_event(CtlRender *r, const Event *ev);
/* Prints any record (status, plans) as KEY: value lines, or as one JSON object. */
void ctl_render_record(CtlRender *r, const ProtoRecord *rec);
void ctl_render_summary(CtlRender *r, const Event *finished);
/* One JSON object: DEPLOY_EVENT, DEPLOY_PHASE, PRIORITY, MESSAGE and the event's fields. */
int ctl_print_event_json(FILE *f, const Event *ev);
