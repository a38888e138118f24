/* test-migrations-batch.c — migrations_apply() sending several migrations' transactions in one
 * message, against the harness's real PostgreSQL: each migration atomic with its history row,
 * failures at the first, a middle and the last statement of a batch, a file that does not
 * parse, a cancel during a batch, a no-transaction file between batches, and the migration in
 * flight named while a batch waits on a lock. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <systemd/sd-id128.h>
#include <unistd.h>

#include "check-run.h"
#include "harness.h"
#include "migrations.h"
#include "strv.h"

#define N_MAX 16

typedef struct Fixture {
	char *schema;
	char *table;
	char *conninfo; /* the deploy role, search_path = schema */
	char deploy_id[SD_ID128_STRING_MAX];
	PGconn *conn;
	PGconn *probe;
	Migration list[N_MAX];
	Migration *pending[N_MAX];
	size_t n;
	char **told; /* "started N", "applied N" in the order the observer heard them */
	const Migration *in_flight;
	MigrationFailure failure;
} Fixture;

static void on_started(const Migration *m, void *userdata)
{
	Fixture *f = userdata;
	char *s;

	f->in_flight = m;
	ck_assert_int_ge(asprintf(&s, "started %s", m->version), 0);
	ck_assert_int_eq(strv_push(&f->told, s), 0);
}

static void on_applied(const Migration *m, usec_t duration _unused_, void *userdata)
{
	Fixture *f = userdata;
	char *s;

	ck_assert_ptr_eq(f->in_flight, m);
	ck_assert_int_ge(asprintf(&s, "applied %s", m->version), 0);
	ck_assert_int_eq(strv_push(&f->told, s), 0);
}

static Fixture *fixture_new(void)
{
	Fixture *f = calloc(1, sizeof(Fixture));
	_cleanup_free_ char *create = NULL;
	sd_id128_t id;
	PgError e = {};

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(sd_id128_randomize(&id), 0);
	sd_id128_to_string(id, f->deploy_id);
	ck_assert_int_ge(asprintf(&f->schema, "b_%.12s", f->deploy_id), 0);
	ck_assert_int_ge(asprintf(&f->table, "%s.deployd_schema_migrations", f->schema), 0);
	ck_assert_int_ge(asprintf(&f->conninfo, "%s options='-c search_path=%s'",
				  harness_app_conninfo(), f->schema),
			 0);
	ck_assert_int_ge(asprintf(&create, "CREATE SCHEMA %s", f->schema), 0);
	harness_pg_exec(harness_app_conninfo(), create);
	PgSessionSettings s = {
		.application_name = "deployd-test-batch",
		.connect_timeout = 10 * USEC_PER_SEC,
		.lock_timeout = 60 * USEC_PER_SEC,
		.statement_timeout = 120 * USEC_PER_SEC,
	};
	ck_assert_int_eq(pg_connect(f->conninfo, &s, NULL, &f->conn, &e), 0);
	ck_assert_int_eq(pg_connect(f->conninfo, &s, NULL, &f->probe, &e), 0);
	return f;
}

static void fixture_freep(Fixture **p)
{
	Fixture *f = *p;

	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++)
		migration_done(&f->list[i]);
	migration_failure_done(&f->failure);
	strv_free(f->told);
	PQfinish(f->conn);
	PQfinish(f->probe);
	free(f->schema);
	free(f->table);
	free(f->conninfo);
	free(f);
}

/* Adds migration VERSION_NAME.sql with text, parsed as discovery would parse it. */
static void add(Fixture *f, const char *filename, const char *sql)
{
	_cleanup_free_ char *path = NULL, *error = NULL;

	ck_assert_uint_lt(f->n, N_MAX);
	ck_assert_int_ge(asprintf(&path, "/migrations/%s", filename), 0);
	ck_assert_msg(migrations_parse(MIGRATIONS_FORMAT_DEPLOYD, path, sql, strlen(sql),
				       &f->list[f->n], &error) >= 0,
		      "%s", error ?: "");
	f->pending[f->n] = &f->list[f->n];
	f->n++;
}

/* Adds a file that PostgreSQL's parser refuses, built by hand: discovery may refuse it, but
 * migrations_apply() must not rely on that. */
static void add_unparsable(Fixture *f, const char *version, const char *name, const char *sql)
{
	Migration *m = &f->list[f->n];

	ck_assert_uint_lt(f->n, N_MAX);
	*m = (Migration){.size = strlen(sql)};
	ck_assert_ptr_nonnull(m->version = strdup(version));
	ck_assert_ptr_nonnull(m->name = strdup(name));
	ck_assert_int_ge(asprintf(&m->filename, "%s_%s.sql", version, name), 0);
	ck_assert_int_ge(asprintf(&m->path, "/migrations/%s", m->filename), 0);
	ck_assert_ptr_nonnull(m->sql = strdup(sql));
	ck_assert_int_eq(migrations_checksum(sql, m->size, m->checksum), 0);
	f->pending[f->n] = m;
	f->n++;
}

static int apply(Fixture *f, size_t batch_start, const PgWaitHooks *hooks)
{
	MigrationsObserver observer = {.started = on_started, .applied = on_applied, .userdata = f};
	MigrationsApplyOptions o = {
		.table = f->table,
		.deploy_id = f->deploy_id,
		.hooks = hooks,
		.observer = &observer,
		.probe_conn = f->probe,
		.batch_start = batch_start,
	};

	migration_failure_done(&f->failure);
	return migrations_apply(f->conn, f->pending, f->n, &o, &f->failure);
}

static char *value(Fixture *f, const char *fmt, ...) _printf_(2, 3);
static char *value(Fixture *f, const char *fmt, ...)
{
	_cleanup_free_ char *sql = NULL;
	va_list ap;

	va_start(ap, fmt);
	ck_assert_int_ge(vasprintf(&sql, fmt, ap), 0);
	va_end(ap);
	return harness_pg_value(f->conninfo, sql);
}

static void assert_history(Fixture *f, const char *versions)
{
	_cleanup_free_ char *v =
		value(f,
		      "SELECT coalesce(string_agg(version, ',' ORDER BY string_to_array(version, "
		      "'.')::numeric[]), '') FROM %s",
		      f->table);

	ck_assert_str_eq(v, versions);
}

/* The tables t_1 … of the fixture's schema that exist, as "1,2,…". */
static void assert_tables(Fixture *f, const char *expected)
{
	_cleanup_free_ char *v =
		value(f,
		      "SELECT coalesce(string_agg(substr(tablename, 3), ',' ORDER BY "
		      "substr(tablename, 3)::int), '') FROM pg_tables WHERE schemaname = '%s' AND "
		      "tablename ~ '^t_[0-9]+$'",
		      f->schema);

	ck_assert_str_eq(v, expected);
}

static void assert_told(Fixture *f, const char *expected)
{
	_cleanup_free_ char *joined = NULL;

	ck_assert_int_eq(strv_join(f->told, ",", &joined), 0);
	ck_assert_str_eq(joined ?: "", expected);
}

/* Eight migrations t_1 … t_8, the one at failing (1-based; 0: none) with a second statement
 * that fails on line 2, or at first its first statement (line 1). */
static void add_eight(Fixture *f, unsigned failing, bool at_first_statement)
{
	for (unsigned v = 1; v <= 8; v++) {
		_cleanup_free_ char *filename = NULL, *sql = NULL;
		ck_assert_int_ge(asprintf(&filename, "%u_t.sql", v), 0);
		if (v != failing)
			ck_assert_int_ge(asprintf(&sql, "CREATE TABLE t_%u (id int);\n", v), 0);
		else if (at_first_statement)
			ck_assert_int_ge(asprintf(&sql,
						  "INSERT INTO missing VALUES (1);\n"
						  "CREATE TABLE t_%u (id int);\n",
						  v),
					 0);
		else
			ck_assert_int_ge(asprintf(&sql,
						  "CREATE TABLE t_%u (id int);\n"
						  "INSERT INTO missing VALUES (1);\n",
						  v),
					 0);
		add(f, filename, sql);
	}
}

/* Adds v_t.sql: CREATE TABLE t_v, then extra (may be ""). */
static void add_t(Fixture *f, unsigned v, const char *extra)
{
	_cleanup_free_ char *filename = NULL, *sql = NULL;

	ck_assert_int_ge(asprintf(&filename, "%u_t.sql", v), 0);
	ck_assert_int_ge(asprintf(&sql, "CREATE TABLE t_%u (id int);\n%s", v, extra), 0);
	add(f, filename, sql);
}

static void assert_failed_at(Fixture *f, const char *version, const char *sqlstate, unsigned line)
{
	ck_assert_ptr_nonnull(f->failure.migration);
	ck_assert_str_eq(f->failure.migration->version, version);
	ck_assert_str_eq(f->failure.error.sqlstate, sqlstate);
	ck_assert_uint_eq(f->failure.line, line);
	/* The session is idle again, ready for a retry. */
	ck_assert_int_eq(PQtransactionStatus(f->conn), PQTRANS_IDLE);
}

START_TEST(test_a_batch_gives_each_migration_its_own_transaction_row_and_server_duration)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();

	/* The fourth sleeps: its duration is the server's, from its own BEGIN. */
	for (unsigned v = 1; v <= 8; v++)
		add_t(f, v, v == 4 ? "SELECT pg_sleep(0.2);\n" : "");

	ck_assert_int_eq(apply(f, 8, NULL), 0);
	assert_history(f, "1,2,3,4,5,6,7,8");
	assert_tables(f, "1,2,3,4,5,6,7,8");
	assert_told(f, "started 1,applied 1,started 2,applied 2,started 3,applied 3,started 4,"
		       "applied 4,started 5,applied 5,started 6,applied 6,started 7,applied 7,"
		       "started 8,applied 8");
	/* Eight transactions: every row has its own xmin, and only the sleeper took long. */
	_cleanup_free_ char *xids = value(f, "SELECT count(DISTINCT xmin::text) FROM %s", f->table);
	ck_assert_str_eq(xids, "8");
	_cleanup_free_ char *slow =
		value(f, "SELECT string_agg(version::text, ',') FROM %s WHERE duration_ms >= 200",
		      f->table);
	ck_assert_str_eq(slow, "4");
}
END_TEST

START_TEST(test_a_failure_in_the_middle_of_a_batch_keeps_the_ones_before_and_names_its_line)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();

	add_eight(f, 5, false);
	ck_assert_int_lt(apply(f, 8, NULL), 0);
	assert_failed_at(f, "5", "42P01", 2);
	assert_history(f, "1,2,3,4");
	assert_tables(f, "1,2,3,4");
	assert_told(f, "started 1,applied 1,started 2,applied 2,started 3,applied 3,started 4,"
		       "applied 4,started 5");
	/* A re-run starts with the failed one, whole. */
	strv_free(f->told);
	f->told = NULL;
	harness_pg_exec(f->conninfo, "CREATE TABLE missing (id int)");
	MigrationsApplyOptions o = {.table = f->table, .deploy_id = f->deploy_id};
	migration_failure_done(&f->failure);
	ck_assert_int_eq(migrations_apply(f->conn, f->pending + 4, 4, &o, &f->failure), 0);
	assert_history(f, "1,2,3,4,5,6,7,8");
}
END_TEST

START_TEST(test_a_failure_at_the_first_statement_of_a_batch_commits_nothing_of_it)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();

	add_eight(f, 1, true);
	ck_assert_int_lt(apply(f, 8, NULL), 0);
	assert_failed_at(f, "1", "42P01", 1);
	assert_history(f, "");
	assert_tables(f, "");
	assert_told(f, "started 1");
}
END_TEST

START_TEST(test_a_failure_at_the_last_statement_of_a_batch_keeps_all_before_it)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();

	add_eight(f, 8, false);
	ck_assert_int_lt(apply(f, 8, NULL), 0);
	assert_failed_at(f, "8", "42P01", 2);
	assert_history(f, "1,2,3,4,5,6,7");
	assert_tables(f, "1,2,3,4,5,6,7");
}
END_TEST

START_TEST(test_a_file_with_a_syntax_error_runs_alone_and_is_named_with_its_line)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();

	add(f, "1_t.sql", "CREATE TABLE t_1 (id int);\n");
	add(f, "2_t.sql", "CREATE TABLE t_2 (id int);\n");
	/* Left open, its dollar quote would swallow the next file's text in a shared message. */
	add_unparsable(f, "3", "t", "CREATE TABLE t_3 (id int);\nSELECT $x$ never closed;\n");
	add(f, "4_t.sql", "SELECT $x$ closes nothing $x$;\nCREATE TABLE t_4 (id int);\n");

	ck_assert_int_lt(apply(f, 8, NULL), 0);
	assert_failed_at(f, "3", "42601", 2);
	assert_history(f, "1,2");
	assert_tables(f, "1,2");
}
END_TEST

static int cancel_after_one_second(void)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	struct itimerspec one = {.it_value = {.tv_sec = 1}};

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(timerfd_settime(fd, 0, &one, NULL), 0);
	return fd;
}

START_TEST(test_a_cancel_during_a_batch_keeps_the_committed_ones_and_rolls_back_the_one_in_flight)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();
	_cleanup_close_ int cancel = cancel_after_one_second();
	PgWaitHooks hooks = {.cancel_fd = cancel};

	for (unsigned v = 1; v <= 6; v++)
		add_t(f, v, v == 5 ? "SELECT pg_sleep(30);\n" : "");

	usec_t start = now_usec(CLOCK_MONOTONIC);
	ck_assert_int_eq(apply(f, 8, &hooks), -ECANCELED);
	ck_assert_uint_lt(now_usec(CLOCK_MONOTONIC) - start, 10 * USEC_PER_SEC);
	ck_assert_int_eq(f->failure.error.kind, PG_ERROR_CANCELED);
	ck_assert_str_eq(f->failure.migration->version, "5");
	ck_assert_int_eq(PQtransactionStatus(f->conn), PQTRANS_IDLE);
	assert_history(f, "1,2,3,4");
	assert_tables(f, "1,2,3,4");
}
END_TEST

START_TEST(test_a_no_transaction_file_between_batches_runs_alone)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();

	add(f, "1_t.sql", "CREATE TABLE t_1 (id int);\n");
	add(f, "2_t.sql", "CREATE TABLE t_2 (id int);\n");
	/* CREATE INDEX CONCURRENTLY fails in a transaction block, and in a message of several
	 * statements (an implicit one): it succeeds only alone. */
	add(f, "3_t.sql",
	    "-- deployd: no-transaction\nCREATE INDEX CONCURRENTLY i_2 ON t_2 (id);\n");
	add(f, "4_t.sql", "CREATE TABLE t_4 (id int);\n");
	add(f, "5_t.sql", "CREATE TABLE t_5 (id int);\n");

	ck_assert_int_eq(apply(f, 8, NULL), 0);
	assert_history(f, "1,2,3,4,5");
	assert_tables(f, "1,2,4,5");
	_cleanup_free_ char *valid =
		value(f, "SELECT indisvalid FROM pg_index WHERE indexrelid = '%s.i_2'::regclass",
		      f->schema);
	ck_assert_str_eq(valid, "t");
	assert_told(f, "started 1,applied 1,started 2,applied 2,started 3,applied 3,started 4,"
		       "applied 4,started 5,applied 5");
}
END_TEST

/* A file that runs DEALLOCATE ALL (in its transaction) or DISCARD ALL (alone) drops the
 * statements deployd prepared on the session: it is still recorded with its server duration,
 * and the migrations after it find them prepared again. */
START_TEST(test_a_migration_that_drops_prepared_statements_is_recorded_and_the_next_ones_run)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();

	add_t(f, 1, "");
	add_t(f, 2, "DEALLOCATE ALL;\nSELECT pg_sleep(0.2);\n");
	add_t(f, 3, "");
	add(f, "4_t.sql", "-- deployd: no-transaction\nDISCARD ALL;\n");
	add_t(f, 5, "");
	add_t(f, 6, "");

	ck_assert_int_eq(apply(f, 8, NULL), 0);
	assert_history(f, "1,2,3,4,5,6");
	assert_tables(f, "1,2,3,5,6");
	assert_told(f, "started 1,applied 1,started 2,applied 2,started 3,applied 3,started 4,"
		       "applied 4,started 5,applied 5,started 6,applied 6");
	_cleanup_free_ char *slow =
		value(f, "SELECT string_agg(version::text, ',') FROM %s WHERE duration_ms >= 200",
		      f->table);
	ck_assert_str_eq(slow, "2");
	_cleanup_free_ char *recorded = value(
		f,
		"SELECT count(*) FROM %s WHERE duration_ms IS NOT NULL AND applied_at IS NOT NULL",
		f->table);
	ck_assert_str_eq(recorded, "6");
}
END_TEST

/* The tick of the lock-wait test: once the migration session waits on a lock, note which
 * migration the observer said is in flight and what the session runs, then let it go. */
typedef struct Watch {
	Fixture *f;
	PGconn *holder;
	PGconn *look;
	int pid;
	const Migration *named;
	char *running;	/* the message it runs (pg_stat_activity may cut it short) */
	char *recorded; /* history rows committed meanwhile */
} Watch;

static int watch_tick(void *userdata)
{
	Watch *w = userdata;
	_cleanup_free_ char *sql = NULL, *count = NULL;

	if (w->named)
		return 0;
	ck_assert_int_ge(asprintf(&sql,
				  "SELECT query FROM pg_stat_activity WHERE pid = %d AND "
				  "wait_event_type = 'Lock'",
				  w->pid),
			 0);
	PGresult *res = harness_pg_query(w->look, sql);
	if (PQntuples(res) == 1) {
		w->named = w->f->in_flight;
		w->running = strdup(PQgetvalue(res, 0, 0));
		ck_assert_int_ge(asprintf(&count, "SELECT count(*) FROM %s", w->f->table), 0);
		PGresult *rows = harness_pg_query(w->look, count);
		w->recorded = strdup(PQgetvalue(rows, 0, 0));
		PQclear(rows);
		PQclear(harness_pg_query(w->holder, "ROLLBACK"));
	}
	PQclear(res);
	return 0;
}

START_TEST(test_the_migration_waiting_on_a_lock_inside_a_batch_is_the_one_named_in_flight)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();
	_cleanup_(PQfinishp) PGconn *holder = NULL, *look = NULL;

	harness_pg_exec(f->conninfo, "CREATE TABLE busy (id int)");
	holder = harness_pg_connect(f->conninfo);
	look = harness_pg_connect(f->conninfo);
	PQclear(harness_pg_query(holder, "BEGIN"));
	PQclear(harness_pg_query(holder, "SELECT * FROM busy"));
	for (unsigned v = 1; v <= 8; v++)
		add_t(f, v, v == 6 ? "ALTER TABLE busy ADD COLUMN x int;\n" : "");

	Watch w = {.f = f, .holder = holder, .look = look, .pid = PQbackendPID(f->conn)};
	PgWaitHooks hooks = {.tick_interval = 50 * USEC_PER_MSEC,
			     .tick = watch_tick,
			     .cancel_fd = -1,
			     .userdata = &w};
	ck_assert_int_eq(apply(f, 8, &hooks), 0);

	/* It waited inside the message that began with the first migration, the five before it
	 * committed meanwhile, and the observer named the one waiting. */
	ck_assert_ptr_nonnull(w.running);
	ck_assert_ptr_nonnull(strstr(w.running, "EXECUTE deployd_migration_begin('0'"));
	ck_assert_ptr_nonnull(strstr(w.running, "EXECUTE deployd_migration_begin('1'"));
	ck_assert_ptr_nonnull(strstr(w.running, "CREATE TABLE t_1 "));
	ck_assert_str_eq(w.recorded, "5");
	ck_assert_ptr_nonnull(w.named);
	ck_assert_str_eq(w.named->version, "6");
	assert_history(f, "1,2,3,4,5,6,7,8");
	assert_told(f, "started 1,applied 1,started 2,applied 2,started 3,applied 3,started 4,"
		       "applied 4,started 5,applied 5,started 6,applied 6,started 7,applied 7,"
		       "started 8,applied 8");
	free(w.running);
	free(w.recorded);
}
END_TEST

START_TEST(test_batches_grow_from_one_by_doubling_and_fall_back_to_one_after_a_slow_migration)
{
	_cleanup_(fixture_freep) Fixture *f = fixture_new();
	_cleanup_free_ char *sizes = NULL, *after_slow = NULL;

	/* Each migration records its message's statement_timestamp(): the server's own account
	 * of which migrations came in one message. */
	harness_pg_exec(f->conninfo, "CREATE TABLE seen (v int, at timestamptz)");
	for (unsigned v = 1; v <= 14; v++) {
		_cleanup_free_ char *extra = NULL;
		ck_assert_int_ge(
			asprintf(&extra, "INSERT INTO seen VALUES (%u, statement_timestamp());\n%s",
				 v, v == 4 ? "SELECT pg_sleep(0.05);\n" : ""),
			0);
		add_t(f, v, extra);
	}
	ck_assert_int_eq(apply(f, 0, NULL), 0);
	assert_history(f, "1,2,3,4,5,6,7,8,9,10,11,12,13,14");

	sizes = value(f, "SELECT string_agg(n::text, ',' ORDER BY first) FROM (SELECT min(v) AS "
			 "first, count(*) AS n FROM seen GROUP BY at) g");
	/* How the sizes go depends on what the machine counts as fast; that they start at one,
	 * never more than double, and that the slow one's batch is followed by one of one does
	 * not. */
	char *p = sizes;
	unsigned long previous = 0;
	for (size_t i = 0; *p; i++) {
		unsigned long n = strtoul(p, &p, 10);
		ck_assert_msg(i == 0 ? n == 1 : n <= 2 * previous, "batch sizes %s", sizes);
		previous = n;
		if (*p == ',')
			p++;
	}
	after_slow = value(f, "SELECT count(*) FROM seen WHERE at = (SELECT min(at) FROM seen "
			      "WHERE at > (SELECT at FROM seen WHERE v = 4))");
	ck_assert_msg(strcmp(after_slow, "1") == 0, "batch sizes %s", sizes);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("migrations-batch");
	TCase *tc = tcase_create("batch");

	tcase_set_timeout(tc, 60);
	tcase_add_test(
		tc, test_a_batch_gives_each_migration_its_own_transaction_row_and_server_duration);
	tcase_add_test(
		tc,
		test_a_failure_in_the_middle_of_a_batch_keeps_the_ones_before_and_names_its_line);
	tcase_add_test(tc, test_a_failure_at_the_first_statement_of_a_batch_commits_nothing_of_it);
	tcase_add_test(tc, test_a_failure_at_the_last_statement_of_a_batch_keeps_all_before_it);
	tcase_add_test(tc, test_a_file_with_a_syntax_error_runs_alone_and_is_named_with_its_line);
	tcase_add_test(
		tc,
		test_a_cancel_during_a_batch_keeps_the_committed_ones_and_rolls_back_the_one_in_flight);
	tcase_add_test(tc, test_a_no_transaction_file_between_batches_runs_alone);
	tcase_add_test(
		tc,
		test_a_migration_that_drops_prepared_statements_is_recorded_and_the_next_ones_run);
	tcase_add_test(
		tc, test_the_migration_waiting_on_a_lock_inside_a_batch_is_the_one_named_in_flight);
	tcase_add_test(
		tc,
		test_batches_grow_from_one_by_doubling_and_fall_back_to_one_after_a_slow_migration);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_suite(suite());
}
