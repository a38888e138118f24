/* The man pages: built, with a NAME section, and naming every command and
 * option the programs themselves list in --help.  The pages and programs are
 * found from this binary's place: BUILD/tests/unit/test-man → BUILD/man. */
#include <check.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check-run.h"
#include "cleanup.h"
#include "strv.h"

#define OUTPUT_MAX (1024 * 1024)

static const char *const pages[] = {"deployd.8", "deployctl.1", "deployd.plan.5"};

/* BUILD/NAME, where BUILD is two levels above this binary's directory. */
static char *build_path(const char *name)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *path;

	ck_assert_int_gt(n, 0);
	exe[n] = '\0';
	ck_assert_int_ge(asprintf(&path, "%s/../../%s", dirname(exe), name), 0);
	return path;
}

static char *read_all(int fd)
{
	char *text = malloc(OUTPUT_MAX + 1);
	size_t size = 0;
	ssize_t n;

	ck_assert_ptr_nonnull(text);
	while (size < OUTPUT_MAX && (n = read(fd, text + size, OUTPUT_MAX - size)) > 0)
		size += (size_t)n;
	text[size] = '\0';
	return text;
}

static char *read_page(const char *page)
{
	_cleanup_free_ char *name = NULL, *path = NULL;
	_cleanup_close_ int fd = -EBADF;

	ck_assert_int_ge(asprintf(&name, "man/%s", page), 0);
	path = build_path(name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "%s is not built (run make): %m", path);
	return read_all(fd);
}

/* Standard output of BUILD/program with args (NULL-terminated), which must exit 0. */
static char *run_help(const char *program, const char *const *args)
{
	_cleanup_free_ char *path = build_path(program);
	const char *argv[8] = {path};
	int pipefd[2], status;
	size_t n = 1;
	char *out;

	for (; *args; args++)
		argv[n++] = *args;
	ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		execv(path, (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	out = read_all(pipefd[0]);
	close(pipefd[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s %s failed", program,
		      argv[1]);
	return out;
}

/* Every "--option" in text, once each. */
static char **long_options(const char *text)
{
	_cleanup_strv_free_ char **options = NULL;

	for (const char *p = strstr(text, "--"); p; p = strstr(p + 2, "--")) {
		size_t len = 2 + strspn(p + 2, "abcdefghijklmnopqrstuvwxyz-");
		_cleanup_free_ char *option = strndup(p, len);

		ck_assert_ptr_nonnull(option);
		if (len > 2 && !strv_contains(options, option))
			ck_assert_int_ge(strv_push(&options, TAKE_PTR(option)), 0);
	}
	return TAKE_PTR(options);
}

/* The commands of `deployctl --help`: the first word of each line under "Commands:" that is
 * indented by two spaces (continuation lines are indented further). */
static char **deployctl_commands(void)
{
	_cleanup_free_ char *help = run_help("deployctl", (const char *const[]){"--help", NULL});
	_cleanup_strv_free_ char **commands = NULL;
	const char *p = strstr(help, "Commands:\n");

	ck_assert_ptr_nonnull(p);
	for (p = strchr(p, '\n') + 1; *p && *p != '\n'; p = strchr(p, '\n') + 1) {
		size_t indent = strspn(p, " ");
		p += indent;
		size_t len = strspn(p, "abcdefghijklmnopqrstuvwxyz-");
		if (indent == 2 && len > 0)
			ck_assert_int_ge(strv_push(&commands, strndup(p, len)), 0);
		ck_assert_ptr_nonnull(strchr(p, '\n'));
	}
	ck_assert_int_gt(strv_length(commands), 0);
	return TAKE_PTR(commands);
}

/* The page shows word in bold, as it shows every command and option it describes. */
static void assert_page_names(const char *page_name, const char *page, const char *word)
{
	_cleanup_free_ char *bold = NULL;

	ck_assert_int_ge(asprintf(&bold, "\\fB%s\\fR", word), 0);
	ck_assert_msg(strstr(page, bold), "%s does not document %s", page_name, word);
}

START_TEST(test_each_page_is_built_with_a_name_section)
{
	_cleanup_free_ char *page = read_page(pages[_i]);

	ck_assert_msg(strstr(page, "\n.SH NAME\n"), "%s has no NAME section", pages[_i]);
}
END_TEST

START_TEST(test_deployctl_page_documents_every_command_and_option_of_its_help)
{
	_cleanup_free_ char *page = read_page("deployctl.1");
	_cleanup_strv_free_ char **commands = deployctl_commands();
	_cleanup_free_ char *help = run_help("deployctl", (const char *const[]){"--help", NULL});
	_cleanup_strv_free_ char **global = long_options(help);

	STRV_FOREACH (o, global)
		assert_page_names("deployctl.1", page, *o);
	STRV_FOREACH (c, commands) {
		_cleanup_free_ char *command_help =
			run_help("deployctl", (const char *const[]){*c, "--help", NULL});
		_cleanup_strv_free_ char **options = long_options(command_help);

		assert_page_names("deployctl.1", page, *c);
		STRV_FOREACH (o, options)
			assert_page_names("deployctl.1", page, *o);
	}
}
END_TEST

START_TEST(test_deployd_page_documents_every_option_of_its_help)
{
	_cleanup_free_ char *page = read_page("deployd.8");
	_cleanup_free_ char *help = run_help("deployd", (const char *const[]){"--help", NULL});
	_cleanup_strv_free_ char **options = long_options(help);

	ck_assert_int_gt(strv_length(options), 0);
	STRV_FOREACH (o, options)
		assert_page_names("deployd.8", page, *o);
}
END_TEST

static Suite *man_suite(void)
{
	Suite *s = suite_create("man");
	TCase *tc = tcase_create("pages");

	tcase_add_loop_test(tc, test_each_page_is_built_with_a_name_section, 0,
			    (int)ELEMENTSOF(pages));
	tcase_add_test(tc, test_deployctl_page_documents_every_command_and_option_of_its_help);
	tcase_add_test(tc, test_deployd_page_documents_every_option_of_its_help);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_suite(man_suite());
}
