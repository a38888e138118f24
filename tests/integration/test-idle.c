/* test-idle.c — the idle-transaction terminator ends exactly the sessions it should.
 *
 * Every session is a real one.  "Old" means idle in a transaction for longer than OLDER_THAN;
 * the tests wait that long once and then make the sessions that must be recent. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check-run.h"
#include "harness.h"
#include "pg-cleanup.h"
#include "idle-event.h"
#include "idle.h"
#include "sessions.h"

#define OLDER_THAN (2 * USEC_PER_SEC)
/* Waiting this long makes a session idle since before it "old". */
#define AGE_SESSIONS() usleep((OLDER_THAN + 500 * USEC_PER_MSEC))

static const IdleSession *find_pid(const IdleSessions *s, int pid)
{
	for (size_t i = 0; s && i < s->n_sessions; i++)
		if (s->sessions[i].pid == pid)
			return &s->sessions[i];
	return NULL;
}

static PGconn *idle_in_transaction(const char *conninfo, const char *application_name)
{
	PGconn *conn = test_session(conninfo, application_name);

	test_exec(conn, "BEGIN");
	test_exec(conn, "SELECT count(*) FROM pg_class");
	return conn;
}

static PGconn *idle_in_aborted_transaction(const char *conninfo, const char *application_name)
{
	PGconn *conn = test_session(conninfo, application_name);
	PGresult *res;

	test_exec(conn, "BEGIN");
	res = PQexec(conn, "SELECT 1 / 0");
	ck_assert_str_eq(PQresultErrorField(res, PG_DIAG_SQLSTATE), "22012");
	PQclear(res);
	return conn;
}

static char *app_conninfo_as(const char *user)
{
	_cleanup_free_ char *extra = NULL;

	ck_assert_int_ge(asprintf(&extra, "user=%s", user), 0);
	return test_conninfo_with(harness_app_conninfo(), extra);
}

START_TEST(test_terminator_ends_old_idle_and_aborted_transactions_and_spares_the_rest)
{
	_cleanup_(PQfinishp) PGconn *observer = test_observer(), *deployer = NULL, *old = NULL,
				    *aborted = NULL, *active = NULL, *recent = NULL,
				    *other_db = NULL, *own = NULL, *superuser = NULL;
	_cleanup_(idle_sessions_freep) IdleSessions *result = NULL;
	_cleanup_free_ char *other_conninfo = NULL, *super_app = NULL, *error = NULL;
	const IdleSession *s;
	int own_pid;

	old = idle_in_transaction(harness_app_user_conninfo(), "api");
	aborted = idle_in_aborted_transaction(harness_app_user_conninfo(), "worker");
	active = test_session(harness_app_user_conninfo(), "report");
	other_conninfo = test_conninfo_with(harness_app_user_conninfo(), "dbname=lw_other");
	other_db = idle_in_transaction(other_conninfo, "api-other-db");
	own = idle_in_transaction(harness_app_conninfo(), "deployd-own");
	own_pid = PQbackendPID(own);
	super_app = test_conninfo_with(harness_pg_conninfo(), "dbname=app");
	superuser = idle_in_transaction(super_app, "psql-admin");
	AGE_SESSIONS();
	/* Active for longer than OLDER_THAN by the time of the terminator, but active. */
	ck_assert(PQsendQuery(active, "SELECT pg_sleep(5)"));
	test_wait_until_state(observer, PQbackendPID(active), "active");
	recent = idle_in_transaction(harness_app_user_conninfo(), "api-recent");

	deployer = harness_pg_connect(harness_app_conninfo());
	IdleFilter filter = {
		.older_than = OLDER_THAN, .exclude_pids = &own_pid, .n_exclude_pids = 1};
	ck_assert_int_eq(idle_terminate(deployer, &filter, &result, &error), 0);

	ck_assert_uint_eq(result->n_sessions, 2);
	s = find_pid(result, PQbackendPID(old));
	ck_assert_ptr_nonnull(s);
	ck_assert(s->terminated);
	ck_assert_str_eq(s->user, "app_user");
	ck_assert_str_eq(s->application, "api");
	ck_assert_str_eq(s->client, "[local]");
	ck_assert_str_eq(s->state, "idle in transaction");
	ck_assert_str_eq(s->query, "SELECT count(*) FROM pg_class");
	ck_assert_uint_ge(s->idle_age_usec, OLDER_THAN);
	ck_assert_uint_ne(s->xact_age_usec, USEC_INFINITY);
	s = find_pid(result, PQbackendPID(aborted));
	ck_assert_ptr_nonnull(s);
	ck_assert(s->terminated);
	ck_assert_str_eq(s->state, "idle in transaction (aborted)");
	ck_assert_str_eq(s->query, "SELECT 1 / 0");
	ck_assert_uint_eq(s->xact_age_usec, USEC_INFINITY);

	/* pg_terminate_backend() waited for the exits. */
	ck_assert(!test_backend_alive(observer, PQbackendPID(old)));
	ck_assert(!test_backend_alive(observer, PQbackendPID(aborted)));
	ck_assert(test_backend_alive(observer, PQbackendPID(active)));
	ck_assert(test_backend_alive(observer, PQbackendPID(recent)));
	ck_assert(test_backend_alive(observer, PQbackendPID(other_db)));
	ck_assert(test_backend_alive(observer, own_pid));
	ck_assert(test_backend_alive(observer, PQbackendPID(superuser)));
	ck_assert(test_backend_alive(observer, PQbackendPID(deployer)));

	/* What the clients see: the spared ones carry on, the terminated ones are gone. */
	test_exec(recent, "COMMIT");
	test_exec(own, "COMMIT");
	PGresult *res = PQexec(old, "COMMIT");
	ck_assert_int_eq(PQresultStatus(res), PGRES_FATAL_ERROR);
	PQclear(res);

	PGcancel *cancel = PQgetCancel(active);
	char buf[256];
	ck_assert(PQcancel(cancel, buf, sizeof(buf)));
	PQfreeCancel(cancel);
}
END_TEST

START_TEST(test_listing_finds_the_same_sessions_and_terminates_none)
{
	_cleanup_(PQfinishp) PGconn *observer = test_observer(), *deployer = NULL, *old = NULL,
				    *aborted = NULL, *recent = NULL;
	_cleanup_(idle_sessions_freep) IdleSessions *result = NULL;
	_cleanup_free_ char *error = NULL;

	old = idle_in_transaction(harness_app_user_conninfo(), "api");
	aborted = idle_in_aborted_transaction(harness_app_user_conninfo(), "worker");
	AGE_SESSIONS();
	recent = idle_in_transaction(harness_app_user_conninfo(), "api-recent");

	deployer = harness_pg_connect(harness_app_conninfo());
	IdleFilter filter = {.older_than = OLDER_THAN};
	ck_assert_int_eq(idle_list(deployer, &filter, &result, &error), 0);

	ck_assert_uint_eq(result->n_sessions, 2);
	ck_assert_ptr_nonnull(find_pid(result, PQbackendPID(old)));
	ck_assert_ptr_nonnull(find_pid(result, PQbackendPID(aborted)));
	ck_assert(!find_pid(result, PQbackendPID(old))->terminated);
	/* Longest idle first. */
	ck_assert_int_eq(result->sessions[0].pid, PQbackendPID(old));
	ck_assert(test_backend_alive(observer, PQbackendPID(old)));
	ck_assert(test_backend_alive(observer, PQbackendPID(aborted)));
	test_exec(old, "COMMIT");
}
END_TEST

START_TEST(test_superuser_terminator_ends_superuser_sessions_too)
{
	_cleanup_(PQfinishp) PGconn *observer = test_observer(), *superuser = NULL,
				    *terminator = NULL;
	_cleanup_(idle_sessions_freep) IdleSessions *result = NULL;
	_cleanup_free_ char *super_app = NULL, *error = NULL;

	super_app = test_conninfo_with(harness_pg_conninfo(), "dbname=app");
	superuser = idle_in_transaction(super_app, "psql-admin");
	AGE_SESSIONS();

	terminator = harness_pg_connect(super_app);
	IdleFilter filter = {.older_than = OLDER_THAN};
	ck_assert_int_eq(idle_terminate(terminator, &filter, &result, &error), 0);
	ck_assert_ptr_nonnull(find_pid(result, PQbackendPID(superuser)));
	ck_assert(!test_backend_alive(observer, PQbackendPID(superuser)));
}
END_TEST

static void assert_refused(const char *role, bool terminate, const char *expected)
{
	_cleanup_free_ char *conninfo = app_conninfo_as(role), *error = NULL;
	_cleanup_(PQfinishp) PGconn *conn = harness_pg_connect(conninfo);
	_cleanup_(idle_sessions_freep) IdleSessions *result = NULL;
	IdleFilter filter = {.older_than = OLDER_THAN};
	int r = terminate ? idle_terminate(conn, &filter, &result, &error)
			  : idle_list(conn, &filter, &result, &error);

	ck_assert_int_eq(r, -EACCES);
	ck_assert_ptr_null(result);
	ck_assert_msg(strstr(error, expected), "error \"%s\" lacks \"%s\"", error, expected);
}

START_TEST(test_missing_privileges_are_errors_naming_them_not_empty_results)
{
	_cleanup_(PQfinishp) PGconn *observer = test_observer(), *old = NULL;

	/* There is something to find: an empty answer would be a lie. */
	old = idle_in_transaction(harness_app_user_conninfo(), "api");
	AGE_SESSIONS();

	assert_refused("lw_no_stats", false, "GRANT pg_read_all_stats TO lw_no_stats");
	assert_refused("lw_no_stats", true, "GRANT pg_read_all_stats TO lw_no_stats");
	assert_refused("lw_no_signal", true, "GRANT pg_signal_backend TO lw_no_signal");
	assert_refused("lw_neither", true,
		       "GRANT pg_read_all_stats, pg_signal_backend TO lw_neither");
	ck_assert(test_backend_alive(observer, PQbackendPID(old)));

	/* Listing needs only pg_read_all_stats. */
	_cleanup_free_ char *conninfo = app_conninfo_as("lw_no_signal"), *error = NULL;
	_cleanup_(PQfinishp) PGconn *conn = harness_pg_connect(conninfo);
	_cleanup_(idle_sessions_freep) IdleSessions *result = NULL;
	IdleFilter filter = {.older_than = OLDER_THAN};
	ck_assert_int_eq(idle_list(conn, &filter, &result, &error), 0);
	ck_assert_ptr_nonnull(find_pid(result, PQbackendPID(old)));
}
END_TEST

START_TEST(test_session_that_became_active_after_listing_is_spared)
{
	_cleanup_(PQfinishp) PGconn *observer = test_observer(), *deployer = NULL, *woke = NULL,
				    *busy = NULL, *sleeper = NULL;
	_cleanup_(idle_sessions_freep) IdleSessions *listed = NULL, *terminated = NULL;
	_cleanup_free_ char *error = NULL;

	woke = idle_in_transaction(harness_app_user_conninfo(), "api");
	busy = idle_in_transaction(harness_app_user_conninfo(), "worker");
	sleeper = idle_in_transaction(harness_app_user_conninfo(), "sleeper");
	AGE_SESSIONS();

	deployer = harness_pg_connect(harness_app_conninfo());
	IdleFilter filter = {.older_than = OLDER_THAN};
	ck_assert_int_eq(idle_list(deployer, &filter, &listed, &error), 0);
	ck_assert_uint_eq(listed->n_sessions, 3);

	/* Between listing and terminating: one runs a statement and is idle in its transaction
	 * again (a new idle period, too recent), one is in the middle of a statement. */
	test_exec(woke, "SELECT 1");
	ck_assert(PQsendQuery(busy, "SELECT pg_sleep(3)"));
	test_wait_until_state(observer, PQbackendPID(busy), "active");

	ck_assert_int_eq(idle_terminate(deployer, &filter, &terminated, &error), 0);
	ck_assert_uint_eq(terminated->n_sessions, 1);
	ck_assert_int_eq(terminated->sessions[0].pid, PQbackendPID(sleeper));
	ck_assert(test_backend_alive(observer, PQbackendPID(woke)));
	ck_assert(test_backend_alive(observer, PQbackendPID(busy)));
	ck_assert(!test_backend_alive(observer, PQbackendPID(sleeper)));

	/* The busy one finishes its statement and its transaction normally. */
	PGresult *res;
	while ((res = PQgetResult(busy))) {
		ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
		PQclear(res);
	}
	test_exec(busy, "COMMIT");
	test_exec(woke, "COMMIT");
}
END_TEST

START_TEST(test_terminator_refuses_a_connection_inside_a_transaction)
{
	_cleanup_(PQfinishp) PGconn *deployer = harness_pg_connect(harness_app_conninfo());
	_cleanup_(idle_sessions_freep) IdleSessions *result = NULL;
	_cleanup_free_ char *error = NULL;
	IdleFilter filter = {.older_than = OLDER_THAN};

	test_exec(deployer, "BEGIN");
	ck_assert_int_eq(idle_terminate(deployer, &filter, &result, &error), -EBUSY);
	ck_assert_ptr_null(result);
	ck_assert_ptr_nonnull(strstr(error, "transaction"));
}
END_TEST

/* Roles without one or both of the memberships, and a second database; made once per run
 * (the cluster is per run) in the parent process. */
static void setup_roles_and_database(void)
{
	_cleanup_(PQfinishp) PGconn *conn = harness_pg_connect(harness_pg_conninfo());
	_cleanup_(PQclearp) PGresult *res = NULL;

	test_exec(conn, "DO $$ BEGIN\n"
			"IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lw_no_stats') THEN\n"
			"  CREATE ROLE lw_no_stats LOGIN IN ROLE pg_signal_backend;\n"
			"  CREATE ROLE lw_no_signal LOGIN IN ROLE pg_read_all_stats;\n"
			"  CREATE ROLE lw_neither LOGIN;\n"
			"END IF; END $$");
	res = harness_pg_query(conn, "SELECT count(*) FROM pg_database WHERE datname = 'lw_other'");
	if (strcmp(PQgetvalue(res, 0, 0), "0") == 0)
		test_exec(conn, "CREATE DATABASE lw_other");
}

static Suite *idle_suite(void)
{
	Suite *s = suite_create("idle");
	TCase *tc = tcase_create("terminator");

	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, setup_roles_and_database, NULL);
	tcase_add_test(tc,
		       test_terminator_ends_old_idle_and_aborted_transactions_and_spares_the_rest);
	tcase_add_test(tc, test_listing_finds_the_same_sessions_and_terminates_none);
	tcase_add_test(tc, test_superuser_terminator_ends_superuser_sessions_too);
	tcase_add_test(tc, test_missing_privileges_are_errors_naming_them_not_empty_results);
	tcase_add_test(tc, test_session_that_became_active_after_listing_is_spared);
	tcase_add_test(tc, test_terminator_refuses_a_connection_inside_a_transaction);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_suite(idle_suite());
}
