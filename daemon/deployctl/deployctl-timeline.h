/* deployctl-timeline.h — `deployctl log --timeline`: where one deploy spent its time.
 *
 * Fed the deploy's events in order, it keeps one row per finished phase (phase-finished) and
 * per migration that ended (migration-applied, migration-failed), each with its DURATION_MS;
 * ctl_timeline_print() writes one line per row, migrations indented under their phase, with a
 * bar of '#' whose length is the row's share of the whole deploy (deploy-finished's
 * DURATION_MS, else the phases' sum) in CTL_TIMELINE_WIDTH columns, rounded; a row that took
 * any time gets at least one '#'. */
#pragma once

#include <stdio.h>

#include "event.h"

#define CTL_TIMELINE_WIDTH 40

typedef struct CtlTimelineRow {
	char *label;
	unsigned long long ms;
	bool migration;
} CtlTimelineRow;

typedef struct CtlTimeline {
	CtlTimelineRow *rows;
	size_t n;
	unsigned long long total_ms; /* deploy-finished's, 0 until seen */
	char *result;		     /* deploy-finished's DEPLOY_RESULT */
	size_t first_migration;	     /* rows of the migrate phase not yet placed after it */
} CtlTimeline;

/* 0 or -ENOMEM. */
int ctl_timeline_add(CtlTimeline *t, const Event *ev);
void ctl_timeline_print(const CtlTimeline *t, FILE *out, const char *deploy_id);
void ctl_timeline_done(CtlTimeline *t);
