/* bench-3-overhead.c — what a whole deploy costs beyond the work systemd and PostgreSQL must do:
 * three units that each take 1 s to stop, ten small migrations.
 *
 * The work is measured, not assumed: the slowest stop and the slowest start as systemd logs
 * them during the deploy ("Stopping…" to "Stopped", "Starting…" to "Started"), and
 * the ten migrations as `psql -1` applies them to a fresh database.  Beside it, the script
 * people write: systemctl stop, psql per file, systemctl start.  Run by tests/bench/run. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <systemd/sd-messages.h>

#include "harness.h"
#include "support.h"
#include "test-daemon.h"

#define ROUNDS 5
#define N_UNITS 3
#define N_MIGRATIONS 10

typedef struct Setup {
	TestDaemon daemon;
	char *dir, *migrations, *all, *psql, *units[N_UNITS];
} Setup;

static void setup(Setup *s)
{
	_cleanup_fclose_ FILE *all = NULL;
	_cleanup_free_ char *conninfo = bench_conninfo("deployer", "bench_overhead"), *yaml = NULL;

	s->dir = harness_tmpdir();
	s->migrations = bench_path(s->dir, "migrations");
	s->all = bench_path(s->dir, "all.sql");
	s->psql = bench_psql();
	ck_assert_int_eq(mkdir(s->migrations, 0755), 0);
	all = fopen(s->all, "we");
	ck_assert_ptr_nonnull(all);
	for (int i = 1; i <= N_MIGRATIONS; i++) {
		char name[32], body[64];

		snprintf(name, sizeof(name), "%02d_s_%d.sql", i, i);
		snprintf(body, sizeof(body), "CREATE TABLE s_%d (id int);\n", i);
		bench_write_file(s->migrations, name, body);
		fputs(body, all);
	}
	for (int i = 0; i < N_UNITS; i++) {
		char stem[32];

		snprintf(stem, sizeof(stem), "slowstop%d", i + 1);
		s->units[i] = harness_unit_name(stem, "service");
		harness_write_unit(s->units[i],
				   "[Unit]\nDescription=takes 1 s to stop\n\n"
				   "[Service]\nType=exec\nExecStart=/bin/sleep infinity\n"
				   "ExecStop=/bin/sleep 1\n");
	}
	harness_daemon_reload();
	ck_assert_int_eq(harness_systemctl("start %s %s %s", s->units[0], s->units[1], s->units[2]),
			 0);
	test_daemon_setup(&s->daemon, 0);
	ck_assert_int_ge(asprintf(&yaml,
				  "version: 1\n"
				  "database:\n  conninfo: \"%s\"\n"
				  "services:\n  bus: user\n  units: [%s, %s, %s]\n"
				  "migrations:\n  directory: %s\n",
				  conninfo, s->units[0], s->units[1], s->units[2], s->migrations),
			 0);
	test_daemon_write_plan(&s->daemon, "overhead", yaml);
}

/* The receive time of the newest entry systemd logged with MESSAGE_ID id about unit, once it is
 * newer than since (journald writes asynchronously: wait for it a little). */
static usec_t logged(const char *unit, const char *id, usec_t since)
{
	_cleanup_(sd_journal_closep) sd_journal *j = NULL;
	_cleanup_free_ char *unit_match = NULL, *id_match = NULL;
	usec_t deadline = now_usec(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC;

	ck_assert_int_ge(asprintf(&unit_match, "USER_UNIT=%s", unit), 0);
	ck_assert_int_ge(asprintf(&id_match, "MESSAGE_ID=%s", id), 0);
	ck_assert_int_ge(sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY), 0);
	ck_assert_int_ge(sd_journal_add_match(j, unit_match, 0), 0);
	ck_assert_int_ge(sd_journal_add_match(j, id_match, 0), 0);
	while (now_usec(CLOCK_MONOTONIC) < deadline) {
		uint64_t at;

		ck_assert_int_ge(sd_journal_seek_tail(j), 0);
		if (sd_journal_previous(j) > 0 && sd_journal_get_realtime_usec(j, &at) >= 0 &&
		    at >= since)
			return at;
		sd_journal_wait(j, 100 * USEC_PER_MSEC);
	}
	ck_abort_msg("systemd logged no %s for %s", id, unit);
}

/* The slowest stop and start of the units since the given time, as systemd logged them. */
static void systemd_work(Setup *s, usec_t since, usec_t *ret_stop, usec_t *ret_start)
{
	*ret_stop = *ret_start = 0;
	for (int i = 0; i < N_UNITS; i++) {
		usec_t stop = logged(s->units[i], SD_MESSAGE_UNIT_STOPPED_STR, since) -
			      logged(s->units[i], SD_MESSAGE_UNIT_STOPPING_STR, since);
		usec_t start = logged(s->units[i], SD_MESSAGE_UNIT_STARTED_STR, since) -
			       logged(s->units[i], SD_MESSAGE_UNIT_STARTING_STR, since);
		*ret_stop = stop > *ret_stop ? stop : *ret_stop;
		*ret_start = start > *ret_start ? start : *ret_start;
	}
}

enum {
	DEPLOY,
	PHASE_STOP,
	PHASE_MIGRATE,
	PHASE_START,
	WORK_STOP,
	WORK_START,
	WORK_MIGRATIONS,
	WORK,
	OVERHEAD,
	SHELL,
	N_FIGURES
};

static usec_t phase(const char *output, const char *name)
{
	_cleanup_free_ char *v = bench_event_field(output, "phase-finished", name, "DURATION_MS");

	ck_assert_msg(v, "no %s phase-finished in:\n%s", name, output);
	return strtoull(v, NULL, 10) * USEC_PER_MSEC;
}

static void round_once(Setup *s, usec_t f[N_FIGURES])
{
	_cleanup_free_ char *conninfo = NULL, *script = NULL;
	BenchRun r;

	bench_fresh_database("bench_overhead");
	usec_t since = now_usec(CLOCK_REALTIME);
	bench_run(&r, NULL,
		  (char *[]){s->daemon.deployctl, "--socket", s->daemon.socket_path, "--plans",
			     s->daemon.plans_dir, "deploy", "overhead", "--json", NULL});
	ck_assert_msg(r.status == 0, "deploy exited %d:\n%s", r.status, r.output);
	f[DEPLOY] = r.took;
	f[PHASE_STOP] = phase(r.output, "stop");
	f[PHASE_MIGRATE] = phase(r.output, "migrate");
	f[PHASE_START] = phase(r.output, "start");
	bench_run_done(&r);
	systemd_work(s, since, &f[WORK_STOP], &f[WORK_START]);

	bench_fresh_database("bench_overhead_psql");
	conninfo = bench_conninfo("deployer", "bench_overhead_psql");
	bench_run(&r, NULL,
		  (char *[]){s->psql, "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-f", s->all,
			     conninfo, NULL});
	ck_assert_msg(r.status == 0, "psql exited %d:\n%s", r.status, r.output);
	f[WORK_MIGRATIONS] = r.took;
	bench_run_done(&r);
	f[WORK] = f[WORK_STOP] + f[WORK_MIGRATIONS] + f[WORK_START];
	f[OVERHEAD] = f[DEPLOY] > f[WORK] ? f[DEPLOY] - f[WORK] : 0;
	free(conninfo);

	bench_fresh_database("bench_overhead_shell");
	conninfo = bench_conninfo("deployer", "bench_overhead_shell");
	ck_assert_int_ge(asprintf(&script,
				  "systemctl --user stop %s %s %s && "
				  "for f in %s/*.sql; do %s -X -q -1 -v ON_ERROR_STOP=1 -f \"$f\" "
				  "'%s' || exit 1; done && "
				  "systemctl --user start %s %s %s",
				  s->units[0], s->units[1], s->units[2], s->migrations, s->psql,
				  conninfo, s->units[0], s->units[1], s->units[2]),
			 0);
	bench_run(&r, &(BenchRunOptions){.as_test_user = true},
		  (char *[]){"/bin/sh", "-c", script, NULL});
	ck_assert_msg(r.status == 0, "the shell deploy exited %d:\n%s", r.status, r.output);
	f[SHELL] = r.took;
	bench_run_done(&r);
}

static void bench_overhead(void)
{
	static const char *const names[N_FIGURES] = {
		[DEPLOY] = "deployd: `deployctl deploy`, wall",
		[PHASE_STOP] = "  its stop phase (DURATION_MS)",
		[PHASE_MIGRATE] = "  its migrate phase (DURATION_MS)",
		[PHASE_START] = "  its start phase (DURATION_MS)",
		[WORK_STOP] = "systemd: slowest stop (Stopping… → Stopped in its log)",
		[WORK_START] = "systemd: slowest start (Starting… → Started in its log)",
		[WORK_MIGRATIONS] = "PostgreSQL: the 10 migrations by `psql -1`",
		[WORK] = "work = slowest stop + migrations + slowest start",
		[OVERHEAD] = "**deployd overhead = wall − work**",
		[SHELL] = "shell script: `systemctl stop`; psql per file; `systemctl start`",
	};
	Setup s = {};
	usec_t f[N_FIGURES][ROUNDS], one[N_FIGURES];
	double median[N_FIGURES];

	setup(&s);
	round_once(&s, one); /* warm-up */
	for (int i = 0; i < ROUNDS; i++) {
		round_once(&s, one);
		for (int k = 0; k < N_FIGURES; k++)
			f[k][i] = one[k];
	}
	for (int k = 0; k < N_FIGURES; k++)
		median[k] = bench_median_ms(f[k], ROUNDS);

	printf("\n### 3. Deploy overhead: %d units that take 1 s to stop, %d small migrations "
	       "(median of %d rounds)\n\n",
	       N_UNITS, N_MIGRATIONS, ROUNDS);
	printf("| what | median ms | min–max ms |\n|---|---:|---:|\n");
	for (int k = 0; k < N_FIGURES; k++)
		printf("| %s | %.0f | %.0f–%.0f |\n", names[k], median[k], f[k][0] / 1000.0,
		       f[k][ROUNDS - 1] / 1000.0);
	printf("\nTarget: overhead ≤ 60 ms (goal 30 ms): %.0f ms — %s.  The shell script takes "
	       "%.2f× "
	       "deployd's time (and keeps no history, names no blocker, stops at no lock "
	       "timeout).\n",
	       median[OVERHEAD], median[OVERHEAD] <= 60 ? "met" : "MISSED",
	       median[SHELL] / median[DEPLOY]);
	test_daemon_teardown(&s.daemon);
}

int main(void)
{
	return bench_main("bench-3-overhead", bench_overhead);
}
