/* text-sanitize.h — text from a server or a file made safe for one-line records and messages.
 *
 * text_sanitize() copies at most max_chars characters of s (0: no limit) and replaces what
 * must not reach a journal field, a socket record, a terminal or a log line: each byte that is
 * not part of well-formed UTF-8 becomes U+FFFD; tabs, line breaks, VT and FF become a space; other
 * C0 and C1 control characters and DEL become U+FFFD; so do the bidirectional embedding, override
 * and isolate characters (U+202A–U+202E, U+2066–U+2069), which make a line read differently
 * from what it holds.  A result cut short ends with "…".  With TEXT_SANITIZE_SQUEEZE_SPACE,
 * runs of white space become one space and leading and trailing white space goes (for query
 * text, where indentation wastes the characters kept).  The result is always valid UTF-8. */
#pragma once

#include <stddef.h>

typedef enum TextSanitizeFlags {
	TEXT_SANITIZE_SQUEEZE_SPACE = 1 << 0,
} TextSanitizeFlags;

/* s may be NULL: *ret is then NULL.  Returns 0 or -ENOMEM (*ret untouched). */
int text_sanitize(const char *s, size_t max_chars, TextSanitizeFlags flags, char **ret);
