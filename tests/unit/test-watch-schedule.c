/* When the watch looks (tick-schedule.h), which index a statement builds concurrently
 * (sql-index.h), and how a count becomes a percentage (progress.h). */
#include <check.h>
#include <stdlib.h>

#include "check-run.h"
#include "progress.h"
#include "sql-index.h"
#include "tick-schedule.h"

#define MS USEC_PER_MSEC

/* The first n ticks when every tick runs the moment it is due. */
static void ticks(usec_t first, usec_t interval, usec_t *at, size_t n)
{
	TickSchedule s;

	tick_schedule_start(&s, first, interval, 1000 * MS);
	for (size_t i = 0; i < n; i++) {
		at[i] = s.next - 1000 * MS;
		tick_schedule_advance(&s, s.next);
	}
}

START_TEST(test_ticks_double_from_the_first_then_come_every_interval)
{
	usec_t at[9];
	const usec_t expected[9] = {10 * MS,  20 * MS,	40 * MS,   80 * MS,  160 * MS,
				    320 * MS, 640 * MS, 1140 * MS, 1640 * MS};

	ticks(10 * MS, 500 * MS, at, 9);
	for (size_t i = 0; i < 9; i++)
		ck_assert_msg(at[i] == expected[i], "tick %zu at %llu ms, expected %llu", i,
			      (unsigned long long)(at[i] / MS),
			      (unsigned long long)(expected[i] / MS));
}
END_TEST

START_TEST(test_no_first_delay_is_the_plain_period_and_no_interval_no_ticks)
{
	usec_t at[3];
	TickSchedule s;

	ticks(0, 500 * MS, at, 3);
	ck_assert_uint_eq(at[0], 500 * MS);
	ck_assert_uint_eq(at[1], 1000 * MS);
	ck_assert_uint_eq(at[2], 1500 * MS);
	/* A first delay as long as the interval is the plain period too. */
	ticks(500 * MS, 500 * MS, at, 2);
	ck_assert_uint_eq(at[0], 500 * MS);
	ck_assert_uint_eq(at[1], 1000 * MS);
	tick_schedule_start(&s, 10 * MS, 0, 0);
	ck_assert_uint_eq(s.next, USEC_INFINITY);
}
END_TEST

START_TEST(test_a_late_tick_never_brings_the_next_one_closer_than_an_interval)
{
	TickSchedule s;

	tick_schedule_start(&s, 10 * MS, 500 * MS, 0);
	/* The check due at 10 ms ran only at 2 s (the machine was busy). */
	tick_schedule_advance(&s, 2000 * MS);
	ck_assert_uint_eq(s.next, 2500 * MS);
}
END_TEST

START_TEST(test_the_parse_tree_names_the_index_and_table_of_a_concurrent_build)
{
	SqlIndexBuild b = {};

	ck_assert_int_eq(
		sql_index_concurrent("-- c\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT "
				     "EXISTS \"Odd Name\" ON app.\"Users\" (lower(email));",
				     &b),
		1);
	ck_assert_str_eq(b.index, "Odd Name");
	ck_assert_str_eq(b.schema, "app");
	ck_assert_str_eq(b.table, "Users");
	ck_assert(b.if_not_exists);
	sql_index_build_done(&b);

	ck_assert_int_eq(sql_index_concurrent("create index concurrently on t (a)", &b), 1);
	ck_assert_ptr_null(b.index);
	ck_assert_ptr_null(b.schema);
	ck_assert_str_eq(b.table, "t");
	ck_assert(!b.if_not_exists);
	sql_index_build_done(&b);
}
END_TEST

START_TEST(test_other_statements_are_no_concurrent_build)
{
	SqlIndexBuild b = {};

	ck_assert_int_eq(sql_index_concurrent("CREATE INDEX i ON t (a)", &b), 0);
	ck_assert_int_eq(sql_index_concurrent("REINDEX INDEX CONCURRENTLY i", &b), 0);
	ck_assert_int_eq(sql_index_concurrent("SELECT 'CREATE INDEX CONCURRENTLY i ON t (a)'", &b),
			 0);
	ck_assert_int_eq(sql_index_concurrent("CREATE INDEX CONCURRENTLY i ON t (a); SELECT 1", &b),
			 0);
	ck_assert_int_eq(sql_index_concurrent("CREATE INDEX CONCURRENTLY i ON", &b), 0);
	ck_assert_ptr_null(b.table);
}
END_TEST

START_TEST(test_percentages_round_down_to_a_tenth_and_100_means_done)
{
	ck_assert(progress_percent(0, 10) == 0.0);
	ck_assert(progress_percent(1, 3) == 33.3);
	ck_assert(progress_percent(9999, 10000) == 99.9);
	ck_assert(progress_percent(10000, 10000) == 100.0);
	ck_assert(progress_percent(12, 10) == 100.0);
	ck_assert(progress_percent(5, 0) == -1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("watch-schedule");
	TCase *tc = tcase_create("watch-schedule");

	tcase_add_test(tc, test_ticks_double_from_the_first_then_come_every_interval);
	tcase_add_test(tc, test_no_first_delay_is_the_plain_period_and_no_interval_no_ticks);
	tcase_add_test(tc, test_a_late_tick_never_brings_the_next_one_closer_than_an_interval);
	tcase_add_test(tc, test_the_parse_tree_names_the_index_and_table_of_a_concurrent_build);
	tcase_add_test(tc, test_other_statements_are_no_concurrent_build);
	tcase_add_test(tc, test_percentages_round_down_to_a_tenth_and_100_means_done);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
