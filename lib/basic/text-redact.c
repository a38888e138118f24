/* Secrets replaced in text (text-redact.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "text-redact.h"

/* The length of the longest secret that starts at s (size bytes left), 0 for none. */
static size_t match_at(const char *s, size_t size, char *const *secrets)
{
	size_t best = 0;

	for (char *const *p = secrets; p && *p; p++) {
		size_t n = strlen(*p);
		if (n > best && n <= size && memcmp(s, *p, n) == 0)
			best = n;
	}
	return best;
}

int text_redact(const char *s, size_t len, char *const *secrets, char **ret)
{
	size_t cap = len + 1, out = 0;
	char *buf;

	/* A secret is at least one byte and becomes three: the result is at most 3 × len. */
	for (char *const *p = secrets; p && *p; p++)
		if (strlen(*p) < sizeof(TEXT_REDACTED) - 1) {
			cap = 3 * len + 1;
			break;
		}
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < len;) {
		size_t n = match_at(s + i, len - i, secrets);
		if (n > 0) {
			memcpy(buf + out, TEXT_REDACTED, sizeof(TEXT_REDACTED) - 1);
			out += sizeof(TEXT_REDACTED) - 1;
			i += n;
		} else
			buf[out++] = s[i++];
	}
	buf[out] = '\0';
	*ret = buf;
	return 0;
}

size_t text_redact_cut(const char *s, size_t len, char *const *secrets)
{
	size_t cut = len;

	for (char *const *p = secrets; p && *p; p++) {
		size_t n = strlen(*p);
		/* Tails shorter than the secret, longest first: the earliest start wins. */
		for (size_t k = len > n - 1 ? len - (n - 1) : 0; n > 0 && k < len && k < cut; k++)
			if (memcmp(s + k, *p, len - k) == 0) {
				cut = k;
				break;
			}
	}
	return cut;
}
