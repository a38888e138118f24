/* event-record.h — an EventSink that keeps every event a test's deploy sends, and ways to
 * look them up.
 *
 * Pass event_record as the sink and an Events as its userdata.  Each helper aborts the test
 * with the reason on failure (find_event() when there is no such event). */
#pragma once

#include <stddef.h>

#include "event.h"
#include "time-util.h"

typedef struct Recorded {
	EventType type;
	int priority;
	usec_t at; /* CLOCK_MONOTONIC when the sink received it */
	char *message;
	char **fields; /* KEY=VALUE */
} Recorded;

typedef struct Events {
	Recorded *list;
	size_t n;
} Events;

/* The sink: appends a copy of ev to the Events at userdata. */
void event_record(const Event *ev, void *userdata);
void events_clear(Events *e);
/* The value of key in r, or NULL. */
const char *field(const Recorded *r, const char *key);
size_t count_events(const Events *e, EventType type);
/* The nth (0-based) event of type. */
const Recorded *find_event(const Events *e, EventType type, size_t nth);
/* Every event, one line each on stderr: for a failing test's message. */
void dump_events(const Events *e);
