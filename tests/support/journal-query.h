/* journal-query.h — read back what deployd wrote to the real journal.
 *
 * journal_field() waits (up to a few seconds, journald writes
 * asynchronously) for the newest entry matching every "FIELD=value" match
 * and returns the value of FIELD there, or NULL when none appeared. */
#pragma once

/* Matches is a NULL-terminated list of "FIELD=value" strings; free() the result. */
char *journal_field(const char *const *matches, const char *field);
/* How many entries match right now. */
int journal_count(const char *const *matches);
/* How many entries matching now hold needle in any field (name or value). */
int journal_count_containing(const char *const *matches, const char *needle);
