/* The repository carries its own contract and license: what the code and the packages cite is
 * in the tree.  Run from the source tree, as make check does. */
#include <check.h>
#include <dirent.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check-run.h"
#include "cleanup.h"
#include "strv.h"

static char *read_file(const char *path)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t size = 0;

	ck_assert_msg(f, "%s is missing (run from the source tree)", path);
	ck_assert_int_ge(getdelim(&text, &size, '\0', f), 0);
	return text;
}

/* Every regular file under dir whose name ends in one of the suffixes. */
static void collect(const char *dir, const char *const *suffixes, char ***files)
{
	_cleanup_(closedirp) DIR *d = opendir(dir);

	ck_assert_msg(d, "cannot open %s", dir);
	for (struct dirent *de; (de = readdir(d));) {
		_cleanup_free_ char *path = NULL;
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		ck_assert_int_ge(asprintf(&path, "%s/%s", dir, de->d_name), 0);
		ck_assert_int_eq(stat(path, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			collect(path, suffixes, files);
			continue;
		}
		size_t len = strlen(de->d_name);
		for (const char *const *s = suffixes; *s; s++)
			if (len >= strlen(*s) && strcmp(de->d_name + len - strlen(*s), *s) == 0) {
				ck_assert_int_eq(strv_extend(files, path), 0);
				break;
			}
	}
}

START_TEST(test_every_document_the_code_and_docs_cite_is_in_the_tree)
{
	static const char *const suffixes[] = {".c", ".h", ".md", ".scd", ".yaml", NULL};
	static const char *const roots[] = {"lib", "daemon", "docs", "config", "tests", "systemd"};
	_cleanup_strv_free_ char **files = NULL;
	regex_t docs_ref;

	/* Every docs/ page cited anywhere must exist. */
	ck_assert_int_eq(regcomp(&docs_ref, "docs/[A-Za-z0-9_.-]+\\.md", REG_EXTENDED), 0);
	for (size_t i = 0; i < ELEMENTSOF(roots); i++)
		collect(roots[i], suffixes, &files);
	ck_assert_int_eq(strv_extend(&files, "README.md"), 0);
	ck_assert_uint_gt(strv_length(files), 50);
	STRV_FOREACH (f, files) {
		_cleanup_free_ char *text = read_file(*f);
		/* The design notes this project started from live outside the tree; nothing may
		 * send a reader there.  (This file names it only in this comment and below.) */
		if (strcmp(*f, "tests/unit/test-repository.c") != 0)
			ck_assert_msg(!strstr(text, "DESIGN"
						    ".md"),
				      "%s cites DESIGN.md", *f);
		for (const char *p = text; *p;) {
			regmatch_t m;
			if (regexec(&docs_ref, p, 1, &m, 0) != 0)
				break;
			_cleanup_free_ char *ref =
				strndup(p + m.rm_so, (size_t)(m.rm_eo - m.rm_so));
			ck_assert_msg(access(ref, R_OK) == 0,
				      "%s cites %s, which is not in the tree", *f, ref);
			p += m.rm_eo;
		}
	}
	regfree(&docs_ref);
}
END_TEST

START_TEST(test_the_license_is_mit_in_the_tree_the_debian_copyright_and_the_rpm_spec)
{
	_cleanup_free_ char *license = read_file("LICENSE"),
			    *copyright = read_file("packaging/debian/copyright"),
			    *spec = read_file("packaging/rpm/deployd.spec"),
			    *docs = read_file("packaging/debian/deployd.docs");

	ck_assert_msg(strncmp(license, "MIT License\n", 12) == 0, "LICENSE: %.40s", license);
	ck_assert_ptr_nonnull(strstr(license, "Permission is hereby granted, free of charge"));
	/* DEP-5: the format line, a Files stanza naming Expat (Debian's name for MIT), and the
	 * license text in a stand-alone License paragraph. */
	ck_assert_ptr_nonnull(strstr(
		copyright,
		"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"));
	ck_assert_ptr_nonnull(strstr(copyright, "\nFiles: *\n"));
	ck_assert_ptr_nonnull(strstr(copyright, "\nLicense: Expat\n\nLicense: Expat\n"));
	ck_assert_ptr_nonnull(strstr(copyright, " Permission is hereby granted, free of charge"));
	ck_assert_ptr_null(strstr(copyright, "unspecified"));
	ck_assert_ptr_nonnull(strstr(spec, "\nLicense:        MIT\n"));
	ck_assert_ptr_nonnull(strstr(spec, "\n%license LICENSE\n"));
	ck_assert_ptr_nonnull(strstr(docs, "docs/design.md"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("repository");
	TCase *tc = tcase_create("repository");

	tcase_add_test(tc, test_every_document_the_code_and_docs_cite_is_in_the_tree);
	tcase_add_test(tc,
		       test_the_license_is_mit_in_the_tree_the_debian_copyright_and_the_rpm_spec);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
