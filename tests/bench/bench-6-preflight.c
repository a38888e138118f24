/* bench-6-preflight.c — what the lock preflight adds to a deploy with 200 sessions in the
 * database: 190 idle TCP sessions and 10 idle in a transaction that read the table a
 * migration alters.  One look is what deploy_preflight_locks_check() does per round: the
 * blockers query (blockers_find), this host's TCP sockets from the kernel
 * (tcp_sockets_load) and the attribution of every blocker.  6b: the lock forecast that comes
 * before the look, over 500 pending migrations that alter existing tables.  Run by
 * tests/bench/run. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "blocker-owner.h"
#include "blockers.h"
#include "forecast.h"
#include "harness.h"
#include "pg-cleanup.h"
#include "sessions.h"
#include "support.h"
#include "tcp-sockets.h"

#define ROUNDS 50
#define N_SESSIONS 200
#define N_HOLDING 10
#define DB "bench_preflight"
#define N_MIGRATIONS 500
#define FORECAST_ROUNDS 5

enum { QUERY, SOCKETS, LOOK, N_FIGURES };

/* Milliseconds of forecast_pending() over N_MIGRATIONS migrations, each altering a table of
 * its own or all the same two, median of FORECAST_ROUNDS; each forecast checked to name the
 * table of the last. */
static double forecast_ms(PGconn *conn, bool same_tables, ForecastScope scope,
			  const char *last_relation)
{
	Migration *files = calloc(N_MIGRATIONS, sizeof(Migration));
	Migration *pending[N_MIGRATIONS];
	usec_t took[FORECAST_ROUNDS];

	ck_assert_ptr_nonnull(files);
	for (int i = 0; i < N_MIGRATIONS; i++) {
		_cleanup_free_ char *path = NULL, *sql = NULL, *error = NULL;
		ck_assert_int_ge(asprintf(&path, "/bench/%04d_m.sql", i + 1), 0);
		ck_assert_int_ge(
			same_tables ? asprintf(&sql,
					       "ALTER TABLE accounts ADD COLUMN c_%d int;\n"
					       "INSERT INTO audit VALUES (%d);\n",
					       i + 1, i + 1)
				    : asprintf(&sql, "ALTER TABLE t_%d ADD COLUMN c int;\n", i + 1),
			0);
		ck_assert_msg(migrations_parse(MIGRATIONS_FORMAT_DEPLOYD, path, sql, strlen(sql),
					       &files[i], &error) == 0,
			      "%s", error);
		pending[i] = &files[i];
	}
	for (int k = 0; k < FORECAST_ROUNDS; k++) {
		Forecast *f = NULL;
		char *error = NULL;
		usec_t t0 = now_usec(CLOCK_MONOTONIC);
		ck_assert_msg(forecast_pending(conn, pending, N_MIGRATIONS, scope, &f, &error) == 0,
			      "%s", error);
		took[k] = now_usec(CLOCK_MONOTONIC) - t0;
		ck_assert_uint_ge(f->n_locks, 1);
		bool named = false;
		for (size_t j = 0; j < f->n_locks; j++)
			named = named || strcmp(f->locks[j].relation, last_relation) == 0;
		ck_assert_msg(named, "the forecast does not name %s", last_relation);
		forecast_free(f);
	}
	migrations_free(files, N_MIGRATIONS);
	return bench_median_ms(took, FORECAST_ROUNDS);
}

static void bench_forecast(void)
{
	static const struct {
		const char *what, *last_relation;
		bool same_tables;
	} sets[] = {
		{"each on a table of its own: `ALTER TABLE t_N ADD COLUMN c int`", "public.t_500",
		 false},
		{"all on the same two tables: `ALTER TABLE accounts ADD COLUMN c_N int; INSERT "
		 "INTO audit …`",
		 "public.audit", true},
	};
	_cleanup_free_ char *owner = bench_conninfo("deployer", DB);
	PGconn *conn;

	harness_pg_exec(owner, "CREATE TABLE audit (n int);"
			       "DO $$BEGIN FOR i IN 1..500 LOOP EXECUTE format("
			       "'CREATE TABLE t_%s (id int PRIMARY KEY)', i); END LOOP; END$$");
	conn = harness_pg_connect(owner);
	printf("\n### 6b. Lock forecast before the look: %d pending migrations that alter "
	       "existing tables (median of %d forecasts)\n\n",
	       N_MIGRATIONS, FORECAST_ROUNDS);
	printf("| migrations | the preflight's forecast (existing relations), ms | a dry run's "
	       "(every lock, `deployctl forecast`), ms |\n|---|---:|---:|\n");
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
		printf("| %s | %.1f | %.1f |\n", sets[i].what,
		       forecast_ms(conn, sets[i].same_tables, FORECAST_EXISTING_RELATIONS,
				   sets[i].last_relation),
		       forecast_ms(conn, sets[i].same_tables, FORECAST_EVERY_LOCK,
				   sets[i].last_relation));
	PQfinish(conn);
}

static void bench_preflight(void)
{
	static const char *const names[N_FIGURES] = {
		"blockers query (blockers_find)",
		"TCP sockets and cgroups (tcp_sockets_load)",
		"one whole look: query + sockets + attribution of every blocker",
	};
	PGconn *sessions[N_SESSIONS];
	usec_t f[N_FIGURES][ROUNDS];
	double median[N_FIGURES];
	_cleanup_free_ char *owner = NULL, *tcp = NULL;

	bench_fresh_database(DB);
	owner = bench_conninfo("deployer", DB);
	harness_pg_exec(owner, "CREATE TABLE accounts (id int PRIMARY KEY, v int);"
			       "INSERT INTO accounts SELECT g, g FROM generate_series(1, 1000) g;"
			       "GRANT SELECT ON accounts TO app_user");
	tcp = harness_db_tcp_conninfo(DB, "app_user");
	for (int i = 0; i < N_SESSIONS; i++) {
		sessions[i] = harness_pg_connect(tcp);
		if (i < N_HOLDING)
			test_exec(sessions[i], "BEGIN; SELECT count(*) FROM accounts");
	}
	PGconn *conn = harness_pg_connect(owner);
	PGresult *res = harness_pg_query(conn, "SELECT 'accounts'::regclass::oid");
	LockRequest req = {.relid = (unsigned)strtoul(PQgetvalue(res, 0, 0), NULL, 10),
			   .mode = "AccessExclusiveLock"};
	PQclear(res);

	for (int i = 0; i < ROUNDS; i++) {
		LockSnapshot *s = NULL;
		TcpSockets *t = NULL;
		char *error = NULL;
		usec_t t0 = now_usec(CLOCK_MONOTONIC);
		ck_assert_int_eq(
			blockers_find(conn, &req, 1, PQbackendPID(conn), NULL, 0, &s, &error), 0);
		usec_t t1 = now_usec(CLOCK_MONOTONIC);
		ck_assert_int_eq(tcp_sockets_load(&t), 0);
		usec_t t2 = now_usec(CLOCK_MONOTONIC);
		BlockerOwnerRules rules = {.sockets = t,
					   .server_port = (uint16_t)atoi(harness_pg_port())};
		size_t outside = 0;
		for (size_t k = 0; k < s->n_blockers; k++) {
			BlockerAttribution a = {};
			ck_assert_int_eq(blocker_owner_attribute(&s->blockers[k], &rules, &a), 0);
			outside += a.owner == BLOCKER_OWNER_OUTSIDE;
			blocker_attribution_done(&a);
		}
		usec_t t3 = now_usec(CLOCK_MONOTONIC);
		ck_assert_uint_eq(s->n_blockers, N_HOLDING);
		ck_assert_uint_eq(outside, N_HOLDING);
		f[QUERY][i] = t1 - t0;
		f[SOCKETS][i] = t2 - t1;
		f[LOOK][i] = t3 - t0;
		lockwatch_snapshot_free(s);
		tcp_sockets_free(t);
		free(error);
	}
	for (int k = 0; k < N_FIGURES; k++)
		median[k] = bench_median_ms(f[k], ROUNDS);

	printf("\n### 6. Lock preflight: %d TCP sessions, %d of them idle in a transaction on "
	       "the altered table (median of %d looks; each found all %d, attributed outside)\n\n",
	       N_SESSIONS, N_HOLDING, ROUNDS, N_HOLDING);
	printf("| what | median ms | min–max ms |\n|---|---:|---:|\n");
	for (int k = 0; k < N_FIGURES; k++)
		printf("| %s | %.2f | %.2f–%.2f |\n", names[k], median[k], f[k][0] / 1000.0,
		       f[k][ROUNDS - 1] / 1000.0);

	PQfinish(conn);
	for (int i = 0; i < N_SESSIONS; i++)
		PQfinish(sessions[i]);
	bench_forecast();
}

int main(void)
{
	return bench_main("bench-6-preflight", bench_preflight);
}
