/* test-hosts-scale.c — many "hosts" at once: N sshd (tests/harness/up-sshd DIR N) on N loopback
 * addresses, each reached by ssh as a host of its own, the test user's manager behind every
 * one.  N is DEPLOYD_TEST_HOSTS (10 unless set; make bench runs 50).  Every host is
 * connected, stopped and started at once; unreachable hosts all fail within about one connect
 * timeout, each with its own error; every host is checked at once, and hosts whose managers
 * fall silent fail their check together within one timeout while the others are checked. */
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check-run.h"
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

/* Host i gets the unit STEMi (written for every hosts_with_unit-th host, from the first: the
 * others lack it) and is reached over its own ssh; every connection must succeed. */
static void connect_hosts(const char *stem, unsigned hosts_with_unit, const UnitsSshOptions *o,
			  UnitsRemote *remotes, char ***units)
{
	for (unsigned i = 0; i < n_hosts; i++) {
		_cleanup_free_ char *unit_stem = NULL;
		ck_assert_int_ge(asprintf(&unit_stem, "%s%u", stem, i), 0);
		char *name = harness_unit_name(unit_stem, "service");
		if (i % hosts_with_unit == 0)
			harness_write_unit(name,
					   "[Unit]\nDescription=deployd hosts scale test\n\n"
					   "[Service]\nType=exec\nExecStart=/bin/sleep infinity\n");
		ck_assert_int_eq(strv_push(&units[i], name), 0);
		remotes[i] = (UnitsRemote){.host = sshd.hosts[i], .which = UNITS_BUS_USER};
	}
	harness_daemon_reload();
	ck_assert_int_eq(units_connect_remote_all(remotes, n_hosts, o, -1), 0);
	for (unsigned i = 0; i < n_hosts; i++)
		ck_assert_msg(remotes[i].manager, "%s: %s", sshd.hosts[i],
			      remotes[i].error_message);
}

/* What connect_hosts() set up: the managers (their ssh ended) and the unit lists. */
static void hosts_free(UnitsRemote *remotes, char ***units)
{
	for (unsigned i = 0; i < n_hosts; i++) {
		units_manager_free(remotes[i].manager);
		strv_free(units[i]);
	}
	free(remotes);
	free(units);
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
	connect_hosts("host", 1, &o, remotes, units);
	for (unsigned i = 0; i < n_hosts; i++) {
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
	}
	hosts_free(remotes, units);
	free(targets);
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

/* The ssh processes of ours that carry a connection to address (a child of ours whose command
 * line names it): SIGSTOP makes that host's manager fall silent, as a hung machine's does. */
static void signal_ssh_to(const char *address, int sig)
{
	_cleanup_(closedirp) DIR *proc = opendir("/proc");
	struct dirent *de;
	unsigned found = 0;

	ck_assert_ptr_nonnull(proc);
	while ((de = readdir(proc))) {
		_cleanup_free_ char *path = NULL, *cmdline = NULL;
		_cleanup_fclose_ FILE *f = NULL;
		char stat[512] = "";
		size_t len = 0;
		int ppid = 0;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		ck_assert_int_ge(asprintf(&path, "/proc/%s/stat", de->d_name), 0);
		f = fopen(path, "re");
		if (!f || !fgets(stat, sizeof(stat), f))
			continue;
		const char *after_comm = strrchr(stat, ')');
		if (!after_comm || sscanf(after_comm, ") %*c %d", &ppid) != 1 || ppid != getpid())
			continue;
		free(path);
		path = NULL;
		ck_assert_int_ge(asprintf(&path, "/proc/%s/cmdline", de->d_name), 0);
		fclose(f);
		f = fopen(path, "re");
		if (!f || getdelim(&cmdline, &len, '\0', f) < 0 || strcmp(cmdline, "ssh") != 0)
			continue;
		/* The arguments follow, NUL-separated: look for the host among them. */
		char buf[4096];
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		bool names_it = false;
		for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
			if (strstr(buf + i, address))
				names_it = true;
		if (!names_it)
			continue;
		ck_assert_int_eq(kill((pid_t)atoi(de->d_name), sig), 0);
		found++;
	}
	ck_assert_msg(found == 1, "%u ssh processes of ours reach %s", found, address);
}

START_TEST(test_hosts_that_fall_silent_fail_their_check_together_within_one_timeout)
{
	enum { N_SILENT = 3 };
	const usec_t timeout = 2 * USEC_PER_SEC;
	UnitsRemote *remotes = calloc(n_hosts, sizeof(UnitsRemote));
	UnitsCheck *checks = calloc(n_hosts, sizeof(UnitsCheck));
	char ***units = calloc(n_hosts, sizeof(char **));
	UnitsSshOptions o = ssh_options(10 * USEC_PER_SEC);
	char addresses[N_SILENT][32];
	unsigned silent = n_hosts < N_SILENT ? n_hosts : N_SILENT;

	ck_assert(remotes && checks && units);
	/* Every other host lacks its unit. */
	connect_hosts("check", 2, &o, remotes, units);
	for (unsigned i = 0; i < n_hosts; i++) {
		checks[i] = (UnitsCheck){
			.manager = remotes[i].manager, .units = units[i], .ask_kind = true};
	}
	/* The last hosts' connections hang (their ssh stopped): their managers never answer. */
	for (unsigned k = 0; k < silent; k++) {
		unsigned i = n_hosts - 1 - k;
		snprintf(addresses[k], sizeof(addresses[k]), "127.0.0.%u", i + 2);
		signal_ssh_to(addresses[k], SIGSTOP);
	}

	usec_t start = now_usec(CLOCK_MONOTONIC);
	ck_assert_int_eq(units_check_all(checks, n_hosts,
					 &(UnitsOptions){.timeout = timeout, .cancel_fd = -1}),
			 0);
	usec_t took = now_usec(CLOCK_MONOTONIC) - start;

	/* Host after host, the silent ones would take a timeout each; together, about one. */
	ck_assert_msg(took < silent * timeout || silent == 1, "took %llu ms",
		      (unsigned long long)(took / 1000));
	for (unsigned i = 0; i < n_hosts; i++) {
		UnitsCheck *c = &checks[i];

		if (i >= n_hosts - silent) {
			ck_assert_msg(c->kind_error == -ETIMEDOUT, "%s: kind %d", sshd.hosts[i],
				      c->kind_error);
			ck_assert(!c->checked);
			ck_assert_ptr_null(c->problems);
		} else {
			ck_assert_msg(c->kind_error == 0 && c->kind == UNITS_BUS_USER && c->checked,
				      "%s: kind %d (%d)", sshd.hosts[i], c->kind, c->kind_error);
			/* Each host names its own missing unit, and only it. */
			ck_assert_int_eq(c->result, i % 2 == 0 ? 0 : 1);
			if (i % 2 == 1) {
				ck_assert_str_eq(c->problems[0].name, units[i][0]);
				ck_assert_str_eq(c->problems[0].load_state, "not-found");
				ck_assert_int_eq(c->problems[0].error, -ENOENT);
			}
		}
		units_problems_free(c->problems);
	}
	for (unsigned k = 0; k < silent; k++)
		signal_ssh_to(addresses[k], SIGCONT);
	hosts_free(remotes, units);
	free(checks);
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
	tcase_add_test(tc,
		       test_hosts_that_fall_silent_fail_their_check_together_within_one_timeout);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_suite(suite());
}
