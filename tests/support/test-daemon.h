/* test-daemon.h — a real deployd for integration tests, socket-activated by
 * the test user's systemd manager.
 *
 * test_daemon_setup() copies build/deployd and build/deployctl where the
 * test user can run them, writes deployd-RUNID.socket/.service user units
 * (Type=notify, watchdog, the given idle exit) and starts the socket; the
 * daemon itself starts on the first request.  With DEPLOYD_TEST_VALGRIND=1
 * the daemon runs under valgrind's memcheck; teardown fails the test when
 * memcheck or a sanitizer (a SANITIZE=1 build) reported anything.  Plans are written by root
 * (mode 0644), as the daemon's trust check wants.  test_deployctl() runs
 * deployctl as root against that socket and captures its output.  Every
 * helper aborts the test with the reason on failure. */
#pragma once

#include <stdbool.h>

typedef struct TestDaemon {
	char *dir;
	char *plans_dir;
	char *state_dir;
	char *socket_path;
	char *deployd;
	char *deployctl;
	char *socket_unit;
	char *service_unit;
} TestDaemon;

void test_daemon_setup(TestDaemon *d, unsigned idle_exit_sec);
/* The same, with more deployd options (appended to its command line, may be NULL) and more
 * lines for the service's [Service] section (each ending in '\n', may be NULL). */
void test_daemon_setup_with(TestDaemon *d, unsigned idle_exit_sec, const char *extra_options,
			    const char *extra_service);
void test_daemon_teardown(TestDaemon *d);
/* Writes PLANS/NAME.yaml, owned by root, mode 0644. */
void test_daemon_write_plan(TestDaemon *d, const char *name, const char *yaml);
/* Runs deployctl --socket S --plans P ARGS… (ARGS split at spaces); returns its exit code,
 * with stdout and stderr together in *ret_output when non-NULL (free() it). */
int test_deployctl(TestDaemon *d, char **ret_output, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Same, on a pseudo-terminal (120 columns) instead of a pipe: what a person at a terminal sees,
 * control sequences included. */
int test_deployctl_pty(TestDaemon *d, char **ret_output, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Same, but as the given uid (and its primary gid). */
int test_deployctl_as(TestDaemon *d, unsigned uid, unsigned gid, char **ret_output, const char *fmt,
		      ...) __attribute__((format(printf, 5, 6)));
/* ActiveState of the daemon's service ("active", "inactive", …); free() it. */
char *test_daemon_state(TestDaemon *d);
