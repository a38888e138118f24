/* bench-4-idle.c — the idle-transaction terminator: 200 sessions idle in a transaction among 200
 * busy ones; how long until the idle ones are found and gone, the busy ones untouched.
 *   deployctl idle PLAN --terminate       (the command; waits for each backend to exit)
 *   deployctl deploy --terminate-idle     (the deploy's idle phase, DURATION_MS)
 *   psql -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE …"  (the one-liner)
 * Each is timed to its exit and to the moment the server shows no idle session left.
 * Run by tests/bench/run. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "pg-cleanup.h"
#include "sessions.h"
#include "support.h"
#include "test-daemon.h"

#define ROUNDS 5
#define N_IDLE 200
#define N_BUSY 200
#define DB "bench_idle"

enum { COMMAND, COMMAND_GONE, PHASE, PHASE_GONE, PSQL, PSQL_GONE, N_FIGURES };

typedef struct Setup {
	TestDaemon daemon;
	char *dir, *migrations, *psql, *conninfo, *owner;
	char *unit; /* the app the plan names */
	PGconn *observer;
	PGconn *idle[N_IDLE], *busy[N_BUSY];
} Setup;

static void open_idle(Setup *s)
{
	for (int i = 0; i < N_IDLE; i++) {
		s->idle[i] = harness_pg_connect(s->conninfo);
		test_exec(s->idle[i], "BEGIN");
		test_exec(s->idle[i], "SELECT 1");
	}
}

static long long count(Setup *s, const char *state)
{
	char sql[256];
	_cleanup_(PQclearp) PGresult *res = NULL;

	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM pg_stat_activity WHERE datname = '" DB
		 "' AND usename = 'app_user' AND state = '%s'",
		 state);
	PQclear(harness_pg_query(s->observer, "SELECT pg_stat_clear_snapshot()"));
	res = harness_pg_query(s->observer, sql);
	return atoll(PQgetvalue(res, 0, 0));
}

/* From started until the server shows no idle session left. */
static usec_t until_gone(Setup *s, usec_t started)
{
	usec_t deadline = now_usec(CLOCK_MONOTONIC) + 10 * USEC_PER_SEC;

	while (count(s, "idle in transaction") > 0) {
		ck_assert_msg(now_usec(CLOCK_MONOTONIC) < deadline, "idle sessions survived");
		usleep(1000);
	}
	return now_usec(CLOCK_MONOTONIC) - started;
}

static void close_idle(Setup *s)
{
	ck_assert_int_eq(count(s, "active"), N_BUSY);
	for (int i = 0; i < N_IDLE; i++) {
		PQfinish(s->idle[i]);
		s->idle[i] = NULL;
	}
}

/* The newest idle session must have been idle for longer than older_than (1 s). */
static void age_idle(void)
{
	usleep(1100 * 1000);
}

static void round_once(Setup *s, usec_t f[N_FIGURES])
{
	_cleanup_free_ char *phase_ms = NULL;
	BenchRun r;
	usec_t started;

	open_idle(s);
	age_idle();
	started = now_usec(CLOCK_MONOTONIC);
	bench_run(&r, NULL,
		  (char *[]){s->daemon.deployctl, "--plans", s->daemon.plans_dir, "idle", "idle",
			     "--older-than", "1s", "--terminate", NULL});
	ck_assert_msg(r.status == 0, "deployctl idle exited %d:\n%s", r.status, r.output);
	f[COMMAND] = r.took;
	f[COMMAND_GONE] = until_gone(s, started);
	bench_run_done(&r);
	close_idle(s);

	/* The deploy needs something to migrate: a fresh history each time. */
	harness_pg_exec(s->owner, "SET client_min_messages TO warning;"
				  "DROP TABLE IF EXISTS deployd_schema_migrations");
	open_idle(s);
	age_idle();
	started = now_usec(CLOCK_MONOTONIC);
	bench_run(&r, NULL,
		  (char *[]){s->daemon.deployctl, "--socket", s->daemon.socket_path, "--plans",
			     s->daemon.plans_dir, "deploy", "idle", "--terminate-idle", "--json",
			     NULL});
	ck_assert_msg(r.status == 0, "deploy exited %d:\n%s", r.status, r.output);
	phase_ms = bench_event_field(r.output, "phase-finished", "idle", "DURATION_MS");
	ck_assert_msg(phase_ms, "no idle phase in:\n%s", r.output);
	f[PHASE] = strtoull(phase_ms, NULL, 10) * USEC_PER_MSEC;
	f[PHASE_GONE] = until_gone(s, started);
	bench_run_done(&r);
	close_idle(s);

	open_idle(s);
	age_idle();
	started = now_usec(CLOCK_MONOTONIC);
	bench_run(&r, NULL,
		  (char *[]){s->psql, "-X", "-q", "-c",
			     "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
			     "datname = '" DB "' AND state = 'idle in transaction' AND "
			     "state_change < now() - interval '1 s'",
			     (char *)s->conninfo, NULL});
	ck_assert_msg(r.status == 0, "psql exited %d:\n%s", r.status, r.output);
	f[PSQL] = r.took;
	f[PSQL_GONE] = until_gone(s, started);
	bench_run_done(&r);
	close_idle(s);
}

static void setup(Setup *s)
{
	_cleanup_free_ char *super = bench_conninfo("postgres", DB), *yaml = NULL;

	bench_fresh_database(DB);
	s->conninfo = bench_conninfo("app_user", DB);
	s->owner = bench_conninfo("deployer", DB);
	s->observer = harness_pg_connect(super);
	s->dir = harness_tmpdir();
	s->migrations = bench_path(s->dir, "migrations");
	s->psql = bench_psql();
	ck_assert_int_eq(mkdir(s->migrations, 0755), 0);
	bench_write_file(s->migrations, "1_noop.sql", "SELECT 1;\n");
	test_daemon_setup(&s->daemon, 0);
	s->unit = bench_app_unit("idle");
	ck_assert_int_ge(asprintf(&yaml,
				  "version: 1\n"
				  "database:\n  conninfo: \"%s\"\n"
				  "idle_transactions:\n  older_than: 1s\n"
				  "services:\n  bus: user\n  units: [%s]\n"
				  "migrations:\n  directory: %s\n",
				  s->owner, s->unit, s->migrations),
			 0);
	test_daemon_write_plan(&s->daemon, "idle", yaml);
	for (int i = 0; i < N_BUSY; i++) {
		s->busy[i] = harness_pg_connect(s->conninfo);
		ck_assert(PQsendQuery(s->busy[i], "SELECT pg_sleep(600)"));
	}
}

static void bench_idle(void)
{
	static const char *const names[N_FIGURES] = {
		[COMMAND] = "`deployctl idle --terminate`: exits",
		[COMMAND_GONE] = "`deployctl idle --terminate`: no idle session left",
		[PHASE] = "`deployctl deploy --terminate-idle`: idle phase (DURATION_MS)",
		[PHASE_GONE] = "`deployctl deploy --terminate-idle`: no idle session left",
		[PSQL] = "psql one-liner `pg_terminate_backend(pid) … WHERE state = …`: exits",
		[PSQL_GONE] = "psql one-liner: no idle session left",
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

	printf("\n### 4. Idle terminator: %d sessions idle in a transaction among %d busy ones "
	       "(median of %d rounds; busy ones checked untouched every time)\n\n",
	       N_IDLE, N_BUSY, ROUNDS);
	printf("| what | median ms | min–max ms |\n|---|---:|---:|\n");
	for (int k = 0; k < N_FIGURES; k++)
		printf("| %s | %.0f | %.0f–%.0f |\n", names[k], median[k], f[k][0] / 1000.0,
		       f[k][ROUNDS - 1] / 1000.0);
	printf("\nUntil no idle session is left: deployctl idle %.2f×, the deploy's idle phase "
	       "%.2f× the psql one-liner's time (which spares neither the deploy's own sessions "
	       "nor superusers, and names nobody).\n",
	       median[COMMAND_GONE] / median[PSQL_GONE], median[PHASE_GONE] / median[PSQL_GONE]);

	for (int i = 0; i < N_BUSY; i++)
		PQfinish(s.busy[i]);
	PQfinish(s.observer);
	test_daemon_teardown(&s.daemon);
}

int main(void)
{
	return bench_main("bench-4-idle", bench_idle);
}
