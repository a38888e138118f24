/* Events a test's deploy sent, kept for the test to look at (event-record.h). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event-record.h"
#include "strv.h"

void event_record(const Event *ev, void *userdata)
{
	Events *e = userdata;
	Recorded r = {.type = ev->type,
		      .priority = ev->priority,
		      .at = now_usec(CLOCK_MONOTONIC),
		      .message = strdup(ev->message)};

	ck_assert_ptr_nonnull(r.message);
	for (size_t i = 0; i < ev->n_fields; i++) {
		char *kv;
		ck_assert_int_ge(asprintf(&kv, "%s=%s", ev->fields[i].key, ev->fields[i].value), 0);
		ck_assert_int_eq(strv_push(&r.fields, kv), 0);
	}
	e->list = realloc(e->list, (e->n + 1) * sizeof(Recorded));
	ck_assert_ptr_nonnull(e->list);
	e->list[e->n++] = r;
}

void events_clear(Events *e)
{
	for (size_t i = 0; i < e->n; i++) {
		free(e->list[i].message);
		strv_free(e->list[i].fields);
	}
	free(e->list);
	*e = (Events){};
}

const char *field(const Recorded *r, const char *key)
{
	size_t len = strlen(key);

	STRV_FOREACH (kv, r->fields)
		if (strncmp(*kv, key, len) == 0 && (*kv)[len] == '=')
			return *kv + len + 1;
	return NULL;
}

size_t count_events(const Events *e, EventType type)
{
	size_t n = 0;

	for (size_t i = 0; i < e->n; i++)
		n += e->list[i].type == type;
	return n;
}

const Recorded *find_event(const Events *e, EventType type, size_t nth)
{
	for (size_t i = 0; i < e->n; i++)
		if (e->list[i].type == type && nth-- == 0)
			return &e->list[i];
	ck_abort_msg("no %s event #%zu among %zu events", event_type_to_string(type), nth, e->n);
	return NULL;
}

void dump_events(const Events *e)
{
	for (size_t i = 0; i < e->n; i++)
		fprintf(stderr, "  %s <%d> %s\n", event_type_to_string(e->list[i].type),
			e->list[i].priority, e->list[i].message);
}
