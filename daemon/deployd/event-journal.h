/* event-journal.h — the journal sink: one structured journal entry per event.
 *
 * Fields are exactly deployd(8)'s (JOURNAL): MESSAGE, PRIORITY, MESSAGE_ID,
 * DEPLOY_EVENT, DEPLOY_PHASE and the event's own fields (DEPLOY_ID,
 * DEPLOY_PLAN, … are added by the pipeline), and SYSLOG_IDENTIFIER.  No
 * CODE_FILE/CODE_LINE/CODE_FUNC: every event would carry the same place (the
 * daemon's fan-out), and journald stores and indexes each field of each of a
 * deploy's hundreds of entries.  Returns 0 or a negative errno. */
#pragma once

#include "event.h"

int event_journal_send(const Event *ev);
