/* utf8.h — strict UTF-8 checking and text positions.
 *
 * utf8_find_invalid() finds the first byte that does not belong to a
 * well-formed UTF-8 sequence (overlong forms, surrogates, code points past
 * U+10FFFF and truncated sequences are invalid).  utf8_position() turns a
 * byte offset into a 1-based line and column counted in characters, with
 * line breaks as YAML counts them (LF, CR LF, CR, NEL, LS, PS) and a
 * leading byte order mark not counted — the positions libyaml reports. */
#pragma once

#include <stddef.h>

/* Offset of the first invalid byte, or size when all of s is valid. */
size_t utf8_find_invalid(const char *s, size_t size);
/* Line and column of the byte at offset (offset may equal size). */
void utf8_position(const char *s, size_t size, size_t offset, size_t *ret_line, size_t *ret_column);
