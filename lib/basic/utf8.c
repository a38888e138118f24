#include <stdbool.h>

#include "utf8.h"

/* Length of the well-formed sequence starting at s[i], or 0 when invalid. */
static size_t sequence_length(const unsigned char *s, size_t size, size_t i)
{
	unsigned char c = s[i];
	size_t len;
	unsigned char min2 = 0x80, max2 = 0xBF; /* allowed range of the second byte */

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		if (c == 0xE0)
			min2 = 0xA0; /* overlong */
		else if (c == 0xED)
			max2 = 0x9F; /* UTF-16 surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		if (c == 0xF0)
			min2 = 0x90; /* overlong */
		else if (c == 0xF4)
			max2 = 0x8F; /* past U+10FFFF */
	} else
		return 0;

	if (size - i < len)
		return 0;
	if (s[i + 1] < min2 || s[i + 1] > max2)
		return 0;
	for (size_t k = 2; k < len; k++)
		if ((s[i + k] & 0xC0) != 0x80)
			return 0;
	return len;
}

size_t utf8_find_invalid(const char *s, size_t size)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < size;) {
		size_t len = sequence_length(u, size, i);
		if (len == 0)
			return i;
		i += len;
	}
	return size;
}

/* Length of the line break at s[i] (0 when there is none). */
static size_t line_break_length(const unsigned char *s, size_t size, size_t i)
{
	if (s[i] == '\n')
		return 1;
	if (s[i] == '\r')
		return i + 1 < size && s[i + 1] == '\n' ? 2 : 1;
	if (s[i] == 0xC2 && i + 1 < size && s[i + 1] == 0x85)
		return 2;
	if (s[i] == 0xE2 && i + 2 < size && s[i + 1] == 0x80 &&
	    (s[i + 2] == 0xA8 || s[i + 2] == 0xA9))
		return 3;
	return 0;
}

void utf8_position(const char *s, size_t size, size_t offset, size_t *ret_line, size_t *ret_column)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t line = 1, column = 1, i = 0;

	if (offset > size)
		offset = size;
	if (size >= 3 && u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF && offset >= 3)
		i = 3;
	while (i < offset) {
		size_t br = line_break_length(u, size, i);
		if (br > 0 && i + br <= offset) {
			line++;
			column = 1;
			i += br;
			continue;
		}
		/* Count characters, not bytes: continuation bytes add no column. */
		if ((u[i] & 0xC0) != 0x80)
			column++;
		i++;
	}
	*ret_line = line;
	*ret_column = column;
}
