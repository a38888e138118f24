/* test-progress.c — a long migration's progress, its heartbeat, how soon a lock wait is named,
 * and the INVALID index a failed concurrent build leaves, against the harness's real
 * PostgreSQL (the pipeline below the daemon: preflight + migrate with an event recorder).
 *
 * Slow statements are made slow without big tables (the machine is 2 shared cores): an
 * expression index on an IMMUTABLE-declared function that sleeps a little per row makes each
 * row of a few hundred cost milliseconds of waiting, not of CPU, while PostgreSQL's progress
 * views count the real blocks, tuples, bytes and indexes of the work. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <systemd/sd-id128.h>
#include <unistd.h>

#include "check-run.h"
#include "deploy.h"
#include "event-record.h"
#include "harness.h"
#include "pg-cleanup.h"
#include "strv.h"

typedef struct Fixture {
	char *schema;
	char *table;
	char *dir;
	char *conninfo; /* the deploy role, search_path = schema */
	char deploy_id[SD_ID128_STRING_MAX];
	Plan plan;
	DeployRequest req;
	Events events;
} Fixture;

static void new_deploy_id(char id[SD_ID128_STRING_MAX])
{
	sd_id128_t r;

	ck_assert_int_eq(sd_id128_randomize(&r), 0);
	sd_id128_to_string(r, id);
}

static Fixture *fixture_new(void)
{
	Fixture *f = calloc(1, sizeof(Fixture));
	char id[SD_ID128_STRING_MAX];
	_cleanup_free_ char *create = NULL;

	ck_assert_ptr_nonnull(f);
	new_deploy_id(id);
	ck_assert_int_ge(asprintf(&f->schema, "p_%.12s", id), 0);
	ck_assert_int_ge(asprintf(&f->table, "%s.deployd_schema_migrations", f->schema), 0);
	ck_assert_int_ge(asprintf(&f->conninfo, "%s options='-c search_path=%s'",
				  harness_app_conninfo(), f->schema),
			 0);
	ck_assert_int_ge(asprintf(&create,
				  "CREATE SCHEMA %s;"
				  /* Declared IMMUTABLE so that an index may use it: it sleeps. */
				  "CREATE FUNCTION %s.slow(v int, ms float8) RETURNS int "
				  "LANGUAGE plpgsql IMMUTABLE AS "
				  "$$BEGIN PERFORM pg_sleep(ms / 1000); RETURN v; END$$",
				  f->schema, f->schema),
			 0);
	harness_pg_exec(harness_app_conninfo(), create);
	f->dir = harness_tmpdir();
	f->plan = (Plan){
		.name = "test",
		.database =
			{
				.conninfo_source = PG_CONNINFO_LITERAL,
				.conninfo = f->conninfo,
				.lock_timeout = 5 * USEC_PER_SEC,
				.statement_timeout = 120 * USEC_PER_SEC,
				.idle_in_transaction_session_timeout = 60 * USEC_PER_SEC,
				.connect_timeout = 10 * USEC_PER_SEC,
			},
		.migrations = {.directory = f->dir,
			       .table = f->table,
			       .lock_watch_interval = 500 * USEC_PER_MSEC},
	};
	f->req = (DeployRequest){.terminate_idle = -1};
	return f;
}

static void fixture_freep(Fixture **f)
{
	if (!*f)
		return;
	events_clear(&(*f)->events);
	free((*f)->schema);
	free((*f)->table);
	free((*f)->dir);
	free((*f)->conninfo);
	free(*f);
}

/* Runs the pipeline the daemon runs (the plan has no units: preflight and migrate) as a new
 * deploy; events of this run only. */
static DeployExit run(Fixture *f)
{
	events_clear(&f->events);
	new_deploy_id(f->deploy_id);
	memcpy(f->req.id, f->deploy_id, sizeof(f->req.id));
	return deploy_run(&f->plan, &f->req, -1, event_record, &f->events);
}

static void write_migration(Fixture *f, const char *name, const char *fmt, ...) _printf_(3, 4);
static void write_migration(Fixture *f, const char *name, const char *fmt, ...)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	_cleanup_close_ int fd = -EBADF;
	va_list ap;

	va_start(ap, fmt);
	ck_assert_int_ge(vasprintf(&text, fmt, ap), 0);
	va_end(ap);
	ck_assert_int_ge(asprintf(&path, "%s/%s", f->dir, name), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
}

static void remove_migration(Fixture *f, const char *name)
{
	_cleanup_free_ char *path = NULL;

	ck_assert_int_ge(asprintf(&path, "%s/%s", f->dir, name), 0);
	ck_assert_int_eq(unlink(path), 0);
}

static char *value(Fixture *f, const char *fmt, ...) _printf_(2, 3);
static char *value(Fixture *f, const char *fmt, ...)
{
	_cleanup_free_ char *sql = NULL;
	va_list ap;

	va_start(ap, fmt);
	ck_assert_int_ge(vasprintf(&sql, fmt, ap), 0);
	va_end(ap);
	return harness_pg_value(f->conninfo, sql);
}

/* A table of n rows, each with a filler that spreads them over many blocks. */
static void create_table(Fixture *f, const char *name, int n)
{
	_cleanup_free_ char *sql = NULL;

	ck_assert_int_ge(asprintf(&sql,
				  "CREATE TABLE %s.%s (id int PRIMARY KEY, filler char(900));"
				  "INSERT INTO %s.%s SELECT g, 'x' FROM generate_series(1, %d) g;"
				  "ANALYZE %s.%s",
				  f->schema, name, f->schema, name, n, f->schema, name),
			 0);
	harness_pg_exec(f->conninfo, sql);
}

/* The progress events of the run: every one for command, with a percentage that rises and
 * never falls within a phase; the statement's first and last at info, the others at debug.
 * Returns how many phases rose. */
static unsigned assert_rising_progress(Fixture *f, const char *command)
{
	size_t n = count_events(&f->events, EVENT_MIGRATION_PROGRESS);
	const char *phase = NULL;
	double last = -1, first_of_phase = -1;
	unsigned rose = 0;

	if (n < 3)
		dump_events(&f->events);
	ck_assert_msg(n >= 3, "%zu migration-progress events", n);
	for (size_t i = 0; i < n; i++) {
		const Recorded *r = find_event(&f->events, EVENT_MIGRATION_PROGRESS, i);
		ck_assert_str_eq(field(r, "PROGRESS_COMMAND"), command);
		ck_assert_str_eq(field(r, "MIGRATION_VERSION"), "2");
		ck_assert_ptr_nonnull(field(r, "PROGRESS_DONE"));
		ck_assert_ptr_nonnull(field(r, "PROGRESS_TOTAL"));
		ck_assert_ptr_nonnull(field(r, "DURATION_MS"));
		ck_assert_int_eq(r->priority, i == 0 || i == n - 1 ? LOG_INFO : LOG_DEBUG);
		const char *pct = field(r, "PROGRESS_PERCENT");
		if (!pct)
			continue;
		double p = strtod(pct, NULL);
		ck_assert(p >= 0 && p <= 100);
		if (!phase || strcmp(phase, field(r, "PROGRESS_PHASE")) != 0) {
			if (phase && last > first_of_phase)
				rose++;
			phase = field(r, "PROGRESS_PHASE");
			first_of_phase = last = p;
			continue;
		}
		ck_assert_msg(p >= last, "%s: %.1f after %.1f", phase, p, last);
		last = p;
	}
	if (phase && last > first_of_phase)
		rose++;
	/* Nothing of this statement after the migration ended. */
	const Recorded *applied = find_event(&f->events, EVENT_MIGRATION_APPLIED, 1);
	const Recorded *final = find_event(&f->events, EVENT_MIGRATION_PROGRESS, n - 1);
	ck_assert(final < applied);
	return rose;
}

START_TEST(test_create_index_reports_rising_progress_with_first_and_last_at_info)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();

	create_table(f, "big", 600);
	write_migration(f, "1_nothing.sql", "SELECT 1;\n");
	write_migration(f, "2_index.sql", "CREATE INDEX big_slow ON big (slow(id, 6));\n");
	ck_assert_int_eq(run(f), DEPLOY_EXIT_OK);
	ck_assert_uint_ge(assert_rising_progress(f, "CREATE INDEX"), 1);
	const Recorded *r = find_event(&f->events, EVENT_MIGRATION_PROGRESS, 0);
	ck_assert_str_eq(field(r, "PROGRESS_UNIT"), "blocks");
	ck_assert_str_eq(field(r, "PROGRESS_PHASE"), "building index: scanning table");
	ck_assert_str_eq(field(r, "MIGRATION_NAME"), "index");
	/* The view counts the table's real blocks. */
	_cleanup_free_ char *blocks = value(f, "SELECT pg_relation_size('big') / 8192");
	ck_assert_str_eq(field(r, "PROGRESS_TOTAL"), blocks);
}
END_TEST

START_TEST(test_cluster_reports_rising_progress)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();

	/* CLUSTER rebuilds the table's indexes one after another: four slow ones. */
	create_table(f, "big", 120);
	harness_pg_exec(f->conninfo, "CREATE INDEX s1 ON big (slow(id, 5));"
				     "CREATE INDEX s2 ON big (slow(id + 1, 5));"
				     "CREATE INDEX s3 ON big (slow(id + 2, 5));"
				     "CREATE INDEX s4 ON big (slow(id + 3, 5))");
	write_migration(f, "1_nothing.sql", "SELECT 1;\n");
	write_migration(f, "2_cluster.sql", "CLUSTER big USING big_pkey;\n");
	ck_assert_int_eq(run(f), DEPLOY_EXIT_OK);
	ck_assert_uint_ge(assert_rising_progress(f, "CLUSTER"), 1);
}
END_TEST

START_TEST(test_vacuum_full_reports_rising_progress)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();

	create_table(f, "big", 120);
	harness_pg_exec(f->conninfo, "CREATE INDEX s1 ON big (slow(id, 5));"
				     "CREATE INDEX s2 ON big (slow(id + 1, 5));"
				     "CREATE INDEX s3 ON big (slow(id + 2, 5));"
				     "CREATE INDEX s4 ON big (slow(id + 3, 5))");
	write_migration(f, "1_nothing.sql", "SELECT 1;\n");
	write_migration(f, "2_vacuum.sql", "-- deployd: no-transaction\nVACUUM FULL big;\n");
	ck_assert_int_eq(run(f), DEPLOY_EXIT_OK);
	ck_assert_uint_ge(assert_rising_progress(f, "VACUUM FULL"), 1);
	const Recorded *r = find_event(&f->events, EVENT_MIGRATION_PROGRESS, 1);
	ck_assert_str_eq(field(r, "PROGRESS_PHASE"), "rebuilding index");
	ck_assert_str_eq(field(r, "PROGRESS_UNIT"), "indexes");
	ck_assert_str_eq(field(r, "PROGRESS_TOTAL"), "5"); /* the primary key and four */
}
END_TEST

START_TEST(test_copy_from_a_file_reports_rising_progress_in_bytes)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();
	_cleanup_free_ char *path = NULL, *export = NULL, *size = NULL;

	/* The server writes the file itself (so it can read it); COPY reads it in 64 kB
	 * pieces, and a slow index on the target makes each row take a while. */
	ck_assert_int_ge(asprintf(&path, "%s/rows.copy", f->dir), 0);
	ck_assert_int_ge(
		asprintf(&export,
			 "COPY (SELECT g, repeat('x', 900) FROM generate_series(1, 600) g) "
			 "TO '%s'",
			 path),
		0);
	harness_pg_exec(harness_pg_conninfo(), export);
	harness_pg_exec(
		harness_pg_conninfo(),
		"DO $$BEGIN IF NOT pg_has_role('deployer', 'pg_read_server_files', 'MEMBER') "
		"THEN GRANT pg_read_server_files TO deployer; END IF; END$$");
	create_table(f, "target", 0);
	harness_pg_exec(f->conninfo, "CREATE INDEX t_slow ON target (slow(id, 6))");
	write_migration(f, "1_nothing.sql", "SELECT 1;\n");
	write_migration(f, "2_copy.sql", "COPY target FROM '%s';\n", path);
	ck_assert_int_eq(run(f), DEPLOY_EXIT_OK);
	ck_assert_uint_ge(assert_rising_progress(f, "COPY FROM"), 1);
	const Recorded *r = find_event(&f->events, EVENT_MIGRATION_PROGRESS, 0);
	ck_assert_str_eq(field(r, "PROGRESS_UNIT"), "bytes");
	_cleanup_free_ char *stat = NULL;
	ck_assert_int_ge(asprintf(&stat, "SELECT size FROM pg_stat_file('%s')", path), 0);
	size = harness_pg_value(harness_pg_conninfo(), stat);
	ck_assert_str_eq(field(r, "PROGRESS_TOTAL"), size);
}
END_TEST

START_TEST(test_a_long_statement_no_view_shows_gets_a_heartbeat_with_its_wait_event)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();

	write_migration(f, "1_sleep.sql", "SELECT pg_sleep(6.5);\n");
	ck_assert_int_eq(run(f), DEPLOY_EXIT_OK);
	ck_assert_uint_eq(count_events(&f->events, EVENT_MIGRATION_PROGRESS), 0);
	ck_assert_uint_eq(count_events(&f->events, EVENT_MIGRATION_RUNNING), 1);
	const Recorded *r = find_event(&f->events, EVENT_MIGRATION_RUNNING, 0);
	ck_assert_str_eq(field(r, "PG_WAIT_EVENT_TYPE"), "Timeout");
	ck_assert_str_eq(field(r, "PG_WAIT_EVENT"), "PgSleep");
	ck_assert_str_eq(field(r, "MIGRATION_NAME"), "sleep");
	ck_assert_int_ge(atoi(field(r, "DURATION_MS")), 5000);
	ck_assert_int_lt(atoi(field(r, "DURATION_MS")), 6500);
	ck_assert_int_eq(r->priority, LOG_INFO);
}
END_TEST

START_TEST(test_fast_migrations_get_no_progress_events)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();

	create_table(f, "small", 100);
	write_migration(f, "1_index.sql", "CREATE INDEX small_id ON small (id, filler);\n");
	write_migration(f, "2_cluster.sql", "CLUSTER small USING small_pkey;\n");
	write_migration(f, "3_vacuum.sql", "-- deployd: no-transaction\nVACUUM FULL small;\n");
	write_migration(f, "4_sleep.sql", "SELECT pg_sleep(0.3);\n");
	ck_assert_int_eq(run(f), DEPLOY_EXIT_OK);
	ck_assert_uint_eq(count_events(&f->events, EVENT_MIGRATION_APPLIED), 4);
	ck_assert_uint_eq(count_events(&f->events, EVENT_MIGRATION_PROGRESS), 0);
	ck_assert_uint_eq(count_events(&f->events, EVENT_MIGRATION_RUNNING), 0);
}
END_TEST

/* The old watch checked first one lock_watch_interval after the statement was sent; with a
 * 3 s interval a report within 1 s can only come from the early checks.  (The figure itself
 * is measured by make bench.) */
START_TEST(test_a_lock_wait_is_named_long_before_the_first_interval)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();
	_cleanup_(PQfinishp) PGconn *holder = NULL;
	char pid[16];

	harness_pg_exec(f->conninfo, "CREATE TABLE busy (id int)");
	holder = harness_pg_connect(f->conninfo);
	PQclear(harness_pg_query(holder, "BEGIN"));
	PQclear(harness_pg_query(holder, "SELECT * FROM busy"));
	snprintf(pid, sizeof(pid), "%d", PQbackendPID(holder));

	write_migration(f, "1_alter.sql", "ALTER TABLE busy ADD COLUMN x int;\n");
	f->plan.database.lock_timeout = 8 * USEC_PER_SEC;
	f->plan.migrations.lock_watch_interval = 3 * USEC_PER_SEC;
	ck_assert_int_eq(run(f), DEPLOY_EXIT_MIGRATE);
	const Recorded *started = find_event(&f->events, EVENT_MIGRATION_STARTED, 0);
	const Recorded *wait = find_event(&f->events, EVENT_LOCK_WAIT, 0);
	ck_assert_str_eq(field(wait, "BLOCKER_PID"), pid);
	ck_assert_msg(wait->at - started->at < 1 * USEC_PER_SEC,
		      "the blocker was named %llu ms after the migration started",
		      (unsigned long long)((wait->at - started->at) / USEC_PER_MSEC));
	PQclear(harness_pg_query(holder, "ROLLBACK"));
}
END_TEST

/* A migration command's sessions are found by their application name: its index build shows
 * progress, its long sleep a heartbeat, both named by the command line without a version. */
START_TEST(test_a_migration_commands_sessions_report_progress_and_heartbeats)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();
	_cleanup_free_ char *script = NULL;
	static char *command[] = {"/bin/sh", "-c", NULL, NULL};

	create_table(f, "big", 400);
	ck_assert_int_ge(asprintf(&script,
				  "%1$s/psql \"$DATABASE_URL\" -XqAt "
				  "-c 'CREATE INDEX big_slow ON big (slow(id, 6))' "
				  "-c 'SELECT pg_sleep(7)'",
				  harness_pg_bindir()),
			 0);
	command[2] = script;
	f->plan.migrations.command = command;
	f->plan.migrations.directory = NULL;
	f->plan.migrations.working_directory = f->dir;
	ck_assert_int_eq(run(f), DEPLOY_EXIT_OK);

	size_t n = count_events(&f->events, EVENT_MIGRATION_PROGRESS);
	if (n < 2)
		dump_events(&f->events);
	ck_assert_uint_ge(n, 2);
	const Recorded *p = find_event(&f->events, EVENT_MIGRATION_PROGRESS, 0);
	ck_assert_str_eq(field(p, "PROGRESS_COMMAND"), "CREATE INDEX");
	ck_assert_ptr_null(field(p, "MIGRATION_VERSION"));
	ck_assert_int_eq(strncmp(field(p, "MIGRATION_NAME"), "/bin/sh -c ", 11), 0);
	const Recorded *h = find_event(&f->events, EVENT_MIGRATION_RUNNING, 0);
	ck_assert_str_eq(field(h, "PG_WAIT_EVENT"), "PgSleep");
	/* Each statement's first event is at info, its last too. */
	ck_assert_int_eq(p->priority, LOG_INFO);
	ck_assert_int_eq(h->priority, LOG_INFO);
}
END_TEST

static char *index_state(Fixture *f, const char *name)
{
	return value(f,
		     "SELECT COALESCE((SELECT CASE WHEN indisvalid THEN 'valid' ELSE 'invalid' "
		     "END || ' ' || indexrelid::int FROM pg_index WHERE indexrelid = "
		     "to_regclass('%s')), 'none')",
		     name);
}

START_TEST(test_the_invalid_index_of_a_failed_concurrent_build_is_dropped_and_rebuilt)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();
	_cleanup_free_ char *left = NULL, *rebuilt = NULL, *comment = NULL;

	/* A unique index over duplicate values fails after the build created it. */
	harness_pg_exec(f->conninfo, "CREATE TABLE t (v int); INSERT INTO t VALUES (1), (1)");
	write_migration(f, "1_unique.sql",
			"-- deployd: no-transaction\n"
			"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_v ON t (v);\n");
	ck_assert_int_eq(run(f), DEPLOY_EXIT_MIGRATE);
	ck_assert_str_eq(field(find_event(&f->events, EVENT_MIGRATION_FAILED, 0), "PG_SQLSTATE"),
			 "23505");
	const Recorded *l = find_event(&f->events, EVENT_INVALID_INDEX_LEFT, 0);
	_cleanup_free_ char *qualified = NULL;
	ck_assert_int_ge(asprintf(&qualified, "%s.t_v", f->schema), 0);
	ck_assert_str_eq(field(l, "INDEX_NAME"), qualified);
	left = index_state(f, "t_v");
	ck_assert_msg(strncmp(left, "invalid ", 8) == 0, "%s", left);
	comment = value(f, "SELECT obj_description('t_v'::regclass, 'pg_class')");
	ck_assert_ptr_nonnull(strstr(comment, "failed migration 1 of"));

	/* Fixed data: the next deploy drops exactly that index, then builds it again. */
	harness_pg_exec(f->conninfo, "DELETE FROM t");
	ck_assert_int_eq(run(f), DEPLOY_EXIT_OK);
	const Recorded *d = find_event(&f->events, EVENT_INVALID_INDEX_DROPPED, 0);
	ck_assert_str_eq(field(d, "INDEX_NAME"), qualified);
	ck_assert_str_eq(field(d, "MIGRATION_VERSION"), "1");
	ck_assert(d < find_event(&f->events, EVENT_MIGRATION_APPLIED, 0));
	rebuilt = index_state(f, "t_v");
	ck_assert_msg(strncmp(rebuilt, "valid ", 6) == 0, "%s", rebuilt);
	ck_assert_str_ne(rebuilt + 6, left + 8); /* a new index, not the old one made valid */
}
END_TEST

START_TEST(test_an_unnamed_failed_build_is_dropped_and_other_invalid_indexes_are_not)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();
	_cleanup_free_ char *foreign = NULL, *after = NULL, *count = NULL;

	harness_pg_exec(f->conninfo, "CREATE TABLE t (v int); INSERT INTO t VALUES (1), (1)");
	/* An INVALID index deployd did not create (another tool's failed build). */
	PGconn *other = harness_pg_connect(f->conninfo);
	PQclear(PQexec(other, "CREATE UNIQUE INDEX CONCURRENTLY foreign_v ON t (v)"));
	PQfinish(other);
	foreign = index_state(f, "foreign_v");
	ck_assert_msg(strncmp(foreign, "invalid ", 8) == 0, "%s", foreign);

	write_migration(f, "1_unique.sql",
			"-- deployd: no-transaction\n"
			"CREATE UNIQUE INDEX CONCURRENTLY ON t (v);\n");
	ck_assert_int_eq(run(f), DEPLOY_EXIT_MIGRATE);
	ck_assert_uint_eq(count_events(&f->events, EVENT_INVALID_INDEX_LEFT), 1);
	const char *ours = field(find_event(&f->events, EVENT_INVALID_INDEX_LEFT, 0), "INDEX_NAME");
	ck_assert_ptr_null(strstr(ours, "foreign_v"));

	harness_pg_exec(f->conninfo, "DELETE FROM t");
	ck_assert_int_eq(run(f), DEPLOY_EXIT_OK);
	ck_assert_uint_eq(count_events(&f->events, EVENT_INVALID_INDEX_DROPPED), 1);
	after = index_state(f, "foreign_v");
	ck_assert_str_eq(after, foreign);
	count = value(f, "SELECT count(*) FROM pg_index WHERE indrelid = 't'::regclass "
			 "AND NOT indisvalid");
	ck_assert_str_eq(count, "1"); /* only the foreign one */
}
END_TEST

START_TEST(test_a_valid_index_of_the_same_name_is_never_touched)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();
	_cleanup_free_ char *before = NULL, *after = NULL;

	harness_pg_exec(f->conninfo, "CREATE TABLE t (v int); CREATE INDEX t_v ON t (v)");
	before = index_state(f, "t_v");
	/* The migration fails on "already exists": it created nothing, so it marks nothing. */
	write_migration(f, "1_index.sql",
			"-- deployd: no-transaction\n"
			"CREATE INDEX CONCURRENTLY t_v ON t (v);\n");
	ck_assert_int_eq(run(f), DEPLOY_EXIT_MIGRATE);
	ck_assert_str_eq(field(find_event(&f->events, EVENT_MIGRATION_FAILED, 0), "PG_SQLSTATE"),
			 "42P07");
	ck_assert_uint_eq(count_events(&f->events, EVENT_INVALID_INDEX_LEFT), 0);
	/* Even marked by hand as if deployd had left it, a valid index is not dropped. */
	harness_pg_exec(f->conninfo, "COMMENT ON INDEX t_v IS 'deployd: INVALID index left by "
				     "failed migration 1 of x'");
	remove_migration(f, "1_index.sql");
	write_migration(f, "1_index.sql",
			"-- deployd: no-transaction\n"
			"CREATE INDEX CONCURRENTLY IF NOT EXISTS t_v ON t (v);\n");
	ck_assert_int_eq(run(f), DEPLOY_EXIT_OK);
	ck_assert_uint_eq(count_events(&f->events, EVENT_INVALID_INDEX_DROPPED), 0);
	after = index_state(f, "t_v");
	ck_assert_str_eq(after, before);
}
END_TEST

START_TEST(test_a_no_transaction_migration_runs_without_the_plans_statement_timeout)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();

	f->plan.database.statement_timeout = 300 * USEC_PER_MSEC;
	write_migration(f, "1_sleep.sql", "-- deployd: no-transaction\nSELECT pg_sleep(0.6);\n");
	write_migration(f, "2_show.sql",
			"CREATE TABLE seen AS SELECT "
			"current_setting('statement_timeout') AS v;\n");
	ck_assert_int_eq(run(f), DEPLOY_EXIT_OK);
	/* …and the session's own timeout is back for the next file. */
	_cleanup_free_ char *v = value(f, "SELECT v FROM seen");
	ck_assert_str_eq(v, "300ms");

	write_migration(f, "3_bounded.sql",
			"-- deployd: no-transaction statement_timeout=200ms\n"
			"SELECT pg_sleep(0.6);\n");
	ck_assert_int_eq(run(f), DEPLOY_EXIT_MIGRATE);
	ck_assert_str_eq(field(find_event(&f->events, EVENT_MIGRATION_FAILED, 0), "PG_SQLSTATE"),
			 "57014");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("progress");
	TCase *tc = tcase_create("progress");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_create_index_reports_rising_progress_with_first_and_last_at_info);
	tcase_add_test(tc, test_cluster_reports_rising_progress);
	tcase_add_test(tc, test_vacuum_full_reports_rising_progress);
	tcase_add_test(tc, test_copy_from_a_file_reports_rising_progress_in_bytes);
	tcase_add_test(tc,
		       test_a_long_statement_no_view_shows_gets_a_heartbeat_with_its_wait_event);
	tcase_add_test(tc, test_fast_migrations_get_no_progress_events);
	tcase_add_test(tc, test_a_migration_commands_sessions_report_progress_and_heartbeats);
	tcase_add_test(tc, test_a_lock_wait_is_named_long_before_the_first_interval);
	tcase_add_test(tc,
		       test_the_invalid_index_of_a_failed_concurrent_build_is_dropped_and_rebuilt);
	tcase_add_test(tc,
		       test_an_unnamed_failed_build_is_dropped_and_other_invalid_indexes_are_not);
	tcase_add_test(tc, test_a_valid_index_of_the_same_name_is_never_touched);
	tcase_add_test(tc,
		       test_a_no_transaction_migration_runs_without_the_plans_statement_timeout);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
