/* tick-schedule.h — when a watch looks at something that runs: soon after it starts, then
 * rarely.
 *
 * A schedule started at START with FIRST and INTERVAL ticks at START + FIRST, + 2·FIRST,
 * + 4·FIRST, … while the gap to the next tick stays below INTERVAL, then every INTERVAL
 * (10 ms and 500 ms: 10, 20, 40, 80, 160, 320, 640, 1140, 1640 … ms).  A wait that begins with the
 * statement is seen within FIRST or its double, while something that ends within FIRST costs
 * no tick at all and a long run costs one tick per INTERVAL.  FIRST 0 (or ≥ INTERVAL) is the
 * plain period: every INTERVAL from START.  INTERVAL 0 means no ticks (next is USEC_INFINITY).
 */
#pragma once

#include "time-util.h"

typedef struct TickSchedule {
	usec_t start;
	usec_t first;
	usec_t interval;
	usec_t next; /* monotonic time of the next tick; USEC_INFINITY: none */
} TickSchedule;

void tick_schedule_start(TickSchedule *s, usec_t first, usec_t interval, usec_t now);
/* After the tick due at s->next ran at now: the one after it. */
void tick_schedule_advance(TickSchedule *s, usec_t now);
