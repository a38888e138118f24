#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit-name.h"
#include "strv.h"
#include "units-internal.h"

static int load_state_to_errno(const char *state)
{
	if (strcmp(state, "not-found") == 0)
		return -ENOENT;
	if (strcmp(state, "masked") == 0)
		return -ERFKILL; /* as systemd itself says "masked" */
	if (strcmp(state, "error") == 0 || strcmp(state, "bad-setting") == 0)
		return -ENOEXEC;
	return -EIO;
}

static int add_problem(UnitProblem *p, const char *name, int error, const char *load_state,
		       const char *message)
{
	p->name = strdup(name);
	p->error = error;
	p->load_state = load_state ? strdup(load_state) : NULL;
	p->message = strdup(message);
	if (!p->name || (load_state && !p->load_state) || !p->message) {
		free(p->name);
		free(p->load_state);
		free(p->message);
		*p = (UnitProblem){0};
		return -ENOMEM;
	}
	return 0;
}

typedef struct CheckRun CheckRun;

/* One manager of units_check_all(): the kind question, then its units. */
typedef struct Target {
	CheckRun *run;
	UnitsCheck *check;
	sd_bus_slot *kind_slot;
	bool kind_pending;
} Target;

typedef enum Step {
	STEP_LOAD,	 /* LoadUnit */
	STEP_STATE,	 /* its LoadState */
	STEP_LOAD_ERROR, /* not loaded: the manager's LoadError */
	_STEP_MAX,
} Step;

/* One unit of units_check_all(): each step follows the answer to the one before, so every
 * manager goes at its own pace. */
typedef struct Probe {
	Target *target;
	const char *name;
	UnitProblem *problem; /* its slot in check->problems */
	Step step;
	sd_bus_slot *slots[_STEP_MAX];
	bool pending; /* a call is out */
	char *path;   /* from LoadUnit */
	char *state;  /* LoadState, when not "loaded" */
} Probe;

struct CheckRun {
	Target *targets;
	size_t n_targets;
	Probe *probes;
	size_t n_probes;
	sd_bus **buses; /* targets[i]'s */
	int *bus_errors;
	usec_t deadline;
	bool out_of_memory;
};

static void check_run_done(CheckRun *run)
{
	for (size_t i = 0; run->probes && i < run->n_probes; i++) {
		Probe *p = &run->probes[i];

		for (Step step = 0; step < _STEP_MAX; step++)
			sd_bus_slot_unref(p->slots[step]);
		free(p->path);
		free(p->state);
	}
	free(run->probes);
	for (size_t i = 0; run->targets && i < run->n_targets; i++)
		sd_bus_slot_unref(run->targets[i].kind_slot);
	free(run->targets);
	free(run->buses);
	free(run->bus_errors);
}

/* A failure to ask is the manager's, not the unit's: its check fails as a whole. */
static void check_failed(UnitsCheck *c, int error)
{
	if (c->result >= 0)
		c->result = error;
}

/* 0 for a method return; else the error reply's -errno (and *ret_error its name and message),
 * or -ECONNRESET for the reply sd-bus makes up when the connection closed. */
static int reply_result(sd_bus_message *reply, const sd_bus_error **ret_error)
{
	*ret_error = NULL;
	if (units_reply_is_connection_lost(reply))
		return -ECONNRESET;
	if (!sd_bus_message_is_method_error(reply, NULL))
		return 0;
	*ret_error = sd_bus_message_get_error(reply);
	return -sd_bus_message_get_errno(reply);
}

static int on_probe_reply(sd_bus_message *reply, void *userdata, sd_bus_error *error _unused_);

/* Sends the probe's current step. */
static void probe_send(Probe *p)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
	UnitsManager *m = p->target->check->manager;
	int r;

	if (p->step == STEP_STATE)
		r = units_property_call(m, p->path, UNITS_UNIT_INTERFACE, "LoadState", &call);
	else if (p->step == STEP_LOAD_ERROR)
		r = units_property_call(m, p->path, UNITS_UNIT_INTERFACE, "LoadError", &call);
	else {
		/* LoadUnit, unlike GetUnit, also answers for a unit nobody has used yet. */
		r = sd_bus_message_new_method_call(m->bus, &call, UNITS_DESTINATION,
						   UNITS_MANAGER_PATH, UNITS_MANAGER_INTERFACE,
						   "LoadUnit");
		if (r >= 0)
			r = sd_bus_message_append(call, "s", p->name);
	}
	if (r >= 0)
		r = sd_bus_call_async(m->bus, &p->slots[p->step], call, on_probe_reply, p,
				      units_call_timeout(p->target->run->deadline));
	if (r == -ENOMEM)
		p->target->run->out_of_memory = true;
	else if (r < 0)
		check_failed(p->target->check, r);
	p->pending = r >= 0;
}

/* Takes the answer to the probe's current step, and sends the next one if there is one. */
static int probe_take(Probe *p, sd_bus_message *reply)
{
	const sd_bus_error *e;
	const char *s, *name;
	int r = reply_result(reply, &e);

	switch (p->step) {
	case STEP_LOAD:
		if (r < 0 && e)
			return add_problem(p->problem, p->name, r, NULL, e->message ?: e->name);
		if (r >= 0)
			r = sd_bus_message_read(reply, "o", &s);
		if (r >= 0 && !(p->path = strdup(s)))
			return -ENOMEM;
		break;
	case STEP_STATE:
		if (r >= 0)
			r = sd_bus_message_read(reply, "v", "s", &s);
		if (r >= 0 && strcmp(s, "loaded") == 0)
			return 0;
		if (r >= 0 && !(p->state = strdup(s)))
			return -ENOMEM;
		break;
	case STEP_LOAD_ERROR: {
		_cleanup_free_ char *message = NULL;

		/* The manager's own sentence ("Unit x.service is masked."), else ours. */
		if (r >= 0 && sd_bus_message_read(reply, "v", "(ss)", &name, &s) >= 0 && *s)
			message = strdup(s);
		else if (asprintf(&message, "Unit %s is %s.", p->name, p->state) < 0)
			message = NULL;
		if (!message)
			return -ENOMEM;
		return add_problem(p->problem, p->name, load_state_to_errno(p->state), p->state,
				   message);
	}
	default:
		return -EINVAL;
	}
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		check_failed(p->target->check, r);
		return 0;
	}
	p->step++;
	probe_send(p);
	return 0;
}

static int on_probe_reply(sd_bus_message *reply, void *userdata, sd_bus_error *error _unused_)
{
	Probe *p = userdata;

	p->pending = false;
	if (p->target->check->result < 0)
		return 0; /* its manager's check failed already */
	if (probe_take(p, reply) == -ENOMEM)
		p->target->run->out_of_memory = true;
	return 0;
}

/* Starts the checks of target's units (those whose names are fit to ask about). */
static void target_units(CheckRun *run, Target *target)
{
	for (size_t i = 0; i < run->n_probes; i++)
		if (run->probes[i].target == target && !run->probes[i].problem->name)
			probe_send(&run->probes[i]);
}

static int kind_of(sd_bus_message *reply, UnitsBus *ret)
{
	_cleanup_strv_free_ char **paths = NULL;
	int r;

	r = sd_bus_message_enter_container(reply, 'v', "as");
	if (r >= 0)
		r = sd_bus_message_read_strv(reply, &paths);
	if (r < 0)
		return r;
	/* Each kind of manager searches its own directories (systemd.unit(5), "Unit File Load
	 * Path"), and only its own. */
	if (strv_contains(paths, "/etc/systemd/system")) {
		*ret = UNITS_BUS_SYSTEM;
		return 0;
	}
	if (strv_contains(paths, "/etc/systemd/user")) {
		*ret = UNITS_BUS_USER;
		return 0;
	}
	return -EPROTO;
}

/* Units are asked about only on a manager that is the kind it was reached as: another is not
 * ours to load units into. */
static void target_kind_known(CheckRun *run, Target *target)
{
	UnitsCheck *c = target->check;

	c->checked = !c->ask_kind || (c->kind_error == 0 && c->kind == c->manager->which);
	if (c->checked)
		target_units(run, target);
}

static int on_kind_reply(sd_bus_message *reply, void *userdata, sd_bus_error *error _unused_)
{
	Target *target = userdata;
	UnitsCheck *c = target->check;
	const sd_bus_error *e;

	target->kind_pending = false;
	c->kind_error = reply_result(reply, &e);
	if (c->kind_error >= 0)
		c->kind_error = kind_of(reply, &c->kind);
	if (c->kind_error == -ENOMEM)
		target->run->out_of_memory = true;
	else
		target_kind_known(target->run, target);
	return 0;
}

static void ask_kind(CheckRun *run, Target *target)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
	UnitsCheck *c = target->check;
	int r;

	r = units_property_call(c->manager, UNITS_MANAGER_PATH, UNITS_MANAGER_INTERFACE, "UnitPath",
				&call);
	if (r >= 0)
		r = sd_bus_call_async(c->manager->bus, &target->kind_slot, call, on_kind_reply,
				      target, units_call_timeout(run->deadline));
	if (r == -ENOMEM)
		run->out_of_memory = true;
	else if (r < 0) {
		c->kind_error = r;
		target_kind_known(run, target);
	}
	target->kind_pending = r >= 0;
}

/* Whether target still waits for an answer from a connection that works. */
static bool target_waits(const CheckRun *run, size_t t)
{
	const Target *target = &run->targets[t];

	if (run->bus_errors[t] < 0)
		return false;
	if (target->kind_pending)
		return true;
	for (size_t i = 0; i < run->n_probes; i++)
		if (run->probes[i].target == target && run->probes[i].pending &&
		    target->check->result >= 0)
			return true;
	return false;
}

static bool all_answered(void *userdata)
{
	const CheckRun *run = userdata;

	if (run->out_of_memory)
		return true;
	for (size_t t = 0; t < run->n_targets; t++)
		if (target_waits(run, t))
			return false;
	return true;
}

/* After the wait: what still waits failed with its connection's error, or the deadline. */
static void conclude(CheckRun *run, size_t t, int wait_r)
{
	Target *target = &run->targets[t];
	UnitsCheck *c = target->check;
	int error = run->bus_errors[t] < 0 ? run->bus_errors[t] : wait_r < 0 ? wait_r : -ETIMEDOUT;

	if (target->kind_pending)
		c->kind_error = error;
	for (size_t i = 0; i < run->n_probes; i++)
		if (run->probes[i].target == target && run->probes[i].pending)
			check_failed(c, error);
}

/* Problems gathered in their units' slots, moved to the front in the order of units. */
static int compact_problems(UnitProblem *problems, size_t n_units)
{
	size_t n = 0;

	for (size_t i = 0; i < n_units; i++)
		if (problems[i].name) {
			UnitProblem p = problems[i];
			problems[i] = (UnitProblem){};
			problems[n++] = p;
		}
	return (int)n;
}

/* Sets up the run: a target per check, a probe per unit (a name unfit to ask about is a
 * problem at once). */
static int check_run_new(CheckRun *run, UnitsCheck *checks, size_t n)
{
	size_t next = 0;

	run->n_targets = n;
	run->targets = calloc(n + 1, sizeof(Target));
	run->buses = calloc(n + 1, sizeof(sd_bus *));
	run->bus_errors = calloc(n + 1, sizeof(int));
	if (!run->targets || !run->buses || !run->bus_errors)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		checks[i] = (UnitsCheck){.manager = checks[i].manager,
					 .units = checks[i].units,
					 .ask_kind = checks[i].ask_kind};
	for (size_t i = 0; i < n; i++) {
		UnitsCheck *c = &checks[i];

		run->targets[i] = (Target){.run = run, .check = c};
		run->buses[i] = c->manager->bus;
		c->problems = calloc(strv_length(c->units) + 1, sizeof(UnitProblem));
		if (!c->problems)
			return -ENOMEM;
		run->n_probes += strv_length(c->units);
	}
	run->probes = calloc(run->n_probes + 1, sizeof(Probe));
	if (!run->probes)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		for (size_t u = 0; checks[i].units && checks[i].units[u]; u++) {
			Probe *p = &run->probes[next++];
			_cleanup_free_ char *message = NULL;
			const char *reason = NULL;

			*p = (Probe){.target = &run->targets[i],
				     .name = checks[i].units[u],
				     .problem = &checks[i].problems[u]};
			if (unit_name_check_deployable(p->name, &reason) >= 0)
				continue;
			if (asprintf(&message, "Unit %s cannot be deployed: it %s.", p->name,
				     reason) < 0)
				return -ENOMEM;
			int r = add_problem(p->problem, p->name, -EINVAL, NULL, message);
			if (r < 0)
				return r;
		}
	return 0;
}

int units_check_all(UnitsCheck *checks, size_t n, const UnitsOptions *options)
{
	_cleanup_(check_run_done) CheckRun run = {.deadline = units_deadline(options->timeout)};
	int r;

	r = check_run_new(&run, checks, n);
	/* Every manager's first question goes out at once; each answer sends the next one. */
	for (size_t t = 0; t < n && r >= 0; t++) {
		if (checks[t].ask_kind)
			ask_kind(&run, &run.targets[t]);
		else
			target_kind_known(&run, &run.targets[t]);
	}
	if (r >= 0 && !run.out_of_memory) {
		r = units_wait_many(run.buses, run.bus_errors, n, run.deadline, options->cancel_fd,
				    all_answered, &run);
		if (r == -ETIMEDOUT || r >= 0) {
			for (size_t t = 0; t < n; t++)
				conclude(&run, t, r);
			r = 0;
		}
	}
	if (r >= 0 && run.out_of_memory)
		r = -ENOMEM;

	for (size_t i = 0; i < n; i++) {
		UnitsCheck *c = &checks[i];
		int found = c->problems ? compact_problems(c->problems, strv_length(c->units)) : 0;

		if (r >= 0 && c->checked && c->result >= 0)
			c->result = found;
		else {
			c->problems = units_problems_free(c->problems);
			if (r >= 0 && !c->checked)
				c->result = 0;
		}
	}
	return r;
}

int units_check(UnitsManager *m, char *const *units, const UnitsOptions *options,
		UnitProblem **ret_problems)
{
	UnitsCheck c = {.manager = m, .units = units};
	int r = units_check_all(&c, 1, options);

	if (r < 0 || c.result < 0) {
		units_problems_free(c.problems);
		return r < 0 ? r : c.result;
	}
	*ret_problems = c.problems;
	return c.result;
}

int units_manager_kind(UnitsManager *m, usec_t timeout, int cancel_fd, UnitsBus *ret)
{
	UnitsCheck c = {.manager = m, .ask_kind = true};
	int r = units_check_all(&c, 1, &(UnitsOptions){.timeout = timeout, .cancel_fd = cancel_fd});

	units_problems_free(c.problems);
	if (r < 0)
		return r;
	if (c.kind_error < 0)
		return c.kind_error;
	*ret = c.kind;
	return 0;
}
