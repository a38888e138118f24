/* text-redact.h — secrets taken out of text before it reaches any sink.
 *
 * text_redact() copies len bytes of s with every occurrence of any of secrets (a
 * NULL-terminated list; empty strings are ignored) replaced by TEXT_REDACTED; where several
 * secrets match at one place the longest wins.  text_redact_cut() is for text handed over in
 * pieces (a long line cut at a buffer's end): it returns where to cut s[0..len) so that no
 * secret straddles the cut — the start of the earliest tail of s that is a proper prefix of a
 * secret, or len when there is none.  It may return 0 (the caller then cuts at len: a secret
 * longer than the whole buffer cannot be kept whole).  Functions return 0 or -ENOMEM (*ret
 * untouched). */
#pragma once

#include <stddef.h>

#define TEXT_REDACTED "***"

int text_redact(const char *s, size_t len, char *const *secrets, char **ret);
size_t text_redact_cut(const char *s, size_t len, char *const *secrets);
