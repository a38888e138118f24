/* test-migrations.c — preflight + migrate against the harness's real PostgreSQL: directory and
 * command migrations, failures with FILE:LINE, the deploy lock, cancel and SIGKILL. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <systemd/sd-id128.h>
#include <unistd.h>

#include "check-run.h"
#include "deploy-context.h"
#include "deploy-lock.h"
#include "deploy-migrate.h"
#include "deploy.h"
#include "event-record.h"
#include "harness.h"
#include "migrations.h"
#include "strv.h"

typedef struct Fixture {
	char *schema;
	char *table;
	char *dir;
	char *conninfo; /* the deploy role, search_path = schema */
	char deploy_id[SD_ID128_STRING_MAX];
	Plan plan;
	DeployRequest req;
	int cancel_fd; /* readable = cancel; -1: none */
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
	ck_assert_int_ge(asprintf(&f->schema, "m_%.12s", id), 0);
	ck_assert_int_ge(asprintf(&f->table, "%s.deployd_schema_migrations", f->schema), 0);
	ck_assert_int_ge(asprintf(&f->conninfo, "%s options='-c search_path=%s'",
				  harness_app_conninfo(), f->schema),
			 0);
	ck_assert_int_ge(asprintf(&create, "CREATE SCHEMA %s", f->schema), 0);
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
		.migrations = {.directory = f->dir, .table = f->table},
	};
	f->req = (DeployRequest){.terminate_idle = -1};
	f->cancel_fd = -1;
	return f;
}

static void fixture_free(Fixture *f)
{
	events_clear(&f->events);
	free(f->schema);
	free(f->table);
	free(f->dir);
	free(f->conninfo);
	free(f);
}

static void fixture_freep(Fixture **f)
{
	if (*f)
		fixture_free(*f);
}

/* A new deploy id for f's next deploy. */
static void new_deploy(Fixture *f)
{
	new_deploy_id(f->deploy_id);
	memcpy(f->req.id, f->deploy_id, sizeof(f->req.id));
}

/* Runs the pipeline the daemon runs as a new deploy (the plan has no units: preflight and
 * migrate); events of this run only. */
static DeployExit run(Fixture *f)
{
	events_clear(&f->events);
	new_deploy(f);
	return deploy_run(&f->plan, &f->req, f->cancel_fd, event_record, &f->events);
}

static void write_migration(Fixture *f, const char *name, const char *text)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -EBADF;

	ck_assert_int_ge(asprintf(&path, "%s/%s", f->dir, name), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
}

/* The first value of a query run as the deploy role in the fixture's schema. */
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

static void assert_value(Fixture *f, const char *expected, const char *sql)
{
	_cleanup_free_ char *v = value(f, "%s", sql);

	ck_assert_msg(v ? expected && strcmp(v, expected) == 0 : !expected,
		      "%s gave '%s', expected '%s'", sql, v ?: "NULL", expected ?: "NULL");
}

static char *history_versions(Fixture *f)
{
	return value(f,
		     "SELECT coalesce(string_agg(version::text, ',' ORDER BY "
		     "string_to_array(version::text, '.')::numeric[]), '') "
		     "FROM %s",
		     f->table);
}

static void assert_history(Fixture *f, const char *versions)
{
	_cleanup_free_ char *v = history_versions(f);

	ck_assert_str_eq(v, versions);
}

static unsigned our_sessions(Fixture *f, const char *prefix)
{
	_cleanup_free_ char *n = value(f,
				       "SELECT count(*) FROM pg_stat_activity "
				       "WHERE application_name = '%s%s'",
				       prefix, f->deploy_id);
	return (unsigned)atoi(n);
}

static usec_t elapsed_since(usec_t start)
{
	return now_usec(CLOCK_MONOTONIC) - start;
}

/* Waits up to 10 s for sql to give expected. */
static void wait_for_value(Fixture *f, const char *expected, const char *sql)
{
	for (int i = 0; i < 1000; i++) {
		_cleanup_free_ char *v = value(f, "%s", sql);
		if (v && strcmp(v, expected) == 0)
			return;
		usleep(10000);
	}
	ck_abort_msg("%s never gave '%s'", sql, expected);
}

START_TEST(test_pending_migrations_apply_in_numeric_order_and_are_recorded)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();
	_cleanup_free_ char *checksum = NULL, *recorded_by = NULL, *deploy_id = NULL;
	char expected[MIGRATIONS_CHECKSUM_HEX + 1];
	const char *ten = "INSERT INTO log VALUES (10);\n";

	write_migration(f, "10_ten.sql", ten);
	write_migration(f, "2_two.sql", "INSERT INTO log VALUES (2);\n");
	write_migration(f, "1_one.sql",
			"CREATE TABLE log (v int, at timestamptz DEFAULT "
			"clock_timestamp());\nINSERT INTO log VALUES (1);\n");

	ck_assert_int_eq(run(f), DEPLOY_EXIT_OK);
	assert_value(f, "1,2,10", "SELECT string_agg(v::text, ',' ORDER BY at) FROM log");
	assert_history(f, "1,2,10");

	ck_assert_int_eq(migrations_checksum(ten, strlen(ten), expected), 0);
	checksum = value(f, "SELECT checksum FROM %s WHERE version = '10'", f->table);
	ck_assert_str_eq(checksum, expected);
	recorded_by =
		value(f, "SELECT applied_by || ' ' || name FROM %s WHERE version = '2'", f->table);
	ck_assert_str_eq(recorded_by, "deployer two");
	deploy_id = value(f,
			  "SELECT string_agg(DISTINCT deploy_id, ',') FROM %s "
			  "WHERE duration_ms >= 0 AND applied_at <= now()",
			  f->table);
	ck_assert_str_eq(deploy_id, f->deploy_id);

	ck_assert_uint_eq(count_events(&f->events, EVENT_MIGRATION_STARTED), 3);
	ck_assert_uint_eq(count_events(&f->events, EVENT_MIGRATION_APPLIED), 3);
	const Recorded *last = find_event(&f->events, EVENT_MIGRATION_APPLIED, 2);
	ck_assert_str_eq(field(last, "MIGRATION_VERSION"), "10");
	ck_assert_str_eq(field(last, "MIGRATION_NAME"), "ten");
	ck_assert_ptr_nonnull(field(last, "DURATION_MS"));
	ck_assert_str_eq(field(last, "DEPLOY_ID"), f->deploy_id);
	ck_assert_str_eq(field(last, "DEPLOY_PLAN"), "test");
}
END_TEST

START_TEST(test_a_rerun_applies_nothing)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();

	write_migration(f, "1_one.sql", "CREATE TABLE once (id int);\n");
	ck_assert_int_eq(run(f), DEPLOY_EXIT_OK);
	ck_assert_int_eq(run(f), DEPLOY_EXIT_OK);
	ck_assert_uint_eq(count_events(&f->events, EVENT_MIGRATION_STARTED), 0);
	assert_history(f, "1");
}
END_TEST

/* At deploy-finished, whether another session could take the deploy lock right away. */
typedef struct LockAtFinish {
	Fixture *f;
	int free_at_finish; /* -1: deploy-finished not seen */
} LockAtFinish;

static void record_lock_at_finish(const Event *ev, void *userdata)
{
	LockAtFinish *l = userdata;
	_cleanup_free_ char *sql = NULL;

	event_record(ev, &l->f->events);
	if (ev->type != EVENT_DEPLOY_FINISHED)
		return;
	ck_assert_int_ge(asprintf(&sql,
				  "SELECT pg_catalog.pg_try_advisory_lock(%lld) AND "
				  "pg_catalog.pg_advisory_unlock(%lld)",
				  (long long)deploy_lock_key(l->f->table),
				  (long long)deploy_lock_key(l->f->table)),
			 0);
	_cleanup_free_ char *v = harness_pg_value(harness_app_conninfo(), sql);
	l->free_at_finish = strcmp(v, "t") == 0;
}

/* Whoever hears that a deploy finished (deployctl, then the next `deployctl deploy`) may start
 * the next one at once: the deploy lock is given back before deploy-finished is sent. */
START_TEST(test_the_deploy_lock_is_free_by_the_time_deploy_finished_is_told)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();
	LockAtFinish l = {.f = f, .free_at_finish = -1};

	write_migration(f, "001_a.sql", "CREATE TABLE a (id int);\n");
	new_deploy(f);
	ck_assert_int_eq(deploy_run(&f->plan, &f->req, -1, record_lock_at_finish, &l),
			 DEPLOY_EXIT_OK);
	ck_assert_int_eq(l.free_at_finish, 1);

	/* A deploy that fails in its preflight, after taking the lock, too: a file changed
	 * since it was applied. */
	write_migration(f, "001_a.sql", "CREATE TABLE a (id bigint);\n");
	events_clear(&f->events);
	l.free_at_finish = -1;
	new_deploy(f);
	ck_assert_int_ne(deploy_run(&f->plan, &f->req, -1, record_lock_at_finish, &l),
			 DEPLOY_EXIT_OK);
	ck_assert_int_eq(l.free_at_finish, 1);
}
END_TEST

START_TEST(test_a_failing_file_leaves_earlier_ones_applied_and_itself_and_later_ones_not)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();

	write_migration(f, "1_one.sql", "CREATE TABLE one (id int);\n");
	write_migration(f, "2_two.sql",
			"CREATE TABLE two (id int);\n"
			"-- a runtime error has no position: its statement is named\n"
			"SELECT 1 / 0;\n"
			"CREATE TABLE two_b (id int);\n");
	write_migration(f, "3_three.sql", "CREATE TABLE three (id int);\n");

	ck_assert_int_eq(run(f), DEPLOY_EXIT_MIGRATE);
	assert_history(f, "1");
	assert_value(f, "t", "SELECT to_regclass('one') IS NOT NULL");
	assert_value(f, "f", "SELECT to_regclass('two') IS NOT NULL");
	assert_value(f, "f", "SELECT to_regclass('three') IS NOT NULL");

	const Recorded *failed = find_event(&f->events, EVENT_MIGRATION_FAILED, 0);
	ck_assert_str_eq(field(failed, "MIGRATION_VERSION"), "2");
	ck_assert_str_eq(field(failed, "PG_SQLSTATE"), "22012");
	ck_assert_str_eq(field(failed, "PG_MESSAGE"), "division by zero");
	ck_assert_str_eq(field(failed, "MIGRATION_LINE"), "3");
	ck_assert_ptr_nonnull(strstr(field(failed, "MIGRATION_FILE"), "/2_two.sql"));
	ck_assert_ptr_nonnull(strstr(failed->message, "2_two.sql:3: 22012 division by zero"));
	ck_assert_uint_eq(count_events(&f->events, EVENT_MIGRATION_APPLIED), 1);

	/* Fixed, the next run applies the rest without manual repair. */
	write_migration(f, "2_two.sql", "CREATE TABLE two (id int);\n");
	ck_assert_int_eq(run(f), DEPLOY_EXIT_OK);
	assert_history(f, "1,2,3");
}
END_TEST

START_TEST(test_a_changed_checksum_is_refused_before_anything_runs)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();

	write_migration(f, "1_one.sql", "CREATE TABLE one (id int);\n");
	ck_assert_int_eq(run(f), DEPLOY_EXIT_OK);
	write_migration(f, "1_one.sql", "CREATE TABLE one (id bigint);\n");
	write_migration(f, "2_two.sql", "CREATE TABLE two (id int);\n");

	ck_assert_int_eq(run(f), DEPLOY_EXIT_PREFLIGHT);
	assert_history(f, "1");
	assert_value(f, "f", "SELECT to_regclass('two') IS NOT NULL");
	ck_assert_uint_eq(count_events(&f->events, EVENT_MIGRATION_STARTED), 0);
	const Recorded *failed = find_event(&f->events, EVENT_DEPLOY_FAILED, 0);
	ck_assert_ptr_nonnull(
		strstr(failed->message, "/1_one.sql was changed after it was applied"));
}
END_TEST

START_TEST(test_bad_names_and_duplicate_versions_are_refused_before_anything_runs)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();
	_cleanup_free_ char *bad = NULL;

	write_migration(f, "1_one.sql", "CREATE TABLE one (id int);\n");
	write_migration(f, "2-two.sql", "CREATE TABLE two (id int);\n");
	ck_assert_int_eq(run(f), DEPLOY_EXIT_PREFLIGHT);
	ck_assert_ptr_nonnull(strstr(find_event(&f->events, EVENT_DEPLOY_FAILED, 0)->message,
				     "2-two.sql: not a deployd migration file name"));

	ck_assert_int_ge(asprintf(&bad, "%s/2-two.sql", f->dir), 0);
	ck_assert_int_eq(unlink(bad), 0);
	write_migration(f, "01_again.sql", "CREATE TABLE again (id int);\n");
	ck_assert_int_eq(run(f), DEPLOY_EXIT_PREFLIGHT);
	ck_assert_ptr_nonnull(strstr(find_event(&f->events, EVENT_DEPLOY_FAILED, 0)->message,
				     "01_again.sql and 1_one.sql have the same version 1"));

	/* Nothing ran, not even the history table's creation. */
	assert_value(f, "f", "SELECT to_regclass('one') IS NOT NULL");
	assert_value(f, "f", "SELECT to_regclass('deployd_schema_migrations') IS NOT NULL");
}
END_TEST

START_TEST(test_an_error_in_a_crlf_file_with_multibyte_text_names_its_line)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();

	/* The directive adds a SET LOCAL before the file's text: positions must discount it. */
	write_migration(f, "1_crlf.sql",
			"-- deployd: lock_timeout=3s\r\n"
			"-- Ünïcödé — €😀 comment\r\n"
			"CREATE TABLE crlf (name text DEFAULT 'äöü€😀日本語');\r\n"
			"\r\n"
			"SELECT 'ü😀' FROM crlf WHERE nme = 'ü';\r\n"
			"SELECT 2;\r\n");

	ck_assert_int_eq(run(f), DEPLOY_EXIT_MIGRATE);
	const Recorded *failed = find_event(&f->events, EVENT_MIGRATION_FAILED, 0);
	ck_assert_str_eq(field(failed, "PG_SQLSTATE"), "42703");
	ck_assert_str_eq(field(failed, "MIGRATION_LINE"), "5");
	assert_value(f, "f", "SELECT to_regclass('crlf') IS NOT NULL");
}
END_TEST

START_TEST(test_a_syntax_error_anywhere_is_refused_in_preflight_naming_file_line_and_column)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();

	write_migration(f, "1_mb.sql",
			"CREATE TABLE mb (t text);\n"
			"INSERT INTO mb VALUES ('日本語テキスト'), ('😀😀😀'), ('ÄÖÜ');\n"
			"\n"
			"SELECT '😀', SELEC 1;\n"
			"INSERT INTO mb VALUES ('after');\n");

	/* PostgreSQL's parser reads the file before anything is touched: a preflight failure
	 * (exit 5, never 3: the plan is fine), nothing applied, no history table created. */
	ck_assert_int_eq(run(f), DEPLOY_EXIT_PREFLIGHT);
	ck_assert_uint_eq(count_events(&f->events, EVENT_MIGRATION_STARTED), 0);
	const Recorded *failed = find_event(&f->events, EVENT_DEPLOY_FAILED, 0);
	ck_assert_ptr_nonnull(
		strstr(failed->message, "/1_mb.sql:4:19: syntax error at or near \"1\""));
	assert_value(f, "f", "SELECT to_regclass('mb') IS NOT NULL");
	assert_value(f, "f", "SELECT to_regclass('deployd_schema_migrations') IS NOT NULL");
}
END_TEST

START_TEST(test_a_runtime_error_after_a_function_body_names_its_statement)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();

	write_migration(f, "1_fn.sql",
			"CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\n"
			"BEGIN\n"
			"  RETURN 1; -- ';' inside\n"
			"END;\n"
			"$$;\n"
			"CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC\n"
			"  SELECT 1;\n"
			"END;\n"
			"SELECT 'ü;€' AS \"a;b\";\n"
			"SELECT f() / 0;\n");

	ck_assert_int_eq(run(f), DEPLOY_EXIT_MIGRATE);
	const Recorded *failed = find_event(&f->events, EVENT_MIGRATION_FAILED, 0);
	ck_assert_str_eq(field(failed, "PG_SQLSTATE"), "22012");
	ck_assert_str_eq(field(failed, "MIGRATION_LINE"), "10");
}
END_TEST

START_TEST(test_create_index_concurrently_works_with_no_transaction)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();

	write_migration(f, "1_table.sql",
			"CREATE TABLE t (id int);\n"
			"INSERT INTO t SELECT generate_series(1, 1000);\n");
	write_migration(f, "2_index.sql",
			"-- deployd: no-transaction lock_timeout=2s\n"
			"CREATE INDEX CONCURRENTLY t_id ON t (id);\n");

	ck_assert_int_eq(run(f), DEPLOY_EXIT_OK);
	assert_history(f, "1,2");
	assert_value(f, "t", "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_id'::regclass");
	/* The session's own lock_timeout is back after the file's. */
	ck_assert_uint_eq(count_events(&f->events, EVENT_MIGRATION_APPLIED), 2);
}
END_TEST

START_TEST(test_create_index_concurrently_in_a_transaction_fails_cleanly)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();

	write_migration(f, "1_table.sql", "CREATE TABLE t (id int);\n");
	write_migration(f, "2_index.sql", "\nCREATE INDEX CONCURRENTLY t_id ON t (id);\n");

	ck_assert_int_eq(run(f), DEPLOY_EXIT_MIGRATE);
	const Recorded *failed = find_event(&f->events, EVENT_MIGRATION_FAILED, 0);
	ck_assert_str_eq(field(failed, "PG_SQLSTATE"), "25001");
	ck_assert_str_eq(field(failed, "MIGRATION_LINE"), "2");
	assert_history(f, "1");
}
END_TEST

/* A check of the lock watch may land after the server ended the wait with the lock timeout
 * but before we read the error; the lock-timeout report must still name the blocker.  With
 * lock_timeout an exact multiple of the interval that happens often, so try several times. */
START_TEST(test_every_lock_timeout_repeats_the_blocker_seen_while_waiting)
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
	f->plan.database.lock_timeout = 400 * USEC_PER_MSEC;
	f->plan.migrations.lock_watch_interval = 200 * USEC_PER_MSEC;
	for (int attempt = 0; attempt < 5; attempt++) {
		ck_assert_int_eq(run(f), DEPLOY_EXIT_MIGRATE);
		const Recorded *wait = find_event(&f->events, EVENT_LOCK_WAIT, 0);
		ck_assert_str_eq(field(wait, "BLOCKER_PID"), pid);
		ck_assert_msg(count_events(&f->events, EVENT_LOCK_TIMEOUT) == 1,
			      "attempt %d: %zu lock-timeout events", attempt,
			      count_events(&f->events, EVENT_LOCK_TIMEOUT));
		const Recorded *timeout = find_event(&f->events, EVENT_LOCK_TIMEOUT, 0);
		ck_assert_str_eq(field(timeout, "BLOCKER_PID"), pid);
		ck_assert_str_eq(field(timeout, "BLOCKER_STATE"), "idle in transaction");
	}
	PQclear(harness_pg_query(holder, "ROLLBACK"));
}
END_TEST

START_TEST(test_a_lock_timeout_is_retried_and_succeeds_once_the_blocker_commits)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();
	_cleanup_(PQfinishp) PGconn *holder = NULL;

	harness_pg_exec(f->conninfo, "CREATE TABLE busy (id int)");
	holder = harness_pg_connect(f->conninfo);
	PQclear(harness_pg_query(holder, "BEGIN"));
	PQclear(harness_pg_query(holder, "SELECT * FROM busy"));
	/* The blocker's own transaction ends while the deploy waits to retry. */
	PQclear(harness_pg_query(holder, "SET idle_in_transaction_session_timeout = '1500ms'"));

	write_migration(f, "1_alter.sql", "ALTER TABLE busy ADD COLUMN x int;\n");
	f->plan.database.lock_timeout = 500 * USEC_PER_MSEC;
	f->plan.migrations.lock_watch_interval = 200 * USEC_PER_MSEC;
	f->plan.migrations.lock_retries = 5;
	f->plan.migrations.lock_retry_delay = 500 * USEC_PER_MSEC;
	ck_assert_int_eq(run(f), DEPLOY_EXIT_OK);
	ck_assert_uint_ge(count_events(&f->events, EVENT_MIGRATION_RETRY), 1);
	ck_assert_uint_eq(count_events(&f->events, EVENT_MIGRATION_FAILED), 0);
	const Recorded *retry = find_event(&f->events, EVENT_MIGRATION_RETRY, 0);
	ck_assert_str_eq(field(retry, "RETRY_ATTEMPT"), "1");
	ck_assert_str_eq(field(retry, "MIGRATION_VERSION"), "1");
	assert_value(f, "1", "SELECT count(*) FROM deployd_schema_migrations");
}
END_TEST

START_TEST(test_lock_retries_give_up_after_the_plans_count)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();
	_cleanup_(PQfinishp) PGconn *holder = NULL;

	harness_pg_exec(f->conninfo, "CREATE TABLE busy (id int)");
	holder = harness_pg_connect(f->conninfo);
	PQclear(harness_pg_query(holder, "BEGIN"));
	PQclear(harness_pg_query(holder, "SELECT * FROM busy"));

	write_migration(f, "1_alter.sql", "ALTER TABLE busy ADD COLUMN x int;\n");
	f->plan.database.lock_timeout = 200 * USEC_PER_MSEC;
	f->plan.migrations.lock_watch_interval = 100 * USEC_PER_MSEC;
	f->plan.migrations.lock_retries = 2;
	f->plan.migrations.lock_retry_delay = 100 * USEC_PER_MSEC;
	ck_assert_int_eq(run(f), DEPLOY_EXIT_MIGRATE);
	ck_assert_uint_eq(count_events(&f->events, EVENT_MIGRATION_RETRY), 2);
	ck_assert_uint_eq(count_events(&f->events, EVENT_MIGRATION_STARTED), 3);
	const Recorded *failed = find_event(&f->events, EVENT_MIGRATION_FAILED, 0);
	ck_assert_str_eq(field(failed, "PG_SQLSTATE"), "55P03");
	PQclear(harness_pg_query(holder, "ROLLBACK"));
	assert_value(f, "0",
		     "SELECT count(*) FROM pg_attribute WHERE attrelid = 'busy'::regclass "
		     "AND attname = 'x'");
}
END_TEST

START_TEST(test_a_lock_held_by_another_session_fails_with_55p03_within_lock_timeout)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();
	_cleanup_(PQfinishp) PGconn *holder = NULL;

	harness_pg_exec(f->conninfo, "CREATE TABLE busy (id int)");
	holder = harness_pg_connect(f->conninfo);
	PQclear(harness_pg_query(holder, "BEGIN"));
	PQclear(harness_pg_query(holder, "SELECT * FROM busy"));

	write_migration(f, "1_alter.sql", "SELECT 1;\nALTER TABLE busy ADD COLUMN x int;\n");
	f->plan.database.lock_timeout = 1 * USEC_PER_SEC;
	usec_t start = now_usec(CLOCK_MONOTONIC);
	ck_assert_int_eq(run(f), DEPLOY_EXIT_MIGRATE);
	usec_t took = elapsed_since(start);

	ck_assert_uint_ge(took, 1 * USEC_PER_SEC);
	ck_assert_msg(took < HANG_BOUND, "took %llu ms", (unsigned long long)took / 1000);
	const Recorded *failed = find_event(&f->events, EVENT_MIGRATION_FAILED, 0);
	ck_assert_str_eq(field(failed, "PG_SQLSTATE"), "55P03");
	ck_assert_str_eq(field(failed, "MIGRATION_LINE"), "2");
	/* Nothing of ours is left, least of all waiting on the lock. */
	ck_assert_uint_eq(our_sessions(f, DEPLOY_MIGRATE_APPLICATION_PREFIX), 0);
	PQclear(harness_pg_query(holder, "ROLLBACK"));
	assert_value(f, "0",
		     "SELECT count(*) FROM pg_attribute WHERE attrelid = 'busy'::regclass "
		     "AND attname = 'x'");
	assert_value(f, "",
		     "SELECT coalesce(string_agg(version::text, ','), '') FROM "
		     "deployd_schema_migrations");
}
END_TEST

START_TEST(test_a_statement_timeout_directive_bounds_the_file)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();

	write_migration(f, "1_slow.sql",
			"-- deployd: statement_timeout=300ms\nSELECT pg_sleep(10);\n");
	usec_t start = now_usec(CLOCK_MONOTONIC);
	ck_assert_int_eq(run(f), DEPLOY_EXIT_MIGRATE);
	ck_assert_uint_lt(elapsed_since(start), HANG_BOUND);
	const Recorded *failed = find_event(&f->events, EVENT_MIGRATION_FAILED, 0);
	ck_assert_str_eq(field(failed, "PG_SQLSTATE"), "57014");
	ck_assert_str_eq(field(failed, "MIGRATION_LINE"), "2");
}
END_TEST

START_TEST(test_a_second_concurrent_deploy_gets_busy_and_is_told_who_holds_the_lock)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();
	DeployRequest first_req = {.terminate_idle = -1};
	DeployContext first_ctx;
	_cleanup_(deploy_migrate_freep) DeployMigrate *first = NULL;
	Events first_events = {};
	char first_id[SD_ID128_STRING_MAX];
	_cleanup_free_ char *expected_app = NULL, *pid = NULL;

	write_migration(f, "1_one.sql", "CREATE TABLE one (id int);\n");
	new_deploy_id(first_id);
	memcpy(first_req.id, first_id, sizeof(first_req.id));
	deploy_context_init(&first_ctx, &f->plan, &first_req, -1, event_record, &first_events);
	ck_assert_int_eq(deploy_migrate_new(&first_ctx, &first), 0);
	ck_assert_int_eq(deploy_migrate_preflight(first), 0);
	ck_assert_uint_eq(deploy_migrate_n_pending(first), 1);

	ck_assert_int_eq(run(f), DEPLOY_EXIT_BUSY);
	const Recorded *busy = find_event(&f->events, EVENT_DEPLOY_FAILED, 0);
	ck_assert_int_ge(asprintf(&expected_app, "application deployd/%s", first_id), 0);
	ck_assert_msg(strstr(busy->message, expected_app), "%s", busy->message);
	ck_assert_msg(strstr(busy->message, "user deployer"), "%s", busy->message);
	pid = harness_pg_value(harness_app_conninfo(),
			       "SELECT 'pid ' || pid || ' ' FROM pg_stat_activity WHERE "
			       "application_name LIKE 'deployd/%' AND query LIKE "
			       "'%pg_try_advisory_lock%' ORDER BY backend_start LIMIT 1");
	ck_assert_msg(strstr(busy->message, pid), "%s lacks '%s'", busy->message, pid);
	ck_assert_uint_eq(count_events(&f->events, EVENT_MIGRATION_STARTED), 0);

	/* The first deploy goes on undisturbed. */
	ck_assert_int_eq(deploy_migrate_apply(first), 0);
	first = deploy_migrate_free(first);
	events_clear(&first_events);
	assert_history(f, "1");
	ck_assert_int_eq(run(f), DEPLOY_EXIT_OK);
}
END_TEST

/* Forks a deploy of f that runs until killed; returns once its migration sleeps. */
static pid_t start_sleeping_deploy(Fixture *f)
{
	pid_t pid;

	new_deploy(f);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		Events ignored = {};
		_exit(deploy_run(&f->plan, &f->req, f->cancel_fd, event_record, &ignored));
	}
	_cleanup_free_ char *sleeping = NULL;
	ck_assert_int_ge(asprintf(&sleeping,
				  "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
				  "'deployd/%s' AND state = 'active' AND query LIKE '%%pg_sleep%%'",
				  f->deploy_id),
			 0);
	wait_for_value(f, "1", sleeping);
	return pid;
}

static void assert_lock_free(Fixture *f)
{
	uint64_t key = (uint64_t)deploy_lock_key(f->table);
	_cleanup_free_ char *n = value(f,
				       "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
				       "AND classid = '%u'::oid AND objid = '%u'::oid",
				       (unsigned)(key >> 32), (unsigned)(key & 0xffffffffu));
	ck_assert_str_eq(n, "0");
}

START_TEST(test_a_deploy_killed_mid_migration_leaves_history_consistent_and_the_lock_free)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();
	_cleanup_free_ char *gone = NULL;
	int status;

	write_migration(f, "1_one.sql", "CREATE TABLE one (id int);\n");
	write_migration(f, "2_two.sql", "CREATE TABLE two (id int);\nSELECT pg_sleep(30);\n");
	pid_t pid = start_sleeping_deploy(f);

	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status));
	usec_t killed = now_usec(CLOCK_MONOTONIC);

	/* The sleeping backend notices its client is gone (client_connection_check_interval)
	 * long before its statement would end. */
	ck_assert_int_ge(asprintf(&gone,
				  "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
				  "'deployd/%s'",
				  f->deploy_id),
			 0);
	wait_for_value(f, "0", gone);
	ck_assert_uint_lt(elapsed_since(killed), HANG_BOUND);
	assert_lock_free(f);
	assert_history(f, "1");
	assert_value(f, "f", "SELECT to_regclass('two') IS NOT NULL");

	write_migration(f, "2_two.sql", "CREATE TABLE two (id int);\n");
	ck_assert_int_eq(run(f), DEPLOY_EXIT_OK);
	assert_history(f, "1,2");
}
END_TEST

START_TEST(test_a_deploy_running_in_another_process_makes_a_second_one_busy)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();
	_cleanup_free_ char *holder_app = NULL;
	int status;

	write_migration(f, "1_sleep.sql", "SELECT pg_sleep(30);\n");
	pid_t pid = start_sleeping_deploy(f);
	ck_assert_int_ge(asprintf(&holder_app, "deployd/%s", f->deploy_id), 0);

	ck_assert_int_eq(run(f), DEPLOY_EXIT_BUSY);
	ck_assert_ptr_nonnull(
		strstr(find_event(&f->events, EVENT_DEPLOY_FAILED, 0)->message, holder_app));
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
}
END_TEST

START_TEST(test_a_cancelled_migration_rolls_back_and_leaves_nothing_waiting)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();
	_cleanup_(PQfinishp) PGconn *holder = NULL;
	_cleanup_close_ int timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	struct itimerspec in_one_second = {.it_value = {.tv_sec = 1}};
	_cleanup_free_ char *waiting = NULL;

	harness_pg_exec(f->conninfo, "CREATE TABLE busy (id int)");
	holder = harness_pg_connect(f->conninfo);
	PQclear(harness_pg_query(holder, "BEGIN"));
	PQclear(harness_pg_query(holder, "SELECT * FROM busy"));
	write_migration(f, "1_alter.sql",
			"CREATE TABLE before_the_wait (id int);\n"
			"ALTER TABLE busy ADD COLUMN x int;\n");
	f->plan.database.lock_timeout = 60 * USEC_PER_SEC;

	/* The cancel comes while the migration waits on the lock. */
	ck_assert_int_ge(timer, 0);
	ck_assert_int_eq(timerfd_settime(timer, 0, &in_one_second, NULL), 0);
	f->cancel_fd = timer;
	usec_t start = now_usec(CLOCK_MONOTONIC);
	ck_assert_int_eq(run(f), DEPLOY_EXIT_CANCELLED);
	ck_assert_uint_lt(elapsed_since(start), HANG_BOUND);

	/* Still holding the lock, the other session sees nobody queued behind it. */
	ck_assert_int_ge(asprintf(&waiting,
				  "SELECT count(*) FROM pg_stat_activity WHERE application_name "
				  "LIKE 'deployd%%' AND wait_event_type = 'Lock'"),
			 0);
	assert_value(f, "0", waiting);
	ck_assert_uint_eq(our_sessions(f, DEPLOY_MIGRATE_APPLICATION_PREFIX), 0);
	PQclear(harness_pg_query(holder, "ROLLBACK"));

	const Recorded *failed = find_event(&f->events, EVENT_MIGRATION_FAILED, 0);
	ck_assert_str_eq(field(failed, "PG_SQLSTATE"), "57014");
	ck_assert_ptr_nonnull(strstr(failed->message, "cancelled and rolled back"));
	assert_value(f, "f", "SELECT to_regclass('before_the_wait') IS NOT NULL");
	assert_value(f, "",
		     "SELECT coalesce(string_agg(version::text, ','), '') FROM "
		     "deployd_schema_migrations");
}
END_TEST

START_TEST(test_a_cancel_before_the_deploy_starts_touches_nothing)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();
	int p[2];

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	write_migration(f, "1_one.sql", "CREATE TABLE one (id int);\n");
	f->cancel_fd = p[0];
	ck_assert_int_eq(run(f), DEPLOY_EXIT_CANCELLED);
	assert_value(f, "f", "SELECT to_regclass('deployd_schema_migrations') IS NOT NULL");
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(test_a_dry_run_reports_what_it_would_apply_and_changes_nothing)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();
	DeployContext ctx;
	_cleanup_(deploy_migrate_freep) DeployMigrate *m = NULL;

	write_migration(f, "1_one.sql", "CREATE TABLE one (id int);\n");
	write_migration(f, "2_two.sql", "CREATE TABLE two (id int);\n");
	new_deploy(f);
	f->req.dry_run = true;
	deploy_context_init(&ctx, &f->plan, &f->req, -1, event_record, &f->events);
	ck_assert_int_eq(deploy_migrate_new(&ctx, &m), 0);
	ck_assert_int_eq(deploy_migrate_preflight(m), 0);

	ck_assert_uint_eq(count_events(&f->events, EVENT_MIGRATION_PENDING), 2);
	const Recorded *second = find_event(&f->events, EVENT_MIGRATION_PENDING, 1);
	ck_assert_str_eq(field(second, "MIGRATION_VERSION"), "2");
	ck_assert_str_eq(field(second, "MIGRATION_NAME"), "two");
	ck_assert_str_eq(second->message, "Would apply migration 2_two.sql.");
	assert_value(f, "f", "SELECT to_regclass('deployd_schema_migrations') IS NOT NULL");
	assert_value(f, "f", "SELECT to_regclass('one') IS NOT NULL");
}
END_TEST

START_TEST(test_a_dry_run_forecasts_each_statement_and_names_who_is_in_the_way)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();
	DeployContext ctx;
	_cleanup_(deploy_migrate_freep) DeployMigrate *m = NULL;
	_cleanup_free_ char *outside = harness_db_conninfo("app", "postgres");
	_cleanup_(PQfinishp) PGconn *reader = harness_pg_connect(outside);
	_cleanup_free_ char *create = NULL, *read = NULL, *relation = NULL, *locks = NULL,
			    *pid = NULL;

	ck_assert_int_ge(asprintf(&create, "CREATE TABLE %s.acc (id int)", f->schema), 0);
	harness_pg_exec(f->conninfo, create);
	/* An outside reader idle in its transaction: it holds AccessShareLock on acc. */
	ck_assert_int_ge(asprintf(&read, "SELECT count(*) FROM %s.acc", f->schema), 0);
	PQclear(harness_pg_query(reader, "BEGIN"));
	PQclear(harness_pg_query(reader, read));
	/* Unqualified: resolved with the session's search_path (the fixture's schema). */
	write_migration(f, "1_acc.sql",
			"-- deployd: lock_timeout=2s\n"
			"ALTER TABLE acc ADD COLUMN x int;\n"
			"\n"
			"CREATE INDEX acc_x ON acc (x);\n");
	new_deploy(f);
	f->req.dry_run = true;
	deploy_context_init(&ctx, &f->plan, &f->req, -1, event_record, &f->events);
	ck_assert_int_eq(deploy_migrate_new(&ctx, &m), 0);
	ck_assert_int_eq(deploy_migrate_preflight(m), 0);

	ck_assert_int_ge(asprintf(&relation, "%s.acc", f->schema), 0);
	ck_assert_int_ge(asprintf(&locks, "%s=AccessExclusiveLock", relation), 0);
	ck_assert_uint_eq(count_events(&f->events, EVENT_LOCK_FORECAST), 2);
	const Recorded *alter = find_event(&f->events, EVENT_LOCK_FORECAST, 0);
	ck_assert_str_eq(field(alter, "MIGRATION_LINE"), "2");
	ck_assert_str_eq(field(alter, "FORECAST_LOCKS"), locks);
	ck_assert_str_eq(field(alter, "FORECAST_REWRITE"), "no");
	const Recorded *index = find_event(&f->events, EVENT_LOCK_FORECAST, 1);
	ck_assert_str_eq(field(index, "MIGRATION_LINE"), "4");
	ck_assert_str_eq(field(index, "FORECAST_SCAN"), "yes");
	ck_assert_ptr_nonnull(strstr(field(index, "FORECAST_LOCKS"), "=ShareLock"));

	ck_assert_uint_eq(count_events(&f->events, EVENT_FORECAST_HOLDER), 1);
	const Recorded *holder = find_event(&f->events, EVENT_FORECAST_HOLDER, 0);
	ck_assert_int_ge(asprintf(&pid, "%d", PQbackendPID(reader)), 0);
	ck_assert_str_eq(field(holder, "BLOCKER_PID"), pid);
	ck_assert_str_eq(field(holder, "BLOCKER_MODE"), "AccessShareLock");
	ck_assert_str_eq(field(holder, "BLOCKER_QUEUED"), "no");
	ck_assert_str_eq(field(holder, "LOCK_MODE"), "AccessExclusiveLock");
	ck_assert_str_eq(field(holder, "LOCK_RELATION"), relation);
	assert_value(f, "f", "SELECT to_regclass('deployd_schema_migrations') IS NOT NULL");
}
END_TEST

/* A session of the application role, idle in a transaction. */
static PGconn *idle_in_transaction(void)
{
	PGconn *conn = harness_pg_connect(harness_app_user_conninfo());

	PQclear(harness_pg_query(conn, "BEGIN"));
	PQclear(harness_pg_query(conn, "SELECT 1"));
	return conn;
}

static bool has_idle_event(const Events *e, EventType type, int pid)
{
	char expected[32];

	snprintf(expected, sizeof(expected), "%d", pid);
	for (size_t i = 0; i < e->n; i++)
		if (e->list[i].type == type &&
		    strcmp(field(&e->list[i], "IDLE_PID"), expected) == 0)
			return true;
	return false;
}

START_TEST(test_idle_transactions_are_listed_in_a_dry_run_and_terminated_for_real)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();
	DeployContext ctx;
	_cleanup_(deploy_migrate_freep) DeployMigrate *dry = NULL, *real = NULL;
	_cleanup_(PQfinishp) PGconn *idle = idle_in_transaction();
	int idle_pid = PQbackendPID(idle);

	write_migration(f, "1_one.sql", "CREATE TABLE one (id int);\n");
	usleep(300 * 1000);

	new_deploy(f);
	f->req.dry_run = true;
	deploy_context_init(&ctx, &f->plan, &f->req, -1, event_record, &f->events);
	ck_assert_int_eq(deploy_migrate_new(&ctx, &dry), 0);
	ck_assert_int_eq(deploy_migrate_preflight(dry), 0);
	ck_assert_int_eq(deploy_migrate_idle_preflight(dry, 100 * USEC_PER_MSEC), 0);
	ck_assert(has_idle_event(&f->events, EVENT_IDLE_FOUND, idle_pid));
	ck_assert_int_eq(PQstatus(idle), CONNECTION_OK);
	dry = deploy_migrate_free(dry);

	events_clear(&f->events);
	new_deploy(f);
	f->req.dry_run = false;
	deploy_context_init(&ctx, &f->plan, &f->req, -1, event_record, &f->events);
	ck_assert_int_eq(deploy_migrate_new(&ctx, &real), 0);
	ck_assert_int_eq(deploy_migrate_preflight(real), 0);
	ck_assert_int_eq(deploy_migrate_idle_preflight(real, 100 * USEC_PER_MSEC), 0);
	ck_assert_uint_eq(count_events(&f->events, EVENT_IDLE_FOUND), 0);
	ck_assert_int_eq(deploy_migrate_idle_terminate(real, 100 * USEC_PER_MSEC), 0);
	ck_assert(has_idle_event(&f->events, EVENT_IDLE_TERMINATED, idle_pid));
	_cleanup_free_ char *gone = NULL;
	ck_assert_int_ge(
		asprintf(&gone, "SELECT count(*) FROM pg_stat_activity WHERE pid = %d", idle_pid),
		0);
	assert_value(f, "0", gone);

	/* The deploy's own sessions were spared: it holds the lock and migrates. */
	ck_assert_int_eq(deploy_migrate_apply(real), 0);
	assert_history(f, "1");
}
END_TEST

START_TEST(test_a_role_that_may_not_end_idle_transactions_fails_the_preflight)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();
	DeployContext ctx;
	_cleanup_(deploy_migrate_freep) DeployMigrate *m = NULL;
	_cleanup_free_ char *role = NULL, *sql = NULL, *conninfo = NULL;

	ck_assert_int_ge(asprintf(&role, "r_%s", f->schema + 2), 0);
	ck_assert_int_ge(asprintf(&sql, "CREATE ROLE %s LOGIN; GRANT USAGE ON SCHEMA %s TO %s",
				  role, f->schema, role),
			 0);
	_cleanup_free_ char *superuser_in_app = NULL;
	ck_assert_int_ge(asprintf(&superuser_in_app, "%s dbname=app", harness_pg_conninfo()), 0);
	harness_pg_exec(superuser_in_app, sql);
	ck_assert_int_ge(asprintf(&conninfo, "%s user=%s", f->conninfo, role), 0);
	f->plan.database.conninfo = conninfo;

	new_deploy(f);
	deploy_context_init(&ctx, &f->plan, &f->req, -1, event_record, &f->events);
	ck_assert_int_eq(deploy_migrate_new(&ctx, &m), 0);
	ck_assert_int_eq(deploy_migrate_preflight(m), 0);
	ck_assert_int_lt(deploy_migrate_idle_preflight(m, 100 * USEC_PER_MSEC), 0);
	const Recorded *failed = find_event(&f->events, EVENT_DEPLOY_FAILED, 0);
	ck_assert_msg(strstr(failed->message, "GRANT pg_read_all_stats"), "%s", failed->message);
}
END_TEST

static char *sh_command[] = {"/bin/sh", "-c", NULL, NULL};

static void use_command(Fixture *f, const char *script)
{
	static char *environment[] = {"GREETING=hello from the plan", NULL};

	sh_command[2] = (char *)script;
	f->plan.migrations = (PlanMigrations){
		.command = sh_command,
		.working_directory = f->dir,
		.environment = environment,
	};
}

START_TEST(test_a_command_migration_gets_its_environment_and_its_output_is_streamed)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();
	_cleanup_free_ char *script = NULL, *expected = NULL;

	ck_assert_int_ge(
		asprintf(&script,
			 "echo \"cwd=$(pwd)\"; echo \"greeting=$GREETING\"; echo oops >&2; "
			 "echo \"id=$DEPLOY_ID plan=$DEPLOY_PLAN release=$DEPLOY_RELEASE\"; "
			 "echo \"app=$PGAPPNAME\"; echo \"options=$PGOPTIONS\"; "
			 "%s/psql \"$DATABASE_URL\" -XAt -F ' ' -c \"SELECT "
			 "current_setting('application_name'), current_setting('lock_timeout'), "
			 "current_setting('search_path'), current_user\" -c 'CREATE TABLE "
			 "made_by_command (id int)'",
			 harness_pg_bindir()),
		0);
	use_command(f, script);
	f->req.release = "v1.2.3";

	ck_assert_int_eq(run(f), DEPLOY_EXIT_OK);
	assert_value(f, "t", "SELECT to_regclass('made_by_command') IS NOT NULL");

	/* Each stream keeps its order; between the two pipes there is none to keep. */
	_cleanup_strv_free_ char **out = NULL, **err = NULL;
	for (size_t i = 0; i < f->events.n; i++) {
		const Recorded *r = &f->events.list[i];
		if (r->type != EVENT_COMMAND_OUTPUT)
			continue;
		ck_assert_int_eq(
			strv_extend(strcmp(field(r, "OUTPUT_STREAM"), "stderr") == 0 ? &err : &out,
				    r->message),
			0);
	}
	ck_assert_uint_eq(strv_length(out), 7);
	ck_assert_uint_eq(strv_length(err), 1);
	ck_assert_str_eq(err[0], "oops");
	ck_assert_int_ge(asprintf(&expected, "cwd=%s", f->dir), 0);
	ck_assert_str_eq(out[0], expected);
	ck_assert_str_eq(out[1], "greeting=hello from the plan");
	free(expected);
	ck_assert_int_ge(asprintf(&expected, "id=%s plan=test release=v1.2.3", f->deploy_id), 0);
	ck_assert_str_eq(out[2], expected);
	free(expected);
	ck_assert_int_ge(asprintf(&expected, "app=deployd-migrate/%s", f->deploy_id), 0);
	ck_assert_str_eq(out[3], expected);
	ck_assert_str_eq(out[4], "options=-c lock_timeout=5000 -c statement_timeout=120000 "
				 "-c idle_in_transaction_session_timeout=60000 "
				 "-c client_connection_check_interval=1000");
	free(expected);
	/* DATABASE_URL: the plan's conninfo (with its search_path), our name and timeouts. */
	ck_assert_int_ge(
		asprintf(&expected, "deployd-migrate/%s 5s %s deployer", f->deploy_id, f->schema),
		0);
	ck_assert_str_eq(out[5], expected);
	ck_assert_str_eq(out[6], "CREATE TABLE");
	const Recorded *applied = find_event(&f->events, EVENT_MIGRATION_APPLIED, 0);
	ck_assert_ptr_nonnull(field(applied, "DURATION_MS"));
}
END_TEST

START_TEST(test_a_command_failing_or_killed_is_a_failed_migration)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();

	use_command(f, "echo working; exit 3");
	ck_assert_int_eq(run(f), DEPLOY_EXIT_MIGRATE);
	ck_assert_ptr_nonnull(strstr(find_event(&f->events, EVENT_MIGRATION_FAILED, 0)->message,
				     "failed with exit status 3"));
	ck_assert_str_eq(find_event(&f->events, EVENT_COMMAND_OUTPUT, 0)->message, "working");

	use_command(f, "kill -TERM $$");
	ck_assert_int_eq(run(f), DEPLOY_EXIT_MIGRATE);
	ck_assert_ptr_nonnull(strstr(find_event(&f->events, EVENT_MIGRATION_FAILED, 0)->message,
				     "killed by signal TERM"));

	use_command(f, "sleep 30");
	/* The command may run 10 × statement_timeout. */
	f->plan.database.statement_timeout = 30 * USEC_PER_MSEC;
	usec_t start = now_usec(CLOCK_MONOTONIC);
	ck_assert_int_eq(run(f), DEPLOY_EXIT_MIGRATE);
	ck_assert_uint_lt(elapsed_since(start), HANG_BOUND);
	ck_assert_ptr_nonnull(strstr(find_event(&f->events, EVENT_MIGRATION_FAILED, 0)->message,
				     "did not finish within 300ms"));
}
END_TEST

START_TEST(test_sessions_a_command_leaves_behind_are_terminated)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();
	_cleanup_free_ char *script = NULL;

	/* setsid: the straggler escapes the command's process group, not its session name. */
	ck_assert_int_ge(
		asprintf(
			&script,
			"setsid %1$s/psql \"$DATABASE_URL\" -XAtc 'SELECT pg_sleep(60)' "
			">/dev/null 2>&1 & "
			"until [ \"$(%1$s/psql \"$DATABASE_URL\" -XAtc \"SELECT count(*) FROM "
			"pg_stat_activity WHERE application_name = '$PGAPPNAME' AND query LIKE "
			"'%%pg_sleep(60)%%' AND pid <> pg_backend_pid()\")\" = 1 ]; do sleep 0.05; "
			"done",
			harness_pg_bindir()),
		0);
	use_command(f, script);

	ck_assert_int_eq(run(f), DEPLOY_EXIT_OK);
	const Recorded *applied = find_event(&f->events, EVENT_MIGRATION_APPLIED, 0);
	ck_assert_msg(strstr(applied->message, "1 session(s) it left behind were terminated"), "%s",
		      applied->message);
	ck_assert_uint_eq(our_sessions(f, "deployd-migrate/"), 0);
}
END_TEST

START_TEST(test_every_conninfo_source_connects_and_a_failure_masks_the_password)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();
	_cleanup_free_ char *dir = harness_tmpdir(), *file = NULL, *bad = NULL;
	_cleanup_close_ int fd = -EBADF;

	write_migration(f, "1_one.sql", "CREATE TABLE one (id int);\n");
	setenv("TEST_MIGRATIONS_CONNINFO", f->conninfo, 1);
	f->plan.database.conninfo_source = PG_CONNINFO_ENV;
	f->plan.database.conninfo = "TEST_MIGRATIONS_CONNINFO";
	ck_assert_int_eq(run(f), DEPLOY_EXIT_OK);

	ck_assert_int_ge(asprintf(&file, "%s/db.conninfo", dir), 0);
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, f->conninfo, strlen(f->conninfo)), (ssize_t)strlen(f->conninfo));
	f->plan.database.conninfo_source = PG_CONNINFO_FILE;
	f->plan.database.conninfo = file;
	ck_assert_int_eq(run(f), DEPLOY_EXIT_OK);

	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	f->plan.database.conninfo_source = PG_CONNINFO_CREDENTIAL;
	f->plan.database.conninfo = "db.conninfo";
	ck_assert_int_eq(run(f), DEPLOY_EXIT_OK);
	assert_history(f, "1");

	ck_assert_int_ge(asprintf(&bad, "%s password=hunter2 dbname=no_such_db", f->conninfo), 0);
	f->plan.database.conninfo_source = PG_CONNINFO_LITERAL;
	f->plan.database.conninfo = bad;
	ck_assert_int_eq(run(f), DEPLOY_EXIT_PREFLIGHT);
	const Recorded *failed = find_event(&f->events, EVENT_DEPLOY_FAILED, 0);
	ck_assert_ptr_nonnull(strstr(failed->message, "password=********"));
	ck_assert_ptr_nonnull(strstr(failed->message, "no_such_db"));
	ck_assert_ptr_null(strstr(failed->message, "hunter2"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("migrations");
	TCase *tc = tcase_create("migrations");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_pending_migrations_apply_in_numeric_order_and_are_recorded);
	tcase_add_test(tc, test_a_rerun_applies_nothing);
	tcase_add_test(tc, test_the_deploy_lock_is_free_by_the_time_deploy_finished_is_told);
	tcase_add_test(
		tc, test_a_failing_file_leaves_earlier_ones_applied_and_itself_and_later_ones_not);
	tcase_add_test(tc, test_a_changed_checksum_is_refused_before_anything_runs);
	tcase_add_test(tc, test_bad_names_and_duplicate_versions_are_refused_before_anything_runs);
	tcase_add_test(tc, test_an_error_in_a_crlf_file_with_multibyte_text_names_its_line);
	tcase_add_test(
		tc,
		test_a_syntax_error_anywhere_is_refused_in_preflight_naming_file_line_and_column);
	tcase_add_test(tc, test_a_runtime_error_after_a_function_body_names_its_statement);
	tcase_add_test(tc, test_create_index_concurrently_works_with_no_transaction);
	tcase_add_test(tc, test_create_index_concurrently_in_a_transaction_fails_cleanly);
	tcase_add_test(tc,
		       test_a_lock_held_by_another_session_fails_with_55p03_within_lock_timeout);
	tcase_add_test(tc, test_every_lock_timeout_repeats_the_blocker_seen_while_waiting);
	tcase_add_test(tc, test_a_lock_timeout_is_retried_and_succeeds_once_the_blocker_commits);
	tcase_add_test(tc, test_lock_retries_give_up_after_the_plans_count);
	tcase_add_test(tc, test_a_statement_timeout_directive_bounds_the_file);
	tcase_add_test(tc,
		       test_a_second_concurrent_deploy_gets_busy_and_is_told_who_holds_the_lock);
	tcase_add_test(
		tc, test_a_deploy_killed_mid_migration_leaves_history_consistent_and_the_lock_free);
	tcase_add_test(tc, test_a_deploy_running_in_another_process_makes_a_second_one_busy);
	tcase_add_test(tc, test_a_cancelled_migration_rolls_back_and_leaves_nothing_waiting);
	tcase_add_test(tc, test_a_cancel_before_the_deploy_starts_touches_nothing);
	tcase_add_test(tc,
		       test_a_command_migration_gets_its_environment_and_its_output_is_streamed);
	tcase_add_test(tc, test_a_dry_run_reports_what_it_would_apply_and_changes_nothing);
	tcase_add_test(tc, test_a_dry_run_forecasts_each_statement_and_names_who_is_in_the_way);
	tcase_add_test(tc, test_idle_transactions_are_listed_in_a_dry_run_and_terminated_for_real);
	tcase_add_test(tc, test_a_role_that_may_not_end_idle_transactions_fails_the_preflight);
	tcase_add_test(tc, test_a_command_failing_or_killed_is_a_failed_migration);
	tcase_add_test(tc, test_sessions_a_command_leaves_behind_are_terminated);
	tcase_add_test(tc, test_every_conninfo_source_connects_and_a_failure_masks_the_password);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
