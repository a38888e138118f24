#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "unit-name.h"
#include "strv.h"
#include "units-internal.h"

/* One unit under watch. */
typedef struct SettleUnit {
	const char *name;
	size_t target;
	UnitsManager *m;
	char *path;
	sd_bus_slot *changed_slot;
	bool is_service;
	uint32_t restarts;   /* NRestarts at the first look */
	unsigned n_restarts; /* restarts counted at the last look */
	char *last_state;    /* ActiveState at the last look */
	int look_error;	     /* ActiveState or NRestarts could not be read */
	bool fallen;	     /* seen leaving active, or restarted */
	bool lost;	     /* its manager's connection failed (look_error says how) */
	char *fallen_state;  /* the state it was seen in (NULL if that could not be kept) */
	usec_t fallen_at;    /* CLOCK_MONOTONIC */
	bool decided;
} SettleUnit;

typedef struct Settle {
	const UnitsOptions *options;
	sd_bus **buses;	 /* each target's */
	int *bus_errors; /* each target's connection failure, 0 while it works */
	bool *lost;	 /* the target's failure has been passed on to its units */
	size_t n_targets;
	usec_t begin; /* CLOCK_MONOTONIC */
	usec_t since; /* CLOCK_REALTIME, for the journal */
	SettleUnit *units;
	UnitOutcome *outcomes; /* outcomes[i] is units[i]'s, once decided */
	size_t n;
} Settle;

static void settle_done(Settle *s)
{
	for (size_t i = 0; s->units && i < s->n; i++) {
		SettleUnit *u = &s->units[i];

		free(u->path);
		sd_bus_slot_unref(u->changed_slot);
		free(u->fallen_state);
		free(u->last_state);
	}
	free(s->units);
	free(s->buses);
	free(s->bus_errors);
	free(s->lost);
	for (size_t i = 0; s->outcomes && i < s->n; i++)
		units_outcome_done(&s->outcomes[i]);
	free(s->outcomes);
}

static bool state_is_up(const char *state)
{
	return strcmp(state, "active") == 0 || strcmp(state, "reloading") == 0;
}

static void note_state(SettleUnit *u, const char *state, bool restarted)
{
	if (u->fallen || (state_is_up(state) && !restarted))
		return;
	u->fallen = true;
	u->fallen_state = strdup(state); /* without it the verdict still stands */
	u->fallen_at = now_usec(CLOCK_MONOTONIC);
}

/* PropertiesChanged(s interface, a{sv} changed, as invalidated) of one unit. */
static int on_properties_changed(sd_bus_message *signal, void *userdata,
				 sd_bus_error *error _unused_)
{
	SettleUnit *u = userdata;
	const char *interface;

	if (u->fallen || sd_bus_message_read(signal, "s", &interface) < 0 ||
	    strcmp(interface, UNITS_UNIT_INTERFACE) != 0 ||
	    sd_bus_message_enter_container(signal, 'a', "{sv}") < 0)
		return 0;
	while (sd_bus_message_enter_container(signal, 'e', "sv") > 0) {
		const char *property, *state;

		if (sd_bus_message_read(signal, "s", &property) < 0)
			return 0;
		if (strcmp(property, "ActiveState") == 0) {
			if (sd_bus_message_read(signal, "v", "s", &state) >= 0)
				note_state(u, state, false);
			return 0;
		}
		if (sd_bus_message_skip(signal, "v") < 0 ||
		    sd_bus_message_exit_container(signal) < 0)
			return 0;
	}
	return 0;
}

/* Takes what one look at u gave: its ActiveState and, for a service, its NRestarts. */
static int take_look(SettleUnit *u, const UnitsCall *state_call, const UnitsCall *restarts_call,
		     bool first)
{
	const char *state = NULL;
	uint32_t restarts = 0;
	int r;

	r = state_call->r < 0 ? state_call->r
			      : sd_bus_message_read(state_call->reply, "v", "s", &state);
	if (r >= 0 && u->is_service)
		r = restarts_call->r < 0
			    ? restarts_call->r
			    : sd_bus_message_read(restarts_call->reply, "v", "u", &restarts);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		u->look_error = r;
		return 0;
	}

	if (first)
		u->restarts = restarts;
	else
		u->n_restarts = restarts - u->restarts;
	/* A service that died and came back between two looks is up now, but did not stay
	 * up: its restart counter tells. */
	note_state(u, state, u->n_restarts > 0);
	free(u->last_state);
	u->last_state = strdup(state);
	return u->last_state ? 0 : -ENOMEM;
}

/* Reads ActiveState (and NRestarts of a service) of every unit still watched, all at once.
 * A read that fails leaves the unit unconfirmed, which is a failure too; only -ENOMEM and
 * -ECANCELED end the watch. */
static int look_all(Settle *s, usec_t deadline, bool first)
{
	_cleanup_free_ UnitsCall *calls = calloc(2 * s->n + 1, sizeof(UnitsCall));
	_cleanup_free_ size_t *of = calloc(s->n + 1, sizeof(size_t));
	size_t k = 0;
	int r = 0;

	if (!calls || !of)
		return -ENOMEM;
	for (size_t i = 0; i < s->n && r >= 0; i++) {
		SettleUnit *u = &s->units[i];

		if (u->decided || u->lost || u->fallen || u->look_error)
			continue;
		r = units_property_call(u->m, u->path, UNITS_UNIT_INTERFACE, "ActiveState",
					&calls[2 * k].call);
		calls[2 * k].r = r < 0 ? r : 0;
		if (r >= 0 && u->is_service) {
			r = units_property_call(u->m, u->path, UNITS_SERVICE_INTERFACE, "NRestarts",
						&calls[2 * k + 1].call);
			calls[2 * k + 1].r = r < 0 ? r : 0;
		}
		if (r == -ENOMEM)
			break;
		r = 0;
		of[k++] = i;
	}
	if (r >= 0)
		r = units_call_all(calls, 2 * k, deadline, s->options->cancel_fd);
	for (size_t j = 0; j < k && r >= 0; j++)
		r = take_look(&s->units[of[j]], &calls[2 * j], &calls[2 * j + 1], first);
	units_calls_done(calls, 2 * k);
	return r;
}

static int decide(Settle *s, size_t i, usec_t query_deadline)
{
	SettleUnit *u = &s->units[i];
	UnitOutcome *o = &s->outcomes[i];
	int r;

	o->name = strdup(u->name);
	if (!o->name)
		return -ENOMEM;
	o->target = u->target;
	o->error = u->fallen ? -ESRCH : u->look_error;
	if (u->lost && !u->fallen) {
		r = units_connection_lost_message(u->m, u->look_error, &o->error_message);
		if (r < 0)
			return r;
	}
	o->duration = (u->fallen ? u->fallen_at : now_usec(CLOCK_MONOTONIC)) - s->begin;
	o->active_state = u->fallen ? TAKE_PTR(u->fallen_state) : TAKE_PTR(u->last_state);
	o->n_restarts = u->n_restarts;
	r = units_outcome_conclude(u->m, o, s->since, query_deadline, s->options);
	if (r < 0)
		return r;
	u->decided = true;
	return 0;
}

/* A connection that failed leaves its units unconfirmed, with its error. */
static void pass_on_lost_connections(Settle *s)
{
	for (size_t t = 0; t < s->n_targets; t++) {
		if (s->lost[t] || s->bus_errors[t] >= 0)
			continue;
		s->lost[t] = true;
		for (size_t i = 0; i < s->n; i++) {
			SettleUnit *u = &s->units[i];

			if (u->target == t && !u->decided && !u->fallen) {
				u->look_error = s->bus_errors[t];
				u->lost = true;
			}
		}
	}
}

static bool some_unit_fallen(void *userdata)
{
	Settle *s = userdata;

	for (size_t t = 0; t < s->n_targets; t++)
		if (!s->lost[t] && s->bus_errors[t] < 0)
			return true;
	for (size_t i = 0; i < s->n; i++)
		if ((s->units[i].fallen || s->units[i].look_error) && !s->units[i].decided)
			return true;
	return false;
}

/* Decides the fallen units (all units when at_end); returns how many remain undecided. */
static int decide_fallen(Settle *s, bool at_end)
{
	usec_t query_deadline = units_deadline(UNITS_QUERY_TIMEOUT);
	int watching = 0, r;

	if (at_end) {
		r = look_all(s, query_deadline, false);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < s->n; i++) {
		SettleUnit *u = &s->units[i];

		if (u->decided)
			continue;
		if (!u->fallen && !u->look_error && !at_end) {
			watching++;
			continue;
		}
		r = decide(s, i, query_deadline);
		if (r < 0)
			return r;
	}
	return watching;
}

static int watch(SettleUnit *u, size_t target, UnitsManager *m, const char *name)
{
	int r;

	u->name = name;
	u->target = target;
	u->m = m;
	u->is_service = unit_name_is_service(name);
	r = units_object_path(name, &u->path);
	if (r < 0)
		return r;
	return sd_bus_match_signal_async(m->bus, &u->changed_slot, units_signal_sender(m), u->path,
					 "org.freedesktop.DBus.Properties", "PropertiesChanged",
					 on_properties_changed, NULL, u);
}

int units_settle_all(const UnitsTarget *targets, size_t n_targets, const UnitsOptions *options,
		     UnitOutcome **ret_outcomes)
{
	_cleanup_(settle_done) Settle s = {
		.options = options,
		.n_targets = n_targets,
		.begin = now_usec(CLOCK_MONOTONIC),
		.since = options->journal_since ?: now_usec(CLOCK_REALTIME),
	};
	usec_t deadline = units_deadline(options->timeout);
	size_t next = 0;
	int r;

	for (size_t t = 0; t < n_targets; t++)
		for (size_t i = 0; targets[t].units && targets[t].units[i]; i++) {
			if (unit_name_check_deployable(targets[t].units[i], NULL) < 0)
				return -EINVAL;
			s.n++;
		}
	s.units = calloc(s.n + 1, sizeof(SettleUnit));
	s.outcomes = calloc(s.n + 1, sizeof(UnitOutcome));
	s.buses = calloc(n_targets + 1, sizeof(sd_bus *));
	s.bus_errors = calloc(n_targets + 1, sizeof(int));
	s.lost = calloc(n_targets + 1, sizeof(bool));
	if (!s.units || !s.outcomes || !s.buses || !s.bus_errors || !s.lost)
		return -ENOMEM;

	/* Watch first, then look: a fall between the two is seen either way.  A connection
	 * that refuses the watch leaves its units unconfirmed. */
	for (size_t t = 0; t < n_targets; t++) {
		s.buses[t] = targets[t].manager->bus;
		for (size_t i = 0; targets[t].units && targets[t].units[i]; i++) {
			r = watch(&s.units[next++], t, targets[t].manager, targets[t].units[i]);
			if (r == -ENOMEM)
				return r;
			if (r < 0 && s.bus_errors[t] == 0)
				s.bus_errors[t] = r;
		}
	}
	pass_on_lost_connections(&s);
	r = look_all(&s, units_deadline(UNITS_QUERY_TIMEOUT), true);
	if (r < 0)
		return r;

	for (;;) {
		pass_on_lost_connections(&s);
		r = decide_fallen(&s, false);
		if (r <= 0)
			break;
		r = units_wait_many(s.buses, s.bus_errors, n_targets, deadline, options->cancel_fd,
				    some_unit_fallen, &s);
		if (r == -ETIMEDOUT) {
			pass_on_lost_connections(&s);
			r = decide_fallen(&s, true);
			break;
		}
		if (r < 0)
			break;
	}
	if (r < 0)
		return r;

	*ret_outcomes = TAKE_PTR(s.outcomes);
	return units_outcomes_count_failed(*ret_outcomes);
}

int units_settle(UnitsManager *m, char *const *units, const UnitsOptions *options,
		 UnitOutcome **ret_outcomes)
{
	return units_settle_all(&(UnitsTarget){m, units}, 1, options, ret_outcomes);
}
