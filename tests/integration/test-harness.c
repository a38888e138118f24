/* test-harness.c — the harness provides a working user manager and PostgreSQL cluster. */
#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-journal.h>
#include <time.h>

#include "check-run.h"
#include "harness.h"

static void assert_active_state(const char *unit, const char *expected)
{
	_cleanup_free_ char *is_active = NULL, *shown = NULL, *expected_shown = NULL;

	harness_systemctl_output(&is_active, "is-active %s", unit);
	ck_assert_str_eq(is_active, expected);
	ck_assert_int_eq(harness_systemctl_output(&shown, "show --property=ActiveState %s", unit),
			 0);
	ck_assert_int_ge(asprintf(&expected_shown, "ActiveState=%s", expected), 0);
	ck_assert_str_eq(shown, expected_shown);
}

START_TEST(test_user_unit_starts_and_stops_through_systemctl_user)
{
	_cleanup_free_ char *unit = harness_unit_name("harness-sleep", "service");

	harness_write_unit(unit, "[Unit]\n"
				 "Description=deployd harness self-test\n"
				 "[Service]\n"
				 "ExecStart=/bin/sleep infinity\n");
	harness_daemon_reload();
	assert_active_state(unit, "inactive");

	ck_assert_int_eq(harness_systemctl("start %s", unit), 0);
	assert_active_state(unit, "active");
	ck_assert_int_eq(harness_systemctl("is-active --quiet %s", unit), 0);

	ck_assert_int_eq(harness_systemctl("stop %s", unit), 0);
	assert_active_state(unit, "inactive");
	ck_assert_int_ne(harness_systemctl("is-active --quiet %s", unit), 0);
}
END_TEST

START_TEST(test_cluster_is_postgresql_15_and_deployer_may_read_stats_and_signal_backends)
{
	_cleanup_free_ char *major = NULL, *stats = NULL, *signal = NULL, *owner = NULL;

	major = harness_pg_value(harness_app_conninfo(),
				 "SELECT current_setting('server_version_num')::int / 10000");
	ck_assert_str_eq(major, "15");

	stats = harness_pg_value(harness_app_conninfo(),
				 "SELECT pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER')");
	ck_assert_str_eq(stats, "t");
	signal =
		harness_pg_value(harness_app_conninfo(),
				 "SELECT pg_has_role(current_user, 'pg_signal_backend', 'MEMBER')");
	ck_assert_str_eq(signal, "t");

	owner = harness_pg_value(
		harness_pg_conninfo(),
		"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app'");
	ck_assert_str_eq(owner, "deployer");
}
END_TEST

START_TEST(test_root_reaches_the_user_manager_with_sd_bus_open_user)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_creds_unrefp) sd_bus_creds *owner = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_free_ char *state = NULL;
	uid_t owner_uid;
	int r;

	ck_assert_int_eq(sd_bus_open_user(&bus), 0);
	r = sd_bus_get_property_string(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
				       "org.freedesktop.systemd1.Manager", "SystemState", &error,
				       &state);
	ck_assert_msg(r >= 0, "reading SystemState as root: %s", error.message);
	ck_assert_msg(strcmp(state, "running") == 0 || strcmp(state, "degraded") == 0,
		      "user manager is %s", state);

	/* It is the test user's bus, not some other session's. */
	ck_assert_int_eq(sd_bus_get_owner_creds(bus, SD_BUS_CREDS_EUID, &owner), 0);
	ck_assert_int_eq(sd_bus_creds_get_euid(owner, &owner_uid), 0);
	ck_assert_uint_eq(owner_uid, harness_test_uid());
}
END_TEST

/* Polls the journal (bounded, to catch a hang) for MESSAGE from the user unit. */
static bool journal_has_user_unit_message(const char *unit, const char *message)
{
	_cleanup_(sd_journal_closep) sd_journal *j = NULL;
	_cleanup_free_ char *unit_match = NULL, *message_match = NULL;

	ck_assert_int_eq(sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY), 0);
	ck_assert_int_ge(asprintf(&unit_match, "_SYSTEMD_USER_UNIT=%s", unit), 0);
	ck_assert_int_ge(asprintf(&message_match, "MESSAGE=%s", message), 0);
	ck_assert_int_eq(sd_journal_add_match(j, unit_match, 0), 0);
	ck_assert_int_eq(sd_journal_add_match(j, message_match, 0), 0);
	for (int waited_ms = 0; waited_ms < 10000; waited_ms += 50) {
		if (sd_journal_next(j) > 0)
			return true;
		nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
		ck_assert_int_ge(sd_journal_process(j), 0);
	}
	return false;
}

START_TEST(test_user_unit_stdout_reaches_the_journal_with_its_user_unit_field)
{
	_cleanup_free_ char *unit = harness_unit_name("harness-hello", "service");
	_cleanup_free_ char *contents = NULL, *message = NULL;

	ck_assert_int_ge(asprintf(&message, "harness says hello from %s", unit), 0);
	/* The process stays alive: journald reads a writer's unit from its cgroup when it
	 * handles the line, and a process that has exited by then is logged without any
	 * _SYSTEMD_* field (seen with a oneshot echo under load). */
	ck_assert_int_ge(asprintf(&contents,
				  "[Service]\n"
				  "ExecStart=/bin/sh -c 'echo %s; exec sleep infinity'\n",
				  message),
			 0);
	harness_write_unit(unit, contents);
	harness_daemon_reload();
	ck_assert_int_eq(harness_systemctl("start %s", unit), 0);
	ck_assert_msg(journal_has_user_unit_message(unit, message),
		      "no journal entry _SYSTEMD_USER_UNIT=%s MESSAGE=%s within 10s", unit,
		      message);
	ck_assert_int_eq(harness_systemctl("stop %s", unit), 0);
}
END_TEST

START_TEST(test_a_script_in_harness_tmpdir_runs_as_the_test_user_from_a_unit)
{
	_cleanup_free_ char *dir = harness_tmpdir();
	_cleanup_free_ char *unit = harness_unit_name("harness-script", "service");
	_cleanup_free_ char *script = NULL, *script_text = NULL, *contents = NULL;
	_cleanup_free_ char *result = NULL, *uid_line = NULL, *expected = NULL;
	_cleanup_fclose_ FILE *f = NULL;

	ck_assert_int_ge(asprintf(&script, "%s/whoami.sh", dir), 0);
	ck_assert_int_ge(asprintf(&result, "%s/uid", dir), 0);
	ck_assert_int_ge(asprintf(&script_text, "#!/bin/sh\nid -u >%s\n", result), 0);
	f = fopen(script, "we");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(script_text, f), 0);
	ck_assert_int_eq(fchmod(fileno(f), 0755), 0);
	ck_assert_int_eq(fclose(TAKE_PTR(f)), 0);

	ck_assert_int_ge(asprintf(&contents, "[Service]\nType=oneshot\nExecStart=%s\n", script), 0);
	harness_write_unit(unit, contents);
	harness_daemon_reload();
	ck_assert_int_eq(harness_systemctl("start %s", unit), 0);

	f = fopen(result, "re");
	ck_assert_msg(f != NULL, "%s did not write %s", unit, result);
	ck_assert_int_ge(getline(&uid_line, &(size_t){0}, f), 0);
	ck_assert_int_ge(asprintf(&expected, "%u\n", (unsigned)harness_test_uid()), 0);
	ck_assert_str_eq(uid_line, expected);
}
END_TEST

static Suite *harness_suite(void)
{
	Suite *s = suite_create("harness");
	TCase *tc = tcase_create("services");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_user_unit_starts_and_stops_through_systemctl_user);
	tcase_add_test(
		tc, test_cluster_is_postgresql_15_and_deployer_may_read_stats_and_signal_backends);
	tcase_add_test(tc, test_root_reaches_the_user_manager_with_sd_bus_open_user);
	tcase_add_test(tc, test_user_unit_stdout_reaches_the_journal_with_its_user_unit_field);
	tcase_add_test(tc, test_a_script_in_harness_tmpdir_runs_as_the_test_user_from_a_unit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_suite(harness_suite());
}
