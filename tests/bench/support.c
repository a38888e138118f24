/* support.c — see support.h. */
#include "check-run.h"
#include "pg-cleanup.h"
#include "support.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <json-c/json.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "harness.h"

static void (*bench_body)(void);

START_TEST(bench)
{
	bench_body();
}
END_TEST

int bench_main(const char *name, void (*fn)(void))
{
	Suite *s = suite_create(name);
	TCase *tc = tcase_create("bench");

	bench_body = fn;
	setvbuf(stdout, NULL, _IOLBF, 0);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, bench);
	suite_add_tcase(s, tc);
	return check_run_suite_unforked(s);
}

static void become_test_user(void)
{
	const char *user = harness_test_user();
	gid_t gid = harness_test_gid();
	uid_t uid = harness_test_uid();
	struct passwd *pw = getpwnam(user);
	char runtime_dir[64], bus[96];

	snprintf(runtime_dir, sizeof(runtime_dir), "/run/user/%u", (unsigned)uid);
	snprintf(bus, sizeof(bus), "unix:path=%s/bus", runtime_dir);
	if (!pw || initgroups(user, gid) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0 || setenv("HOME", pw->pw_dir, 1) < 0 ||
	    setenv("USER", user, 1) < 0 || setenv("XDG_RUNTIME_DIR", runtime_dir, 1) < 0 ||
	    setenv("DBUS_SESSION_BUS_ADDRESS", bus, 1) < 0 || chdir("/") < 0) {
		fprintf(stderr, "bench: becoming %s: %s\n", user, strerror(errno));
		_exit(127);
	}
}

static void append(char **buf, size_t *len, const char *data, size_t n)
{
	char *grown = realloc(*buf, *len + n + 1);

	ck_assert_ptr_nonnull(grown);
	memcpy(grown + *len, data, n);
	*len += n;
	grown[*len] = '\0';
	*buf = grown;
}

void bench_run(BenchRun *ret, const BenchRunOptions *o, char *const argv[])
{
	static const BenchRunOptions defaults = {};
	_cleanup_free_ char *output = strdup("");
	int pipefd[2], status;
	size_t len = 0;
	usec_t start, deadline;
	bool killed = false;
	pid_t pid;

	o = o ?: &defaults;
	ck_assert_ptr_nonnull(output);
	ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
	start = now_usec(CLOCK_MONOTONIC);
	deadline = o->timeout_sec ? start + o->timeout_sec * USEC_PER_SEC : USEC_INFINITY;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* Its own process group: a timeout ends a shell loop and the psql it runs. */
		setpgid(0, 0);
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		if (o->as_test_user)
			become_test_user();
		for (const char *const *e = o->env; e && *e; e++)
			putenv((char *)*e);
		execv(argv[0], argv);
		fprintf(stderr, "bench: executing %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	for (;;) {
		struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
		usec_t now = now_usec(CLOCK_MONOTONIC);
		int wait_ms = deadline == USEC_INFINITY || killed ? -1
			      : now >= deadline			  ? 0
						: (int)((deadline - now) / 1000 + 1);
		char buf[8192];
		ssize_t n;

		if (poll(&p, 1, wait_ms) == 0) {
			kill(-pid, SIGTERM);
			killed = true;
			continue;
		}
		n = read(pipefd[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		append(&output, &len, buf, (size_t)n);
	}
	close(pipefd[0]);
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0)
		ck_assert_int_eq(errno, EINTR);
	*ret = (BenchRun){
		.status = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status),
		.took = now_usec(CLOCK_MONOTONIC) - start,
		.cpu = (usec_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * USEC_PER_SEC +
		       (usec_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec),
		.output = TAKE_PTR(output),
	};
}

void bench_run_done(BenchRun *r)
{
	free(r->output);
	*r = (BenchRun){};
}

void bench_fresh_database(const char *name)
{
	_cleanup_(PQfinishp) PGconn *conn = harness_pg_connect(harness_pg_conninfo());
	_cleanup_free_ char *drop = NULL, *create = NULL;

	/* Two messages: CREATE DATABASE cannot run inside a transaction block. */
	PQclear(harness_pg_query(conn, "SET client_min_messages TO warning"));
	ck_assert_int_ge(asprintf(&drop, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name), 0);
	ck_assert_int_ge(asprintf(&create, "CREATE DATABASE \"%s\" OWNER deployer", name), 0);
	PQclear(harness_pg_query(conn, drop));
	PQclear(harness_pg_query(conn, create));
}

char *bench_conninfo(const char *user, const char *dbname)
{
	char *s;

	ck_assert_int_ge(asprintf(&s, "host=%s port=%s user=%s dbname=%s", harness_pg_host(),
				  harness_pg_port(), user, dbname),
			 0);
	return s;
}

char *bench_database_url(const char *user, const char *dbname)
{
	char *s;

	ck_assert_int_ge(asprintf(&s, "postgres://%s@/%s?host=%s&port=%s&sslmode=disable", user,
				  dbname, harness_pg_host(), harness_pg_port()),
			 0);
	return s;
}

long long bench_pg_number(const char *conninfo, const char *sql)
{
	_cleanup_free_ char *v = harness_pg_value(conninfo, sql);

	ck_assert_msg(v, "%s returned NULL", sql);
	return strtoll(v, NULL, 10);
}

char *bench_psql(void)
{
	return bench_path(harness_pg_bindir(), "psql");
}

const char *bench_dbmate(void)
{
	const char *p = getenv("DEPLOYD_BENCH_DBMATE");

	ck_assert_msg(p && access(p, X_OK) == 0,
		      "DEPLOYD_BENCH_DBMATE does not name the dbmate binary: run make bench");
	return p;
}

char *bench_path(const char *dir, const char *name)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
	return p;
}

void bench_write_file(const char *dir, const char *name, const char *contents)
{
	_cleanup_free_ char *path = bench_path(dir, name);
	_cleanup_fclose_ FILE *f = fopen(path, "we");

	ck_assert_msg(f, "creating %s: %s", path, strerror(errno));
	ck_assert_int_ge(fputs(contents, f), 0);
	ck_assert_int_eq(fchmod(fileno(f), 0644), 0);
}

static const char *json_string(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

char *bench_event_field(const char *output, const char *event, const char *phase, const char *field)
{
	for (const char *line = output; line && *line;) {
		const char *end = strchrnul(line, '\n');
		_cleanup_free_ char *copy = strndup(line, (size_t)(end - line));
		json_object *o = copy ? json_tokener_parse(copy) : NULL;
		char *found = NULL;

		if (o) {
			const char *e = json_string(o, "DEPLOY_EVENT"),
				   *p = json_string(o, "DEPLOY_PHASE"), *v = json_string(o, field);
			if (e && strcmp(e, event) == 0 &&
			    (!phase || (p && strcmp(p, phase) == 0)) && v)
				found = strdup(v);
			json_object_put(o);
		}
		if (found)
			return found;
		line = *end ? end + 1 : end;
	}
	return NULL;
}

static int compare_usec(const void *a, const void *b)
{
	usec_t x = *(const usec_t *)a, y = *(const usec_t *)b;

	return x < y ? -1 : x > y;
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double bench_median_ms(usec_t *v, size_t n)
{
	ck_assert_uint_gt(n, 0);
	qsort(v, n, sizeof(*v), compare_usec);
	return n % 2 ? v[n / 2] / 1000.0 : (v[n / 2 - 1] + v[n / 2]) / 2000.0;
}

double bench_median(double *v, size_t n)
{
	ck_assert_uint_gt(n, 0);
	qsort(v, n, sizeof(*v), compare_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void bench_print_lines(const char *prefix, const char *text, size_t max_lines)
{
	size_t printed = 0;

	for (const char *line = text; line && *line && printed < max_lines; printed++) {
		const char *end = strchrnul(line, '\n');
		printf("%s%.*s\n", prefix, (int)(end - line), line);
		line = *end ? end + 1 : end;
	}
	if (printed == 0)
		printf("%s(nothing)\n", prefix);
}

char *bench_app_unit(const char *stem)
{
	char *name = harness_unit_name(stem, "service");

	harness_write_unit(name, "[Service]\nExecStart=/bin/sleep infinity\n");
	harness_daemon_reload();
	ck_assert_int_eq(harness_systemctl("start %s", name), 0);
	return name;
}
