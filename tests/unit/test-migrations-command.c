/* migrations-command: the environment a migration command gets, its preflight, its bound. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check-run.h"
#include "migrations-command.h"
#include "pg-cleanup.h"
#include "strv.h"

static const char *env_get(char **env, const char *key)
{
	size_t len = strlen(key);

	STRV_FOREACH (e, env)
		if (strncmp(*e, key, len) == 0 && (*e)[len] == '=')
			return *e + len + 1;
	return NULL;
}

static MigrationsCommand command_of(char **argv, char **environment)
{
	return (MigrationsCommand){
		.argv = argv,
		.environment = environment,
		.plan_name = "prod",
		.session =
			{
				.lock_timeout = 5 * USEC_PER_SEC,
				.statement_timeout = 120 * USEC_PER_SEC,
				.idle_in_transaction_session_timeout = 60 * USEC_PER_SEC,
			},
	};
}

START_TEST(test_the_environment_carries_ours_and_the_plans_and_little_else)
{
	char *argv[] = {"migrate", NULL};
	char *environment[] = {"FLASK_ENV=production", "LANG=C.UTF-8", NULL};
	MigrationsCommand command = command_of(argv, environment);
	_cleanup_strv_free_ char **env = NULL;
	_cleanup_(PQconninfoFreep) PQconninfoOption *url = NULL;

	setenv("PATH", "/opt/bin:/usr/bin", 1);
	setenv("LANG", "de_DE.UTF-8", 1);
	setenv("SECRET_OF_THE_DAEMON", "x", 1);
	setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
	ck_assert_int_eq(
		migrations_command_environment(&command, "host=/tmp dbname=app password=pw",
					       "0123456789abcdef0123456789abcdef", "v1.2", &env),
		0);
	ck_assert_str_eq(env_get(env, "PATH"), "/opt/bin:/usr/bin");
	ck_assert_str_eq(env_get(env, "LANG"), "C.UTF-8");
	ck_assert_str_eq(env_get(env, "FLASK_ENV"), "production");
	ck_assert_ptr_null(env_get(env, "SECRET_OF_THE_DAEMON"));
	ck_assert_ptr_null(env_get(env, "NOTIFY_SOCKET"));
	ck_assert_str_eq(env_get(env, "PGAPPNAME"),
			 "deployd-migrate/0123456789abcdef0123456789abcdef");
	ck_assert_str_eq(env_get(env, "PGOPTIONS"),
			 "-c lock_timeout=5000 -c statement_timeout=120000 "
			 "-c idle_in_transaction_session_timeout=60000 "
			 "-c client_connection_check_interval=1000");
	ck_assert_str_eq(env_get(env, "DEPLOY_ID"), "0123456789abcdef0123456789abcdef");
	ck_assert_str_eq(env_get(env, "DEPLOY_PLAN"), "prod");
	ck_assert_str_eq(env_get(env, "DEPLOY_RELEASE"), "v1.2");

	url = PQconninfoParse(env_get(env, "DATABASE_URL"), NULL);
	ck_assert_ptr_nonnull(url);
	for (PQconninfoOption *o = url; o->keyword; o++) {
		if (strcmp(o->keyword, "dbname") == 0)
			ck_assert_str_eq(o->val, "app");
		if (strcmp(o->keyword, "password") == 0)
			ck_assert_str_eq(o->val, "pw");
		if (strcmp(o->keyword, "application_name") == 0)
			ck_assert_str_eq(o->val, env_get(env, "PGAPPNAME"));
		if (strcmp(o->keyword, "options") == 0)
			ck_assert_str_eq(o->val, env_get(env, "PGOPTIONS"));
	}
}
END_TEST

START_TEST(test_without_path_a_default_path_is_given)
{
	char *argv[] = {"migrate", NULL};
	MigrationsCommand command = command_of(argv, NULL);
	_cleanup_strv_free_ char **env = NULL;

	unsetenv("PATH");
	ck_assert_int_eq(migrations_command_environment(&command, "dbname=x", "0123", NULL, &env),
			 0);
	ck_assert_str_eq(env_get(env, "PATH"), MIGRATIONS_COMMAND_DEFAULT_PATH);
	ck_assert_str_eq(env_get(env, "DEPLOY_RELEASE"), "");
}
END_TEST

START_TEST(test_preflight_finds_the_program_and_the_working_directory)
{
	char *ok[] = {"sh", "-c", "true", NULL};
	char *missing[] = {"no-such-migrate-program", NULL};
	char *not_executable[] = {"/etc/passwd", NULL};
	MigrationsCommand command = command_of(ok, NULL);
	char *error = NULL;

	setenv("PATH", "/usr/bin:/bin", 1);
	ck_assert_int_eq(migrations_command_check(&command, &error), 0);

	command.working_directory = "/nonexistent-dir";
	ck_assert_int_lt(migrations_command_check(&command, &error), 0);
	ck_assert_str_eq(error, "working_directory /nonexistent-dir: No such file or directory");
	free(error);

	command.working_directory = NULL;
	command.argv = missing;
	ck_assert_int_lt(migrations_command_check(&command, &error), 0);
	ck_assert_str_eq(error, "migration command no-such-migrate-program: not found in PATH");
	free(error);

	command.argv = not_executable;
	ck_assert_int_lt(migrations_command_check(&command, &error), 0);
	ck_assert_str_eq(error, "migration command /etc/passwd: Permission denied");
	free(error);
}
END_TEST

START_TEST(test_the_run_time_bound_follows_statement_timeout)
{
	ck_assert_uint_eq(migrations_command_timeout(120 * USEC_PER_SEC), 20 * USEC_PER_MINUTE);
	ck_assert_uint_eq(migrations_command_timeout(0), USEC_PER_HOUR);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("migrations-command");
	TCase *tc = tcase_create("migrations-command");

	tcase_add_test(tc, test_the_environment_carries_ours_and_the_plans_and_little_else);
	tcase_add_test(tc, test_without_path_a_default_path_is_given);
	tcase_add_test(tc, test_preflight_finds_the_program_and_the_working_directory);
	tcase_add_test(tc, test_the_run_time_bound_follows_statement_timeout);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
