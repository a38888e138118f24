/* bench-7-hosts.c — many hosts as fast as one: a deploy that stops and starts one unit taking
 * 1 s to stop on each of 50 "hosts" against the same on one host, and a preflight against 10
 * hosts that never answer against one connect timeout.  The hosts are 50 sshd on 50 loopback
 * addresses (tests/harness/up-sshd DIR 50), each reached by ssh as a host of its own, the test
 * user's manager behind every one.  Run by tests/bench/run. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exit-code.h"
#include "harness.h"
#include "support.h"
#include "test-daemon.h"
#include "test-sshd.h"

#define ROUNDS 5
#define N_HOSTS 50
#define N_SILENT 10
#define CONNECT_TIMEOUT_SEC 10

typedef struct Setup {
	TestSshd sshd;
	TestDaemon daemon;
	char *units[N_HOSTS];
	int silent[N_SILENT];
} Setup;

/* A plan over the first n hosts, one unit each; or over the silent ones. */
static void write_plan(Setup *s, const char *name, unsigned n, bool silent)
{
	_cleanup_free_ char *conninfo = bench_conninfo("deployer", "bench_hosts"), *yaml = NULL;
	_cleanup_free_ char *dir = harness_tmpdir(), *migrations = bench_path(dir, "migrations");
	size_t len = 0;
	FILE *f = open_memstream(&yaml, &len);

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(mkdir(migrations, 0755), 0);
	fprintf(f,
		"version: 1\ndatabase:\n  conninfo: \"%s\"\nservices:\n  stop_timeout: 60s\n"
		"  start_timeout: 60s\n  remote:\n",
		conninfo);
	for (unsigned i = 0; i < n; i++) {
		if (silent)
			fprintf(f, "    - host: deployd-test@127.0.0.%u:%u\n", N_HOSTS + 2 + i,
				s->sshd.port);
		else
			fprintf(f, "    - host: %s\n", s->sshd.hosts[i]);
		fprintf(f, "      bus: user\n      units: [%s]\n", s->units[i]);
	}
	fprintf(f, "migrations:\n  directory: %s\n", migrations);
	ck_assert_int_eq(fclose(f), 0);
	test_daemon_write_plan(&s->daemon, name, yaml);
}

static int silent_host(unsigned last_octet, unsigned port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	char address[32];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(address, sizeof(address), "127.0.0.%u", last_octet);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(inet_pton(AF_INET, address, &sa.sin_addr), 1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	return fd;
}

static void setup(Setup *s)
{
	_cleanup_free_ char *options = NULL;

	test_sshd_up_many(&s->sshd, N_HOSTS);
	for (unsigned i = 0; i < N_HOSTS; i++) {
		char stem[32];
		snprintf(stem, sizeof(stem), "host%u", i);
		s->units[i] = harness_unit_name(stem, "service");
		harness_write_unit(s->units[i],
				   "[Unit]\nDescription=takes 1 s to stop\n\n"
				   "[Service]\nType=exec\nExecStart=/bin/sleep infinity\n"
				   "ExecStop=/bin/sleep 1\n");
	}
	harness_daemon_reload();
	for (unsigned i = 0; i < N_HOSTS; i++)
		ck_assert_int_eq(harness_systemctl("start %s", s->units[i]), 0);
	for (unsigned i = 0; i < N_SILENT; i++)
		s->silent[i] = silent_host(N_HOSTS + 2 + i, s->sshd.port);
	ck_assert_int_ge(asprintf(&options,
				  "--ssh-identity %s --ssh-known-hosts %s --ssh-connect-timeout %d",
				  s->sshd.identity, s->sshd.known_hosts, CONNECT_TIMEOUT_SEC),
			 0);
	test_daemon_setup_with(&s->daemon, 0, options, NULL);
	bench_fresh_database("bench_hosts");
	write_plan(s, "one", 1, false);
	write_plan(s, "fifty", N_HOSTS, false);
	write_plan(s, "silent", N_SILENT, true);
}

static usec_t deploy(Setup *s, const char *plan, int expected_status)
{
	BenchRun r;

	bench_run(&r, NULL,
		  (char *[]){s->daemon.deployctl, "--socket", s->daemon.socket_path, "--plans",
			     s->daemon.plans_dir, "deploy", (char *)plan, NULL});
	if (r.status != expected_status) {
		/* Its whole output would not fit in Check's message. */
		size_t len = strlen(r.output);
		fprintf(stderr, "deploy %s exited %d; its output ends:\n%s\n", plan, r.status,
			r.output + (len > 4000 ? len - 4000 : 0));
	}
	ck_assert_msg(r.status == expected_status, "deploy %s exited %d, expected %d", plan,
		      r.status, expected_status);
	usec_t took = r.took;
	bench_run_done(&r);
	return took;
}

/* The floor under the many-host figure: an ssh connection to every host at once, with the
 * options deployd's own connections use (lib/units/units-remote.c), running `true` instead of
 * the bus bridge.  A deploy over n hosts cannot take less. */
static usec_t connect_all(Setup *s, unsigned n)
{
	_cleanup_free_ char *script = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&script, &len);
	BenchRun r;

	ck_assert_ptr_nonnull(f);
	fprintf(f, "for h in");
	for (unsigned i = 0; i < n; i++)
		fprintf(f, " 127.0.0.%u", i + 2);
	fprintf(f,
		"; do ssh -F none -xT -o BatchMode=yes -o StrictHostKeyChecking=yes "
		"-o ConnectTimeout=%d -o IdentityFile=%s -o IdentitiesOnly=yes "
		"-o IdentityAgent=none -o UserKnownHostsFile=%s -o GlobalKnownHostsFile=none "
		"-l deployd-test -p %u -- \"$h\" true </dev/null || echo \"failed: $h\" & done; wait",
		CONNECT_TIMEOUT_SEC, s->sshd.identity, s->sshd.known_hosts, s->sshd.port);
	ck_assert_int_eq(fclose(f), 0);
	bench_run(&r, &(BenchRunOptions){.as_test_user = true},
		  (char *[]){"/bin/sh", "-c", script, NULL});
	ck_assert_msg(r.status == 0 && !strstr(r.output, "failed:"),
		      "ssh to every host failed (%d): %s", r.status, r.output);
	usec_t took = r.took;
	bench_run_done(&r);
	return took;
}

static void bench_hosts(void)
{
	Setup s = {};
	usec_t one[ROUNDS], fifty[ROUNDS], silent[ROUNDS], floor[ROUNDS];

	setup(&s);
	deploy(&s, "one", 0); /* warm-up */
	deploy(&s, "fifty", 0);
	for (int i = 0; i < ROUNDS; i++) {
		one[i] = deploy(&s, "one", 0);
		fifty[i] = deploy(&s, "fifty", 0);
		silent[i] = deploy(&s, "silent", DEPLOY_EXIT_PREFLIGHT);
		floor[i] = connect_all(&s, N_HOSTS);
	}
	double one_ms = bench_median_ms(one, ROUNDS), fifty_ms = bench_median_ms(fifty, ROUNDS),
	       silent_ms = bench_median_ms(silent, ROUNDS), floor_ms = bench_median_ms(floor, ROUNDS);
	double ratio = fifty_ms / one_ms, silent_ratio = silent_ms / (CONNECT_TIMEOUT_SEC * 1000.0);

	printf("\n### 7. Many hosts: one unit taking 1 s to stop on each host, stop + start "
	       "(median of %d rounds)\n\n",
	       ROUNDS);
	printf("| what | median ms | min–max ms |\n|---|---:|---:|\n");
	printf("| `deployctl deploy`, 1 host | %.0f | %.0f–%.0f |\n", one_ms, one[0] / 1000.0,
	       one[ROUNDS - 1] / 1000.0);
	printf("| `deployctl deploy`, %d hosts | %.0f | %.0f–%.0f |\n", N_HOSTS, fifty_ms,
	       fifty[0] / 1000.0, fifty[ROUNDS - 1] / 1000.0);
	printf("| reference: `ssh HOST true` to the %d hosts at once (the connections alone) | %.0f "
	       "| %.0f–%.0f |\n",
	       N_HOSTS, floor_ms, floor[0] / 1000.0, floor[ROUNDS - 1] / 1000.0);
	printf("| `deployctl deploy`, %d hosts that never answer (fails in preflight; connect "
	       "timeout %d s) | %.0f | %.0f–%.0f |\n",
	       N_SILENT, CONNECT_TIMEOUT_SEC, silent_ms, silent[0] / 1000.0,
	       silent[ROUNDS - 1] / 1000.0);
	printf("\nTarget: %d hosts ÷ 1 host ≤ 1.5 (goal 1.2): %.2f — %s.\n", N_HOSTS, ratio,
	       ratio <= 1.5 ? "met" : "MISSED");
	printf("Target: %d unreachable hosts fail the preflight within 1.5× one connect timeout: "
	       "%.2f× — %s.\n",
	       N_SILENT, silent_ratio, silent_ratio <= 1.5 ? "met" : "MISSED");
	printf("The hosts are %d sshd on as many loopback addresses, each its own ssh "
	       "connection; every unit runs in the same user manager.  The connections alone take "
	       "%.2f× the one-host deploy here: the floor under the %d-host figure on this "
	       "machine.\n",
	       N_HOSTS, floor_ms / one_ms, N_HOSTS);
	for (unsigned i = 0; i < N_HOSTS; i++)
		harness_systemctl("stop %s", s.units[i]);
	for (unsigned i = 0; i < N_SILENT; i++)
		close(s.silent[i]);
	test_daemon_teardown(&s.daemon);
	test_sshd_down(&s.sshd);
}

int main(void)
{
	return bench_main("bench-7-hosts", bench_hosts);
}
