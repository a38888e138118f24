/* bench-5-footprint.c — what deployd costs the machine: socket activation to the first record
 * (the service stopped before each request, so systemd starts it anew), the same request to a
 * running daemon, resident memory idle and during a 500-migration deploy (every process of the
 * service's cgroup, sampled every 2 ms), CPU time and wakeups while idle.
 * Run by tests/bench/run. */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "support.h"
#include "test-daemon.h"

#define ACTIVATIONS 20
#define IDLE_SECONDS 10
#define N_MIGRATIONS 500

/* Connect, send a status request, wait for the end of the first record. */
static usec_t first_record(const char *socket_path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	static const char request[] = "COMMAND=status\n\n";
	_cleanup_close_ int fd = -EBADF;
	char buf[4096], last = 0;
	usec_t start = now_usec(CLOCK_MONOTONIC);

	ck_assert_uint_lt(strlen(socket_path), sizeof(sa.sun_path));
	strcpy(sa.sun_path, socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(write(fd, request, sizeof(request) - 1), (ssize_t)sizeof(request) - 1);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		ck_assert_msg(n > 0, "the daemon closed the connection before a whole record (%s)",
			      n < 0 ? strerror(errno) : "end of file");
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n' && last == '\n')
				return now_usec(CLOCK_MONOTONIC) - start;
			last = buf[i];
		}
	}
}

/* Stops the service (its socket stays), as often as the benchmark needs: without the start
 * rate limit, which would refuse the sixth activation within 10 s. */
static void stop_service(TestDaemon *d)
{
	BenchRun r;

	bench_run(&r, &(BenchRunOptions){.as_test_user = true},
		  (char *[]){"/bin/systemctl", "--user", "stop", d->service_unit, NULL});
	ck_assert_msg(r.status == 0, "systemctl stop: %s", r.output);
	bench_run_done(&r);
}

static void lift_start_limit(TestDaemon *d)
{
	_cleanup_free_ char *dropin_dir = NULL;

	ck_assert_int_ge(asprintf(&dropin_dir, "%s/%s.d", harness_unit_dir(), d->service_unit), 0);
	ck_assert_int_eq(mkdir(dropin_dir, 0755), 0);
	bench_write_file(dropin_dir, "bench.conf", "[Unit]\nStartLimitIntervalSec=0\n");
	harness_daemon_reload();
}

static int main_pid(TestDaemon *d)
{
	_cleanup_free_ char *out = NULL;

	ck_assert_int_eq(
		harness_systemctl_output(&out, "show -p MainPID --value %s", d->service_unit), 0);
	int pid = atoi(out);
	ck_assert_int_gt(pid, 0);
	return pid;
}

/* A number field ("VmRSS:", "voluntary_ctxt_switches:") of /proc/PID/status; -1 if gone. */
static long long status_field(int pid, const char *key)
{
	char path[64], line[256];
	_cleanup_fclose_ FILE *f = NULL;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, strlen(key)) == 0)
			return atoll(line + strlen(key));
	return -1;
}

/* utime + stime of pid, in microseconds. */
static usec_t cpu_time(int pid)
{
	char path[64], buf[1024], *p;
	_cleanup_fclose_ FILE *f = NULL;
	unsigned long long utime, stime;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	p = strrchr(buf, ')'); /* comm may hold spaces */
	ck_assert_ptr_nonnull(p);
	/* after ")": state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
	 * utime(14) stime(15) */
	ck_assert_int_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
				&utime, &stime),
			 2);
	return (utime + stime) * USEC_PER_SEC / (usec_t)sysconf(_SC_CLK_TCK);
}

static FILE *cgroup_procs(TestDaemon *d)
{
	static const char *const roots[] = {"/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd",
					    "/sys/fs/cgroup"};
	_cleanup_free_ char *group = NULL;

	ck_assert_int_eq(harness_systemctl_output(&group, "show -p ControlGroup --value %s",
						  d->service_unit),
			 0);
	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		char path[512];
		snprintf(path, sizeof(path), "%s%s/cgroup.procs", roots[i], group);
		FILE *f = fopen(path, "re");
		if (f)
			return f;
	}
	ck_abort_msg("no cgroup.procs for %s", group);
}

/* RSS in kB of every process of the service right now. */
static long long service_rss(TestDaemon *d, int *ret_n)
{
	_cleanup_fclose_ FILE *f = cgroup_procs(d);
	long long total = 0;
	int pid, n = 0;

	while (fscanf(f, "%d", &pid) == 1) {
		long long rss = status_field(pid, "VmRSS:");
		if (rss > 0) {
			total += rss;
			n++;
		}
	}
	*ret_n = n;
	return total;
}

static void write_migrations(TestDaemon *d, const char *dir, const char *unit)
{
	_cleanup_free_ char *conninfo = bench_conninfo("deployer", "bench_footprint"), *yaml = NULL;

	ck_assert_int_eq(mkdir(dir, 0755), 0);
	for (int i = 1; i <= N_MIGRATIONS; i++) {
		char name[64], body[64];
		snprintf(name, sizeof(name), "%04d_t_%d.sql", i, i);
		snprintf(body, sizeof(body), "CREATE TABLE t_%d (id int);\n", i);
		bench_write_file(dir, name, body);
	}
	ck_assert_int_ge(asprintf(&yaml,
				  "version: 1\ndatabase:\n  conninfo: \"%s\"\n"
				  "services:\n  bus: user\n  units: [%s]\n"
				  "migrations:\n  directory: %s\n",
				  conninfo, unit, dir),
			 0);
	test_daemon_write_plan(d, "footprint", yaml);
}

static void bench_footprint(void)
{
	TestDaemon d;
	_cleanup_free_ char *dir = harness_tmpdir(), *migrations = bench_path(dir, "migrations");
	usec_t cold[ACTIVATIONS], warm[ACTIVATIONS], cpu_before, cpu_after;
	long long rss_idle, rss_peak = 0, ctx_before, ctx_after;
	int pid, n_procs, peak_procs = 0, status;
	pid_t deploy;

	test_daemon_setup(&d, 0);
	lift_start_limit(&d);
	_cleanup_free_ char *unit = bench_app_unit("footprint");
	write_migrations(&d, migrations, unit);
	for (int i = 0; i < ACTIVATIONS; i++) {
		stop_service(&d);
		cold[i] = first_record(d.socket_path);
	}
	for (int i = 0; i < ACTIVATIONS; i++)
		warm[i] = first_record(d.socket_path);

	pid = main_pid(&d);
	usleep(500 * 1000);
	rss_idle = service_rss(&d, &n_procs);
	cpu_before = cpu_time(pid);
	ctx_before = status_field(pid, "voluntary_ctxt_switches:") +
		     status_field(pid, "nonvoluntary_ctxt_switches:");
	sleep(IDLE_SECONDS);
	cpu_after = cpu_time(pid);
	ctx_after = status_field(pid, "voluntary_ctxt_switches:") +
		    status_field(pid, "nonvoluntary_ctxt_switches:");

	bench_fresh_database("bench_footprint");
	deploy = fork();
	ck_assert_int_ge(deploy, 0);
	if (deploy == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		execl(d.deployctl, d.deployctl, "--socket", d.socket_path, "--plans", d.plans_dir,
		      "deploy", "footprint", (char *)NULL);
		_exit(127);
	}
	while (waitpid(deploy, &status, WNOHANG) == 0) {
		long long rss = service_rss(&d, &n_procs);
		if (rss > rss_peak) {
			rss_peak = rss;
			peak_procs = n_procs;
		}
		usleep(2000);
	}
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the deploy failed");
	double cold_ms = bench_median_ms(cold, ACTIVATIONS),
	       warm_ms = bench_median_ms(warm, ACTIVATIONS);

	printf("\n### 5. Daemon footprint\n\n| what | value | target |\n|---|---:|---|\n");
	printf("| socket activation → first record of a status request (median of %d) | %.1f ms "
	       "(%.1f–%.1f) | – |\n",
	       ACTIVATIONS, cold_ms, cold[0] / 1000.0, cold[ACTIVATIONS - 1] / 1000.0);
	printf("| the same request to the running daemon (median of %d) | %.2f ms | – |\n",
	       ACTIVATIONS, warm_ms);
	printf("| resident memory, idle | %.1f MiB | – |\n", rss_idle / 1024.0);
	printf("| resident memory, peak during a %d-migration deploy (daemon + worker, %d "
	       "processes) | %.1f MiB | – |\n",
	       N_MIGRATIONS, peak_procs, rss_peak / 1024.0);
	printf("| CPU used while idle for %d s | %.0f ms, %lld wakeups | 0: %s |\n", IDLE_SECONDS,
	       (cpu_after - cpu_before) / 1000.0, ctx_after - ctx_before,
	       cpu_after == cpu_before ? "met" : "MISSED");
	printf("\nWakeups while idle are context switches of the daemon; the test unit has "
	       "WatchdogSec=20s, so the watchdog is pinged every 10 s.\n");
	test_daemon_teardown(&d);
}

int main(void)
{
	return bench_main("bench-5-footprint", bench_footprint);
}
