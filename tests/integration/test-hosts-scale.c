/* test-hosts-scale.c — many "hosts" at once: N sshd (tests/harness/up-sshd DIR N) on N loopback
 * addresses, each reached by ssh as a host of its own, the test user's manager behind every
 * one.  N is DEPLOYD_TEST_HOSTS (10 unless set; make bench runs 50).  Every host is
 * connected, stopped and started at once; unreachable hosts all fail within about one connect
 * timeout, each with its own error. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "strv.h"
#include "test-sshd.h"
#include "units.h"

#define LONG_TIMEOUT (60 * USEC_PER_SEC) /* only there to catch a hang */

static TestSshd sshd;
static unsigned n_hosts;

static void sshd_up(void)
{
	const char *n = getenv("DEPLOYD_TEST_HOSTS");

	n_hosts = n ? (unsigned)strtoul(n, NULL, 10) : 10;
	ck_assert_uint_ge(n_hosts, 1);
	test_sshd_up_many(&sshd, n_hosts);
}

static void sshd_down(void)
{
	test_sshd_down(&sshd);
}

static UnitsSshOptions ssh_options(usec_t connect_timeout)
{
	return (UnitsSshOptions){
		.identity = sshd.identity,
		.known_hosts = sshd.known_hosts,
		.connect_timeout = connect_timeout,
	};
}

static char *active_state(const char *unit)
{
	char *state = NULL;

	ck_assert_int_eq(
		harness_systemctl_output(&state, "show --property=ActiveState --value %s", unit),
		0);
	return state;
}

static void assert_all_ok(const char *what, int r, const UnitOutcome *outcomes, size_t n)
{
	size_t seen = 0;

	for (const UnitOutcome *o = outcomes; o && o->name; o++, seen++)
		ck_assert_msg(o->error == 0, "%s %s: %s (job %s, state %s, %s)", what, o->name,
			      strerror(-o->error), o->job_result, o->active_state,
			      o->error_message);
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(seen, n);
}

START_TEST(test_every_host_is_connected_stopped_and_started_at_once)
{
	UnitsRemote *remotes = calloc(n_hosts, sizeof(UnitsRemote));
	UnitsTarget *targets = calloc(n_hosts, sizeof(UnitsTarget));
	char ***units = calloc(n_hosts, sizeof(char **));
	UnitsSshOptions o = ssh_options(10 * USEC_PER_SEC);
	UnitOutcome *outcomes = NULL;
	UnitsOptions wait = {.timeout = LONG_TIMEOUT, .cancel_fd = -1};

	ck_assert(remotes && targets && units);
	for (unsigned i = 0; i < n_hosts; i++) {
		_cleanup_free_ char *stem = NULL;
		ck_assert_int_ge(asprintf(&stem, "host%u", i), 0);
		char *name = harness_unit_name(stem, "service");
		harness_write_unit(name, "[Unit]\nDescription=deployd hosts scale test\n\n"
					 "[Service]\nType=exec\nExecStart=/bin/sleep infinity\n");
		ck_assert_int_eq(strv_push(&units[i], name), 0);
		remotes[i] = (UnitsRemote){.host = sshd.hosts[i], .which = UNITS_BUS_USER};
	}
	harness_daemon_reload();

	ck_assert_int_eq(units_connect_remote_all(remotes, n_hosts, &o, -1), 0);
	for (unsigned i = 0; i < n_hosts; i++) {
		ck_assert_msg(remotes[i].manager, "%s: %s", sshd.hosts[i],
			      remotes[i].error_message);
		ck_assert_str_eq(units_manager_host(remotes[i].manager), sshd.hosts[i]);
		targets[i] = (UnitsTarget){remotes[i].manager, units[i]};
	}
	/* The first host's sshd (each host has its own) let exactly one session in. */
	ck_assert_int_eq(test_sshd_logins(&sshd), 1);

	int r = units_start_all(targets, n_hosts, &wait, &outcomes);
	assert_all_ok("start", r, outcomes, n_hosts);
	units_outcomes_free(outcomes);
	for (unsigned i = 0; i < n_hosts; i++) {
		_cleanup_free_ char *state = active_state(units[i][0]);
		ck_assert_str_eq(state, "active");
	}
	r = units_stop_all(targets, n_hosts, &wait, &outcomes);
	assert_all_ok("stop", r, outcomes, n_hosts);
	units_outcomes_free(outcomes);
	for (unsigned i = 0; i < n_hosts; i++) {
		_cleanup_free_ char *state = active_state(units[i][0]);
		ck_assert_str_eq(state, "inactive");
		units_manager_free(remotes[i].manager);
		strv_free(units[i]);
	}
	free(remotes);
	free(targets);
	free(units);
}
END_TEST

/* A "host" that accepts TCP connections and never says a word, as a hung machine behind a
 * live network stack does: ssh waits for its banner until ConnectTimeout. */
static int silent_host(const char *address, unsigned port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(inet_pton(AF_INET, address, &sa.sin_addr), 1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	return fd;
}

START_TEST(test_unreachable_hosts_all_fail_within_about_one_connect_timeout_each_with_its_error)
{
	enum { N_SILENT = 10 };
	const usec_t timeout = 2 * USEC_PER_SEC;
	UnitsRemote remotes[N_SILENT + 1] = {};
	char *hosts[N_SILENT] = {};
	int fds[N_SILENT];
	UnitsSshOptions o = ssh_options(timeout);

	/* Addresses past the sshd's, on its port. */
	for (unsigned i = 0; i < N_SILENT; i++) {
		char address[32];
		snprintf(address, sizeof(address), "127.0.0.%u", n_hosts + 2 + i);
		fds[i] = silent_host(address, sshd.port);
		ck_assert_int_ge(asprintf(&hosts[i], "deployd-test@%s:%u", address, sshd.port), 0);
		remotes[i] = (UnitsRemote){.host = hosts[i], .which = UNITS_BUS_USER};
	}
	remotes[N_SILENT] = (UnitsRemote){.host = sshd.hosts[0], .which = UNITS_BUS_USER};

	usec_t start = now_usec(CLOCK_MONOTONIC);
	ck_assert_int_eq(units_connect_remote_all(remotes, N_SILENT + 1, &o, -1), 0);
	usec_t took = now_usec(CLOCK_MONOTONIC) - start;

	/* One after another they would take ten timeouts; together, about one (loosely: the
	 * figure itself is make bench's). */
	ck_assert_msg(took < 3 * timeout, "took %llu ms", (unsigned long long)(took / 1000));
	for (unsigned i = 0; i < N_SILENT; i++) {
		ck_assert_ptr_null(remotes[i].manager);
		ck_assert_int_lt(remotes[i].error, 0);
		ck_assert_ptr_nonnull(remotes[i].error_message);
		free(remotes[i].error_message);
		free(hosts[i]);
		close(fds[i]);
	}
	/* The host that answers is connected all the same. */
	ck_assert_msg(remotes[N_SILENT].manager, "%s", remotes[N_SILENT].error_message);
	units_manager_free(remotes[N_SILENT].manager);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("hosts-scale");
	TCase *tc = tcase_create("hosts");

	tcase_add_unchecked_fixture(tc, sshd_up, sshd_down);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_every_host_is_connected_stopped_and_started_at_once);
	tcase_add_test(
		tc,
		test_unreachable_hosts_all_fail_within_about_one_connect_timeout_each_with_its_error);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
