#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text-sanitize.h"

#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */
#define ELLIPSIS "\xE2\x80\xA6"	   /* U+2026 */

/* Decodes the well-formed UTF-8 sequence at s (size bytes left): its length, or 0 when the
 * first byte starts no well-formed sequence (overlong forms, surrogates, past U+10FFFF,
 * truncated). */
static size_t decode(const unsigned char *s, size_t size, uint32_t *ret_cp)
{
	unsigned char c = s[0], min2 = 0x80, max2 = 0xBF;
	size_t len;
	uint32_t cp;

	if (c < 0x80) {
		*ret_cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		cp = c & 0x0F;
		if (c == 0xE0)
			min2 = 0xA0;
		else if (c == 0xED)
			max2 = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		cp = c & 0x07;
		if (c == 0xF0)
			min2 = 0x90;
		else if (c == 0xF4)
			max2 = 0x8F;
	} else
		return 0;

	if (size < len || s[1] < min2 || s[1] > max2)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((s[k] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[k] & 0x3F);
	}
	*ret_cp = cp;
	return len;
}

static bool is_space(uint32_t cp)
{
	return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\v' || cp == '\f';
}

static bool is_unsafe(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) ||
	       (cp >= 0x2066 && cp <= 0x2069);
}

int text_sanitize(const char *s, size_t max_chars, TextSanitizeFlags flags, char **ret)
{
	const unsigned char *in = (const unsigned char *)s;
	bool squeeze = flags & TEXT_SANITIZE_SQUEEZE_SPACE;
	size_t size, n_chars = 0, o = 0;
	bool pending_space = false;
	char *out;

	if (!s) {
		*ret = NULL;
		return 0;
	}
	size = strlen(s);
	/* Every input byte yields at most 3 output bytes (U+FFFD for one bad byte), plus the
	 * ellipsis and the NUL. */
	out = malloc(size * 3 + sizeof(ELLIPSIS));
	if (!out)
		return -ENOMEM;

	for (size_t i = 0; i < size;) {
		uint32_t cp = 0;
		size_t len = decode(in + i, size - i, &cp);
		const char *piece;
		size_t piece_len;

		if (squeeze && len > 0 && is_space(cp)) {
			pending_space = n_chars > 0;
			i += len;
			continue;
		}
		if (max_chars > 0 && n_chars + pending_space >= max_chars) {
			memcpy(out + o, ELLIPSIS, strlen(ELLIPSIS));
			o += strlen(ELLIPSIS);
			break;
		}
		if (pending_space) {
			out[o++] = ' ';
			n_chars++;
			pending_space = false;
		}

		if (len == 0) {
			piece = REPLACEMENT;
			piece_len = strlen(REPLACEMENT);
			len = 1;
		} else if (is_space(cp)) {
			piece = " ";
			piece_len = 1;
		} else if (is_unsafe(cp)) {
			piece = REPLACEMENT;
			piece_len = strlen(REPLACEMENT);
		} else {
			piece = s + i;
			piece_len = len;
		}
		memcpy(out + o, piece, piece_len);
		o += piece_len;
		n_chars++;
		i += len;
	}
	out[o] = '\0';
	*ret = out;
	return 0;
}
