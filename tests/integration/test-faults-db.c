/* Fault injection, PostgreSQL side: the database down before a deploy, restarted or our
 * session terminated in the middle of a migration, a statement timeout.  Real daemon, real
 * units, the harness's own cluster (private to this run, so stopping it harms nobody else).
 * Each case checks the exit code, the units, the history table, that no session of ours is
 * left, and that a clean re-run then succeeds. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check-run.h"
#include "cleanup.h"
#include "fault-scenario.h"
#include "harness.h"

static FaultScenario S;

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void setup(void)
{
	fault_setup(&S, NULL);
	fault_add_unit(&S, "api", FAULT_SIMPLE_SERVICE);
	fault_add_unit(&S, "worker", FAULT_SIMPLE_SERVICE);
	fault_start_units(&S);
}

static void teardown(void)
{
	fault_teardown(&S);
}

/* The migration-failed event's SQLSTATE for the deploy whose output is out. */
static char *failed_sqlstate(const char *out)
{
	_cleanup_free_ char *id = fault_deploy_id(out);

	ck_assert_msg(id, "no deploy id in:\n%s", out);
	return fault_journal_event_field(id, "migration-failed", "PG_SQLSTATE");
}

START_TEST(test_a_database_down_before_the_deploy_fails_preflight_and_touches_nothing)
{
	_cleanup_free_ char *out = NULL;

	fault_write_migration(&S, "1_add_email.sql",
			      "ALTER TABLE accounts ADD COLUMN email text;\n");
	fault_write_plan(&S, "app", NULL, NULL, NULL);
	fault_pg_ctl("-m fast stop");

	int code = test_deployctl(&S.daemon, &out, "deploy app");
	fault_pg_ctl("restart");

	ck_assert_msg(code == 5, "deploy exited %d, expected 5 (preflight):\n%s", code, out);
	fault_assert_units(&S, "active");
	ck_assert_int_eq(fault_history_count(&S), -1);
	fault_assert_no_sessions();
	fault_assert_clean_rerun(&S, "app", 1);
}
END_TEST

START_TEST(test_a_database_restart_in_the_middle_of_a_migration_fails_it_without_a_trace)
{
	_cleanup_free_ char *out = NULL;
	FaultDeploy bg;

	fault_write_migration(&S, "1_half.sql",
			      "CREATE TABLE half (id int);\nSELECT pg_sleep(30);\n");
	fault_write_plan(&S, "app", NULL, NULL, NULL);
	fault_deploy_start(&S, &bg, "deploy app");
	fault_wait_for_query(&S, "pg_sleep(30)");
	fault_pg_ctl("-m fast restart");

	int code = fault_deploy_wait(&bg, &out);
	ck_assert_msg(code == 7, "deploy exited %d, expected 7 (migration failed):\n%s", code, out);
	fault_assert_units(&S, "inactive");
	ck_assert_int_le(fault_history_count(&S), 0);
	ck_assert(!fault_table_exists(&S, "half"));
	fault_assert_no_sessions();

	fault_write_migration(&S, "1_half.sql", "CREATE TABLE half (id int);\n");
	fault_assert_clean_rerun(&S, "app", 1);
	ck_assert(fault_table_exists(&S, "half"));
}
END_TEST

START_TEST(test_our_migration_session_terminated_by_someone_else_fails_with_57P01)
{
	_cleanup_free_ char *out = NULL, *sql = NULL, *sqlstate = NULL;
	FaultDeploy bg;

	fault_write_migration(&S, "1_half.sql",
			      "CREATE TABLE half (id int);\nSELECT pg_sleep(30);\n");
	fault_write_plan(&S, "app", NULL, NULL, NULL);
	fault_deploy_start(&S, &bg, "deploy app");
	int pid = fault_wait_for_query(&S, "pg_sleep(30)");
	ck_assert_int_ge(asprintf(&sql, "SELECT pg_terminate_backend(%d)", pid), 0);
	_cleanup_free_ char *done = harness_pg_value(harness_pg_conninfo(), sql);
	ck_assert_str_eq(done, "t");

	int code = fault_deploy_wait(&bg, &out);
	ck_assert_msg(code == 7, "deploy exited %d, expected 7 (migration failed):\n%s", code, out);
	sqlstate = failed_sqlstate(out);
	ck_assert_msg(sqlstate && strcmp(sqlstate, "57P01") == 0,
		      "migration-failed has PG_SQLSTATE %s, expected 57P01:\n%s", sqlstate, out);
	fault_assert_units(&S, "inactive");
	ck_assert_int_le(fault_history_count(&S), 0);
	ck_assert(!fault_table_exists(&S, "half"));
	fault_assert_no_sessions();

	fault_write_migration(&S, "1_half.sql", "CREATE TABLE half (id int);\n");
	fault_assert_clean_rerun(&S, "app", 1);
}
END_TEST

START_TEST(test_a_statement_timeout_fails_the_migration_with_57014_in_time)
{
	_cleanup_free_ char *out = NULL, *sqlstate = NULL;

	fault_write_migration(&S, "1_slow.sql",
			      "CREATE TABLE half (id int);\nSELECT pg_sleep(20);\n");
	fault_write_plan(&S, "app", "  statement_timeout: 1s\n", NULL, NULL);

	double start = now_seconds();
	int code = test_deployctl(&S.daemon, &out, "deploy app");
	double elapsed = now_seconds() - start;

	ck_assert_msg(code == 7, "deploy exited %d, expected 7 (migration failed):\n%s", code, out);
	/* 1 s of statement, stopping two units and connecting: far below the 20 s sleep. */
	ck_assert_msg(elapsed < 15.0, "the deploy took %.1f s", elapsed);
	sqlstate = failed_sqlstate(out);
	ck_assert_msg(sqlstate && strcmp(sqlstate, "57014") == 0,
		      "migration-failed has PG_SQLSTATE %s, expected 57014:\n%s", sqlstate, out);
	fault_assert_units(&S, "inactive");
	ck_assert_int_le(fault_history_count(&S), 0);
	ck_assert(!fault_table_exists(&S, "half"));
	fault_assert_no_sessions();

	fault_write_migration(&S, "1_slow.sql", "CREATE TABLE half (id int);\n");
	fault_assert_clean_rerun(&S, "app", 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("faults-db");
	TCase *tc = tcase_create("database faults");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc,
		       test_a_database_down_before_the_deploy_fails_preflight_and_touches_nothing);
	tcase_add_test(
		tc, test_a_database_restart_in_the_middle_of_a_migration_fails_it_without_a_trace);
	tcase_add_test(tc, test_our_migration_session_terminated_by_someone_else_fails_with_57P01);
	tcase_add_test(tc, test_a_statement_timeout_fails_the_migration_with_57014_in_time);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
