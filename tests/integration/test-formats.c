/* test-formats.c — migrations in dbmate, golang-migrate and Flyway layouts, and adopting those
 * tools' history, against the harness's real PostgreSQL.  Directories are written by hand in
 * each tool's documented layout; dbmate's history is written by the real dbmate (npm package,
 * DEPLOYD_TEST_DBMATE, installed by make check), golang-migrate's and Flyway's tables exactly
 * as their documentation gives them.  Each test deploys through the library the daemon's
 * worker runs (deploy_migrate_run) with a plan parsed from YAML, as a deploy would. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <systemd/sd-id128.h>
#include <unistd.h>

#include "check-run.h"
#include "deploy.h"
#include "harness.h"
#include "strv.h"

#define DEPLOYCTL "build/deployctl"

typedef struct Setup {
	char *schema;
	char *dir;
	char *plans;
	char *conninfo;
} Setup;

static void setup_free(Setup *s)
{
	free(s->schema);
	free(s->dir);
	free(s->plans);
	free(s->conninfo);
}

static void write_text(const char *dir, const char *name, const char *text)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -EBADF;

	ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
}

static Setup setup(void)
{
	Setup s = {};
	sd_id128_t id;
	_cleanup_free_ char *create = NULL;

	ck_assert_int_eq(sd_id128_randomize(&id), 0);
	ck_assert_int_ge(asprintf(&s.schema, "f_" SD_ID128_FORMAT_STR, SD_ID128_FORMAT_VAL(id)), 0);
	ck_assert_int_ge(asprintf(&create, "CREATE SCHEMA %s", s.schema), 0);
	harness_pg_exec(harness_app_conninfo(), create);
	/* The other tools' tables are found through the search_path, as the tools find them. */
	ck_assert_int_ge(asprintf(&s.conninfo, "%s options='-c search_path=%s'",
				  harness_app_conninfo(), s.schema),
			 0);
	s.dir = harness_tmpdir();
	s.plans = harness_tmpdir();
	return s;
}

/* SQL on the test's schema (search_path set). */
static void sql(const Setup *s, const char *text)
{
	harness_pg_exec(s->conninfo, text);
}

static char *value(const Setup *s, const char *text)
{
	return harness_pg_value(s->conninfo, text);
}

/* Writes PLANS/NAME.yaml with the given migrations keys (lines indented two spaces). */
static char *write_plan(const Setup *s, const char *name, const char *keys)
{
	_cleanup_free_ char *yaml = NULL, *file = NULL;
	char *path = NULL;

	ck_assert_int_ge(asprintf(&yaml,
				  "version: 1\n"
				  "database:\n"
				  "  conninfo: \"%s\"\n"
				  "services: {units: [app.service]}\n"
				  "migrations:\n"
				  "  directory: %s\n"
				  "  table: %s.history\n"
				  "%s",
				  s->conninfo, s->dir, s->schema, keys),
			 0);
	ck_assert_int_ge(asprintf(&file, "%s.yaml", name), 0);
	write_text(s->plans, file, yaml);
	ck_assert_int_ge(asprintf(&path, "%s/%s", s->plans, file), 0);
	return path;
}

typedef struct Events {
	char **lines; /* "EVENT VERSION" per migration event, "deploy-failed MESSAGE" */
} Events;

static void collect(const Event *ev, void *userdata)
{
	Events *e = userdata;
	_cleanup_free_ char *line = NULL;
	const char *type = event_type_to_string(ev->type);

	if (ev->type == EVENT_DEPLOY_FAILED)
		ck_assert_int_ge(asprintf(&line, "%s %s", type, ev->message), 0);
	else if (event_get(ev, "MIGRATION_VERSION"))
		ck_assert_int_ge(asprintf(&line, "%s %s", type, event_get(ev, "MIGRATION_VERSION")),
				 0);
	else
		return;
	ck_assert_int_ge(strv_extend(&e->lines, line), 0);
}

/* Deploys the plan at path through the daemon's pipeline (a dry run when dry_run), asked by
 * "alice"; returns the exit code. */
static DeployExit deploy_as(const char *path, bool dry_run, Events *events)
{
	_cleanup_(plan_freep) Plan *plan = NULL;
	_cleanup_free_ char *error = NULL;
	DeployRequest req = {.terminate_idle = -1, .requester = "alice", .dry_run = dry_run};

	ck_assert_msg(plan_load(path, &plan, &error) == 0, "%s", error);
	/* A plan names at least one unit; these tests are about the database: no units. */
	strv_free(plan->services.units);
	plan->services.units = calloc(1, sizeof(char *));
	ck_assert_ptr_nonnull(plan->services.units);
	ck_assert_int_eq(deploy_id_new(req.id), 0);
	return deploy_run(plan, &req, -1, collect, events);
}

static DeployExit deploy(const char *path, Events *events)
{
	return deploy_as(path, false, events);
}

static char *joined(const Events *e)
{
	char *s = NULL;

	if (!e->lines)
		return strdup("");
	ck_assert_int_ge(strv_join(e->lines, "\n", &s), 0);
	return s;
}

#define assert_events(e, expected)                                                                 \
	do {                                                                                       \
		_cleanup_free_ char *_all = joined(e);                                             \
		ck_assert_str_eq(_all, expected);                                                  \
	} while (0)

/* "version:adopted" of deployd's history, in the order deployd applies them. */
static char *history(const Setup *s)
{
	_cleanup_free_ char *q = NULL;

	ck_assert_int_ge(asprintf(&q,
				  "SELECT coalesce(string_agg(version || ':' || adopted::text, ',' "
				  "ORDER BY string_to_array(version, '.')::numeric[]), '') FROM "
				  "%s.history",
				  s->schema),
			 0);
	return value(s, q);
}

#define assert_history(s, expected)                                                                \
	do {                                                                                       \
		_cleanup_free_ char *_h = history(s);                                              \
		ck_assert_str_eq(_h, expected);                                                    \
	} while (0)

static void assert_no_history(const Setup *s)
{
	_cleanup_free_ char *q = NULL, *v = NULL;

	ck_assert_int_ge(asprintf(&q, "SELECT to_regclass('%s.history') IS NULL", s->schema), 0);
	v = value(s, q);
	ck_assert_msg(strcmp(v, "t") == 0, "deployd's history table was created");
}

static void assert_deploy_failed_with(const Events *e, const char *needle)
{
	_cleanup_free_ char *all = joined(e);

	ck_assert_msg(strstr(all, "deploy-failed ") && strstr(all, needle),
		      "no deploy-failed naming '%s' in:\n%s", needle, all);
}

/* ---- formats ---- */

START_TEST(test_a_dbmate_directory_runs_only_up_sections_in_timestamp_order)
{
	_cleanup_(setup_free) Setup s = setup();
	_cleanup_free_ char *plan = NULL, *kept = NULL, *idx = NULL;
	Events e = {};

	/* dbmate's documented layout: VERSION_name.sql, up and down sections. */
	sql(&s, "CREATE TABLE keep (id int)");
	write_text(s.dir, "20240102090000_index_users.sql",
		   "-- migrate:up transaction:false\n"
		   "CREATE INDEX CONCURRENTLY users_name ON users (name);\n"
		   "\n"
		   "-- migrate:down\n"
		   "DROP INDEX users_name;\n");
	write_text(s.dir, "20240101120000_create_users.sql",
		   "-- migrate:up\n"
		   "CREATE TABLE users (id int, name text);\n"
		   "\n"
		   "-- migrate:down\n"
		   "DROP TABLE users;\n"
		   "DROP TABLE keep;\n");
	write_text(s.dir, "20231231235959_first.sql",
		   "-- migrate:up\nSELECT 1;\n-- migrate:down\n");
	plan = write_plan(&s, "dbmate", "  format: dbmate\n");

	ck_assert_int_eq(deploy(plan, &e), DEPLOY_EXIT_OK);
	assert_events(&e, "migration-started 20231231235959\n"
			  "migration-applied 20231231235959\n"
			  "migration-started 20240101120000\n"
			  "migration-applied 20240101120000\n"
			  "migration-started 20240102090000\n"
			  "migration-applied 20240102090000");
	assert_history(&s, "20231231235959:false,20240101120000:false,20240102090000:false");
	kept = value(&s, "SELECT to_regclass('keep') IS NOT NULL");
	ck_assert_str_eq(kept, "t");
	idx = value(&s,
		    "SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_name'::regclass");
	ck_assert_str_eq(idx, "t");
	strv_free(e.lines);
}
END_TEST

START_TEST(test_a_golang_migrate_directory_applies_up_files_and_ignores_down_files)
{
	_cleanup_(setup_free) Setup s = setup();
	_cleanup_free_ char *plan = NULL, *t = NULL;
	Events e = {};

	write_text(s.dir, "000001_create_users.up.sql", "CREATE TABLE users (id int);\n");
	write_text(s.dir, "000001_create_users.down.sql", "DROP TABLE users;\n");
	write_text(s.dir, "000002_add_name.up.sql", "ALTER TABLE users ADD COLUMN name text;\n");
	write_text(s.dir, "000002_add_name.down.sql", "this is not even SQL\n");
	plan = write_plan(&s, "gm", "  format: golang-migrate\n");

	ck_assert_int_eq(deploy(plan, &e), DEPLOY_EXIT_OK);
	assert_events(&e, "migration-started 1\nmigration-applied 1\n"
			  "migration-started 2\nmigration-applied 2");
	assert_history(&s, "1:false,2:false");
	t = value(&s, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' "
		      "AND column_name = 'name' AND table_schema = current_schema()");
	ck_assert_str_eq(t, "1");
	strv_free(e.lines);
}
END_TEST

START_TEST(test_a_flyway_directory_orders_dotted_versions_part_by_part)
{
	_cleanup_(setup_free) Setup s = setup();
	_cleanup_free_ char *plan = NULL, *order = NULL;
	Events e = {};

	sql(&s, "CREATE TABLE steps (n serial, v text)");
	write_text(s.dir, "V2__two.sql", "INSERT INTO steps (v) VALUES ('2');\n");
	write_text(s.dir, "V1_10__one_ten.sql", "INSERT INTO steps (v) VALUES ('1.10');\n");
	write_text(s.dir, "V1.2__one_two.sql", "INSERT INTO steps (v) VALUES ('1.2');\n");
	write_text(s.dir, "V1__one.sql", "INSERT INTO steps (v) VALUES ('1');\n");
	plan = write_plan(&s, "fw", "  format: flyway\n");

	ck_assert_int_eq(deploy(plan, &e), DEPLOY_EXIT_OK);
	order = value(&s, "SELECT string_agg(v, ',' ORDER BY n) FROM steps");
	ck_assert_str_eq(order, "1,1.2,1.10,2");
	assert_history(&s, "1:false,1.2:false,1.10:false,2:false");
	assert_events(&e, "migration-started 1\nmigration-applied 1\n"
			  "migration-started 1.2\nmigration-applied 1.2\n"
			  "migration-started 1.10\nmigration-applied 1.10\n"
			  "migration-started 2\nmigration-applied 2");
	strv_free(e.lines);

	/* A second deploy finds nothing pending: history and files match part by part. */
	Events again = {};
	ck_assert_int_eq(deploy(plan, &again), DEPLOY_EXIT_OK);
	assert_events(&again, "");
}
END_TEST

START_TEST(test_flyway_repeatable_and_undo_scripts_are_refused_before_anything_runs)
{
	_cleanup_(setup_free) Setup s = setup();
	_cleanup_free_ char *plan = NULL;
	Events e = {}, u = {};

	write_text(s.dir, "V1__one.sql", "CREATE TABLE one (id int);\n");
	write_text(s.dir, "R__views.sql", "CREATE OR REPLACE VIEW v AS SELECT 1;\n");
	plan = write_plan(&s, "fw", "  format: flyway\n");
	ck_assert_int_eq(deploy(plan, &e), DEPLOY_EXIT_PREFLIGHT);
	assert_deploy_failed_with(&e, "R__views.sql: not a flyway migration file name (a Flyway "
				      "repeatable migration (R__)");
	assert_no_history(&s);
	strv_free(e.lines);

	_cleanup_free_ char *r = NULL;
	ck_assert_int_ge(asprintf(&r, "%s/R__views.sql", s.dir), 0);
	ck_assert_int_eq(unlink(r), 0);
	write_text(s.dir, "U1__one.sql", "DROP TABLE one;\n");
	ck_assert_int_eq(deploy(plan, &u), DEPLOY_EXIT_PREFLIGHT);
	assert_deploy_failed_with(&u, "U1__one.sql: not a flyway migration file name (a Flyway "
				      "undo migration");
	assert_no_history(&s);
	strv_free(u.lines);
}
END_TEST

START_TEST(test_the_previous_releases_history_table_is_upgraded_in_place)
{
	_cleanup_(setup_free) Setup s = setup();
	_cleanup_free_ char *plan = NULL, *q = NULL, *type = NULL;
	Events e = {};

	/* Exactly the table the previous release created, with two applied migrations. */
	write_text(s.dir, "1_one.sql", "SELECT 1;\n");
	write_text(s.dir, "10_ten.sql", "SELECT 10;\n");
	write_text(s.dir, "2_two.sql", "CREATE TABLE two (id int);\n");
	ck_assert_int_ge(
		asprintf(&q,
			 "CREATE TABLE %s.history (version bigint PRIMARY KEY, name text NOT NULL, "
			 "checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), "
			 "duration_ms integer, deploy_id text, applied_by text);"
			 "INSERT INTO %s.history (version, name, checksum) VALUES "
			 "(1, 'one', encode(sha256(convert_to('SELECT 1;\n', 'UTF8')), 'hex')), "
			 "(10, 'ten', encode(sha256(convert_to('SELECT 10;\n', 'UTF8')), 'hex'))",
			 s.schema, s.schema),
		0);
	sql(&s, q);
	plan = write_plan(&s, "old", "");

	ck_assert_int_eq(deploy(plan, &e), DEPLOY_EXIT_OK);
	assert_events(&e, "migration-started 2\nmigration-applied 2");
	assert_history(&s, "1:false,2:false,10:false");
	free(q);
	ck_assert_int_ge(asprintf(&q,
				  "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE "
				  "attrelid = '%s.history'::regclass AND attname = 'version'",
				  s.schema),
			 0);
	type = value(&s, q);
	ck_assert_str_eq(type, "text");
	strv_free(e.lines);
}
END_TEST

/* ---- adoption ---- */

static const char *dbmate_binary(void)
{
	const char *b = getenv("DEPLOYD_TEST_DBMATE");

	ck_assert_msg(b && access(b, X_OK) == 0,
		      "DEPLOYD_TEST_DBMATE must name the dbmate binary (make check installs it "
		      "with npm)");
	return b;
}

/* Runs the real dbmate with DIR as its migrations directory on the test's schema. */
static void run_dbmate(const Setup *s, const char *dir, const char *verb)
{
	_cleanup_free_ char *url = NULL, *dir_arg = NULL;
	int status;
	pid_t pid;

	ck_assert_int_ge(asprintf(&url,
				  "postgres://deployer@/app?host=%s&port=%s&sslmode=disable&"
				  "search_path=%s",
				  harness_pg_host(), harness_pg_port(), s->schema),
			 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* Its progress lines are not the test's output; its errors are. */
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		execl(dbmate_binary(), "dbmate", "--url", url, "--migrations-dir", dir,
		      "--no-dump-schema", verb, (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "dbmate %s failed", verb);
}

START_TEST(test_adopting_real_dbmate_history_records_it_and_runs_only_the_rest)
{
	_cleanup_(setup_free) Setup s = setup();
	_cleanup_free_ char *plan = NULL, *before = NULL, *after = NULL, *by = NULL, *ran = NULL;
	Events e = {};

	sql(&s, "CREATE TABLE runs (file text)");
	write_text(s.dir, "20240101000001_one.sql",
		   "-- migrate:up\nINSERT INTO runs VALUES ('one');\n-- migrate:down\n");
	write_text(s.dir, "20240101000002_two.sql",
		   "-- migrate:up\nINSERT INTO runs VALUES ('two');\n-- migrate:down\n");
	run_dbmate(&s, s.dir, "up");
	write_text(s.dir, "20240101000003_three.sql",
		   "-- migrate:up\nINSERT INTO runs VALUES ('three');\n-- migrate:down\n");
	before = value(&s, "SELECT string_agg(version, ',' ORDER BY version) FROM "
			   "schema_migrations");
	ck_assert_str_eq(before, "20240101000001,20240101000002");

	plan = write_plan(&s, "adopt", "  format: dbmate\n  adopt: true\n");
	ck_assert_int_eq(deploy(plan, &e), DEPLOY_EXIT_OK);
	assert_events(&e, "migration-adopted 20240101000001\n"
			  "migration-adopted 20240101000002\n"
			  "migration-started 20240101000003\n"
			  "migration-applied 20240101000003");
	assert_history(&s, "20240101000001:true,20240101000002:true,20240101000003:false");
	ran = value(&s, "SELECT string_agg(file, ',') FROM runs");
	ck_assert_str_eq(ran, "one,two,three");
	/* Today's checksums; the requester; dbmate's table untouched. */
	_cleanup_free_ char *q = NULL, *sum = NULL;
	ck_assert_int_ge(
		asprintf(&q,
			 "SELECT checksum = encode(sha256(convert_to('-- migrate:up\n"
			 "INSERT INTO runs VALUES (''one'');\n-- migrate:down\n', 'UTF8')), "
			 "'hex') FROM %s.history WHERE version = '20240101000001'",
			 s.schema),
		0);
	sum = value(&s, q);
	ck_assert_str_eq(sum, "t");
	free(q);
	ck_assert_int_ge(asprintf(&q, "SELECT string_agg(DISTINCT applied_by, ',') FROM %s.history",
				  s.schema),
			 0);
	by = value(&s, q);
	ck_assert_str_eq(by, "alice");
	after = value(&s, "SELECT string_agg(version, ',' ORDER BY version) FROM "
			  "schema_migrations");
	ck_assert_str_eq(after, before);
	strv_free(e.lines);

	/* From now on deployd's table is the truth: dbmate's is not read again. */
	sql(&s, "INSERT INTO schema_migrations VALUES ('20990101000000')");
	Events again = {};
	ck_assert_int_eq(deploy(plan, &again), DEPLOY_EXIT_OK);
	assert_events(&again, "");
}
END_TEST

/* golang-migrate's table, as its postgres driver creates it (database/postgres). */
static void golang_migrate_table(const Setup *s, const char *version, bool dirty)
{
	_cleanup_free_ char *q = NULL;

	ck_assert_int_ge(asprintf(&q,
				  "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint "
				  "not null primary key, dirty boolean not null);"
				  "INSERT INTO schema_migrations (version, dirty) VALUES (%s, %s)",
				  version, dirty ? "true" : "false"),
			 0);
	sql(s, q);
}

START_TEST(test_adopting_golang_migrate_history_adopts_every_file_up_to_its_version)
{
	_cleanup_(setup_free) Setup s = setup();
	_cleanup_free_ char *plan = NULL;
	Events e = {};

	write_text(s.dir, "1_one.up.sql", "CREATE TABLE one (id int);\n");
	write_text(s.dir, "1_one.down.sql", "DROP TABLE one;\n");
	write_text(s.dir, "2_two.up.sql", "CREATE TABLE two (id int);\n");
	write_text(s.dir, "3_three.up.sql", "CREATE TABLE three (id int);\n");
	sql(&s, "CREATE TABLE one (id int); CREATE TABLE two (id int)");
	golang_migrate_table(&s, "2", false);

	plan = write_plan(&s, "adopt", "  format: golang-migrate\n  adopt: true\n");
	ck_assert_int_eq(deploy(plan, &e), DEPLOY_EXIT_OK);
	assert_events(&e, "migration-adopted 1\nmigration-adopted 2\n"
			  "migration-started 3\nmigration-applied 3");
	assert_history(&s, "1:true,2:true,3:false");
	strv_free(e.lines);
}
END_TEST

/* Flyway's history table, as Flyway's PostgreSQL createMetaDataTable.sql creates it. */
static void flyway_table(const Setup *s, const char *rows)
{
	_cleanup_free_ char *q = NULL;

	ck_assert_int_ge(
		asprintf(
			&q,
			"CREATE TABLE flyway_schema_history ("
			"installed_rank INT NOT NULL, version VARCHAR(50), description "
			"VARCHAR(200) NOT NULL, type VARCHAR(20) NOT NULL, script VARCHAR(1000) "
			"NOT NULL, checksum INTEGER, installed_by VARCHAR(100) NOT NULL, "
			"installed_on TIMESTAMP NOT NULL DEFAULT now(), execution_time INTEGER NOT "
			"NULL, success BOOLEAN NOT NULL);"
			"ALTER TABLE flyway_schema_history ADD CONSTRAINT "
			"flyway_schema_history_pk PRIMARY KEY (installed_rank);"
			"CREATE INDEX flyway_schema_history_s_idx ON flyway_schema_history "
			"(success);"
			"INSERT INTO flyway_schema_history (installed_rank, version, description, "
			"type, script, checksum, installed_by, execution_time, success) VALUES %s",
			rows),
		0);
	sql(s, q);
}

START_TEST(test_adopting_flyway_history_takes_its_successful_versioned_rows)
{
	_cleanup_(setup_free) Setup s = setup();
	_cleanup_free_ char *plan = NULL, *rows = NULL;
	Events e = {};

	write_text(s.dir, "V1__init.sql", "CREATE TABLE one (id int);\n");
	write_text(s.dir, "V1.1__more.sql", "CREATE TABLE one_one (id int);\n");
	write_text(s.dir, "V1.2__last.sql", "CREATE TABLE one_two (id int);\n");
	sql(&s, "CREATE TABLE one (id int); CREATE TABLE one_one (id int)");
	flyway_table(&s, "(0, NULL, '<< Flyway Schema Creation >>', 'SCHEMA', '\"s\"', NULL, "
			 "'deployer', 0, true),"
			 "(1, '1', 'init', 'SQL', 'V1__init.sql', 12345, 'deployer', 4, true),"
			 "(2, '1.1', 'more', 'SQL', 'V1.1__more.sql', -42, 'deployer', 3, true)");

	plan = write_plan(&s, "adopt", "  format: flyway\n  adopt: true\n");
	ck_assert_int_eq(deploy(plan, &e), DEPLOY_EXIT_OK);
	assert_events(&e, "migration-adopted 1\nmigration-adopted 1.1\n"
			  "migration-started 1.2\nmigration-applied 1.2");
	assert_history(&s, "1:true,1.1:true,1.2:false");
	rows = value(&s, "SELECT count(*) FROM flyway_schema_history");
	ck_assert_str_eq(rows, "3");
	strv_free(e.lines);
}
END_TEST

START_TEST(test_a_dry_run_reports_what_it_would_adopt_and_apply_and_records_nothing)
{
	_cleanup_(setup_free) Setup s = setup();
	_cleanup_free_ char *plan = NULL;
	Events e = {};

	write_text(s.dir, "V1__init.sql", "CREATE TABLE one (id int);\n");
	write_text(s.dir, "V1.2__last.sql", "CREATE TABLE one_two (id int);\n");
	flyway_table(&s, "(1, '1', 'init', 'SQL', 'V1__init.sql', 1, 'deployer', 4, true)");
	plan = write_plan(&s, "adopt", "  format: flyway\n  adopt: true\n");
	ck_assert_int_eq(deploy_as(plan, true, &e), DEPLOY_EXIT_OK);
	/* The lock forecast names the dotted version too. */
	assert_events(&e, "migration-adopted 1\nmigration-pending 1.2\nlock-forecast 1.2");
	assert_no_history(&s);
	strv_free(e.lines);
}
END_TEST

/* ---- refusals ---- */

START_TEST(test_adoption_is_refused_when_golang_migrate_is_dirty)
{
	_cleanup_(setup_free) Setup s = setup();
	_cleanup_free_ char *plan = NULL;
	Events e = {};

	write_text(s.dir, "1_one.up.sql", "CREATE TABLE one (id int);\n");
	write_text(s.dir, "2_two.up.sql", "CREATE TABLE two (id int);\n");
	golang_migrate_table(&s, "2", true);
	plan = write_plan(&s, "adopt", "  format: golang-migrate\n  adopt: true\n");
	ck_assert_int_eq(deploy(plan, &e), DEPLOY_EXIT_PREFLIGHT);
	assert_deploy_failed_with(&e, "cannot adopt the golang-migrate history: golang-migrate's "
				      "schema_migrations is dirty at version 2");
	assert_no_history(&s);
	strv_free(e.lines);
}
END_TEST

START_TEST(test_adoption_is_refused_when_flyway_records_a_failed_migration)
{
	_cleanup_(setup_free) Setup s = setup();
	_cleanup_free_ char *plan = NULL;
	Events e = {};

	write_text(s.dir, "V1__init.sql", "CREATE TABLE one (id int);\n");
	write_text(s.dir, "V2__broken.sql", "CREATE TABLE two (id int);\n");
	flyway_table(&s, "(1, '1', 'init', 'SQL', 'V1__init.sql', 1, 'deployer', 4, true),"
			 "(2, '2', 'broken', 'SQL', 'V2__broken.sql', 2, 'deployer', 1, false)");
	plan = write_plan(&s, "adopt", "  format: flyway\n  adopt: true\n");
	ck_assert_int_eq(deploy(plan, &e), DEPLOY_EXIT_PREFLIGHT);
	assert_deploy_failed_with(&e, "Flyway's flyway_schema_history records a failed migration "
				      "(version 2, script V2__broken.sql)");
	assert_no_history(&s);
	strv_free(e.lines);
}
END_TEST

START_TEST(test_adoption_is_refused_when_a_recorded_version_has_no_file)
{
	_cleanup_(setup_free) Setup s = setup();
	_cleanup_free_ char *plan = NULL, *other = harness_tmpdir();
	Events e = {};

	/* dbmate applied two files; only one of them is in the directory the plan names. */
	write_text(other, "20240101000001_one.sql", "-- migrate:up\nSELECT 1;\n-- migrate:down\n");
	write_text(other, "20240101000002_two.sql", "-- migrate:up\nSELECT 2;\n-- migrate:down\n");
	run_dbmate(&s, other, "up");
	write_text(s.dir, "20240101000001_one.sql", "-- migrate:up\nSELECT 1;\n-- migrate:down\n");
	plan = write_plan(&s, "adopt", "  format: dbmate\n  adopt: true\n");
	ck_assert_int_eq(deploy(plan, &e), DEPLOY_EXIT_PREFLIGHT);
	assert_deploy_failed_with(&e, "dbmate's schema_migrations records version 20240101000002 "
				      "as applied, but no file of the migration directory has "
				      "that version");
	assert_no_history(&s);
	strv_free(e.lines);
}
END_TEST

START_TEST(test_adoption_is_refused_when_the_tools_table_does_not_exist)
{
	_cleanup_(setup_free) Setup s = setup();
	_cleanup_free_ char *plan = NULL;
	Events e = {};

	write_text(s.dir, "V1__init.sql", "CREATE TABLE one (id int);\n");
	plan = write_plan(&s, "adopt", "  format: flyway\n  adopt: true\n");
	ck_assert_int_eq(deploy(plan, &e), DEPLOY_EXIT_PREFLIGHT);
	assert_deploy_failed_with(&e, "cannot adopt the flyway history: there is no Flyway history "
				      "table flyway_schema_history");
	assert_no_history(&s);
	strv_free(e.lines);
}
END_TEST

/* ---- deployctl pending ---- */

static int run_pending(const char *plan, char *out, size_t size)
{
	int p[2], status;
	size_t n = 0;
	pid_t pid;

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		dup2(p[1], STDERR_FILENO);
		execl(DEPLOYCTL, DEPLOYCTL, "pending", plan, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		ssize_t k = read(p[0], out + n, size - 1 - n);
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	out[n] = '\0';
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(test_pending_shows_dotted_versions_in_order_with_who_applied_and_adoption)
{
	_cleanup_(setup_free) Setup s = setup();
	_cleanup_free_ char *plan = NULL;
	char out[16384];
	Events e = {};

	write_text(s.dir, "V1__init.sql", "CREATE TABLE one (id int);\n");
	write_text(s.dir, "V1.10__b.sql", "CREATE TABLE b (id int);\n");
	sql(&s, "CREATE TABLE one (id int)");
	flyway_table(&s, "(1, '1', 'init', 'SQL', 'V1__init.sql', 1, 'deployer', 4, true)");
	plan = write_plan(&s, "adopt", "  format: flyway\n  adopt: true\n");
	ck_assert_int_eq(deploy(plan, &e), DEPLOY_EXIT_OK);
	write_text(s.dir, "V1.9__a.sql", "CREATE TABLE a (id int);\n");
	write_text(s.dir, "V2__c.sql", "CREATE TABLE c (id int);\n");

	ck_assert_int_eq(run_pending(plan, out, sizeof(out)), 0);
	const char *one = strstr(out, " 1  applied  init"), *a = strstr(out, " 1.9  pending  a"),
		   *b = strstr(out, " 1.10  applied  b"), *c = strstr(out, " 2  pending  c");
	ck_assert_msg(one && a && b && c && one < a && a < b && b < c, "%s", out);
	ck_assert_msg(strstr(one, "alice (adopted)") && strstr(b, "alice\n"), "%s", out);
	strv_free(e.lines);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("formats");
	TCase *tc = tcase_create("formats");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_a_dbmate_directory_runs_only_up_sections_in_timestamp_order);
	tcase_add_test(tc, test_a_golang_migrate_directory_applies_up_files_and_ignores_down_files);
	tcase_add_test(tc, test_a_flyway_directory_orders_dotted_versions_part_by_part);
	tcase_add_test(tc,
		       test_flyway_repeatable_and_undo_scripts_are_refused_before_anything_runs);
	tcase_add_test(tc, test_the_previous_releases_history_table_is_upgraded_in_place);
	tcase_add_test(tc, test_adopting_real_dbmate_history_records_it_and_runs_only_the_rest);
	tcase_add_test(tc,
		       test_adopting_golang_migrate_history_adopts_every_file_up_to_its_version);
	tcase_add_test(tc, test_adopting_flyway_history_takes_its_successful_versioned_rows);
	tcase_add_test(tc,
		       test_a_dry_run_reports_what_it_would_adopt_and_apply_and_records_nothing);
	tcase_add_test(tc, test_adoption_is_refused_when_golang_migrate_is_dirty);
	tcase_add_test(tc, test_adoption_is_refused_when_flyway_records_a_failed_migration);
	tcase_add_test(tc, test_adoption_is_refused_when_a_recorded_version_has_no_file);
	tcase_add_test(tc, test_adoption_is_refused_when_the_tools_table_does_not_exist);
	tcase_add_test(tc,
		       test_pending_shows_dotted_versions_in_order_with_who_applied_and_adoption);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
