/* Fault injection, daemon side: deployd killed (SIGKILL) or told to stop (SIGTERM) in each
 * phase, the client going away mid-deploy, a full disk under the state file, and two daemons
 * (two state directories) deploying against one database.  Each case checks the exit code,
 * the units, the history table, that no session or advisory lock of ours is left, and that
 * a clean re-run then succeeds. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check-run.h"
#include "cleanup.h"
#include "fault-scenario.h"
#include "harness.h"
#include "journal-query.h"

static FaultScenario S;
/* The full-disk case's state directory: named before the tests fork, so that the runner
 * unmounts it after the case, even when the case fails. */
static char *full_state_dir;

static void unmount_full_state(void)
{
	umount2(full_state_dir, MNT_DETACH);
	rmdir(full_state_dir);
}
static const char *slow_stop_unit, *slow_start_unit;

/* Stops in about 2 s, as an app draining its work does (systemd runs ExecStop= first; a
 * trap in the app would race with systemd signalling every new process of the unit). */
#define SLOW_STOP_SERVICE "ExecStart=/bin/sleep infinity\nExecStop=/bin/sleep 2\n"

static void setup(void)
{
	fault_setup(&S, NULL);
	fault_add_unit(&S, "api", FAULT_SIMPLE_SERVICE);
}

/* Adds the slow units a case needs (each costs seconds at every stop or start), then starts
 * every unit. */
static void start_units(bool slow_stop, bool slow_start)
{
	if (slow_stop)
		slow_stop_unit = fault_add_unit(&S, "drain", SLOW_STOP_SERVICE);
	if (slow_start)
		slow_start_unit = fault_add_unit(
			&S, "warmup", "ExecStartPre=/bin/sleep 2\nExecStart=/bin/sleep infinity\n");
	fault_start_units(&S);
	fault_assert_units(&S, "active");
}

static void teardown(void)
{
	fault_teardown(&S);
}

/* The deploy's id from what its client printed before it lost the daemon. */
static char *deploy_id_of(const char *out)
{
	char *id = fault_deploy_id(out);

	ck_assert_msg(id, "no deploy id in the client's output:\n%s", out);
	return id;
}

/* The next daemon (socket-activated by this status request) reports the deploy as
 * interrupted in phase, in the journal and in the status. */
static void assert_reported_interrupted(const char *id, const char *phase)
{
	_cleanup_free_ char *status = NULL, *result = NULL, *in_phase = NULL, *code = NULL;

	int r = test_deployctl(&S.daemon, &status, "status");
	ck_assert_msg(r == 0, "status exited %d:\n%s", r, status);
	ck_assert_msg(strstr(status, id) && strstr(status, "interrupted"),
		      "status does not report deploy %s as interrupted:\n%s", id, status);
	result = fault_journal_event_field(id, "deploy-finished", "DEPLOY_RESULT");
	ck_assert_msg(result && strcmp(result, "interrupted") == 0,
		      "deploy-finished of %s has DEPLOY_RESULT %s", id, result);
	in_phase = fault_journal_event_field(id, "deploy-finished", "MESSAGE");
	ck_assert_msg(in_phase && strstr(in_phase, phase), "the report does not name phase %s: %s",
		      phase, in_phase);
	code = fault_journal_event_field(id, "deploy-finished", "DEPLOY_EXIT");
	ck_assert_str_eq(code, "1");
}

START_TEST(test_deployd_killed_during_stop_is_reported_interrupted_and_nothing_was_migrated)
{
	start_units(true, false);
	_cleanup_free_ char *out = NULL, *id = NULL;
	FaultDeploy bg;

	fault_write_migration(&S, "1_add_email.sql",
			      "ALTER TABLE accounts ADD COLUMN email text;\n");
	fault_write_plan(&S, "app", NULL, NULL, NULL);
	fault_deploy_start(&S, &bg, "deploy app");
	fault_wait_unit_state(slow_stop_unit, "deactivating");
	fault_signal_daemon(&S.daemon, "SIGKILL", true);

	int code = fault_deploy_wait(&bg, &out);
	/* The daemon went away without a final record: an internal error for the client. */
	ck_assert_msg(code == 1, "the client of a killed daemon exited %d, expected 1:\n%s", code,
		      out);
	id = deploy_id_of(out);
	/* The stop jobs were queued with the manager: they complete without us. */
	fault_assert_units(&S, "inactive");
	ck_assert_int_eq(fault_history_count(&S), -1);
	fault_assert_no_sessions();
	assert_reported_interrupted(id, "stop");
	fault_assert_clean_rerun(&S, "app", 1);
}
END_TEST

START_TEST(test_deployd_killed_during_migrate_is_reported_interrupted_and_nothing_half_applied)
{
	start_units(false, false);
	_cleanup_free_ char *out = NULL, *id = NULL;
	FaultDeploy bg;

	fault_write_migration(&S, "1_half.sql",
			      "CREATE TABLE half (id int);\nSELECT pg_sleep(30);\n");
	fault_write_plan(&S, "app", NULL, NULL, NULL);
	fault_deploy_start(&S, &bg, "deploy app");
	fault_wait_for_query(&S, "pg_sleep(30)");
	/* The main process only, as the OOM killer would: the worker is left to notice. */
	fault_signal_daemon(&S.daemon, "SIGKILL", false);

	int code = fault_deploy_wait(&bg, &out);
	/* The daemon went away without a final record: an internal error for the client. */
	ck_assert_msg(code == 1, "the client of a killed daemon exited %d, expected 1:\n%s", code,
		      out);
	id = deploy_id_of(out);
	fault_assert_units(&S, "inactive");
	ck_assert_int_le(fault_history_count(&S), 0);
	ck_assert(!fault_table_exists(&S, "half"));
	fault_assert_no_sessions();
	assert_reported_interrupted(id, "migrate");

	fault_write_migration(&S, "1_half.sql", "CREATE TABLE half (id int);\n");
	fault_assert_clean_rerun(&S, "app", 1);
}
END_TEST

START_TEST(test_deployd_killed_during_start_is_reported_interrupted_with_the_migration_applied)
{
	start_units(false, true);
	_cleanup_free_ char *out = NULL, *id = NULL;
	FaultDeploy bg;

	fault_write_migration(&S, "1_add_email.sql",
			      "ALTER TABLE accounts ADD COLUMN email text;\n");
	fault_write_plan(&S, "app", NULL, NULL, NULL);
	fault_deploy_start(&S, &bg, "deploy app");
	fault_wait_unit_state(slow_start_unit, "activating");
	fault_signal_daemon(&S.daemon, "SIGKILL", true);

	int code = fault_deploy_wait(&bg, &out);
	/* The daemon went away without a final record: an internal error for the client. */
	ck_assert_msg(code == 1, "the client of a killed daemon exited %d, expected 1:\n%s", code,
		      out);
	id = deploy_id_of(out);
	/* The start jobs were queued with the manager: they complete without us. */
	fault_assert_units(&S, "active");
	ck_assert_int_eq(fault_history_count(&S), 1);
	fault_assert_no_sessions();
	assert_reported_interrupted(id, "start");
	fault_assert_clean_rerun(&S, "app", 1);
}
END_TEST

/* SIGTERM to the daemon alone: it cancels the deploy, tells the client, then exits. */
static void sigterm_and_expect_cancelled(FaultDeploy *bg, char **ret_out)
{
	fault_signal_daemon(&S.daemon, "SIGTERM", false);
	int code = fault_deploy_wait(bg, ret_out);
	ck_assert_msg(code == 10, "deploy exited %d, expected 10 (cancelled):\n%s", code, *ret_out);
}

static void assert_status_cancelled(const char *out)
{
	_cleanup_free_ char *id = deploy_id_of(out), *result = NULL;

	result = fault_journal_event_field(id, "deploy-finished", "DEPLOY_RESULT");
	ck_assert_msg(result && strcmp(result, "cancelled") == 0,
		      "deploy-finished of %s has DEPLOY_RESULT %s", id, result);
}

START_TEST(test_sigterm_during_preflight_cancels_the_deploy_and_touches_nothing)
{
	start_units(false, false);
	_cleanup_free_ char *out = NULL, *marker = NULL, *hooks = NULL;
	FaultDeploy bg;

	ck_assert_int_ge(asprintf(&marker, "%s/hook-started", S.daemon.dir), 0);
	ck_assert_int_ge(
		asprintf(&hooks,
			 "hooks:\n  before_stop: [/bin/sh, -c, \"touch %s; exec sleep 30\"]\n",
			 marker),
		0);
	fault_write_migration(&S, "1_add_email.sql",
			      "ALTER TABLE accounts ADD COLUMN email text;\n");
	fault_write_plan(&S, "app", NULL, NULL, hooks);
	fault_deploy_start(&S, &bg, "deploy app");
	for (int i = 0; i < 300 && access(marker, F_OK) < 0; i++)
		usleep(100 * 1000);
	ck_assert_msg(access(marker, F_OK) == 0, "the before_stop hook never ran");
	sigterm_and_expect_cancelled(&bg, &out);

	fault_assert_units(&S, "active");
	ck_assert_int_eq(fault_history_count(&S), -1);
	fault_assert_no_sessions();
	assert_status_cancelled(out);
	fault_write_plan(&S, "app", NULL, NULL, NULL);
	fault_assert_clean_rerun(&S, "app", 1);
}
END_TEST

START_TEST(test_sigterm_during_stop_cancels_the_deploy_and_leaves_the_units_stopped)
{
	start_units(true, false);
	_cleanup_free_ char *out = NULL;
	FaultDeploy bg;

	fault_write_migration(&S, "1_add_email.sql",
			      "ALTER TABLE accounts ADD COLUMN email text;\n");
	fault_write_plan(&S, "app", NULL, NULL, NULL);
	fault_deploy_start(&S, &bg, "deploy app");
	fault_wait_unit_state(slow_stop_unit, "deactivating");
	sigterm_and_expect_cancelled(&bg, &out);

	fault_assert_units(&S, "inactive");
	ck_assert_int_eq(fault_history_count(&S), -1);
	fault_assert_no_sessions();
	assert_status_cancelled(out);
	fault_assert_clean_rerun(&S, "app", 1);
}
END_TEST

START_TEST(test_sigterm_during_migrate_rolls_the_migration_back_and_leaves_the_units_stopped)
{
	start_units(false, false);
	_cleanup_free_ char *out = NULL;
	FaultDeploy bg;

	fault_write_migration(&S, "1_half.sql",
			      "CREATE TABLE half (id int);\nSELECT pg_sleep(30);\n");
	fault_write_plan(&S, "app", NULL, NULL, NULL);
	fault_deploy_start(&S, &bg, "deploy app");
	fault_wait_for_query(&S, "pg_sleep(30)");
	sigterm_and_expect_cancelled(&bg, &out);

	fault_assert_units(&S, "inactive");
	ck_assert_int_le(fault_history_count(&S), 0);
	ck_assert(!fault_table_exists(&S, "half"));
	fault_assert_no_sessions();
	assert_status_cancelled(out);
	fault_write_migration(&S, "1_half.sql", "CREATE TABLE half (id int);\n");
	fault_assert_clean_rerun(&S, "app", 1);
}
END_TEST

START_TEST(test_sigterm_during_start_cancels_the_deploy_with_the_migration_applied)
{
	start_units(false, true);
	_cleanup_free_ char *out = NULL;
	FaultDeploy bg;

	fault_write_migration(&S, "1_add_email.sql",
			      "ALTER TABLE accounts ADD COLUMN email text;\n");
	fault_write_plan(&S, "app", NULL, NULL, NULL);
	fault_deploy_start(&S, &bg, "deploy app");
	fault_wait_unit_state(slow_start_unit, "activating");
	sigterm_and_expect_cancelled(&bg, &out);

	/* The start jobs were already queued with the manager. */
	fault_assert_units(&S, "active");
	ck_assert_int_eq(fault_history_count(&S), 1);
	fault_assert_no_sessions();
	assert_status_cancelled(out);
	fault_assert_clean_rerun(&S, "app", 1);
}
END_TEST

START_TEST(test_the_deploy_goes_on_when_its_client_disconnects)
{
	start_units(false, false);
	_cleanup_free_ char *out = NULL, *status = NULL;
	FaultDeploy bg;

	fault_write_migration(&S, "1_slow.sql", "CREATE TABLE t (id int);\nSELECT pg_sleep(2);\n");
	fault_write_plan(&S, "app", NULL, NULL, NULL);
	fault_deploy_start(&S, &bg, "deploy app");
	fault_wait_for_query(&S, "pg_sleep(2)");
	fault_deploy_kill_client(&bg);
	fault_deploy_wait(&bg, &out);

	for (int i = 0; i < 300; i++) {
		free(status);
		ck_assert_int_eq(test_deployctl(&S.daemon, &status, "status"), 0);
		if (!strstr(status, "running"))
			break;
		usleep(100 * 1000);
	}
	_cleanup_free_ char *id = deploy_id_of(out);
	ck_assert_msg(strstr(status, id) && strstr(status, "ok"),
		      "the deploy did not finish ok without its client:\n%s", status);
	fault_assert_units(&S, "active");
	ck_assert_int_eq(fault_history_count(&S), 1);
	ck_assert(fault_table_exists(&S, "t"));
	fault_assert_no_sessions();
	fault_assert_clean_rerun(&S, "app", 1);
}
END_TEST

START_TEST(test_a_full_disk_under_the_state_file_still_reports_the_result)
{
	start_units(false, false);
	_cleanup_free_ char *out = NULL, *filler = NULL, *options = NULL, *status = NULL;
	char block[4096] = {0};

	/* A tiny file system of our own, filled up, as the state directory.  It is mounted
	 * where the runner (not this forked test) unmounts it, whatever happens here. */
	ck_assert_int_ge(asprintf(&options, "size=64k,mode=0755,uid=%u,gid=%u",
				  (unsigned)harness_test_uid(), (unsigned)harness_test_gid()),
			 0);
	ck_assert_int_eq(mkdir(full_state_dir, 0755), 0);
	ck_assert_msg(mount("deployd-test-full", full_state_dir, "tmpfs", 0, options) == 0,
		      "mounting a tmpfs on %s: %m", full_state_dir);
	ck_assert_int_eq(rmdir(S.daemon.state_dir), 0);
	ck_assert_int_eq(symlink(full_state_dir, S.daemon.state_dir), 0);
	ck_assert_int_ge(asprintf(&filler, "%s/filler", S.daemon.state_dir), 0);
	_cleanup_close_ int fd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	while (write(fd, block, sizeof(block)) > 0)
		;
	ck_assert_int_eq(errno, ENOSPC);
	close(TAKE_FD(fd));

	fault_write_migration(&S, "1_add_email.sql",
			      "ALTER TABLE accounts ADD COLUMN email text;\n");
	fault_write_plan(&S, "app", NULL, NULL, NULL);
	int code = test_deployctl(&S.daemon, &out, "deploy app");
	ck_assert_msg(code == 0, "deploy exited %d:\n%s", code, out);
	ck_assert_msg(strstr(out, "succeeded"), "the result is not reported:\n%s", out);
	fault_assert_units(&S, "active");
	ck_assert_int_eq(fault_history_count(&S), 1);
	fault_assert_no_sessions();

	const char *const cannot_write[] = {"SYSLOG_IDENTIFIER=deployd", "PRIORITY=3", NULL};
	_cleanup_free_ char *msg = journal_field(cannot_write, "MESSAGE");
	ck_assert_msg(msg && strstr(msg, "state file") && strstr(msg, S.daemon.state_dir),
		      "the failure to write the state file is not journaled: %s", msg);

	/* Space again: the next deploy records its result. */
	ck_assert_int_eq(unlink(filler), 0);
	fault_assert_clean_rerun(&S, "app", 1);
	ck_assert_int_eq(test_deployctl(&S.daemon, &status, "status"), 0);
	ck_assert_msg(strstr(status, "ok"), "the state file was not written:\n%s", status);
}
END_TEST

START_TEST(test_two_daemons_on_one_database_the_deploy_lock_admits_one)
{
	start_units(false, false);
	_cleanup_free_ char *out = NULL, *second = NULL, *yaml = NULL, *plan = NULL;
	TestDaemon other;
	FaultDeploy bg;

	test_daemon_setup(&other, 60);
	fault_write_migration(&S, "1_slow.sql", "CREATE TABLE t (id int);\nSELECT pg_sleep(3);\n");
	fault_write_plan(&S, "app", NULL, NULL, NULL);
	/* The same plan for the other daemon (its own plans and state directories). */
	ck_assert_int_ge(asprintf(&plan, "%s/app.yaml", S.daemon.plans_dir), 0);
	_cleanup_fclose_ FILE *f = fopen(plan, "re");
	size_t len = 0;
	ck_assert_ptr_nonnull(f);
	ck_assert_int_gt(getdelim(&yaml, &len, '\0', f), 0);
	test_daemon_write_plan(&other, "app", yaml);

	fault_deploy_start(&S, &bg, "deploy app");
	fault_wait_for_query(&S, "pg_sleep(3)");
	int code = test_deployctl(&other, &second, "deploy app");
	ck_assert_msg(code == 4, "the second daemon's deploy exited %d, expected 4 (busy):\n%s",
		      code, second);
	ck_assert_msg(strstr(second, "deployd/"), "the holder is not named:\n%s", second);

	code = fault_deploy_wait(&bg, &out);
	ck_assert_msg(code == 0, "the first deploy exited %d:\n%s", code, out);
	fault_assert_units(&S, "active");
	ck_assert_int_eq(fault_history_count(&S), 1);
	fault_assert_no_sessions();

	/* Once the first is done, the other daemon's deploy runs (nothing left to migrate). */
	free(second);
	code = test_deployctl(&other, &second, "deploy app");
	ck_assert_msg(code == 0, "the second daemon's re-run exited %d:\n%s", code, second);
	fault_assert_units(&S, "active");
	ck_assert_int_eq(fault_history_count(&S), 1);
	fault_assert_no_sessions();
	test_daemon_teardown(&other);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("faults-daemon");
	TCase *tc = tcase_create("daemon faults");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(
		tc,
		test_deployd_killed_during_stop_is_reported_interrupted_and_nothing_was_migrated);
	tcase_add_test(
		tc,
		test_deployd_killed_during_migrate_is_reported_interrupted_and_nothing_half_applied);
	tcase_add_test(
		tc,
		test_deployd_killed_during_start_is_reported_interrupted_with_the_migration_applied);
	tcase_add_test(tc, test_sigterm_during_preflight_cancels_the_deploy_and_touches_nothing);
	tcase_add_test(tc,
		       test_sigterm_during_stop_cancels_the_deploy_and_leaves_the_units_stopped);
	tcase_add_test(
		tc,
		test_sigterm_during_migrate_rolls_the_migration_back_and_leaves_the_units_stopped);
	tcase_add_test(tc, test_sigterm_during_start_cancels_the_deploy_with_the_migration_applied);
	tcase_add_test(tc, test_the_deploy_goes_on_when_its_client_disconnects);
	tcase_add_test(tc, test_two_daemons_on_one_database_the_deploy_lock_admits_one);
	suite_add_tcase(s, tc);

	TCase *full = tcase_create("state directory full");
	if (asprintf(&full_state_dir, "%s/full-state-%d", getenv("DEPLOYD_TEST_TMPDIR") ?: "/tmp",
		     (int)getpid()) < 0)
		return EXIT_FAILURE;
	tcase_add_checked_fixture(full, setup, teardown);
	tcase_add_unchecked_fixture(full, NULL, unmount_full_state);
	tcase_set_timeout(full, 240);
	tcase_add_test(full, test_a_full_disk_under_the_state_file_still_reports_the_result);
	suite_add_tcase(s, full);

	return check_run_suite(s);
}
