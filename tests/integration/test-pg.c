/* test-pg.c — sessions against the harness's real PostgreSQL: settings, waits, cancel, error
 * classification, terminating sessions, the deploy lock. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <systemd/sd-id128.h>
#include <unistd.h>

#include "check-run.h"
#include "deploy-lock.h"
#include "harness.h"
#include "migrations.h"
#include "pg.h"

static PgSessionSettings settings(const char *application_name)
{
	return (PgSessionSettings){
		.application_name = application_name,
		.connect_timeout = 10 * USEC_PER_SEC,
		.lock_timeout = 5 * USEC_PER_SEC,
		.statement_timeout = 120 * USEC_PER_SEC,
		.idle_in_transaction_session_timeout = 60 * USEC_PER_SEC,
	};
}

static PGconn *connect_ok(const char *conninfo, const PgSessionSettings *s)
{
	PGconn *conn = NULL;
	PgError e = {};

	ck_assert_msg(pg_connect(conninfo, s, NULL, &conn, &e) == 0, "%s", e.message);
	return conn;
}

/* The single value of sql run with pg_exec(); aborts on failure. */
static char *exec_value(PGconn *conn, const char *sql)
{
	_cleanup_(PQclearp) PGresult *res = NULL;
	PgError e = {};

	ck_assert_msg(pg_exec(conn, sql, NULL, &res, &e) == 0, "%s: %s", sql, e.message);
	ck_assert_int_eq(PQntuples(res), 1);
	return strdup(PQgetvalue(res, 0, 0));
}

static char *unique_name(const char *prefix)
{
	sd_id128_t id;
	char *name;

	ck_assert_int_eq(sd_id128_randomize(&id), 0);
	ck_assert_int_ge(asprintf(&name, "%s" SD_ID128_FORMAT_STR, prefix, SD_ID128_FORMAT_VAL(id)),
			 0);
	return name;
}

START_TEST(test_a_session_runs_with_the_settings_and_keeps_the_conninfos_options)
{
	_cleanup_free_ char *conninfo = NULL, *app = unique_name("deployd/"), *row = NULL;
	_cleanup_(PQfinishp) PGconn *conn = NULL;
	PgSessionSettings s = settings(app);

	ck_assert_int_ge(asprintf(&conninfo,
				  "%s application_name=theirs "
				  "options='-c search_path=pg_catalog -c lock_timeout=1'",
				  harness_app_conninfo()),
			 0);
	s.lock_timeout = 1500 * USEC_PER_MSEC;
	s.statement_timeout = 0;
	conn = connect_ok(conninfo, &s);
	row = exec_value(conn,
			 "SELECT concat_ws(' ', current_setting('application_name'), "
			 "current_setting('lock_timeout'), "
			 "current_setting('statement_timeout'), "
			 "current_setting('idle_in_transaction_session_timeout'), "
			 "current_setting('client_connection_check_interval'), "
			 "current_setting('idle_session_timeout'), "
			 "current_setting('client_encoding'), current_setting('search_path'), "
			 "current_setting('default_transaction_read_only'))");
	_cleanup_free_ char *expected = NULL;
	ck_assert_int_ge(asprintf(&expected, "%s 1500ms 0 1min 1s 0 UTF8 pg_catalog off", app), 0);
	ck_assert_str_eq(row, expected);
}
END_TEST

/* Two connections under way at once both become sessions with their own settings; one that
 * cannot be reached fails where it is finished, as pg_connect() would. */
START_TEST(test_sessions_started_together_each_finish_with_their_settings)
{
	_cleanup_(PQfinishp) PGconn *a = NULL, *b = NULL, *nowhere = NULL;
	_cleanup_free_ char *app_a = NULL, *app_b = NULL;
	PgSessionSettings sa = settings("deployd-test/a"), sb = settings("deployd-test/b");
	PgSessionSettings sn = settings("deployd-test/nowhere");
	PGconn *started_a = NULL, *started_b = NULL, *started_nowhere = NULL;
	PgError e = {};

	ck_assert_int_eq(pg_connect_start(harness_app_conninfo(), &sa, &started_a, &e), 0);
	ck_assert_int_eq(pg_connect_start(harness_app_conninfo(), &sb, &started_b, &e), 0);
	ck_assert_msg(pg_connect_finish(&started_b, &sb, NULL, &b, &e) == 0, "%s", e.message);
	ck_assert_msg(pg_connect_finish(&started_a, &sa, NULL, &a, &e) == 0, "%s", e.message);
	ck_assert_ptr_null(started_a);
	ck_assert_ptr_null(started_b);
	app_a = exec_value(a, "SHOW application_name");
	app_b = exec_value(b, "SHOW application_name");
	ck_assert_str_eq(app_a, "deployd-test/a");
	ck_assert_str_eq(app_b, "deployd-test/b");
	ck_assert_int_ne(PQbackendPID(a), PQbackendPID(b));

	/* A port nobody listens on (1 is privileged and unused here). */
	ck_assert_int_eq(
		pg_connect_start("host=127.0.0.1 port=1 dbname=app", &sn, &started_nowhere, &e), 0);
	ck_assert_int_lt(pg_connect_finish(&started_nowhere, &sn, NULL, &nowhere, &e), 0);
	ck_assert_ptr_null(started_nowhere);
	ck_assert_ptr_null(nowhere);
	ck_assert_int_eq(e.kind, PG_ERROR_CONNECT_FAILED);
	pg_error_done(&e);
}
END_TEST

/* A started connection is on its way to the server before anyone waits for it: the server
 * starts its backend (what takes the time) while the caller does other work. */
START_TEST(test_a_started_connection_reaches_the_server_before_it_is_finished)
{
	_cleanup_(PQfinishp) PGconn *watcher = harness_pg_connect(harness_pg_conninfo());
	_cleanup_(PQfinishp) PGconn *conn = NULL;
	_cleanup_free_ char *name = unique_name("deployd-test/early"), *sql = NULL;
	PgSessionSettings s = settings(name);
	PGconn *started = NULL;
	PgError e = {};
	long long seen = 0;

	ck_assert_int_eq(pg_connect_start(harness_app_conninfo(), &s, &started, &e), 0);
	ck_assert_int_ge(asprintf(&sql,
				  "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
				  "'%s'",
				  name),
			 0);
	/* Bounded only to catch a hang: the backend appears within milliseconds. */
	for (int i = 0; i < 1000 && seen == 0; i++) {
		_cleanup_free_ char *n = exec_value(watcher, sql);
		seen = atoll(n);
		if (seen == 0)
			usleep(10 * 1000);
	}
	ck_assert_int_eq(seen, 1);
	ck_assert_msg(pg_connect_finish(&started, &s, NULL, &conn, &e) == 0, "%s", e.message);
	pg_error_done(&e);
}
END_TEST

/* Checking a session without a round trip: a busy one is there; one the server ended is not,
 * and says so. */
START_TEST(test_a_session_check_tells_a_busy_session_from_an_ended_one)
{
	PgSessionSettings s = settings("test-pg");
	_cleanup_(PQfinishp) PGconn *conn = connect_ok(harness_app_conninfo(), &s);
	_cleanup_(PQfinishp) PGconn *other = harness_pg_connect(harness_app_conninfo());
	_cleanup_free_ char *sql = NULL;
	PgError e = {};

	ck_assert(PQsendQuery(conn, "SELECT pg_sleep(0.2)"));
	ck_assert_int_eq(pg_session_check(conn, &e), 0);
	ck_assert_int_eq(PQtransactionStatus(conn), PQTRANS_ACTIVE);
	for (PGresult *res; (res = PQgetResult(conn));)
		PQclear(res);

	ck_assert_int_ge(asprintf(&sql, "SELECT pg_terminate_backend(%d)", PQbackendPID(conn)), 0);
	free(exec_value(other, sql));
	/* The backend sends its error, then exits: wait for the socket's close (bounded only to
	 * catch a hang), without reading. */
	struct pollfd p = {.fd = PQsocket(conn), .events = POLLIN};
	for (int i = 0; i < 1000 && !(p.revents & POLLHUP); i++) {
		ck_assert_int_ge(poll(&p, 1, 0), 0);
		if (!(p.revents & POLLHUP))
			usleep(10 * 1000);
	}
	ck_assert(p.revents & POLLHUP);
	ck_assert_int_eq(pg_session_check(conn, &e), -EIO);
	ck_assert_int_eq(e.kind, PG_ERROR_CONNECTION_LOST);
	ck_assert_ptr_nonnull(e.message);
	pg_error_done(&e);
}
END_TEST

START_TEST(test_a_read_only_session_refuses_to_write)
{
	PgSessionSettings s = settings("deployctl/pending");
	_cleanup_(PQfinishp) PGconn *conn = NULL;
	PgError e = {};

	s.read_only = true;
	conn = connect_ok(harness_app_conninfo(), &s);
	ck_assert_int_eq(pg_exec(conn, "CREATE TABLE must_not_exist (id int)", NULL, NULL, &e),
			 -EIO);
	ck_assert_str_eq(e.sqlstate, "25006");
	pg_error_done(&e);
}
END_TEST

START_TEST(test_errors_carry_sqlstate_message_detail_hint_and_position)
{
	PgSessionSettings s = settings("test-pg");
	_cleanup_(PQfinishp) PGconn *conn = connect_ok(harness_app_conninfo(), &s);
	PgError e = {};

	ck_assert_int_eq(pg_exec(conn, "SELECT 1; SELECT 'é' FROM no_such_table", NULL, NULL, &e),
			 -EIO);
	ck_assert_int_eq(e.kind, PG_ERROR_OTHER);
	ck_assert_str_eq(e.sqlstate, "42P01");
	ck_assert_str_eq(e.message, "relation \"no_such_table\" does not exist");
	ck_assert_uint_eq(e.position, 27); /* characters: 'é' is one */
	ck_assert_uint_eq(e.statement_index, 1);

	ck_assert_int_eq(pg_exec(conn,
				 "CREATE TEMP TABLE u (id int PRIMARY KEY); "
				 "INSERT INTO u VALUES (1), (1)",
				 NULL, NULL, &e),
			 -EIO);
	ck_assert_str_eq(e.sqlstate, "23505");
	ck_assert_str_eq(e.detail, "Key (id)=(1) already exists.");
	ck_assert_uint_eq(e.position, 0);

	ck_assert_int_eq(pg_exec(conn, "SELECT no_such_function(1)", NULL, NULL, &e), -EIO);
	ck_assert_str_eq(e.sqlstate, "42883");
	ck_assert_ptr_nonnull(e.hint);
	pg_error_done(&e);
}
END_TEST

START_TEST(test_statement_and_lock_timeouts_are_told_apart)
{
	PgSessionSettings s = settings("test-pg");
	_cleanup_(PQfinishp) PGconn *conn = NULL, *holder = NULL;
	_cleanup_free_ char *table = unique_name("t_"), *sql = NULL;
	PgError e = {};

	s.statement_timeout = 200 * USEC_PER_MSEC;
	s.lock_timeout = 300 * USEC_PER_MSEC;
	conn = connect_ok(harness_app_conninfo(), &s);
	ck_assert_int_eq(pg_exec(conn, "SELECT pg_sleep(5)", NULL, NULL, &e), -EIO);
	ck_assert_int_eq(e.kind, PG_ERROR_STATEMENT_TIMEOUT);
	ck_assert_str_eq(e.sqlstate, "57014");

	ck_assert_int_ge(asprintf(&sql, "CREATE TABLE %s (id int)", table), 0);
	harness_pg_exec(harness_app_conninfo(), sql);
	holder = harness_pg_connect(harness_app_conninfo());
	free(sql);
	ck_assert_int_ge(asprintf(&sql, "BEGIN; LOCK TABLE %s", table), 0);
	PQclear(harness_pg_query(holder, sql));
	free(sql);
	ck_assert_int_eq(pg_exec(conn, "SET statement_timeout = 0", NULL, NULL, &e), 0);
	ck_assert_int_ge(asprintf(&sql, "SELECT * FROM %s", table), 0);
	ck_assert_int_eq(pg_exec(conn, sql, NULL, NULL, &e), -EIO);
	ck_assert_int_eq(e.kind, PG_ERROR_LOCK_TIMEOUT);
	ck_assert_str_eq(e.sqlstate, "55P03");
	/* The lock is waited for while the parser opens the relation: it points at it. */
	ck_assert_uint_eq(e.position, 15);
	pg_error_done(&e);
}
END_TEST

START_TEST(test_the_cancel_fd_cancels_a_running_statement_and_the_session_lives_on)
{
	PgSessionSettings s = settings("test-pg");
	_cleanup_(PQfinishp) PGconn *conn = connect_ok(harness_app_conninfo(), &s);
	_cleanup_close_ int timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	struct itimerspec soon = {.it_value = {.tv_nsec = 300 * 1000 * 1000}};
	PgWaitHooks hooks = {.cancel_fd = timer};
	_cleanup_free_ char *one = NULL;
	PgError e = {};

	ck_assert_int_eq(timerfd_settime(timer, 0, &soon, NULL), 0);
	usec_t start = now_usec(CLOCK_MONOTONIC);
	ck_assert_int_eq(pg_exec(conn, "SELECT pg_sleep(10)", &hooks, NULL, &e), -ECANCELED);
	ck_assert_uint_lt(now_usec(CLOCK_MONOTONIC) - start, HANG_BOUND);
	ck_assert_int_eq(e.kind, PG_ERROR_CANCELED);
	ck_assert_str_eq(e.sqlstate, "57014");
	pg_error_done(&e);

	/* The fd stays readable: the next statement is not even sent. */
	ck_assert_int_eq(pg_exec(conn, "SELECT 1", &hooks, NULL, &e), -ECANCELED);
	ck_assert_str_eq(e.sqlstate, "");
	pg_error_done(&e);
	one = exec_value(conn, "SELECT 1");
	ck_assert_str_eq(one, "1");
}
END_TEST

typedef struct Ticks {
	unsigned n;
	unsigned cancel_at;
} Ticks;

static int count_tick(void *userdata)
{
	Ticks *t = userdata;

	return ++t->n == t->cancel_at ? -ECANCELED : 0;
}

START_TEST(test_ticks_run_while_a_statement_waits_and_may_cancel_it)
{
	PgSessionSettings s = settings("test-pg");
	_cleanup_(PQfinishp) PGconn *conn = connect_ok(harness_app_conninfo(), &s);
	Ticks t = {.cancel_at = 3};
	PgWaitHooks hooks = {
		.tick_interval = 100 * USEC_PER_MSEC,
		.tick = count_tick,
		.cancel_fd = -1,
		.userdata = &t,
	};
	PgError e = {};

	t.cancel_at = 100;
	ck_assert_int_eq(pg_exec(conn, "SELECT pg_sleep(0.35)", &hooks, NULL, &e), 0);
	ck_assert_uint_ge(t.n, 2);
	ck_assert_uint_le(t.n, 4);

	t = (Ticks){.cancel_at = 3};
	ck_assert_int_eq(pg_exec(conn, "SELECT pg_sleep(10)", &hooks, NULL, &e), -ECANCELED);
	ck_assert_uint_eq(t.n, 3);
	ck_assert_int_eq(e.kind, PG_ERROR_CANCELED);
	pg_error_done(&e);
}
END_TEST

START_TEST(test_a_terminated_session_and_an_idle_timeout_are_classified)
{
	PgSessionSettings s = settings("test-pg");
	_cleanup_(PQfinishp) PGconn *conn = NULL, *idle = NULL, *other = NULL;
	_cleanup_free_ char *sql = NULL;
	PgError e = {};

	conn = connect_ok(harness_app_conninfo(), &s);
	other = harness_pg_connect(harness_app_conninfo());
	ck_assert_int_ge(asprintf(&sql, "SELECT pg_terminate_backend(%d) FROM pg_sleep(0.3)",
				  PQbackendPID(conn)),
			 0);
	ck_assert(PQsendQuery(other, sql));
	ck_assert_int_eq(pg_exec(conn, "SELECT pg_sleep(10)", NULL, NULL, &e), -EIO);
	ck_assert_msg(e.kind == PG_ERROR_TERMINATED, "%d %s %s", e.kind, e.sqlstate, e.message);
	ck_assert_str_eq(e.sqlstate, "57P01");
	ck_assert_int_eq(pg_exec(conn, "SELECT 1", NULL, NULL, &e), -EIO);
	ck_assert_int_eq(e.kind, PG_ERROR_CONNECTION_LOST);

	s.idle_in_transaction_session_timeout = 200 * USEC_PER_MSEC;
	idle = connect_ok(harness_app_conninfo(), &s);
	ck_assert_int_eq(pg_exec(idle, "BEGIN", NULL, NULL, &e), 0);
	usleep(600 * 1000);
	ck_assert_int_eq(pg_exec(idle, "SELECT 1", NULL, NULL, &e), -EIO);
	ck_assert_int_eq(e.kind, PG_ERROR_IDLE_TIMEOUT);
	ck_assert_str_eq(e.sqlstate, "25P03");
	pg_error_done(&e);
}
END_TEST

START_TEST(test_abandoning_a_session_terminates_its_running_statement)
{
	PgSessionSettings s = settings("test-pg");
	_cleanup_(PQfinishp) PGconn *other = connect_ok(harness_app_conninfo(), &s);
	PGconn *conn = connect_ok(harness_app_conninfo(), &s);
	_cleanup_free_ char *sql = NULL, *left = NULL;
	int pid = PQbackendPID(conn);

	ck_assert(PQsendQuery(conn, "SELECT pg_sleep(30)"));
	ck_assert_int_eq(PQflush(conn), 0);
	usleep(100 * 1000);
	pg_session_abandon(&conn, other);
	ck_assert_ptr_null(conn);
	ck_assert_int_ge(
		asprintf(&sql, "SELECT count(*) FROM pg_stat_activity WHERE pid = %d", pid), 0);
	left = exec_value(other, sql);
	ck_assert_str_eq(left, "0");
}
END_TEST

START_TEST(test_sessions_are_terminated_by_application_name)
{
	_cleanup_free_ char *app = unique_name("deployd-migrate/");
	PgSessionSettings s = settings(app), mine = settings("test-pg");
	_cleanup_(PQfinishp) PGconn *a = connect_ok(harness_app_conninfo(), &s),
				    *b = connect_ok(harness_app_conninfo(), &s),
				    *conn = connect_ok(harness_app_conninfo(), &mine);
	unsigned n = 0;
	PgError e = {};

	ck_assert_int_eq(pg_terminate_application(conn, app, &n, &e), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(pg_exec(a, "SELECT 1", NULL, NULL, &e), -EIO);
	pg_error_done(&e);
	ck_assert_int_eq(pg_terminate_application(conn, app, &n, &e), 0);
	ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_the_deploy_lock_is_exclusive_names_its_holder_and_ends_with_its_session)
{
	_cleanup_free_ char *app = unique_name("deployd/"), *table = unique_name("t_");
	PgSessionSettings s = settings(app), other_s = settings("test-pg");
	PGconn *first = connect_ok(harness_app_conninfo(), &s);
	_cleanup_(PQfinishp) PGconn *second = connect_ok(harness_app_conninfo(), &other_s);
	_cleanup_(deploy_lock_holder_done) DeployLockHolder holder = {};
	int64_t key = deploy_lock_key(table);
	PgError e = {};

	ck_assert_int_eq(deploy_lock_try(first, key, NULL, &holder, &e), 1);
	ck_assert_int_eq(deploy_lock_try(second, key, NULL, &holder, &e), 0);
	ck_assert_int_eq(holder.pid, PQbackendPID(first));
	ck_assert_str_eq(holder.application_name, app);
	ck_assert_str_eq(holder.user, "deployer");
	ck_assert_ptr_null(holder.client_addr); /* a Unix socket */
	ck_assert_ptr_nonnull(holder.since);

	PQfinish(first);
	for (int i = 0; i < 100; i++) {
		deploy_lock_holder_done(&holder);
		int r = deploy_lock_try(second, key, NULL, &holder, &e);
		ck_assert_int_ge(r, 0);
		if (r == 1)
			return;
		usleep(10 * 1000);
	}
	ck_abort_msg("the lock outlived its session");
}
END_TEST

START_TEST(test_the_deploy_lock_is_refused_inside_a_transaction)
{
	PgSessionSettings s = settings("test-pg");
	_cleanup_(PQfinishp) PGconn *conn = connect_ok(harness_app_conninfo(), &s);
	DeployLockHolder holder = {};
	PgError e = {};

	ck_assert_int_eq(pg_exec(conn, "BEGIN", NULL, NULL, &e), 0);
	ck_assert_int_eq(deploy_lock_try(conn, 1, NULL, &holder, &e), -EBUSY);
	pg_error_done(&e);
}
END_TEST

START_TEST(test_reading_a_missing_history_table_touches_nothing)
{
	PgSessionSettings s = settings("test-pg");
	_cleanup_(PQfinishp) PGconn *conn = NULL;
	_cleanup_free_ char *table = unique_name("t_"), *exists = NULL, *sql = NULL;
	MigrationHistory h = {.exists = true};
	PgError e = {};

	s.read_only = true;
	conn = connect_ok(harness_app_conninfo(), &s);
	ck_assert_int_eq(migrations_history_read(conn, table, NULL, &h, &e), 0);
	ck_assert(!h.exists);
	ck_assert_uint_eq(h.n, 0);
	ck_assert_int_ge(asprintf(&sql, "SELECT to_regclass('%s') IS NULL", table), 0);
	exists = exec_value(conn, sql);
	ck_assert_str_eq(exists, "t");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pg");
	TCase *tc = tcase_create("pg");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_a_session_runs_with_the_settings_and_keeps_the_conninfos_options);
	tcase_add_test(tc, test_sessions_started_together_each_finish_with_their_settings);
	tcase_add_test(tc, test_a_started_connection_reaches_the_server_before_it_is_finished);
	tcase_add_test(tc, test_a_session_check_tells_a_busy_session_from_an_ended_one);
	tcase_add_test(tc, test_a_read_only_session_refuses_to_write);
	tcase_add_test(tc, test_errors_carry_sqlstate_message_detail_hint_and_position);
	tcase_add_test(tc, test_statement_and_lock_timeouts_are_told_apart);
	tcase_add_test(tc, test_the_cancel_fd_cancels_a_running_statement_and_the_session_lives_on);
	tcase_add_test(tc, test_ticks_run_while_a_statement_waits_and_may_cancel_it);
	tcase_add_test(tc, test_a_terminated_session_and_an_idle_timeout_are_classified);
	tcase_add_test(tc, test_abandoning_a_session_terminates_its_running_statement);
	tcase_add_test(tc, test_sessions_are_terminated_by_application_name);
	tcase_add_test(
		tc, test_the_deploy_lock_is_exclusive_names_its_holder_and_ends_with_its_session);
	tcase_add_test(tc, test_the_deploy_lock_is_refused_inside_a_transaction);
	tcase_add_test(tc, test_reading_a_missing_history_table_touches_nothing);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
