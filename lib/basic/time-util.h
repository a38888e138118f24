/* time-util.h — microsecond time values, as systemd counts them.
 *
 * usec_t is a count of microseconds; USEC_INFINITY means "never". */
#pragma once

#include <stdint.h>
#include <time.h>

typedef uint64_t usec_t;

#define USEC_INFINITY ((usec_t)UINT64_MAX)
#define USEC_PER_MSEC ((usec_t)1000ULL)
#define USEC_PER_SEC ((usec_t)1000000ULL)
#define USEC_PER_MINUTE (60 * USEC_PER_SEC)
#define USEC_PER_HOUR (60 * USEC_PER_MINUTE)

/* Monotonic or realtime clock now, in microseconds. */
usec_t now_usec(clockid_t clock);

/* Enough for the longest format_age() result. */
#define FORMAT_AGE_MAX 48

/* An age for a sentence, rounded down to what a person needs: "0.4 s" (below 10 s),
 * "12 s" (below 2 min), "3 min 5 s" (below 2 h), "26 h 10 min"; "an unknown time" for
 * USEC_INFINITY.  Returns buf. */
char *format_age(usec_t u, char buf[static FORMAT_AGE_MAX]);
