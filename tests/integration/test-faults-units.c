/* Fault injection, service manager side: a unit that ignores SIGTERM (until its own stop
 * timeout, and past the plan's), a unit that fails to start, and the user manager's bus
 * going away in the middle of a deploy (through a proxy socket this test owns, so the
 * manager and the bus shared with other runs are never touched).  Each case checks the exit
 * code, the units, the history table, that no session of ours is left, and that a clean
 * re-run then succeeds. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bus-proxy.h"
#include "check-run.h"
#include "cleanup.h"
#include "fault-scenario.h"
#include "harness.h"

static FaultScenario S;

/* Ignores SIGTERM (its sleeps inherit the disposition): only SIGKILL ends it.  It creates
 * file $1 once SIGTERM is ignored. */
#define STUBBORN_SCRIPT                                                                            \
	"#!/bin/sh\n"                                                                              \
	"trap '' TERM\n"                                                                           \
	"touch \"$1\"\n"                                                                           \
	"while :; do sleep 0.2; done\n"

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void setup(void)
{
	fault_setup(&S, NULL);
}

static void teardown(void)
{
	fault_teardown(&S);
}

static char *stubborn_ready;

static const char *add_stubborn_unit(const char *timeout_stop)
{
	_cleanup_free_ char *script = NULL, *service = NULL;

	script = fault_write_script(&S, "stubborn.sh", STUBBORN_SCRIPT);
	free(stubborn_ready);
	ck_assert_int_ge(asprintf(&stubborn_ready, "%s/stubborn-ready", S.daemon.dir), 0);
	ck_assert_int_ge(asprintf(&service, "ExecStart=/bin/sh %s %s\nTimeoutStopSec=%s\n", script,
				  stubborn_ready, timeout_stop),
			 0);
	return fault_add_unit(&S, "stubborn", service);
}

/* Starts the units and waits until the stubborn one ignores SIGTERM. */
static void start_units(void)
{
	fault_start_units(&S);
	fault_wait_for_file(stubborn_ready);
}

START_TEST(test_a_unit_ignoring_sigterm_is_killed_at_its_stop_timeout_and_the_deploy_goes_on)
{
	_cleanup_free_ char *out = NULL;

	add_stubborn_unit("2s");
	fault_add_unit(&S, "api", FAULT_SIMPLE_SERVICE);
	start_units();
	fault_write_migration(&S, "1_add_email.sql",
			      "ALTER TABLE accounts ADD COLUMN email text;\n");
	fault_write_plan(&S, "app", NULL, NULL, NULL);

	double start = now_seconds();
	int code = test_deployctl(&S.daemon, &out, "deploy app");
	double elapsed = now_seconds() - start;

	ck_assert_msg(code == 0, "deploy exited %d:\n%s", code, out);
	/* The manager waited out the unit's 2 s stop timeout, then killed it. */
	ck_assert_msg(elapsed >= 2.0, "the deploy took only %.1f s", elapsed);
	fault_assert_units(&S, "active");
	ck_assert_int_eq(fault_history_count(&S), 1);
	fault_assert_no_sessions();
	fault_assert_clean_rerun(&S, "app", 1);
}
END_TEST

START_TEST(test_a_unit_ignoring_sigterm_past_the_plans_stop_timeout_fails_the_stop_phase)
{
	_cleanup_free_ char *out = NULL;

	const char *stubborn = add_stubborn_unit("90s");
	const char *api = fault_add_unit(&S, "api", FAULT_SIMPLE_SERVICE);
	start_units();
	fault_write_migration(&S, "1_add_email.sql",
			      "ALTER TABLE accounts ADD COLUMN email text;\n");
	fault_write_plan(&S, "app", NULL, "  stop_timeout: 2s\n", NULL);

	double start = now_seconds();
	int code = test_deployctl(&S.daemon, &out, "deploy app");
	double elapsed = now_seconds() - start;

	ck_assert_msg(code == 6, "deploy exited %d, expected 6 (stop failed):\n%s", code, out);
	ck_assert_msg(elapsed < 15.0, "the deploy took %.1f s (stop_timeout is 2 s)", elapsed);
	ck_assert_msg(strstr(out, stubborn), "the stubborn unit is not named:\n%s", out);
	/* The unit is still on its way down (its own 90 s); the other one stopped. */
	fault_wait_unit_state(stubborn, "deactivating");
	fault_wait_unit_state(api, "inactive");
	ck_assert_int_eq(fault_history_count(&S), -1);
	fault_assert_no_sessions();

	/* Without the fault: the unit killed and replaced by one that stops. */
	ck_assert_int_eq(harness_systemctl("kill --signal=SIGKILL %s", stubborn), 0);
	fault_rewrite_unit(stubborn, FAULT_SIMPLE_SERVICE);
	harness_systemctl("reset-failed %s", stubborn);
	fault_assert_clean_rerun(&S, "app", 1);
}
END_TEST

START_TEST(test_a_unit_that_fails_to_start_fails_the_deploy_and_the_fixed_unit_redeploys)
{
	_cleanup_free_ char *out = NULL, *script = NULL, *service = NULL;

	script = fault_write_script(&S, "broken.sh",
				    "#!/bin/sh\necho 'broken: cannot read /etc/app/config.toml'\n"
				    "sleep 0.5\nexit 3\n");
	ck_assert_int_ge(asprintf(&service, "Type=exec\nExecStart=/bin/sh %s\n", script), 0);
	const char *api = fault_add_unit(&S, "api", FAULT_SIMPLE_SERVICE);
	const char *broken = fault_add_unit(&S, "broken", service);
	ck_assert_int_eq(harness_systemctl("start %s", api), 0);
	fault_write_migration(&S, "1_add_email.sql",
			      "ALTER TABLE accounts ADD COLUMN email text;\n");
	fault_write_plan(&S, "app", NULL, "  settle: 1s\n", NULL);

	int code = test_deployctl(&S.daemon, &out, "deploy app");
	ck_assert_msg(code == 8, "deploy exited %d, expected 8 (start failed):\n%s", code, out);
	ck_assert_msg(strstr(out, broken), "the broken unit is not named:\n%s", out);
	fault_wait_unit_state(broken, "failed");
	fault_wait_unit_state(api, "active");
	/* The migration was applied before the start: it stays applied. */
	ck_assert_int_eq(fault_history_count(&S), 1);
	fault_assert_no_sessions();

	fault_rewrite_unit(broken, FAULT_SIMPLE_SERVICE);
	harness_systemctl("reset-failed %s", broken);
	fault_assert_clean_rerun(&S, "app", 1);
}
END_TEST

/* The daemon's way to its manager: XDG_RUNTIME_DIR and DBUS_SESSION_BUS_ADDRESS point into
 * a directory of ours where a proxy forwards to the real private socket and bus. */
static char *runtime_dir;
static BusProxy proxy;

static void start_proxy(void)
{
	_cleanup_free_ char *private = NULL, *bus = NULL, *real_private = NULL, *real_bus = NULL;

	ck_assert_int_ge(asprintf(&private, "%s/systemd/private", runtime_dir), 0);
	ck_assert_int_ge(asprintf(&bus, "%s/bus", runtime_dir), 0);
	ck_assert_int_ge(asprintf(&real_private, "/run/user/%u/systemd/private",
				  (unsigned)harness_test_uid()),
			 0);
	ck_assert_int_ge(asprintf(&real_bus, "/run/user/%u/bus", (unsigned)harness_test_uid()), 0);
	const char *const listen[] = {private, bus};
	const char *const target[] = {real_private, real_bus};
	bus_proxy_start(&proxy, listen, target, 2, harness_test_uid(), harness_test_gid());
}

static void setup_proxied(void)
{
	_cleanup_free_ char *systemd_dir = NULL, *environment = NULL;

	runtime_dir = harness_tmpdir();
	ck_assert_int_ge(asprintf(&systemd_dir, "%s/systemd", runtime_dir), 0);
	ck_assert_int_eq(mkdir(systemd_dir, 0755), 0);
	ck_assert_int_eq(chown(systemd_dir, harness_test_uid(), harness_test_gid()), 0);
	start_proxy();
	ck_assert_int_ge(asprintf(&environment,
				  "Environment=XDG_RUNTIME_DIR=%s "
				  "DBUS_SESSION_BUS_ADDRESS=unix:path=%s/bus\n",
				  runtime_dir, runtime_dir),
			 0);
	fault_setup(&S, environment);
}

static void teardown_proxied(void)
{
	fault_teardown(&S);
	bus_proxy_kill(&proxy);
	free(runtime_dir);
}

START_TEST(test_the_managers_bus_going_away_mid_deploy_fails_the_start_and_a_rerun_succeeds)
{
	_cleanup_free_ char *out = NULL;
	FaultDeploy bg;

	fault_add_unit(&S, "api", FAULT_SIMPLE_SERVICE);
	fault_add_unit(&S, "worker", FAULT_SIMPLE_SERVICE);
	fault_start_units(&S);
	fault_write_migration(&S, "1_slow.sql", "CREATE TABLE t (id int);\nSELECT pg_sleep(2);\n");
	fault_write_plan(&S, "app", NULL, NULL, NULL);

	fault_deploy_start(&S, &bg, "deploy app");
	fault_wait_for_query(&S, "pg_sleep(2)");
	bus_proxy_kill(&proxy);

	int code = fault_deploy_wait(&bg, &out);
	ck_assert_msg(code == 8, "deploy exited %d, expected 8 (start failed):\n%s", code, out);
	ck_assert_msg(strstr(out, "service manager"), "the lost manager is not reported:\n%s", out);
	fault_assert_units(&S, "inactive");
	ck_assert_int_eq(fault_history_count(&S), 1);
	ck_assert(fault_table_exists(&S, "t"));
	fault_assert_no_sessions();

	/* The bus is back: the deploy starts the units (nothing left to migrate). */
	start_proxy();
	fault_assert_clean_rerun(&S, "app", 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("faults-units");
	TCase *tc = tcase_create("unit faults");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(
		tc,
		test_a_unit_ignoring_sigterm_is_killed_at_its_stop_timeout_and_the_deploy_goes_on);
	tcase_add_test(
		tc, test_a_unit_ignoring_sigterm_past_the_plans_stop_timeout_fails_the_stop_phase);
	tcase_add_test(
		tc, test_a_unit_that_fails_to_start_fails_the_deploy_and_the_fixed_unit_redeploys);
	suite_add_tcase(s, tc);

	TCase *bus = tcase_create("the manager's bus");
	tcase_add_checked_fixture(bus, setup_proxied, teardown_proxied);
	tcase_set_timeout(bus, 240);
	tcase_add_test(
		bus,
		test_the_managers_bus_going_away_mid_deploy_fails_the_start_and_a_rerun_succeeds);
	suite_add_tcase(s, bus);

	return check_run_suite(s);
}
