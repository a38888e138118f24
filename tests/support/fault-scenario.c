/* fault-scenario.c — see fault-scenario.h. */
#include "fault-scenario.h"

#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "harness.h"
#include "journal-query.h"
#include "strv.h"

/* Polls are bounded only to catch hangs. */
#define POLL_STEP_USEC (100 * 1000)
#define POLL_STEPS 300

static char *sql_value(const char *conninfo, const char *fmt, ...) _printf_(2, 3);
static char *sql_value(const char *conninfo, const char *fmt, ...)
{
	_cleanup_free_ char *sql = NULL;
	va_list ap;

	va_start(ap, fmt);
	ck_assert_int_ge(vasprintf(&sql, fmt, ap), 0);
	va_end(ap);
	return harness_pg_value(conninfo, sql);
}

static void write_file(const char *path, const char *contents, mode_t mode)
{
	_cleanup_fclose_ FILE *f = fopen(path, "we");

	ck_assert_msg(f, "creating %s", path);
	ck_assert_int_ge(fputs(contents, f), 0);
	ck_assert_int_eq(fchmod(fileno(f), mode), 0);
}

static bool pg_is_running(void)
{
	_cleanup_free_ char *path = NULL, *data = NULL;
	const char *dir = getenv("DEPLOYD_TEST_PG_DATA");

	ck_assert_msg(dir,
		      "DEPLOYD_TEST_PG_DATA is not set (run through tests/harness/with-services)");
	ck_assert_int_ge(asprintf(&path, "%s/pg_ctl", harness_pg_bindir()), 0);
	ck_assert_int_ge(asprintf(&data, "--pgdata=%s", dir), 0);
	char *argv[] = {path, data, "status", NULL};
	_cleanup_free_ char *out = NULL;
	return harness_run_as_test_user(argv, &out) == 0;
}

void fault_pg_ctl(const char *args)
{
	_cleanup_free_ char *path = NULL, *data = NULL, *log = NULL, *copy = strdup(args);
	_cleanup_strv_free_ char **argv = NULL;
	const char *dir = getenv("DEPLOYD_TEST_PG_DATA");

	ck_assert_msg(dir,
		      "DEPLOYD_TEST_PG_DATA is not set (run through tests/harness/with-services)");
	ck_assert_ptr_nonnull(copy);
	ck_assert_int_ge(asprintf(&path, "%s/pg_ctl", harness_pg_bindir()), 0);
	ck_assert_int_ge(asprintf(&data, "--pgdata=%s", dir), 0);
	/* A log file of its own: a server started without one would hold our output pipe. */
	ck_assert_int_ge(asprintf(&log, "--log=%s/../postgres-restarted.log", dir), 0);
	ck_assert_int_eq(strv_extend(&argv, path), 0);
	ck_assert_int_eq(strv_extend(&argv, data), 0);
	ck_assert_int_eq(strv_extend(&argv, log), 0);
	ck_assert_int_eq(strv_extend(&argv, "--wait"), 0);
	for (char *save = NULL, *tok = strtok_r(copy, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save))
		ck_assert_int_eq(strv_extend(&argv, tok), 0);
	_cleanup_free_ char *out = NULL;
	int status = harness_run_as_test_user(argv, &out);
	ck_assert_msg(status == 0, "pg_ctl %s failed:\n%s", args, out);
}

void fault_setup(FaultScenario *s, const char *extra_service)
{
	_cleanup_free_ char *sql = NULL;

	*s = (FaultScenario){};
	test_daemon_setup_with(&s->daemon, 60, NULL, extra_service);
	ck_assert_int_ge(asprintf(&s->db, "faults_%d", (int)getpid()), 0);
	ck_assert_int_ge(asprintf(&sql, "CREATE DATABASE %s OWNER deployer", s->db), 0);
	harness_pg_exec(harness_pg_conninfo(), sql);
	ck_assert_int_ge(asprintf(&s->conninfo, "host=%s port=%s user=deployer dbname=%s",
				  harness_pg_host(), harness_pg_port(), s->db),
			 0);
	ck_assert_int_ge(asprintf(&s->app_conninfo, "host=%s port=%s user=app_user dbname=%s",
				  harness_pg_host(), harness_pg_port(), s->db),
			 0);
	harness_pg_exec(s->conninfo, "CREATE TABLE accounts (id int);"
				     "INSERT INTO accounts VALUES (1), (2);"
				     "GRANT SELECT ON accounts TO app_user;");
	ck_assert_int_ge(asprintf(&s->migrations, "%s/migrations", s->daemon.dir), 0);
	ck_assert_int_eq(mkdir(s->migrations, 0755), 0);
}

void fault_teardown(FaultScenario *s)
{
	_cleanup_free_ char *sql = NULL;

	if (!pg_is_running())
		fault_pg_ctl("restart");
	for (size_t i = 0; i < s->n_units; i++) {
		harness_systemctl("stop %s", s->units[i]);
		free(s->units[i]);
	}
	test_daemon_teardown(&s->daemon);
	ck_assert_int_ge(asprintf(&sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", s->db), 0);
	harness_pg_exec(harness_pg_conninfo(), sql);
	free(s->db);
	free(s->conninfo);
	free(s->app_conninfo);
	free(s->migrations);
}

static void write_unit(const char *unit, const char *service)
{
	_cleanup_free_ char *text = NULL;

	ck_assert_int_ge(
		asprintf(&text, "[Unit]\nDescription=fault scenario app\n\n[Service]\n%s", service),
		0);
	harness_write_unit(unit, text);
	harness_daemon_reload();
}

const char *fault_add_unit(FaultScenario *s, const char *stem, const char *service)
{
	_cleanup_free_ char *unique = NULL;

	ck_assert_uint_lt(s->n_units, FAULT_MAX_UNITS);
	/* Unique per test: systemd rate-limits a unit started too often. */
	ck_assert_int_ge(asprintf(&unique, "%s%d", stem, (int)getpid()), 0);
	s->units[s->n_units] = harness_unit_name(unique, "service");
	write_unit(s->units[s->n_units], service);
	return s->units[s->n_units++];
}

void fault_rewrite_unit(const char *unit, const char *service)
{
	write_unit(unit, service);
}

void fault_start_units(FaultScenario *s)
{
	for (size_t i = 0; i < s->n_units; i++)
		ck_assert_int_eq(harness_systemctl("start %s", s->units[i]), 0);
}

void fault_write_migration(FaultScenario *s, const char *name, const char *sql)
{
	_cleanup_free_ char *path = NULL;

	ck_assert_int_ge(asprintf(&path, "%s/%s", s->migrations, name), 0);
	write_file(path, sql, 0644);
}

char *fault_write_script(FaultScenario *s, const char *name, const char *contents)
{
	char *path;

	ck_assert_int_ge(asprintf(&path, "%s/%s", s->daemon.dir, name), 0);
	write_file(path, contents, 0755);
	return path;
}

void fault_write_plan(FaultScenario *s, const char *name, const char *extra_database,
		      const char *extra_services, const char *extra_top)
{
	_cleanup_free_ char *yaml = NULL, *units = NULL;

	ck_assert_int_eq(strv_join(s->units, ", ", &units), 0);
	ck_assert_int_ge(asprintf(&yaml,
				  "version: 1\n"
				  "description: fault scenario\n"
				  "database:\n"
				  "  conninfo: \"%s\"\n"
				  "  lock_timeout: 2s\n"
				  "  connect_timeout: 3s\n"
				  "%s"
				  "services:\n"
				  "  bus: user\n"
				  "  units: [%s]\n"
				  "%s"
				  "migrations:\n"
				  "  directory: %s\n"
				  "%s",
				  s->conninfo, extra_database ?: "", units, extra_services ?: "",
				  s->migrations, extra_top ?: ""),
			 0);
	test_daemon_write_plan(&s->daemon, name, yaml);
}

void fault_wait_for_file(const char *path)
{
	for (int i = 0; i < POLL_STEPS && access(path, F_OK) < 0; i++)
		usleep(POLL_STEP_USEC);
	ck_assert_msg(access(path, F_OK) == 0, "%s never appeared", path);
}

void fault_wait_unit_state(const char *unit, const char *state)
{
	_cleanup_free_ char *now = NULL;

	for (int i = 0; i < POLL_STEPS; i++) {
		free(now);
		now = harness_unit_state(unit);
		if (strcmp(now, state) == 0)
			return;
		usleep(POLL_STEP_USEC);
	}
	ck_abort_msg("%s is %s, expected %s", unit, now, state);
}

void fault_assert_units(FaultScenario *s, const char *state)
{
	for (size_t i = 0; i < s->n_units; i++)
		fault_wait_unit_state(s->units[i], state);
}

int fault_history_count(FaultScenario *s)
{
	_cleanup_free_ char *exists = NULL, *n = NULL;

	exists = harness_pg_value(s->conninfo,
				  "SELECT to_regclass('deployd_schema_migrations') IS NOT NULL");
	if (strcmp(exists, "t") != 0)
		return -1;
	n = harness_pg_value(s->conninfo, "SELECT count(*) FROM deployd_schema_migrations");
	return atoi(n);
}

bool fault_table_exists(FaultScenario *s, const char *table)
{
	_cleanup_free_ char *v =
		sql_value(s->conninfo, "SELECT to_regclass('%s') IS NOT NULL", table);

	return strcmp(v, "t") == 0;
}

void fault_assert_no_sessions(void)
{
	_cleanup_free_ char *sessions = NULL, *locks = NULL;

	for (int i = 0; i < POLL_STEPS; i++) {
		free(sessions);
		free(locks);
		sessions = harness_pg_value(harness_pg_conninfo(),
					    "SELECT count(*) FROM pg_stat_activity "
					    "WHERE application_name LIKE 'deployd%'");
		locks = harness_pg_value(
			harness_pg_conninfo(),
			"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'");
		if (strcmp(sessions, "0") == 0 && strcmp(locks, "0") == 0)
			return;
		usleep(POLL_STEP_USEC);
	}
	_cleanup_free_ char *who =
		harness_pg_value(harness_pg_conninfo(),
				 "SELECT coalesce(string_agg(pid || ' ' || application_name || ' ' "
				 "|| state, '; '), '') "
				 "FROM pg_stat_activity WHERE application_name LIKE 'deployd%'");
	ck_abort_msg("sessions of ours left on the server: %s (%s); advisory locks: %s", sessions,
		     who, locks);
}

void fault_deploy_start(FaultScenario *s, FaultDeploy *bg, const char *args)
{
	_cleanup_strv_free_ char **argv = NULL;
	_cleanup_free_ char *copy = strdup(args);

	ck_assert_ptr_nonnull(copy);
	ck_assert_int_ge(
		asprintf(&bg->output_path, "%s/deploy-%d.out", s->daemon.dir, (int)getpid()), 0);
	ck_assert_int_eq(strv_extend(&argv, s->daemon.deployctl), 0);
	ck_assert_int_eq(strv_extend(&argv, "--socket"), 0);
	ck_assert_int_eq(strv_extend(&argv, s->daemon.socket_path), 0);
	ck_assert_int_eq(strv_extend(&argv, "--plans"), 0);
	ck_assert_int_eq(strv_extend(&argv, s->daemon.plans_dir), 0);
	for (char *save = NULL, *tok = strtok_r(copy, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save))
		ck_assert_int_eq(strv_extend(&argv, tok), 0);

	int fd = open(bg->output_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	bg->pid = fork();
	ck_assert_int_ge(bg->pid, 0);
	if (bg->pid == 0) {
		if (dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fd);
}

int fault_deploy_wait(FaultDeploy *bg, char **ret_output)
{
	int status;

	ck_assert_int_eq(waitpid(bg->pid, &status, 0), bg->pid);
	bg->pid = 0;
	if (ret_output) {
		_cleanup_fclose_ FILE *f = fopen(bg->output_path, "re");
		size_t len = 0;
		*ret_output = NULL;
		if (!f || getdelim(ret_output, &len, '\0', f) < 0) {
			free(*ret_output);
			*ret_output = strdup("");
		}
	}
	free(bg->output_path);
	bg->output_path = NULL;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void fault_deploy_kill_client(FaultDeploy *bg)
{
	ck_assert_int_eq(kill(bg->pid, SIGKILL), 0);
}

int fault_wait_for_query(FaultScenario *s, const char *text)
{
	for (int i = 0; i < POLL_STEPS; i++) {
		_cleanup_free_ char *pid = sql_value(
			harness_pg_conninfo(),
			"SELECT coalesce(max(pid), 0) FROM pg_stat_activity "
			"WHERE datname = '%s' AND state = 'active' AND pid <> pg_backend_pid() "
			"AND strpos(query, '%s') > 0",
			s->db, text);
		if (atoi(pid) > 0)
			return atoi(pid);
		usleep(POLL_STEP_USEC / 2);
	}
	ck_abort_msg("no session of %s ran a query with \"%s\"", s->db, text);
}

void fault_signal_daemon(TestDaemon *d, const char *signal, bool all)
{
	ck_assert_int_eq(harness_systemctl("kill --kill-whom=%s --signal=%s %s",
					   all ? "all" : "main", signal, d->service_unit),
			 0);
	for (int i = 0; i < POLL_STEPS; i++) {
		_cleanup_free_ char *state = test_daemon_state(d);
		if (strcmp(state, "inactive") == 0 || strcmp(state, "failed") == 0)
			return;
		usleep(POLL_STEP_USEC);
	}
	ck_abort_msg("the daemon did not go down after %s", signal);
}

char *fault_deploy_id(const char *output)
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

char *fault_journal_event_field(const char *id, const char *event, const char *field)
{
	_cleanup_free_ char *match_id = NULL, *match_event = NULL;

	ck_assert_int_ge(asprintf(&match_id, "DEPLOY_ID=%s", id), 0);
	ck_assert_int_ge(asprintf(&match_event, "DEPLOY_EVENT=%s", event), 0);
	const char *const matches[] = {match_id, match_event, NULL};
	return journal_field(matches, field);
}

void fault_assert_clean_rerun(FaultScenario *s, const char *plan, int history_rows)
{
	_cleanup_free_ char *out = NULL;
	int code = test_deployctl(&s->daemon, &out, "deploy %s", plan);

	ck_assert_msg(code == 0, "the clean re-run exited %d:\n%s", code, out);
	fault_assert_units(s, "active");
	ck_assert_int_eq(fault_history_count(s), history_rows);
	fault_assert_no_sessions();
}
