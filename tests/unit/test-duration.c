/* Durations as plans write them: parsing, refusals with a reason, formatting. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "check-run.h"
#include "duration.h"

static usec_t parse_ok(const char *s)
{
	usec_t u = 12345;
	const char *reason = NULL;
	int r = duration_parse(s, &u, &reason);

	ck_assert_msg(r == 0, "'%s' was refused: %s", s, reason ? reason : "(no reason)");
	return u;
}

static void assert_refused(const char *s, int error, const char *reason_words)
{
	usec_t u = 12345;
	const char *reason = NULL;
	int r = duration_parse(s, &u, &reason);

	ck_assert_msg(r == error, "'%s': expected %d, got %d", s, error, r);
	ck_assert_msg(u == 12345, "'%s': output touched on failure", s);
	ck_assert_ptr_nonnull(reason);
	ck_assert_msg(strstr(reason, reason_words), "'%s': reason '%s' lacks '%s'", s, reason,
		      reason_words);
}

START_TEST(test_each_unit_is_parsed_to_microseconds)
{
	ck_assert_uint_eq(parse_ok("500ms"), 500 * USEC_PER_MSEC);
	ck_assert_uint_eq(parse_ok("5s"), 5 * USEC_PER_SEC);
	ck_assert_uint_eq(parse_ok("2min"), 2 * USEC_PER_MINUTE);
	ck_assert_uint_eq(parse_ok("1h"), USEC_PER_HOUR);
	ck_assert_uint_eq(parse_ok("007s"), 7 * USEC_PER_SEC);
}
END_TEST

START_TEST(test_bare_zero_and_zero_with_a_unit_are_zero)
{
	ck_assert_uint_eq(parse_ok("0"), 0);
	ck_assert_uint_eq(parse_ok("0s"), 0);
	ck_assert_uint_eq(parse_ok("0ms"), 0);
}
END_TEST

START_TEST(test_missing_or_unknown_units_are_refused)
{
	assert_refused("5", -EINVAL, "missing unit");
	assert_refused("5sec", -EINVAL, "unknown unit");
	assert_refused("5m", -EINVAL, "unknown unit");
	assert_refused("5S", -EINVAL, "unknown unit");
	assert_refused("5us", -EINVAL, "unknown unit");
	assert_refused("1min30s", -EINVAL, "unknown unit");
}
END_TEST

START_TEST(test_signs_spaces_fractions_and_empty_are_refused)
{
	assert_refused("-5s", -EINVAL, "negative");
	assert_refused("+5s", -EINVAL, "starts with a number");
	assert_refused(" 5s", -EINVAL, "starts with a number");
	assert_refused("5 s", -EINVAL, "space");
	assert_refused("5s ", -EINVAL, "unknown unit");
	assert_refused("1.5s", -EINVAL, "fractions");
	assert_refused("", -EINVAL, "empty");
	assert_refused("s", -EINVAL, "starts with a number");
	assert_refused("00", -EINVAL, "missing unit");
}
END_TEST

START_TEST(test_values_that_overflow_are_refused_at_the_exact_boundary)
{
	/* (2^64 - 1) / 1000 = 18446744073709551 ms still fits, one more does not. */
	ck_assert_uint_eq(parse_ok("18446744073709551ms"), 18446744073709551000ULL);
	assert_refused("18446744073709552ms", -ERANGE, "too large");
	ck_assert_uint_eq(parse_ok("5124095576h"), 5124095576ULL * USEC_PER_HOUR);
	assert_refused("5124095577h", -ERANGE, "too large");
	assert_refused("99999999999999999999s", -ERANGE, "too large");
	assert_refused("184467440737095516150s", -ERANGE, "too large");
}
END_TEST

START_TEST(test_a_null_reason_pointer_is_allowed)
{
	usec_t u;

	ck_assert_int_eq(duration_parse("5x", &u, NULL), -EINVAL);
}
END_TEST

START_TEST(test_format_picks_the_largest_exact_unit)
{
	char buf[DURATION_FORMAT_MAX];

	ck_assert_str_eq(duration_format(0, buf), "0");
	ck_assert_str_eq(duration_format(5 * USEC_PER_SEC, buf), "5s");
	ck_assert_str_eq(duration_format(500 * USEC_PER_MSEC, buf), "500ms");
	ck_assert_str_eq(duration_format(120 * USEC_PER_SEC, buf), "2min");
	ck_assert_str_eq(duration_format(90 * USEC_PER_SEC, buf), "90s");
	ck_assert_str_eq(duration_format(2 * USEC_PER_HOUR, buf), "2h");
	ck_assert_str_eq(duration_format(1500 * USEC_PER_MSEC, buf), "1500ms");
	ck_assert_str_eq(duration_format(1500, buf), "1500us");
	ck_assert_str_eq(duration_format(USEC_INFINITY, buf), "infinity");
	ck_assert_str_eq(duration_format(USEC_INFINITY - 1, buf), "18446744073709551614us");
}
END_TEST

START_TEST(test_formatted_durations_parse_back_to_the_same_value)
{
	const usec_t values[] = {USEC_PER_MSEC,		 999 * USEC_PER_MSEC,  USEC_PER_SEC,
				 61 * USEC_PER_SEC,	 90 * USEC_PER_MINUTE, 48 * USEC_PER_HOUR,
				 18446744073709551000ULL};
	char buf[DURATION_FORMAT_MAX];

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		ck_assert_uint_eq(parse_ok(duration_format(values[i], buf)), values[i]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("duration");
	TCase *tc = tcase_create("duration");

	tcase_add_test(tc, test_each_unit_is_parsed_to_microseconds);
	tcase_add_test(tc, test_bare_zero_and_zero_with_a_unit_are_zero);
	tcase_add_test(tc, test_missing_or_unknown_units_are_refused);
	tcase_add_test(tc, test_signs_spaces_fractions_and_empty_are_refused);
	tcase_add_test(tc, test_values_that_overflow_are_refused_at_the_exact_boundary);
	tcase_add_test(tc, test_a_null_reason_pointer_is_allowed);
	tcase_add_test(tc, test_format_picks_the_largest_exact_unit);
	tcase_add_test(tc, test_formatted_durations_parse_back_to_the_same_value);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
