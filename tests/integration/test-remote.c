/* A deploy over two "hosts": deployctl → socket-activated deployd (a user unit, under the
 * system call filter and address families of systemd/deployd.service) → units of this host
 * through the local manager and units of a second host through ssh to a private sshd on a
 * loopback address (tests/harness/up-sshd) and systemd-stdio-bridge; real PostgreSQL, real
 * journal.  Both "hosts" are the test user's manager, reached two ways. */
#include <check.h>
#include <systemd/sd-messages.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check-run.h"
#include "cleanup.h"
#include "harness.h"
#include "journal-query.h"
#include "test-daemon.h"
#include "test-sshd.h"
#include "time-util.h"

/* deployd.service's sandbox as far as a user manager applies it (no mount namespaces). */
#define HARDENING                                                                                  \
	"NoNewPrivileges=yes\n"                                                                    \
	"SystemCallArchitectures=native\n"                                                         \
	"SystemCallFilter=@system-service\n"                                                       \
	"SystemCallFilter=~@privileged @resources\n"                                               \
	"SystemCallErrorNumber=EPERM\n"                                                            \
	"RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK\n"                            \
	"RestrictRealtime=yes\n"                                                                   \
	"LockPersonality=yes\n"

typedef struct Scenario {
	TestSshd sshd;
	TestDaemon daemon;
	char *db;
	char *conninfo;
	char *app_conninfo;
	char *migrations;
	char *here;	/* the api on this host */
	char *there[2]; /* the api and the worker on the second host */
	char hostname[HOST_NAME_MAX + 1];
} Scenario;

static Scenario S;

static void write_file(const char *dir, const char *name, const char *contents, mode_t mode)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_fclose_ FILE *f = NULL;

	ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
	f = fopen(path, "we");
	ck_assert_msg(f, "creating %s", path);
	ck_assert_int_ge(fputs(contents, f), 0);
	ck_assert_int_eq(fchmod(fileno(f), mode), 0);
}

static void assert_state(const char *unit, const char *state)
{
	_cleanup_free_ char *s = harness_unit_state(unit);

	ck_assert_msg(strcmp(s, state) == 0, "%s is %s, expected %s", unit, s, state);
}

/* An app unit: holds a transaction on accounts open (so the migration gets its lock only
 * once every app unit is stopped) and takes a second to stop.  pre_start may make it fail. */
static char *app_unit(const char *stem, const char *pre_start)
{
	_cleanup_free_ char *full_stem = NULL, *unit = NULL;
	char *name;

	/* Unique per test: systemd rate-limits a unit started too often. */
	ck_assert_int_ge(asprintf(&full_stem, "%s%d", stem, (int)getpid()), 0);
	name = harness_unit_name(full_stem, "service");
	ck_assert_int_ge(asprintf(&unit,
				  "[Service]\n%s%sExecStart=/bin/sh %s/app.sh \"%s\"\n"
				  "ExecStop=/bin/sleep 1\n",
				  pre_start ? "ExecStartPre=" : "", pre_start ? pre_start : "",
				  S.daemon.dir, S.app_conninfo),
			 0);
	harness_write_unit(name, unit);
	return name;
}

static void write_plan(const char *name, const char *remote_host, const char *extra_remote_unit,
		       const char *extra_top)
{
	_cleanup_free_ char *yaml = NULL;

	ck_assert_int_ge(asprintf(&yaml,
				  "version: 1\n"
				  "database:\n"
				  "  conninfo: \"%s\"\n"
				  "  lock_timeout: 1s\n"
				  "services:\n"
				  "  bus: user\n"
				  "  units: [%s]\n"
				  "  remote:\n"
				  "    - host: %s\n"
				  "      bus: user\n"
				  "      units: [%s, %s%s%s]\n"
				  "  stop_timeout: 20s\n"
				  "  start_timeout: 20s\n"
				  "migrations:\n"
				  "  directory: %s\n"
				  "%s",
				  S.conninfo, S.here, remote_host ?: S.sshd.host, S.there[0],
				  S.there[1], extra_remote_unit ? ", " : "",
				  extra_remote_unit ?: "", S.migrations, extra_top ?: ""),
			 0);
	test_daemon_write_plan(&S.daemon, name, yaml);
}

static char *daemon_options(void)
{
	char *o;

	ck_assert_int_ge(asprintf(&o,
				  "--ssh-identity %s --ssh-known-hosts %s "
				  "--ssh-connect-timeout 5",
				  S.sshd.identity, S.sshd.known_hosts),
			 0);
	return o;
}

static void setup(void)
{
	_cleanup_free_ char *sql = NULL, *script = NULL, *options = NULL;

	test_sshd_up(&S.sshd);
	options = daemon_options();
	test_daemon_setup_with(&S.daemon, 30, options, HARDENING);
	ck_assert_int_eq(gethostname(S.hostname, sizeof(S.hostname) - 1), 0);

	ck_assert_int_ge(asprintf(&S.db, "remote_%d", (int)getpid()), 0);
	ck_assert_int_ge(asprintf(&sql, "CREATE DATABASE %s OWNER deployer", S.db), 0);
	harness_pg_exec(harness_pg_conninfo(), sql);
	S.conninfo = harness_db_conninfo(S.db, "deployer");
	S.app_conninfo = harness_db_conninfo(S.db, "app_user");
	harness_pg_exec(S.conninfo, "CREATE TABLE accounts (id int);"
				    "GRANT SELECT ON accounts TO app_user;");
	ck_assert_int_ge(asprintf(&S.migrations, "%s/migrations", S.daemon.dir), 0);
	ck_assert_int_eq(mkdir(S.migrations, 0755), 0);
	write_file(S.migrations, "1_add_email.sql", "ALTER TABLE accounts ADD COLUMN email text;\n",
		   0644);

	ck_assert_int_ge(
		asprintf(&script,
			 "#!/bin/sh\n"
			 "{ echo 'BEGIN; SELECT count(*) FROM accounts;'; exec sleep infinity; }"
			 " | exec %s/psql -X -q \"$1\"\n",
			 harness_pg_bindir()),
		0);
	write_file(S.daemon.dir, "app.sh", script, 0755);
}

static void start_units(void)
{
	harness_daemon_reload();
	ck_assert_int_eq(harness_systemctl("start %s %s %s", S.here, S.there[0], S.there[1]), 0);
	harness_wait_idle_in_transaction(S.db, "app_user", 3);
}

static void teardown(void)
{
	_cleanup_free_ char *sql = NULL;

	if (S.here)
		harness_systemctl("stop %s %s %s", S.here, S.there[0], S.there[1]);
	test_daemon_teardown(&S.daemon);
	test_sshd_down(&S.sshd);
	ck_assert_int_ge(asprintf(&sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", S.db), 0);
	harness_pg_exec(harness_pg_conninfo(), sql);
	free(S.db);
	free(S.conninfo);
	free(S.app_conninfo);
	free(S.migrations);
	free(S.here);
	free(S.there[0]);
	free(S.there[1]);
	S = (Scenario){};
}

static char *history_count(void)
{
	return harness_pg_value(S.conninfo, "SELECT count(*) FROM deployd_schema_migrations");
}

static char *deploy_id_from(const char *output)
{
	const char *p = strstr(output, "Deploy ");

	while (p) {
		p += strlen("Deploy ");
		if (strspn(p, "0123456789abcdef") == 32)
			return strndup(p, 32);
		p = strstr(p, "Deploy ");
	}
	return NULL;
}

/* FIELD of the newest event EVENT of deploy id about unit (NULL: any). */
static char *event_field(const char *id, const char *event, const char *unit, const char *field)
{
	_cleanup_free_ char *m_id = NULL, *m_event = NULL, *m_unit = NULL;

	ck_assert_int_ge(asprintf(&m_id, "DEPLOY_ID=%s", id), 0);
	ck_assert_int_ge(asprintf(&m_event, "DEPLOY_EVENT=%s", event), 0);
	if (unit)
		ck_assert_int_ge(asprintf(&m_unit, "DEPLOY_UNIT=%s", unit), 0);
	const char *const matches[] = {m_id, m_event, m_unit, NULL};
	return journal_field(matches, field);
}

static void assert_event_host(const char *id, const char *event, const char *unit, const char *host)
{
	_cleanup_free_ char *value = event_field(id, event, unit, "DEPLOY_HOST");

	ck_assert_msg(value, "no %s event for %s in deploy %s", event, unit ?: "the deploy", id);
	ck_assert_msg(strcmp(value, host) == 0, "%s of %s: DEPLOY_HOST=%s, expected %s", event,
		      unit ?: "the deploy", value, host);
}

START_TEST(test_a_deploy_stops_and_starts_the_units_of_both_hosts)
{
	_cleanup_free_ char *out = NULL, *n = NULL, *id = NULL, *stop_ms = NULL;

	S.here = app_unit("api", NULL);
	S.there[0] = app_unit("api2-", NULL);
	S.there[1] = app_unit("worker2-", NULL);
	start_units();
	write_plan("two", NULL, NULL, NULL);

	/* A dry run connects to both hosts, names what it would stop where, and stops nothing. */
	_cleanup_free_ char *dry = NULL, *would = NULL;
	int code = test_deployctl(&S.daemon, &dry, "deploy two --dry-run");
	ck_assert_msg(code == 0, "dry run exited %d:\n%s", code, dry);
	ck_assert_int_ge(asprintf(&would,
				  "would stop %s on %s (user manager); %s, %s on %s (user manager)",
				  S.here, S.hostname, S.there[0], S.there[1], S.sshd.host),
			 0);
	ck_assert_msg(strstr(dry, would), "no '%s' in:\n%s", would, dry);
	assert_state(S.here, "active");
	assert_state(S.there[0], "active");

	uint64_t since = now_usec(CLOCK_REALTIME);
	code = test_deployctl(&S.daemon, &out, "deploy two --release v7");
	ck_assert_msg(code == 0, "deploy exited %d:\n%s", code, out);

	/* The migration needed every app's transaction gone: all three were stopped first. */
	n = history_count();
	ck_assert_str_eq(n, "1");
	assert_state(S.here, "active");
	assert_state(S.there[0], "active");
	assert_state(S.there[1], "active");
	harness_wait_idle_in_transaction(S.db, "app_user", 3);

	id = deploy_id_from(out);
	ck_assert_ptr_nonnull(id);
	assert_event_host(id, "unit-stopped", S.here, S.hostname);
	assert_event_host(id, "unit-stopped", S.there[0], S.sshd.host);
	assert_event_host(id, "unit-stopped", S.there[1], S.sshd.host);
	assert_event_host(id, "unit-started", S.here, S.hostname);
	assert_event_host(id, "unit-started", S.there[0], S.sshd.host);
	assert_event_host(id, "unit-started", S.there[1], S.sshd.host);
	ck_assert_msg(strstr(out, " on ") && strstr(out, S.sshd.host), "no host named:\n%s", out);
	ck_assert_msg(strstr(out, "3 units restarted on 2 hosts"), "%s", out);

	/* Each unit takes a second to stop: both hosts at once, not one after the other. */
	_cleanup_free_ char *m_id = NULL;
	ck_assert_int_ge(asprintf(&m_id, "DEPLOY_ID=%s", id), 0);
	const char *const stop_phase[] = {m_id, "DEPLOY_EVENT=phase-finished", "DEPLOY_PHASE=stop",
					  NULL};
	stop_ms = journal_field(stop_phase, "DURATION_MS");
	ck_assert_ptr_nonnull(stop_ms);
	fprintf(stderr, "remote: stopping 3 units of 1 s on 2 hosts took %s ms\n", stop_ms);
	char *const all[] = {S.here, S.there[0], S.there[1], NULL};
	journal_assert_overlapped(all, SD_MESSAGE_UNIT_STOPPING_STR, SD_MESSAGE_UNIT_STOPPED_STR,
				  since);
}
END_TEST

START_TEST(test_an_unreachable_host_fails_preflight_and_nothing_is_stopped)
{
	_cleanup_free_ char *out = NULL, *n = NULL, *id = NULL, *nowhere = NULL;

	S.here = app_unit("api", NULL);
	S.there[0] = app_unit("api2-", NULL);
	S.there[1] = app_unit("worker2-", NULL);
	start_units();
	/* Nothing listens on port 1 of the second host's address. */
	ck_assert_int_ge(asprintf(&nowhere, "%s@127.0.0.2:1", harness_test_user()), 0);
	write_plan("unreachable", nowhere, NULL, NULL);

	int code = test_deployctl(&S.daemon, &out, "deploy unreachable");
	ck_assert_msg(code == 5, "deploy exited %d, expected 5:\n%s", code, out);
	ck_assert_msg(strstr(out, nowhere) && strstr(out, "Connection refused"),
		      "the host and why are not named:\n%s", out);
	assert_state(S.here, "active");
	assert_state(S.there[0], "active");
	assert_state(S.there[1], "active");
	n = harness_pg_value(S.conninfo, "SELECT count(*) FROM information_schema.columns "
					 "WHERE table_name = 'accounts' AND column_name = 'email'");
	ck_assert_str_eq(n, "0");

	id = deploy_id_from(out);
	ck_assert_ptr_nonnull(id);
	assert_event_host(id, "deploy-failed", NULL, nowhere);
	_cleanup_free_ char *m_id = NULL;
	ck_assert_int_ge(asprintf(&m_id, "DEPLOY_ID=%s", id), 0);
	const char *const stopped[] = {m_id, "DEPLOY_EVENT=unit-stopped", NULL};
	ck_assert_int_eq(journal_count(stopped), 0);
}
END_TEST

START_TEST(test_several_unreachable_hosts_fail_the_preflight_together_each_named)
{
	_cleanup_free_ char *out = NULL, *id = NULL, *first = NULL, *second = NULL, *yaml = NULL;

	S.here = app_unit("api", NULL);
	S.there[0] = app_unit("api2-", NULL);
	S.there[1] = app_unit("worker2-", NULL);
	start_units();
	/* Nothing listens on port 1 of either address; the reachable host is tried alongside. */
	ck_assert_int_ge(asprintf(&first, "%s@127.0.0.2:1", harness_test_user()), 0);
	ck_assert_int_ge(asprintf(&second, "%s@127.0.0.3:1", harness_test_user()), 0);
	ck_assert_int_ge(asprintf(&yaml,
				  "version: 1\ndatabase:\n  conninfo: \"%s\"\nservices:\n"
				  "  remote:\n"
				  "    - host: %s\n      bus: user\n      units: [%s]\n"
				  "    - host: %s\n      bus: user\n      units: [%s]\n"
				  "    - host: %s\n      bus: user\n      units: [%s]\n"
				  "migrations:\n  directory: %s\n",
				  S.conninfo, first, S.there[0], S.sshd.host, S.here, second,
				  S.there[1], S.migrations),
			 0);
	test_daemon_write_plan(&S.daemon, "two-unreachable", yaml);

	int code = test_deployctl(&S.daemon, &out, "deploy two-unreachable");
	ck_assert_msg(code == 5, "deploy exited %d, expected 5:\n%s", code, out);
	ck_assert_msg(strstr(out, first) && strstr(out, second),
		      "not every unreachable host is named:\n%s", out);
	assert_state(S.here, "active");
	assert_state(S.there[0], "active");
	assert_state(S.there[1], "active");
	id = deploy_id_from(out);
	ck_assert_ptr_nonnull(id);
	_cleanup_free_ char *m_id = NULL, *m_first = NULL, *m_second = NULL;
	ck_assert_int_ge(asprintf(&m_id, "DEPLOY_ID=%s", id), 0);
	ck_assert_int_ge(asprintf(&m_first, "DEPLOY_HOST=%s", first), 0);
	ck_assert_int_ge(asprintf(&m_second, "DEPLOY_HOST=%s", second), 0);
	const char *const failed_first[] = {m_id, "DEPLOY_EVENT=deploy-failed", m_first, NULL};
	const char *const failed_second[] = {m_id, "DEPLOY_EVENT=deploy-failed", m_second, NULL};
	ck_assert_int_eq(journal_count(failed_first), 1);
	ck_assert_int_eq(journal_count(failed_second), 1);
	const char *const failed[] = {m_id, "DEPLOY_EVENT=deploy-failed", NULL};
	/* One for each host (the deploy's own summary may come on top). */
	ck_assert_int_ge(journal_count(failed), 2);
}
END_TEST

/* Every host's check runs at once: one deploy names every unit missing wherever it is
 * missing, and every host it could not reach, in the plan's order of hosts. */
START_TEST(test_units_missing_on_several_hosts_fail_the_preflight_together_each_named)
{
	_cleanup_free_ char *out = NULL, *id = NULL, *nowhere = NULL, *yaml = NULL;
	_cleanup_free_ char *missing_here = NULL, *missing_there = NULL;

	S.here = app_unit("api", NULL);
	S.there[0] = app_unit("api2-", NULL);
	S.there[1] = app_unit("worker2-", NULL);
	start_units();
	missing_here = harness_unit_name("gone-here", "service");
	missing_there = harness_unit_name("gone-there", "service");
	ck_assert_int_ge(asprintf(&nowhere, "%s@127.0.0.3:1", harness_test_user()), 0);
	ck_assert_int_ge(asprintf(&yaml,
				  "version: 1\ndatabase:\n  conninfo: \"%s\"\nservices:\n"
				  "  bus: user\n  units: [%s, %s]\n"
				  "  remote:\n"
				  "    - host: %s\n      bus: user\n      units: [%s, %s]\n"
				  "    - host: %s\n      bus: user\n      units: [%s]\n"
				  "migrations:\n  directory: %s\n",
				  S.conninfo, S.here, missing_here, S.sshd.host, missing_there,
				  S.there[0], nowhere, S.there[1], S.migrations),
			 0);
	test_daemon_write_plan(&S.daemon, "missing-everywhere", yaml);

	int code = test_deployctl(&S.daemon, &out, "deploy missing-everywhere");
	ck_assert_msg(code == 5, "deploy exited %d, expected 5:\n%s", code, out);
	ck_assert_msg(strstr(out, missing_here) && strstr(out, missing_there) &&
			      strstr(out, nowhere),
		      "not every missing unit and unreachable host is named:\n%s", out);
	/* Each in its own place, host by host as the plan lists them. */
	const char *here_at = strstr(out, missing_here), *there_at = strstr(out, missing_there);
	ck_assert_msg(here_at < there_at, "%s (this host) is named after %s (%s):\n%s",
		      missing_here, missing_there, S.sshd.host, out);
	assert_state(S.here, "active");
	assert_state(S.there[0], "active");
	assert_state(S.there[1], "active");

	id = deploy_id_from(out);
	ck_assert_ptr_nonnull(id);
	assert_event_host(id, "deploy-failed", missing_here, S.hostname);
	assert_event_host(id, "deploy-failed", missing_there, S.sshd.host);
	_cleanup_free_ char *m_id = NULL, *m_nowhere = NULL;
	ck_assert_int_ge(asprintf(&m_id, "DEPLOY_ID=%s", id), 0);
	ck_assert_int_ge(asprintf(&m_nowhere, "DEPLOY_HOST=%s", nowhere), 0);
	const char *const unreachable[] = {m_id, "DEPLOY_EVENT=deploy-failed", m_nowhere, NULL};
	ck_assert_int_eq(journal_count(unreachable), 1);
	/* The units that are there are not named as missing. */
	ck_assert_ptr_null(event_field(id, "deploy-failed", S.here, "DEPLOY_HOST"));
	ck_assert_ptr_null(event_field(id, "deploy-failed", S.there[0], "DEPLOY_HOST"));
	const char *const stopped[] = {m_id, "DEPLOY_EVENT=unit-stopped", NULL};
	ck_assert_int_eq(journal_count(stopped), 0);
}
END_TEST

START_TEST(test_a_unit_unknown_on_the_remote_host_fails_preflight_naming_host_and_unit)
{
	_cleanup_free_ char *out = NULL, *id = NULL, *missing = NULL;

	S.here = app_unit("api", NULL);
	S.there[0] = app_unit("api2-", NULL);
	S.there[1] = app_unit("worker2-", NULL);
	start_units();
	missing = harness_unit_name("nowhere", "service");
	write_plan("unknown", NULL, missing, NULL);

	int code = test_deployctl(&S.daemon, &out, "deploy unknown");
	ck_assert_msg(code == 5, "deploy exited %d, expected 5:\n%s", code, out);
	ck_assert_msg(strstr(out, missing) && strstr(out, S.sshd.host), "%s", out);
	assert_state(S.here, "active");
	assert_state(S.there[0], "active");
	id = deploy_id_from(out);
	ck_assert_ptr_nonnull(id);
	assert_event_host(id, "deploy-failed", missing, S.sshd.host);
}
END_TEST

START_TEST(test_a_unit_failing_on_the_remote_host_fails_the_start_naming_host_and_unit)
{
	_cleanup_free_ char *out = NULL, *id = NULL, *marker = NULL, *pre = NULL, *hook = NULL;
	_cleanup_free_ char *n = NULL, *result = NULL, *named = NULL;

	/* The new code of the remote worker does not come up: once the migration's hook has
	 * run, its start fails. */
	ck_assert_int_ge(asprintf(&marker, "%s/migrated", S.daemon.dir), 0);
	ck_assert_int_ge(asprintf(&pre, "/bin/sh -c 'test ! -e %s'\n", marker), 0);
	S.here = app_unit("api", NULL);
	S.there[0] = app_unit("api2-", NULL);
	S.there[1] = app_unit("worker2-", pre);
	start_units();
	ck_assert_int_ge(asprintf(&hook, "hooks:\n  after_migrate: [/bin/touch, %s]\n", marker), 0);
	write_plan("broken", NULL, NULL, hook);

	int code = test_deployctl(&S.daemon, &out, "deploy broken");
	ck_assert_msg(code == 8, "deploy exited %d, expected 8:\n%s", code, out);
	n = history_count();
	ck_assert_str_eq(n, "1");
	assert_state(S.here, "active");
	assert_state(S.there[0], "active");
	assert_state(S.there[1], "failed");

	id = deploy_id_from(out);
	ck_assert_ptr_nonnull(id);
	assert_event_host(id, "unit-failed", S.there[1], S.sshd.host);
	result = event_field(id, "unit-failed", S.there[1], "UNIT_RESULT");
	ck_assert_ptr_nonnull(result);
	ck_assert_str_eq(result, "exit-code");
	/* The deploy's last word names the unit and its host. */
	ck_assert_int_ge(asprintf(&named, "%s on %s did not come up", S.there[1], S.sshd.host), 0);
	ck_assert_msg(strstr(out, named), "no '%s' in:\n%s", named, out);
}
END_TEST

START_TEST(test_a_connection_lost_during_the_migration_is_made_again_for_the_start)
{
	_cleanup_free_ char *out = NULL, *n = NULL, *id = NULL, *sleeping = NULL;

	S.here = app_unit("api", NULL);
	S.there[0] = app_unit("api2-", NULL);
	S.there[1] = app_unit("worker2-", NULL);
	start_units();
	write_file(S.migrations, "2_slow.sql", "SELECT pg_sleep(3);\n", 0644);
	write_plan("blip", NULL, NULL, NULL);
	int logins = test_sshd_logins(&S.sshd);

	ck_assert_int_eq(test_deployctl(&S.daemon, NULL, "deploy blip --detach"), 0);
	ck_assert_int_ge(asprintf(&sleeping,
				  "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' "
				  "AND query LIKE '%%pg_sleep%%' AND state = 'active'",
				  S.db),
			 0);
	for (int i = 0; i < 100; i++) {
		_cleanup_free_ char *v = harness_pg_value(harness_pg_conninfo(), sleeping);
		if (strcmp(v, "1") == 0)
			break;
		usleep(100 * 1000);
	}
	/* The second host's connection goes while the migration runs. */
	ck_assert_int_ge(test_sshd_drop_sessions(&S.sshd), 1);

	int code = test_deployctl(&S.daemon, &out, "status --follow");
	ck_assert_msg(code == 0, "the deploy exited %d:\n%s", code, out);
	n = history_count();
	ck_assert_str_eq(n, "2");
	assert_state(S.there[0], "active");
	assert_state(S.there[1], "active");
	/* One login for the preflight, one more for the start. */
	ck_assert_int_eq(test_sshd_logins(&S.sshd), logins + 2);
	id = deploy_id_from(out);
	ck_assert_ptr_nonnull(id);
	assert_event_host(id, "unit-started", S.there[1], S.sshd.host);
}
END_TEST

/* The authorized_keys line deployd(8) documents for a user-bus account. */
static char *user_bus_forced_command(void)
{
	char *command;

	ck_assert_int_ge(asprintf(&command,
				  "systemd-stdio-bridge --bus-path=unix:path=/run/user/%u/bus",
				  (unsigned)harness_test_uid()),
			 0);
	return command;
}

START_TEST(test_a_key_forced_to_the_user_bus_as_documented_deploys_the_user_units)
{
	_cleanup_free_ char *out = NULL, *command = user_bus_forced_command(), *n = NULL;

	S.here = app_unit("api", NULL);
	S.there[0] = app_unit("api2-", NULL);
	S.there[1] = app_unit("worker2-", NULL);
	start_units();
	/* sshd ignores the command deployd sends and runs only this one. */
	test_sshd_force_command(&S.sshd, command);
	write_plan("two", NULL, NULL, NULL);

	int code = test_deployctl(&S.daemon, &out, "deploy two");
	ck_assert_msg(code == 0, "deploy exited %d:\n%s", code, out);
	n = history_count();
	ck_assert_str_eq(n, "1");
	ck_assert_msg(strstr(out, "3 units restarted on 2 hosts"), "%s", out);
	assert_state(S.there[0], "active");
	assert_state(S.there[1], "active");
}
END_TEST

START_TEST(test_a_key_forced_to_another_bus_than_the_plans_fails_preflight_saying_which)
{
	_cleanup_free_ char *out = NULL, *yaml = NULL, *command = user_bus_forced_command(),
			    *expected = NULL, *n = NULL;

	S.here = app_unit("api", NULL);
	S.there[0] = app_unit("api2-", NULL);
	S.there[1] = app_unit("worker2-", NULL);
	/* The plan names two of them: only those run. */
	harness_daemon_reload();
	ck_assert_int_eq(harness_systemctl("start %s %s", S.here, S.there[0]), 0);
	harness_wait_idle_in_transaction(S.db, "app_user", 2);
	test_sshd_force_command(&S.sshd, command);
	/* The plan means the remote host's system manager; the key only ever reaches the
	 * user's. */
	ck_assert_int_ge(asprintf(&yaml,
				  "version: 1\n"
				  "database:\n  conninfo: \"%s\"\n"
				  "services:\n"
				  "  bus: user\n"
				  "  units: [%s]\n"
				  "  remote:\n"
				  "    - host: %s\n"
				  "      bus: system\n"
				  "      units: [%s]\n"
				  "migrations:\n  directory: %s\n",
				  S.conninfo, S.here, S.sshd.host, S.there[0], S.migrations),
			 0);
	test_daemon_write_plan(&S.daemon, "wrong-bus", yaml);

	int code = test_deployctl(&S.daemon, &out, "deploy wrong-bus");
	ck_assert_msg(code == 5, "deploy exited %d, expected 5 (preflight):\n%s", code, out);
	ck_assert_int_ge(asprintf(&expected,
				  "The service manager reached on %s is the user manager, but the "
				  "plan says bus: system.",
				  S.sshd.host),
			 0);
	ck_assert_msg(strstr(out, expected), "no '%s' in:\n%s", expected, out);
	ck_assert_msg(strstr(out, "restrict,command=\"systemd-stdio-bridge\""), "%s", out);
	/* Nothing was touched. */
	n = harness_pg_value(S.conninfo, "SELECT count(*) FROM information_schema.columns "
					 "WHERE table_name = 'accounts' AND column_name = 'email'");
	ck_assert_str_eq(n, "0");
	assert_state(S.here, "active");
	assert_state(S.there[0], "active");
}
END_TEST

START_TEST(test_a_second_daemon_on_the_same_database_is_busy_and_names_the_holders_host)
{
	_cleanup_free_ char *out = NULL, *second_out = NULL, *options = NULL, *sleeping = NULL;
	_cleanup_free_ char *expected = NULL, *state = NULL, *yaml = NULL;
	TestDaemon second;

	/* One local unit: the second daemon is refused at the deploy lock, before it touches
	 * any unit, so only the database is shared by the two daemons. */
	S.here = app_unit("api", NULL);
	S.there[0] = app_unit("api2-", NULL);
	S.there[1] = app_unit("worker2-", NULL);
	harness_daemon_reload();
	ck_assert_int_eq(harness_systemctl("start %s", S.here), 0);
	harness_wait_idle_in_transaction(S.db, "app_user", 1);
	write_file(S.migrations, "2_slow.sql", "SELECT pg_sleep(30);\n", 0644);
	ck_assert_int_ge(asprintf(&yaml,
				  "version: 1\ndatabase:\n  conninfo: \"%s\"\n"
				  "services:\n  bus: user\n  units: [%s]\n"
				  "migrations:\n  directory: %s\n",
				  S.conninfo, S.here, S.migrations),
			 0);
	test_daemon_write_plan(&S.daemon, "db", yaml);
	options = daemon_options();
	test_daemon_setup_with(&second, 30, options, HARDENING);
	test_daemon_write_plan(&second, "db", yaml);

	int code = test_deployctl(&S.daemon, &out, "deploy db --detach");
	ck_assert_msg(code == 0, "first deploy exited %d:\n%s", code, out);
	ck_assert_int_ge(asprintf(&sleeping,
				  "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' "
				  "AND query LIKE '%%pg_sleep%%' AND state = 'active' "
				  "AND application_name LIKE 'deployd/%%'",
				  S.db),
			 0);
	for (int i = 0; i < 100; i++) {
		_cleanup_free_ char *v = harness_pg_value(harness_pg_conninfo(), sleeping);
		if (strcmp(v, "1") == 0)
			break;
		usleep(100 * 1000);
	}

	code = test_deployctl(&second, &second_out, "deploy db");
	ck_assert_msg(code == 4, "second deploy exited %d, expected 4:\n%s", code, second_out);
	ck_assert_int_ge(asprintf(&expected, "on host %.22s", S.hostname), 0);
	ck_assert_msg(strstr(second_out, expected), "no '%s' in:\n%s", expected, second_out);

	ck_assert_int_eq(test_deployctl(&S.daemon, NULL, "cancel"), 0);
	test_daemon_teardown(&second);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("remote");
	TCase *tc = tcase_create("two hosts");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_a_deploy_stops_and_starts_the_units_of_both_hosts);
	tcase_add_test(tc, test_an_unreachable_host_fails_preflight_and_nothing_is_stopped);
	tcase_add_test(tc, test_several_unreachable_hosts_fail_the_preflight_together_each_named);
	tcase_add_test(tc,
		       test_units_missing_on_several_hosts_fail_the_preflight_together_each_named);
	tcase_add_test(tc,
		       test_a_unit_unknown_on_the_remote_host_fails_preflight_naming_host_and_unit);
	tcase_add_test(tc,
		       test_a_unit_failing_on_the_remote_host_fails_the_start_naming_host_and_unit);
	tcase_add_test(tc, test_a_connection_lost_during_the_migration_is_made_again_for_the_start);
	tcase_add_test(
		tc, test_a_second_daemon_on_the_same_database_is_busy_and_names_the_holders_host);
	tcase_add_test(tc, test_a_key_forced_to_the_user_bus_as_documented_deploys_the_user_units);
	tcase_add_test(
		tc, test_a_key_forced_to_another_bus_than_the_plans_fails_preflight_saying_which);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
