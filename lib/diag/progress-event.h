/* progress-event.h — migration-progress and migration-running events for one session.
 *
 * progress_to_event() builds migration-progress: PROGRESS_COMMAND, PROGRESS_PHASE,
 * PROGRESS_UNIT, PROGRESS_DONE, PROGRESS_TOTAL (0: unknown), PROGRESS_PERCENT (one decimal;
 * left out when the total is unknown), DURATION_MS (the statement's run so far).
 * progress_running_to_event() builds migration-running, the heartbeat of a statement no view
 * shows: PG_WAIT_EVENT_TYPE and PG_WAIT_EVENT (empty when it is not waiting) and
 * DURATION_MS.  Both carry MIGRATION_VERSION (directory migrations only), MIGRATION_NAME and
 * MIGRATION_PID (the session), in the migrate phase at the priority given.  The caller adds
 * DEPLOY_ID and DEPLOY_PLAN. */
#pragma once

#include "event.h"
#include "progress.h"

typedef struct ProgressMigration {
	const char *version; /* NULL for a migration command */
	const char *name;    /* the file's NAME, or the command line */
} ProgressMigration;

/* percent as progress_percent() gives it (the caller may have held it from falling). */
int progress_to_event(const ProgressSession *s, const ProgressMigration *m, double percent,
		      int priority, Event **ret);
int progress_running_to_event(const ProgressSession *s, const ProgressMigration *m, int priority,
			      Event **ret);
