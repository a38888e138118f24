/* test-deployctl-locks-idle.c — `deployctl locks` and `deployctl idle` against the harness's
 * real PostgreSQL: what they show, what they end, their exit status. */
#include <check.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check-run.h"
#include "harness.h"
#include "pg-cleanup.h"
#include "sessions.h"

/* The tests run from the source tree, where make puts the program. */
#define DEPLOYCTL "build/deployctl"

typedef struct Output {
	char out[65536];
	char err[8192];
	int exit_code;
} Output;

static void write_file(const char *path, const char *text)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
}

/* A plan file for database app as user (deployer when NULL), with a password to be masked. */
static char *write_plan(const char *user)
{
	_cleanup_free_ char *dir = harness_tmpdir(), *yaml = NULL, *conninfo = NULL;
	char *path;

	ck_assert_int_ge(asprintf(&conninfo, "%s password=hunter2%s%s", harness_app_conninfo(),
				  user ? " user=" : "", user ?: ""),
			 0);
	ck_assert_int_ge(asprintf(&yaml,
				  "version: 1\n"
				  "database:\n"
				  "  conninfo: \"%s\"\n"
				  "services:\n"
				  "  bus: user\n"
				  "  units: [app.service]\n"
				  "migrations:\n"
				  "  directory: %s\n",
				  conninfo, dir),
			 0);
	ck_assert_int_ge(asprintf(&path, "%s/app.yaml", dir), 0);
	write_file(path, yaml);
	return path;
}

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

/* Runs deployctl with argv (NULL-terminated, without the program). */
static void run(Output *o, const char *const *args)
{
	const char *argv[16] = {DEPLOYCTL};
	int out[2], err[2], status;
	size_t n = 1;
	pid_t pid;

	for (; args[n - 1]; n++) {
		ck_assert_uint_lt(n, ELEMENTSOF(argv) - 1);
		argv[n] = args[n - 1];
	}
	argv[n] = NULL;
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(err, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		execv(DEPLOYCTL, (char **)argv);
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

#define RUN(o, ...) run(o, (const char *const[]){__VA_ARGS__, NULL})

static void assert_contains(const char *text, const char *part)
{
	ck_assert_msg(strstr(text, part), "\"%s\" not in:\n%s", part, text);
}

/* An idle reader of table holding AccessShareLock, and a session waiting for
 * AccessExclusiveLock behind it. */
static void reader_and_waiter(const char *table, PGconn **ret_reader, PGconn **ret_waiter)
{
	_cleanup_(PQfinishp) PGconn *observer = test_observer();
	_cleanup_free_ char *select = NULL, *alter = NULL;
	PGconn *reader, *waiter;

	test_create_table(table);
	ck_assert_int_ge(asprintf(&select, "SELECT count(*) FROM %s", table), 0);
	ck_assert_int_ge(asprintf(&alter, "ALTER TABLE %s ADD COLUMN c int", table), 0);
	reader = test_session(harness_app_user_conninfo(), "api");
	test_exec(reader, "BEGIN");
	test_exec(reader, select);
	waiter = test_session(harness_app_conninfo(), "other-migration");
	ck_assert(PQsendQuery(waiter, alter));
	test_wait_until_waiting(observer, PQbackendPID(waiter));
	*ret_reader = reader;
	*ret_waiter = waiter;
}

START_TEST(test_locks_names_the_blocker_of_a_waiting_session)
{
	_cleanup_(PQfinishp) PGconn *reader = NULL, *waiter = NULL;
	_cleanup_free_ char *plan = write_plan(NULL), *expected = NULL;
	Output o;

	reader_and_waiter("lw_verb_locks", &reader, &waiter);
	RUN(&o, "locks", plan);

	ck_assert_int_eq(o.exit_code, 0);
	assert_contains(o.out, "1 session of database app waits on a lock:");
	ck_assert_int_ge(asprintf(&expected, "Session (pid %d) has waited ", PQbackendPID(waiter)),
			 0);
	assert_contains(o.out, expected);
	free(expected);
	ck_assert_int_ge(asprintf(&expected,
				  "for AccessExclusiveLock on public.lw_verb_locks; pid %d holds "
				  "AccessShareLock on it (user app_user, application api, client "
				  "[local], idle in transaction for ",
				  PQbackendPID(reader)),
			 0);
	assert_contains(o.out, expected);
	assert_contains(o.out, "and is the root of the chain.");
	assert_contains(o.out, "query: SELECT count(*) FROM lw_verb_locks");
}
END_TEST

START_TEST(test_locks_json_is_one_object_per_blocker_with_the_lock_wait_fields)
{
	_cleanup_(PQfinishp) PGconn *reader = NULL, *waiter = NULL;
	_cleanup_free_ char *plan = write_plan(NULL);
	Output o;
	json_object *line, *v;
	char *end;

	reader_and_waiter("lw_verb_json", &reader, &waiter);
	RUN(&o, "locks", "--json", plan);

	ck_assert_int_eq(o.exit_code, 0);
	end = strchr(o.out, '\n');
	ck_assert_ptr_nonnull(end);
	ck_assert_str_eq(end + 1, ""); /* exactly one line */
	*end = '\0';
	line = json_tokener_parse(o.out);
	ck_assert_ptr_nonnull(line);
	ck_assert(json_object_object_get_ex(line, "BLOCKER_PID", &v));
	ck_assert_int_eq(atoi(json_object_get_string(v)), PQbackendPID(reader));
	ck_assert(json_object_object_get_ex(line, "BLOCKED_PID", &v));
	ck_assert_int_eq(atoi(json_object_get_string(v)), PQbackendPID(waiter));
	ck_assert(json_object_object_get_ex(line, "LOCK_RELATION", &v));
	ck_assert_str_eq(json_object_get_string(v), "public.lw_verb_json");
	ck_assert(json_object_object_get_ex(line, "BLOCKER_ROOT", &v));
	ck_assert_str_eq(json_object_get_string(v), "yes");
	ck_assert(json_object_object_get_ex(line, "MESSAGE", &v));
	ck_assert_ptr_nonnull(strstr(json_object_get_string(v), "Session (pid"));
	json_object_put(line);
}
END_TEST

START_TEST(test_locks_without_waits_says_so)
{
	_cleanup_free_ char *plan = write_plan(NULL);
	Output o;

	RUN(&o, "locks", plan);
	ck_assert_int_eq(o.exit_code, 0);
	ck_assert_str_eq(o.out, "No session of database app waits on a lock.\n");
}
END_TEST

START_TEST(test_idle_lists_without_terminating_then_terminates)
{
	_cleanup_(PQfinishp) PGconn *observer = test_observer(), *old = NULL;
	_cleanup_free_ char *plan = write_plan(NULL), *expected = NULL;
	Output o;
	int pid;

	old = test_session(harness_app_user_conninfo(), "api");
	test_exec(old, "BEGIN");
	test_exec(old, "SELECT count(*) FROM pg_class");
	pid = PQbackendPID(old);
	usleep(1500 * 1000);

	RUN(&o, "idle", plan, "--older-than", "1s");
	ck_assert_int_eq(o.exit_code, 0);
	assert_contains(o.out, "Found 1 session of database app idle in a transaction for more "
			       "than 1s:\n");
	ck_assert_int_ge(asprintf(&expected,
				  "Session pid %d (user app_user, application api, client [local]) "
				  "has been idle in transaction for ",
				  pid),
			 0);
	assert_contains(o.out, expected);
	ck_assert(test_backend_alive(observer, pid));

	RUN(&o, "idle", plan, "--older-than", "1s", "--terminate", "--json");
	ck_assert_int_eq(o.exit_code, 0);
	json_object *line = json_tokener_parse(o.out), *v;
	ck_assert_ptr_nonnull(line);
	ck_assert(json_object_object_get_ex(line, "IDLE_PID", &v));
	ck_assert_int_eq(atoi(json_object_get_string(v)), pid);
	ck_assert(json_object_object_get_ex(line, "IDLE_QUERY", &v));
	ck_assert_str_eq(json_object_get_string(v), "SELECT count(*) FROM pg_class");
	json_object_put(line);
	ck_assert(!test_backend_alive(observer, pid));
}
END_TEST

START_TEST(test_idle_default_age_is_the_plans_and_sparing_recent_sessions)
{
	_cleanup_(PQfinishp) PGconn *observer = test_observer(), *recent = NULL;
	_cleanup_free_ char *plan = write_plan(NULL);
	Output o;

	recent = test_session(harness_app_user_conninfo(), "api");
	test_exec(recent, "BEGIN");
	test_exec(recent, "SELECT 1");

	RUN(&o, "idle", plan, "--terminate");
	ck_assert_int_eq(o.exit_code, 0);
	ck_assert_str_eq(o.out, "No session of database app has been idle in a transaction for "
				"more than 1min.\n");
	ck_assert(test_backend_alive(observer, PQbackendPID(recent)));
}
END_TEST

START_TEST(test_idle_without_pg_read_all_stats_fails_naming_it)
{
	_cleanup_free_ char *plan = write_plan("lw_verb_no_stats");
	Output o;

	RUN(&o, "idle", plan, "--terminate");
	ck_assert_int_eq(o.exit_code, 1);
	ck_assert_str_eq(o.out, "");
	assert_contains(o.err, "GRANT pg_read_all_stats TO lw_verb_no_stats");
}
END_TEST

START_TEST(test_connection_failure_is_exit_1_with_the_password_masked)
{
	_cleanup_free_ char *plan = write_plan("no_such_role");
	Output o;

	RUN(&o, "locks", plan);
	ck_assert_int_eq(o.exit_code, 1);
	ck_assert_ptr_null(strstr(o.err, "hunter2"));
	assert_contains(o.err, "no_such_role");
}
END_TEST

START_TEST(test_invalid_plan_and_bad_usage_have_their_exit_codes)
{
	_cleanup_free_ char *dir = harness_tmpdir(), *bad = NULL, *plan = write_plan(NULL);
	Output o;

	ck_assert_int_ge(asprintf(&bad, "%s/bad.yaml", dir), 0);
	write_file(bad, "version: 1\nsurprise: yes\n");
	RUN(&o, "locks", bad);
	ck_assert_int_eq(o.exit_code, 3);
	RUN(&o, "idle", bad);
	ck_assert_int_eq(o.exit_code, 3);

	RUN(&o, "locks");
	ck_assert_int_eq(o.exit_code, 2);
	RUN(&o, "locks", plan, "--frobnicate");
	ck_assert_int_eq(o.exit_code, 2);
	RUN(&o, "idle", plan, "--older-than", "soon");
	ck_assert_int_eq(o.exit_code, 2);
	assert_contains(o.err, "--older-than soon");
}
END_TEST

static void setup_role(void)
{
	harness_pg_exec(
		harness_pg_conninfo(),
		"DO $$ BEGIN\n"
		"IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lw_verb_no_stats') THEN\n"
		"  CREATE ROLE lw_verb_no_stats LOGIN IN ROLE pg_signal_backend;\n"
		"END IF; END $$");
}

static Suite *deployctl_locks_idle_suite(void)
{
	Suite *s = suite_create("deployctl-locks-idle");
	TCase *tc = tcase_create("verbs");

	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, setup_role, NULL);
	tcase_add_test(tc, test_locks_names_the_blocker_of_a_waiting_session);
	tcase_add_test(tc, test_locks_json_is_one_object_per_blocker_with_the_lock_wait_fields);
	tcase_add_test(tc, test_locks_without_waits_says_so);
	tcase_add_test(tc, test_idle_lists_without_terminating_then_terminates);
	tcase_add_test(tc, test_idle_default_age_is_the_plans_and_sparing_recent_sessions);
	tcase_add_test(tc, test_idle_without_pg_read_all_stats_fails_naming_it);
	tcase_add_test(tc, test_connection_failure_is_exit_1_with_the_password_masked);
	tcase_add_test(tc, test_invalid_plan_and_bad_usage_have_their_exit_codes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_suite(deployctl_locks_idle_suite());
}
