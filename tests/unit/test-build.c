/* The Makefile: a missing pkg-config package stops the build at once, named, with the way to
 * install it; CPPFLAGS reaches every compile.  Runs make from the source tree into a scratch
 * build directory (nothing of build/ is touched). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check-run.h"
#include "cleanup.h"

static char *scratch;

/* Runs sh -c command (make's own variables cleared: this may run under make check); its exit
 * status and stdout+stderr. */
static int run(const char *command, char **ret_output)
{
	_cleanup_free_ char *full = NULL;
	char *out = NULL;
	size_t size = 0;

	ck_assert_int_ge(asprintf(&full,
				  "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES "
				  "sh -c '%s' 2>&1",
				  command),
			 0);
	FILE *p = popen(full, "r");
	ck_assert_ptr_nonnull(p);
	if (getdelim(&out, &size, '\0', p) < 0) {
		free(out);
		out = strdup("");
	}
	int status = pclose(p);
	*ret_output = out;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void setup(void)
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *fake = NULL;

	scratch = strdup("/tmp/test-build-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(scratch));
	/* A pkg-config that knows every package but libpq, as on a machine without libpq-dev. */
	ck_assert_int_ge(asprintf(&fake, "%s/pkg-config", scratch), 0);
	f = fopen(fake, "we");
	ck_assert_ptr_nonnull(f);
	fputs("#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = libpq ] && exit 1; done\n"
	      "exec pkg-config \"$@\"\n",
	      f);
	ck_assert_int_eq(fchmod(fileno(f), 0755), 0);
}

static void teardown(void)
{
	_cleanup_free_ char *cmd = NULL;

	ck_assert_int_ge(asprintf(&cmd, "rm -rf %s", scratch), 0);
	ck_assert_int_eq(system(cmd), 0);
	free(scratch);
}

START_TEST(test_a_missing_pkg_config_package_stops_the_build_at_once_naming_it)
{
	_cleanup_free_ char *cmd = NULL, *out = NULL, *objects = NULL;
	struct stat st;

	ck_assert_int_ge(
		asprintf(&cmd, "make B=%s/b PKG_CONFIG=%s/pkg-config all", scratch, scratch), 0);
	int code = run(cmd, &out);
	ck_assert_msg(code == 2, "make exited %d:\n%s", code, out);
	ck_assert_msg(strstr(out, "pkg-config cannot find libpq") && strstr(out, "make deps"), "%s",
		      out);
	/* At once: nothing was compiled, no missing header was met. */
	ck_assert_msg(!strstr(out, "libpq-fe.h"), "%s", out);
	ck_assert_int_ge(asprintf(&objects, "%s/b", scratch), 0);
	ck_assert_int_ne(stat(objects, &st), 0);
}
END_TEST

START_TEST(test_without_pkg_config_at_all_the_build_says_so)
{
	_cleanup_free_ char *cmd = NULL, *out = NULL;

	ck_assert_int_ge(
		asprintf(&cmd, "make B=%s/b PKG_CONFIG=%s/no-pkg-config all", scratch, scratch), 0);
	int code = run(cmd, &out);
	ck_assert_msg(code == 2, "make exited %d:\n%s", code, out);
	ck_assert_msg(strstr(out, "no-pkg-config is not installed") && strstr(out, "make deps"),
		      "%s", out);
}
END_TEST

START_TEST(test_cppflags_reach_every_compile)
{
	_cleanup_free_ char *cmd = NULL, *out = NULL;
	size_t compiles = 0, marked = 0;

	ck_assert_int_ge(
		asprintf(&cmd, "make -n B=%s/b CPPFLAGS=-DDEPLOYD_TEST_CPPFLAGS all", scratch), 0);
	ck_assert_int_eq(run(cmd, &out), 0);
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
		if (strstr(line, " -c -o ")) {
			compiles++;
			if (strstr(line, " -DDEPLOYD_TEST_CPPFLAGS "))
				marked++;
		}
	ck_assert_uint_gt(compiles, 10);
	ck_assert_uint_eq(marked, compiles);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("build");
	TCase *tc = tcase_create("makefile");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_a_missing_pkg_config_package_stops_the_build_at_once_naming_it);
	tcase_add_test(tc, test_without_pkg_config_at_all_the_build_says_so);
	tcase_add_test(tc, test_cppflags_reach_every_compile);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
