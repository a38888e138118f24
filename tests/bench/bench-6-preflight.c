/* bench-6-preflight.c — what the lock preflight adds to a deploy with 200 sessions in the
 * database: 190 idle TCP sessions and 10 idle in a transaction that read the table a
 * migration alters.  One look is what deploy_preflight_locks_check() does per round: the
 * blockers query (blockers_find), this host's TCP sockets from the kernel
 * (tcp_sockets_load) and the attribution of every blocker.  Run by tests/bench/run. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "blocker-owner.h"
#include "blockers.h"
#include "harness.h"
#include "pg-cleanup.h"
#include "sessions.h"
#include "support.h"
#include "tcp-sockets.h"

#define ROUNDS 50
#define N_SESSIONS 200
#define N_HOLDING 10
#define DB "bench_preflight"

enum { QUERY, SOCKETS, LOOK, N_FIGURES };

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
}

int main(void)
{
	return bench_main("bench-6-preflight", bench_preflight);
}
