/* spawn-command: programs run without a shell, output line by line, exit, signals, bounds. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check-run.h"
#include "spawn-command.h"
#include "strv.h"

typedef struct Output {
	char **stdout_lines;
	char **stderr_lines;
} Output;

static void output_done(Output *o)
{
	strv_free(o->stdout_lines);
	strv_free(o->stderr_lines);
}

static void collect(SpawnStream stream, const char *line, void *userdata)
{
	Output *o = userdata;

	ck_assert_int_eq(
		strv_extend(stream == SPAWN_STDOUT ? &o->stdout_lines : &o->stderr_lines, line), 0);
}

/* Alive: exists and is not a zombie (an orphan's zombie waits for whoever reaps it). */
static bool process_is_alive(pid_t pid)
{
	char path[64], buf[512];
	_cleanup_fclose_ FILE *f = NULL;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f || !fgets(buf, sizeof(buf), f))
		return false;
	const char *paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
}

/* Waits up to a second for pid to die (a SIGKILL takes effect asynchronously). */
static bool process_dies(pid_t pid)
{
	for (int i = 0; i < 100; i++) {
		if (!process_is_alive(pid))
			return true;
		usleep(10000);
	}
	return false;
}

static char *const base_env[] = {"PATH=/usr/bin:/bin", NULL};

/* Runs /bin/sh -c SCRIPT (the test's choice of program; spawn itself uses no shell). */
static SpawnResult run_sh(const char *script, Output *out, usec_t timeout, int cancel_fd)
{
	char *const argv[] = {"sh", "-c", (char *)script, NULL};
	SpawnOptions o = {
		.argv = argv,
		.envp = base_env,
		.timeout = timeout,
		.cancel_fd = cancel_fd,
		.output = collect,
		.userdata = out,
	};
	SpawnResult result = {};
	_cleanup_free_ char *error = NULL;

	ck_assert_msg(spawn_run(&o, &result, &error) == 0, "%s", error);
	return result;
}

START_TEST(test_secrets_are_redacted_also_across_the_4096_byte_cut)
{
	static char *const secrets[] = {"pa55-w0rd", "pa55%2Dw0rd", NULL};
	char *const argv[] = {"sh", "-c",
			      "head -c 4090 /dev/zero | tr '\\0' x; echo 'pa55-w0rd tail';"
			      "echo 'url postgresql://u:pa55%2Dw0rd@/db'; echo 'pa55-w0rd' >&2",
			      NULL};
	_cleanup_(output_done) Output out = {};
	SpawnOptions o = {
		.argv = argv,
		.envp = base_env,
		.cancel_fd = -1,
		.output = collect,
		.userdata = &out,
		.redact = secrets,
	};
	SpawnResult result = {};
	_cleanup_free_ char *error = NULL, *joined = NULL;

	ck_assert_msg(spawn_run(&o, &result, &error) == 0, "%s", error);
	ck_assert_int_eq(result.outcome, SPAWN_EXITED);
	/* The 4096-byte buffer fills in the middle of the password: the piece ends before it. */
	ck_assert_uint_eq(strv_length(out.stdout_lines), 3);
	ck_assert_uint_eq(strlen(out.stdout_lines[0]), 4090);
	ck_assert_str_eq(out.stdout_lines[1], "*** tail");
	ck_assert_str_eq(out.stdout_lines[2], "url postgresql://u:***@/db");
	ck_assert_str_eq(out.stderr_lines[0], "***");
	ck_assert_int_eq(strv_join(out.stdout_lines, "", &joined), 0);
	ck_assert_ptr_null(strstr(joined, "pa55"));
}
END_TEST

START_TEST(test_output_arrives_line_by_line_per_stream)
{
	_cleanup_(output_done) Output out = {};
	SpawnResult r = run_sh("echo one; echo err1 >&2; printf 'two\\r\\nthree'; echo err2 >&2",
			       &out, 0, -1);

	ck_assert_int_eq(r.outcome, SPAWN_EXITED);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(strv_length(out.stdout_lines), 3);
	ck_assert_str_eq(out.stdout_lines[0], "one");
	ck_assert_str_eq(out.stdout_lines[1], "two");
	ck_assert_str_eq(out.stdout_lines[2], "three");
	ck_assert_uint_eq(strv_length(out.stderr_lines), 2);
	ck_assert_str_eq(out.stderr_lines[1], "err2");
}
END_TEST

/* From here on this process gets ENOSYS from pidfd_open, as on kernels before 5.3 and under
 * valgrind (whose memcheck run of the daemon found the case).  434 is pidfd_open on every
 * architecture, so no architecture check is needed. */
static void make_pidfd_open_unimplemented(void)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pidfd_open, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(filter) / sizeof(filter[0]), .filter = filter};

	ck_assert_int_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	ck_assert_int_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
	ck_assert_int_eq(syscall(SYS_pidfd_open, getpid(), 0), -1);
	ck_assert_int_eq(errno, ENOSYS);
}

START_TEST(test_without_pidfd_open_programs_still_run_and_are_waited_for)
{
	/* In a child of its own: the filter cannot be taken back. */
	pid_t child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		_cleanup_(output_done) Output out = {};
		make_pidfd_open_unimplemented();
		SpawnResult r = run_sh("echo ran; sleep 0.2; exit 4", &out, 0, -1);
		SpawnResult slow = run_sh("sleep 30", &out, 300 * USEC_PER_MSEC, -1);
		_exit(r.outcome == SPAWN_EXITED && r.status == 4 &&
				      strv_length(out.stdout_lines) == 1 &&
				      strcmp(out.stdout_lines[0], "ran") == 0 &&
				      slow.outcome == SPAWN_TIMED_OUT
			      ? 0
			      : 1);
	}
	int status;
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "without pidfd_open a program did not run, or was not waited for (status %d)",
		      status);
}
END_TEST

START_TEST(test_exit_status_is_reported)
{
	_cleanup_(output_done) Output out = {};
	SpawnResult r = run_sh("exit 3", &out, 0, -1);

	ck_assert_int_eq(r.outcome, SPAWN_EXITED);
	ck_assert_int_eq(r.status, 3);
}
END_TEST

START_TEST(test_death_by_signal_is_reported)
{
	_cleanup_(output_done) Output out = {};
	SpawnResult r = run_sh("kill -SEGV $$", &out, 0, -1);

	ck_assert_int_eq(r.outcome, SPAWN_SIGNALED);
	ck_assert_int_eq(r.status, SIGSEGV);
}
END_TEST

START_TEST(test_a_long_line_is_split_not_lost)
{
	_cleanup_(output_done) Output out = {};
	/* 10000 bytes of 'é' (2 bytes each), then "end". */
	SpawnResult r = run_sh("i=0; while [ $i -lt 5000 ]; do printf 'é'; i=$((i+1)); done; "
			       "echo; echo end",
			       &out, 0, -1);
	size_t total = 0, n = strv_length(out.stdout_lines);

	ck_assert_int_eq(r.outcome, SPAWN_EXITED);
	ck_assert_uint_ge(n, 4);
	for (size_t i = 0; i + 1 < n; i++) {
		ck_assert_uint_le(strlen(out.stdout_lines[i]), SPAWN_LINE_MAX);
		/* Cut between characters: each piece is whole 'é's. */
		ck_assert_uint_eq(strlen(out.stdout_lines[i]) % 2, 0);
		ck_assert_ptr_null(strstr(out.stdout_lines[i], "\xEF\xBF\xBD"));
		total += strlen(out.stdout_lines[i]);
	}
	ck_assert_uint_eq(total, 10000);
	ck_assert_str_eq(out.stdout_lines[n - 1], "end");
}
END_TEST

START_TEST(test_invalid_utf8_nul_and_control_characters_are_replaced)
{
	_cleanup_(output_done) Output out = {};

	run_sh("printf 'a\\377b\\000c\\033[31md\\te\\n'", &out, 0, -1);
	ck_assert_uint_eq(strv_length(out.stdout_lines), 1);
	ck_assert_str_eq(out.stdout_lines[0], "a\xEF\xBF\xBD"
					      "b\xEF\xBF\xBD"
					      "c\xEF\xBF\xBD"
					      "[31md e");
}
END_TEST

START_TEST(test_the_environment_is_exactly_the_one_given)
{
	char *const argv[] = {"env", NULL};
	char *const envp[] = {"PATH=/usr/bin:/bin", "ONLY=this", NULL};
	_cleanup_(output_done) Output out = {};
	SpawnOptions o = {
		.argv = argv, .envp = envp, .cancel_fd = -1, .output = collect, .userdata = &out};
	SpawnResult r;

	setenv("SPAWN_TEST_LEAK", "1", 1);
	ck_assert_int_eq(spawn_run(&o, &r, NULL), 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(strv_length(out.stdout_lines), 2);
	ck_assert(strv_contains(out.stdout_lines, "ONLY=this"));
	ck_assert(strv_contains(out.stdout_lines, "PATH=/usr/bin:/bin"));
}
END_TEST

START_TEST(test_it_runs_in_the_working_directory_without_inherited_fds)
{
	char *const argv[] = {"sh", "-c", "pwd; ls /proc/self/fd | wc -l", NULL};
	_cleanup_(output_done) Output out = {};
	SpawnOptions o = {.argv = argv,
			  .envp = base_env,
			  .working_directory = "/usr",
			  .cancel_fd = -1,
			  .output = collect,
			  .userdata = &out};
	SpawnResult r;
	int leaked = open("/dev/null", O_RDONLY); /* not O_CLOEXEC */

	ck_assert_int_ge(leaked, 0);
	ck_assert_int_eq(spawn_run(&o, &r, NULL), 0);
	close(leaked);
	ck_assert_str_eq(out.stdout_lines[0], "/usr");
	/* 0, 1, 2, and the one ls opens for reading the directory. */
	ck_assert_str_eq(out.stdout_lines[1], "4");
}
END_TEST

START_TEST(test_a_missing_program_is_an_error)
{
	char *const argv[] = {"no-such-program-anywhere", NULL};
	SpawnOptions o = {.argv = argv, .envp = base_env, .cancel_fd = -1};
	SpawnResult r;
	char *error = NULL;

	ck_assert_int_eq(spawn_run(&o, &r, &error), -ENOENT);
	ck_assert_str_eq(error, "cannot run no-such-program-anywhere: command not found");
	free(error);
}
END_TEST

START_TEST(test_the_timeout_kills_the_whole_process_group)
{
	_cleanup_(output_done) Output out = {};
	usec_t started = now_usec(CLOCK_MONOTONIC);
	/* A background child that ignores SIGTERM must die too (SIGKILL after the grace). */
	SpawnResult r = run_sh("(trap '' TERM; sleep 30; echo leaked) & echo $!; wait", &out,
			       300 * USEC_PER_MSEC, -1);
	usec_t took = now_usec(CLOCK_MONOTONIC) - started;

	ck_assert_int_eq(r.outcome, SPAWN_TIMED_OUT);
	ck_assert_uint_lt(took, SPAWN_KILL_GRACE_USEC + 3 * USEC_PER_SEC);
	ck_assert_uint_eq(strv_length(out.stdout_lines), 1);
	pid_t child = (pid_t)atoi(out.stdout_lines[0]);
	ck_assert_int_gt(child, 0);
	ck_assert(process_dies(child));
}
END_TEST

START_TEST(test_a_program_ignoring_sigterm_is_killed_after_the_grace)
{
	_cleanup_(output_done) Output out = {};
	usec_t started = now_usec(CLOCK_MONOTONIC);
	SpawnResult r =
		run_sh("trap '' TERM; while :; do sleep 0.1; done", &out, 100 * USEC_PER_MSEC, -1);
	usec_t took = now_usec(CLOCK_MONOTONIC) - started;

	ck_assert_int_eq(r.outcome, SPAWN_TIMED_OUT);
	ck_assert_int_eq(r.status, SIGKILL);
	ck_assert_uint_ge(took, SPAWN_KILL_GRACE_USEC);
	ck_assert_uint_lt(took, SPAWN_KILL_GRACE_USEC + 3 * USEC_PER_SEC);
}
END_TEST

START_TEST(test_strays_are_killed_when_the_program_ends)
{
	_cleanup_(output_done) Output out = {};
	usec_t started = now_usec(CLOCK_MONOTONIC);
	SpawnResult r = run_sh("sleep 30 & echo $!", &out, 0, -1);

	ck_assert_int_eq(r.outcome, SPAWN_EXITED);
	ck_assert_uint_lt(now_usec(CLOCK_MONOTONIC) - started, 5 * USEC_PER_SEC);
	pid_t child = (pid_t)atoi(out.stdout_lines[0]);
	ck_assert_int_gt(child, 0);
	ck_assert(process_dies(child));
}
END_TEST

START_TEST(test_the_cancel_fd_stops_it)
{
	_cleanup_(output_done) Output out = {};
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	SpawnResult r = run_sh("sleep 30", &out, 0, p[0]);
	ck_assert_int_eq(r.outcome, SPAWN_CANCELLED);
	ck_assert_int_eq(r.status, SIGTERM);
	close(p[0]);
	close(p[1]);
}
END_TEST

typedef struct Ticks {
	unsigned n;
	unsigned stop_at;
} Ticks;

static int count_tick(void *userdata)
{
	Ticks *t = userdata;

	return ++t->n == t->stop_at ? -ECANCELED : 0;
}

START_TEST(test_ticks_run_while_the_program_runs_and_may_stop_it)
{
	char *const argv[] = {"sleep", "0.35", NULL};
	Ticks t = {.stop_at = 100};
	SpawnOptions o = {.argv = argv,
			  .envp = base_env,
			  .cancel_fd = -1,
			  .tick_interval = 100 * USEC_PER_MSEC,
			  .tick = count_tick,
			  .userdata = &t};
	SpawnResult r;

	ck_assert_int_eq(spawn_run(&o, &r, NULL), 0);
	ck_assert_int_eq(r.outcome, SPAWN_EXITED);
	ck_assert_uint_ge(t.n, 2);
	ck_assert_uint_le(t.n, 4);

	char *const forever[] = {"sleep", "30", NULL};
	t = (Ticks){.stop_at = 2};
	o.argv = forever;
	usec_t start = now_usec(CLOCK_MONOTONIC);
	ck_assert_int_eq(spawn_run(&o, &r, NULL), 0);
	ck_assert_int_eq(r.outcome, SPAWN_CANCELLED);
	ck_assert_uint_eq(t.n, 2);
	ck_assert_uint_lt(now_usec(CLOCK_MONOTONIC) - start, 3 * USEC_PER_SEC);
}
END_TEST

START_TEST(test_programs_are_found_in_the_given_path)
{
	_cleanup_free_ char *found = NULL;
	char *none = NULL;

	ck_assert_int_eq(spawn_find_program("sh", "/nonexistent:/bin", &found), 0);
	ck_assert_str_eq(found, "/bin/sh");
	ck_assert_int_eq(spawn_find_program("sh", "/nonexistent", &none), -ENOENT);
	ck_assert_int_eq(spawn_find_program("", "/bin", &none), -ENOENT);
	ck_assert_ptr_null(none);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("spawn-command");
	TCase *tc = tcase_create("spawn-command");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_output_arrives_line_by_line_per_stream);
	tcase_add_test(tc, test_exit_status_is_reported);
	tcase_add_test(tc, test_death_by_signal_is_reported);
	tcase_add_test(tc, test_a_long_line_is_split_not_lost);
	tcase_add_test(tc, test_secrets_are_redacted_also_across_the_4096_byte_cut);
	tcase_add_test(tc, test_invalid_utf8_nul_and_control_characters_are_replaced);
	tcase_add_test(tc, test_the_environment_is_exactly_the_one_given);
	tcase_add_test(tc, test_it_runs_in_the_working_directory_without_inherited_fds);
	tcase_add_test(tc, test_a_missing_program_is_an_error);
	tcase_add_test(tc, test_the_timeout_kills_the_whole_process_group);
	tcase_add_test(tc, test_a_program_ignoring_sigterm_is_killed_after_the_grace);
	tcase_add_test(tc, test_strays_are_killed_when_the_program_ends);
	tcase_add_test(tc, test_the_cancel_fd_stops_it);
	tcase_add_test(tc, test_ticks_run_while_the_program_runs_and_may_stop_it);
	tcase_add_test(tc, test_programs_are_found_in_the_given_path);
	tcase_add_test(tc, test_without_pidfd_open_programs_still_run_and_are_waited_for);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
