/* Stopping, starting, settling and checking units of the harness's real `systemd --user`
 * manager through lib/units (sd-bus), as root, like the daemon. */
#include <check.h>
#include <systemd/sd-messages.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check-run.h"
#include "harness.h"
#include "journal-query.h"
#include "strv.h"
#include "units.h"

#define LONG_TIMEOUT (30 * USEC_PER_SEC) /* only there to catch a hang */

/* Writes NAME with a [Service] section and returns the name (free() it). */
static char *service(const char *stem, const char *service_section)
{
	char *name = harness_unit_name(stem, "service");
	_cleanup_free_ char *contents = NULL;

	ck_assert_int_ge(asprintf(&contents,
				  "[Unit]\nDescription=deployd units test %s\n\n[Service]\n%s",
				  stem, service_section),
			 0);
	harness_write_unit(name, contents);
	return name;
}

static UnitsManager *connect_user_manager(void)
{
	UnitsManager *m = NULL;
	int r = units_connect(UNITS_BUS_USER, &m);

	ck_assert_msg(r >= 0, "units_connect(user): %s", strerror(-r));
	return m;
}

/* Records the name of each unit reported through the callback. */
static void record_outcome(const UnitOutcome *o, void *userdata)
{
	ck_assert_int_eq(strv_extend(userdata, o->name), 0);
}

static UnitsOptions wait_for(usec_t timeout, char ***reported)
{
	return (UnitsOptions){
		.timeout = timeout,
		.cancel_fd = -1,
		.on_outcome = reported ? record_outcome : NULL,
		.userdata = reported,
	};
}

static bool lines_contain(char **lines, const char *needle)
{
	STRV_FOREACH (l, lines)
		if (strstr(*l, needle))
			return true;
	return false;
}

static char *lines_joined(char **lines)
{
	char *joined = NULL;

	ck_assert_int_eq(strv_join(lines, "\n  ", &joined), 0);
	return joined;
}

static void assert_all_ok(const char *what, int r, const UnitOutcome *outcomes)
{
	for (const UnitOutcome *o = outcomes; r > 0 && o->name; o++)
		if (o->error != 0)
			ck_abort_msg("%s %s: %s (job %s, state %s, result %s, %s)", what, o->name,
				     strerror(-o->error), o->job_result, o->active_state,
				     o->service_result, o->error_message);
	ck_assert_int_eq(r, 0);
}

static void start_all(UnitsManager *m, char **units)
{
	_cleanup_(units_outcomes_freep) UnitOutcome *outcomes = NULL;
	UnitsOptions options = wait_for(LONG_TIMEOUT, NULL);

	int r = units_start(m, units, &options, &outcomes);
	assert_all_ok("starting", r, outcomes);
}

static void stop_all(UnitsManager *m, char **units)
{
	_cleanup_(units_outcomes_freep) UnitOutcome *outcomes = NULL;
	UnitsOptions options = wait_for(LONG_TIMEOUT, NULL);

	assert_all_ok("stopping", units_stop(m, units, &options, &outcomes), outcomes);
}

static char *active_state(const char *unit)
{
	char *state = NULL;

	ck_assert_int_eq(
		harness_systemctl_output(&state, "show --property=ActiveState --value %s", unit),
		0);
	return state;
}

START_TEST(test_three_units_start_and_stop_in_parallel)
{
	_cleanup_(units_manager_freep) UnitsManager *m = connect_user_manager();
	_cleanup_strv_free_ char **units = NULL, **started = NULL, **stopped = NULL;
	_cleanup_(units_outcomes_freep) UnitOutcome *start_outcomes = NULL, *stop_outcomes = NULL;
	UnitsOptions start_options = wait_for(LONG_TIMEOUT, &started);
	UnitsOptions stop_options = wait_for(LONG_TIMEOUT, &stopped);
	static const char *const stems[] = {"units-api", "units-worker", "units-scheduler"};

	for (size_t i = 0; i < 3; i++)
		ck_assert_int_eq(
			strv_push(&units, service(stems[i], "ExecStartPre=/bin/sleep 1\n"
							    "ExecStart=/bin/sleep infinity\n"
							    "ExecStop=/bin/sleep 1\n")),
			0);

	usec_t since = now_usec(CLOCK_REALTIME);
	usec_t t0 = now_usec(CLOCK_MONOTONIC);
	int r = units_start(m, units, &start_options, &start_outcomes);
	usec_t start_took = now_usec(CLOCK_MONOTONIC) - t0;
	assert_all_ok("starting", r, start_outcomes);

	t0 = now_usec(CLOCK_MONOTONIC);
	r = units_stop(m, units, &stop_options, &stop_outcomes);
	usec_t stop_took = now_usec(CLOCK_MONOTONIC) - t0;
	assert_all_ok("stopping", r, stop_outcomes);

	fprintf(stderr,
		"units: starting 3 units that each take 1 s to start took %.3f s, "
		"stopping them (1 s each) took %.3f s\n",
		(double)start_took / USEC_PER_SEC, (double)stop_took / USEC_PER_SEC);

	for (size_t i = 0; i < 3; i++) {
		const UnitOutcome *s = &start_outcomes[i], *p = &stop_outcomes[i];

		ck_assert_str_eq(s->name, units[i]);
		ck_assert_str_eq(s->job_result, "done");
		ck_assert_str_eq(s->active_state, "active");
		ck_assert_uint_ge(s->duration, 900 * USEC_PER_MSEC);
		ck_assert_ptr_null(s->journal_lines);

		ck_assert_str_eq(p->name, units[i]);
		ck_assert_str_eq(p->job_result, "done");
		ck_assert_str_eq(p->active_state, "inactive");
		ck_assert_uint_ge(p->duration, 900 * USEC_PER_MSEC);
	}
	ck_assert_ptr_null(start_outcomes[3].name);
	ck_assert_ptr_null(stop_outcomes[3].name);

	/* One report per unit, each as it was decided. */
	ck_assert_uint_eq(strv_length(started), 3);
	ck_assert_uint_eq(strv_length(stopped), 3);
	for (size_t i = 0; i < 3; i++) {
		ck_assert(strv_contains(started, units[i]));
		ck_assert(strv_contains(stopped, units[i]));
	}

	/* At once: every 1 s job began before any ended, as the manager logged them.  (How long
	 * they took is a benchmark's figure: tests/bench, deploy overhead.) */
	journal_assert_overlapped(units, SD_MESSAGE_UNIT_STARTING_STR, SD_MESSAGE_UNIT_STARTED_STR,
				  since);
	journal_assert_overlapped(units, SD_MESSAGE_UNIT_STOPPING_STR, SD_MESSAGE_UNIT_STOPPED_STR,
				  since);
}
END_TEST

START_TEST(test_stopping_units_that_are_already_stopped_succeeds)
{
	_cleanup_(units_manager_freep) UnitsManager *m = connect_user_manager();
	_cleanup_strv_free_ char **units = NULL;
	_cleanup_(units_outcomes_freep) UnitOutcome *outcomes = NULL;
	UnitsOptions options = wait_for(LONG_TIMEOUT, NULL);

	ck_assert_int_eq(
		strv_push(&units, service("units-idle-a", "ExecStart=/bin/sleep infinity\n")), 0);
	ck_assert_int_eq(
		strv_push(&units, service("units-idle-b", "ExecStart=/bin/sleep infinity\n")), 0);

	ck_assert_int_eq(units_stop(m, units, &options, &outcomes), 0);
	for (size_t i = 0; i < 2; i++) {
		ck_assert_int_eq(outcomes[i].error, 0);
		ck_assert_str_eq(outcomes[i].job_result, "done");
		ck_assert_str_eq(outcomes[i].active_state, "inactive");
	}
}
END_TEST

START_TEST(test_stop_that_outlasts_stop_timeout_fails_with_our_timeout_and_the_units_state)
{
	_cleanup_(units_manager_freep) UnitsManager *m = connect_user_manager();
	_cleanup_strv_free_ char **units = NULL, **reported = NULL;
	_cleanup_(units_outcomes_freep) UnitOutcome *outcomes = NULL;
	UnitsOptions options = wait_for(1 * USEC_PER_SEC, &reported);

	ck_assert_int_eq(
		strv_push(&units, service("units-quick", "ExecStart=/bin/sleep infinity\n")), 0);
	ck_assert_int_eq(strv_push(&units, service("units-stuck", "ExecStart=/bin/sleep infinity\n"
								  "ExecStop=/bin/sleep 4\n")),
			 0);
	start_all(m, units);

	usec_t t0 = now_usec(CLOCK_MONOTONIC);
	int r = units_stop(m, units, &options, &outcomes);
	usec_t took = now_usec(CLOCK_MONOTONIC) - t0;

	ck_assert_int_eq(r, 1);
	ck_assert_int_eq(outcomes[0].error, 0);
	ck_assert_str_eq(outcomes[0].job_result, "done");
	ck_assert_int_eq(outcomes[1].error, -ETIMEDOUT);
	ck_assert_str_eq(outcomes[1].job_result, "timeout");
	ck_assert_str_eq(outcomes[1].active_state, "deactivating");
	ck_assert_uint_ge(outcomes[1].duration, 1 * USEC_PER_SEC);
	ck_assert_msg(took < HANG_BOUND, "gave up after %llu us, not after about 1 s",
		      (unsigned long long)took);
	ck_assert_uint_eq(strv_length(reported), 2);

	/* The stop job was left queued: it is still running, and stopping again joins it. */
	_cleanup_free_ char *state = active_state(units[1]);
	ck_assert_str_eq(state, "deactivating");
	stop_all(m, units);
}
END_TEST

START_TEST(test_failed_start_reports_the_service_result_and_its_last_journal_lines)
{
	_cleanup_(units_manager_freep) UnitsManager *m = connect_user_manager();
	_cleanup_strv_free_ char **units = NULL;
	_cleanup_(units_outcomes_freep) UnitOutcome *outcomes = NULL;
	_cleanup_free_ char *message = NULL, *joined = NULL;
	UnitsOptions options = wait_for(LONG_TIMEOUT, NULL);

	ck_assert_int_ge(asprintf(&message, "deployd-test %d: cannot read /etc/app.conf", getpid()),
			 0);
	_cleanup_free_ char *section = NULL;
	/* The sleep keeps the writer alive while journald handles its line: journald finds a
	 * line's unit from the writer's cgroup, which an exited process no longer has. */
	ck_assert_int_ge(asprintf(&section,
				  "ExecStartPre=/bin/sh -c 'echo \"%s\" >&2; sleep 1; exit 3'\n"
				  "ExecStart=/bin/sleep infinity\n",
				  message),
			 0);
	ck_assert_int_eq(strv_push(&units, service("units-broken", section)), 0);

	ck_assert_int_eq(units_start(m, units, &options, &outcomes), 1);
	const UnitOutcome *o = &outcomes[0];
	joined = lines_joined(o->journal_lines);
	ck_assert_int_eq(o->error, -EIO);
	ck_assert_str_eq(o->job_result, "failed");
	ck_assert_str_eq(o->active_state, "failed");
	ck_assert_str_eq(o->service_result, "exit-code");
	ck_assert_msg(lines_contain(o->journal_lines, message), "no \"%s\" in:\n  %s", message,
		      joined);
	ck_assert_uint_le(strv_length(o->journal_lines), UNITS_JOURNAL_LINES);
}
END_TEST

START_TEST(test_starting_a_unit_that_does_not_exist_fails_with_the_managers_message)
{
	_cleanup_(units_manager_freep) UnitsManager *m = connect_user_manager();
	_cleanup_strv_free_ char **units = NULL;
	_cleanup_(units_outcomes_freep) UnitOutcome *outcomes = NULL;
	UnitsOptions options = wait_for(LONG_TIMEOUT, NULL);

	ck_assert_int_eq(strv_push(&units, harness_unit_name("units-nowhere", "service")), 0);
	ck_assert_int_eq(units_start(m, units, &options, &outcomes), 1);
	ck_assert_int_eq(outcomes[0].error, -ENOENT);
	ck_assert_ptr_null(outcomes[0].job_result);
	ck_assert_ptr_nonnull(outcomes[0].error_message);
	ck_assert_msg(strstr(outcomes[0].error_message, units[0]), "message: %s",
		      outcomes[0].error_message);
}
END_TEST

START_TEST(test_settle_catches_a_unit_that_crashes_after_a_moment)
{
	_cleanup_(units_manager_freep) UnitsManager *m = connect_user_manager();
	_cleanup_strv_free_ char **units = NULL, **reported = NULL;
	_cleanup_(units_outcomes_freep) UnitOutcome *outcomes = NULL;
	_cleanup_free_ char *joined = NULL;
	UnitsOptions options = wait_for(5 * USEC_PER_SEC, &reported);

	ck_assert_int_eq(
		strv_push(&units, service("units-steady", "ExecStart=/bin/sleep infinity\n")), 0);
	ck_assert_int_eq(strv_push(&units, service("units-crash",
						   "ExecStart=/bin/sh -c 'sleep 0.5; "
						   "echo deployd-test: lost the database >&2; "
						   "sleep 0.2; exit 4'\n")),
			 0);
	start_all(m, units);

	usec_t t0 = now_usec(CLOCK_MONOTONIC);
	int r = units_settle(m, units, &options, &outcomes);
	usec_t took = now_usec(CLOCK_MONOTONIC) - t0;

	ck_assert_int_eq(r, 1);
	ck_assert_int_eq(outcomes[0].error, 0);
	ck_assert_str_eq(outcomes[0].active_state, "active");
	ck_assert_uint_ge(took, 5 * USEC_PER_SEC);

	const UnitOutcome *o = &outcomes[1];
	joined = lines_joined(o->journal_lines);
	ck_assert_int_eq(o->error, -ESRCH);
	ck_assert_ptr_null(o->job_result);
	ck_assert_str_eq(o->active_state, "failed");
	ck_assert_str_eq(o->service_result, "exit-code");
	ck_assert_msg(lines_contain(o->journal_lines, "lost the database"), "lines:\n  %s", joined);
	/* Seen as it fell, not only when the watch ended. */
	ck_assert_uint_lt(o->duration, HANG_BOUND);
	ck_assert_str_eq(reported[0], units[1]);
}
END_TEST

START_TEST(test_settle_catches_a_crash_loop_that_restarts_the_unit)
{
	_cleanup_(units_manager_freep) UnitsManager *m = connect_user_manager();
	_cleanup_strv_free_ char **units = NULL;
	_cleanup_(units_outcomes_freep) UnitOutcome *outcomes = NULL;
	UnitsOptions options = wait_for(3 * USEC_PER_SEC, NULL);

	ck_assert_int_eq(strv_push(&units, service("units-crashloop",
						   "ExecStart=/bin/sh -c 'sleep 0.3; exit 5'\n"
						   "Restart=always\n"
						   "RestartSec=100ms\n")),
			 0);
	start_all(m, units);

	ck_assert_int_eq(units_settle(m, units, &options, &outcomes), 1);
	ck_assert_int_eq(outcomes[0].error, -ESRCH);
	ck_assert_str_eq(outcomes[0].service_result, "exit-code");
	stop_all(m, units);
}
END_TEST

START_TEST(test_preflight_names_the_missing_the_masked_and_the_misnamed_unit)
{
	_cleanup_(units_manager_freep) UnitsManager *m = connect_user_manager();
	_cleanup_(units_problems_freep) UnitProblem *problems = NULL;
	_cleanup_free_ char *good = service("units-present", "ExecStart=/bin/sleep infinity\n");
	_cleanup_free_ char *missing = harness_unit_name("units-missing", "service");
	_cleanup_free_ char *masked = harness_unit_name("units-masked", "service");
	_cleanup_free_ char *masked_path = NULL;
	UnitsOptions options = wait_for(LONG_TIMEOUT, NULL);

	ck_assert_int_ge(asprintf(&masked_path, "%s/%s", harness_unit_dir(), masked), 0);
	ck_assert_int_eq(symlink("/dev/null", masked_path), 0);

	char *units[] = {good, missing, masked, (char *)"not a unit.service", NULL};
	ck_assert_int_eq(units_check(m, units, &options, &problems), 3);

	ck_assert_str_eq(problems[0].name, missing);
	ck_assert_int_eq(problems[0].error, -ENOENT);
	ck_assert_str_eq(problems[0].load_state, "not-found");
	ck_assert_msg(strstr(problems[0].message, missing), "%s", problems[0].message);

	ck_assert_str_eq(problems[1].name, masked);
	ck_assert_int_eq(problems[1].error, -ERFKILL);
	ck_assert_str_eq(problems[1].load_state, "masked");
	ck_assert_msg(strstr(problems[1].message, masked), "%s", problems[1].message);

	ck_assert_str_eq(problems[2].name, "not a unit.service");
	ck_assert_int_eq(problems[2].error, -EINVAL);
	ck_assert_ptr_null(problems[2].load_state);

	ck_assert_ptr_null(problems[3].name);
}
END_TEST

/* Runs build/deployctl check on a plan naming unit; its exit code, stderr in *ret_err. */
static int deployctl_check_unit(const char *unit, char **ret_err)
{
	_cleanup_free_ char *dir = harness_tmpdir(), *plan = NULL, *cmd = NULL;
	_cleanup_fclose_ FILE *f = NULL;
	char *err = NULL;
	size_t size = 0;

	ck_assert_int_ge(asprintf(&plan, "%s/p.yaml", dir), 0);
	f = fopen(plan, "we");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
		"version: 1\ndatabase: {conninfo: \"dbname=x\"}\nservices: {bus: user, "
		"units: [\"%s\"]}\nmigrations: {directory: /m}\n",
		unit);
	fclose(TAKE_PTR(f));
	ck_assert_int_ge(asprintf(&cmd, "build/deployctl check %s 2>&1", plan), 0);
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	ck_assert_int_ge(getdelim(&err, &size, '\0', p), 0);
	int status = pclose(p);
	*ret_err = err;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(test_check_and_preflight_judge_every_unit_name_alike)
{
	_cleanup_(units_manager_freep) UnitsManager *m = connect_user_manager();
	_cleanup_free_ char *real = service("units-real", "ExecStart=/bin/sleep infinity\n");
	/* Names that neither may accept, and one both accept (it exists on the manager). */
	const struct {
		const char *name;
		bool accepted;
	} cases[] = {
		{"dev-sda.device", false},
		{"session-1.scope", false},
		{"worker@.service", false},
		{"api", false},
		{"a b.service", false},
		{"api.servic", false},
		{real, true},
	};
	UnitsOptions options = wait_for(LONG_TIMEOUT, NULL);

	harness_daemon_reload();
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_(units_problems_freep) UnitProblem *problems = NULL;
		_cleanup_free_ char *err = NULL;
		char *units[] = {(char *)cases[i].name, NULL};
		int code = deployctl_check_unit(cases[i].name, &err);
		int n = units_check(m, units, &options, &problems);

		ck_assert_msg(code == (cases[i].accepted ? 0 : 3), "check of %s: exit %d: %s",
			      cases[i].name, code, err);
		ck_assert_msg(n == (cases[i].accepted ? 0 : 1), "preflight of %s: %d problems",
			      cases[i].name, n);
		if (!cases[i].accepted) {
			/* Both say the same reason. */
			const char *it = strstr(problems[0].message, ": it ");
			ck_assert_ptr_nonnull(it);
			_cleanup_free_ char *reason = strndup(it + 5, strlen(it + 5) - 1);
			ck_assert_msg(strstr(err, reason), "check said '%s', preflight '%s'", err,
				      problems[0].message);
		}
	}
}
END_TEST

START_TEST(test_cancel_fd_ends_the_wait_at_once_and_leaves_the_job_queued)
{
	_cleanup_(units_manager_freep) UnitsManager *m = connect_user_manager();
	_cleanup_strv_free_ char **units = NULL, **reported = NULL;
	_cleanup_(units_outcomes_freep) UnitOutcome *outcomes = NULL;
	int cancel[2];

	ck_assert_int_eq(strv_push(&units, service("units-cancel", "ExecStart=/bin/sleep infinity\n"
								   "ExecStop=/bin/sleep 3\n")),
			 0);
	start_all(m, units);

	ck_assert_int_eq(pipe(cancel), 0);
	ck_assert_int_eq(write(cancel[1], "x", 1), 1);
	UnitsOptions options = wait_for(LONG_TIMEOUT, &reported);
	options.cancel_fd = cancel[0];

	usec_t t0 = now_usec(CLOCK_MONOTONIC);
	ck_assert_int_eq(units_stop(m, units, &options, &outcomes), -ECANCELED);
	ck_assert_uint_lt(now_usec(CLOCK_MONOTONIC) - t0, HANG_BOUND);
	ck_assert_ptr_null(outcomes);
	ck_assert_ptr_null(reported);
	close(cancel[0]);
	close(cancel[1]);

	_cleanup_free_ char *state = active_state(units[0]);
	ck_assert_str_eq(state, "deactivating");
	stop_all(m, units);
}
END_TEST

START_TEST(test_units_stop_and_start_through_the_session_bus_too)
{
	_cleanup_strv_free_ char **units = NULL;
	_cleanup_free_ char *runtime_dir = strdup(getenv("XDG_RUNTIME_DIR"));

	ck_assert_int_eq(
		strv_push(&units, service("units-via-bus", "ExecStart=/bin/sleep infinity\n")), 0);

	/* Without XDG_RUNTIME_DIR there is no private socket to try: DBUS_SESSION_BUS_ADDRESS
	 * leads to the bus daemon, where signals carry a sender and need Subscribe. */
	unsetenv("XDG_RUNTIME_DIR");
	UnitsManager *m = connect_user_manager();
	ck_assert_int_eq(setenv("XDG_RUNTIME_DIR", runtime_dir, 1), 0);

	start_all(m, units);
	_cleanup_free_ char *state = active_state(units[0]);
	ck_assert_str_eq(state, "active");
	stop_all(m, units);
	units_manager_free(m);
}
END_TEST

static Suite *units_suite(void)
{
	Suite *s = suite_create("units");
	TCase *jobs = tcase_create("stop and start");
	TCase *settle = tcase_create("settle");
	TCase *check = tcase_create("preflight");

	tcase_set_timeout(jobs, 60);
	tcase_add_test(jobs, test_three_units_start_and_stop_in_parallel);
	tcase_add_test(jobs, test_stopping_units_that_are_already_stopped_succeeds);
	tcase_add_test(
		jobs,
		test_stop_that_outlasts_stop_timeout_fails_with_our_timeout_and_the_units_state);
	tcase_add_test(jobs,
		       test_failed_start_reports_the_service_result_and_its_last_journal_lines);
	tcase_add_test(jobs,
		       test_starting_a_unit_that_does_not_exist_fails_with_the_managers_message);
	tcase_add_test(jobs, test_cancel_fd_ends_the_wait_at_once_and_leaves_the_job_queued);
	tcase_add_test(jobs, test_units_stop_and_start_through_the_session_bus_too);
	suite_add_tcase(s, jobs);

	tcase_set_timeout(settle, 60);
	tcase_add_test(settle, test_settle_catches_a_unit_that_crashes_after_a_moment);
	tcase_add_test(settle, test_settle_catches_a_crash_loop_that_restarts_the_unit);
	suite_add_tcase(s, settle);

	tcase_set_timeout(check, 60);
	tcase_add_test(check, test_preflight_names_the_missing_the_masked_and_the_misnamed_unit);
	tcase_add_test(check, test_check_and_preflight_judge_every_unit_name_alike);
	suite_add_tcase(s, check);
	return s;
}

int main(void)
{
	return check_run_suite(units_suite());
}
