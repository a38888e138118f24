/* deployctl-progress.h — a running migration's progress for people.
 *
 * migration-progress and migration-running events become, on a terminal, ONE line redrawn
 * in place (phase, percentage, a bar, elapsed time, an estimate of what remains of the
 * phase); any other output first ends that line, which then stays as it was last drawn.  On
 * anything else (a pipe, a file) they become ordinary lines: a statement's progress at most
 * once per 10 % of a phase (and when the phase changes), a heartbeat once each. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "event.h"

typedef struct CtlProgress {
	bool tty;
	bool line_open;		 /* a line is being redrawn in place */
	char *key;		 /* migration, pid, command and phase of the count shown */
	uint64_t phase_start_ms; /* DURATION_MS when that count was first seen */
	double phase_start_percent;
	int printed_decile;  /* pipe: the last 10 % step printed for key; -1 none */
	uint64_t printed_ms; /* pipe: DURATION_MS of the last heartbeat printed */
} CtlProgress;

void ctl_progress_init(CtlProgress *p, FILE *out);
void ctl_progress_done(CtlProgress *p);
/* True when ev is a progress event (shown here, stamped with "HH:MM:SS phase" prefix). */
bool ctl_progress_show(CtlProgress *p, FILE *out, const char *prefix, const Event *ev);
/* Ends an in-place line before other output. */
void ctl_progress_close(CtlProgress *p, FILE *out);
