/* test-preflight.c — a deploy refuses, before stopping anything, when someone outside the
 * plan's units is in the way of the migrations' locks; the units' own sessions never refuse.
 *
 * End to end: deployctl → socket-activated deployd (a user unit of the real test manager) →
 * three real units that each hold a transaction open on the altered table over TCP from this
 * host, a real PostgreSQL, the real journal; the daemon in deployd.service's sandbox.  Outside
 * sessions are this test's own, over TCP (attributed outside through their socket's cgroup, which
 * is not a unit's). */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check-run.h"
#include "cleanup.h"
#include "harness.h"
#include "journal-query.h"
#include "pg-cleanup.h"
#include "sessions.h"
#include "test-daemon.h"

#define GID "deployd-preflight-test"

/* deployd.service's sandbox as far as a user manager applies it (no mount namespaces, so not
 * ProtectProc=/ProcSubset=, which the attribution does not need: it reads no /proc; the
 * daemon runs as the test user, without capabilities). */
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
	TestDaemon daemon;
	char *db;
	char *conninfo;	 /* the deploy role, Unix socket */
	char *tcp_app;	 /* the application role over TCP */
	char *superuser; /* postgres on the scenario's database */
	char *migrations;
	char *units[3];
} Scenario;

static Scenario S;

static void write_file(const char *dir, const char *name, const char *contents)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_fclose_ FILE *f = NULL;

	ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
	f = fopen(path, "we");
	ck_assert_msg(f, "creating %s", path);
	ck_assert_int_ge(fputs(contents, f), 0);
	ck_assert_int_eq(fchmod(fileno(f), 0644), 0);
}

static void assert_units_state(const char *state)
{
	for (int i = 0; i < 3; i++) {
		_cleanup_free_ char *s = harness_unit_state(S.units[i]);
		ck_assert_msg(strcmp(s, state) == 0, "%s is %s, expected %s", S.units[i], s, state);
	}
}

static void write_plan_with(const char *preflight_wait, const char *extra_unit)
{
	_cleanup_free_ char *yaml = NULL;

	ck_assert_int_ge(asprintf(&yaml,
				  "version: 1\n"
				  "database:\n"
				  "  conninfo: \"%s\"\n"
				  "  lock_timeout: 1s\n"
				  "  preflight_wait: %s\n"
				  "services:\n"
				  "  bus: user\n"
				  "  units: [%s, %s, %s%s%s]\n"
				  "  stop_timeout: 20s\n"
				  "  start_timeout: 20s\n"
				  "idle_transactions:\n"
				  "  older_than: 1s\n"
				  "migrations:\n"
				  "  directory: %s\n",
				  S.conninfo, preflight_wait, S.units[0], S.units[1], S.units[2],
				  extra_unit ? ", " : "", extra_unit ?: "", S.migrations),
			 0);
	test_daemon_write_plan(&S.daemon, "app", yaml);
}

static void write_plan(const char *preflight_wait)
{
	write_plan_with(preflight_wait, NULL);
}

static void setup(void)
{
	static const char *const stems[] = {"pfapi", "pfworker", "pfscheduler"};
	_cleanup_free_ char *sql = NULL, *script = NULL;

	test_daemon_setup_with(&S.daemon, 30, NULL, HARDENING);
	ck_assert_int_ge(asprintf(&S.db, "preflight_%d", (int)getpid()), 0);
	ck_assert_int_ge(asprintf(&sql, "CREATE DATABASE %s OWNER deployer", S.db), 0);
	harness_pg_exec(harness_pg_conninfo(), sql);
	S.conninfo = harness_db_conninfo(S.db, "deployer");
	S.tcp_app = harness_db_tcp_conninfo(S.db, "app_user");
	S.superuser = harness_db_conninfo(S.db, "postgres");
	harness_pg_exec(S.conninfo, "CREATE TABLE accounts (id int);"
				    "INSERT INTO accounts VALUES (1), (2);"
				    "CREATE TABLE audit (id int);"
				    "GRANT SELECT ON accounts, audit TO app_user;");
	ck_assert_int_ge(asprintf(&S.migrations, "%s/migrations", S.daemon.dir), 0);
	ck_assert_int_eq(mkdir(S.migrations, 0755), 0);
	write_file(S.migrations, "1_add_email.sql",
		   "ALTER TABLE accounts ADD COLUMN email text;\n");

	/* Each unit holds a transaction open on accounts over TCP from this host, as an app
	 * with a forgotten transaction does. */
	ck_assert_int_ge(
		asprintf(&script,
			 "#!/bin/sh\n"
			 "{ echo 'BEGIN; SELECT count(*) FROM accounts;'; exec sleep infinity; }"
			 " | exec %s/psql -X -q \"$1\"\n",
			 harness_pg_bindir()),
		0);
	write_file(S.daemon.dir, "app.sh", script);
	for (int i = 0; i < 3; i++) {
		_cleanup_free_ char *unit = NULL, *stem = NULL;
		ck_assert_int_ge(asprintf(&stem, "%s%d", stems[i], (int)getpid()), 0);
		S.units[i] = harness_unit_name(stem, "service");
		ck_assert_int_ge(asprintf(&unit,
					  "[Service]\nExecStart=/bin/sh %s/app.sh \"%s "
					  "application_name=%s\"\n",
					  S.daemon.dir, S.tcp_app, stems[i]),
				 0);
		harness_write_unit(S.units[i], unit);
	}
	harness_daemon_reload();
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(harness_systemctl("start %s", S.units[i]), 0);
	harness_wait_idle_in_transaction(S.db, "app_user", 3);
}

static void teardown(void)
{
	_cleanup_free_ char *sql = NULL;

	for (int i = 0; i < 3; i++) {
		harness_systemctl("stop %s", S.units[i]);
		free(S.units[i]);
	}
	test_daemon_teardown(&S.daemon);
	ck_assert_int_ge(asprintf(&sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", S.db), 0);
	harness_pg_exec(harness_pg_conninfo(), sql);
	free(S.db);
	free(S.conninfo);
	free(S.tcp_app);
	free(S.superuser);
	free(S.migrations);
}

static char *email_columns(void)
{
	return harness_pg_value(S.conninfo,
				"SELECT count(*) FROM information_schema.columns "
				"WHERE table_name = 'accounts' AND column_name = 'email'");
}

static char *deploy_id_from(const char *output)
{
	for (const char *p = strstr(output, "Deploy "); p; p = strstr(p, "Deploy ")) {
		p += strlen("Deploy ");
		if (strspn(p, "0123456789abcdef") == 32)
			return strndup(p, 32);
	}
	return NULL;
}

/* The value of field in the first entry of this deploy's event (with match2 when given). */
static char *event_field(const char *output, const char *event, const char *match2,
			 const char *field)
{
	_cleanup_free_ char *id = deploy_id_from(output), *m_id = NULL, *m_event = NULL;

	ck_assert_msg(id, "no deploy id in:\n%s", output);
	ck_assert_int_ge(asprintf(&m_id, "DEPLOY_ID=%s", id), 0);
	ck_assert_int_ge(asprintf(&m_event, "DEPLOY_EVENT=%s", event), 0);
	const char *const matches[] = {m_id, m_event, match2, NULL};
	return journal_field(matches, field);
}

/* Counted once the deploy's last entry is in the journal. */
static int count_events(const char *output, const char *event, const char *match2)
{
	_cleanup_free_ char *id = deploy_id_from(output), *m_id = NULL, *m_event = NULL;
	_cleanup_free_ char *result = event_field(output, "deploy-finished", NULL, "DEPLOY_RESULT");

	ck_assert_ptr_nonnull(result);
	ck_assert_int_ge(asprintf(&m_id, "DEPLOY_ID=%s", id), 0);
	ck_assert_int_ge(asprintf(&m_event, "DEPLOY_EVENT=%s", event), 0);
	const char *const matches[] = {m_id, m_event, match2, NULL};
	return journal_count(matches);
}

/* The deploy refused in preflight: exit 5, nothing applied, the units still up, and one
 * refused preflight-blocker naming want (a pid, or a gid). */
static void assert_refused(int code, const char *out, const char *field, const char *want)
{
	_cleanup_free_ char *n = email_columns(), *v = NULL, *owner = NULL;

	ck_assert_msg(code == 5, "deploy exited %d, expected 5:\n%s", code, out);
	ck_assert_str_eq(n, "0");
	assert_units_state("active");
	ck_assert_msg(strstr(out, want), "%s %s is not named:\n%s", field, want, out);
	v = event_field(out, "preflight-blocker", "PREFLIGHT_VERDICT=refused", field);
	ck_assert_msg(v, "no refused preflight-blocker entry:\n%s", out);
	ck_assert_str_eq(v, want);
	owner = event_field(out, "preflight-blocker", "PREFLIGHT_VERDICT=refused", "BLOCKER_OWNER");
	ck_assert_str_eq(owner, "outside");
	ck_assert_int_eq(count_events(out, "unit-stopped", NULL), 0);
	ck_assert_int_eq(count_events(out, "deploy-failed", NULL), 1);
}

START_TEST(test_the_units_own_idle_transactions_on_the_altered_table_do_not_refuse)
{
	_cleanup_free_ char *out = NULL, *n = NULL;

	write_plan("0");
	int code = test_deployctl(&S.daemon, &out, "deploy app");
	ck_assert_msg(code == 0, "deploy exited %d:\n%s", code, out);
	n = email_columns();
	ck_assert_str_eq(n, "1");
	assert_units_state("active");
	ck_assert_int_eq(count_events(out, "preflight-blocker", "BLOCKER_OWNER=units"), 3);
	for (int i = 0; i < 3; i++) {
		_cleanup_free_ char *m = NULL;
		ck_assert_int_ge(asprintf(&m, "BLOCKER_UNIT=%s", S.units[i]), 0);
		ck_assert_int_eq(count_events(out, "preflight-blocker", m), 1);
	}
}
END_TEST

START_TEST(test_an_outside_idle_transaction_refuses_with_exit_5_and_the_units_stay_active)
{
	_cleanup_(PQfinishp) PGconn *blocker = test_session(S.tcp_app, "analyst");
	_cleanup_free_ char *out = NULL, *pid = NULL;

	test_exec(blocker, "BEGIN; SELECT count(*) FROM accounts");
	ck_assert_int_ge(asprintf(&pid, "%d", PQbackendPID(blocker)), 0);
	write_plan("0");
	int code = test_deployctl(&S.daemon, &out, "deploy app");
	assert_refused(code, out, "BLOCKER_PID", pid);
	_cleanup_free_ char *app = event_field(out, "preflight-blocker",
					       "PREFLIGHT_VERDICT=refused", "BLOCKER_APPLICATION");
	ck_assert_str_eq(app, "analyst");
}
END_TEST

START_TEST(test_a_prepared_transaction_refuses_with_exit_5_naming_its_gid)
{
	_cleanup_(PQfinishp) PGconn *preparer = test_session(S.tcp_app, "batch");
	_cleanup_free_ char *out = NULL;

	test_exec(preparer, "BEGIN; SELECT count(*) FROM accounts; PREPARE TRANSACTION '" GID "'");
	write_plan("0");
	int code = test_deployctl(&S.daemon, &out, "deploy app");
	harness_pg_exec(S.superuser, "ROLLBACK PREPARED '" GID "'");
	assert_refused(code, out, "BLOCKER_GID", GID);
}
END_TEST

START_TEST(test_an_outside_active_long_query_refuses_with_exit_5)
{
	_cleanup_(PQfinishp) PGconn *query = test_session(S.tcp_app, "report");
	_cleanup_(PQfinishp) PGconn *observer = harness_pg_connect(S.superuser);
	_cleanup_free_ char *out = NULL, *pid = NULL;

	ck_assert_int_eq(PQsendQuery(query, "SELECT count(*) FROM accounts, pg_sleep(60)"), 1);
	test_wait_until_state(observer, PQbackendPID(query), "active");
	ck_assert_int_ge(asprintf(&pid, "%d", PQbackendPID(query)), 0);
	write_plan("0");
	int code = test_deployctl(&S.daemon, &out, "deploy app");
	assert_refused(code, out, "BLOCKER_PID", pid);
	_cleanup_free_ char *state =
		event_field(out, "preflight-blocker", "PREFLIGHT_VERDICT=refused", "BLOCKER_STATE");
	ck_assert_str_eq(state, "active");
}
END_TEST

START_TEST(test_an_outside_session_queued_for_a_lock_refuses_with_exit_5)
{
	_cleanup_free_ char *owner_tcp = harness_db_tcp_conninfo(S.db, "deployer");
	_cleanup_(PQfinishp) PGconn *queued = test_session(owner_tcp, "vacuum-script");
	_cleanup_(PQfinishp) PGconn *observer = harness_pg_connect(S.superuser);
	_cleanup_free_ char *out = NULL, *pid = NULL;

	/* Queued behind the units' own readers: they would go, but it would then hold the
	 * table until it commits. */
	ck_assert_int_eq(PQsendQuery(queued, "BEGIN; LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE"),
			 1);
	test_wait_until_waiting(observer, PQbackendPID(queued));
	ck_assert_int_ge(asprintf(&pid, "%d", PQbackendPID(queued)), 0);
	write_plan("0");
	int code = test_deployctl(&S.daemon, &out, "deploy app");
	assert_refused(code, out, "BLOCKER_PID", pid);
	_cleanup_free_ char *q = event_field(out, "preflight-blocker", "PREFLIGHT_VERDICT=refused",
					     "BLOCKER_QUEUED");
	ck_assert_str_eq(q, "yes");
}
END_TEST

START_TEST(test_an_outside_lock_on_an_untouched_table_does_not_refuse)
{
	_cleanup_(PQfinishp) PGconn *other = test_session(S.tcp_app, "analyst");
	_cleanup_free_ char *out = NULL, *n = NULL;

	test_exec(other, "BEGIN; SELECT count(*) FROM audit");
	write_plan("0");
	int code = test_deployctl(&S.daemon, &out, "deploy app");
	ck_assert_msg(code == 0, "deploy exited %d:\n%s", code, out);
	n = email_columns();
	ck_assert_str_eq(n, "1");
	ck_assert_int_eq(count_events(out, "preflight-blocker", "BLOCKER_OWNER=outside"), 0);
}
END_TEST

/* Commits the blocker once the preflight reported that it waits for it (or after 30 s). */
static void *commit_when_waited_for(void *userdata)
{
	PGconn *blocker = userdata;
	_cleanup_free_ char *pid = NULL;

	if (asprintf(&pid, "BLOCKER_PID=%d", PQbackendPID(blocker)) < 0)
		abort();
	const char *const matches[] = {"DEPLOY_EVENT=preflight-blocker",
				       "PREFLIGHT_VERDICT=waiting", pid, NULL};
	for (int i = 0; i < 300 && journal_count(matches) == 0; i++)
		usleep(100 * 1000);
	PQclear(PQexec(blocker, "COMMIT"));
	return NULL;
}

START_TEST(test_preflight_wait_lets_a_blocker_that_commits_in_time_through)
{
	_cleanup_(PQfinishp) PGconn *blocker = test_session(S.tcp_app, "analyst");
	_cleanup_free_ char *out = NULL, *n = NULL;
	pthread_t t;

	test_exec(blocker, "BEGIN; SELECT count(*) FROM accounts");
	write_plan("20s");
	ck_assert_int_eq(pthread_create(&t, NULL, commit_when_waited_for, blocker), 0);
	int code = test_deployctl(&S.daemon, &out, "deploy app");
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_msg(code == 0, "deploy exited %d:\n%s", code, out);
	n = email_columns();
	ck_assert_str_eq(n, "1");
	/* Reported once while waiting, never refused. */
	ck_assert_int_eq(count_events(out, "preflight-blocker", "PREFLIGHT_VERDICT=waiting"), 1);
	ck_assert_int_eq(count_events(out, "preflight-blocker", "PREFLIGHT_VERDICT=refused"), 0);
}
END_TEST

START_TEST(test_terminate_idle_clears_an_outside_idle_blocker_in_preflight_and_the_deploy_succeeds)
{
	_cleanup_(PQfinishp) PGconn *blocker = test_session(S.tcp_app, "analyst");
	_cleanup_free_ char *out = NULL, *n = NULL, *pid = NULL, *phase = NULL;

	test_exec(blocker, "BEGIN; SELECT count(*) FROM accounts");
	ck_assert_int_ge(asprintf(&pid, "IDLE_PID=%d", PQbackendPID(blocker)), 0);
	write_plan("0");
	sleep(2); /* older_than is 1 s */
	int code = test_deployctl(&S.daemon, &out, "deploy app --terminate-idle");
	ck_assert_msg(code == 0, "deploy exited %d:\n%s", code, out);
	n = email_columns();
	ck_assert_str_eq(n, "1");
	assert_units_state("active");
	phase = event_field(out, "idle-terminated", pid, "DEPLOY_PHASE");
	ck_assert_ptr_nonnull(phase);
	ck_assert_str_eq(phase, "preflight");
	PGresult *res = PQexec(blocker, "SELECT 1");
	ck_assert_int_ne(PQresultStatus(res), PGRES_TUPLES_OK);
	PQclear(res);
}
END_TEST

/* A unit whose stop leaves a child behind (KillMode=process): the child holds a transaction
 * open on accounts over TCP, as a forked worker or an embedded pooler would; it gives up by
 * itself after a while. */
static char *start_leaky_unit(void)
{
	_cleanup_free_ char *stem = NULL, *unit = NULL, *script = NULL;
	char *name;

	ck_assert_int_ge(asprintf(&script,
				  "#!/bin/sh\n"
				  "{ echo 'BEGIN; SELECT count(*) FROM accounts;'; exec sleep 40; }"
				  " | %s/psql -X -q \"$1\" &\n"
				  "exec sleep infinity\n",
				  harness_pg_bindir()),
			 0);
	write_file(S.daemon.dir, "leaky.sh", script);
	ck_assert_int_ge(asprintf(&stem, "pfleaky%d", (int)getpid()), 0);
	name = harness_unit_name(stem, "service");
	ck_assert_int_ge(asprintf(&unit,
				  "[Service]\nKillMode=process\nExecStart=/bin/sh %s/leaky.sh \"%s "
				  "application_name=leaky\"\n",
				  S.daemon.dir, S.tcp_app),
			 0);
	harness_write_unit(name, unit);
	harness_daemon_reload();
	ck_assert_int_eq(harness_systemctl("start %s", name), 0);
	harness_wait_idle_in_transaction(S.db, "app_user", 4);
	return name;
}

START_TEST(test_a_units_session_left_behind_by_its_stop_is_reported_and_the_migration_waits_on_it)
{
	_cleanup_free_ char *leaky = start_leaky_unit(), *out = NULL, *unit = NULL, *n = NULL;

	write_plan_with("0", leaky);
	int code = test_deployctl(&S.daemon, &out, "deploy app");
	harness_systemctl("stop %s", leaky);
	ck_assert_msg(code == 7, "deploy exited %d, expected 7:\n%s", code, out);
	unit = event_field(out, "preflight-blocker", "PREFLIGHT_VERDICT=leftover", "BLOCKER_UNIT");
	ck_assert_msg(unit, "no leftover reported:\n%s", out);
	ck_assert_str_eq(unit, leaky);
	ck_assert_int_eq(count_events(out, "preflight-blocker", "PREFLIGHT_VERDICT=leftover"), 1);
	n = email_columns();
	ck_assert_str_eq(n, "0");
}
END_TEST

START_TEST(test_terminate_idle_ends_a_units_session_left_behind_by_its_stop)
{
	_cleanup_free_ char *leaky = start_leaky_unit(), *out = NULL, *phase = NULL, *n = NULL;

	write_plan_with("0", leaky);
	int code = test_deployctl(&S.daemon, &out, "deploy app --terminate-idle");
	ck_assert_msg(code == 0, "deploy exited %d:\n%s", code, out);
	phase = event_field(out, "preflight-blocker", "PREFLIGHT_VERDICT=terminated",
			    "DEPLOY_PHASE");
	ck_assert_msg(phase, "no leftover terminated:\n%s", out);
	ck_assert_str_eq(phase, "stop");
	n = email_columns();
	ck_assert_str_eq(n, "1");
	harness_systemctl("stop %s", leaky);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("preflight");
	TCase *tc = tcase_create("daemon");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_the_units_own_idle_transactions_on_the_altered_table_do_not_refuse);
	tcase_add_test(
		tc, test_an_outside_idle_transaction_refuses_with_exit_5_and_the_units_stay_active);
	tcase_add_test(tc, test_a_prepared_transaction_refuses_with_exit_5_naming_its_gid);
	tcase_add_test(tc, test_an_outside_active_long_query_refuses_with_exit_5);
	tcase_add_test(tc, test_an_outside_session_queued_for_a_lock_refuses_with_exit_5);
	tcase_add_test(tc, test_an_outside_lock_on_an_untouched_table_does_not_refuse);
	tcase_add_test(tc, test_preflight_wait_lets_a_blocker_that_commits_in_time_through);
	tcase_add_test(
		tc,
		test_terminate_idle_clears_an_outside_idle_blocker_in_preflight_and_the_deploy_succeeds);
	tcase_add_test(
		tc,
		test_a_units_session_left_behind_by_its_stop_is_reported_and_the_migration_waits_on_it);
	tcase_add_test(tc, test_terminate_idle_ends_a_units_session_left_behind_by_its_stop);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_suite(suite());
}
