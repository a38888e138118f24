/* duration.h — durations as plans write them: an integer and a unit.
 *
 * duration_parse() accepts "DIGITS UNIT" with no space, UNIT one of ms, s,
 * min, h ("500ms", "5s", "2min", "1h"), or a bare "0".  No sign, no
 * fraction, no compound ("1min30s"); values that overflow usec_t are
 * refused.  It returns 0, or -EINVAL / -ERANGE with *ret untouched and, in
 * *ret_reason, a static phrase saying what is wrong (may be NULL).
 * duration_format() writes the shortest exact form back ("90s" → "90s",
 * "120000ms" → "2min"), for summaries and messages. */
#pragma once

#include "time-util.h"

/* Enough for "18446744073709551615min" and "infinity". */
#define DURATION_FORMAT_MAX 32

int duration_parse(const char *s, usec_t *ret, const char **ret_reason);
/* Largest unit (h, min, s, ms, us) that represents u exactly; "0" for 0,
 * "infinity" for USEC_INFINITY.  Returns buf. */
char *duration_format(usec_t u, char buf[static DURATION_FORMAT_MAX]);
