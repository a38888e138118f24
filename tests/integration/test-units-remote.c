/* Units on another "host" through lib/units: ssh to a private sshd (tests/harness/up-sshd) on a
 * loopback address, systemd-stdio-bridge there, the test user's real manager behind it —
 * next to the same manager reached locally, as a deploy over two machines sees them. */
#include <check.h>
#include <systemd/sd-messages.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check-run.h"
#include "harness.h"
#include "journal-query.h"
#include "strv.h"
#include "test-sshd.h"
#include "units.h"

#define LONG_TIMEOUT (30 * USEC_PER_SEC) /* only there to catch a hang */

static TestSshd sshd;

static void sshd_up(void)
{
	test_sshd_up(&sshd);
}

static void sshd_down(void)
{
	test_sshd_down(&sshd);
}

static char *service(const char *stem, const char *service_section)
{
	char *name = harness_unit_name(stem, "service");
	_cleanup_free_ char *contents = NULL;

	ck_assert_int_ge(
		asprintf(&contents,
			 "[Unit]\nDescription=deployd remote units test %s\n\n[Service]\n%s", stem,
			 service_section),
		0);
	harness_write_unit(name, contents);
	return name;
}

static UnitsSshOptions ssh_options(void)
{
	return (UnitsSshOptions){
		.identity = sshd.identity,
		.known_hosts = sshd.known_hosts,
		.connect_timeout = 5 * USEC_PER_SEC,
	};
}

static UnitsManager *connect_local(void)
{
	UnitsManager *m = NULL;
	int r = units_connect(UNITS_BUS_USER, &m);

	ck_assert_msg(r >= 0, "units_connect(user): %s", strerror(-r));
	return m;
}

static UnitsManager *connect_remote(void)
{
	_cleanup_free_ char *error = NULL;
	UnitsSshOptions o = ssh_options();
	UnitsManager *m = NULL;
	int r = units_connect_remote(sshd.host, UNITS_BUS_USER, &o, -1, &m, &error);

	ck_assert_msg(r >= 0, "units_connect_remote(%s): %s", sshd.host, error ?: strerror(-r));
	ck_assert_str_eq(units_manager_host(m), sshd.host);
	return m;
}

/* The error units_connect_remote() gives with these options, and its message. */
static int connect_fails(const char *host, const UnitsSshOptions *o, char **ret_error)
{
	UnitsManager *m = NULL;
	int r = units_connect_remote(host, UNITS_BUS_USER, o, -1, &m, ret_error);

	ck_assert_msg(r < 0, "connecting to %s succeeded", host);
	ck_assert_ptr_null(m);
	ck_assert_ptr_nonnull(*ret_error);
	return r;
}

static char *active_state(const char *unit)
{
	char *state = NULL;

	ck_assert_int_eq(
		harness_systemctl_output(&state, "show --property=ActiveState --value %s", unit),
		0);
	return state;
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

static UnitsOptions wait_for(usec_t timeout)
{
	return (UnitsOptions){.timeout = timeout, .cancel_fd = -1};
}

START_TEST(test_each_manager_says_which_kind_it_is_also_through_a_forced_command_key)
{
	_cleanup_(units_manager_freep) UnitsManager *local = connect_local();
	_cleanup_(units_manager_freep) UnitsManager *remote = NULL;
	_cleanup_free_ char *command = NULL;
	UnitsBus kind;

	ck_assert_int_eq(units_manager_kind(local, LONG_TIMEOUT, -1, &kind), 0);
	ck_assert_int_eq(kind, UNITS_BUS_USER);

	/* The documented user-bus line: sshd runs it whatever deployd asks for. */
	ck_assert_int_ge(asprintf(&command,
				  "systemd-stdio-bridge --bus-path=unix:path=/run/user/%u/bus",
				  (unsigned)harness_test_uid()),
			 0);
	test_sshd_force_command(&sshd, command);
	remote = connect_remote();
	ck_assert_int_eq(units_manager_kind(remote, LONG_TIMEOUT, -1, &kind), 0);
	ck_assert_int_eq(kind, UNITS_BUS_USER);
	test_sshd_force_command(&sshd, NULL);
}
END_TEST

START_TEST(test_units_on_this_host_and_a_remote_one_start_and_stop_in_parallel)
{
	_cleanup_(units_manager_freep) UnitsManager *local = connect_local();
	_cleanup_(units_manager_freep) UnitsManager *remote = connect_remote();
	_cleanup_strv_free_ char **here = NULL, **there = NULL;
	_cleanup_(units_outcomes_freep) UnitOutcome *started = NULL, *stopped = NULL;
	UnitsOptions o = wait_for(LONG_TIMEOUT);
	static const char slow[] = "ExecStartPre=/bin/sleep 1\n"
				   "ExecStart=/bin/sleep infinity\n"
				   "ExecStop=/bin/sleep 1\n";

	ck_assert_int_eq(strv_push(&here, service("remote-api-here", slow)), 0);
	ck_assert_int_eq(strv_push(&there, service("remote-api-there", slow)), 0);
	ck_assert_int_eq(strv_push(&there, service("remote-worker-there", slow)), 0);
	harness_daemon_reload();
	UnitsTarget targets[] = {{local, here}, {remote, there}};

	usec_t since = now_usec(CLOCK_REALTIME);
	usec_t t0 = now_usec(CLOCK_MONOTONIC);
	int r = units_start_all(targets, 2, &o, &started);
	usec_t start_took = now_usec(CLOCK_MONOTONIC) - t0;
	assert_all_ok("starting", r, started);

	t0 = now_usec(CLOCK_MONOTONIC);
	r = units_stop_all(targets, 2, &o, &stopped);
	usec_t stop_took = now_usec(CLOCK_MONOTONIC) - t0;
	assert_all_ok("stopping", r, stopped);
	fprintf(stderr,
		"units-remote: 3 units of 1 s on two hosts (one over ssh) started in %.3f s, "
		"stopped in %.3f s\n",
		(double)start_took / USEC_PER_SEC, (double)stop_took / USEC_PER_SEC);

	/* Target by target, each target's units in order. */
	const char *expected[] = {here[0], there[0], there[1]};
	const size_t expected_target[] = {0, 1, 1};
	for (size_t i = 0; i < 3; i++) {
		ck_assert_str_eq(started[i].name, expected[i]);
		ck_assert_uint_eq(started[i].target, expected_target[i]);
		ck_assert_str_eq(started[i].active_state, "active");
		ck_assert_str_eq(stopped[i].name, expected[i]);
		ck_assert_uint_eq(stopped[i].target, expected_target[i]);
		ck_assert_str_eq(stopped[i].job_result, "done");
		ck_assert_str_eq(stopped[i].active_state, "inactive");
		_cleanup_free_ char *state = active_state(expected[i]);
		ck_assert_str_eq(state, "inactive");
	}
	ck_assert_ptr_null(started[3].name);

	/* Both hosts at once: every 1 s job began before any ended, as the manager (the harness's
	 * "remote" host reaches the same one over ssh) logged them. */
	char *const all[] = {here[0], there[0], there[1], NULL};
	journal_assert_overlapped(all, SD_MESSAGE_UNIT_STARTING_STR, SD_MESSAGE_UNIT_STARTED_STR,
				  since);
	journal_assert_overlapped(all, SD_MESSAGE_UNIT_STOPPING_STR, SD_MESSAGE_UNIT_STOPPED_STR,
				  since);
}
END_TEST

START_TEST(test_a_remote_manager_is_checked_like_a_local_one)
{
	_cleanup_(units_manager_freep) UnitsManager *remote = connect_remote();
	_cleanup_(units_problems_freep) UnitProblem *problems = NULL;
	_cleanup_strv_free_ char **units = NULL;
	UnitsOptions o = wait_for(LONG_TIMEOUT);

	ck_assert_int_eq(strv_push(&units, service("remote-known", "ExecStart=/bin/sleep 1\n")), 0);
	ck_assert_int_eq(strv_push(&units, harness_unit_name("remote-nowhere", "service")), 0);
	harness_daemon_reload();

	ck_assert_int_eq(units_check(remote, units, &o, &problems), 1);
	ck_assert_str_eq(problems[0].name, units[1]);
	ck_assert_int_eq(problems[0].error, -ENOENT);
	ck_assert_str_eq(problems[0].load_state, "not-found");
	ck_assert_ptr_null(problems[1].name);
}
END_TEST

START_TEST(test_a_failed_remote_unit_reports_its_result_but_no_local_journal_lines)
{
	_cleanup_(units_manager_freep) UnitsManager *remote = connect_remote();
	_cleanup_(units_outcomes_freep) UnitOutcome *outcomes = NULL;
	_cleanup_strv_free_ char **units = NULL;
	UnitsOptions o = wait_for(LONG_TIMEOUT);

	ck_assert_int_eq(strv_push(&units, service("remote-broken",
						   "ExecStartPre=/bin/sh -c 'echo broken; exit 3'\n"
						   "ExecStart=/bin/sleep infinity\n")),
			 0);
	harness_daemon_reload();

	ck_assert_int_eq(units_start(remote, units, &o, &outcomes), 1);
	ck_assert_int_eq(outcomes[0].error, -EIO);
	ck_assert_str_eq(outcomes[0].job_result, "failed");
	ck_assert_str_eq(outcomes[0].active_state, "failed");
	ck_assert_str_eq(outcomes[0].service_result, "exit-code");
	/* This machine's journal is not the remote host's. */
	ck_assert_ptr_null(outcomes[0].journal_lines);
}
END_TEST

START_TEST(test_settle_watches_units_of_both_hosts_at_once)
{
	_cleanup_(units_manager_freep) UnitsManager *local = connect_local();
	_cleanup_(units_manager_freep) UnitsManager *remote = connect_remote();
	_cleanup_strv_free_ char **here = NULL, **there = NULL;
	_cleanup_(units_outcomes_freep) UnitOutcome *started = NULL, *settled = NULL;
	UnitsOptions o = wait_for(LONG_TIMEOUT);

	ck_assert_int_eq(
		strv_push(&here, service("remote-steady", "ExecStart=/bin/sleep infinity\n")), 0);
	ck_assert_int_eq(strv_push(&there, service("remote-crash",
						   "ExecStart=/bin/sh -c 'sleep 0.5; exit 4'\n")),
			 0);
	harness_daemon_reload();
	UnitsTarget targets[] = {{local, here}, {remote, there}};
	assert_all_ok("starting", units_start_all(targets, 2, &o, &started), started);

	o.timeout = 3 * USEC_PER_SEC;
	usec_t t0 = now_usec(CLOCK_MONOTONIC);
	ck_assert_int_eq(units_settle_all(targets, 2, &o, &settled), 1);
	usec_t took = now_usec(CLOCK_MONOTONIC) - t0;

	ck_assert_str_eq(settled[0].name, here[0]);
	ck_assert_int_eq(settled[0].error, 0);
	ck_assert_str_eq(settled[1].name, there[0]);
	ck_assert_uint_eq(settled[1].target, 1);
	ck_assert_int_eq(settled[1].error, -ESRCH);
	/* Both watched for the same three seconds, not one after the other. */
	ck_assert_uint_ge(took, 3 * USEC_PER_SEC);
	ck_assert_uint_lt(took, HANG_BOUND);
	harness_systemctl("stop %s", here[0]);
}
END_TEST

START_TEST(test_an_unreachable_host_fails_at_once_with_what_ssh_said)
{
	_cleanup_free_ char *error = NULL, *host = NULL;
	UnitsSshOptions o = ssh_options();

	/* Nothing listens on port 1 of the second loopback address. */
	ck_assert_int_ge(asprintf(&host, "%s@127.0.0.2:1", harness_test_user()), 0);
	usec_t t0 = now_usec(CLOCK_MONOTONIC);
	connect_fails(host, &o, &error);
	ck_assert_uint_lt(now_usec(CLOCK_MONOTONIC) - t0, HANG_BOUND);
	ck_assert_msg(strstr(error, "127.0.0.2 port 1") && strstr(error, "Connection refused"),
		      "error: %s", error);
}
END_TEST

START_TEST(test_a_host_whose_key_is_not_known_is_refused)
{
	_cleanup_free_ char *error = NULL, *empty = NULL;
	UnitsSshOptions o = ssh_options();

	ck_assert_int_ge(asprintf(&empty, "%s/empty_known_hosts", sshd.dir), 0);
	close(open(empty, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
	o.known_hosts = empty;
	connect_fails(sshd.host, &o, &error);
	ck_assert_msg(strstr(error, "Host key verification failed"), "error: %s", error);
}
END_TEST

START_TEST(test_a_key_the_host_does_not_accept_is_refused_without_a_prompt)
{
	_cleanup_free_ char *error = NULL, *other_key = NULL;
	UnitsSshOptions o = ssh_options();

	/* A valid private key, but not the one authorized there. */
	ck_assert_int_ge(asprintf(&other_key, "%s/ssh_host_ed25519_key", sshd.dir), 0);
	o.identity = other_key;
	connect_fails(sshd.host, &o, &error);
	ck_assert_msg(strstr(error, "Permission denied"), "error: %s", error);
}
END_TEST

START_TEST(test_a_lost_connection_fails_only_the_units_of_its_host)
{
	_cleanup_(units_manager_freep) UnitsManager *local = connect_local();
	_cleanup_(units_manager_freep) UnitsManager *remote = connect_remote();
	_cleanup_strv_free_ char **here = NULL, **there = NULL;
	_cleanup_(units_outcomes_freep) UnitOutcome *started = NULL, *stopped = NULL;
	UnitsOptions o = wait_for(LONG_TIMEOUT);
	static const char slow_stop[] = "ExecStart=/bin/sleep infinity\nExecStop=/bin/sleep 2\n";
	int status;

	ck_assert_int_eq(strv_push(&here, service("remote-lost-here", slow_stop)), 0);
	ck_assert_int_eq(strv_push(&there, service("remote-lost-there", slow_stop)), 0);
	harness_daemon_reload();
	UnitsTarget targets[] = {{local, here}, {remote, there}};
	assert_all_ok("starting", units_start_all(targets, 2, &o, &started), started);

	/* Half a second into the stop the "network" goes: sshd ends with its sessions. */
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		usleep(500 * 1000);
		test_sshd_down(&sshd);
		_exit(0);
	}
	ck_assert_int_eq(units_stop_all(targets, 2, &o, &stopped), 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	ck_assert_int_eq(stopped[0].error, 0);
	ck_assert_str_eq(stopped[0].active_state, "inactive");
	ck_assert_uint_eq(stopped[1].target, 1);
	ck_assert_int_lt(stopped[1].error, 0);
	ck_assert_ptr_nonnull(stopped[1].error_message);
	ck_assert_msg(strstr(stopped[1].error_message, "lost the connection to the service "
						       "manager on ") &&
			      strstr(stopped[1].error_message, sshd.host),
		      "message: %s", stopped[1].error_message);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("units-remote");
	TCase *jobs = tcase_create("two hosts");
	TCase *connect = tcase_create("connect");

	/* Each test gets its own sshd: one test ends it on purpose. */
	tcase_add_checked_fixture(jobs, sshd_up, sshd_down);
	tcase_set_timeout(jobs, 60);
	tcase_add_test(jobs, test_units_on_this_host_and_a_remote_one_start_and_stop_in_parallel);
	tcase_add_test(jobs,
		       test_each_manager_says_which_kind_it_is_also_through_a_forced_command_key);
	tcase_add_test(jobs, test_a_remote_manager_is_checked_like_a_local_one);
	tcase_add_test(jobs,
		       test_a_failed_remote_unit_reports_its_result_but_no_local_journal_lines);
	tcase_add_test(jobs, test_settle_watches_units_of_both_hosts_at_once);
	tcase_add_test(jobs, test_a_lost_connection_fails_only_the_units_of_its_host);
	suite_add_tcase(s, jobs);

	tcase_add_checked_fixture(connect, sshd_up, sshd_down);
	tcase_set_timeout(connect, 60);
	tcase_add_test(connect, test_an_unreachable_host_fails_at_once_with_what_ssh_said);
	tcase_add_test(connect, test_a_host_whose_key_is_not_known_is_refused);
	tcase_add_test(connect, test_a_key_the_host_does_not_accept_is_refused_without_a_prompt);
	suite_add_tcase(s, connect);

	return check_run_suite(s);
}
