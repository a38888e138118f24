/* The daemon end to end: deployctl → socket-activated deployd (a user unit of
 * the real test manager) → real units, real PostgreSQL, real journald. */
#include <check.h>
#include <sys/syscall.h>
#include <linux/kcmp.h>
#include <limits.h>
#include <poll.h>
#include <errno.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check-run.h"
#include "cleanup.h"
#include "pg-cleanup.h"
#include "harness.h"
#include "journal-query.h"
#include "strv.h"
#include "test-daemon.h"

typedef struct Scenario {
	TestDaemon daemon;
	char *db;
	char *conninfo;	    /* the deploy role on the scenario's database */
	char *app_conninfo; /* the application role */
	char *migrations;
	char *units[3];
} Scenario;

static Scenario S;

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

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

static void assert_units_state(const char *state)
{
	for (int i = 0; i < 3; i++) {
		_cleanup_free_ char *s = harness_unit_state(S.units[i]);
		ck_assert_msg(strcmp(s, state) == 0, "%s is %s, expected %s", S.units[i], s, state);
	}
}

static void write_plan(const char *name, const char *extra_database, const char *extra_top)
{
	_cleanup_free_ char *yaml = NULL;

	ck_assert_int_ge(asprintf(&yaml,
				  "version: 1\n"
				  "description: daemon scenario\n"
				  "database:\n"
				  "  conninfo: \"%s\"\n"
				  "  lock_timeout: 1s\n"
				  "%s"
				  "services:\n"
				  "  bus: user\n"
				  "  units: [%s, %s, %s]\n"
				  "  stop_timeout: 20s\n"
				  "  start_timeout: 20s\n"
				  "idle_transactions:\n"
				  "  older_than: 1s\n"
				  "migrations:\n"
				  "  directory: %s\n"
				  "%s",
				  S.conninfo, extra_database ?: "", S.units[0], S.units[1],
				  S.units[2], S.migrations, extra_top ?: ""),
			 0);
	test_daemon_write_plan(&S.daemon, name, yaml);
}

static void setup(void)
{
	static const char *const stems[] = {"api", "worker", "scheduler"};
	_cleanup_free_ char *sql = NULL, *script = NULL;

	test_daemon_setup(&S.daemon, 30);
	ck_assert_int_ge(asprintf(&S.db, "daemon_%d", (int)getpid()), 0);
	ck_assert_int_ge(asprintf(&sql, "CREATE DATABASE %s OWNER deployer", S.db), 0);
	harness_pg_exec(harness_pg_conninfo(), sql);
	S.conninfo = harness_db_conninfo(S.db, "deployer");
	S.app_conninfo = harness_db_conninfo(S.db, "app_user");
	harness_pg_exec(S.conninfo, "CREATE TABLE accounts (id int);"
				    "INSERT INTO accounts VALUES (1), (2);"
				    "GRANT SELECT ON accounts TO app_user;");

	ck_assert_int_ge(asprintf(&S.migrations, "%s/migrations", S.daemon.dir), 0);
	ck_assert_int_eq(mkdir(S.migrations, 0755), 0);

	/* Each app unit holds a transaction open on accounts, as an app with a forgotten
	 * transaction does: the migration can only get its lock once they are stopped. */
	ck_assert_int_ge(
		asprintf(&script,
			 "#!/bin/sh\n"
			 "{ echo 'BEGIN; SELECT count(*) FROM accounts;'; exec sleep infinity; }"
			 " | exec %s/psql -X -q \"$1\"\n",
			 harness_pg_bindir()),
		0);
	write_file(S.daemon.dir, "app.sh", script, 0755);
	for (int i = 0; i < 3; i++) {
		_cleanup_free_ char *unit = NULL;
		_cleanup_free_ char *stem = NULL;
		/* Unique per test: systemd rate-limits a unit started too often. */
		ck_assert_int_ge(asprintf(&stem, "%s%d", stems[i], (int)getpid()), 0);
		S.units[i] = harness_unit_name(stem, "service");
		ck_assert_int_ge(asprintf(&unit, "[Service]\nExecStart=/bin/sh %s/app.sh \"%s\"\n",
					  S.daemon.dir, S.app_conninfo),
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
	free(S.app_conninfo);
	free(S.migrations);
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

START_TEST(test_a_deploy_stops_the_units_migrates_and_starts_them_again)
{
	_cleanup_free_ char *out = NULL, *n = NULL, *column = NULL, *id = NULL, *log = NULL;

	write_file(S.migrations, "1_add_email.sql", "ALTER TABLE accounts ADD COLUMN email text;\n",
		   0644);
	write_file(S.migrations, "2_add_index.sql",
		   "CREATE INDEX accounts_email ON accounts (email);\n", 0644);
	write_plan("app", NULL, NULL);

	int code = test_deployctl(&S.daemon, &out, "deploy app --release v42");
	ck_assert_msg(code == 0, "deploy exited %d:\n%s", code, out);
	/* One host: the summary does not count hosts. */
	ck_assert_msg(strstr(out, "2 migrations applied, 3 units restarted."), "%s", out);
	assert_units_state("active");
	n = history_count();
	ck_assert_str_eq(n, "2");
	column = harness_pg_value(S.conninfo,
				  "SELECT count(*) FROM information_schema.columns "
				  "WHERE table_name = 'accounts' AND column_name = 'email'");
	ck_assert_str_eq(column, "1");
	harness_wait_idle_in_transaction(S.db, "app_user", 3);

	/* The journal has the deploy under its id, and deployctl log reads it back. */
	id = deploy_id_from(out);
	ck_assert_ptr_nonnull(id);
	_cleanup_free_ char *match = NULL;
	ck_assert_int_ge(asprintf(&match, "DEPLOY_ID=%s", id), 0);
	const char *const finished[] = {match, "DEPLOY_EVENT=deploy-finished", NULL};
	_cleanup_free_ char *result = journal_field(finished, "DEPLOY_RESULT");
	ck_assert_ptr_nonnull(result);
	ck_assert_str_eq(result, "ok");
	const char *const started[] = {match, "DEPLOY_EVENT=deploy-started", NULL};
	_cleanup_free_ char *release = journal_field(started, "DEPLOY_RELEASE");
	ck_assert_ptr_nonnull(release);
	ck_assert_str_eq(release, "v42");

	code = test_deployctl(&S.daemon, &log, "log %s", id);
	ck_assert_msg(code == 0, "deployctl log exited %d:\n%s", code, log);
	ck_assert_ptr_nonnull(strstr(log, "succeeded"));
	ck_assert_ptr_nonnull(strstr(log, "1_add_email") ?: strstr(log, "add_email"));

	/* The timeline: a line per phase and per migration, bars in proportion to durations
	 * (the journal's DURATION_MS of each, against the deploy's). */
	_cleanup_free_ char *timeline = NULL, *total_ms = NULL;
	code = test_deployctl(&S.daemon, &timeline, "log %s --timeline", id);
	ck_assert_msg(code == 0, "deployctl log --timeline exited %d:\n%s", code, timeline);
	total_ms = journal_field(finished, "DURATION_MS");
	ck_assert_ptr_nonnull(total_ms);
	unsigned long long total = strtoull(total_ms, NULL, 10);
	static const char *const rows[] = {"preflight",	    "stop",	     "migrate",
					   "  1 add_email", "  2 add_index", "start"};
	const char *prev = timeline;
	for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
		_cleanup_free_ char *needle = NULL;
		ck_assert_int_ge(asprintf(&needle, "\n%s ", rows[i]), 0);
		const char *line = strstr(prev, needle);
		ck_assert_msg(line, "no row '%s' after the previous one in:\n%s", rows[i],
			      timeline);
		unsigned long long ms = 0;
		const char *p = line + strlen(needle);
		ck_assert_int_eq(sscanf(p, "%llu ms", &ms), 1);
		size_t bar = strspn(strstr(p, " ms  ") + 5, "#");
		unsigned long long want = total ? (ms * 40 + total / 2) / total : 0;
		if (want == 0 && ms > 0)
			want = 1;
		ck_assert_msg(bar == want, "row '%s': %llu ms of %llu gives %zu '#', not %llu",
			      rows[i], ms, total, bar, want);
		prev = line + 1;
	}
}
END_TEST

/* applied_by of version in the history. */
static char *applied_by(const char *version)
{
	_cleanup_free_ char *q = NULL;

	ck_assert_int_ge(
		asprintf(&q,
			 "SELECT applied_by FROM deployd_schema_migrations WHERE version = "
			 "'%s'",
			 version),
		0);
	return harness_pg_value(S.conninfo, q);
}

START_TEST(test_the_history_records_who_asked_root_or_a_local_user_with_its_ssh_host)
{
	_cleanup_free_ char *out = NULL, *out2 = NULL, *pending = NULL, *log = NULL;
	_cleanup_free_ char *by_root = NULL, *by_user = NULL, *expected = NULL, *id = NULL;

	write_file(S.migrations, "1_add_email.sql", "ALTER TABLE accounts ADD COLUMN email text;\n",
		   0644);
	write_plan("app", NULL, NULL);

	/* deploy@.service runs deployctl as root: the requester is root. */
	int code = test_deployctl(&S.daemon, &out, "deploy app");
	ck_assert_msg(code == 0, "deploy exited %d:\n%s", code, out);
	by_root = applied_by("1");
	ck_assert_str_eq(by_root, "root");
	ck_assert_msg(strstr(out, ", asked by root."), "%s", out);

	/* A local user who came in over ssh: its name from the socket, its ssh client. */
	write_file(S.migrations, "2_add_name.sql", "ALTER TABLE accounts ADD COLUMN name text;\n",
		   0644);
	ck_assert_int_eq(setenv("SSH_CONNECTION", "192.0.2.7 51234 192.0.2.1 22", 1), 0);
	code = test_deployctl_as(&S.daemon, harness_test_uid(), harness_test_gid(), &out2,
				 "deploy app");
	ck_assert_int_eq(unsetenv("SSH_CONNECTION"), 0);
	ck_assert_msg(code == 0, "deploy exited %d:\n%s", code, out2);
	by_user = applied_by("2");
	ck_assert_int_ge(asprintf(&expected, "%s@192.0.2.7", harness_test_user()), 0);
	ck_assert_str_eq(by_user, expected);

	/* deployctl pending and log show it. */
	code = test_deployctl(&S.daemon, &pending, "pending app");
	ck_assert_msg(code == 0, "pending exited %d:\n%s", code, pending);
	ck_assert_msg(strstr(pending, "  root\n") && strstr(pending, expected), "%s", pending);
	id = deploy_id_from(out2);
	ck_assert_ptr_nonnull(id);
	code = test_deployctl(&S.daemon, &log, "log %s", id);
	ck_assert_msg(code == 0, "log exited %d:\n%s", code, log);
	ck_assert_msg(strstr(log, expected), "%s", log);
}
END_TEST

START_TEST(test_an_idle_transaction_blocker_fails_the_deploy_fast_and_is_named)
{
	_cleanup_(PQfinishp) PGconn *blocker = harness_pg_connect(S.app_conninfo);
	_cleanup_free_ char *out = NULL, *pid = NULL, *id = NULL, *n = NULL, *column = NULL;

	PQclear(harness_pg_query(blocker, "SET application_name = 'forgotten-report'"));
	PQclear(harness_pg_query(blocker, "BEGIN"));
	PQclear(harness_pg_query(blocker, "SELECT count(*) FROM accounts"));
	ck_assert_int_ge(asprintf(&pid, "%d", PQbackendPID(blocker)), 0);

	write_file(S.migrations, "1_add_email.sql", "ALTER TABLE accounts ADD COLUMN email text;\n",
		   0644);
	write_plan("app", NULL, NULL);

	double start = now_seconds();
	int code = test_deployctl(&S.daemon, &out, "deploy app");
	double elapsed = now_seconds() - start;

	ck_assert_msg(code == 7, "deploy exited %d, expected 7:\n%s", code, out);
	/* lock_timeout is 1 s; stopping three units and connecting take well under the rest. */
	ck_assert_msg(elapsed < 15.0, "the deploy took %.1f s", elapsed);
	ck_assert_msg(strstr(out, pid) && strstr(out, "forgotten-report"),
		      "the blocker (pid %s) is not named:\n%s", pid, out);
	assert_units_state("inactive");
	n = history_count();
	ck_assert_str_eq(n, "0");
	column = harness_pg_value(S.conninfo,
				  "SELECT count(*) FROM information_schema.columns "
				  "WHERE table_name = 'accounts' AND column_name = 'email'");
	ck_assert_str_eq(column, "0");

	id = deploy_id_from(out);
	ck_assert_ptr_nonnull(id);
	_cleanup_free_ char *match = NULL;
	ck_assert_int_ge(asprintf(&match, "DEPLOY_ID=%s", id), 0);
	const char *const lock_wait[] = {match, "DEPLOY_EVENT=lock-wait", NULL};
	_cleanup_free_ char *blocker_pid = journal_field(lock_wait, "BLOCKER_PID");
	ck_assert_ptr_nonnull(blocker_pid);
	ck_assert_str_eq(blocker_pid, pid);
	const char *const failed[] = {match, "DEPLOY_EVENT=migration-failed", NULL};
	_cleanup_free_ char *sqlstate = journal_field(failed, "PG_SQLSTATE");
	ck_assert_ptr_nonnull(sqlstate);
	ck_assert_str_eq(sqlstate, "55P03");
}
END_TEST

START_TEST(test_terminate_idle_clears_the_blocker_and_the_deploy_succeeds)
{
	_cleanup_(PQfinishp) PGconn *blocker = harness_pg_connect(S.app_conninfo);
	_cleanup_free_ char *out = NULL, *n = NULL;

	PQclear(harness_pg_query(blocker, "BEGIN"));
	PQclear(harness_pg_query(blocker, "SELECT count(*) FROM accounts"));
	write_file(S.migrations, "1_add_email.sql", "ALTER TABLE accounts ADD COLUMN email text;\n",
		   0644);
	write_plan("app", NULL, NULL);
	sleep(2); /* older_than is 1 s */

	int code = test_deployctl(&S.daemon, &out, "deploy app --terminate-idle");
	ck_assert_msg(code == 0, "deploy exited %d:\n%s", code, out);
	n = history_count();
	ck_assert_str_eq(n, "1");
	assert_units_state("active");
	/* The blocker's session is gone: its next query fails. */
	PGresult *res = PQexec(blocker, "SELECT 1");
	ck_assert_int_ne(PQresultStatus(res), PGRES_TUPLES_OK);
	PQclear(res);
}
END_TEST

START_TEST(test_an_unreachable_database_fails_preflight_and_leaves_the_units_running)
{
	_cleanup_free_ char *out = NULL, *yaml = NULL;

	write_file(S.migrations, "1_add_email.sql", "ALTER TABLE accounts ADD COLUMN email text;\n",
		   0644);
	ck_assert_int_ge(asprintf(&yaml,
				  "version: 1\n"
				  "database:\n"
				  "  conninfo: \"host=%s/nowhere dbname=none user=deployer\"\n"
				  "  connect_timeout: 2s\n"
				  "services:\n  bus: user\n  units: [%s, %s, %s]\n"
				  "migrations:\n  directory: %s\n",
				  S.daemon.dir, S.units[0], S.units[1], S.units[2], S.migrations),
			 0);
	test_daemon_write_plan(&S.daemon, "down", yaml);

	int code = test_deployctl(&S.daemon, &out, "deploy down");
	ck_assert_msg(code == 5, "deploy exited %d, expected 5:\n%s", code, out);
	assert_units_state("active");
	harness_wait_idle_in_transaction(S.db, "app_user", 3);
}
END_TEST

START_TEST(test_a_unit_that_fails_to_start_fails_the_deploy_with_its_journal_lines)
{
	_cleanup_free_ char *out = NULL, *unit = NULL, *yaml = NULL;
	_cleanup_free_ char *stem = NULL, *broken = NULL;

	ck_assert_int_ge(asprintf(&stem, "broken%d", (int)getpid()), 0);
	broken = harness_unit_name(stem, "service");

	/* journald attributes a stdout line to its unit by the writer's cgroup when it reads the
	 * line: a writer that has already exited loses its unit, so this one lingers. */
	write_file(S.daemon.dir, "broken.sh",
		   "#!/bin/sh\necho 'broken: cannot read /etc/app/config.toml'\nsleep 2\nexit 3\n",
		   0755);
	ck_assert_int_ge(asprintf(&unit, "[Service]\nType=exec\nExecStart=/bin/sh %s/broken.sh\n",
				  S.daemon.dir),
			 0);
	harness_write_unit(broken, unit);
	harness_daemon_reload();
	write_file(S.migrations, "1_noop.sql", "SELECT 1;\n", 0644);
	ck_assert_int_ge(asprintf(&yaml,
				  "version: 1\n"
				  "database:\n  conninfo: \"%s\"\n"
				  "services:\n  bus: user\n  units: [%s]\n  settle: 5s\n"
				  "migrations:\n  directory: %s\n",
				  S.conninfo, broken, S.migrations),
			 0);
	test_daemon_write_plan(&S.daemon, "broken", yaml);

	int code = test_deployctl(&S.daemon, &out, "deploy broken");
	ck_assert_msg(code == 8, "deploy exited %d, expected 8:\n%s", code, out);
	ck_assert_msg(strstr(out, "cannot read /etc/app/config.toml"),
		      "the unit's journal lines are missing:\n%s", out);
}
END_TEST

START_TEST(test_a_second_deploy_while_one_runs_is_refused_as_busy)
{
	_cleanup_free_ char *out = NULL;

	write_file(S.migrations, "1_slow.sql", "SELECT pg_sleep(4);\n", 0644);
	write_plan("app", NULL, NULL);

	pid_t first = fork();
	ck_assert_int_ge(first, 0);
	if (first == 0)
		_exit(test_deployctl(&S.daemon, NULL, "deploy app"));

	/* Wait until the first deploy runs its migration. */
	_cleanup_free_ char *sql = NULL;
	ck_assert_int_ge(asprintf(&sql,
				  "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' "
				  "AND query LIKE '%%pg_sleep(4)%%' AND pid <> pg_backend_pid()",
				  S.db),
			 0);
	for (int i = 0; i < 200; i++) {
		_cleanup_free_ char *n = harness_pg_value(harness_pg_conninfo(), sql);
		if (strcmp(n, "1") == 0)
			break;
		usleep(50 * 1000);
	}
	int code = test_deployctl(&S.daemon, &out, "deploy app");
	ck_assert_msg(code == 4, "second deploy exited %d, expected 4:\n%s", code, out);
	ck_assert_ptr_nonnull(strstr(out, "busy"));

	int status;
	ck_assert_int_eq(waitpid(first, &status, 0), first);
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

START_TEST(test_a_peer_without_permission_is_refused_and_the_refusal_is_journaled)
{
	_cleanup_free_ char *out = NULL, *uid = NULL;

	write_plan("app", NULL, NULL);
	int code = test_deployctl_as(&S.daemon, 65534, 65534, &out, "deploy app");
	ck_assert_msg(code == 9, "deploy as nobody exited %d, expected 9:\n%s", code, out);
	assert_units_state("active");

	_cleanup_free_ char *own_unit = NULL;
	/* This daemon's lines only: other runs' daemons log to the same journal. */
	ck_assert_int_ge(asprintf(&own_unit, "_SYSTEMD_USER_UNIT=%s", S.daemon.service_unit), 0);
	const char *const refused[] = {"SYSLOG_IDENTIFIER=deployd", own_unit, NULL};
	for (int i = 0; i < 50; i++) {
		_cleanup_free_ char *msg = journal_field(refused, "MESSAGE");
		if (msg && strstr(msg, "uid 65534")) {
			uid = TAKE_PTR(msg);
			break;
		}
		usleep(100 * 1000);
	}
	ck_assert_msg(uid, "the refusal of uid 65534 is not in the journal");
}
END_TEST

/* deployd.socket is 0660 root:deploy: a user outside the group is refused by connect(2), before
 * the daemon sees it; deployctl says so with exit 9 as well (found on a booted host). */
START_TEST(test_a_caller_the_socket_refuses_gets_exit_9)
{
	_cleanup_free_ char *out = NULL, *status_out = NULL;

	write_plan("app", NULL, NULL);
	ck_assert_int_eq(chmod(S.daemon.socket_path, 0660), 0);
	int code = test_deployctl_as(&S.daemon, 65534, 65534, &out, "deploy app");
	ck_assert_msg(code == 9, "deploy as nobody exited %d, expected 9:\n%s", code, out);
	ck_assert_msg(strstr(out, "not allowed to talk to deployd") &&
			      strstr(out, "Permission denied"),
		      "no reason given:\n%s", out);
	code = test_deployctl_as(&S.daemon, 65534, 65534, &status_out, "status");
	ck_assert_msg(code == 9, "status as nobody exited %d, expected 9:\n%s", code, status_out);
	assert_units_state("active");
}
END_TEST

/* The password, as libpq reads it from the conninfo, and as DATABASE_URL encodes it. */
#define SECRET "s3cr/t@Pw"
#define SECRET_URL "s3cr%2Ft%40Pw"

/* Output with a 4 KiB line is too long for a Check message: it goes to stderr. */
static void assert_output(bool ok, const char *out, const char *what)
{
	if (!ok)
		fprintf(stderr, "%s; the output was:\n%s\n", what, out);
	ck_assert_msg(ok, "%s (output on stderr)", what);
}

static char *read_whole(const char *path)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t size = 0;

	ck_assert_msg(f, "opening %s", path);
	ck_assert_int_ge(getdelim(&buf, &size, '\0', f), 0);
	return buf;
}

START_TEST(test_the_password_printed_by_a_command_or_hook_reaches_no_sink)
{
	_cleanup_free_ char *script = NULL, *yaml = NULL, *out = NULL, *id = NULL, *match = NULL,
			    *state_path = NULL, *state = NULL, *unit_match = NULL;

	/* What verbose migration tools print, and a line whose 4096-byte read ends inside the
	 * password. */
	ck_assert_int_ge(asprintf(&script,
				  "#!/bin/sh\n"
				  "echo \"$1 url $DATABASE_URL\"\n"
				  "echo \"$1 pair password=" SECRET "\"\n"
				  "head -c 4090 /dev/zero | tr '\\0' x; echo '" SECRET
				  " after the cut'\n"
				  "echo \"$1 encoded %s\" >&2\n",
				  SECRET_URL),
			 0);
	write_file(S.daemon.dir, "secrets.sh", script, 0755);
	ck_assert_int_ge(asprintf(&yaml,
				  "version: 1\n"
				  "database:\n"
				  "  conninfo: \"%s password=" SECRET "\"\n"
				  "services:\n"
				  "  bus: user\n"
				  "  units: [%s]\n"
				  "migrations:\n"
				  "  command: [/bin/sh, %s/secrets.sh, migration]\n"
				  "hooks:\n"
				  "  after_start:\n"
				  "    - [/bin/sh, %s/secrets.sh, hook]\n",
				  S.conninfo, S.units[0], S.daemon.dir, S.daemon.dir),
			 0);
	test_daemon_write_plan(&S.daemon, "secret", yaml);

	int code = test_deployctl(&S.daemon, &out, "deploy secret");
	assert_output(code == 0, out, "the deploy failed");
	/* The client's stream: the lines arrived, the password in none of its forms. */
	assert_output(strstr(out, "migration url postgresql://deployer:***@"), out, "no url line");
	assert_output(strstr(out, "hook pair password=***"), out, "no hook line");
	assert_output(strstr(out, "migration encoded ***"), out, "no encoded line");
	assert_output(strstr(out, "*** after the cut"), out, "no line cut at 4096 bytes");
	assert_output(!strstr(out, SECRET) && !strstr(out, SECRET_URL) && !strstr(out, "s3cr"), out,
		      "the password reached the client");

	/* The journal: every entry of the deploy, and everything the daemon's unit logged. */
	id = deploy_id_from(out);
	ck_assert_ptr_nonnull(id);
	ck_assert_int_ge(asprintf(&match, "DEPLOY_ID=%s", id), 0);
	const char *const finished[] = {match, "DEPLOY_EVENT=deploy-finished", NULL};
	_cleanup_free_ char *result = journal_field(finished, "DEPLOY_RESULT");
	ck_assert_ptr_nonnull(result);
	const char *const deploy[] = {match, NULL};
	ck_assert_int_ge(journal_count_containing(deploy, "after the cut"), 2);
	ck_assert_int_eq(journal_count_containing(deploy, "s3cr"), 0);
	ck_assert_int_eq(journal_count_containing(deploy, SECRET_URL), 0);
	ck_assert_int_ge(asprintf(&unit_match, "_SYSTEMD_USER_UNIT=%s", S.daemon.service_unit), 0);
	const char *const daemon_unit[] = {unit_match, NULL};
	ck_assert_int_eq(journal_count_containing(daemon_unit, "s3cr"), 0);
	ck_assert_int_eq(journal_count_containing(daemon_unit, SECRET_URL), 0);

	/* The state file. */
	ck_assert_int_ge(asprintf(&state_path, "%s/last-deploy", S.daemon.state_dir), 0);
	state = read_whole(state_path);
	ck_assert_ptr_nonnull(strstr(state, id));
	ck_assert_msg(!strstr(state, "s3cr") && !strstr(state, SECRET_URL), "%s", state);
}
END_TEST

START_TEST(test_a_plan_others_could_have_written_is_refused_with_exit_3_naming_path_and_reason)
{
	_cleanup_free_ char *out = NULL, *plan = NULL, *reason = NULL;

	write_plan("app", NULL, NULL);
	ck_assert_int_ge(asprintf(&plan, "%s/app.yaml", S.daemon.plans_dir), 0);
	/* Group-writable, even by root's group: anyone in it could name a command. */
	ck_assert_int_eq(chmod(plan, 0664), 0);
	int code = test_deployctl(&S.daemon, &out, "deploy app");
	ck_assert_msg(code == 3, "deploy exited %d:\n%s", code, out);
	ck_assert_msg(strstr(out, plan) && strstr(out, "writable by group or others (mode 0664)"),
		      "%s", out);
	free(out);
	out = NULL;

	/* The file is fine, but the directory holding it is writable by everyone. */
	ck_assert_int_eq(chmod(plan, 0644), 0);
	ck_assert_int_eq(chmod(S.daemon.plans_dir, 0777), 0);
	code = test_deployctl(&S.daemon, &out, "deploy app");
	ck_assert_int_eq(chmod(S.daemon.plans_dir, 0755), 0);
	ck_assert_msg(code == 3, "deploy exited %d:\n%s", code, out);
	ck_assert_int_ge(asprintf(&reason,
				  "directory %s on its path is writable by group or others",
				  S.daemon.plans_dir),
			 0);
	ck_assert_msg(strstr(out, plan) && strstr(out, reason), "%s", out);
	assert_units_state("active");
}
END_TEST

START_TEST(test_a_dry_run_reports_what_would_happen_and_changes_nothing)
{
	_cleanup_free_ char *out = NULL, *tables = NULL;

	write_file(S.migrations, "1_add_email.sql", "ALTER TABLE accounts ADD COLUMN email text;\n",
		   0644);
	write_plan("app", NULL, NULL);

	int code = test_deployctl(&S.daemon, &out, "deploy app --dry-run");
	ck_assert_msg(code == 0, "dry run exited %d:\n%s", code, out);
	ck_assert_msg(strstr(out, "add_email"), "the pending migration is not reported:\n%s", out);
	assert_units_state("active");
	harness_wait_idle_in_transaction(S.db, "app_user", 3);
	tables = harness_pg_value(S.conninfo,
				  "SELECT count(*) FROM information_schema.columns "
				  "WHERE table_name = 'accounts' AND column_name = 'email'");
	ck_assert_str_eq(tables, "0");
}
END_TEST

START_TEST(test_sigterm_during_a_migration_cancels_it_and_leaves_no_session_behind)
{
	_cleanup_free_ char *sql = NULL, *left = NULL;

	write_file(S.migrations, "1_slow.sql",
		   "CREATE TABLE half (id int);\nSELECT pg_sleep(60);\n", 0644);
	write_plan("app", NULL, NULL);

	pid_t client = fork();
	ck_assert_int_ge(client, 0);
	if (client == 0)
		_exit(test_deployctl(&S.daemon, NULL, "deploy app"));

	ck_assert_int_ge(asprintf(&sql,
				  "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' "
				  "AND query LIKE '%%pg_sleep(60)%%' AND pid <> pg_backend_pid()",
				  S.db),
			 0);
	for (int i = 0; i < 200; i++) {
		_cleanup_free_ char *n = harness_pg_value(harness_pg_conninfo(), sql);
		if (strcmp(n, "1") == 0)
			break;
		usleep(50 * 1000);
	}
	ck_assert_int_eq(harness_systemctl("kill --signal=SIGTERM %s", S.daemon.service_unit), 0);

	int status;
	ck_assert_int_eq(waitpid(client, &status, 0), client);
	ck_assert_msg(WEXITSTATUS(status) == 10, "deploy exited %d, expected 10 (cancelled)",
		      WEXITSTATUS(status));
	left = harness_pg_value(harness_pg_conninfo(), sql);
	ck_assert_str_eq(left, "0");
	_cleanup_free_ char *half = harness_pg_value(
		S.conninfo,
		"SELECT count(*) FROM information_schema.tables WHERE table_name = 'half'");
	ck_assert_str_eq(half, "0");
}
END_TEST

/* deployctl prints what it receives before it waits for more: with its output on a pipe, the
 * migration-started line arrives while the migration still runs, not when the deploy ends.
 * Without the lock watch, nothing else is said until the migration ends to push it out. */
START_TEST(test_deployctl_shows_each_event_while_the_deploy_still_runs)
{
	_cleanup_free_ char *sql = NULL, *running = NULL;
	char out[65536];
	size_t len = 0;
	int pipefd[2];

	write_file(S.migrations, "1_slow.sql", "SELECT pg_sleep(60);\n", 0644);
	write_plan("app", NULL, "  lock_watch_interval: 0\n");
	ck_assert_int_eq(pipe(pipefd), 0);
	pid_t client = fork();
	ck_assert_int_ge(client, 0);
	if (client == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		close(pipefd[0]);
		close(pipefd[1]);
		execl(S.daemon.deployctl, S.daemon.deployctl, "--socket", S.daemon.socket_path,
		      "--plans", S.daemon.plans_dir, "deploy", "app", "--json", (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);

	/* Bounded only to catch a hang: the line must come long before pg_sleep(60) ends. */
	usec_t deadline = now_usec(CLOCK_MONOTONIC) + 30 * USEC_PER_SEC;
	out[0] = '\0';
	while (!strstr(out, "\"DEPLOY_EVENT\":\"migration-started\"")) {
		struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
		usec_t now = now_usec(CLOCK_MONOTONIC);
		ck_assert_msg(now < deadline && len < sizeof(out) - 1,
			      "no migration-started line while the migration runs:\n%s", out);
		ck_assert_int_ge(poll(&p, 1, (int)((deadline - now) / USEC_PER_MSEC) + 1), 0);
		ssize_t n = read(pipefd[0], out + len, sizeof(out) - 1 - len);
		ck_assert_msg(n > 0, "deployctl ended before the migration-started line:\n%s", out);
		len += (size_t)n;
		out[len] = '\0';
	}
	ck_assert_int_ge(asprintf(&sql,
				  "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' "
				  "AND query LIKE '%%pg_sleep(60)%%' AND pid <> pg_backend_pid()",
				  S.db),
			 0);
	running = harness_pg_value(harness_pg_conninfo(), sql);
	ck_assert_str_eq(running, "1");

	ck_assert_int_eq(test_deployctl(&S.daemon, NULL, "cancel"), 0);
	int status;
	ck_assert_int_eq(waitpid(client, &status, 0), client);
	ck_assert_int_eq(WEXITSTATUS(status), 10);
	close(pipefd[0]);
}
END_TEST

/* The numbers of a process's open descriptors from first_fd on. */
static int *open_fds(pid_t pid, int first_fd, size_t *ret_n)
{
	_cleanup_free_ char *dir = NULL;
	_cleanup_(closedirp) DIR *d = NULL;
	int *fds = NULL;
	size_t n = 0;

	ck_assert_int_ge(asprintf(&dir, "/proc/%d/fd", (int)pid), 0);
	d = opendir(dir);
	ck_assert_msg(d, "%s: %s", dir, strerror(errno));
	for (struct dirent *de; (de = readdir(d));) {
		if (de->d_name[0] == '.' || atoi(de->d_name) < first_fd)
			continue;
		fds = realloc(fds, (n + 1) * sizeof(int));
		ck_assert_ptr_nonnull(fds);
		fds[n++] = atoi(de->d_name);
	}
	*ret_n = n;
	return fds;
}

static char *fd_target(pid_t pid, int fd)
{
	char path[64], target[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	n = readlink(path, target, sizeof(target) - 1);
	return strndup(n < 0 ? "(closed)" : target, n < 0 ? 8 : (size_t)n);
}

/* Starts a deploy whose migration sleeps a minute (cancel it at the end) and gives the
 * daemon's pid and its worker's, the daemon's only child while the migration runs. */
static void start_sleeping_deploy(pid_t *ret_daemon, pid_t *ret_worker)
{
	_cleanup_free_ char *out = NULL, *main_pid = NULL, *children = NULL, *sql = NULL,
			    *path = NULL;

	write_file(S.migrations, "1_wait.sql", "SELECT pg_sleep(60);\n", 0644);
	write_plan("app", NULL, NULL);
	int code = test_deployctl(&S.daemon, &out, "deploy app --detach");
	ck_assert_msg(code == 0, "deploy exited %d:\n%s", code, out);
	ck_assert_int_ge(asprintf(&sql,
				  "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' "
				  "AND query LIKE '%%pg_sleep(60)%%' AND pid <> pg_backend_pid()",
				  S.db),
			 0);
	for (int i = 0; i < 200; i++) {
		_cleanup_free_ char *n = harness_pg_value(harness_pg_conninfo(), sql);
		if (strcmp(n, "1") == 0)
			break;
		usleep(50 * 1000);
	}

	ck_assert_int_eq(harness_systemctl_output(&main_pid, "show -p MainPID --value %s",
						  S.daemon.service_unit),
			 0);
	pid_t daemon_pid = (pid_t)atoi(main_pid);
	ck_assert_int_gt(daemon_pid, 0);
	ck_assert_int_ge(
		asprintf(&path, "/proc/%d/task/%d/children", (int)daemon_pid, (int)daemon_pid), 0);
	children = read_whole(path);
	pid_t worker = (pid_t)atoi(children);
	ck_assert_msg(worker > 0, "deployd (pid %d) has no worker: '%s'", (int)daemon_pid,
		      children);
	*ret_daemon = daemon_pid;
	*ret_worker = worker;
}

START_TEST(test_the_worker_holds_none_of_the_daemons_descriptors)
{
	_cleanup_free_ int *daemon_fds = NULL, *worker_fds = NULL;
	size_t n_daemon, n_worker;
	pid_t daemon_pid, worker;

	start_sleeping_deploy(&daemon_pid, &worker);

	/* Beyond stdio, no descriptor of the worker is one of the daemon's open files (its
	 * listening socket, a client, the event loop, its end of the event pipe): kcmp()
	 * tells whether two descriptors share one open file. */
	daemon_fds = open_fds(daemon_pid, 0, &n_daemon);
	worker_fds = open_fds(worker, 3, &n_worker);
	ck_assert_uint_gt(n_daemon, 3);
	ck_assert_uint_ge(n_worker, 1);
	/* Under make check-valgrind the tool keeps descriptors of its own (the program it runs,
	 * its log) at 1024 and above in every process it follows: they are not the daemon's. */
	int valgrind_fds = getenv("DEPLOYD_TEST_VALGRIND") ? 1024 : INT_MAX;
	for (size_t i = 0; i < n_worker; i++)
		for (size_t j = 0; j < n_daemon && worker_fds[i] < valgrind_fds; j++) {
			long same = syscall(SYS_kcmp, worker, daemon_pid, KCMP_FILE, worker_fds[i],
					    daemon_fds[j]);
			ck_assert_msg(same >= 0 || errno == EBADF, "kcmp: %s", strerror(errno));
			if (same == 0) {
				_cleanup_free_ char *t = fd_target(worker, worker_fds[i]);
				ck_abort_msg("the worker's fd %d is the daemon's fd %d (%s)",
					     worker_fds[i], daemon_fds[j], t);
			}
		}
	ck_assert_int_eq(test_deployctl(&S.daemon, NULL, "cancel"), 0);
}
END_TEST

/* The idle daemon's memory does not pay for PostgreSQL's parser: only a process that reads
 * SQL (the worker) loads it. */
START_TEST(test_the_sql_parser_is_loaded_by_the_worker_and_never_by_the_daemon)
{
	_cleanup_free_ char *daemon_maps = NULL, *worker_maps = NULL, *path = NULL;
	pid_t daemon_pid, worker;

	start_sleeping_deploy(&daemon_pid, &worker);
	ck_assert_int_ge(asprintf(&path, "/proc/%d/maps", (int)worker), 0);
	worker_maps = read_whole(path);
	free(path);
	ck_assert_int_ge(asprintf(&path, "/proc/%d/maps", (int)daemon_pid), 0);
	daemon_maps = read_whole(path);
	ck_assert_msg(strstr(worker_maps, "libpg_query"), "the worker has no parser mapped");
	ck_assert_msg(!strstr(daemon_maps, "libpg_query"), "the daemon has the parser mapped");
	ck_assert_int_eq(test_deployctl(&S.daemon, NULL, "cancel"), 0);
}
END_TEST

START_TEST(test_the_daemon_exits_when_idle_and_the_next_request_activates_it_again)
{
	_cleanup_free_ char *out = NULL, *state = NULL;
	TestDaemon quick;

	test_daemon_setup(&quick, 1);
	ck_assert_int_eq(test_deployctl(&quick, &out, "status"), 0);
	ck_assert_ptr_nonnull(strstr(out, "STATUS: none"));
	for (int i = 0; i < 100; i++) {
		free(state);
		state = test_daemon_state(&quick);
		if (strcmp(state, "inactive") == 0)
			break;
		usleep(100 * 1000);
	}
	ck_assert_str_eq(state, "inactive");
	free(out);
	ck_assert_int_eq(test_deployctl(&quick, &out, "status"), 0);
	ck_assert_ptr_nonnull(strstr(out, "STATUS: none"));
	test_daemon_teardown(&quick);
}
END_TEST

static unsigned count_substrings(const char *text, const char *needle)
{
	unsigned n = 0;

	for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* Lines of text (ending in '\n') holding needle. */
static unsigned count_lines_with(const char *text, const char *needle)
{
	unsigned n = 0;

	for (const char *line = text; *line;) {
		const char *end = strchrnul(line, '\n');
		_cleanup_free_ char *copy = strndup(line, (size_t)(end - line));
		n += strstr(copy, needle) != NULL;
		line = *end ? end + 1 : end;
	}
	return n;
}

/* An index build that takes seconds (a function that sleeps per row, so the machine's CPU is
 * spared) shows as one line redrawn in place on a terminal; in the journal only its first and
 * last progress events are above debug; `log` on a pipe prints at most a line per 10 % of a
 * phase, and --json every event. */
START_TEST(test_progress_is_one_line_on_a_terminal_and_lines_per_ten_percent_on_a_pipe)
{
	_cleanup_free_ char *out = NULL, *log = NULL, *json = NULL, *id = NULL, *match = NULL;

	write_file(S.migrations, "1_slow.sql",
		   "CREATE FUNCTION slow(v int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS\n"
		   "  $$BEGIN PERFORM pg_sleep(0.006); RETURN v; END$$;\n"
		   "CREATE TABLE big (id int, filler char(900));\n"
		   "INSERT INTO big SELECT g, 'x' FROM generate_series(1, 600) g;\n",
		   0644);
	write_file(S.migrations, "2_index.sql", "CREATE INDEX big_slow ON big (slow(id));\n", 0644);
	write_plan("app", NULL, NULL);

	int code = test_deployctl_pty(&S.daemon, &out, "deploy app");
	ck_assert_msg(code == 0, "deploy exited %d:\n%s", code, out);
	id = deploy_id_from(out);
	ck_assert_ptr_nonnull(id);
	ck_assert_int_ge(asprintf(&match, "DEPLOY_ID=%s", id), 0);
	const char *const progress[] = {match, "DEPLOY_EVENT=migration-progress", NULL};
	const char *const at_info[] = {match, "DEPLOY_EVENT=migration-progress", "PRIORITY=6",
				       NULL};
	const char *const at_debug[] = {match, "DEPLOY_EVENT=migration-progress", "PRIORITY=7",
					NULL};
	_cleanup_free_ char *last = journal_field(progress, "PROGRESS_PERCENT");
	ck_assert_ptr_nonnull(last);
	int n = journal_count(progress);
	ck_assert_int_ge(n, 3);
	ck_assert_int_eq(journal_count(at_info), 2);
	ck_assert_int_eq(journal_count(at_debug), n - 2);

	/* Every event redraws the one line; a new line only when the phase changes. */
	ck_assert_uint_eq(count_substrings(out, "\r\033[K"), (unsigned)n);
	ck_assert_msg(count_lines_with(out, "CREATE INDEX, ") <= 3, "%s", out);
	ck_assert_msg(strstr(out, "2_index CREATE INDEX, building index: scanning table"), "%s",
		      out);
	ck_assert_msg(strstr(out, " % [#"), "%s", out);

	code = test_deployctl(&S.daemon, &log, "log %s", id);
	ck_assert_msg(code == 0, "deployctl log exited %d:\n%s", code, log);
	ck_assert_ptr_null(strstr(log, "\033["));
	unsigned lines = count_lines_with(log, "CREATE INDEX, building index: scanning table");
	ck_assert_msg(lines >= 2 && lines <= 11, "%u lines:\n%s", lines, log);
	ck_assert_msg(lines < (unsigned)n || n <= 11, "%u lines for %d events", lines, n);

	code = test_deployctl(&S.daemon, &json, "log %s --json", id);
	ck_assert_int_eq(code, 0);
	ck_assert_uint_eq(count_substrings(json, "\"DEPLOY_EVENT\":\"migration-progress\""),
			  (unsigned)n);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("daemon");
	TCase *tc = tcase_create("deploys through the socket");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_a_deploy_stops_the_units_migrates_and_starts_them_again);
	tcase_add_test(tc,
		       test_the_history_records_who_asked_root_or_a_local_user_with_its_ssh_host);
	tcase_add_test(tc, test_an_idle_transaction_blocker_fails_the_deploy_fast_and_is_named);
	tcase_add_test(tc, test_terminate_idle_clears_the_blocker_and_the_deploy_succeeds);
	tcase_add_test(tc,
		       test_an_unreachable_database_fails_preflight_and_leaves_the_units_running);
	tcase_add_test(tc, test_a_unit_that_fails_to_start_fails_the_deploy_with_its_journal_lines);
	tcase_add_test(tc, test_a_second_deploy_while_one_runs_is_refused_as_busy);
	tcase_add_test(tc, test_a_peer_without_permission_is_refused_and_the_refusal_is_journaled);
	tcase_add_test(tc, test_a_caller_the_socket_refuses_gets_exit_9);
	tcase_add_test(tc, test_a_dry_run_reports_what_would_happen_and_changes_nothing);
	tcase_add_test(tc, test_the_password_printed_by_a_command_or_hook_reaches_no_sink);
	tcase_add_test(tc, test_the_worker_holds_none_of_the_daemons_descriptors);
	tcase_add_test(tc, test_the_sql_parser_is_loaded_by_the_worker_and_never_by_the_daemon);
	tcase_add_test(
		tc,
		test_a_plan_others_could_have_written_is_refused_with_exit_3_naming_path_and_reason);
	tcase_add_test(tc, test_sigterm_during_a_migration_cancels_it_and_leaves_no_session_behind);
	tcase_add_test(tc, test_deployctl_shows_each_event_while_the_deploy_still_runs);
	tcase_add_test(tc, test_the_daemon_exits_when_idle_and_the_next_request_activates_it_again);
	tcase_add_test(tc,
		       test_progress_is_one_line_on_a_terminal_and_lines_per_ten_percent_on_a_pipe);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
