#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "strv.h"
#include "units-internal.h"

typedef enum JobAction {
	JOB_STOP,
	JOB_START,
} JobAction;

/* One unit's job, from the request to the verdict. */
typedef struct UnitJob {
	const char *name;
	sd_bus_slot *call_slot;
	char *job_path;	  /* from the StopUnit/StartUnit reply */
	char *job_result; /* from JobRemoved */
	int call_error;	  /* the call was refused (or its reply unreadable) */
	sd_bus_error call_bus_error;
	usec_t requested_at, ended_at; /* CLOCK_MONOTONIC */
	bool ended;		       /* the call failed, the job was removed, or we gave up */
	bool timed_out;		       /* ended because our deadline passed */
	bool decided;
} UnitJob;

typedef struct JobRun {
	UnitsManager *m;
	JobAction action;
	const UnitsOptions *options;
	usec_t since; /* CLOCK_REALTIME of the request, for the journal */
	UnitJob *jobs;
	UnitOutcome *outcomes; /* outcomes[i] is jobs[i]'s, once decided */
	size_t n;
} JobRun;

static void job_run_done(JobRun *run)
{
	for (size_t i = 0; run->jobs && i < run->n; i++) {
		UnitJob *job = &run->jobs[i];

		sd_bus_slot_unref(job->call_slot);
		free(job->job_path);
		free(job->job_result);
		sd_bus_error_free(&job->call_bus_error);
	}
	free(run->jobs);
	for (size_t i = 0; run->outcomes && i < run->n; i++)
		units_outcome_done(&run->outcomes[i]);
	free(run->outcomes);
}

static void job_end(UnitJob *job)
{
	job->ended = true;
	job->ended_at = now_usec(CLOCK_MONOTONIC);
}

static int on_job_reply(sd_bus_message *reply, void *userdata, sd_bus_error *error _unused_)
{
	UnitJob *job = userdata;
	const char *path;
	int r;

	if (sd_bus_message_is_method_error(reply, NULL)) {
		job->call_error = -sd_bus_message_get_errno(reply);
		sd_bus_error_copy(&job->call_bus_error, sd_bus_message_get_error(reply));
		job_end(job);
		return 0;
	}
	r = sd_bus_message_read(reply, "o", &path);
	if (r >= 0) {
		job->job_path = strdup(path);
		r = job->job_path ? 0 : -ENOMEM;
	}
	if (r < 0) {
		job->call_error = r;
		job_end(job);
	}
	return 0;
}

/* The reply to a job request always precedes the job's JobRemoved, so the job path is known
 * by the time its signal is dispatched. */
static int on_job_removed(sd_bus_message *signal, void *userdata, sd_bus_error *error _unused_)
{
	JobRun *run = userdata;
	const char *path, *unit, *result;
	uint32_t id;

	if (sd_bus_message_read(signal, "uoss", &id, &path, &unit, &result) < 0)
		return 0;
	for (size_t i = 0; i < run->n; i++) {
		UnitJob *job = &run->jobs[i];

		if (job->ended || !job->job_path || strcmp(job->job_path, path) != 0)
			continue;
		job->job_result = strdup(result);
		if (!job->job_result)
			job->call_error = -ENOMEM;
		job_end(job);
		break;
	}
	return 0;
}

static int request_job(JobRun *run, UnitJob *job, usec_t deadline)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
	int r;

	r = sd_bus_message_new_method_call(run->m->bus, &call, UNITS_DESTINATION,
					   UNITS_MANAGER_PATH, UNITS_MANAGER_INTERFACE,
					   run->action == JOB_STOP ? "StopUnit" : "StartUnit");
	if (r < 0)
		return r;
	r = sd_bus_message_append(call, "ss", job->name, "replace");
	if (r < 0)
		return r;
	job->requested_at = now_usec(CLOCK_MONOTONIC);
	return sd_bus_call_async(run->m->bus, &job->call_slot, call, on_job_reply, job,
				 units_call_timeout(deadline));
}

static bool state_reached(JobAction action, const char *active_state)
{
	static const char *const stopped[] = {"inactive", "failed", NULL};
	static const char *const started[] = {"active", "reloading", NULL};

	return strv_contains((char *const *)(action == JOB_STOP ? stopped : started), active_state);
}

static int decide(JobRun *run, size_t i, usec_t query_deadline)
{
	UnitJob *job = &run->jobs[i];
	UnitOutcome *o = &run->outcomes[i];
	int cancel_fd = run->options->cancel_fd;
	_cleanup_free_ char *path = NULL;
	int r;

	o->name = strdup(job->name);
	if (!o->name)
		return -ENOMEM;
	o->duration = job->ended_at - job->requested_at;
	if (job->call_error) {
		o->error = job->call_error;
		if (job->call_bus_error.message) {
			o->error_message = strdup(job->call_bus_error.message);
			if (!o->error_message)
				return -ENOMEM;
		}
	} else {
		o->job_result = job->timed_out ? strdup("timeout") : TAKE_PTR(job->job_result);
		if (!o->job_result)
			return -ENOMEM;
		o->error = job->timed_out ? -ETIMEDOUT : units_job_result_to_errno(o->job_result);
	}

	r = units_object_path(job->name, &path);
	if (r < 0)
		return r;
	r = units_get_string(run->m, path, UNITS_UNIT_INTERFACE, "ActiveState", query_deadline,
			     cancel_fd, &o->active_state);
	if (r == -ENOMEM || r == -ECANCELED)
		return r;
	if (o->error == 0) {
		/* A job can end "done" with the unit elsewhere than wanted (another job started
		 * it again, or it died at once): the state decides. */
		if (r < 0)
			o->error = r;
		else if (!state_reached(run->action, o->active_state))
			o->error = run->action == JOB_STOP ? -EBUSY : -ESRCH;
	}

	r = units_outcome_conclude(run->m, o, run->since, query_deadline, run->options);
	if (r < 0)
		return r;
	job->decided = true;
	return 0;
}

static bool some_job_to_decide(void *userdata)
{
	JobRun *run = userdata;

	for (size_t i = 0; i < run->n; i++)
		if (run->jobs[i].ended && !run->jobs[i].decided)
			return true;
	return false;
}

/* Decides every ended job; returns how many jobs are still running. */
static int decide_ended(JobRun *run)
{
	usec_t query_deadline = units_deadline(UNITS_QUERY_TIMEOUT);
	int running = 0;

	for (size_t i = 0; i < run->n; i++) {
		UnitJob *job = &run->jobs[i];

		if (!job->ended) {
			running++;
			continue;
		}
		if (!job->decided) {
			int r = decide(run, i, query_deadline);
			if (r < 0)
				return r;
		}
	}
	return running;
}

static int run_jobs(UnitsManager *m, JobAction action, char *const *units,
		    const UnitsOptions *options, UnitOutcome **ret_outcomes)
{
	_cleanup_(sd_bus_slot_unrefp) sd_bus_slot *removed_slot = NULL;
	_cleanup_(job_run_done) JobRun run = {
		.m = m,
		.action = action,
		.options = options,
		.since = now_usec(CLOCK_REALTIME),
		.n = strv_length(units),
	};
	usec_t deadline = units_deadline(options->timeout);
	int r;

	for (size_t i = 0; units && units[i]; i++)
		if (!units_name_is_valid(units[i]))
			return -EINVAL;
	run.jobs = calloc(run.n + 1, sizeof(UnitJob));
	run.outcomes = calloc(run.n + 1, sizeof(UnitOutcome));
	if (!run.jobs || !run.outcomes)
		return -ENOMEM;

	/* Listening before asking: a job that ends at once must not end unheard. */
	r = sd_bus_match_signal_async(m->bus, &removed_slot, units_signal_sender(m),
				      UNITS_MANAGER_PATH, UNITS_MANAGER_INTERFACE, "JobRemoved",
				      on_job_removed, NULL, &run);
	if (r < 0)
		return r;

	/* All requests go out at once, so the manager runs the jobs in parallel. */
	for (size_t i = 0; i < run.n; i++) {
		run.jobs[i].name = units[i];
		r = request_job(&run, &run.jobs[i], deadline);
		if (r < 0)
			return r;
	}

	for (;;) {
		r = decide_ended(&run);
		if (r <= 0)
			break;
		r = units_wait(m->bus, deadline, options->cancel_fd, some_job_to_decide, &run);
		if (r == -ETIMEDOUT) {
			/* We stop waiting; the jobs stay queued (see units.h). */
			for (size_t i = 0; i < run.n; i++)
				if (!run.jobs[i].ended) {
					run.jobs[i].timed_out = true;
					job_end(&run.jobs[i]);
				}
		} else if (r < 0)
			return r;
	}
	if (r < 0)
		return r;

	*ret_outcomes = TAKE_PTR(run.outcomes);
	return units_outcomes_count_failed(*ret_outcomes);
}

int units_stop(UnitsManager *m, char *const *units, const UnitsOptions *options,
	       UnitOutcome **ret_outcomes)
{
	return run_jobs(m, JOB_STOP, units, options, ret_outcomes);
}

int units_start(UnitsManager *m, char *const *units, const UnitsOptions *options,
		UnitOutcome **ret_outcomes)
{
	return run_jobs(m, JOB_START, units, options, ret_outcomes);
}
