/* test-daemon.c — see test-daemon.h. */
#include "test-daemon.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <grp.h>
#include <pty.h>
#include <utmp.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "harness.h"
#include "strv.h"

static char *build_dir(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	ck_assert_int_gt(n, 0);
	exe[n] = '\0';
	/* build/tests/integration/test-x → build */
	for (int i = 0; i < 3; i++) {
		char *slash = strrchr(exe, '/');
		ck_assert_ptr_nonnull(slash);
		*slash = '\0';
	}
	return strdup(exe);
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
	_cleanup_close_ int in = open(from, O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	char buf[65536];
	ssize_t n;

	ck_assert_msg(in >= 0 && out >= 0, "copying %s to %s: %s", from, to, strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(fchmod(out, mode), 0);
}

static char *path_join(const char *dir, const char *name)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
	return p;
}

/* With DEPLOYD_TEST_VALGRIND=1 the daemon runs under memcheck, its report (only errors and
 * definite or indirect leaks: --quiet) in DIR/valgrind.PID; "" otherwise. */
static char *valgrind_prefix(const char *dir)
{
	const char *v = getenv("DEPLOYD_TEST_VALGRIND");
	char *prefix;

	if (!v || strcmp(v, "1") != 0)
		return strdup("");
	ck_assert_int_ge(asprintf(&prefix,
				  "/usr/bin/valgrind --quiet --tool=memcheck --leak-check=full "
				  "--show-leak-kinds=definite,indirect "
				  "--errors-for-leak-kinds=definite,indirect --track-origins=yes "
				  "--log-file=%s/valgrind.%%%%p ",
				  dir),
			 0);
	return prefix;
}

/* Whether a report holds an error: any sanitizer output does; memcheck's errors and leaks
 * are its "==PID==" lines ("--PID--" lines are its own warnings, e.g. about a syscall it
 * does not know, which the program survives). */
static bool report_has_errors(const char *name, const char *report)
{
	if (strncmp(name, "sanitizer.", 10) == 0)
		return report[0] != '\0';
	for (const char *line = report; *line;) {
		const char *end = strchrnul(line, '\n');

		if (strncmp(line, "==", 2) == 0)
			return true;
		line = *end ? end + 1 : end;
	}
	return false;
}

/* Fails the test when the daemon left a sanitizer or memcheck report with errors in dir:
 * reports are written when the daemon exits, so the daemon has been stopped. */
static void assert_no_reports(const char *dir)
{
	_cleanup_(closedirp) DIR *dd = opendir(dir);

	ck_assert_ptr_nonnull(dd);
	for (struct dirent *de; (de = readdir(dd));) {
		_cleanup_free_ char *path = NULL;
		_cleanup_fclose_ FILE *f = NULL;
		char report[16384];
		size_t n;

		if (strncmp(de->d_name, "sanitizer.", 10) != 0 &&
		    strncmp(de->d_name, "valgrind.", 9) != 0)
			continue;
		path = path_join(dir, de->d_name);
		f = fopen(path, "re");
		ck_assert_ptr_nonnull(f);
		n = fread(report, 1, sizeof(report) - 1, f);
		report[n] = '\0';
		ck_assert_msg(!report_has_errors(de->d_name, report),
			      "the daemon reported errors (%s):\n%s", path, report);
	}
}

void test_daemon_setup(TestDaemon *d, unsigned idle_exit_sec)
{
	test_daemon_setup_with(d, idle_exit_sec, NULL, NULL);
}

void test_daemon_setup_with(TestDaemon *d, unsigned idle_exit_sec, const char *extra_options,
			    const char *extra_service)
{
	_cleanup_free_ char *build = build_dir(), *from = NULL, *unit = NULL, *stem = NULL;
	_cleanup_free_ char *valgrind = NULL, *local = NULL;

	*d = (TestDaemon){.dir = harness_tmpdir()};
	d->plans_dir = path_join(d->dir, "plans");
	d->state_dir = path_join(d->dir, "state");
	d->socket_path = path_join(d->dir, "deployd.sock");
	d->deployd = path_join(d->dir, "deployd");
	d->deployctl = path_join(d->dir, "deployctl");
	ck_assert_int_eq(mkdir(d->plans_dir, 0755), 0);
	ck_assert_int_eq(mkdir(d->state_dir, 0755), 0);
	ck_assert_int_eq(chown(d->state_dir, harness_test_uid(), harness_test_gid()), 0);

	from = path_join(build, "deployd");
	copy_file(from, d->deployd, 0755);
	free(from);
	from = path_join(build, "deployctl");
	copy_file(from, d->deployctl, 0755);
	free(from);
	/* deployctl runs its local verbs with the deployctl-local beside it. */
	from = path_join(build, "deployctl-local");
	local = path_join(d->dir, "deployctl-local");
	copy_file(from, local, 0755);

	/* Unique per test (each runs in its own process): systemd rate-limits a unit
	 * that is started too often. */
	static unsigned n_daemons; /* a test may set up more than one */
	ck_assert_int_ge(asprintf(&stem, "deployd%dx%u", (int)getpid(), n_daemons++), 0);
	d->socket_unit = harness_unit_name(stem, "socket");
	d->service_unit = harness_unit_name(stem, "service");
	ck_assert_int_ge(asprintf(&unit,
				  "[Unit]\nDescription=deployd test socket\n\n"
				  "[Socket]\nListenStream=%s\nSocketMode=0666\n"
				  "Service=%s\n",
				  d->socket_path, d->service_unit),
			 0);
	harness_write_unit(d->socket_unit, unit);
	free(unit);
	valgrind = valgrind_prefix(d->dir);
	/* LeakSanitizer stops the world with ptrace, which a sandboxed daemon's system call
	 * filter forbids; the unsandboxed suites' daemons are checked for leaks. */
	bool sandboxed = extra_service && strstr(extra_service, "SystemCallFilter=");
	/* A sanitized build (make SANITIZE=1) writes its reports to DIR/sanitizer.PID, which
	 * teardown turns into a failure; other builds ignore these variables. */
	ck_assert_int_ge(
		asprintf(&unit,
			 "[Unit]\nDescription=deployd under test\nRequires=%s\n\n"
			 "[Service]\nType=notify\nWatchdogSec=%s\n"
			 /* as systemd/deployd.service */
			 "Environment=GNUTLS_NO_IMPLICIT_INIT=1\n"
			 "Environment=ASAN_OPTIONS=log_path=%s/sanitizer:detect_leaks=%d\n"
			 "Environment=UBSAN_OPTIONS=log_path=%s/sanitizer:print_stacktrace=1:"
			 "halt_on_error=1\n"
			 "ExecStart=%s%s --plans %s --state-dir %s --idle-exit %u "
			 "--log-target journal%s%s\n%s",
			 d->socket_unit, valgrind[0] ? "120s" : "20s", d->dir, !sandboxed, d->dir,
			 valgrind, d->deployd, d->plans_dir, d->state_dir, idle_exit_sec,
			 extra_options ? " " : "", extra_options ?: "", extra_service ?: ""),
		0);
	harness_write_unit(d->service_unit, unit);
	harness_daemon_reload();
	ck_assert_int_eq(harness_systemctl("start %s", d->socket_unit), 0);
}

void test_daemon_teardown(TestDaemon *d)
{
	harness_systemctl("stop %s %s", d->service_unit, d->socket_unit);
	assert_no_reports(d->dir);
	free(d->dir);
	free(d->plans_dir);
	free(d->state_dir);
	free(d->socket_path);
	free(d->deployd);
	free(d->deployctl);
	free(d->socket_unit);
	free(d->service_unit);
}

void test_daemon_write_plan(TestDaemon *d, const char *name, const char *yaml)
{
	_cleanup_free_ char *file = NULL, *path = NULL;
	_cleanup_fclose_ FILE *f = NULL;

	ck_assert_int_ge(asprintf(&file, "%s.yaml", name), 0);
	path = path_join(d->plans_dir, file);
	f = fopen(path, "we");
	ck_assert_msg(f, "creating %s: %s", path, strerror(errno));
	ck_assert_int_ge(fputs(yaml, f), 0);
	ck_assert_int_eq(fchmod(fileno(f), 0644), 0);
}

static int run_deployctl(TestDaemon *d, int uid, int gid, bool pty, char **ret_output,
			 const char *fmt, va_list ap)
{
	_cleanup_free_ char *args = NULL, *output = NULL;
	_cleanup_strv_free_ char **argv = NULL;
	int pipefd[2], status;
	size_t len = 0;
	pid_t pid;

	ck_assert_int_ge(vasprintf(&args, fmt, ap), 0);
	ck_assert_int_eq(strv_extend(&argv, d->deployctl), 0);
	ck_assert_int_eq(strv_extend(&argv, "--socket"), 0);
	ck_assert_int_eq(strv_extend(&argv, d->socket_path), 0);
	ck_assert_int_eq(strv_extend(&argv, "--plans"), 0);
	ck_assert_int_eq(strv_extend(&argv, d->plans_dir), 0);
	for (char *save = NULL, *tok = strtok_r(args, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save))
		ck_assert_int_eq(strv_extend(&argv, tok), 0);

	if (pty) {
		/* A terminal 120 columns wide, its output read from the master side. */
		struct winsize ws = {.ws_row = 40, .ws_col = 120};
		ck_assert_int_eq(openpty(&pipefd[0], &pipefd[1], NULL, NULL, &ws), 0);
		ck_assert_int_ge(fcntl(pipefd[0], F_SETFD, FD_CLOEXEC), 0);
	} else
		ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (pty) {
			if (login_tty(pipefd[1]) < 0)
				_exit(127);
		} else {
			dup2(pipefd[1], STDOUT_FILENO);
			dup2(pipefd[1], STDERR_FILENO);
		}
		if (gid >= 0 && (setgroups(0, NULL) < 0 || setgid((gid_t)gid) < 0))
			_exit(127);
		if (uid >= 0 && setuid((uid_t)uid) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pipefd[1]);
	for (;;) {
		char buf[4096];
		ssize_t n = read(pipefd[0], buf, sizeof(buf));
		if (n <= 0)
			break;
		char *grown = realloc(output, len + (size_t)n + 1);
		ck_assert_ptr_nonnull(grown);
		output = grown;
		memcpy(output + len, buf, (size_t)n);
		len += (size_t)n;
		output[len] = '\0';
	}
	close(pipefd[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	if (ret_output)
		*ret_output = output ? TAKE_PTR(output) : strdup("");
	ck_assert_msg(WIFEXITED(status), "deployctl %s died", args);
	return WEXITSTATUS(status);
}

int test_deployctl(TestDaemon *d, char **ret_output, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int r = run_deployctl(d, -1, -1, false, ret_output, fmt, ap);
	va_end(ap);
	return r;
}

int test_deployctl_pty(TestDaemon *d, char **ret_output, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int r = run_deployctl(d, -1, -1, true, ret_output, fmt, ap);
	va_end(ap);
	return r;
}

int test_deployctl_as(TestDaemon *d, unsigned uid, unsigned gid, char **ret_output, const char *fmt,
		      ...)
{
	va_list ap;

	va_start(ap, fmt);
	int r = run_deployctl(d, (int)uid, (int)gid, false, ret_output, fmt, ap);
	va_end(ap);
	return r;
}

char *test_daemon_state(TestDaemon *d)
{
	char *out = NULL;

	harness_systemctl_output(&out, "show -p ActiveState --value %s", d->service_unit);
	return out;
}
