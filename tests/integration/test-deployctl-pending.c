/* test-deployctl-pending.c — `deployctl pending` and `deployctl forecast` against the harness's
 * real PostgreSQL: what they list, their exit status, and that they change nothing. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <systemd/sd-id128.h>
#include <unistd.h>

#include <json-c/json.h>

#include "check-run.h"
#include "deploy.h"
#include "harness.h"
#include "pg-cleanup.h"

/* The tests run from the source tree, where make puts the program. */
#define DEPLOYCTL "build/deployctl"

typedef struct Setup {
	char *schema;
	char *dir;  /* migrations */
	char *plan; /* plan file */
	char *conninfo;
} Setup;

static void setup_free(Setup *s)
{
	free(s->schema);
	free(s->dir);
	free(s->plan);
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
	_cleanup_free_ char *create = NULL, *yaml = NULL, *plans = NULL;

	ck_assert_int_eq(sd_id128_randomize(&id), 0);
	ck_assert_int_ge(asprintf(&s.schema, "p_" SD_ID128_FORMAT_STR, SD_ID128_FORMAT_VAL(id)), 0);
	ck_assert_int_ge(asprintf(&create, "CREATE SCHEMA %s", s.schema), 0);
	harness_pg_exec(harness_app_conninfo(), create);
	/* trust authentication ignores the password; it is there to be masked. */
	ck_assert_int_ge(asprintf(&s.conninfo, "%s password=hunter2 options='-c search_path=%s'",
				  harness_app_conninfo(), s.schema),
			 0);
	s.dir = harness_tmpdir();
	plans = harness_tmpdir();
	ck_assert_int_ge(asprintf(&yaml,
				  "version: 1\n"
				  "database:\n"
				  "  conninfo: \"%s\"\n"
				  "services: {units: [app.service]}\n"
				  "migrations:\n"
				  "  directory: %s\n"
				  "  table: %s.history\n",
				  s.conninfo, s.dir, s.schema),
			 0);
	write_text(plans, "pending.yaml", yaml);
	ck_assert_int_ge(asprintf(&s.plan, "%s/pending.yaml", plans), 0);
	return s;
}

/* Applies the directory's migrations through the library, as a deploy would. */
static void deploy(const Setup *s)
{
	_cleanup_free_ char *table = NULL;
	DeployRequest req = {.terminate_idle = -1};

	ck_assert_int_ge(asprintf(&table, "%s.history", s->schema), 0);
	ck_assert_int_eq(deploy_id_new(req.id), 0);
	Plan plan = {
		.name = "pending",
		.database =
			{
				.conninfo_source = PG_CONNINFO_LITERAL,
				.conninfo = s->conninfo,
				.lock_timeout = 5 * USEC_PER_SEC,
				.statement_timeout = 60 * USEC_PER_SEC,
				.idle_in_transaction_session_timeout = 60 * USEC_PER_SEC,
				.connect_timeout = 10 * USEC_PER_SEC,
			},
		.migrations = {.directory = s->dir, .table = table},
	};
	ck_assert_int_eq(deploy_run(&plan, &req, -1, NULL, NULL), DEPLOY_EXIT_OK);
}

typedef struct Output {
	int exit_code;
	char out[65536];
	char err[4096];
} Output;

static void read_all(int fd, char *buf, size_t size)
{
	size_t n = 0;

	for (;;) {
		ssize_t k = read(fd, buf + n, size - 1 - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	buf[n] = '\0';
}

static void run_deployctl(const char *verb, const char *plan, const char *option, Output *o)
{
	int out[2], err[2], status;
	pid_t pid;

	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(err, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		execl(DEPLOYCTL, DEPLOYCTL, verb, plan, option, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	/* Small outputs: stderr cannot fill its pipe while stdout is read. */
	read_all(out[0], o->out, sizeof(o->out));
	read_all(err[0], o->err, sizeof(o->err));
	close(out[0]);
	close(err[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	o->exit_code = WEXITSTATUS(status);
}

static void run_pending(const char *plan, Output *o)
{
	run_deployctl("pending", plan, NULL, o);
}

/* True when some line of text matches the words in order, separated by spaces. */
static bool has_line(const char *text, const char *const *words)
{
	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n') ?: line + strlen(line);
		const char *p = line;
		bool all = true;
		for (size_t i = 0; words[i]; i++) {
			while (p < end && *p == ' ')
				p++;
			size_t len = strlen(words[i]);
			if ((size_t)(end - p) < len || strncmp(p, words[i], len) != 0) {
				all = false;
				break;
			}
			p += len;
		}
		if (all)
			return true;
		line = *end ? end + 1 : NULL;
	}
	return false;
}

#define assert_line(text, ...)                                                                     \
	ck_assert_msg(has_line(text, (const char *const[]){__VA_ARGS__, NULL}),                    \
		      "no line %s in:\n%s", #__VA_ARGS__, text)

START_TEST(test_pending_lists_every_state_and_changes_nothing)
{
	_cleanup_(setup_free) Setup s = setup();
	_cleanup_free_ char *path = NULL, *before = NULL, *after = NULL, *query = NULL;
	Output o = {};

	write_text(s.dir, "1_one.sql", "CREATE TABLE one (id int);\n");
	write_text(s.dir, "2_two.sql", "CREATE TABLE two (id int);\n");
	write_text(s.dir, "3_three.sql", "CREATE TABLE three (id int);\n");
	deploy(&s);
	write_text(s.dir, "2_two.sql", "CREATE TABLE two (id bigint);\n");
	ck_assert_int_ge(asprintf(&path, "%s/3_three.sql", s.dir), 0);
	ck_assert_int_eq(unlink(path), 0);
	write_text(s.dir, "4_four.sql", "CREATE TABLE four (id int);\n");

	ck_assert_int_ge(
		asprintf(&query,
			 "SELECT string_agg(version || ':' || checksum, ',' ORDER BY version) "
			 "FROM %s.history",
			 s.schema),
		0);
	before = harness_pg_value(harness_app_conninfo(), query);
	run_pending(s.plan, &o);
	after = harness_pg_value(harness_app_conninfo(), query);

	ck_assert_int_eq(o.exit_code, 1);
	assert_line(o.out, "1", "applied", "one");
	assert_line(o.out, "2", "changed", "two");
	assert_line(o.out, "3", "missing", "three");
	assert_line(o.out, "4", "pending", "four");
	assert_line(o.out, "1 applied, 1 pending, 1 changed, 1 missing");
	ck_assert_ptr_nonnull(strstr(o.err, "1 applied migration was changed"));
	ck_assert_str_eq(before, after);
	_cleanup_free_ char *four = NULL;
	free(query);
	ck_assert_int_ge(asprintf(&query, "SELECT to_regclass('%s.four') IS NULL", s.schema), 0);
	four = harness_pg_value(harness_app_conninfo(), query);
	ck_assert_str_eq(four, "t");
}
END_TEST

START_TEST(test_pending_on_a_fresh_database_creates_no_history_and_masks_the_password)
{
	_cleanup_(setup_free) Setup s = setup();
	_cleanup_free_ char *query = NULL, *missing = NULL;
	Output o = {};

	write_text(s.dir, "1_one.sql", "CREATE TABLE one (id int);\n");
	write_text(s.dir, "20_twenty.sql", "CREATE TABLE twenty (id int);\n");
	run_pending(s.plan, &o);

	ck_assert_msg(o.exit_code == 0, "%s", o.err);
	ck_assert_ptr_nonnull(strstr(o.out, "(not created yet)"));
	assert_line(o.out, "1", "pending", "one");
	assert_line(o.out, "20", "pending", "twenty");
	assert_line(o.out, "0 applied, 2 pending, 0 changed, 0 missing");
	ck_assert_ptr_nonnull(strstr(o.out, "password=********"));
	ck_assert_ptr_null(strstr(o.out, "hunter2"));
	ck_assert_int_ge(asprintf(&query, "SELECT to_regclass('%s.history') IS NULL", s.schema), 0);
	missing = harness_pg_value(harness_app_conninfo(), query);
	ck_assert_str_eq(missing, "t");
}
END_TEST

START_TEST(test_pending_refuses_bad_migration_files)
{
	_cleanup_(setup_free) Setup s = setup();
	Output o = {};

	write_text(s.dir, "1_one.sql", "-- deployd: no-transactoin\nSELECT 1;\n");
	run_pending(s.plan, &o);
	ck_assert_int_eq(o.exit_code, 1);
	ck_assert_ptr_nonnull(strstr(o.err, "1_one.sql:1: unknown directive 'no-transactoin'"));
}
END_TEST

static void json_putp(json_object **o)
{
	json_object_put(*o);
}

static json_object *at(json_object *o, const char *key)
{
	json_object *v = NULL;

	ck_assert_msg(json_object_object_get_ex(o, key, &v), "no key %s in %s", key,
		      json_object_to_json_string(o));
	return v;
}

static json_object *nth(json_object *array, size_t i)
{
	ck_assert(json_object_is_type(array, json_type_array));
	ck_assert_uint_gt(json_object_array_length(array), i);
	return json_object_array_get_idx(array, i);
}

/* The object's keys, in order, comma separated. */
static char *keys_of(json_object *o)
{
	char *keys = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&keys, &size);

	ck_assert_ptr_nonnull(f);
	json_object_object_foreach(o, key, value)
	{
		(void)value;
		fprintf(f, "%s%s", ftell(f) > 0 ? "," : "", key);
	}
	fclose(f);
	return keys;
}

START_TEST(test_forecast_shows_each_statement_its_locks_and_who_holds_a_conflicting_lock)
{
	_cleanup_(setup_free) Setup s = setup();
	_cleanup_free_ char *outside = harness_db_conninfo("app", "postgres");
	_cleanup_(PQfinishp) PGconn *reader = NULL;
	_cleanup_free_ char *read = NULL, *relation = NULL, *keys = NULL, *pid = NULL;
	_cleanup_free_ char *statement_keys = NULL, *lock_keys = NULL;
	Output o = {}, text = {};

	write_text(s.dir, "1_one.sql", "CREATE TABLE one (id int);\n");
	deploy(&s);
	write_text(s.dir, "2_two.sql",
		   "ALTER TABLE one ADD COLUMN y int;\n\nCREATE INDEX one_y ON one (y);\n");
	reader = harness_pg_connect(outside);
	ck_assert_int_ge(asprintf(&read, "SELECT count(*) FROM %s.one", s.schema), 0);
	PQclear(harness_pg_query(reader, "BEGIN"));
	PQclear(harness_pg_query(reader, read));

	run_deployctl("forecast", s.plan, "--json", &o);
	ck_assert_msg(o.exit_code == 0, "%s", o.err);
	_cleanup_(json_putp) json_object *doc = json_tokener_parse(o.out);
	ck_assert_msg(doc, "not JSON: %s", o.out);
	keys = keys_of(doc);
	ck_assert_str_eq(keys, "migrations,holders");
	ck_assert_int_ge(asprintf(&relation, "%s.one", s.schema), 0);

	json_object *migrations = at(doc, "migrations");
	ck_assert_uint_eq(json_object_array_length(migrations), 1);
	json_object *m = nth(migrations, 0);
	ck_assert_int_eq(json_object_get_int(at(m, "version")), 2);
	ck_assert_str_eq(json_object_get_string(at(m, "name")), "two");
	json_object *alter = nth(at(m, "statements"), 0), *index = nth(at(m, "statements"), 1);
	statement_keys = keys_of(alter);
	ck_assert_str_eq(statement_keys, "line,sql,locks,rewrite,scan");
	ck_assert_int_eq(json_object_get_int(at(alter, "line")), 1);
	ck_assert_str_eq(json_object_get_string(at(alter, "sql")),
			 "ALTER TABLE one ADD COLUMN y int");
	lock_keys = keys_of(nth(at(alter, "locks"), 0));
	ck_assert_str_eq(lock_keys, "relation,mode");
	ck_assert_str_eq(json_object_get_string(at(nth(at(alter, "locks"), 0), "relation")),
			 relation);
	ck_assert_str_eq(json_object_get_string(at(nth(at(alter, "locks"), 0), "mode")),
			 "AccessExclusiveLock");
	ck_assert(!json_object_get_boolean(at(alter, "rewrite")));
	ck_assert_int_eq(json_object_get_int(at(index, "line")), 3);
	ck_assert_str_eq(json_object_get_string(at(nth(at(index, "locks"), 0), "mode")),
			 "ShareLock");
	ck_assert(json_object_get_boolean(at(index, "scan")));

	json_object *holder = nth(at(doc, "holders"), 0);
	ck_assert_int_eq(json_object_get_int(at(holder, "pid")), PQbackendPID(reader));
	ck_assert_str_eq(json_object_get_string(at(holder, "relation")), relation);
	ck_assert_str_eq(json_object_get_string(at(holder, "mode")), "AccessShareLock");
	ck_assert(json_object_get_boolean(at(holder, "granted")));
	ck_assert_str_eq(json_object_get_string(at(holder, "conflicts_with")),
			 "AccessExclusiveLock");

	run_deployctl("forecast", s.plan, NULL, &text);
	ck_assert_msg(text.exit_code == 0, "%s", text.err);
	assert_line(text.out, "line 1: ALTER TABLE one ADD COLUMN y int");
	assert_line(text.out, "AccessExclusiveLock", relation);
	assert_line(text.out, "rewrite: no, scan: yes");
	ck_assert_int_ge(asprintf(&pid, "Session %d holds AccessShareLock", PQbackendPID(reader)),
			 0);
	ck_assert_msg(strstr(text.out, pid), "%s", text.out);
	ck_assert_ptr_null(strstr(text.out, "hunter2"));
}
END_TEST

START_TEST(test_forecast_names_file_line_and_column_of_a_statement_the_parser_refuses)
{
	_cleanup_(setup_free) Setup s = setup();
	Output o = {};

	write_text(s.dir, "1_one.sql", "CREATE TABLE one (id int);\r\nALTER TABLE one ADD;\r\n");
	run_deployctl("forecast", s.plan, NULL, &o);
	ck_assert_int_eq(o.exit_code, 1);
	ck_assert_msg(strstr(o.err, "1_one.sql:2:20: syntax error at or near \";\""), "%s", o.err);
	ck_assert_str_eq(o.out, "");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("deployctl-pending");
	TCase *tc = tcase_create("deployctl-pending");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_pending_lists_every_state_and_changes_nothing);
	tcase_add_test(tc,
		       test_pending_on_a_fresh_database_creates_no_history_and_masks_the_password);
	tcase_add_test(tc, test_pending_refuses_bad_migration_files);
	tcase_add_test(
		tc, test_forecast_shows_each_statement_its_locks_and_who_holds_a_conflicting_lock);
	tcase_add_test(tc,
		       test_forecast_names_file_line_and_column_of_a_statement_the_parser_refuses);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
