/* harness.c — see harness.h. */
#include "harness.h"
#include "pg-cleanup.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "strv.h"

static const char *harness_env(const char *name)
{
	const char *value = getenv(name);

	if (!value || !*value)
		ck_abort_msg("%s not set: run through tests/harness/with-services", name);
	return value;
}

const char *harness_pg_conninfo(void)
{
	return harness_env("DEPLOYD_TEST_PG_CONNINFO");
}

const char *harness_app_conninfo(void)
{
	return harness_env("DEPLOYD_TEST_APP_CONNINFO");
}

const char *harness_app_user_conninfo(void)
{
	return harness_env("DEPLOYD_TEST_APP_USER_CONNINFO");
}

const char *harness_pg_host(void)
{
	return harness_env("DEPLOYD_TEST_PG_HOST");
}

const char *harness_pg_port(void)
{
	return harness_env("DEPLOYD_TEST_PG_PORT");
}

const char *harness_pg_bindir(void)
{
	return harness_env("DEPLOYD_TEST_PG_BINDIR");
}

const char *harness_dir(void)
{
	return harness_env("DEPLOYD_TEST_HARNESS_DIR");
}

const char *harness_test_user(void)
{
	return harness_env("DEPLOYD_TEST_USER");
}

static unsigned long harness_env_id(const char *name)
{
	const char *value = harness_env(name);
	char *end;
	unsigned long id;

	errno = 0;
	id = strtoul(value, &end, 10);
	if (errno != 0 || *end != '\0' || id == 0)
		ck_abort_msg("%s=%s is not a non-root numeric id", name, value);
	return id;
}

uid_t harness_test_uid(void)
{
	return (uid_t)harness_env_id("DEPLOYD_TEST_UID");
}

gid_t harness_test_gid(void)
{
	return (gid_t)harness_env_id("DEPLOYD_TEST_GID");
}

const char *harness_unit_dir(void)
{
	return harness_env("DEPLOYD_TEST_UNIT_DIR");
}

const char *harness_run_id(void)
{
	return harness_env("DEPLOYD_TEST_RUN_ID");
}

char *harness_unit_name(const char *stem, const char *type)
{
	char *name;

	ck_assert_int_ge(asprintf(&name, "%s-%s.%s", stem, harness_run_id(), type), 0);
	return name;
}

static void write_all(int fd, const char *path, const char *data)
{
	size_t left = strlen(data);

	while (left > 0) {
		ssize_t n = write(fd, data, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ck_abort_msg("writing %s: %s", path, strerror(errno));
		data += n;
		left -= (size_t)n;
	}
}

void harness_write_unit(const char *name, const char *contents)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -EBADF;

	ck_assert_msg(strchr(name, '/') == NULL, "unit name %s contains a slash", name);
	ck_assert_int_ge(asprintf(&path, "%s/%s", harness_unit_dir(), name), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		ck_abort_msg("creating %s: %s", path, strerror(errno));
	write_all(fd, path, contents);
	if (fchown(fd, harness_test_uid(), harness_test_gid()) < 0)
		ck_abort_msg("chown %s to %s: %s", path, harness_test_user(), strerror(errno));
}

void harness_daemon_reload(void)
{
	int status = harness_systemctl("daemon-reload");

	ck_assert_msg(status == 0, "systemctl --user daemon-reload exited with %d", status);
}

/* Reads FD to its end into a NUL-terminated string. */
static char *read_to_end(int fd)
{
	_cleanup_free_ char *buf = NULL;
	size_t size = 0, len = 0;

	for (;;) {
		ssize_t n;

		if (size - len < 4096) {
			char *grown = realloc(buf, size + 65536);

			ck_assert_ptr_nonnull(grown);
			buf = grown;
			size += 65536;
		}
		n = read(fd, buf + len, size - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ck_abort_msg("reading a child's output: %s", strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return TAKE_PTR(buf);
}

int harness_run_as_test_user(char *const argv[], char **ret_output)
{
	const char *user = harness_test_user();
	uid_t uid = harness_test_uid();
	gid_t gid = harness_test_gid();
	_cleanup_free_ char *runtime_dir = NULL, *bus = NULL, *output = NULL;
	struct passwd *pw = getpwnam(user);
	int out[2] = {-EBADF, -EBADF};
	int status;
	pid_t pid;

	ck_assert_msg(pw != NULL, "test user %s does not exist", user);
	ck_assert_int_ge(asprintf(&runtime_dir, "/run/user/%u", (unsigned)uid), 0);
	ck_assert_int_ge(asprintf(&bus, "unix:path=%s/bus", runtime_dir), 0);
	if (ret_output && pipe2(out, O_CLOEXEC) < 0)
		ck_abort_msg("pipe: %s", strerror(errno));

	pid = fork();
	if (pid < 0)
		ck_abort_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		if (ret_output && dup2(out[1], STDOUT_FILENO) < 0)
			_exit(127);
		/* Not root: the harness made the caller itself the test user. */
		if (getuid() == 0 && (initgroups(user, gid) < 0 || setresgid(gid, gid, gid) < 0 ||
				      setresuid(uid, uid, uid) < 0)) {
			fprintf(stderr, "harness: becoming %s: %s\n", user, strerror(errno));
			_exit(127);
		}
		if (setenv("HOME", pw->pw_dir, 1) < 0 || setenv("USER", user, 1) < 0 ||
		    setenv("XDG_RUNTIME_DIR", runtime_dir, 1) < 0 ||
		    setenv("DBUS_SESSION_BUS_ADDRESS", bus, 1) < 0 || chdir("/") < 0)
			_exit(127);
		execvp(argv[0], argv);
		fprintf(stderr, "harness: executing %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}

	if (ret_output) {
		close(out[1]);
		output = read_to_end(out[0]);
		close(out[0]);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			ck_abort_msg("waitpid: %s", strerror(errno));
	if (ret_output)
		*ret_output = TAKE_PTR(output);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

static int systemctl_v(char **ret_output, const char *fmt, va_list ap)
{
	_cleanup_free_ char *args = NULL;
	_cleanup_strv_free_ char **argv = NULL;
	char *saveptr = NULL;
	int status;

	ck_assert_int_ge(vasprintf(&args, fmt, ap), 0);
	ck_assert_int_eq(strv_extend(&argv, "systemctl"), 0);
	ck_assert_int_eq(strv_extend(&argv, "--user"), 0);
	for (char *word = strtok_r(args, " ", &saveptr); word; word = strtok_r(NULL, " ", &saveptr))
		ck_assert_int_eq(strv_extend(&argv, word), 0);

	status = harness_run_as_test_user(argv, ret_output);
	if (ret_output) {
		size_t len = strlen(*ret_output);

		if (len > 0 && (*ret_output)[len - 1] == '\n')
			(*ret_output)[len - 1] = '\0';
	}
	return status;
}

int harness_systemctl(const char *fmt, ...)
{
	va_list ap;
	int status;

	va_start(ap, fmt);
	status = systemctl_v(NULL, fmt, ap);
	va_end(ap);
	return status;
}

int harness_systemctl_output(char **ret_output, const char *fmt, ...)
{
	va_list ap;
	int status;

	va_start(ap, fmt);
	status = systemctl_v(ret_output, fmt, ap);
	va_end(ap);
	return status;
}

PGconn *harness_pg_connect(const char *conninfo)
{
	PGconn *conn = PQconnectdb(conninfo);

	ck_assert_ptr_nonnull(conn);
	if (PQstatus(conn) != CONNECTION_OK)
		ck_abort_msg("connecting to PostgreSQL as %s, database %s: %s", PQuser(conn),
			     PQdb(conn), PQerrorMessage(conn));
	return conn;
}

PGresult *harness_pg_query(PGconn *conn, const char *sql)
{
	PGresult *result = PQexec(conn, sql);
	ExecStatusType status = PQresultStatus(result);

	if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
		const char *sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);

		ck_abort_msg("SQL failed as %s (SQLSTATE %s): %s\n  SQL: %s", PQuser(conn),
			     sqlstate ? sqlstate : "none",
			     result ? PQresultErrorMessage(result) : PQerrorMessage(conn), sql);
	}
	return result;
}

void harness_pg_exec(const char *conninfo, const char *sql)
{
	_cleanup_(PQfinishp) PGconn *conn = harness_pg_connect(conninfo);
	_cleanup_(PQclearp) PGresult *result = harness_pg_query(conn, sql);
}

char *harness_pg_value(const char *conninfo, const char *sql)
{
	_cleanup_(PQfinishp) PGconn *conn = harness_pg_connect(conninfo);
	_cleanup_(PQclearp) PGresult *result = harness_pg_query(conn, sql);
	char *value;

	if (PQntuples(result) < 1 || PQnfields(result) < 1)
		ck_abort_msg("SQL returned no value: %s", sql);
	if (PQgetisnull(result, 0, 0))
		return NULL;
	value = strdup(PQgetvalue(result, 0, 0));
	ck_assert_ptr_nonnull(value);
	return value;
}

char *harness_tmpdir(void)
{
	char *path;

	ck_assert_int_ge(asprintf(&path, "%s/t-XXXXXX", harness_env("DEPLOYD_TEST_TMPDIR")), 0);
	if (!mkdtemp(path))
		ck_abort_msg("mkdtemp %s: %s", path, strerror(errno));
	if (chmod(path, 0755) < 0 || chown(path, harness_test_uid(), harness_test_gid()) < 0)
		ck_abort_msg("handing %s to %s: %s", path, harness_test_user(), strerror(errno));
	return path;
}

char *harness_db_conninfo(const char *db, const char *user)
{
	char *c;

	ck_assert_int_ge(asprintf(&c, "host=%s port=%s user=%s dbname=%s", harness_pg_host(),
				  harness_pg_port(), user, db),
			 0);
	return c;
}

char *harness_db_tcp_conninfo(const char *db, const char *user)
{
	const char *host = getenv("DEPLOYD_TEST_PG_TCP_HOST");
	char *c;

	ck_assert_msg(host && *host, "DEPLOYD_TEST_PG_TCP_HOST is not set (tests/harness/up)");
	ck_assert_int_ge(asprintf(&c, "host=%s port=%s user=%s dbname=%s", host,
				  harness_pg_port(), user, db),
			 0);
	return c;
}

char *harness_unit_state(const char *unit)
{
	char *out = NULL;

	ck_assert_int_eq(harness_systemctl_output(&out, "show -p ActiveState --value %s", unit), 0);
	return out;
}

int harness_count_idle_in_transaction(const char *db, const char *user)
{
	_cleanup_free_ char *sql = NULL, *n = NULL;

	ck_assert_int_ge(asprintf(&sql,
				  "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' "
				  "AND usename = '%s' AND state = 'idle in transaction'",
				  db, user),
			 0);
	n = harness_pg_value(harness_pg_conninfo(), sql);
	return atoi(n);
}

void harness_wait_idle_in_transaction(const char *db, const char *user, int expected)
{
	/* Apps connect when they please: a loaded machine may take long, only a hang fails. */
	for (usec_t waited = 0;
	     waited < HANG_BOUND && harness_count_idle_in_transaction(db, user) != expected;
	     waited += 100 * USEC_PER_MSEC)
		usleep(100 * 1000);
	ck_assert_int_eq(harness_count_idle_in_transaction(db, user), expected);
}
