/* test-text-sanitize.c — hostile text becomes one safe line of valid UTF-8. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check-run.h"
#include "cleanup.h"
#include "text-sanitize.h"

#define FFFD "\xef\xbf\xbd"

static void assert_sanitized(const char *in, size_t max, TextSanitizeFlags flags,
			     const char *expected)
{
	_cleanup_free_ char *out = NULL;

	ck_assert_int_eq(text_sanitize(in, max, flags, &out), 0);
	ck_assert_str_eq(out, expected);
}

START_TEST(test_plain_text_and_valid_utf8_pass_unchanged)
{
	assert_sanitized("", 0, 0, "");
	assert_sanitized("app_user", 0, 0, "app_user");
	assert_sanitized("Zürich – 東京 🚀", 0, 0, "Zürich – 東京 🚀");
}
END_TEST

START_TEST(test_line_breaks_and_tabs_become_spaces)
{
	assert_sanitized("SELECT 1\nFROM t\r\n\tWHERE x\v\f", 0, 0, "SELECT 1 FROM t   WHERE x  ");
}
END_TEST

START_TEST(test_control_characters_and_del_become_replacement_characters)
{
	assert_sanitized("a\x1b[31mred\x07\x7f"
			 "b",
			 0, 0, "a" FFFD "[31mred" FFFD FFFD "b");
	/* C1 controls, encoded as valid UTF-8 (U+0085, U+009B). */
	assert_sanitized("a\xc2\x85"
			 "b\xc2\x9b"
			 "c",
			 0, 0, "a" FFFD "b" FFFD "c");
}
END_TEST

START_TEST(test_bidirectional_overrides_become_replacement_characters)
{
	/* U+202E RIGHT-TO-LEFT OVERRIDE, U+2066 LEFT-TO-RIGHT ISOLATE, U+2069 POP ISOLATE. */
	assert_sanitized("evil\xe2\x80\xae"
			 "txt.exe \xe2\x81\xa6"
			 "x\xe2\x81\xa9",
			 0, 0, "evil" FFFD "txt.exe " FFFD "x" FFFD);
	/* U+200F RIGHT-TO-LEFT MARK is harmless and stays. */
	assert_sanitized("a\xe2\x80\x8f"
			 "b",
			 0, 0,
			 "a\xe2\x80\x8f"
			 "b");
}
END_TEST

START_TEST(test_invalid_utf8_becomes_one_replacement_per_bad_byte)
{
	/* A lone continuation byte, a truncated sequence, an overlong '/', a surrogate, past
	 * U+10FFFF, and bytes that never appear in UTF-8. */
	assert_sanitized("a\x80"
			 "b",
			 0, 0, "a" FFFD "b");
	assert_sanitized("a\xe2\x82", 0, 0, "a" FFFD FFFD);
	assert_sanitized("\xc0\xaf", 0, 0, FFFD FFFD);
	assert_sanitized("\xed\xa0\x80", 0, 0, FFFD FFFD FFFD);
	assert_sanitized("\xf4\x90\x80\x80", 0, 0, FFFD FFFD FFFD FFFD);
	assert_sanitized("\xfe\xff", 0, 0, FFFD FFFD);
}
END_TEST

START_TEST(test_long_text_is_cut_at_max_characters_with_an_ellipsis)
{
	assert_sanitized("abcdef", 3, 0, "abc…");
	assert_sanitized("abc", 3, 0, "abc");
	/* Characters, not bytes. */
	assert_sanitized("ééééé", 2, 0, "éé…");
	assert_sanitized("\x80\x80\x80\x80", 2, 0, FFFD FFFD "…");
}
END_TEST

START_TEST(test_squeezing_collapses_white_space_runs_and_trims)
{
	assert_sanitized("  SELECT *\n\t  FROM   t\n  WHERE a = 1 \n", 0,
			 TEXT_SANITIZE_SQUEEZE_SPACE, "SELECT * FROM t WHERE a = 1");
	assert_sanitized("  a \n\n b  ", 3, TEXT_SANITIZE_SQUEEZE_SPACE, "a b");
	assert_sanitized("  a \n\n bc  ", 3, TEXT_SANITIZE_SQUEEZE_SPACE, "a b…");
	assert_sanitized(" \n\t ", 0, TEXT_SANITIZE_SQUEEZE_SPACE, "");
}
END_TEST

START_TEST(test_null_gives_null)
{
	char *out = (char *)"untouched";

	ck_assert_int_eq(text_sanitize(NULL, 0, 0, &out), 0);
	ck_assert_ptr_null(out);
}
END_TEST

START_TEST(test_every_byte_sequence_gives_valid_utf8_without_controls)
{
	unsigned char in[4];
	unsigned seed = 1;

	/* Random 3-byte strings: the result never holds a control byte, and re-sanitizing it
	 * changes nothing (so it is valid UTF-8 without anything to replace). */
	for (int round = 0; round < 20000; round++) {
		_cleanup_free_ char *once = NULL, *twice = NULL;

		for (size_t i = 0; i < 3; i++) {
			seed = seed * 1103515245 + 12345;
			in[i] = (unsigned char)(seed >> 16) | 1; /* no NUL */
		}
		in[3] = '\0';
		ck_assert_int_eq(text_sanitize((const char *)in, 0, 0, &once), 0);
		for (const unsigned char *p = (const unsigned char *)once; *p; p++)
			ck_assert_msg(*p >= 0x20 && *p != 0x7f, "control byte %#x", *p);
		ck_assert_int_eq(text_sanitize(once, 0, 0, &twice), 0);
		ck_assert_str_eq(once, twice);
	}
}
END_TEST

static Suite *text_sanitize_suite(void)
{
	Suite *s = suite_create("text-sanitize");
	TCase *tc = tcase_create("sanitize");

	tcase_add_test(tc, test_plain_text_and_valid_utf8_pass_unchanged);
	tcase_add_test(tc, test_line_breaks_and_tabs_become_spaces);
	tcase_add_test(tc, test_control_characters_and_del_become_replacement_characters);
	tcase_add_test(tc, test_bidirectional_overrides_become_replacement_characters);
	tcase_add_test(tc, test_invalid_utf8_becomes_one_replacement_per_bad_byte);
	tcase_add_test(tc, test_long_text_is_cut_at_max_characters_with_an_ellipsis);
	tcase_add_test(tc, test_squeezing_collapses_white_space_runs_and_trims);
	tcase_add_test(tc, test_null_gives_null);
	tcase_add_test(tc, test_every_byte_sequence_gives_valid_utf8_without_controls);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_suite(text_sanitize_suite());
}
