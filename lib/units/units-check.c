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

/* One unit of units_check_all(): LoadUnit, then its LoadState, then (not loaded) the
 * manager's LoadError, each step sent for every unit at once. */
typedef struct Probe {
	UnitsCheck *check;
	const char *name;
	UnitProblem *problem; /* its slot in check->problems */
	char *path;	      /* from LoadUnit */
	char *state;	      /* LoadState, when not "loaded" */
	bool done;
} Probe;

typedef enum Step {
	STEP_LOAD,
	STEP_STATE,
	STEP_LOAD_ERROR,
} Step;

static void probes_free(Probe *probes, size_t n)
{
	for (size_t i = 0; probes && i < n; i++) {
		free(probes[i].path);
		free(probes[i].state);
	}
	free(probes);
}

static bool probe_is_live(const Probe *p)
{
	return !p->done && p->check->result >= 0;
}

/* A failure to ask is the manager's, not the unit's: its check fails as a whole. */
static void check_failed(UnitsCheck *c, int error)
{
	if (c->result >= 0)
		c->result = error;
}

static int step_call(Probe *p, Step step, sd_bus_message **ret)
{
	UnitsManager *m = p->check->manager;
	int r;

	if (step == STEP_STATE)
		return units_property_call(m, p->path, UNITS_UNIT_INTERFACE, "LoadState", ret);
	if (step == STEP_LOAD_ERROR)
		return units_property_call(m, p->path, UNITS_UNIT_INTERFACE, "LoadError", ret);
	/* LoadUnit, unlike GetUnit, also answers for a unit nobody has used yet. */
	r = sd_bus_message_new_method_call(m->bus, ret, UNITS_DESTINATION, UNITS_MANAGER_PATH,
					   UNITS_MANAGER_INTERFACE, "LoadUnit");
	if (r >= 0)
		r = sd_bus_message_append(*ret, "s", p->name);
	if (r < 0)
		*ret = sd_bus_message_unref(*ret);
	return r;
}

/* Takes what came of one probe's step. */
static int step_reply(Probe *p, Step step, UnitsCall *c)
{
	const char *s, *name;
	int r = c->r;

	switch (step) {
	case STEP_LOAD:
		if (r < 0 && sd_bus_error_is_set(&c->error)) {
			p->done = true;
			return add_problem(p->problem, p->name, r, NULL,
					   c->error.message ?: c->error.name);
		}
		if (r >= 0)
			r = sd_bus_message_read(c->reply, "o", &s);
		if (r >= 0 && !(p->path = strdup(s)))
			return -ENOMEM;
		break;
	case STEP_STATE:
		if (r >= 0)
			r = sd_bus_message_read(c->reply, "v", "s", &s);
		if (r >= 0 && strcmp(s, "loaded") == 0)
			p->done = true;
		else if (r >= 0 && !(p->state = strdup(s)))
			return -ENOMEM;
		break;
	case STEP_LOAD_ERROR: {
		_cleanup_free_ char *message = NULL;

		/* The manager's own sentence ("Unit x.service is masked."), else ours. */
		if (r >= 0 && sd_bus_message_read(c->reply, "v", "(ss)", &name, &s) >= 0 && *s)
			message = strdup(s);
		else if (asprintf(&message, "Unit %s is %s.", p->name, p->state) < 0)
			message = NULL;
		if (!message)
			return -ENOMEM;
		p->done = true;
		return add_problem(p->problem, p->name, load_state_to_errno(p->state), p->state,
				   message);
	}
	}
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		check_failed(p->check, r);
	return 0;
}

/* Sends one step for every live probe at once and takes the replies. */
static int run_step(Probe *probes, size_t n, Step step, usec_t deadline, int cancel_fd)
{
	_cleanup_free_ UnitsCall *calls = calloc(n + 1, sizeof(UnitsCall));
	_cleanup_free_ size_t *of = calloc(n + 1, sizeof(size_t));
	size_t k = 0;
	int r = 0;

	if (!calls || !of)
		return -ENOMEM;
	for (size_t i = 0; i < n && r >= 0; i++) {
		if (!probe_is_live(&probes[i]))
			continue;
		r = step_call(&probes[i], step, &calls[k].call);
		if (r == -ENOMEM)
			break;
		if (r < 0) {
			check_failed(probes[i].check, r);
			r = 0;
			continue;
		}
		of[k++] = i;
	}
	if (r >= 0 && k > 0)
		r = units_call_all(calls, k, deadline, cancel_fd);
	for (size_t j = 0; j < k && r >= 0; j++)
		r = step_reply(&probes[of[j]], step, &calls[j]);
	units_calls_done(calls, k);
	return r;
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

/* Asks every manager whose kind is wanted which kind it is (Manager.UnitPath), all at once. */
static int ask_kinds(UnitsCheck *checks, size_t n, usec_t deadline, int cancel_fd)
{
	_cleanup_free_ UnitsCall *calls = calloc(n + 1, sizeof(UnitsCall));
	_cleanup_free_ size_t *of = calloc(n + 1, sizeof(size_t));
	size_t k = 0;
	int r = 0;

	if (!calls || !of)
		return -ENOMEM;
	for (size_t i = 0; i < n && r >= 0; i++) {
		if (!checks[i].ask_kind)
			continue;
		r = units_property_call(checks[i].manager, UNITS_MANAGER_PATH,
					UNITS_MANAGER_INTERFACE, "UnitPath", &calls[k].call);
		if (r == -ENOMEM)
			break;
		if (r < 0) {
			checks[i].kind_error = r;
			r = 0;
			continue;
		}
		of[k++] = i;
	}
	if (r >= 0 && k > 0)
		r = units_call_all(calls, k, deadline, cancel_fd);
	for (size_t j = 0; j < k && r >= 0; j++) {
		UnitsCheck *c = &checks[of[j]];

		c->kind_error = calls[j].r < 0 ? calls[j].r : kind_of(calls[j].reply, &c->kind);
		if (c->kind_error == -ENOMEM)
			r = -ENOMEM;
	}
	units_calls_done(calls, k);
	return r;
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

int units_check_all(UnitsCheck *checks, size_t n, const UnitsOptions *options)
{
	usec_t deadline = units_deadline(options->timeout);
	Probe *probes = NULL;
	size_t n_probes = 0, next = 0;
	int r;

	for (size_t i = 0; i < n; i++)
		checks[i] = (UnitsCheck){.manager = checks[i].manager,
					 .units = checks[i].units,
					 .ask_kind = checks[i].ask_kind};
	r = ask_kinds(checks, n, deadline, options->cancel_fd);
	if (r < 0)
		return r;

	/* Units are asked about only on a manager that is the kind it was reached as: another
	 * is not ours to load units into. */
	for (size_t i = 0; i < n; i++) {
		UnitsCheck *c = &checks[i];

		c->checked = !c->ask_kind || (c->kind_error == 0 && c->kind == c->manager->which);
		if (!c->checked)
			continue;
		c->problems = calloc(strv_length(c->units) + 1, sizeof(UnitProblem));
		if (!c->problems)
			r = -ENOMEM;
		n_probes += strv_length(c->units);
	}
	probes = calloc(n_probes + 1, sizeof(Probe));
	if (!probes)
		r = -ENOMEM;
	for (size_t i = 0; i < n && r >= 0; i++)
		for (size_t u = 0; checks[i].checked && checks[i].problems && checks[i].units &&
				   checks[i].units[u];
		     u++) {
			Probe *p = &probes[next++];
			const char *reason = NULL;

			*p = (Probe){.check = &checks[i],
				     .name = checks[i].units[u],
				     .problem = &checks[i].problems[u]};
			if (unit_name_check_deployable(p->name, &reason) >= 0)
				continue;
			_cleanup_free_ char *message = NULL;
			if (asprintf(&message, "Unit %s cannot be deployed: it %s.", p->name,
				     reason) < 0)
				r = -ENOMEM;
			else
				r = add_problem(p->problem, p->name, -EINVAL, NULL, message);
			if (r < 0)
				break;
			p->done = true;
		}
	for (Step step = STEP_LOAD; step <= STEP_LOAD_ERROR && r >= 0; step++)
		r = run_step(probes, n_probes, step, deadline, options->cancel_fd);
	probes_free(probes, n_probes);

	for (size_t i = 0; i < n; i++) {
		UnitsCheck *c = &checks[i];
		int found = c->problems ? compact_problems(c->problems, strv_length(c->units)) : 0;

		if (r >= 0 && c->checked && c->result >= 0)
			c->result = found;
		else
			c->problems = units_problems_free(c->problems);
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
