/* journal-query.h — read back what deployd wrote to the real journal.
 *
 * journal_field() waits (up to a few seconds, journald writes
 * asynchronously) for the newest entry matching every "FIELD=value" match
 * and returns the value of FIELD there, or NULL when none appeared. */
#pragma once

#include <stdint.h>

/* Matches is a NULL-terminated list of "FIELD=value" strings; free() the result. */
char *journal_field(const char *const *matches, const char *field);
/* How many entries match right now. */
int journal_count(const char *const *matches);
/* How many entries matching now hold needle in any field (name or value). */
int journal_count_containing(const char *const *matches, const char *needle);
/* The realtime (usec) of the newest entry the user manager logged about unit (USER_UNIT=) with
 * MESSAGE_ID message_id at or after since; waits a few seconds, fails the test when none came. */
uint64_t journal_unit_logged(const char *unit, const char *message_id, uint64_t since);
/* Asserts that the units' jobs ran at once, as their manager logged them: every unit began
 * (begin_id, e.g. SD_MESSAGE_UNIT_STOPPING_STR) before any of them ended (end_id).  An order of
 * events, not a time bound: a loaded machine cannot make it flake. */
void journal_assert_overlapped(char *const *units, const char *begin_id, const char *end_id,
			       uint64_t since);
