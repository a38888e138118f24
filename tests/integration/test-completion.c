/* test-completion.c — deployctl's shell completion, run by the real shells: bash -i with
 * bash-completion loaded, asking the completion function and compgen for the words a user gets
 * at the cursor; and an interactive zsh on a pseudo-terminal, with compinit, typing the line
 * and a TAB (tests/support/zsh-complete.zsh).  Deploy ids come from the harness's real journal
 * (an entry logged here). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <systemd/sd-id128.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "check-run.h"
#include "harness.h"

/* The tests run from the source tree. */
#define BASH_COMPLETION "shell-completion/bash/deployctl"
#define ZSH_COMPLETION_DIR "shell-completion/zsh"
#define BASH_COMPLETION_LIB "/usr/share/bash-completion/bash_completion"
#define ZSH_COMPLETE "tests/support/zsh-complete.zsh"

/* Runs argv, returns its exit status with stdout in *ret (stderr passes through). */
static int run(char *const argv[], char **ret)
{
	int p[2], status;
	size_t n = 0, size = 65536;
	char *out = malloc(size);
	pid_t pid;

	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		/* No terminal: an interactive bash must not try to take one over. */
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null >= 0)
			dup2(null, STDIN_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		ssize_t k = read(p[0], out + n, size - 1 - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	out[n] = '\0';
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	*ret = out;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The completions bash -i offers for line (the cursor at its end), one per line, sorted. */
static char *complete_bash(const char *line)
{
	_cleanup_free_ char *script = NULL;
	char *out = NULL;

	ck_assert_msg(access(BASH_COMPLETION_LIB, R_OK) == 0,
		      "bash-completion is not installed (make deps installs it)");
	/* As bash does on TAB: split the line, call the function complete -p registered, and
	 * print COMPREPLY.  compgen -W then checks that each word is one bash would offer. */
	ck_assert_int_ge(asprintf(&script,
				  "source %s; source %s;"
				  "spec=$(complete -p deployctl) || exit 3;"
				  "fn=${spec#*-F }; fn=${fn%% *};"
				  "COMP_LINE='%s'; COMP_POINT=${#COMP_LINE};"
				  "read -ra COMP_WORDS <<<\"$COMP_LINE\";"
				  "[[ $COMP_LINE == *' ' ]] && COMP_WORDS+=('');"
				  "COMP_CWORD=$((${#COMP_WORDS[@]} - 1));"
				  "$fn deployctl \"${COMP_WORDS[COMP_CWORD]}\" "
				  "\"${COMP_WORDS[COMP_CWORD-1]}\";"
				  "for w in \"${COMPREPLY[@]}\"; do "
				  "compgen -W \"${COMPREPLY[*]}\" -- \"$w\" | grep -qx -- \"$w\" "
				  "&& echo \"$w\";"
				  "done | sort",
				  BASH_COMPLETION_LIB, BASH_COMPLETION, line),
			 0);
	char *const argv[] = {"bash", "--norc", "--noprofile", "-i", "-c", script, NULL};
	int code = run(argv, &out);
	ck_assert_msg(code == 0, "bash exited %d for '%s':\n%s", code, line, out);
	return out;
}

#define assert_completes(line, expected)                                                           \
	do {                                                                                       \
		_cleanup_free_ char *_got = complete_bash(line);                                   \
		ck_assert_msg(strcmp(_got, expected) == 0,                                         \
			      "'%s' completed to:\n%s\nexpected:\n%s", line, _got, expected);      \
	} while (0)

START_TEST(test_bash_completes_verbs_and_global_flags)
{
	assert_completes("deployctl ", "cancel\ncheck\ndeploy\nidle\nlocks\nlog\npending\n"
				       "plans\nstatus\n");
	assert_completes("deployctl p", "pending\nplans\n");
	assert_completes("deployctl --", "--help\n--plans\n--socket\n--version\n");
}
END_TEST

START_TEST(test_bash_completes_each_verbs_flags)
{
	assert_completes("deployctl deploy --d", "--detach\n--dry-run\n");
	assert_completes("deployctl log --", "--help\n--json\n--last\n--timeline\n");
	assert_completes("deployctl idle --t", "--terminate\n");
}
END_TEST

START_TEST(test_bash_completes_plan_names_from_the_plan_directory)
{
	_cleanup_free_ char *dir = harness_tmpdir(), *line = NULL, *line2 = NULL;
	static const char *const files[] = {"prosaas.yaml", "billing.yaml", "notes.txt"};

	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		_cleanup_free_ char *path = NULL;
		_cleanup_close_ int fd = -EBADF;
		ck_assert_int_ge(asprintf(&path, "%s/%s", dir, files[i]), 0);
		fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		ck_assert_int_ge(fd, 0);
	}
	ck_assert_int_ge(asprintf(&line, "deployctl --plans %s deploy ", dir), 0);
	assert_completes(line, "billing\nprosaas\n");
	ck_assert_int_ge(asprintf(&line2, "deployctl --plans %s pending pro", dir), 0);
	assert_completes(line2, "prosaas\n");
}
END_TEST

START_TEST(test_bash_completes_deploy_ids_from_the_journal_for_log)
{
	char id[SD_ID128_STRING_MAX], prefix[9];
	_cleanup_free_ char *line = NULL, *expected = NULL;
	sd_id128_t r;

	/* A deploy's entry, as deployd logs it. */
	ck_assert_int_eq(sd_id128_randomize(&r), 0);
	sd_id128_to_string(r, id);
	ck_assert_int_eq(sd_journal_send("MESSAGE=completion test deploy", "DEPLOY_ID=%s", id,
					 "DEPLOY_EVENT=deploy-started", NULL),
			 0);
	snprintf(prefix, sizeof(prefix), "%.8s", id);
	ck_assert_int_ge(asprintf(&line, "deployctl log %s", prefix), 0);
	ck_assert_int_ge(asprintf(&expected, "%s\n", id), 0);
	/* journald writes asynchronously: wait (bounded) for the entry to be readable. */
	for (int i = 0; i < 100; i++) {
		_cleanup_free_ char *got = complete_bash(line);
		if (strcmp(got, expected) == 0)
			return;
		usleep(50 * 1000);
	}
	assert_completes(line, expected);
}
END_TEST

/* The completions zsh offers for line, one per line, sorted. */
static char *complete_zsh(const char *line)
{
	char *out = NULL;
	char *const argv[] = {"zsh", "-f", ZSH_COMPLETE, ZSH_COMPLETION_DIR, (char *)line, NULL};
	int code = run(argv, &out);

	ck_assert_msg(code == 0, "zsh exited %d for '%s':\n%s", code, line, out);
	return out;
}

#define assert_zsh_completes(line, expected)                                                       \
	do {                                                                                       \
		_cleanup_free_ char *_got = complete_zsh(line);                                    \
		ck_assert_msg(strcmp(_got, expected) == 0,                                         \
			      "zsh: '%s' completed to:\n%s\nexpected:\n%s", line, _got, expected); \
	} while (0)

START_TEST(test_zsh_completes_verbs_flags_and_plan_names)
{
	_cleanup_free_ char *out = NULL, *dir = harness_tmpdir(), *line = NULL;
	char *const check[] = {"zsh", "-n", ZSH_COMPLETION_DIR "/_deployctl", NULL};

	ck_assert_int_eq(run(check, &out), 0);
	assert_zsh_completes("deployctl lo", "locks\nlog\n");
	assert_zsh_completes("deployctl deploy --d", "--detach\n--dry-run\n");
	assert_zsh_completes("deployctl log --t", "--timeline\n");

	static const char *const files[] = {"prosaas.yaml", "billing.yaml", "notes.txt"};
	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		_cleanup_free_ char *path = NULL;
		_cleanup_close_ int fd = -EBADF;
		ck_assert_int_ge(asprintf(&path, "%s/%s", dir, files[i]), 0);
		fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		ck_assert_int_ge(fd, 0);
	}
	ck_assert_int_ge(asprintf(&line, "deployctl --plans %s deploy ", dir), 0);
	assert_zsh_completes(line, "billing\nprosaas\n");
}
END_TEST

START_TEST(test_zsh_completes_deploy_ids_from_the_journal_for_log)
{
	char id[SD_ID128_STRING_MAX], prefix[9];
	_cleanup_free_ char *line = NULL, *expected = NULL;
	sd_id128_t r;

	ck_assert_int_eq(sd_id128_randomize(&r), 0);
	sd_id128_to_string(r, id);
	ck_assert_int_eq(sd_journal_send("MESSAGE=completion test deploy", "DEPLOY_ID=%s", id,
					 "DEPLOY_EVENT=deploy-started", NULL),
			 0);
	snprintf(prefix, sizeof(prefix), "%.8s", id);
	ck_assert_int_ge(asprintf(&line, "deployctl log %s", prefix), 0);
	ck_assert_int_ge(asprintf(&expected, "%s\n", id), 0);
	for (int i = 0; i < 20; i++) {
		_cleanup_free_ char *got = complete_zsh(line);
		if (strcmp(got, expected) == 0)
			return;
		usleep(100 * 1000);
	}
	assert_zsh_completes(line, expected);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("completion");
	TCase *tc = tcase_create("completion");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_bash_completes_verbs_and_global_flags);
	tcase_add_test(tc, test_bash_completes_each_verbs_flags);
	tcase_add_test(tc, test_bash_completes_plan_names_from_the_plan_directory);
	tcase_add_test(tc, test_bash_completes_deploy_ids_from_the_journal_for_log);
	tcase_add_test(tc, test_zsh_completes_verbs_flags_and_plan_names);
	tcase_add_test(tc, test_zsh_completes_deploy_ids_from_the_journal_for_log);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
