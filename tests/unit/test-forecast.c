/* forecast: lock mode names, the conflict table's shape, sentences. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check-run.h"
#include "cleanup.h"
#include "forecast.h"

START_TEST(test_mode_names_are_pg_locks_names_and_round_trip)
{
	ck_assert_str_eq(lock_mode_to_string(LOCK_MODE_ACCESS_SHARE), "AccessShareLock");
	ck_assert_str_eq(lock_mode_to_string(LOCK_MODE_SHARE_UPDATE_EXCLUSIVE),
			 "ShareUpdateExclusiveLock");
	ck_assert_str_eq(lock_mode_to_string(LOCK_MODE_ACCESS_EXCLUSIVE), "AccessExclusiveLock");
	ck_assert_ptr_null(lock_mode_to_string(LOCK_MODE_NONE));
	ck_assert_ptr_null(lock_mode_to_string(_LOCK_MODE_MAX));
	for (LockMode m = LOCK_MODE_ACCESS_SHARE; m < _LOCK_MODE_MAX; m++)
		ck_assert_int_eq(lock_mode_from_string(lock_mode_to_string(m)), m);
	ck_assert_int_eq(lock_mode_from_string("SIReadLock"), LOCK_MODE_NONE);
	ck_assert_int_eq(lock_mode_from_string(NULL), LOCK_MODE_NONE);
}
END_TEST

START_TEST(test_conflicts_are_symmetric_and_covering_follows_them)
{
	for (LockMode a = LOCK_MODE_ACCESS_SHARE; a < _LOCK_MODE_MAX; a++)
		for (LockMode b = LOCK_MODE_ACCESS_SHARE; b < _LOCK_MODE_MAX; b++) {
			ck_assert_int_eq(lock_modes_conflict(a, b), lock_modes_conflict(b, a));
			/* a covers b: whatever conflicts with b conflicts with a. */
			bool covers = true;
			for (LockMode c = LOCK_MODE_ACCESS_SHARE; c < _LOCK_MODE_MAX; c++)
				if (lock_modes_conflict(b, c) && !lock_modes_conflict(a, c))
					covers = false;
			ck_assert_int_eq(lock_mode_covers(a, b), covers);
		}
	/* ShareLock does not cover RowExclusiveLock: a SHARE holder does not conflict with
	 * another SHARE, a ROW EXCLUSIVE wanted does. */
	ck_assert(!lock_mode_covers(LOCK_MODE_SHARE, LOCK_MODE_ROW_EXCLUSIVE));
	ck_assert(lock_mode_covers(LOCK_MODE_ACCESS_EXCLUSIVE, LOCK_MODE_SHARE));
	ck_assert(!lock_modes_conflict(LOCK_MODE_NONE, LOCK_MODE_ACCESS_EXCLUSIVE));
}
END_TEST

START_TEST(test_sentences_name_mode_relation_size_and_effects)
{
	ForecastLock locks[] = {
		{.relation = (char *)"public.accounts",
		 .relid = 42,
		 .mode = LOCK_MODE_ACCESS_EXCLUSIVE,
		 .size_bytes = 16384,
		 .rows = 3},
		{.relation = (char *)"public.fresh",
		 .relid = 0,
		 .mode = LOCK_MODE_ACCESS_EXCLUSIVE},
	};
	ForecastStatement st = {.line = 7,
				.sql_first_line = (char *)"ALTER TABLE accounts ADD x int",
				.rewrite = true,
				.scan = true,
				.locks = locks,
				.n_locks = 2};
	ForecastMigration m = {.file = (char *)"/m/3_x.sql"};
	ForecastHolder h = {.pid = 0,
			    .gid = (char *)"tx1",
			    .state = (char *)"prepared",
			    .xact_age = USEC_INFINITY,
			    .relation = (char *)"public.accounts",
			    .mode = LOCK_MODE_ROW_EXCLUSIVE,
			    .granted = true,
			    .conflicts_with = LOCK_MODE_ACCESS_EXCLUSIVE};
	_cleanup_free_ char *lock = NULL, *statement = NULL, *holder = NULL;
	char size[FORECAST_SIZE_MAX];

	ck_assert_int_eq(forecast_lock_describe(&locks[0], &lock), 0);
	ck_assert_str_eq(lock, "AccessExclusiveLock on public.accounts (16 kB, ~3 rows)");
	ck_assert_int_eq(forecast_statement_describe(&m, &st, &statement), 0);
	ck_assert_str_eq(statement,
			 "/m/3_x.sql:7: ALTER TABLE accounts ADD x int: AccessExclusiveLock on "
			 "public.accounts (16 kB, ~3 rows), AccessExclusiveLock on public.fresh "
			 "(created by the migrations); rewrites a table; reads a table in full "
			 "under its lock.");
	ck_assert_int_eq(forecast_holder_describe(&h, &holder), 0);
	ck_assert_str_eq(holder, "Prepared transaction 'tx1' holds RowExclusiveLock on "
				 "public.accounts, which conflicts with the AccessExclusiveLock a "
				 "migration needs (prepared).");
	ck_assert_str_eq(forecast_format_size(-1, size), "size unknown");
	ck_assert_str_eq(forecast_format_size(900, size), "900 B");
	ck_assert_str_eq(forecast_format_size(5LL * 1024 * 1024 * 1024, size), "5.0 GB");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("forecast");
	TCase *tc = tcase_create("forecast");

	tcase_add_test(tc, test_mode_names_are_pg_locks_names_and_round_trip);
	tcase_add_test(tc, test_conflicts_are_symmetric_and_covering_follows_them);
	tcase_add_test(tc, test_sentences_name_mode_relation_size_and_effects);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
