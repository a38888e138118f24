/* Ticks soon after a start, then every interval (tick-schedule.h). */
#include "tick-schedule.h"

void tick_schedule_start(TickSchedule *s, usec_t first, usec_t interval, usec_t now)
{
	*s = (TickSchedule){
		.start = now,
		.first = first < interval ? first : 0,
		.interval = interval,
	};
	if (interval == 0)
		s->next = USEC_INFINITY;
	else
		s->next = now + (s->first > 0 ? s->first : interval);
}

void tick_schedule_advance(TickSchedule *s, usec_t now)
{
	if (s->interval == 0)
		return;
	/* While doubling, the gap to the next tick is the time since the start; once that
	 * reaches the interval, ticks are an interval after the last one ran (a slow tick
	 * never makes the next one come sooner). */
	usec_t since = s->next - s->start;
	if (s->first > 0 && since < s->interval && s->next + since > now)
		s->next += since;
	else
		s->next = now + s->interval;
}
