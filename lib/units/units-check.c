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

/* The manager's own sentence for a unit that is not loaded ("Unit x.service is masked."). */
static int read_load_error(UnitsManager *m, const char *path, usec_t deadline, int cancel_fd,
			   char **ret)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	const char *name, *message;
	int r;

	r = units_get_property(m, path, UNITS_UNIT_INTERFACE, "LoadError", "(ss)", deadline,
			       cancel_fd, &reply);
	if (r < 0)
		return r;
	r = sd_bus_message_read(reply, "(ss)", &name, &message);
	if (r < 0)
		return r;
	if (!*message)
		return -ENODATA;
	*ret = strdup(message);
	return *ret ? 0 : -ENOMEM;
}

/* Returns 1 and fills *p when the unit is not fit to be stopped and started, 0 when it is. */
static int check_one(UnitsManager *m, const char *name, usec_t deadline, int cancel_fd,
		     UnitProblem *p)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_free_ char *state = NULL, *message = NULL;
	const char *path;
	int r;

	const char *reason = NULL;
	if (unit_name_check_deployable(name, &reason) < 0) {
		if (asprintf(&message, "Unit %s cannot be deployed: it %s.", name, reason) < 0)
			return -ENOMEM;
		return add_problem(p, name, -EINVAL, NULL, message) ?: 1;
	}

	/* LoadUnit, unlike GetUnit, also answers for a unit nobody has used yet. */
	r = sd_bus_message_new_method_call(m->bus, &call, UNITS_DESTINATION, UNITS_MANAGER_PATH,
					   UNITS_MANAGER_INTERFACE, "LoadUnit");
	if (r < 0)
		return r;
	r = sd_bus_message_append(call, "s", name);
	if (r < 0)
		return r;
	r = units_call(m->bus, call, deadline, cancel_fd, &reply, &error);
	if (r < 0 && sd_bus_error_is_set(&error))
		return add_problem(p, name, r, NULL, error.message ?: error.name) ?: 1;
	if (r < 0)
		return r;
	r = sd_bus_message_read(reply, "o", &path);
	if (r < 0)
		return r;

	r = units_get_string(m, path, UNITS_UNIT_INTERFACE, "LoadState", deadline, cancel_fd,
			     &state);
	if (r < 0)
		return r;
	if (strcmp(state, "loaded") == 0)
		return 0;

	r = read_load_error(m, path, deadline, cancel_fd, &message);
	if (r == -ENOMEM || r == -ECANCELED)
		return r;
	if (r < 0 && asprintf(&message, "Unit %s is %s.", name, state) < 0)
		return -ENOMEM;
	return add_problem(p, name, load_state_to_errno(state), state, message) ?: 1;
}

int units_check(UnitsManager *m, char *const *units, const UnitsOptions *options,
		UnitProblem **ret_problems)
{
	_cleanup_(units_problems_freep) UnitProblem *problems = NULL;
	usec_t deadline = units_deadline(options->timeout);
	size_t n = 0;

	problems = calloc(strv_length(units) + 1, sizeof(UnitProblem));
	if (!problems)
		return -ENOMEM;
	for (size_t i = 0; units && units[i]; i++) {
		int r = check_one(m, units[i], deadline, options->cancel_fd, &problems[n]);
		if (r < 0)
			return r;
		n += r;
	}

	*ret_problems = TAKE_PTR(problems);
	return (int)n;
}

int units_manager_kind(UnitsManager *m, usec_t timeout, int cancel_fd, UnitsBus *ret)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_strv_free_ char **paths = NULL;
	int r;

	r = units_get_property(m, UNITS_MANAGER_PATH, UNITS_MANAGER_INTERFACE, "UnitPath", "as",
			       units_deadline(timeout), cancel_fd, &reply);
	if (r < 0)
		return r;
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
