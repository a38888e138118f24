/* event-journal.h — the journal sink: one structured journal entry per event.
 *
 * Fields are exactly deployd(8)'s (JOURNAL): MESSAGE, PRIORITY, MESSAGE_ID,
 * DEPLOY_EVENT, DEPLOY_PHASE and the event's own fields (DEPLOY_ID,
 * DEPLOY_PLAN, … are added by the pipeline).  The code location recorded is
 * the caller's, not this file's.  Returns 0 or a negative errno. */
#pragma once

#include "event.h"

#define event_journal_send(ev) event_journal_send_with_location((ev), __FILE__, __LINE__, __func__)

int event_journal_send_with_location(const Event *ev, const char *file, int line, const char *func);
