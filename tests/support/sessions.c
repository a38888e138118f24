#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "pg-cleanup.h"
#include "sessions.h"
#include "watch-session.h"

char *test_conninfo_with(const char *conninfo, const char *extra)
{
	char *s;

	ck_assert_int_ge(asprintf(&s, "%s %s", conninfo, extra), 0);
	return s;
}

PGconn *test_session(const char *conninfo, const char *application_name)
{
	_cleanup_free_ char *c = NULL, *set = NULL;
	PGconn *conn;

	c = test_conninfo_with(conninfo, "options='-c client_connection_check_interval=100'");
	conn = harness_pg_connect(c);
	ck_assert_int_ge(asprintf(&set, "SET application_name = '%s'", application_name), 0);
	test_exec(conn, set);
	return conn;
}

PGconn *test_observer(void)
{
	_cleanup_free_ char *app = test_conninfo_with(harness_pg_conninfo(), "dbname=app");

	return harness_pg_connect(app);
}

PGconn *test_watch_session(const char *conninfo)
{
	PGconn *conn = harness_pg_connect(conninfo);
	_cleanup_free_ char *error = NULL;

	if (watch_session_prepare(conn, &error) < 0)
		ck_abort_msg("preparing the watch session: %s", error ?: "out of memory");
	return conn;
}

void test_exec(PGconn *conn, const char *sql)
{
	PQclear(harness_pg_query(conn, sql));
}

void test_create_table(const char *name)
{
	_cleanup_free_ char *sql = NULL;

	ck_assert_int_ge(asprintf(&sql,
				  "SET client_min_messages = warning;"
				  "DROP TABLE IF EXISTS %1$s;"
				  "CREATE TABLE %1$s (id int PRIMARY KEY, v int);"
				  "INSERT INTO %1$s SELECT g, g FROM generate_series(1, 10) g;"
				  "GRANT ALL ON %1$s TO app_user",
				  name),
			 0);
	harness_pg_exec(harness_app_conninfo(), sql);
}

/* Polls sql (one boolean) until true, for at most 5 s. */
static bool poll_true(PGconn *observer, const char *sql)
{
	for (int i = 0; i < 500; i++) {
		_cleanup_(PQclearp) PGresult *res = harness_pg_query(observer, sql);
		if (PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't')
			return true;
		usleep(10 * 1000);
	}
	return false;
}

void test_wait_until_waiting(PGconn *observer, int pid)
{
	_cleanup_free_ char *sql = NULL;

	ck_assert_int_ge(asprintf(&sql,
				  "SELECT wait_event_type = 'Lock' FROM pg_stat_activity "
				  "WHERE pid = %d",
				  pid),
			 0);
	if (!poll_true(observer, sql))
		ck_abort_msg("pid %d never started waiting on a lock", pid);
}

void test_wait_until_holding(PGconn *observer, int pid, const char *relation)
{
	_cleanup_free_ char *sql = NULL;

	ck_assert_int_ge(asprintf(&sql,
				  "SELECT count(*) > 0 FROM pg_locks WHERE pid = %d AND granted "
				  "AND relation = '%s'::regclass",
				  pid, relation),
			 0);
	if (!poll_true(observer, sql))
		ck_abort_msg("pid %d never took a lock on %s", pid, relation);
}

void test_wait_until_state(PGconn *observer, int pid, const char *state)
{
	_cleanup_free_ char *sql = NULL;

	ck_assert_int_ge(asprintf(&sql, "SELECT state = '%s' FROM pg_stat_activity WHERE pid = %d",
				  state, pid),
			 0);
	if (!poll_true(observer, sql))
		ck_abort_msg("pid %d never reached state %s", pid, state);
}

bool test_backend_alive(PGconn *observer, int pid)
{
	_cleanup_free_ char *sql = NULL;

	ck_assert_int_ge(
		asprintf(&sql, "SELECT count(*) FROM pg_stat_activity WHERE pid = %d", pid), 0);
	_cleanup_(PQclearp) PGresult *res = harness_pg_query(observer, sql);
	return strcmp(PQgetvalue(res, 0, 0), "1") == 0;
}
