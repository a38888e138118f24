/* bench-1-throughput.c — 500 trivial migrations from an empty database: a real deploy through a
 * socket-activated deployd, against what people use instead, side by side in every round:
 *   psql -X -1 -f all.sql      one transaction, no bookkeeping: the floor
 *   psql, deployd's work       deployd's statements (a transaction and a history row per
 *                              migration, one message each) sent by psql: PostgreSQL's share;
 *                              and all of them in one message: that share without round trips
 *   dbmate migrate             one transaction per migration, like deployd
 *   psql per file              the deploy script's loop
 * Each round gives every tool a fresh database; the first round warms up and is not counted.
 * Run by tests/bench/run (needs the harness and DEPLOYD_BENCH_DBMATE). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "harness.h"
#include "migrations.h"
#include "support.h"
#include "test-daemon.h"

#define N_MIGRATIONS 500
#define ROUNDS 5
#define HISTORY "deployd_schema_migrations"

enum {
	DEPLOYD,
	DEPLOYD_MIGRATE,
	PSQL_ONE,
	PSQL_SAME_WORK,
	PSQL_SAME_WORK_ONE_MESSAGE,
	DBMATE,
	PSQL_LOOP,
	N_ROWS
};

static const char *const row_names[N_ROWS] = {
	[DEPLOYD] = "deployd (`deployctl deploy`, request to deploy-finished)",
	[DEPLOYD_MIGRATE] = "deployd migrate phase alone (DURATION_MS)",
	[PSQL_ONE] = "`psql -X -1 -f all.sql` (one transaction: the floor)",
	[PSQL_SAME_WORK] = "reference: psql sending deployd's statements, a message per migration",
	[PSQL_SAME_WORK_ONE_MESSAGE] = "reference: the same statements in one message (no round "
				       "trips)",
	[DBMATE] = "dbmate migrate (a transaction per migration)",
	[PSQL_LOOP] = "shell loop, `psql -1 -f` per file",
};

/* Where the CPU of deployd's deploy goes, per deploy: the daemon's service (daemon and its
 * worker, from the unit's cgroup), journald, deployctl, and the PostgreSQL cluster (postmaster
 * and the backends it reaped). */
enum { CPU_DAEMON, CPU_JOURNALD, CPU_DEPLOYCTL, CPU_POSTGRES, N_CPU };
static const char *const cpu_names[N_CPU] = {
	[CPU_DAEMON] = "deployd service (daemon + worker)",
	[CPU_JOURNALD] = "systemd-journald",
	[CPU_DEPLOYCTL] = "deployctl",
	[CPU_POSTGRES] = "PostgreSQL (all backends)",
};

/* utime + stime (+ those of reaped children) of pid, in µs; 0 when it is gone. */
static usec_t proc_cpu(int pid, bool children)
{
	char path[64], buf[2048], *p;
	unsigned long long ut, st, cut, cst;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu",
			 &ut, &st, &cut, &cst) != 4)
		return 0;
	return (ut + st + (children ? cut + cst : 0)) * USEC_PER_SEC / (usec_t)sysconf(_SC_CLK_TCK);
}

/* usage_usec of the cgroup of unit (of the test user's manager). */
static usec_t unit_cpu(const char *unit)
{
	_cleanup_free_ char *cg = NULL, *path = NULL;
	_cleanup_fclose_ FILE *f = NULL;
	char line[256];
	unsigned long long v = 0;

	if (harness_systemctl_output(&cg, "show -p ControlGroup --value %s", unit) != 0 || !cg)
		return 0;
	cg[strcspn(cg, "\n")] = '\0';
	/* The unified hierarchy: at the root, or beside v1 controllers (hybrid). */
	ck_assert_int_ge(asprintf(&path, "/sys/fs/cgroup%s/cpu.stat", cg), 0);
	f = fopen(path, "re");
	if (!f) {
		free(path);
		ck_assert_int_ge(asprintf(&path, "/sys/fs/cgroup/unified%s/cpu.stat", cg), 0);
		f = fopen(path, "re");
	}
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "usage_usec %llu", &v) == 1)
			break;
	return v;
}

static int pid_of(const char *command)
{
	_cleanup_free_ char *cmd = NULL;
	char out[64] = "";
	FILE *p;

	ck_assert_int_ge(asprintf(&cmd, "%s", command), 0);
	p = popen(cmd, "re");
	ck_assert_ptr_nonnull(p);
	if (!fgets(out, sizeof(out), p))
		out[0] = '\0';
	pclose(p);
	return atoi(out);
}

static void cpu_sample(const char *unit, usec_t ret[N_CPU])
{
	ret[CPU_DAEMON] = unit_cpu(unit);
	ret[CPU_JOURNALD] = proc_cpu(pid_of("pidof -s systemd-journald"), false);
	ret[CPU_DEPLOYCTL] = 0; /* the run's own (BenchRun.cpu) */
	ret[CPU_POSTGRES] =
		proc_cpu(pid_of("head -n1 \"$DEPLOYD_TEST_PG_DATA/postmaster.pid\""), true);
}

typedef struct Setup {
	TestDaemon daemon;
	char *dir, *migrations, *dbmate_migrations, *all, *same_work, *same_work_one, *psql;
	char *unit; /* the app every plan names; stopped and started by each deploy */
} Setup;

static void write_inputs(Setup *s)
{
	_cleanup_fclose_ FILE *all = NULL, *same = NULL, *one = NULL;

	s->dir = harness_tmpdir();
	s->migrations = bench_path(s->dir, "migrations");
	s->dbmate_migrations = bench_path(s->dir, "dbmate");
	s->all = bench_path(s->dir, "all.sql");
	s->same_work = bench_path(s->dir, "same-work.sql");
	s->same_work_one = bench_path(s->dir, "same-work-one-message.sql");
	ck_assert_int_eq(mkdir(s->migrations, 0755), 0);
	ck_assert_int_eq(mkdir(s->dbmate_migrations, 0755), 0);
	all = fopen(s->all, "we");
	same = fopen(s->same_work, "we");
	one = fopen(s->same_work_one, "we");
	ck_assert(all && same && one);
	/* What migrations_apply() sends: the history table and its two prepared statements,
	 * then per file BEGIN, its start time and synchronous_commit off (not for the last), the
	 * file, its row, COMMIT; deployd sends up to 64 of these in a message, the references one
	 * or all 500.  psql sends statements joined by "\\;" as one message:
	 * same-work-one-message.sql is one line. */
	for (FILE *f = same; f; f = f == same ? one : NULL)
		fprintf(f,
			"CREATE TABLE IF NOT EXISTS " HISTORY " (" MIGRATIONS_HISTORY_COLUMNS ");\n"
			"PREPARE deployd_migration_begin(text, bool) AS SELECT "
			"pg_catalog.set_config('deployd.migration_' || $1, extract(epoch FROM "
			"pg_catalog.clock_timestamp())::text, true), CASE WHEN $2 THEN "
			"pg_catalog.set_config('synchronous_commit', 'off', true) END;\n"
			"PREPARE deployd_migration_record(text, text, text, text, text, text) AS "
			"INSERT INTO " HISTORY
			" (version, name, checksum, applied_at, duration_ms, "
			"deploy_id, applied_by) VALUES ($2, $3, $4, pg_catalog.clock_timestamp(), "
			"((extract(epoch FROM pg_catalog.clock_timestamp()) - "
			"pg_catalog.current_setting('deployd.migration_' || $1)::numeric) * "
			"1000)::integer, $5, COALESCE($6, current_user)) RETURNING duration_ms;\n");
	for (int i = 1; i <= N_MIGRATIONS; i++) {
		char name[64], body[64], dbmate[128];

		snprintf(name, sizeof(name), "%04d_t_%d.sql", i, i);
		snprintf(body, sizeof(body), "CREATE TABLE t_%d (id int);\n", i);
		snprintf(dbmate, sizeof(dbmate), "-- migrate:up\n%s\n-- migrate:down\n", body);
		bench_write_file(s->migrations, name, body);
		bench_write_file(s->dbmate_migrations, name, dbmate);
		fputs(body, all);
		for (FILE *f = same; f; f = f == same ? one : NULL)
			fprintf(f,
				"BEGIN\\;EXECUTE deployd_migration_begin('0', %s)\\;"
				"CREATE TABLE t_%d (id int)\\;EXECUTE "
				"deployd_migration_record('0', "
				"'%d', 't_%d', '%064d', 'bench', NULL)\\;COMMIT%s",
				i < N_MIGRATIONS ? "true" : "false", i, i, i, 0,
				f == same || i == N_MIGRATIONS ? ";\n" : "\\;");
	}
	s->psql = bench_psql();
}

static void write_plan(Setup *s, const char *dbname)
{
	_cleanup_free_ char *conninfo = bench_conninfo("deployer", dbname), *yaml = NULL;

	ck_assert_int_ge(asprintf(&yaml,
				  "version: 1\n"
				  "description: bench-1-throughput\n"
				  "database:\n  conninfo: \"%s\"\n"
				  "services:\n  bus: user\n  units: [%s]\n"
				  "migrations:\n  directory: %s\n",
				  conninfo, s->unit, s->migrations),
			 0);
	test_daemon_write_plan(&s->daemon, "throughput", yaml);
}

static void assert_applied(const char *tool, const char *dbname, const char *history)
{
	_cleanup_free_ char *conninfo = bench_conninfo("deployer", dbname), *sql = NULL;
	long long tables = bench_pg_number(
		conninfo, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND "
			  "tablename ~ '^t_[0-9]+$'");

	ck_assert_msg(tables == N_MIGRATIONS, "%s created %lld tables, not %d", tool, tables,
		      N_MIGRATIONS);
	if (!history)
		return;
	ck_assert_int_ge(asprintf(&sql, "SELECT count(*) FROM %s", history), 0);
	long long rows = bench_pg_number(conninfo, sql);
	ck_assert_msg(rows == N_MIGRATIONS, "%s recorded %lld migrations, not %d", tool, rows,
		      N_MIGRATIONS);
}

static BenchRun run_checked(const char *tool, const BenchRunOptions *o, char *const argv[])
{
	BenchRun r;

	bench_run(&r, o, argv);
	ck_assert_msg(r.status == 0, "%s exited %d:\n%s", tool, r.status, r.output);
	return r;
}

/* One round: every tool once, each on a fresh database.  took[] gets microseconds. */
static void round_once(Setup *s, usec_t took[N_ROWS], usec_t cpu[N_CPU])
{
	_cleanup_free_ char *conninfo = NULL, *url = NULL, *env_url = NULL, *phase_ms = NULL;
	usec_t before[N_CPU], after[N_CPU];
	BenchRun r;

	bench_fresh_database("bench_deployd");
	write_plan(s, "bench_deployd");
	cpu_sample(s->daemon.service_unit, before);
	r = run_checked("deployctl deploy", NULL,
			(char *[]){s->daemon.deployctl, "--socket", s->daemon.socket_path,
				   "--plans", s->daemon.plans_dir, "deploy", "throughput", "--json",
				   NULL});
	took[DEPLOYD] = r.took;
	cpu_sample(s->daemon.service_unit, after);
	for (int k = 0; k < N_CPU; k++)
		cpu[k] = after[k] > before[k] ? after[k] - before[k] : 0;
	/* Not the process's children between two samples: the samples' own helpers (systemctl,
	 * pidof) would count. */
	cpu[CPU_DEPLOYCTL] = r.cpu;
	phase_ms = bench_event_field(r.output, "phase-finished", "migrate", "DURATION_MS");
	ck_assert_msg(phase_ms, "no migrate phase-finished event in:\n%s", r.output);
	took[DEPLOYD_MIGRATE] = strtoull(phase_ms, NULL, 10) * USEC_PER_MSEC;
	bench_run_done(&r);
	assert_applied("deployd", "bench_deployd", HISTORY);

	bench_fresh_database("bench_psql_one");
	conninfo = bench_conninfo("deployer", "bench_psql_one");
	r = run_checked("psql -1", NULL,
			(char *[]){s->psql, "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-f", s->all,
				   conninfo, NULL});
	took[PSQL_ONE] = r.took;
	bench_run_done(&r);
	assert_applied("psql -1", "bench_psql_one", NULL);
	free(conninfo);

	bench_fresh_database("bench_same_work");
	conninfo = bench_conninfo("deployer", "bench_same_work");
	r = run_checked("psql (deployd's statements)", NULL,
			(char *[]){s->psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", s->same_work,
				   conninfo, NULL});
	took[PSQL_SAME_WORK] = r.took;
	bench_run_done(&r);
	assert_applied("psql (deployd's statements)", "bench_same_work", HISTORY);
	free(conninfo);

	bench_fresh_database("bench_same_work_one");
	conninfo = bench_conninfo("deployer", "bench_same_work_one");
	r = run_checked("psql (deployd's statements, one message)", NULL,
			(char *[]){s->psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f",
				   s->same_work_one, conninfo, NULL});
	took[PSQL_SAME_WORK_ONE_MESSAGE] = r.took;
	bench_run_done(&r);
	assert_applied("psql (deployd's statements, one message)", "bench_same_work_one", HISTORY);
	free(conninfo);

	bench_fresh_database("bench_dbmate");
	url = bench_database_url("deployer", "bench_dbmate");
	ck_assert_int_ge(asprintf(&env_url, "DATABASE_URL=%s", url), 0);
	r = run_checked("dbmate", &(BenchRunOptions){.env = (const char *[]){env_url, NULL}},
			(char *[]){(char *)bench_dbmate(), "--migrations-dir", s->dbmate_migrations,
				   "--no-dump-schema", "migrate", NULL});
	took[DBMATE] = r.took;
	bench_run_done(&r);
	assert_applied("dbmate", "bench_dbmate", "schema_migrations");

	bench_fresh_database("bench_psql_loop");
	conninfo = bench_conninfo("deployer", "bench_psql_loop");
	r = run_checked("psql loop", NULL,
			(char *[]){"/bin/sh", "-c",
				   "for f in \"$1\"/*.sql; do \"$2\" -X -q -1 -v ON_ERROR_STOP=1 "
				   "-f \"$f\" \"$3\" || exit 1; done",
				   "sh", s->migrations, s->psql, conninfo, NULL});
	took[PSQL_LOOP] = r.took;
	bench_run_done(&r);
	assert_applied("psql loop", "bench_psql_loop", NULL);
}

static void bench_throughput(void)
{
	Setup s = {};
	usec_t took[N_ROWS][ROUNDS], one[N_ROWS], cpu[N_CPU][ROUNDS], cpu_one[N_CPU];
	double median[N_ROWS];

	write_inputs(&s);
	test_daemon_setup(&s.daemon, 0);
	s.unit = bench_app_unit("throughput");

	round_once(&s, one, cpu_one); /* warm-up: activates the daemon, fills caches */
	for (int i = 0; i < ROUNDS; i++) {
		round_once(&s, one, cpu_one);
		for (int t = 0; t < N_ROWS; t++)
			took[t][i] = one[t];
		for (int k = 0; k < N_CPU; k++)
			cpu[k][i] = cpu_one[k];
	}
	for (int t = 0; t < N_ROWS; t++)
		median[t] = bench_median_ms(took[t], ROUNDS);

	printf("\n### 1. Migration throughput: %d migrations, `CREATE TABLE t_N (id int);`, one "
	       "file each, fresh database (median of %d rounds)\n\n",
	       N_MIGRATIONS, ROUNDS);
	printf("| tool | median ms | min–max ms | per migration ms | × psql -1 | deployd ÷ tool "
	       "|\n|---|---:|---:|---:|---:|---:|\n");
	for (int t = 0; t < N_ROWS; t++)
		printf("| %s | %.0f | %.0f–%.0f | %.2f | %.2f | %.2f |\n", row_names[t], median[t],
		       took[t][0] / 1000.0, took[t][ROUNDS - 1] / 1000.0, median[t] / N_MIGRATIONS,
		       median[t] / median[PSQL_ONE], median[DEPLOYD] / median[t]);

	double vs_floor = median[DEPLOYD] / median[PSQL_ONE];
	double vs_dbmate = median[DBMATE] / median[DEPLOYD];
	printf("\nTarget: the whole deploy within 1.2× of psql -1 (goal 1.0×): %.2f× — %s.\n",
	       vs_floor, vs_floor <= 1.2 ? "met" : "MISSED");
	printf("Target: dbmate ÷ deployd at least 3.5 (goal 4): %.2f — %s.\n", vs_dbmate,
	       vs_dbmate >= 3.5 ? "met" : "MISSED");
	printf("deployd kept one transaction and one history row per migration (%d rows checked "
	       "every round).\n",
	       N_MIGRATIONS);

	printf("\n### 1b. Where deployd's deploy of %d migrations spends CPU (median of %d "
	       "rounds, ms of CPU per deploy)\n\n| process | CPU ms | min–max ms "
	       "|\n|---|---:|---:|\n",
	       N_MIGRATIONS, ROUNDS);
	for (int k = 0; k < N_CPU; k++) {
		double m = bench_median_ms(cpu[k], ROUNDS);
		printf("| %s | %.0f | %.0f–%.0f |\n", cpu_names[k], m, cpu[k][0] / 1000.0,
		       cpu[k][ROUNDS - 1] / 1000.0);
	}
	printf("\nThe service's figure is its cgroup's usage (the daemon and the deploy's "
	       "worker); PostgreSQL's includes every backend of the cluster meanwhile.\n");

	test_daemon_teardown(&s.daemon);
}

int main(void)
{
	return bench_main("bench-1-throughput", bench_throughput);
}
