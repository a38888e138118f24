#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "unit-name.h"
#include "strv.h"
#include "units-internal.h"

typedef enum JobAction {
	JOB_STOP,
	JOB_START,
} JobAction;

/* One unit's job, from the request to the verdict. */
typedef struct UnitJob {
	const char *name;
	size_t target;
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

typedef struct JobRun JobRun;

/* One manager's part of the run. */
typedef struct JobTarget {
	JobRun *run;
	size_t index;
	UnitsManager *m;
	sd_bus_slot *removed_slot;
	bool lost; /* its connection failed: its unended jobs were ended with the error */
} JobTarget;

struct JobRun {
	JobAction action;
	const UnitsOptions *options;
	usec_t since; /* CLOCK_REALTIME of the request, for the journal */
	usec_t begin; /* CLOCK_MONOTONIC, just before the requests */
	JobTarget *targets;
	sd_bus **buses;	 /* targets[i]'s bus */
	int *bus_errors; /* targets[i]'s connection failure, 0 while it works */
	size_t n_targets;
	UnitJob *jobs;
	UnitOutcome *outcomes; /* outcomes[i] is jobs[i]'s, once decided */
	size_t n;
};

static void job_run_done(JobRun *run)
{
	for (size_t i = 0; run->targets && i < run->n_targets; i++)
		sd_bus_slot_unref(run->targets[i].removed_slot);
	free(run->targets);
	free(run->buses);
	free(run->bus_errors);
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

	/* sd-bus fails the calls of a connection that closes with a NoReply error of its own:
	 * the job is ended by the connection's failure instead (end_lost_jobs()). */
	if (units_reply_is_connection_lost(reply))
		return 0;
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
	JobTarget *t = userdata;
	JobRun *run = t->run;
	const char *path, *unit, *result;
	uint32_t id;

	if (sd_bus_message_read(signal, "uoss", &id, &path, &unit, &result) < 0)
		return 0;
	/* Job paths are unique per manager only. */
	for (size_t i = 0; i < run->n; i++) {
		UnitJob *job = &run->jobs[i];

		if (job->target != t->index || job->ended || !job->job_path ||
		    strcmp(job->job_path, path) != 0)
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
	UnitsManager *m = run->targets[job->target].m;
	int r;

	r = sd_bus_message_new_method_call(m->bus, &call, UNITS_DESTINATION, UNITS_MANAGER_PATH,
					   UNITS_MANAGER_INTERFACE,
					   run->action == JOB_STOP ? "StopUnit" : "StartUnit");
	if (r < 0)
		return r;
	r = sd_bus_message_append(call, "ss", job->name, "replace");
	if (r < 0)
		return r;
	/* Every request goes out at once: each is timed from the run's beginning, the origin of
	 * its deadline, so that a job given up at the deadline took the whole timeout. */
	job->requested_at = run->begin;
	return sd_bus_call_async(m->bus, &job->call_slot, call, on_job_reply, job,
				 units_call_timeout(deadline));
}

static bool state_reached(JobAction action, const char *active_state)
{
	static const char *const stopped[] = {"inactive", "failed", NULL};
	static const char *const started[] = {"active", "reloading", NULL};

	return strv_contains((char *const *)(action == JOB_STOP ? stopped : started), active_state);
}

/* The call that reads the unit's ActiveState, sent for every ended job at once. */
static int state_call(JobRun *run, size_t i, sd_bus_message **ret)
{
	_cleanup_free_ char *path = NULL;
	int r = units_object_path(run->jobs[i].name, &path);

	if (r < 0)
		return r;
	return units_property_call(run->targets[run->jobs[i].target].m, path, UNITS_UNIT_INTERFACE,
				   "ActiveState", ret);
}

/* Decides job i, given what the read of its unit's ActiveState gave (c->r, c->reply). */
static int decide(JobRun *run, size_t i, const UnitsCall *c, usec_t query_deadline)
{
	UnitJob *job = &run->jobs[i];
	UnitOutcome *o = &run->outcomes[i];
	UnitsManager *m = run->targets[job->target].m;
	const char *state = NULL;
	int r;

	o->name = strdup(job->name);
	if (!o->name)
		return -ENOMEM;
	o->target = job->target;
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

	r = c->r < 0 ? c->r : sd_bus_message_read(c->reply, "v", "s", &state);
	if (r >= 0 && !(o->active_state = strdup(state)))
		return -ENOMEM;
	if (o->error == 0) {
		/* A job can end "done" with the unit elsewhere than wanted (another job started
		 * it again, or it died at once): the state decides. */
		if (r < 0)
			o->error = r;
		else if (!state_reached(run->action, o->active_state))
			o->error = run->action == JOB_STOP ? -EBUSY : -ESRCH;
	}

	r = units_outcome_conclude(m, o, run->since, query_deadline, run->options);
	if (r < 0)
		return r;
	job->decided = true;
	return 0;
}

/* A connection that failed ends the jobs still waiting on it, with its error. */
static int end_lost_jobs(JobRun *run)
{
	for (size_t t = 0; t < run->n_targets; t++) {
		JobTarget *target = &run->targets[t];

		if (target->lost || run->bus_errors[t] >= 0)
			continue;
		target->lost = true;
		for (size_t i = 0; i < run->n; i++) {
			UnitJob *job = &run->jobs[i];
			_cleanup_free_ char *message = NULL;

			if (job->target != t || job->ended)
				continue;
			int r = units_connection_lost_message(target->m, run->bus_errors[t],
							      &message);
			if (r < 0)
				return r;
			job->call_error = run->bus_errors[t];
			sd_bus_error_free(&job->call_bus_error);
			r = sd_bus_error_set(&job->call_bus_error, SD_BUS_ERROR_DISCONNECTED,
					     message);
			if (r == -ENOMEM)
				return r;
			job_end(job);
		}
	}
	return 0;
}

static bool some_job_to_decide(void *userdata)
{
	JobRun *run = userdata;

	for (size_t t = 0; t < run->n_targets; t++)
		if (!run->targets[t].lost && run->bus_errors[t] < 0)
			return true;
	for (size_t i = 0; i < run->n; i++)
		if (run->jobs[i].ended && !run->jobs[i].decided)
			return true;
	return false;
}

/* Decides every ended job, their units' states read all at once; returns how many jobs are
 * still running. */
static int decide_ended(JobRun *run)
{
	_cleanup_free_ UnitsCall *calls = calloc(run->n + 1, sizeof(UnitsCall));
	_cleanup_free_ size_t *of = calloc(run->n + 1, sizeof(size_t));
	usec_t query_deadline = units_deadline(UNITS_QUERY_TIMEOUT);
	size_t k = 0;
	int running = 0, r = 0;

	if (!calls || !of)
		return -ENOMEM;
	for (size_t i = 0; i < run->n && r >= 0; i++) {
		UnitJob *job = &run->jobs[i];

		if (!job->ended)
			running++;
		else if (!job->decided) {
			r = state_call(run, i, &calls[k].call);
			if (r == -ENOMEM)
				break;
			calls[k].r = r < 0 ? r : 0; /* a read that cannot be sent fails as such */
			r = 0;
			of[k++] = i;
		}
	}
	if (r >= 0)
		r = units_call_all(calls, k, query_deadline, run->options->cancel_fd);
	for (size_t j = 0; j < k && r >= 0; j++)
		r = decide(run, of[j], &calls[j], query_deadline);
	units_calls_done(calls, k);
	return r < 0 ? r : running;
}

/* Installs the JobRemoved match of target t and sends its requests; a connection that
 * refuses either fails that target's units, not the run. */
static int start_target(JobRun *run, size_t t, char *const *units, size_t *next, usec_t deadline)
{
	JobTarget *target = &run->targets[t];
	int r;

	/* Listening before asking: a job that ends at once must not end unheard. */
	r = sd_bus_match_signal_async(target->m->bus, &target->removed_slot,
				      units_signal_sender(target->m), UNITS_MANAGER_PATH,
				      UNITS_MANAGER_INTERFACE, "JobRemoved", on_job_removed, NULL,
				      target);
	for (size_t i = 0; units && units[i]; i++) {
		UnitJob *job = &run->jobs[(*next)++];

		job->name = units[i];
		job->target = t;
		/* All requests go out at once, so the managers run the jobs in parallel. */
		if (r >= 0)
			r = request_job(run, job, deadline);
	}
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		run->bus_errors[t] = r;
	return 0;
}

static int run_jobs(JobAction action, const UnitsTarget *targets, size_t n_targets,
		    const UnitsOptions *options, UnitOutcome **ret_outcomes)
{
	_cleanup_(job_run_done) JobRun run = {
		.action = action,
		.options = options,
		.since = options->journal_since ?: now_usec(CLOCK_REALTIME),
		.n_targets = n_targets,
	};
	usec_t deadline;
	size_t next = 0;
	int r;

	for (size_t t = 0; t < n_targets; t++)
		for (size_t i = 0; targets[t].units && targets[t].units[i]; i++) {
			if (unit_name_check_deployable(targets[t].units[i], NULL) < 0)
				return -EINVAL;
			run.n++;
		}
	run.targets = calloc(n_targets + 1, sizeof(JobTarget));
	run.buses = calloc(n_targets + 1, sizeof(sd_bus *));
	run.bus_errors = calloc(n_targets + 1, sizeof(int));
	run.jobs = calloc(run.n + 1, sizeof(UnitJob));
	run.outcomes = calloc(run.n + 1, sizeof(UnitOutcome));
	if (!run.targets || !run.buses || !run.bus_errors || !run.jobs || !run.outcomes)
		return -ENOMEM;

	run.begin = now_usec(CLOCK_MONOTONIC);
	deadline = units_deadline(options->timeout);
	if (deadline != USEC_INFINITY)
		deadline = run.begin + options->timeout;
	for (size_t t = 0; t < n_targets; t++) {
		run.targets[t] = (JobTarget){.run = &run, .index = t, .m = targets[t].manager};
		run.buses[t] = targets[t].manager->bus;
		r = start_target(&run, t, targets[t].units, &next, deadline);
		if (r < 0)
			return r;
	}

	for (;;) {
		r = end_lost_jobs(&run);
		if (r < 0)
			break;
		r = decide_ended(&run);
		if (r <= 0)
			break;
		r = units_wait_many(run.buses, run.bus_errors, n_targets, deadline,
				    options->cancel_fd, some_job_to_decide, &run);
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

int units_stop_all(const UnitsTarget *targets, size_t n_targets, const UnitsOptions *options,
		   UnitOutcome **ret_outcomes)
{
	return run_jobs(JOB_STOP, targets, n_targets, options, ret_outcomes);
}

int units_start_all(const UnitsTarget *targets, size_t n_targets, const UnitsOptions *options,
		    UnitOutcome **ret_outcomes)
{
	return run_jobs(JOB_START, targets, n_targets, options, ret_outcomes);
}

int units_stop(UnitsManager *m, char *const *units, const UnitsOptions *options,
	       UnitOutcome **ret_outcomes)
{
	return units_stop_all(&(UnitsTarget){m, units}, 1, options, ret_outcomes);
}

int units_start(UnitsManager *m, char *const *units, const UnitsOptions *options,
		UnitOutcome **ret_outcomes)
{
	return units_start_all(&(UnitsTarget){m, units}, 1, options, ret_outcomes);
}
