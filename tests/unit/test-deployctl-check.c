/* `deployctl check`: exit codes and output, run as the real program (no services). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check-run.h"
#include "cleanup.h"

/* The tests run from the source tree, where make puts the program. */
#define DEPLOYCTL "build/deployctl"

typedef struct Run {
	int exit_code;
	char *out, *err;
} Run;

static void run_done(Run *r)
{
	free(r->out);
	free(r->err);
}

static char *temp_path(const char *suffix)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *path;
	int fd;

	ck_assert_int_ge(asprintf(&path, "%s/test-deployctl-XXXXXX%s", dir, suffix), 0);
	fd = mkstemps(path, (int)strlen(suffix));
	ck_assert_int_ge(fd, 0);
	close(fd);
	return path;
}

static char *slurp_and_unlink(const char *path)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char *text = calloc(1, 65536);

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(text);
	size_t n = fread(text, 1, 65535, f);
	text[n] = '\0';
	unlink(path);
	return text;
}

/* Runs program with argv (NULL-terminated, without the program name). */
static Run run_program(const char *program, const char *const *args)
{
	_cleanup_free_ char *out = temp_path(".out"), *err = temp_path(".err");
	const char *argv[16] = {program};
	size_t n = 1;
	int status;
	pid_t pid;

	ck_assert_msg(access(program, X_OK) == 0,
		      "%s is missing: build it and run the tests from the source tree", program);
	for (; args[n - 1]; n++) {
		ck_assert_uint_lt(n, ELEMENTSOF(argv) - 1);
		argv[n] = args[n - 1];
	}
	argv[n] = NULL;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int o = open(out, O_WRONLY | O_TRUNC | O_CLOEXEC);
		int e = open(err, O_WRONLY | O_TRUNC | O_CLOEXEC);
		if (o < 0 || e < 0 || dup2(o, STDOUT_FILENO) < 0 || dup2(e, STDERR_FILENO) < 0)
			_exit(127);
		execv(program, (char *const *)argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "deployctl did not exit normally");
	return (Run){WEXITSTATUS(status), slurp_and_unlink(out), slurp_and_unlink(err)};
}
#define RUN(...) run_program(DEPLOYCTL, (const char *const[]){__VA_ARGS__, NULL})

static char *write_plan(const char *text)
{
	char *path = temp_path(".yaml");
	_cleanup_fclose_ FILE *f = fopen(path, "we");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	return path;
}

static const char bad_plan[] = "version: 1\n"
			       "database: {conninfo: \"dbname=x\"}\n"
			       "migrations: {directory: /m}\n"
			       "servces: {bus: user}\n";

START_TEST(test_example_plan_is_valid_and_summarized)
{
	_cleanup_(run_done) Run r = RUN("check", "config/example.yaml");

	ck_assert_msg(r.exit_code == 0, "exit %d, stderr: %s", r.exit_code, r.err);
	ck_assert_str_eq(r.err, "");
	ck_assert_msg(strstr(r.out, "config/example.yaml: ok — plan \"example\": 3 units (system "
				    "bus), migrations from /srv/prosaas/migrations, lock_timeout "
				    "5s, statement_timeout 2min\n"),
		      "summary: %s", r.out);
}
END_TEST

START_TEST(test_invalid_plan_exits_3_with_its_position_on_stderr)
{
	_cleanup_free_ char *path = write_plan(bad_plan), *expected = NULL;
	_cleanup_(run_done) Run r = RUN("check", path);

	unlink(path);
	ck_assert_int_eq(r.exit_code, 3);
	ck_assert_str_eq(r.out, "");
	ck_assert_int_ge(asprintf(&expected,
				  "%s:4:1: unknown key 'servces' (did you mean "
				  "'services'?)\n",
				  path),
			 0);
	ck_assert_str_eq(r.err, expected);
}
END_TEST

START_TEST(test_one_invalid_plan_among_valid_ones_exits_3_and_checks_all)
{
	_cleanup_free_ char *path = write_plan(bad_plan);
	_cleanup_(run_done) Run r = RUN("check", path, "config/example.yaml");

	unlink(path);
	ck_assert_int_eq(r.exit_code, 3);
	ck_assert_ptr_nonnull(strstr(r.out, "config/example.yaml: ok"));
	ck_assert_ptr_nonnull(strstr(r.err, "unknown key 'servces'"));
}
END_TEST

START_TEST(test_a_plan_name_is_looked_up_in_the_plans_directory)
{
	_cleanup_free_ char *path = write_plan("version: 1\n"
					       "database: {conninfo_env: PROSAAS_DB}\n"
					       "services: {bus: user, units: [api.service]}\n"
					       "migrations: {command: [/usr/bin/migrate, up]}\n");
	_cleanup_free_ char *dir = strdup(path);
	char *slash = strrchr(dir, '/');
	*slash = '\0';
	_cleanup_free_ char *name = strndup(slash + 1, strlen(slash + 1) - strlen(".yaml"));
	_cleanup_(run_done) Run r = RUN("--plans", dir, "check", name);

	unlink(path);
	ck_assert_msg(r.exit_code == 0, "exit %d: %s", r.exit_code, r.err);
	ck_assert_msg(strstr(r.out, ": ok — plan \"") && strstr(r.out, "1 unit (user bus), "
								       "migrations by "
								       "/usr/bin/migrate up"),
		      "summary: %s", r.out);
	ck_assert_msg(strncmp(r.out, path, strlen(path)) == 0, "'%s' does not name %s", r.out,
		      path);
}
END_TEST

START_TEST(test_the_summary_counts_the_units_of_remote_hosts)
{
	_cleanup_free_ char *path =
		write_plan("version: 1\n"
			   "database: {conninfo_env: PROSAAS_DB}\n"
			   "services:\n"
			   "  units: [api.service]\n"
			   "  remote:\n"
			   "    - {host: deploy@app2, units: [api.service, worker.service]}\n"
			   "    - {host: app3:2222, bus: user, units: [cron.service]}\n"
			   "migrations: {command: [/usr/bin/migrate, up]}\n");
	_cleanup_(run_done) Run r = RUN("check", path);

	unlink(path);
	ck_assert_msg(r.exit_code == 0, "exit %d: %s", r.exit_code, r.err);
	ck_assert_msg(strstr(r.out, "1 unit (system bus) and 3 on 2 remote hosts, migrations by "),
		      "summary: %s", r.out);
}
END_TEST

START_TEST(test_a_plan_without_units_exits_3_at_services_units_saying_why)
{
	_cleanup_free_ char *none = write_plan("version: 1\n"
					       "database: {conninfo_env: PROSAAS_DB}\n"
					       "migrations: {directory: /m}\n"),
			    *empty = write_plan("version: 1\n"
						"database: {conninfo_env: PROSAAS_DB}\n"
						"services:\n"
						"  bus: user\n"
						"  units: []\n"
						"  remote: []\n"
						"migrations: {directory: /m}\n"),
			    *expected = NULL;
	_cleanup_(run_done) Run r_none = RUN("check", none);
	_cleanup_(run_done) Run r_empty = RUN("check", empty);

	unlink(none);
	unlink(empty);
	ck_assert_int_eq(r_none.exit_code, 3);
	ck_assert_int_ge(asprintf(&expected, "%s:1:1: missing required key 'services'", none), 0);
	ck_assert_msg(strncmp(r_none.err, expected, strlen(expected)) == 0, "%s", r_none.err);
	ck_assert_ptr_nonnull(strstr(r_none.err, "no migration runs under a live app"));
	free(expected);
	ck_assert_int_eq(r_empty.exit_code, 3);
	ck_assert_int_ge(asprintf(&expected, "%s:5:10: services.units: no unit named", empty), 0);
	ck_assert_msg(strncmp(r_empty.err, expected, strlen(expected)) == 0, "%s", r_empty.err);
	ck_assert_ptr_nonnull(strstr(r_empty.err, "no migration runs under a live app"));
}
END_TEST

START_TEST(test_missing_file_and_bad_plan_name_exit_3)
{
	_cleanup_(run_done) Run missing = RUN("check", "/nonexistent/plan.yaml");
	_cleanup_(run_done) Run bad_name = RUN("--plans", "/nonexistent", "check", ".hidden");

	ck_assert_int_eq(missing.exit_code, 3);
	ck_assert_str_eq(missing.err, "/nonexistent/plan.yaml: cannot read plan: No such file or "
				      "directory\n");
	ck_assert_int_eq(bad_name.exit_code, 3);
	ck_assert_ptr_nonnull(strstr(bad_name.err, ".hidden: not a plan name"));
}
END_TEST

START_TEST(test_no_argument_is_a_usage_error)
{
	_cleanup_(run_done) Run r = RUN("check");

	ck_assert_int_eq(r.exit_code, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "give at least one FILE or PLAN"));
}
END_TEST

START_TEST(test_unknown_option_is_a_usage_error)
{
	_cleanup_(run_done) Run r = RUN("check", "--frobnicate", "config/example.yaml");

	ck_assert_int_eq(r.exit_code, 2);
	ck_assert_str_eq(r.out, "");
	ck_assert_str_eq(r.err, "deployctl check: unknown option '--frobnicate' (see --help)\n");
}
END_TEST

START_TEST(test_help_prints_usage_and_exits_0)
{
	_cleanup_(run_done) Run r = RUN("check", "--help");

	ck_assert_int_eq(r.exit_code, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Usage: deployctl [--plans DIR] check FILE|PLAN…"));
}
END_TEST

/* deployctl hands `check` to deployctl-local; a deployctl that finds none (copied alone, with
 * nothing installed) says which program it lacks instead of failing silently. */
START_TEST(test_a_deployctl_without_its_local_program_names_the_one_it_lacks)
{
	_cleanup_free_ char *dir = strdup("/tmp/test-deployctl-alone-XXXXXX"), *copy = NULL;
	_cleanup_free_ char *cmd = NULL;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_ge(asprintf(&copy, "%s/deployctl", dir), 0);
	ck_assert_int_ge(asprintf(&cmd, "cp " DEPLOYCTL " %s", copy), 0);
	ck_assert_int_eq(system(cmd), 0);

	_cleanup_(run_done) Run r =
		run_program(copy, (const char *const[]){"check", "x.yaml", NULL});
	if (access(DEPLOYCTL_LOCAL_PATH, X_OK) == 0)
		/* Installed here: the copy runs it, and it reads (and misses) the plan. */
		ck_assert_int_eq(r.exit_code, 3);
	else {
		ck_assert_int_eq(r.exit_code, 1);
		ck_assert_ptr_nonnull(strstr(r.err, DEPLOYCTL_LOCAL_PATH));
		ck_assert_ptr_nonnull(strstr(r.err, "'check'"));
	}
	unlink(copy);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("deployctl-check");
	TCase *tc = tcase_create("deployctl-check");

	tcase_add_test(tc, test_example_plan_is_valid_and_summarized);
	tcase_add_test(tc, test_invalid_plan_exits_3_with_its_position_on_stderr);
	tcase_add_test(tc, test_one_invalid_plan_among_valid_ones_exits_3_and_checks_all);
	tcase_add_test(tc, test_a_plan_name_is_looked_up_in_the_plans_directory);
	tcase_add_test(tc, test_the_summary_counts_the_units_of_remote_hosts);
	tcase_add_test(tc, test_missing_file_and_bad_plan_name_exit_3);
	tcase_add_test(tc, test_a_plan_without_units_exits_3_at_services_units_saying_why);
	tcase_add_test(tc, test_no_argument_is_a_usage_error);
	tcase_add_test(tc, test_unknown_option_is_a_usage_error);
	tcase_add_test(tc, test_help_prints_usage_and_exits_0);
	tcase_add_test(tc, test_a_deployctl_without_its_local_program_names_the_one_it_lacks);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
