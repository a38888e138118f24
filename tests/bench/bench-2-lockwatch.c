/* bench-2-lockwatch.c — how fast the lock watch names a blocker, when lock_timeout ends the
 * wait, and what one check costs.  Needs the harness's PostgreSQL:
 *   make build/tests/bench/bench-2-lockwatch
 *   tests/harness/with-services build/tests/bench/bench-2-lockwatch
 * Figures go to stdout; nothing is asserted beyond the scenario working. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check-run.h"
#include "harness.h"
#include "pg-cleanup.h"
#include "lockwatch.h"
#include "sessions.h"
#include "watched-statement.h"

#define INTERVAL (500 * USEC_PER_MSEC)
#define ROUNDS 10
#define CHECKS 300

static int compare_usec(const void *a, const void *b)
{
	usec_t x = *(const usec_t *)a, y = *(const usec_t *)b;

	return x < y ? -1 : x > y;
}

static void print_spread(const char *what, usec_t *v, size_t n)
{
	qsort(v, n, sizeof(usec_t), compare_usec);
	printf("%-80s min %8.1f  median %8.1f  p95 %8.1f  max %8.1f ms  (n=%zu)\n", what,
	       v[0] / 1000.0, v[n / 2] / 1000.0,
	       v[(n * 95) / 100 < n ? (n * 95) / 100 : n - 1] / 1000.0, v[n - 1] / 1000.0, n);
}

/* first: the deploy's first check after sending (then its doubles), 0: a fixed period. */
static void bench_wait(const char *lock_timeout, usec_t timeout, usec_t first)
{
	usec_t report[ROUNDS], report_from_send[ROUNDS], failure[ROUNDS];
	char what[160], how[64];

	test_create_table("bench_wait");
	for (int i = 0; i < ROUNDS; i++) {
		_cleanup_(PQfinishp) PGconn *reader =
			test_session(harness_app_user_conninfo(), "api");
		_cleanup_(PQfinishp) PGconn *migration =
			test_session(harness_app_conninfo(), "deployd-migrate/bench");
		_cleanup_(PQfinishp) PGconn *watch_conn =
			test_watch_session(harness_app_conninfo());
		_cleanup_(lockwatch_freep) LockWatch *watch = NULL;
		_cleanup_free_ char *set = NULL;
		int pid = PQbackendPID(migration);
		WatchedStatement w;

		test_exec(reader, "BEGIN");
		test_exec(reader, "SELECT count(*) FROM bench_wait");
		ck_assert_int_ge(asprintf(&set, "SET lock_timeout = '%s'", lock_timeout), 0);
		test_exec(migration, set);
		ck_assert_int_eq(lockwatch_new_for_pids(watch_conn, &pid, 1, &watch), 0);
		watched_statement_run_scheduled(
			migration, "ALTER TABLE bench_wait ADD COLUMN c int", watch, first,
			INTERVAL, timeout + 10 * USEC_PER_SEC, NULL, NULL, &w);
		ck_assert_str_eq(w.sqlstate, "55P03");
		ck_assert_ptr_nonnull(w.first);
		ck_assert_uint_ne(w.wait_start_usec, 0);
		report[i] = w.first_report_usec - w.wait_start_usec;
		report_from_send[i] = w.first_report_usec - w.sent_usec;
		failure[i] = w.done_usec - w.wait_start_usec;
		watched_statement_done(&w);
	}
	if (first > 0)
		snprintf(how, sizeof(how), "first check %llu ms, doubling",
			 (unsigned long long)(first / USEC_PER_MSEC));
	else
		snprintf(how, sizeof(how), "fixed %llu ms",
			 (unsigned long long)(INTERVAL / USEC_PER_MSEC));
	snprintf(what, sizeof(what), "lock_timeout %s, %s: wait start -> blocker reported",
		 lock_timeout, how);
	print_spread(what, report, ROUNDS);
	snprintf(what, sizeof(what), "lock_timeout %s, %s: statement sent -> blocker reported",
		 lock_timeout, how);
	print_spread(what, report_from_send, ROUNDS);
	snprintf(what, sizeof(what), "lock_timeout %s, %s: wait start -> 55P03 received",
		 lock_timeout, how);
	print_spread(what, failure, ROUNDS);
}

static void time_checks(const char *what, LockWatch *watch, size_t expected_edges)
{
	usec_t took[CHECKS];

	for (size_t i = 0; i < CHECKS; i++) {
		_cleanup_(lockwatch_snapshot_freep) LockSnapshot *s = NULL;
		_cleanup_free_ char *error = NULL;
		usec_t start = now_usec(CLOCK_MONOTONIC);

		if (lockwatch_check(watch, &s, &error) < 0)
			ck_abort_msg("lockwatch_check: %s", error);
		took[i] = now_usec(CLOCK_MONOTONIC) - start;
		ck_assert_uint_eq(s->n_blockers, expected_edges);
	}
	print_spread(what, took, CHECKS);
}

/* A chain (holder, queued ALTER, our UPDATE behind it), a prepared transaction and a row
 * lock, all waiting at once; then the cost of checks. */
static void bench_check_cost(void)
{
	_cleanup_(PQfinishp) PGconn *observer = test_observer(), *holder = NULL, *queued = NULL,
				    *ours = NULL, *prepared_waiter = NULL, *row_holder = NULL,
				    *row_waiter = NULL, *watch_conn = NULL;
	_cleanup_(lockwatch_freep) LockWatch *by_pid = NULL, *by_database = NULL;
	int ours_pid;

	test_create_table("bench_chain");
	test_create_table("bench_prepared");
	test_create_table("bench_row");
	watch_conn = test_watch_session(harness_app_conninfo());
	ck_assert_int_eq(lockwatch_new_for_database(watch_conn, &by_database), 0);
	time_checks("check, nothing waiting (database target)", by_database, 0);

	holder = test_session(harness_app_user_conninfo(), "api");
	test_exec(holder, "BEGIN");
	test_exec(holder, "SELECT count(*) FROM bench_chain");
	queued = test_session(harness_app_conninfo(), "other-migration");
	ck_assert(PQsendQuery(queued, "ALTER TABLE bench_chain ADD COLUMN b int"));
	test_wait_until_waiting(observer, PQbackendPID(queued));
	ours = test_session(harness_app_conninfo(), "deployd-migrate/bench");
	ours_pid = PQbackendPID(ours);
	ck_assert(PQsendQuery(ours, "UPDATE bench_chain SET v = v WHERE id = 1"));
	test_wait_until_waiting(observer, ours_pid);

	harness_pg_exec(harness_app_user_conninfo(), "BEGIN; SELECT count(*) FROM bench_prepared;"
						     "PREPARE TRANSACTION 'deployd-bench'");
	prepared_waiter = test_session(harness_app_conninfo(), "prepared-waiter");
	ck_assert(PQsendQuery(prepared_waiter, "ALTER TABLE bench_prepared ADD COLUMN c int"));
	test_wait_until_waiting(observer, PQbackendPID(prepared_waiter));

	row_holder = test_session(harness_app_user_conninfo(), "worker");
	test_exec(row_holder, "BEGIN");
	test_exec(row_holder, "UPDATE bench_row SET v = v + 1 WHERE id = 1");
	row_waiter = test_session(harness_app_conninfo(), "row-waiter");
	ck_assert(PQsendQuery(row_waiter, "UPDATE bench_row SET v = 0 WHERE id = 1"));
	test_wait_until_waiting(observer, PQbackendPID(row_waiter));

	ck_assert_int_eq(lockwatch_new_for_pids(watch_conn, &ours_pid, 1, &by_pid), 0);
	/* ours <- queued <- holder */
	time_checks("check, chain of 2 edges (pid target)", by_pid, 2);
	/* + queued <- holder counted once, prepared_waiter <- pid 0, row_waiter <- row_holder */
	time_checks("check, 4 waits / 4 edges incl. prepared + row lock (database)", by_database,
		    4);

	test_exec(observer, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
			    "WHERE datname = 'app' AND pid <> pg_backend_pid()");
	test_exec(observer, "ROLLBACK PREPARED 'deployd-bench'");
}

START_TEST(bench)
{
	printf("\n### 2b. Lock check alone (library level, no daemon): cost of one check, and "
	       "wait start to report and to 55P03 when checked at a fixed period of %llu ms "
	       "(the deploy's watch checks sooner after a statement is sent: figure 2)\n\n```\n",
	       (unsigned long long)(INTERVAL / USEC_PER_MSEC));
	bench_check_cost();
	bench_wait("1s", 1 * USEC_PER_SEC, 0);
	bench_wait("1s", 1 * USEC_PER_SEC, 10 * USEC_PER_MSEC);
	bench_wait("5s", 5 * USEC_PER_SEC, 10 * USEC_PER_MSEC);
	printf("```\n");
	fflush(stdout);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bench-2-lockwatch");
	TCase *tc = tcase_create("bench");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, bench);
	suite_add_tcase(s, tc);
	return check_run_suite_unforked(s);
}
