/* test-lockwatch.c — the lock watch names real blockers of a real waiting statement.
 *
 * Each blocker is its own session; the "migration" is a statement sent on another session
 * with lock_timeout set, checked every interval by a LockWatch on a third, as the pipeline
 * does.  Every test works on its own table. */
#include <check.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "check-run.h"
#include "harness.h"
#include "pg-cleanup.h"
#include "lockwatch-event.h"
#include "lockwatch.h"
#include "sessions.h"
#include "watched-statement.h"

#define INTERVAL (500 * USEC_PER_MSEC)
#define BOUND (30 * USEC_PER_SEC)
#define GID_PREFIX "deployd-lockwatch-test-"

static const LockBlocker *find_edge(const LockSnapshot *s, int blocked, int blocker)
{
	for (size_t i = 0; s && i < s->n_blockers; i++)
		if (s->blockers[i].blocked_pid == blocked && s->blockers[i].blocker_pid == blocker)
			return &s->blockers[i];
	return NULL;
}

/* The migration: lock_timeout set, checked every INTERVAL by a watch on its pid. */
static void run_migration(const char *sql, const char *lock_timeout, WatchedStatementHook hook,
			  void *userdata, PGconn **ret_migration, WatchedStatement *ret)
{
	_cleanup_(PQfinishp) PGconn *watch_conn = test_watch_session(harness_app_conninfo());
	_cleanup_(lockwatch_freep) LockWatch *watch = NULL;
	PGconn *migration = test_session(harness_app_conninfo(), "deployd-migrate/test");
	_cleanup_free_ char *set = NULL;
	int pid = PQbackendPID(migration);

	ck_assert_int_ge(asprintf(&set, "SET lock_timeout = '%s'", lock_timeout), 0);
	test_exec(migration, set);
	ck_assert_int_eq(lockwatch_new_for_pids(watch_conn, &pid, 1, &watch), 0);
	watched_statement_run(migration, sql, watch, INTERVAL, BOUND, hook, userdata, ret);
	*ret_migration = migration;
}

START_TEST(test_idle_reader_is_named_within_one_interval_and_the_wait_fails_at_lock_timeout)
{
	_cleanup_(PQfinishp) PGconn *reader = NULL, *migration = NULL;
	_cleanup_(event_freep) Event *ev = NULL;
	WatchedStatement w;
	const LockBlocker *b;
	int reader_pid, migration_pid;

	test_create_table("lw_idle_reader");
	reader = test_session(harness_app_user_conninfo(), "api");
	test_exec(reader, "BEGIN");
	test_exec(reader, "SELECT count(*) FROM lw_idle_reader");
	reader_pid = PQbackendPID(reader);

	run_migration("ALTER TABLE lw_idle_reader ADD COLUMN c int", "1s", NULL, NULL, &migration,
		      &w);
	migration_pid = PQbackendPID(migration);

	ck_assert_str_eq(w.sqlstate, "55P03");
	ck_assert_ptr_nonnull(w.first);
	/* Reported while it waited, before the lock timeout ended the wait. */
	ck_assert_uint_lt(w.first_report_usec, w.done_usec);
	ck_assert_uint_ge(w.done_usec - w.sent_usec, 1 * USEC_PER_SEC);
	ck_assert_uint_le(w.done_usec - w.sent_usec, HANG_BOUND);
	/* The same blockers at every check: reported once. */
	ck_assert_uint_eq(w.n_reports, 1);

	ck_assert_uint_eq(w.first->n_blockers, 1);
	b = find_edge(w.first, migration_pid, reader_pid);
	ck_assert_ptr_nonnull(b);
	ck_assert(b->blocked_is_target);
	ck_assert_str_eq(b->user, "app_user");
	ck_assert_str_eq(b->application, "api");
	ck_assert_str_eq(b->state, "idle in transaction");
	ck_assert_str_eq(b->client, "[local]");
	ck_assert_str_eq(b->backend_type, "client backend");
	ck_assert_str_eq(b->mode_wanted, "AccessExclusiveLock");
	ck_assert_str_eq(b->mode_held, "AccessShareLock");
	ck_assert(!b->queued);
	ck_assert_str_eq(b->lock_type, "relation");
	ck_assert_str_eq(b->relation, "public.lw_idle_reader");
	ck_assert_str_eq(b->query, "SELECT count(*) FROM lw_idle_reader");
	ck_assert(b->is_root);
	ck_assert_uint_ge(b->xact_age_usec, b->state_age_usec);
	ck_assert_uint_lt(b->state_age_usec, HANG_BOUND);
	ck_assert_uint_le(b->wait_age_usec, w.done_usec - w.sent_usec);

	/* The lock-timeout event repeats the last snapshot taken while waiting. */
	ck_assert(lockwatch_snapshot_same_blockers(w.first, w.last));
	b = find_edge(w.last, migration_pid, reader_pid);
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(
		lockwatch_blocker_to_event(b, EVENT_LOCK_TIMEOUT, DEPLOY_PHASE_MIGRATE, &ev), 0);
	ck_assert_int_eq(atoi(event_get(ev, "BLOCKER_PID")), reader_pid);
	ck_assert_int_eq(atoi(event_get(ev, "BLOCKED_PID")), migration_pid);
	ck_assert_str_eq(event_get(ev, "BLOCKER_USER"), "app_user");
	ck_assert_str_eq(event_get(ev, "BLOCKER_STATE"), "idle in transaction");
	ck_assert_ptr_nonnull(strstr(ev->message, "gave up waiting for AccessExclusiveLock on "
						  "public.lw_idle_reader"));
	watched_statement_done(&w);
}
END_TEST

START_TEST(test_chain_follows_the_queued_blocker_to_the_holder_and_marks_it_root)
{
	_cleanup_(PQfinishp) PGconn *holder = NULL, *queued = NULL, *migration = NULL,
				    *observer = NULL;
	_cleanup_free_ char *message = NULL;
	WatchedStatement w;
	const LockBlocker *b;
	int holder_pid, queued_pid, migration_pid;

	test_create_table("lw_chain");
	observer = test_observer();
	holder = test_session(harness_app_user_conninfo(), "api");
	test_exec(holder, "BEGIN");
	test_exec(holder, "SELECT count(*) FROM lw_chain");
	holder_pid = PQbackendPID(holder);
	queued = test_session(harness_app_conninfo(), "other-migration");
	queued_pid = PQbackendPID(queued);
	ck_assert(PQsendQuery(queued, "ALTER TABLE lw_chain ADD COLUMN b int"));
	test_wait_until_waiting(observer, queued_pid);

	/* RowExclusiveLock does not conflict with the holder's AccessShareLock, only with the
	 * AccessExclusiveLock queued ahead: the migration waits behind the queued session. */
	run_migration("UPDATE lw_chain SET v = v WHERE id = 1", "1s", NULL, NULL, &migration, &w);
	migration_pid = PQbackendPID(migration);

	ck_assert_str_eq(w.sqlstate, "55P03");
	ck_assert_ptr_nonnull(w.first);
	ck_assert_uint_eq(w.first->n_blockers, 2);
	ck_assert_ptr_null(find_edge(w.first, migration_pid, holder_pid));

	b = find_edge(w.first, migration_pid, queued_pid);
	ck_assert_ptr_nonnull(b);
	ck_assert(b->blocked_is_target);
	ck_assert(!b->is_root);
	ck_assert(b->queued);
	ck_assert_str_eq(b->mode_wanted, "RowExclusiveLock");
	ck_assert_str_eq(b->mode_held, "AccessExclusiveLock");
	ck_assert_str_eq(b->application, "other-migration");
	ck_assert_str_eq(b->state, "active");
	ck_assert_int_eq(lockwatch_blocker_message(b, "Migration", false, &message), 0);
	ck_assert_ptr_nonnull(strstr(message, "is queued ahead of it for AccessExclusiveLock"));
	ck_assert_ptr_nonnull(strstr(message, "and itself waits for another session."));

	b = find_edge(w.first, queued_pid, holder_pid);
	ck_assert_ptr_nonnull(b);
	ck_assert(!b->blocked_is_target);
	ck_assert(b->is_root);
	ck_assert(!b->queued);
	ck_assert_str_eq(b->mode_wanted, "AccessExclusiveLock");
	ck_assert_str_eq(b->mode_held, "AccessShareLock");
	ck_assert_str_eq(b->user, "app_user");
	ck_assert_str_eq(b->state, "idle in transaction");
	watched_statement_done(&w);
}
END_TEST

START_TEST(test_active_long_query_is_named_as_an_active_blocker)
{
	_cleanup_(PQfinishp) PGconn *reporter = NULL, *migration = NULL, *observer = NULL;
	WatchedStatement w;
	const LockBlocker *b;
	int reporter_pid;

	test_create_table("lw_active");
	observer = test_observer();
	reporter = test_session(harness_app_user_conninfo(), "nightly-report");
	reporter_pid = PQbackendPID(reporter);
	ck_assert(PQsendQuery(reporter, "SELECT count(*), pg_sleep(10) FROM lw_active"));
	test_wait_until_holding(observer, reporter_pid, "lw_active");

	run_migration("ALTER TABLE lw_active ADD COLUMN c int", "1s", NULL, NULL, &migration, &w);

	ck_assert_str_eq(w.sqlstate, "55P03");
	b = find_edge(w.first, PQbackendPID(migration), reporter_pid);
	ck_assert_ptr_nonnull(b);
	ck_assert_str_eq(b->state, "active");
	ck_assert_str_eq(b->application, "nightly-report");
	ck_assert_str_eq(b->query, "SELECT count(*), pg_sleep(10) FROM lw_active");
	ck_assert_str_eq(b->mode_held, "AccessShareLock");
	ck_assert(b->is_root);
	watched_statement_done(&w);

	PGcancel *cancel = PQgetCancel(reporter);
	char error[256];
	ck_assert(PQcancel(cancel, error, sizeof(error)));
	PQfreeCancel(cancel);
}
END_TEST

START_TEST(test_prepared_transaction_is_named_as_pid_0_with_its_gid)
{
	_cleanup_(PQfinishp) PGconn *migration = NULL;
	_cleanup_(event_freep) Event *ev = NULL;
	WatchedStatement w;
	const LockBlocker *b;

	test_create_table("lw_prepared");
	harness_pg_exec(harness_app_user_conninfo(),
			"BEGIN; SELECT count(*) FROM lw_prepared;"
			"PREPARE TRANSACTION '" GID_PREFIX "prepared'");

	run_migration("ALTER TABLE lw_prepared ADD COLUMN c int", "1s", NULL, NULL, &migration, &w);

	ck_assert_str_eq(w.sqlstate, "55P03");
	ck_assert_ptr_nonnull(w.first);
	ck_assert_uint_eq(w.first->n_blockers, 1);
	b = find_edge(w.first, PQbackendPID(migration), 0);
	ck_assert_ptr_nonnull(b);
	ck_assert_str_eq(b->gid, GID_PREFIX "prepared");
	ck_assert_str_eq(b->user, "app_user");
	ck_assert_str_eq(b->state, "prepared");
	ck_assert_str_eq(b->mode_held, "AccessShareLock");
	ck_assert_str_eq(b->relation, "public.lw_prepared");
	ck_assert_ptr_null(b->application);
	ck_assert_ptr_null(b->query);
	ck_assert(b->is_root);
	ck_assert_uint_ne(b->xact_age_usec, USEC_INFINITY);

	ck_assert_int_eq(lockwatch_blocker_to_event(b, EVENT_LOCK_WAIT, DEPLOY_PHASE_MIGRATE, &ev),
			 0);
	ck_assert_str_eq(event_get(ev, "BLOCKER_PID"), "0");
	ck_assert_str_eq(event_get(ev, "BLOCKER_GID"), GID_PREFIX "prepared");
	watched_statement_done(&w);
}
END_TEST

START_TEST(test_row_lock_wait_names_the_row_holder_and_its_table)
{
	_cleanup_(PQfinishp) PGconn *writer = NULL, *migration = NULL;
	WatchedStatement w;
	const LockBlocker *b;

	test_create_table("lw_row");
	writer = test_session(harness_app_user_conninfo(), "worker");
	test_exec(writer, "BEGIN");
	test_exec(writer, "UPDATE lw_row SET v = v + 1 WHERE id = 1");

	run_migration("UPDATE lw_row SET v = 0 WHERE id = 1", "1s", NULL, NULL, &migration, &w);

	ck_assert_str_eq(w.sqlstate, "55P03");
	b = find_edge(w.first, PQbackendPID(migration), PQbackendPID(writer));
	ck_assert_ptr_nonnull(b);
	ck_assert_str_eq(b->lock_type, "transactionid");
	ck_assert_str_eq(b->mode_wanted, "ShareLock");
	ck_assert_str_eq(b->mode_held, "ExclusiveLock");
	ck_assert_str_eq(b->relation, "public.lw_row");
	ck_assert_str_eq(b->application, "worker");
	ck_assert_str_eq(b->state, "idle in transaction");
	ck_assert(b->is_root);
	watched_statement_done(&w);
}
END_TEST

typedef struct ReleaseFirst {
	PGconn *reader;
	unsigned at_check;
} ReleaseFirst;

static void release_first_reader(unsigned n_check, void *userdata)
{
	ReleaseFirst *r = userdata;

	if (n_check == r->at_check)
		test_exec(r->reader, "COMMIT");
}

START_TEST(test_report_repeats_only_when_the_set_of_blockers_changes)
{
	_cleanup_(PQfinishp) PGconn *first = NULL, *second = NULL, *migration = NULL;
	WatchedStatement w;
	ReleaseFirst release;

	test_create_table("lw_change");
	first = test_session(harness_app_user_conninfo(), "api");
	test_exec(first, "BEGIN");
	test_exec(first, "SELECT count(*) FROM lw_change");
	second = test_session(harness_app_user_conninfo(), "worker");
	test_exec(second, "BEGIN");
	test_exec(second, "SELECT count(*) FROM lw_change");
	release = (ReleaseFirst){.reader = first, .at_check = 2};

	run_migration("ALTER TABLE lw_change ADD COLUMN c int", "3s", release_first_reader,
		      &release, &migration, &w);

	ck_assert_str_eq(w.sqlstate, "55P03");
	ck_assert_uint_ge(w.n_checks, 5);
	/* {first, second} at checks 1 and 2, {second} from check 3 on. */
	ck_assert_uint_eq(w.n_reports, 2);
	ck_assert_uint_eq(w.first->n_blockers, 2);
	ck_assert_uint_eq(w.last->n_blockers, 1);
	ck_assert_int_eq(w.last->blockers[0].blocker_pid, PQbackendPID(second));
	watched_statement_done(&w);
}
END_TEST

START_TEST(test_command_migration_sessions_are_found_by_application_name)
{
	_cleanup_(PQfinishp) PGconn *reader = NULL, *command = NULL, *watch_conn = NULL;
	_cleanup_(lockwatch_freep) LockWatch *watch = NULL;
	WatchedStatement w;
	const LockBlocker *b;

	test_create_table("lw_command");
	reader = test_session(harness_app_user_conninfo(), "api");
	test_exec(reader, "BEGIN");
	test_exec(reader, "SELECT count(*) FROM lw_command");
	command = test_session(harness_app_conninfo(),
			       "deployd-migrate/0123456789abcdef0123456789abcdef");
	test_exec(command, "SET lock_timeout = '1s'");
	watch_conn = test_watch_session(harness_app_conninfo());
	ck_assert_int_eq(
		lockwatch_new_for_application(
			watch_conn, "deployd-migrate/0123456789abcdef0123456789abcdef", &watch),
		0);

	watched_statement_run(command, "ALTER TABLE lw_command ADD COLUMN c int", watch, INTERVAL,
			      BOUND, NULL, NULL, &w);

	ck_assert_str_eq(w.sqlstate, "55P03");
	b = find_edge(w.first, PQbackendPID(command), PQbackendPID(reader));
	ck_assert_ptr_nonnull(b);
	ck_assert(b->blocked_is_target);
	ck_assert_str_eq(b->application, "api");
	watched_statement_done(&w);
}
END_TEST

START_TEST(test_database_watch_lists_every_waiting_session_of_the_database)
{
	_cleanup_(PQfinishp) PGconn *reader = NULL, *waiter_a = NULL, *waiter_b = NULL,
				    *observer = NULL, *watch_conn = NULL;
	_cleanup_(lockwatch_freep) LockWatch *watch = NULL;
	_cleanup_(lockwatch_snapshot_freep) LockSnapshot *s = NULL;
	_cleanup_free_ char *error = NULL;
	const LockBlocker *b;

	test_create_table("lw_database_a");
	test_create_table("lw_database_b");
	observer = test_observer();
	reader = test_session(harness_app_user_conninfo(), "api");
	test_exec(reader, "BEGIN");
	test_exec(reader, "SELECT count(*) FROM lw_database_a");
	test_exec(reader, "UPDATE lw_database_b SET v = v WHERE id = 1");
	waiter_a = test_session(harness_app_conninfo(), "waiter-a");
	test_exec(waiter_a, "SET lock_timeout = '10s'");
	ck_assert(PQsendQuery(waiter_a, "ALTER TABLE lw_database_a ADD COLUMN c int"));
	waiter_b = test_session(harness_app_conninfo(), "waiter-b");
	test_exec(waiter_b, "SET lock_timeout = '10s'");
	ck_assert(PQsendQuery(waiter_b, "CREATE INDEX ON lw_database_b (v)"));
	test_wait_until_waiting(observer, PQbackendPID(waiter_a));
	test_wait_until_waiting(observer, PQbackendPID(waiter_b));

	watch_conn = test_watch_session(harness_app_conninfo());
	ck_assert_int_eq(lockwatch_new_for_database(watch_conn, &watch), 0);
	ck_assert_int_eq(lockwatch_check(watch, &s, &error), 0);

	b = find_edge(s, PQbackendPID(waiter_a), PQbackendPID(reader));
	ck_assert_ptr_nonnull(b);
	ck_assert(b->blocked_is_target);
	ck_assert_str_eq(b->relation, "public.lw_database_a");
	b = find_edge(s, PQbackendPID(waiter_b), PQbackendPID(reader));
	ck_assert_ptr_nonnull(b);
	ck_assert_str_eq(b->mode_wanted, "ShareLock");
	/* The reader also holds AccessShareLock there, which does not conflict. */
	ck_assert_str_eq(b->mode_held, "RowExclusiveLock");
	ck_assert_str_eq(b->relation, "public.lw_database_b");
}
END_TEST

START_TEST(test_blocker_query_text_is_sanitized)
{
	_cleanup_(PQfinishp) PGconn *reader = NULL, *migration = NULL;
	WatchedStatement w;
	const LockBlocker *b;

	test_create_table("lw_hostile");
	reader = test_session(harness_app_user_conninfo(), "api");
	/* Raw ESC, a line break and a right-to-left override in the query text itself. */
	test_exec(reader, "BEGIN");
	test_exec(reader, "SELECT count(*) /* \x1b[31mred\n\xe2\x80\xae"
			  "evil */ FROM lw_hostile");

	run_migration("ALTER TABLE lw_hostile ADD COLUMN c int", "1s", NULL, NULL, &migration, &w);

	b = find_edge(w.first, PQbackendPID(migration), PQbackendPID(reader));
	ck_assert_ptr_nonnull(b);
	ck_assert_str_eq(b->query, "SELECT count(*) /* \xef\xbf\xbd[31mred \xef\xbf\xbd"
				   "evil */ FROM lw_hostile");
	watched_statement_done(&w);
}
END_TEST

START_TEST(test_watch_refuses_a_connection_inside_a_transaction)
{
	_cleanup_(PQfinishp) PGconn *watch_conn = test_watch_session(harness_app_conninfo());
	_cleanup_(lockwatch_freep) LockWatch *watch = NULL;
	_cleanup_(lockwatch_snapshot_freep) LockSnapshot *s = NULL;
	_cleanup_free_ char *error = NULL;

	ck_assert_int_eq(lockwatch_new_for_database(watch_conn, &watch), 0);
	test_exec(watch_conn, "BEGIN");
	ck_assert_int_eq(lockwatch_check(watch, &s, &error), -EBUSY);
	ck_assert_ptr_null(s);
	ck_assert_ptr_nonnull(strstr(error, "transaction"));
}
END_TEST

/* Prepared transactions outlive the sessions and the test processes that made them: roll
 * back any of ours before and after the tests, in the parent process (so also after a
 * failed test). */
static void rollback_prepared(void)
{
	_cleanup_(PQfinishp) PGconn *conn = test_observer();
	_cleanup_(PQclearp) PGresult *res = harness_pg_query(
		conn, "SELECT gid FROM pg_prepared_xacts WHERE gid LIKE '" GID_PREFIX "%'");

	for (int i = 0; i < PQntuples(res); i++) {
		_cleanup_free_ char *sql = NULL;
		ck_assert_int_ge(asprintf(&sql, "ROLLBACK PREPARED '%s'", PQgetvalue(res, i, 0)),
				 0);
		test_exec(conn, sql);
	}
}

static Suite *lockwatch_suite(void)
{
	Suite *s = suite_create("lockwatch");
	TCase *tc = tcase_create("blockers");

	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, rollback_prepared, rollback_prepared);
	tcase_add_test(
		tc,
		test_idle_reader_is_named_within_one_interval_and_the_wait_fails_at_lock_timeout);
	tcase_add_test(tc, test_chain_follows_the_queued_blocker_to_the_holder_and_marks_it_root);
	tcase_add_test(tc, test_active_long_query_is_named_as_an_active_blocker);
	tcase_add_test(tc, test_prepared_transaction_is_named_as_pid_0_with_its_gid);
	tcase_add_test(tc, test_row_lock_wait_names_the_row_holder_and_its_table);
	tcase_add_test(tc, test_report_repeats_only_when_the_set_of_blockers_changes);
	tcase_add_test(tc, test_command_migration_sessions_are_found_by_application_name);
	tcase_add_test(tc, test_database_watch_lists_every_waiting_session_of_the_database);
	tcase_add_test(tc, test_blocker_query_text_is_sanitized);
	tcase_add_test(tc, test_watch_refuses_a_connection_inside_a_transaction);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_suite(lockwatch_suite());
}
