#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "unit-name.h"
#include "strv.h"
#include "units-internal.h"

static int add_failure_details(UnitsManager *m, UnitOutcome *o, usec_t since, usec_t deadline,
			       int cancel_fd)
{
	_cleanup_free_ char *path = NULL, *logged_result = NULL;
	int r;

	if (unit_name_is_service(o->name)) {
		r = units_object_path(o->name, &path);
		if (r < 0)
			return r;
		r = units_get_string(m, path, UNITS_SERVICE_INTERFACE, "Result", deadline,
				     cancel_fd, &o->service_result);
		if (r == -ENOMEM || r == -ECANCELED)
			return r;
	}

	/* Only a unit the manager saw fail gets a "failed with result" record worth waiting
	 * for; a unit still stopping when our deadline passed does not. */
	bool failed = (o->active_state && strcmp(o->active_state, "failed") == 0) ||
		      (o->service_result && strcmp(o->service_result, "success") != 0);
	usec_t grace = units_deadline(UNITS_JOURNAL_GRACE);

	/* A remote unit's journal is on its own machine. */
	if (m->host)
		return 0;
	r = units_journal_tail(m, o->name, since, failed, grace < deadline ? grace : deadline,
			       cancel_fd, UNITS_JOURNAL_LINES, &o->journal_lines, &logged_result);
	if (r == -ENOMEM || r == -ECANCELED)
		return r;

	/* A service restarted since it failed says Result=success again; the manager's record
	 * of the failure still says why. */
	if (r >= 0 && path && logged_result &&
	    (!o->service_result || strcmp(o->service_result, "success") == 0)) {
		free(o->service_result);
		o->service_result = TAKE_PTR(logged_result);
	}
	return 0;
}

int units_outcome_conclude(UnitsManager *m, UnitOutcome *o, usec_t since, usec_t deadline,
			   const UnitsOptions *options)
{
	if (o->error != 0) {
		int r = add_failure_details(m, o, since, deadline, options->cancel_fd);
		if (r < 0)
			return r;
	}
	if (options->on_outcome)
		options->on_outcome(o, options->userdata);
	return 0;
}

int units_connection_lost_message(const UnitsManager *m, int error, char **ret)
{
	_cleanup_free_ char *said = NULL;
	int r = units_manager_ssh_message(m, &said);

	if (r == -ENOMEM)
		return r;
	if (asprintf(ret, "lost the connection to the service manager%s%s (%s%s)",
		     m->host ? " on " : "", m->host ?: "", said ? "ssh: " : "",
		     said ?: strerror(-error)) < 0)
		return -ENOMEM;
	return 0;
}

void units_outcome_done(UnitOutcome *o)
{
	free(o->name);
	free(o->job_result);
	free(o->active_state);
	free(o->service_result);
	free(o->error_message);
	strv_free(o->journal_lines);
	*o = (UnitOutcome){0};
}

int units_outcomes_count_failed(const UnitOutcome *outcomes)
{
	int failed = 0;

	for (const UnitOutcome *o = outcomes; o->name; o++)
		failed += o->error != 0;
	return failed;
}

UnitOutcome *units_outcomes_free(UnitOutcome *outcomes)
{
	for (UnitOutcome *o = outcomes; o && o->name; o++)
		units_outcome_done(o);
	free(outcomes);
	return NULL;
}

UnitProblem *units_problems_free(UnitProblem *problems)
{
	for (UnitProblem *p = problems; p && p->name; p++) {
		free(p->name);
		free(p->load_state);
		free(p->message);
	}
	free(problems);
	return NULL;
}
