/* The fuzz targets (tests/fuzz/fuzz-*.c, compiled here without libFuzzer) replayed over
 * their seed corpora and over every input a fuzzer once crashed on: under `make check` and
 * in the sanitizer build, each input must go through its parser without a crash, a broken
 * promise (abort()) or a sanitizer report.  Paths are relative to the source tree, where
 * make runs the suites. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check-run.h"
#include "cleanup.h"
#include "fuzz.h"

typedef int (*FuzzEntry)(const uint8_t *data, size_t size);

static uint8_t *read_whole(const char *path, size_t *ret_size)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	struct stat st;

	ck_assert_msg(f, "cannot open %s", path);
	ck_assert_int_eq(fstat(fileno(f), &st), 0);
	/* Exactly the file's size, as libFuzzer hands it: a read past the end is caught. */
	uint8_t *data = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	ck_assert_ptr_nonnull(data);
	ck_assert_uint_eq(fread(data, 1, (size_t)st.st_size, f), (size_t)st.st_size);
	*ret_size = (size_t)st.st_size;
	return data;
}

/* Feeds every file of dir to entry; returns how many there were. */
static unsigned replay(const char *dir, FuzzEntry entry)
{
	_cleanup_(closedirp) DIR *d = opendir(dir);
	unsigned n = 0;

	if (!d) {
		ck_assert_msg(errno == ENOENT, "cannot read %s", dir);
		return 0;
	}
	for (struct dirent *de; (de = readdir(d));) {
		_cleanup_free_ char *path = NULL;
		_cleanup_free_ uint8_t *data = NULL;
		size_t size;

		if (de->d_name[0] == '.')
			continue;
		ck_assert_int_ge(asprintf(&path, "%s/%s", dir, de->d_name), 0);
		data = read_whole(path, &size);
		fprintf(stderr, "replaying %s\n", path);
		ck_assert_int_eq(entry(data, size), 0);
		n++;
	}
	return n;
}

static void replay_target(const char *name, FuzzEntry entry)
{
	_cleanup_free_ char *corpus = NULL, *regressions = NULL;

	ck_assert_int_ge(asprintf(&corpus, "tests/fuzz/corpus/%s", name), 0);
	ck_assert_int_ge(asprintf(&regressions, "tests/fuzz/regressions/%s", name), 0);
	ck_assert_msg(replay(corpus, entry) > 0, "no seed corpus in %s (run from the source tree)",
		      corpus);
	replay(regressions, entry);
}

START_TEST(test_every_plan_input_parses_or_fails_with_its_message)
{
	replay_target("plan", fuzz_plan);
}
END_TEST

START_TEST(test_every_protocol_stream_decodes_the_same_in_any_chunks)
{
	replay_target("proto", fuzz_proto);
}
END_TEST

START_TEST(test_every_migration_input_parses_or_fails_naming_the_file)
{
	replay_target("migration", fuzz_migration);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fuzz-regressions");
	TCase *tc = tcase_create("corpora and crashers");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_every_plan_input_parses_or_fails_with_its_message);
	tcase_add_test(tc, test_every_protocol_stream_decodes_the_same_in_any_chunks);
	tcase_add_test(tc, test_every_migration_input_parses_or_fails_naming_the_file);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
