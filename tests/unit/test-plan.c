/* Plans: every key and default, and the exact FILE:LINE:COLUMN of every refusal. */
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check-run.h"
#include "plan.h"
#include "strv.h"

/* A plan without its units (for refusals); text appended to it starts on line 6. */
#define BASE                                                                                       \
	"version: 1\n"                                                                             \
	"database:\n"                                                                              \
	"  conninfo: \"dbname=prosaas\"\n"                                                         \
	"migrations:\n"                                                                            \
	"  directory: /srv/m\n"
/* A minimal valid plan: one unit, then BASE; text appended to it continues migrations. */
#define UNIT "services: {units: [app.service]}\n"
#define VALID UNIT BASE

static Plan *parse_ok(const char *yaml, size_t size)
{
	_cleanup_free_ char *error = NULL;
	Plan *p = NULL;
	int r = plan_parse("test.yaml", yaml, size, &p, &error);

	ck_assert_msg(r == 0, "plan refused (%d): %s\n--\n%s", r, error ? error : "(no message)",
		      yaml);
	ck_assert_ptr_nonnull(p);
	return p;
}
#define PARSE_OK(yaml) parse_ok(yaml, sizeof(yaml) - 1)

/* Asserts the plan is refused with "test.yaml:POSITION: " and every word in the message. */
static void check_error(const char *yaml, size_t size, const char *position, ...)
{
	_cleanup_(plan_freep) Plan *p = NULL;
	_cleanup_free_ char *error = NULL, *prefix = NULL;
	const char *word;
	va_list ap;
	int r = plan_parse("test.yaml", yaml, size, &p, &error);

	ck_assert_msg(r == -EBADMSG, "expected -EBADMSG, got %d (%s) for:\n%.300s", r,
		      error ? error : "no message", yaml);
	ck_assert_ptr_null(p);
	ck_assert_ptr_nonnull(error);
	ck_assert_msg(!strchr(error, '\n'), "error is not one line: %s", error);
	ck_assert_int_ge(asprintf(&prefix, "test.yaml:%s: ", position), 0);
	ck_assert_msg(strncmp(error, prefix, strlen(prefix)) == 0, "error '%s' is not at '%s'",
		      error, prefix);
	va_start(ap, position);
	while ((word = va_arg(ap, const char *)))
		ck_assert_msg(strstr(error, word), "error '%s' lacks '%s'", error, word);
	va_end(ap);
}
#define ASSERT_ERROR(yaml, position, ...)                                                          \
	check_error(yaml, sizeof(yaml) - 1, position, __VA_ARGS__, (const char *)NULL)

static char *write_temp_plan(const char *data, size_t size)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *path;
	int fd;

	ck_assert_int_ge(asprintf(&path, "%s/test-plan-XXXXXX.yaml", dir), 0);
	fd = mkstemps(path, 5);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, size), (ssize_t)size);
	close(fd);
	return path;
}

/* ---- valid plans ---- */

START_TEST(test_migrations_format_and_adopt_are_parsed_with_their_defaults)
{
	_cleanup_(plan_freep) Plan *d = PARSE_OK(VALID);
	_cleanup_(plan_freep) Plan *f = PARSE_OK(VALID "  format: flyway\n  adopt: true\n");
	_cleanup_(plan_freep) Plan *g = PARSE_OK(VALID "  format: golang-migrate\n");

	ck_assert_int_eq(d->migrations.format, MIGRATIONS_FORMAT_DEPLOYD);
	ck_assert(!d->migrations.adopt);
	ck_assert_int_eq(f->migrations.format, MIGRATIONS_FORMAT_FLYWAY);
	ck_assert(f->migrations.adopt);
	ck_assert_int_eq(g->migrations.format, MIGRATIONS_FORMAT_GOLANG_MIGRATE);
	ck_assert(!g->migrations.adopt);
}
END_TEST

START_TEST(test_a_bad_format_or_adopt_without_another_tool_is_refused)
{
	ASSERT_ERROR(BASE "  format: liquibase\n", "6:11",
		     "migrations.format: expected deployd, dbmate, golang-migrate or flyway, got "
		     "'liquibase'");
	ASSERT_ERROR(BASE "  adopt: true\n", "6:3",
		     "migrations.adopt: true needs migrations.format: dbmate, golang-migrate or "
		     "flyway");
	ASSERT_ERROR(BASE "  format: deployd\n  adopt: true\n", "7:3", "migrations.adopt");
	ASSERT_ERROR("version: 1\n"
		     "database:\n"
		     "  conninfo: \"dbname=prosaas\"\n"
		     "migrations:\n"
		     "  command: [/usr/bin/migrate]\n"
		     "  format: dbmate\n",
		     "6:3", "migrations.format is only allowed with migrations.directory");
}
END_TEST

START_TEST(test_every_key_is_parsed)
{
	_cleanup_(plan_freep) Plan *p = PARSE_OK("version: 1\n"
						 "description: prosaas staging\n"
						 "database:\n"
						 "  conninfo_env: PROSAAS_DB\n"
						 "  lock_timeout: 3s\n"
						 "  statement_timeout: 0\n"
						 "  idle_in_transaction_session_timeout: 2min\n"
						 "  connect_timeout: 4s\n"
						 "services:\n"
						 "  bus: user\n"
						 "  units: [a.service, b@1.service, c.timer]\n"
						 "  stop_timeout: 30s\n"
						 "  start_timeout: 1min\n"
						 "  settle: 2s\n"
						 "idle_transactions:\n"
						 "  terminate: true\n"
						 "  older_than: 5min\n"
						 "migrations:\n"
						 "  directory: /srv/prosaas/migrations\n"
						 "  table: app.history\n"
						 "  lock_retries: 3\n"
						 "  lock_retry_delay: 250ms\n"
						 "  lock_watch_interval: 100ms\n"
						 "on_failure: start\n"
						 "hooks:\n"
						 "  before_stop: [/bin/echo, before]\n"
						 "  after_migrate: [[/bin/a], [/bin/b, x]]\n"
						 "  after_start: []\n"
						 "  timeout: 15s\n");

	ck_assert_int_eq(p->version, 1);
	ck_assert_str_eq(p->description, "prosaas staging");
	ck_assert_int_eq(p->database.conninfo_source, PG_CONNINFO_ENV);
	ck_assert_str_eq(p->database.conninfo, "PROSAAS_DB");
	ck_assert_uint_eq(p->database.lock_timeout, 3 * USEC_PER_SEC);
	ck_assert_uint_eq(p->database.statement_timeout, 0);
	ck_assert_uint_eq(p->database.idle_in_transaction_session_timeout, 2 * USEC_PER_MINUTE);
	ck_assert_uint_eq(p->database.connect_timeout, 4 * USEC_PER_SEC);
	ck_assert_int_eq(p->services.bus, UNITS_BUS_USER);
	ck_assert_uint_eq(strv_length(p->services.units), 3);
	ck_assert_str_eq(p->services.units[0], "a.service");
	ck_assert_str_eq(p->services.units[1], "b@1.service");
	ck_assert_str_eq(p->services.units[2], "c.timer");
	ck_assert_uint_eq(p->services.stop_timeout, 30 * USEC_PER_SEC);
	ck_assert_uint_eq(p->services.start_timeout, USEC_PER_MINUTE);
	ck_assert_uint_eq(p->services.settle, 2 * USEC_PER_SEC);
	ck_assert(p->idle_transactions.terminate);
	ck_assert_uint_eq(p->idle_transactions.older_than, 5 * USEC_PER_MINUTE);
	ck_assert_str_eq(p->migrations.directory, "/srv/prosaas/migrations");
	ck_assert_ptr_null(p->migrations.command);
	ck_assert_ptr_null(p->migrations.working_directory);
	ck_assert_ptr_null(p->migrations.environment);
	ck_assert_str_eq(p->migrations.table, "app.history");
	ck_assert_uint_eq(p->migrations.lock_retries, 3);
	ck_assert_uint_eq(p->migrations.lock_retry_delay, 250 * USEC_PER_MSEC);
	ck_assert_uint_eq(p->migrations.lock_watch_interval, 100 * USEC_PER_MSEC);
	ck_assert_int_eq(p->on_failure, PLAN_ON_FAILURE_START);
	ck_assert_uint_eq(p->hooks.before_stop.n_commands, 1);
	ck_assert_str_eq(p->hooks.before_stop.commands[0][0], "/bin/echo");
	ck_assert_str_eq(p->hooks.before_stop.commands[0][1], "before");
	ck_assert_ptr_null(p->hooks.before_stop.commands[0][2]);
	ck_assert_ptr_null(p->hooks.before_stop.commands[1]);
	ck_assert_uint_eq(p->hooks.after_migrate.n_commands, 2);
	ck_assert_str_eq(p->hooks.after_migrate.commands[0][0], "/bin/a");
	ck_assert_ptr_null(p->hooks.after_migrate.commands[0][1]);
	ck_assert_str_eq(p->hooks.after_migrate.commands[1][0], "/bin/b");
	ck_assert_str_eq(p->hooks.after_migrate.commands[1][1], "x");
	ck_assert_ptr_null(p->hooks.after_migrate.commands[2]);
	ck_assert_uint_eq(p->hooks.after_start.n_commands, 0);
	ck_assert_ptr_nonnull(p->hooks.after_start.commands);
	ck_assert_ptr_null(p->hooks.after_start.commands[0]);
	ck_assert_uint_eq(p->hooks.timeout, 15 * USEC_PER_SEC);
	ck_assert_str_eq(p->path, "test.yaml");
	ck_assert_str_eq(p->name, "test");
}
END_TEST

START_TEST(test_every_default_is_filled_in)
{
	_cleanup_(plan_freep) Plan *p = PARSE_OK(VALID);

	ck_assert_int_eq(p->version, 1);
	ck_assert_ptr_null(p->description);
	ck_assert_int_eq(p->database.conninfo_source, PG_CONNINFO_LITERAL);
	ck_assert_str_eq(p->database.conninfo, "dbname=prosaas");
	ck_assert_uint_eq(p->database.lock_timeout, 5 * USEC_PER_SEC);
	ck_assert_uint_eq(p->database.statement_timeout, 120 * USEC_PER_SEC);
	ck_assert_uint_eq(p->database.idle_in_transaction_session_timeout, 60 * USEC_PER_SEC);
	ck_assert_uint_eq(p->database.connect_timeout, 10 * USEC_PER_SEC);
	ck_assert_int_eq(p->services.bus, UNITS_BUS_SYSTEM);
	ck_assert_ptr_nonnull(p->services.units);
	ck_assert_uint_eq(strv_length(p->services.units), 1);
	ck_assert_ptr_null(p->services.remote);
	ck_assert_uint_eq(p->services.n_remote, 0);
	ck_assert_uint_eq(plan_n_units(p), 1);
	ck_assert_uint_eq(p->services.stop_timeout, 90 * USEC_PER_SEC);
	ck_assert_uint_eq(p->services.start_timeout, 90 * USEC_PER_SEC);
	ck_assert_uint_eq(p->services.settle, 0);
	ck_assert(!p->idle_transactions.terminate);
	ck_assert_uint_eq(p->idle_transactions.older_than, 60 * USEC_PER_SEC);
	ck_assert_str_eq(p->migrations.table, PLAN_DEFAULT_TABLE);
	ck_assert_uint_eq(p->migrations.lock_retries, 0);
	ck_assert_uint_eq(p->migrations.lock_retry_delay, 10 * USEC_PER_SEC);
	ck_assert_uint_eq(p->migrations.lock_watch_interval, 500 * USEC_PER_MSEC);
	ck_assert_int_eq(p->on_failure, PLAN_ON_FAILURE_LEAVE_STOPPED);
	ck_assert_uint_eq(p->hooks.before_stop.n_commands, 0);
	ck_assert_ptr_nonnull(p->hooks.before_stop.commands);
	ck_assert_uint_eq(p->hooks.after_migrate.n_commands, 0);
	ck_assert_ptr_nonnull(p->hooks.after_migrate.commands);
	ck_assert_uint_eq(p->hooks.after_start.n_commands, 0);
	ck_assert_ptr_nonnull(p->hooks.after_start.commands);
	ck_assert_uint_eq(p->hooks.timeout, 60 * USEC_PER_SEC);
}
END_TEST

START_TEST(test_command_migrations_keep_argv_environment_and_working_directory)
{
	_cleanup_(plan_freep) Plan *p = PARSE_OK(
		UNIT "version: 1\n"
		     "database: {credential: prosaas-db}\n"
		     "migrations:\n"
		     "  command: [/srv/prosaas/venv/bin/python, -m, server.db_migrate, '']\n"
		     "  working_directory: /srv/prosaas\n"
		     "  environment:\n"
		     "    FLASK_ENV: production\n"
		     "    WORKERS: 4\n"
		     "    EMPTY: \"\"\n");

	ck_assert_int_eq(p->database.conninfo_source, PG_CONNINFO_CREDENTIAL);
	ck_assert_str_eq(p->database.conninfo, "prosaas-db");
	ck_assert_ptr_null(p->migrations.directory);
	ck_assert_uint_eq(strv_length(p->migrations.command), 4);
	ck_assert_str_eq(p->migrations.command[0], "/srv/prosaas/venv/bin/python");
	ck_assert_str_eq(p->migrations.command[2], "server.db_migrate");
	ck_assert_str_eq(p->migrations.command[3], "");
	ck_assert_str_eq(p->migrations.working_directory, "/srv/prosaas");
	ck_assert_uint_eq(strv_length(p->migrations.environment), 3);
	ck_assert_str_eq(p->migrations.environment[0], "FLASK_ENV=production");
	ck_assert_str_eq(p->migrations.environment[1], "WORKERS=4");
	ck_assert_str_eq(p->migrations.environment[2], "EMPTY=");
	ck_assert_ptr_null(p->migrations.table);
}
END_TEST

START_TEST(test_command_without_environment_gets_an_empty_one)
{
	_cleanup_(plan_freep) Plan *p = PARSE_OK(UNIT "version: 1\n"
						      "database: {conninfo_file: /etc/prosaas/db}\n"
						      "migrations: {command: [migrate]}\n");

	ck_assert_int_eq(p->database.conninfo_source, PG_CONNINFO_FILE);
	ck_assert_str_eq(p->database.conninfo, "/etc/prosaas/db");
	ck_assert_ptr_nonnull(p->migrations.environment);
	ck_assert_uint_eq(strv_length(p->migrations.environment), 0);
	ck_assert_ptr_null(p->migrations.working_directory);
}
END_TEST

START_TEST(test_zero_turns_off_the_durations_that_allow_it)
{
	_cleanup_(plan_freep) Plan *p =
		PARSE_OK(BASE "  lock_retry_delay: 0\n"
			      "  lock_watch_interval: 0\n"
			      "services: {settle: 0s, units: [a.service]}\n");

	ck_assert_uint_eq(p->migrations.lock_retry_delay, 0);
	ck_assert_uint_eq(p->migrations.lock_watch_interval, 0);
	ck_assert_uint_eq(p->services.settle, 0);
}
END_TEST

START_TEST(test_preflight_wait_defaults_to_10s_and_0_turns_it_off)
{
	_cleanup_(plan_freep) Plan *d = PARSE_OK(VALID);
	_cleanup_(plan_freep) Plan *p =
		PARSE_OK("version: 1\n"
			 "database: {conninfo: \"dbname=x\", preflight_wait: 0}\n" UNIT
			 "migrations: {directory: /srv/m}\n");

	ck_assert_uint_eq(d->database.preflight_wait, 10 * USEC_PER_SEC);
	ck_assert_uint_eq(p->database.preflight_wait, 0);
}
END_TEST

#define UNIT_AND "services:\n  units: [app.service]\n"

START_TEST(test_services_sessions_holds_user_and_application_globs)
{
	_cleanup_(plan_freep) Plan *none = PARSE_OK(VALID);
	_cleanup_(plan_freep) Plan *p = PARSE_OK(
		BASE UNIT_AND
		"  sessions:\n    users: [app_*, worker]\n    applications: [\"api-?\"]\n");

	ck_assert_ptr_null(none->services.sessions.users);
	ck_assert_ptr_null(none->services.sessions.applications);
	ck_assert_str_eq(p->services.sessions.users[0], "app_*");
	ck_assert_str_eq(p->services.sessions.users[1], "worker");
	ck_assert_ptr_null(p->services.sessions.users[2]);
	ck_assert_str_eq(p->services.sessions.applications[0], "api-?");
	ASSERT_ERROR(BASE UNIT_AND "  sessions:\n    users: []\n", "9:12",
		     "services.sessions.users", "non-empty list");
	ASSERT_ERROR(BASE UNIT_AND "  sessions:\n    hosts: [a]\n", "9:5", "unknown key 'hosts'");
}
END_TEST

START_TEST(test_postgresql_uri_conninfo_is_accepted)
{
	_cleanup_(plan_freep) Plan *p = PARSE_OK(
		UNIT "version: 1\n"
		     "database: {conninfo: \"postgresql://deployer@db.internal/prosaas\"}\n"
		     "migrations: {directory: /m}\n");

	ck_assert_str_eq(p->database.conninfo, "postgresql://deployer@db.internal/prosaas");
}
END_TEST

START_TEST(test_byte_order_mark_crlf_and_comments_are_accepted)
{
	_cleanup_(plan_freep) Plan *p = PARSE_OK("\xef\xbb\xbf# prosaas\r\n"
						 "version: 1 # the format\r\n"
						 "description: \"caf\xc3\xa9 \xe2\x9c\x93\"\r\n"
						 "database: {conninfo: \"dbname=x\"}\r\n"
						 "migrations: {directory: /m}\r\n" UNIT);

	ck_assert_str_eq(p->description, "caf\xc3\xa9 \xe2\x9c\x93");
}
END_TEST

START_TEST(test_name_is_the_file_name_without_yaml_extension)
{
	static const struct {
		const char *path, *name;
	} cases[] = {
		{"/etc/deployd/plans/prosaas.yaml", "prosaas"},
		{"prosaas.yml", "prosaas"},
		{"dir.d/prosaas", "prosaas"},
		{"a.b.yaml", "a.b"},
		{"/x/.yaml", ".yaml"},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_(plan_freep) Plan *p = NULL;
		_cleanup_free_ char *error = NULL;
		ck_assert_int_eq(plan_parse(cases[i].path, VALID, strlen(VALID), &p, &error), 0);
		ck_assert_str_eq(p->name, cases[i].name);
		ck_assert_str_eq(p->path, cases[i].path);
	}
}
END_TEST

START_TEST(test_plan_load_reads_a_file)
{
	_cleanup_free_ char *path = write_temp_plan(VALID, strlen(VALID));
	_cleanup_(plan_freep) Plan *p = NULL;
	_cleanup_free_ char *error = NULL;
	int r = plan_load(path, &p, &error);

	unlink(path);
	ck_assert_msg(r == 0, "%s", error);
	ck_assert_str_eq(p->path, path);
	ck_assert_str_eq(p->migrations.directory, "/srv/m");
}
END_TEST

START_TEST(test_plan_load_names_the_file_and_errno_when_it_cannot_read)
{
	_cleanup_(plan_freep) Plan *p = NULL;
	_cleanup_free_ char *error = NULL;
	int r = plan_load("/nonexistent/deployd/plan.yaml", &p, &error);

	ck_assert_int_eq(r, -ENOENT);
	ck_assert_ptr_null(p);
	ck_assert_str_eq(error, "/nonexistent/deployd/plan.yaml: cannot read plan: No such file "
				"or directory");
}
END_TEST

START_TEST(test_plan_load_refuses_a_file_over_1_mib_at_the_first_byte_past_it)
{
	size_t size = PLAN_MAX_BYTES + 100;
	_cleanup_free_ char *data = malloc(size);
	_cleanup_free_ char *path = NULL, *error = NULL, *expected = NULL;
	_cleanup_(plan_freep) Plan *p = NULL;
	size_t prefix = strlen(BASE "description: ");

	memcpy(data, BASE "description: ", prefix);
	memset(data + prefix, 'x', size - prefix - 1);
	data[size - 1] = '\n';
	path = write_temp_plan(data, size);
	int r = plan_load(path, &p, &error);
	unlink(path);

	ck_assert_int_eq(r, -EBADMSG);
	/* Line 6 starts at byte `prefix - 13`; byte PLAN_MAX_BYTES is in that line. */
	ck_assert_int_ge(asprintf(&expected, "%s:6:%zu: plan is larger than 1 MiB", path,
				  PLAN_MAX_BYTES - (prefix - strlen("description: ")) + 1),
			 0);
	ck_assert_msg(strncmp(error, expected, strlen(expected)) == 0, "'%s' is not '%s…'", error,
		      expected);
}
END_TEST

START_TEST(test_a_plan_of_exactly_1_mib_is_accepted)
{
	size_t size = PLAN_MAX_BYTES;
	_cleanup_free_ char *data = malloc(size);
	size_t prefix = strlen(VALID "# ");

	memcpy(data, VALID "# ", prefix);
	memset(data + prefix, 'x', size - prefix - 1);
	data[size - 1] = '\n';
	_cleanup_(plan_freep) Plan *p = parse_ok(data, size);
	ck_assert_str_eq(p->migrations.directory, "/srv/m");
}
END_TEST

START_TEST(test_plan_paths_for_names)
{
	_cleanup_free_ char *path = NULL, *path2 = NULL;
	char *untouched = NULL;

	ck_assert_int_eq(plan_path_for_name("/etc/deployd/plans", "prosaas", &path), 0);
	ck_assert_str_eq(path, "/etc/deployd/plans/prosaas.yaml");
	ck_assert_int_eq(plan_path_for_name("/etc/deployd/plans/", "prosaas", &path2), 0);
	ck_assert_str_eq(path2, "/etc/deployd/plans/prosaas.yaml");
	ck_assert_int_eq(plan_path_for_name("/etc", "../passwd", &untouched), -EINVAL);
	ck_assert_ptr_null(untouched);
}
END_TEST

START_TEST(test_enum_names_match_the_plan_format)
{
	ck_assert_str_eq(plan_bus_to_string(UNITS_BUS_SYSTEM), "system");
	ck_assert_str_eq(plan_bus_to_string(UNITS_BUS_USER), "user");
	ck_assert_str_eq(plan_on_failure_to_string(PLAN_ON_FAILURE_LEAVE_STOPPED), "leave-stopped");
	ck_assert_str_eq(plan_on_failure_to_string(PLAN_ON_FAILURE_START), "start");
	ck_assert_str_eq(plan_conninfo_source_to_string(PG_CONNINFO_LITERAL), "conninfo");
	ck_assert_str_eq(plan_conninfo_source_to_string(PG_CONNINFO_ENV), "conninfo_env");
	ck_assert_str_eq(plan_conninfo_source_to_string(PG_CONNINFO_FILE), "conninfo_file");
	ck_assert_str_eq(plan_conninfo_source_to_string(PG_CONNINFO_CREDENTIAL), "credential");
}
END_TEST

/* ---- refusals: unknown keys and types ---- */

START_TEST(test_unknown_top_level_key_is_an_error_with_a_suggestion)
{
	ASSERT_ERROR(BASE "servces:\n  bus: user\n", "6:1", "unknown key 'servces'",
		     "did you mean 'services'?");
}
END_TEST

START_TEST(test_unknown_key_in_a_section_suggests_the_close_key)
{
	ASSERT_ERROR("version: 1\n"
		     "database:\n"
		     "  conninfo: \"dbname=x\"\n"
		     "  lock_timout: 5s\n"
		     "migrations: {directory: /m}\n",
		     "4:3", "unknown key 'lock_timout' in database",
		     "did you mean 'lock_timeout'?");
}
END_TEST

START_TEST(test_swapped_letters_count_as_one_edit_in_suggestions)
{
	ASSERT_ERROR(BASE "  tabel: x\n", "6:3", "unknown key 'tabel' in migrations",
		     "did you mean 'table'?");
}
END_TEST

START_TEST(test_key_of_another_section_names_its_section)
{
	ASSERT_ERROR(BASE "lock_timeout: 5s\n", "6:1", "unknown key 'lock_timeout'",
		     "did you mean 'database.lock_timeout'?");
	ASSERT_ERROR(BASE "services:\n  on_failure: start\n", "7:3",
		     "unknown key 'on_failure' in services", "belongs at the top level");
}
END_TEST

START_TEST(test_unknown_key_without_a_close_match_lists_the_known_keys)
{
	ASSERT_ERROR(BASE "services:\n  restart_everything: yes\n", "7:3",
		     "unknown key 'restart_everything' in services",
		     "known keys: bus, units, remote, stop_timeout, start_timeout, settle");
}
END_TEST

START_TEST(test_a_section_that_is_not_a_mapping_is_a_type_error)
{
	ASSERT_ERROR("version: 1\ndatabase: 5\nmigrations: {directory: /m}\n", "2:11",
		     "database: expected a mapping, got a string");
	ASSERT_ERROR(BASE "services: [a.service]\n", "6:11",
		     "services: expected a mapping, got a list");
	ASSERT_ERROR(BASE "idle_transactions: true\n", "6:20",
		     "idle_transactions: expected a mapping, got a string");
	ASSERT_ERROR("version: 1\ndatabase: {conninfo: \"dbname=x\"}\nmigrations:\n", "3:12",
		     "migrations: expected a mapping, got an empty value");
	ASSERT_ERROR(BASE "hooks:\n- [a]\n", "7:1", "hooks: expected a mapping, got a list");
}
END_TEST

START_TEST(test_a_list_where_a_string_belongs_is_a_type_error)
{
	ASSERT_ERROR(BASE "description: [a, b]\n", "6:14",
		     "description: expected a string, got a list");
	ASSERT_ERROR(BASE "on_failure: {x: 1}\n", "6:13",
		     "on_failure: expected a string, got a mapping");
}
END_TEST

START_TEST(test_a_key_that_is_not_a_string_is_an_error)
{
	ASSERT_ERROR(BASE "? [a]\n: b\n", "6:3", "keys must be strings, got a list");
}
END_TEST

/* ---- refusals: version and required keys ---- */

START_TEST(test_missing_version_is_reported_at_the_top_level_mapping)
{
	ASSERT_ERROR("# prosaas\n"
		     "database: {conninfo: \"dbname=x\"}\n"
		     "migrations: {directory: /m}\n",
		     "2:1", "missing required key 'version'");
}
END_TEST

START_TEST(test_version_2_is_unsupported_even_with_unknown_keys)
{
	ASSERT_ERROR("version: 2\nrollout: canary\n", "1:10",
		     "version:", "unsupported plan version 2", "reads version 1");
}
END_TEST

START_TEST(test_a_quoted_or_fractional_version_is_not_the_number_1)
{
	ASSERT_ERROR("version: \"1\"\n", "1:10", "version: expected the number 1",
		     "the quoted string '1'");
	ASSERT_ERROR("version: 1.0\n", "1:10", "version: expected the number 1", "'1.0'");
}
END_TEST

START_TEST(test_missing_database_is_reported_at_the_top_level_mapping)
{
	ASSERT_ERROR("version: 1\nmigrations: {directory: /m}\n", "1:1",
		     "missing required key 'database'");
}
END_TEST

START_TEST(test_missing_migrations_is_reported_at_the_top_level_mapping)
{
	ASSERT_ERROR("version: 1\ndatabase: {conninfo: \"dbname=x\"}\n", "1:1",
		     "missing required key 'migrations'");
}
END_TEST

/* ---- refusals: exactly-one-of and only-with rules ---- */

START_TEST(test_two_conninfo_sources_conflict_at_the_second)
{
	ASSERT_ERROR("version: 1\n"
		     "database:\n"
		     "  conninfo: \"dbname=x\"\n"
		     "  credential: prosaas-db\n"
		     "migrations: {directory: /m}\n",
		     "4:3", "database: credential conflicts with conninfo (line 3)",
		     "exactly one of conninfo, conninfo_env, conninfo_file, credential");
}
END_TEST

START_TEST(test_no_conninfo_source_is_reported_at_the_database_mapping)
{
	ASSERT_ERROR("version: 1\n"
		     "database:\n"
		     "  lock_timeout: 5s\n"
		     "migrations: {directory: /m}\n",
		     "3:3", "database: no connection given",
		     "exactly one of conninfo, conninfo_env, conninfo_file, credential");
}
END_TEST

START_TEST(test_directory_and_command_conflict)
{
	ASSERT_ERROR(BASE "  command: [migrate]\n", "6:3",
		     "migrations: command conflicts with directory (line 5)",
		     "exactly one of directory, command");
}
END_TEST

START_TEST(test_neither_directory_nor_command_is_an_error)
{
	ASSERT_ERROR("version: 1\n"
		     "database: {conninfo: \"dbname=x\"}\n"
		     "migrations: {table: history}\n",
		     "3:13", "migrations: no migration source given",
		     "exactly one of directory, command");
}
END_TEST

START_TEST(test_working_directory_and_environment_need_a_command)
{
	ASSERT_ERROR(BASE "  working_directory: /srv\n", "6:3",
		     "migrations.working_directory is only allowed with migrations.command");
	ASSERT_ERROR(BASE "  environment: {A: b}\n", "6:3",
		     "migrations.environment is only allowed with migrations.command");
}
END_TEST

START_TEST(test_table_needs_a_directory)
{
	ASSERT_ERROR("version: 1\n"
		     "database: {conninfo: \"dbname=x\"}\n"
		     "migrations:\n"
		     "  command: [migrate]\n"
		     "  table: history\n",
		     "5:3", "migrations.table is only allowed with migrations.directory");
}
END_TEST

/* ---- refusals: values ---- */

START_TEST(test_unit_name_without_suffix_is_refused_at_the_item)
{
	ASSERT_ERROR(BASE "services:\n  units: [prosaas-api.service, prosaas-worker]\n", "7:32",
		     "services.units: 'prosaas-worker' is not a valid unit name",
		     "no unit type suffix");
}
END_TEST

START_TEST(test_unit_name_with_a_bad_character_is_refused)
{
	ASSERT_ERROR(BASE "services:\n  units:\n    - \"api server.service\"\n", "8:7",
		     "'api server.service' is not a valid unit name", "character");
}
END_TEST

START_TEST(test_template_unit_is_refused)
{
	ASSERT_ERROR(BASE "services:\n  units: [prosaas-worker@.service]\n", "7:11",
		     "services.units: 'prosaas-worker@.service' is a template");
}
END_TEST

START_TEST(test_unit_listed_twice_is_refused_at_the_second)
{
	ASSERT_ERROR(BASE "services:\n  units:\n    - a.service\n    - b.service\n"
			  "    - a.service\n",
		     "10:7", "'a.service' is listed twice (first at line 8)");
}
END_TEST

START_TEST(test_units_that_are_not_a_list_are_refused)
{
	ASSERT_ERROR(BASE "services:\n  units: a.service\n", "7:10",
		     "services.units: expected a list of unit names, got a string");
	ASSERT_ERROR(BASE "services:\n  units: [[a.service]]\n", "7:11",
		     "services.units: expected a string, got a list");
}
END_TEST

START_TEST(test_duration_with_unknown_unit_is_refused)
{
	ASSERT_ERROR(BASE "services:\n  stop_timeout: 90sec\n", "7:17",
		     "services.stop_timeout: invalid duration '90sec'", "unknown unit");
}
END_TEST

START_TEST(test_duration_without_unit_is_refused)
{
	ASSERT_ERROR(BASE "services:\n  start_timeout: 90\n", "7:18",
		     "services.start_timeout: invalid duration '90'", "missing unit");
}
END_TEST

START_TEST(test_negative_duration_is_refused)
{
	ASSERT_ERROR(BASE "idle_transactions:\n  older_than: -5min\n", "7:15",
		     "idle_transactions.older_than: invalid duration '-5min'", "negative");
}
END_TEST

START_TEST(test_overflowing_duration_is_refused)
{
	ASSERT_ERROR(BASE "hooks:\n  timeout: 99999999999999999999h\n", "7:12",
		     "hooks.timeout: invalid duration '99999999999999999999h'", "too large");
}
END_TEST

START_TEST(test_zero_is_refused_where_it_cannot_mean_off)
{
	ASSERT_ERROR("version: 1\n"
		     "database:\n"
		     "  conninfo: \"dbname=x\"\n"
		     "  lock_timeout: 0\n"
		     "migrations: {directory: /m}\n",
		     "4:17", "database.lock_timeout: must be greater than 0");
}
END_TEST

START_TEST(test_postgresql_timeout_beyond_int_milliseconds_is_refused)
{
	ASSERT_ERROR("version: 1\n"
		     "database:\n"
		     "  conninfo: \"dbname=x\"\n"
		     "  statement_timeout: 597h\n"
		     "migrations: {directory: /m}\n",
		     "4:22", "database.statement_timeout: '597h' is more than PostgreSQL accepts");
}
END_TEST

START_TEST(test_a_list_where_a_duration_belongs_is_refused)
{
	ASSERT_ERROR(BASE "services: {settle: [5s]}\n", "6:20",
		     "services.settle: expected a duration such as 5s, got a list");
}
END_TEST

START_TEST(test_unknown_bus_is_refused)
{
	ASSERT_ERROR(BASE "services:\n  bus: session\n", "7:8",
		     "services.bus: expected system or user, got 'session'");
}
END_TEST

START_TEST(test_unknown_on_failure_is_refused)
{
	ASSERT_ERROR(BASE "on_failure: restart\n", "6:13",
		     "on_failure: expected leave-stopped or start, got 'restart'");
}
END_TEST

START_TEST(test_yes_and_quoted_true_are_not_booleans)
{
	ASSERT_ERROR(BASE "idle_transactions:\n  terminate: yes\n", "7:14",
		     "idle_transactions.terminate: expected true or false, got 'yes'");
	ASSERT_ERROR(BASE "idle_transactions:\n  terminate: \"true\"\n", "7:14",
		     "expected true or false, got the quoted string 'true'");
}
END_TEST

START_TEST(test_lock_retries_must_be_a_small_whole_number)
{
	ASSERT_ERROR(BASE "  lock_retries: 101\n", "6:17",
		     "migrations.lock_retries: expected a whole number from 0 to 100, got '101'");
	ASSERT_ERROR(BASE "  lock_retries: -1\n", "6:17", "got '-1'");
	ASSERT_ERROR(BASE "  lock_retries: 99999999999999999999999\n", "6:17", "from 0 to 100");
}
END_TEST

START_TEST(test_bad_table_names_are_refused)
{
	ASSERT_ERROR(BASE "  table: 1history\n", "6:10",
		     "migrations.table: '1history' is not a table name");
	ASSERT_ERROR(BASE "  table: a.b.c\n", "6:10", "'a.b.c' is not a table name");
	ASSERT_ERROR(BASE "  table: \"history; drop table x\"\n", "6:10", "is not a table name");
	ASSERT_ERROR(BASE "  table: public.\n", "6:10", "'public.' is not a table name");
	ASSERT_ERROR(
		BASE
		"  table: s.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
		"6:10", "is not a table name", "at most 63");
}
END_TEST

START_TEST(test_a_63_character_schema_qualified_table_is_accepted)
{
	_cleanup_(plan_freep) Plan *p = PARSE_OK(
		VALID
		"  table: _s9.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n");

	ck_assert_uint_eq(strlen(strchr(p->migrations.table, '.') + 1), 63);
}
END_TEST

START_TEST(test_relative_paths_are_refused)
{
	ASSERT_ERROR("version: 1\n"
		     "database: {conninfo: \"dbname=x\"}\n"
		     "migrations:\n"
		     "  directory: srv/migrations\n",
		     "4:14",
		     "migrations.directory: expected an absolute path, got 'srv/migrations'");
}
END_TEST

START_TEST(test_bad_conninfo_is_refused_without_echoing_it)
{
	ASSERT_ERROR("version: 1\n"
		     "database:\n"
		     "  conninfo: \"host=db password=hunter2 sslmode\"\n"
		     "migrations: {directory: /m}\n",
		     "3:13", "database.conninfo: not a valid libpq connection string");

	_cleanup_free_ char *error = NULL;
	_cleanup_(plan_freep) Plan *p = NULL;
	const char *yaml = "version: 1\n"
			   "database: {conninfo: \"host=db password=hunter2 sslmode\"}\n"
			   "migrations: {directory: /m}\n";
	ck_assert_int_eq(plan_parse("t.yaml", yaml, strlen(yaml), &p, &error), -EBADMSG);
	ck_assert_ptr_null(strstr(error, "hunter2"));
}
END_TEST

START_TEST(test_bad_conninfo_env_and_credential_names_are_refused)
{
	ASSERT_ERROR("version: 1\ndatabase:\n  conninfo_env: 9DB\nmigrations: {directory: /m}\n",
		     "3:17", "database.conninfo_env: '9DB' is not an environment variable name");
	ASSERT_ERROR("version: 1\ndatabase:\n  credential: ../db\nmigrations: {directory: /m}\n",
		     "3:15", "database.credential: '../db' is not a credential name");
}
END_TEST

START_TEST(test_environment_with_a_bad_variable_name_is_refused)
{
	ASSERT_ERROR("version: 1\n"
		     "database: {conninfo: \"dbname=x\"}\n"
		     "migrations:\n"
		     "  command: [migrate]\n"
		     "  environment:\n"
		     "    FLASK_ENV: production\n"
		     "    FLASK-DEBUG: 1\n",
		     "7:5",
		     "migrations.environment: 'FLASK-DEBUG' is not an environment variable name");
}
END_TEST

START_TEST(test_environment_cannot_set_what_deployd_sets)
{
	ASSERT_ERROR("version: 1\n"
		     "database: {conninfo: \"dbname=x\"}\n"
		     "migrations:\n"
		     "  command: [migrate]\n"
		     "  environment: {DATABASE_URL: \"postgres://x\"}\n",
		     "5:17", "migrations.environment: DATABASE_URL is set by deployd");
}
END_TEST

START_TEST(test_environment_value_must_be_a_string)
{
	ASSERT_ERROR("version: 1\n"
		     "database: {conninfo: \"dbname=x\"}\n"
		     "migrations:\n"
		     "  command: [migrate]\n"
		     "  environment:\n"
		     "    A: [1]\n",
		     "6:8", "migrations.environment: A: expected a string", "got a list");
}
END_TEST

START_TEST(test_environment_variable_given_twice_is_refused)
{
	ASSERT_ERROR("version: 1\n"
		     "database: {conninfo: \"dbname=x\"}\n"
		     "migrations:\n"
		     "  command: [migrate]\n"
		     "  environment:\n"
		     "    A: x\n"
		     "    B: y\n"
		     "    A: z\n",
		     "8:5", "migrations.environment: duplicate variable A (first at line 6)");
}
END_TEST

START_TEST(test_empty_command_argv_is_refused)
{
	ASSERT_ERROR("version: 1\n"
		     "database: {conninfo: \"dbname=x\"}\n"
		     "migrations:\n"
		     "  command: []\n",
		     "4:12", "migrations.command: the command is empty");
	ASSERT_ERROR("version: 1\n"
		     "database: {conninfo: \"dbname=x\"}\n"
		     "migrations:\n"
		     "  command: ['', x]\n",
		     "4:13", "migrations.command: the program (first element) must not be empty");
}
END_TEST

START_TEST(test_command_that_is_a_string_is_refused)
{
	ASSERT_ERROR("version: 1\n"
		     "database: {conninfo: \"dbname=x\"}\n"
		     "migrations:\n"
		     "  command: python -m migrate\n",
		     "4:12", "migrations.command: expected a command as a list of strings",
		     "got a string");
}
END_TEST

START_TEST(test_hook_entry_that_is_not_a_string_is_refused)
{
	ASSERT_ERROR(BASE "hooks:\n  before_stop: [/bin/check, [x]]\n", "7:29",
		     "hooks.before_stop: each argument must be a string, got a list");
	ASSERT_ERROR(BASE "hooks:\n  after_start: [/bin/check, {a: b}]\n", "7:29",
		     "hooks.after_start: each argument must be a string, got a mapping");
	ASSERT_ERROR(BASE "hooks:\n  after_start: [/bin/check, ~]\n", "7:29",
		     "each argument must be a string, got an empty value");
}
END_TEST

START_TEST(test_hook_list_of_commands_must_hold_only_lists)
{
	ASSERT_ERROR(BASE "hooks:\n  after_migrate:\n    - [/bin/a]\n    - /bin/b\n", "9:7",
		     "hooks.after_migrate: in a list of commands each entry must be a list");
	ASSERT_ERROR(BASE "hooks:\n  after_migrate: [[/bin/a], []]\n", "7:29",
		     "hooks.after_migrate: the command is empty");
}
END_TEST

START_TEST(test_hook_that_is_a_string_is_refused)
{
	ASSERT_ERROR(BASE "hooks:\n  before_stop: /usr/bin/true\n", "7:16",
		     "hooks.before_stop: expected a command as a list", "got a string");
}
END_TEST

START_TEST(test_description_must_not_be_empty)
{
	ASSERT_ERROR(BASE "description: \"\"\n", "6:14", "description: must not be empty");
	ASSERT_ERROR(BASE "description:\n", "6:13",
		     "description: expected a string, got an empty value");
}
END_TEST

/* ---- refusals: YAML and bytes ---- */

START_TEST(test_alias_is_refused)
{
	ASSERT_ERROR(BASE "description: *name\n", "6:14", "aliases are not allowed", "'*name'");
}
END_TEST

START_TEST(test_anchor_is_refused)
{
	ASSERT_ERROR("version: 1\n"
		     "database: &db\n"
		     "  conninfo: \"dbname=x\"\n"
		     "migrations: {directory: /m}\n",
		     "2:11", "anchors are not allowed", "'&db'");
}
END_TEST

START_TEST(test_tag_is_refused)
{
	ASSERT_ERROR(BASE "description: !!str prosaas\n", "6:14", "tags are not allowed");
}
END_TEST

START_TEST(test_duplicate_key_is_refused_at_the_second)
{
	ASSERT_ERROR(BASE "database:\n  conninfo: \"dbname=y\"\n", "6:1",
		     "duplicate key 'database' (first at line 2)");
	ASSERT_ERROR("version: 1\n"
		     "database:\n"
		     "  conninfo: \"dbname=x\"\n"
		     "  lock_timeout: 5s\n"
		     "  lock_timeout: 6s\n"
		     "migrations: {directory: /m}\n",
		     "5:3", "duplicate key 'lock_timeout' (first at line 4)");
}
END_TEST

START_TEST(test_yaml_syntax_error_is_reported_where_libyaml_found_it)
{
	ASSERT_ERROR("version: 1\n"
		     "database: {conninfo: \"dbname=x\"\n"
		     "migrations: {directory: /m}\n",
		     "3:1", "YAML syntax error", "did not find expected ',' or '}'");
	ASSERT_ERROR(BASE "  bad: \"unterminated\n", "7:1", "YAML syntax error", "end of stream");
}
END_TEST

START_TEST(test_tab_indentation_is_a_syntax_error)
{
	ASSERT_ERROR(BASE "\tfoo: 1\n", "6:1", "YAML syntax error", "tab");
}
END_TEST

START_TEST(test_non_utf8_byte_is_reported_at_its_line_and_column)
{
	/* "café" in Latin-1: the é byte is the 17th character of line 6. */
	ASSERT_ERROR(BASE "description: caf\xe9\n", "6:17", "invalid UTF-8 (byte 0xe9)");
	/* Columns count characters: "✓" is one column though three bytes. */
	ASSERT_ERROR(BASE "description: \xe2\x9c\x93\xc0\xaf\n", "6:15",
		     "invalid UTF-8 (byte 0xc0)");
	/* A UTF-16 surrogate encoded in UTF-8 is not valid UTF-8. */
	ASSERT_ERROR(BASE "# \xed\xa0\x80\n", "6:3", "invalid UTF-8 (byte 0xed)");
	/* Truncated at the end of the file. */
	ASSERT_ERROR(BASE "# \xe2\x9c", "6:3", "invalid UTF-8 (byte 0xe2)");
}
END_TEST

START_TEST(test_nul_byte_is_refused_at_its_position)
{
	ASSERT_ERROR(BASE "description: pro\0saas\n", "6:17", "NUL byte");
}
END_TEST

START_TEST(test_nul_escape_in_a_quoted_string_is_refused)
{
	ASSERT_ERROR(BASE "description: \"pro\\0saas\"\n", "6:14", "NUL characters");
}
END_TEST

START_TEST(test_control_character_is_refused_at_its_position)
{
	ASSERT_ERROR(BASE "description: pro\asaas\n", "6:17", "control characters");
}
END_TEST

START_TEST(test_plan_over_1_mib_is_refused_in_memory_too)
{
	size_t size = PLAN_MAX_BYTES + 1;
	_cleanup_free_ char *data = malloc(size);
	_cleanup_free_ char *position = NULL;

	memset(data, '\n', size);
	/* Every byte is a line break, so byte PLAN_MAX_BYTES starts line PLAN_MAX_BYTES + 1. */
	ck_assert_int_ge(asprintf(&position, "%d:1", PLAN_MAX_BYTES + 1), 0);
	check_error(data, size, position, "plan is larger than 1 MiB", (const char *)NULL);
}
END_TEST

START_TEST(test_empty_file_is_refused)
{
	ASSERT_ERROR("", "1:1", "empty plan");
	ASSERT_ERROR("# nothing yet\n\n", "1:1", "empty plan");
	ASSERT_ERROR("---\n...\n", "2:1", "empty plan");
}
END_TEST

START_TEST(test_top_level_that_is_not_a_mapping_is_refused)
{
	ASSERT_ERROR("- version: 1\n", "1:1", "a plan is a mapping of keys", "got a list");
	ASSERT_ERROR("prosaas\n", "1:1", "a plan is a mapping of keys", "got a string");
}
END_TEST

START_TEST(test_second_document_is_refused)
{
	ASSERT_ERROR(BASE "---\nversion: 1\n", "6:1", "one YAML document");
}
END_TEST

START_TEST(test_deep_nesting_is_refused_before_it_costs_anything)
{
	ASSERT_ERROR(BASE "hooks: {before_stop: "
			  "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}\n",
		     "6:36", "nesting deeper than 16 levels");
}
END_TEST

/* ---- hostile input ---- */

/* A deterministic xorshift generator: the same mutations on every run. */
static uint64_t next_random(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

START_TEST(test_mutated_plans_never_crash_and_fail_with_a_position)
{
	static const char plan[] = "version: 1\n"
				   "description: prosaas \xe2\x9c\x93\n"
				   "database:\n"
				   "  conninfo: \"host=/run/postgresql dbname=prosaas\"\n"
				   "  lock_timeout: 5s\n"
				   "services:\n"
				   "  bus: system\n"
				   "  units: [a.service, b@1.service]\n"
				   "idle_transactions: {terminate: false, older_than: 1min}\n"
				   "migrations:\n"
				   "  command: [/usr/bin/migrate, -v]\n"
				   "  environment: {A: b}\n"
				   "on_failure: start\n"
				   "hooks:\n"
				   "  before_stop: [[/bin/a], [/bin/b, '1']]\n";
	static const char interesting[] = "\0\n\t :-[]{},&*!|>'\"%@`#?\\\xff\xc3\xe2";
	char buf[sizeof(plan) + 8];
	uint64_t state = 0x9e3779b97f4a7c15ULL;
	unsigned refused = 0;

	for (int round = 0; round < 3000; round++) {
		size_t size = sizeof(plan) - 1;
		memcpy(buf, plan, size);
		for (int k = 0, n = 1 + (int)(next_random(&state) % 4); k < n && size > 0; k++) {
			size_t at = next_random(&state) % size;
			uint64_t what = next_random(&state);
			if (what % 3 == 0)
				buf[at] = interesting[(what >> 8) % (sizeof(interesting) - 1)];
			else if (what % 3 == 1)
				buf[at] = (char)(what >> 16);
			else
				size = at; /* truncate */
		}

		_cleanup_(plan_freep) Plan *p = NULL;
		_cleanup_free_ char *error = NULL;
		int r = plan_parse("fuzz.yaml", buf, size, &p, &error);
		if (r == 0) {
			ck_assert_ptr_nonnull(p);
			continue;
		}
		refused++;
		ck_assert_int_eq(r, -EBADMSG);
		ck_assert_ptr_null(p);
		ck_assert_msg(strncmp(error, "fuzz.yaml:", 10) == 0 && !strchr(error, '\n'),
			      "bad error line: %s", error);
		unsigned line, column;
		ck_assert_msg(sscanf(error, "fuzz.yaml:%u:%u: ", &line, &column) == 2 &&
				      line >= 1 && column >= 1,
			      "no position in: %s", error);
	}
	/* The mutations must actually have exercised the refusals. */
	ck_assert_uint_gt(refused, 1000);
}
END_TEST

/* ---- services.remote ---- */

START_TEST(test_remote_hosts_are_parsed_with_their_bus_and_units)
{
	_cleanup_(plan_freep) Plan *p =
		PARSE_OK(BASE "services:\n"
			      "  units: [prosaas-api.service]\n"
			      "  remote:\n"
			      "    - host: deploy@app2.internal\n"
			      "      units: [prosaas-api.service, prosaas-worker.service]\n"
			      "    - host: app3:2222\n"
			      "      bus: user\n"
			      "      units: [prosaas-scheduler.service]\n"
			      "    - host: \"ops@[fd00::7]:22\"\n"
			      "      bus: system\n"
			      "      units: [prosaas-api.service]\n");

	ck_assert_uint_eq(p->services.n_remote, 3);
	ck_assert_str_eq(p->services.remote[0].host, "deploy@app2.internal");
	ck_assert_int_eq(p->services.remote[0].bus, UNITS_BUS_SYSTEM);
	ck_assert_uint_eq(strv_length(p->services.remote[0].units), 2);
	ck_assert_str_eq(p->services.remote[0].units[1], "prosaas-worker.service");
	ck_assert_str_eq(p->services.remote[1].host, "app3:2222");
	ck_assert_int_eq(p->services.remote[1].bus, UNITS_BUS_USER);
	ck_assert_str_eq(p->services.remote[1].units[0], "prosaas-scheduler.service");
	ck_assert_str_eq(p->services.remote[2].host, "ops@[fd00::7]:22");
	/* The units of this host are still this host's. */
	ck_assert_uint_eq(strv_length(p->services.units), 1);
	ck_assert_uint_eq(plan_n_units(p), 5);
}
END_TEST

START_TEST(test_an_empty_remote_list_means_no_remote_hosts)
{
	_cleanup_(plan_freep) Plan *p =
		PARSE_OK(BASE "services:\n  units: [a.service]\n  remote: []\n");

	ck_assert_uint_eq(p->services.n_remote, 0);
	ck_assert_ptr_null(p->services.remote);
}
END_TEST

START_TEST(test_one_host_may_appear_once_per_bus)
{
	_cleanup_(plan_freep) Plan *p =
		PARSE_OK(BASE "services:\n"
			      "  remote:\n"
			      "    - {host: app2, units: [a.service]}\n"
			      "    - {host: app2, bus: user, units: [a.service]}\n");

	ck_assert_uint_eq(p->services.n_remote, 2);
}
END_TEST

START_TEST(test_remote_that_is_not_a_list_of_mappings_is_refused)
{
	ASSERT_ERROR(BASE "services:\n  remote: app2\n", "7:11",
		     "services.remote: expected a list of hosts", "got a string");
	ASSERT_ERROR(BASE "services:\n  remote:\n    - app2\n", "8:7",
		     "services.remote: expected a mapping, got a string");
}
END_TEST

START_TEST(test_remote_host_and_units_are_required)
{
	ASSERT_ERROR(BASE "services:\n  remote:\n    - units: [a.service]\n", "8:7",
		     "services.remote: missing required key 'host'");
	ASSERT_ERROR(BASE "services:\n  remote:\n    - host: app2\n", "8:7",
		     "services.remote: missing required key 'units'");
	ASSERT_ERROR(BASE "services:\n  remote:\n    - host: app2\n      units: []\n", "9:14",
		     "services.remote.units: a remote host needs at least one unit");
}
END_TEST

START_TEST(test_unknown_key_in_a_remote_host_is_refused_with_a_suggestion)
{
	ASSERT_ERROR(BASE "services:\n  remote:\n    - hots: app2\n      units: [a.service]\n",
		     "8:7", "unknown key 'hots' in services.remote", "did you mean 'host'?");
	ASSERT_ERROR(BASE "services:\n  remote:\n    - host: app2\n      units: [a.service]\n"
			  "      stop_timeout: 5s\n",
		     "10:7", "unknown key 'stop_timeout' in services.remote",
		     "did you mean 'services.stop_timeout'?");
}
END_TEST

START_TEST(test_bad_remote_units_and_bus_are_refused_at_the_item)
{
	ASSERT_ERROR(BASE "services:\n  remote:\n    - host: app2\n"
			  "      units: [a.service, worker]\n",
		     "9:26", "services.remote.units: 'worker' is not a valid unit name");
	ASSERT_ERROR(BASE "services:\n  remote:\n    - host: app2\n"
			  "      units: [a.service, a.service]\n",
		     "9:26", "services.remote.units: 'a.service' is listed twice");
	ASSERT_ERROR(BASE "services:\n  remote:\n    - host: app2\n      bus: session\n"
			  "      units: [a.service]\n",
		     "9:12", "services.remote.bus: expected system or user, got 'session'");
}
END_TEST

START_TEST(test_a_host_that_ssh_could_misread_is_refused)
{
	ASSERT_ERROR(BASE "services:\n  remote:\n    - host: -oProxyCommand=sh\n"
			  "      units: [a.service]\n",
		     "8:13", "services.remote.host: '-oProxyCommand=sh' is not an ssh destination",
		     "not beginning with '-'");
	ASSERT_ERROR(BASE "services:\n  remote:\n    - host: \"app2; reboot\"\n"
			  "      units: [a.service]\n",
		     "8:13", "services.remote.host: 'app2; reboot' is not an ssh destination");
	ASSERT_ERROR(BASE "services:\n  remote:\n    - host: \"deploy@\"\n"
			  "      units: [a.service]\n",
		     "8:13", "it has no host name");
	ASSERT_ERROR(BASE "services:\n  remote:\n    - host: app2:0\n"
			  "      units: [a.service]\n",
		     "8:13", "has a port that is not a number from 1 to 65535");
	ASSERT_ERROR(BASE "services:\n  remote:\n    - host: [app2]\n"
			  "      units: [a.service]\n",
		     "8:13", "services.remote.host: expected a string, got a list");
}
END_TEST

START_TEST(test_a_host_listed_twice_with_one_bus_is_refused_at_the_second)
{
	ASSERT_ERROR(BASE "services:\n"
			  "  remote:\n"
			  "    - {host: app2, units: [a.service]}\n"
			  "    - {host: app3, units: [a.service]}\n"
			  "    - {host: app2, bus: system, units: [b.service]}\n",
		     "10:14", "services.remote.host: 'app2' is listed twice with bus system",
		     "first at line 8");
}
END_TEST

START_TEST(test_a_plan_naming_no_unit_is_refused_where_the_units_belong)
{
	ASSERT_ERROR(BASE, "1:1", "missing required key 'services'", "services.remote",
		     "no migration runs under a live app");
	ASSERT_ERROR(BASE "services:\n  bus: user\n", "7:3", "services.units: no unit named",
		     "no migration runs under a live app");
	ASSERT_ERROR(BASE "services:\n  units: []\n  remote: []\n", "7:10",
		     "services.units: no unit named");
}
END_TEST

START_TEST(test_session_settings_come_from_the_plan)
{
	PlanDatabase db = {
		.lock_timeout = 1,
		.statement_timeout = 2,
		.idle_in_transaction_session_timeout = 3,
		.connect_timeout = 4,
	};
	PgSessionSettings s = plan_database_session_settings(&db, "deployd/x");

	ck_assert_str_eq(s.application_name, "deployd/x");
	ck_assert_uint_eq(s.lock_timeout, 1);
	ck_assert_uint_eq(s.statement_timeout, 2);
	ck_assert_uint_eq(s.idle_in_transaction_session_timeout, 3);
	ck_assert_uint_eq(s.connect_timeout, 4);
	ck_assert(!s.read_only);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("plan");
	TCase *valid = tcase_create("valid");
	TCase *refused = tcase_create("refused");
	TCase *hostile = tcase_create("hostile");

	tcase_add_test(refused, test_a_plan_naming_no_unit_is_refused_where_the_units_belong);

	tcase_add_test(valid, test_every_key_is_parsed);
	tcase_add_test(valid, test_every_default_is_filled_in);
	tcase_add_test(valid, test_command_migrations_keep_argv_environment_and_working_directory);
	tcase_add_test(valid, test_command_without_environment_gets_an_empty_one);
	tcase_add_test(valid, test_zero_turns_off_the_durations_that_allow_it);
	tcase_add_test(valid, test_preflight_wait_defaults_to_10s_and_0_turns_it_off);
	tcase_add_test(valid, test_services_sessions_holds_user_and_application_globs);
	tcase_add_test(valid, test_postgresql_uri_conninfo_is_accepted);
	tcase_add_test(valid, test_byte_order_mark_crlf_and_comments_are_accepted);
	tcase_add_test(valid, test_name_is_the_file_name_without_yaml_extension);
	tcase_add_test(valid, test_plan_load_reads_a_file);
	tcase_add_test(valid, test_plan_load_names_the_file_and_errno_when_it_cannot_read);
	tcase_add_test(valid, test_plan_load_refuses_a_file_over_1_mib_at_the_first_byte_past_it);
	tcase_add_test(valid, test_a_plan_of_exactly_1_mib_is_accepted);
	tcase_add_test(valid, test_plan_paths_for_names);
	tcase_add_test(valid, test_enum_names_match_the_plan_format);
	tcase_add_test(valid, test_a_63_character_schema_qualified_table_is_accepted);
	tcase_add_test(valid, test_remote_hosts_are_parsed_with_their_bus_and_units);
	tcase_add_test(valid, test_an_empty_remote_list_means_no_remote_hosts);
	tcase_add_test(valid, test_one_host_may_appear_once_per_bus);
	tcase_add_test(valid, test_session_settings_come_from_the_plan);
	suite_add_tcase(s, valid);

	tcase_add_test(valid, test_migrations_format_and_adopt_are_parsed_with_their_defaults);
	tcase_add_test(refused, test_a_bad_format_or_adopt_without_another_tool_is_refused);
	tcase_add_test(refused, test_unknown_top_level_key_is_an_error_with_a_suggestion);
	tcase_add_test(refused, test_unknown_key_in_a_section_suggests_the_close_key);
	tcase_add_test(refused, test_swapped_letters_count_as_one_edit_in_suggestions);
	tcase_add_test(refused, test_key_of_another_section_names_its_section);
	tcase_add_test(refused, test_unknown_key_without_a_close_match_lists_the_known_keys);
	tcase_add_test(refused, test_a_section_that_is_not_a_mapping_is_a_type_error);
	tcase_add_test(refused, test_a_list_where_a_string_belongs_is_a_type_error);
	tcase_add_test(refused, test_a_key_that_is_not_a_string_is_an_error);
	tcase_add_test(refused, test_missing_version_is_reported_at_the_top_level_mapping);
	tcase_add_test(refused, test_version_2_is_unsupported_even_with_unknown_keys);
	tcase_add_test(refused, test_a_quoted_or_fractional_version_is_not_the_number_1);
	tcase_add_test(refused, test_missing_database_is_reported_at_the_top_level_mapping);
	tcase_add_test(refused, test_missing_migrations_is_reported_at_the_top_level_mapping);
	tcase_add_test(refused, test_two_conninfo_sources_conflict_at_the_second);
	tcase_add_test(refused, test_no_conninfo_source_is_reported_at_the_database_mapping);
	tcase_add_test(refused, test_directory_and_command_conflict);
	tcase_add_test(refused, test_neither_directory_nor_command_is_an_error);
	tcase_add_test(refused, test_working_directory_and_environment_need_a_command);
	tcase_add_test(refused, test_table_needs_a_directory);
	tcase_add_test(refused, test_unit_name_without_suffix_is_refused_at_the_item);
	tcase_add_test(refused, test_unit_name_with_a_bad_character_is_refused);
	tcase_add_test(refused, test_template_unit_is_refused);
	tcase_add_test(refused, test_unit_listed_twice_is_refused_at_the_second);
	tcase_add_test(refused, test_units_that_are_not_a_list_are_refused);
	tcase_add_test(refused, test_remote_that_is_not_a_list_of_mappings_is_refused);
	tcase_add_test(refused, test_remote_host_and_units_are_required);
	tcase_add_test(refused, test_unknown_key_in_a_remote_host_is_refused_with_a_suggestion);
	tcase_add_test(refused, test_bad_remote_units_and_bus_are_refused_at_the_item);
	tcase_add_test(refused, test_a_host_that_ssh_could_misread_is_refused);
	tcase_add_test(refused, test_a_host_listed_twice_with_one_bus_is_refused_at_the_second);
	tcase_add_test(refused, test_duration_with_unknown_unit_is_refused);
	tcase_add_test(refused, test_duration_without_unit_is_refused);
	tcase_add_test(refused, test_negative_duration_is_refused);
	tcase_add_test(refused, test_overflowing_duration_is_refused);
	tcase_add_test(refused, test_zero_is_refused_where_it_cannot_mean_off);
	tcase_add_test(refused, test_postgresql_timeout_beyond_int_milliseconds_is_refused);
	tcase_add_test(refused, test_a_list_where_a_duration_belongs_is_refused);
	tcase_add_test(refused, test_unknown_bus_is_refused);
	tcase_add_test(refused, test_unknown_on_failure_is_refused);
	tcase_add_test(refused, test_yes_and_quoted_true_are_not_booleans);
	tcase_add_test(refused, test_lock_retries_must_be_a_small_whole_number);
	tcase_add_test(refused, test_bad_table_names_are_refused);
	tcase_add_test(refused, test_relative_paths_are_refused);
	tcase_add_test(refused, test_bad_conninfo_is_refused_without_echoing_it);
	tcase_add_test(refused, test_bad_conninfo_env_and_credential_names_are_refused);
	tcase_add_test(refused, test_environment_with_a_bad_variable_name_is_refused);
	tcase_add_test(refused, test_environment_cannot_set_what_deployd_sets);
	tcase_add_test(refused, test_environment_value_must_be_a_string);
	tcase_add_test(refused, test_environment_variable_given_twice_is_refused);
	tcase_add_test(refused, test_empty_command_argv_is_refused);
	tcase_add_test(refused, test_command_that_is_a_string_is_refused);
	tcase_add_test(refused, test_hook_entry_that_is_not_a_string_is_refused);
	tcase_add_test(refused, test_hook_list_of_commands_must_hold_only_lists);
	tcase_add_test(refused, test_hook_that_is_a_string_is_refused);
	tcase_add_test(refused, test_description_must_not_be_empty);
	tcase_add_test(refused, test_alias_is_refused);
	tcase_add_test(refused, test_anchor_is_refused);
	tcase_add_test(refused, test_tag_is_refused);
	tcase_add_test(refused, test_duplicate_key_is_refused_at_the_second);
	tcase_add_test(refused, test_yaml_syntax_error_is_reported_where_libyaml_found_it);
	tcase_add_test(refused, test_tab_indentation_is_a_syntax_error);
	tcase_add_test(refused, test_non_utf8_byte_is_reported_at_its_line_and_column);
	tcase_add_test(refused, test_nul_byte_is_refused_at_its_position);
	tcase_add_test(refused, test_nul_escape_in_a_quoted_string_is_refused);
	tcase_add_test(refused, test_control_character_is_refused_at_its_position);
	tcase_add_test(refused, test_plan_over_1_mib_is_refused_in_memory_too);
	tcase_add_test(refused, test_empty_file_is_refused);
	tcase_add_test(refused, test_top_level_that_is_not_a_mapping_is_refused);
	tcase_add_test(refused, test_second_document_is_refused);
	tcase_add_test(refused, test_deep_nesting_is_refused_before_it_costs_anything);
	suite_add_tcase(s, refused);

	/* Generous: only a hang should trip it, also under valgrind. */
	tcase_set_timeout(hostile, 300);
	tcase_add_test(hostile, test_mutated_plans_never_crash_and_fail_with_a_position);
	suite_add_tcase(s, hostile);

	return check_run_suite(s);
}
