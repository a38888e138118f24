/* test-blockers.c — who is in the way of a deploy's locks, and whose: the conflict table,
 * blockers_find() and the attribution against real sessions of a real PostgreSQL, over TCP
 * and Unix sockets, and a real unit of the test user's manager.  Expected answers come from
 * PostgreSQL itself where it can give them: two sessions really taking the two modes. */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blocker-owner.h"
#include "blockers.h"
#include "check-run.h"
#include "harness.h"
#include "lock-mode.h"
#include "pg-cleanup.h"
#include "sessions.h"
#include "tcp-sockets.h"
#include "units.h"

#define GID "deployd-blockers-test"

static char *tcp_app_user(void)
{
	return harness_db_tcp_conninfo("app", "app_user");
}

static unsigned relid_of(PGconn *conn, const char *table)
{
	_cleanup_free_ char *sql = NULL;
	PGresult *res;
	unsigned oid;

	ck_assert_int_ge(asprintf(&sql, "SELECT '%s'::regclass::oid", table), 0);
	res = harness_pg_query(conn, sql);
	oid = (unsigned)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return oid;
}

/* "ShareRowExclusiveLock" → "SHARE ROW EXCLUSIVE", as LOCK TABLE spells it. */
static void lock_syntax(LockMode m, char *buf, size_t size)
{
	const char *name = lock_mode_to_string(m);
	size_t n = 0, len = strlen(name) - strlen("Lock");

	for (size_t i = 0; i < len && n + 2 < size; i++) {
		if (i > 0 && isupper((unsigned char)name[i]))
			buf[n++] = ' ';
		buf[n++] = (char)toupper((unsigned char)name[i]);
	}
	buf[n] = '\0';
}

/* Whether PostgreSQL makes a LOCK TABLE in mode b wait behind a session holding mode a. */
static bool postgres_says_conflict(PGconn *holder, PGconn *asker, LockMode a, LockMode b)
{
	char sa[48], sb[48];
	_cleanup_free_ char *take_a = NULL, *take_b = NULL;
	bool waited;

	lock_syntax(a, sa, sizeof(sa));
	lock_syntax(b, sb, sizeof(sb));
	ck_assert_int_ge(asprintf(&take_a, "BEGIN; LOCK TABLE bl_matrix IN %s MODE", sa), 0);
	ck_assert_int_ge(asprintf(&take_b, "BEGIN; LOCK TABLE bl_matrix IN %s MODE", sb), 0);
	test_exec(holder, take_a);
	PGresult *res = PQexec(asker, take_b);
	waited = PQresultStatus(res) == PGRES_FATAL_ERROR &&
		 strcmp(PQresultErrorField(res, PG_DIAG_SQLSTATE) ?: "", "55P03") == 0;
	ck_assert_msg(waited || PQresultStatus(res) == PGRES_COMMAND_OK, "LOCK %s: %s", sb,
		      PQerrorMessage(asker));
	PQclear(res);
	test_exec(asker, "ROLLBACK");
	test_exec(holder, "ROLLBACK");
	return waited;
}

START_TEST(test_the_conflict_table_is_postgresqls_own)
{
	_cleanup_(PQfinishp) PGconn *holder = NULL, *asker = NULL;

	test_create_table("bl_matrix");
	holder = test_session(harness_app_conninfo(), "holder");
	asker = test_session(harness_app_conninfo(), "asker");
	test_exec(asker, "SET lock_timeout = '30ms'");
	for (LockMode a = LOCK_MODE_NONE + 1; a < _LOCK_MODE_MAX; a++)
		for (LockMode b = LOCK_MODE_NONE + 1; b < _LOCK_MODE_MAX; b++) {
			bool expected = postgres_says_conflict(holder, asker, a, b);
			ck_assert_msg(lock_modes_conflict(a, b) == expected,
				      "%s held, %s asked: PostgreSQL says %s",
				      lock_mode_to_string(a), lock_mode_to_string(b),
				      expected ? "conflict" : "no conflict");
		}
	for (LockMode m = LOCK_MODE_NONE + 1; m < _LOCK_MODE_MAX; m++)
		ck_assert_int_eq(lock_mode_from_string(lock_mode_to_string(m)), m);
	ck_assert_int_eq(lock_mode_from_string("SIReadLock"), LOCK_MODE_NONE);
	ck_assert(!lock_modes_conflict(LOCK_MODE_NONE, LOCK_MODE_ACCESS_EXCLUSIVE));
}
END_TEST

static LockSnapshot *find(PGconn *conn, const char *table, const char *mode)
{
	LockSnapshot *s = NULL;
	_cleanup_free_ char *error = NULL;
	LockRequest req = {.relid = relid_of(conn, table), .mode = mode};

	ck_assert_msg(blockers_find(conn, &req, 1, PQbackendPID(conn), NULL, 0, &s, &error) == 0,
		      "blockers_find: %s", error ?: "?");
	return s;
}

START_TEST(test_an_idle_reader_blocks_an_alter_but_not_a_read_and_a_writer_blocks_a_share_lock)
{
	_cleanup_(PQfinishp) PGconn *conn = harness_pg_connect(harness_app_conninfo());
	_cleanup_(PQfinishp) PGconn *reader = NULL, *writer = NULL;
	_cleanup_free_ char *tcp = tcp_app_user();
	_cleanup_(lockwatch_snapshot_freep) LockSnapshot *alter = NULL, *read = NULL,
							 *untouched = NULL, *share = NULL;

	test_create_table("bl_reader");
	test_create_table("bl_untouched");
	reader = test_session(tcp, "report");
	test_exec(reader, "BEGIN; SELECT count(*) FROM bl_reader");
	writer = test_session(harness_app_user_conninfo(), "writer");
	test_exec(writer, "BEGIN; UPDATE bl_reader SET v = v WHERE id = 1");

	alter = find(conn, "bl_reader", "AccessExclusiveLock");
	ck_assert_uint_eq(alter->n_blockers, 2);
	const LockBlocker *b = NULL;
	for (size_t i = 0; i < alter->n_blockers; i++)
		if (alter->blockers[i].blocker_pid == PQbackendPID(reader))
			b = &alter->blockers[i];
	ck_assert_ptr_nonnull(b);
	ck_assert_str_eq(b->relation, "public.bl_reader");
	ck_assert_str_eq(b->mode_held, "AccessShareLock");
	ck_assert_str_eq(b->mode_wanted, "AccessExclusiveLock");
	ck_assert_str_eq(b->state, "idle in transaction");
	ck_assert_str_eq(b->user, "app_user");
	ck_assert_str_eq(b->application, "report");
	ck_assert_ptr_nonnull(b->client);
	ck_assert_msg(strncmp(b->client, "127.0.0.1:", 10) == 0, "client %s", b->client);
	ck_assert(!b->queued);
	ck_assert(b->is_root);
	ck_assert_int_eq(b->blocked_pid, PQbackendPID(conn));

	read = find(conn, "bl_reader", "AccessShareLock");
	ck_assert_uint_eq(read->n_blockers, 0);
	untouched = find(conn, "bl_untouched", "AccessExclusiveLock");
	ck_assert_uint_eq(untouched->n_blockers, 0);
	/* CREATE INDEX's ShareLock waits for the writer's RowExclusiveLock, not the reader. */
	share = find(conn, "bl_reader", "ShareLock");
	ck_assert_uint_eq(share->n_blockers, 1);
	ck_assert_int_eq(share->blockers[0].blocker_pid, PQbackendPID(writer));
	ck_assert_str_eq(share->blockers[0].mode_held, "RowExclusiveLock");
}
END_TEST

START_TEST(test_a_prepared_transaction_shows_as_pid_0_with_its_gid)
{
	_cleanup_(PQfinishp) PGconn *conn = harness_pg_connect(harness_app_conninfo());
	_cleanup_(PQfinishp) PGconn *preparer = NULL;
	_cleanup_(lockwatch_snapshot_freep) LockSnapshot *s = NULL;
	_cleanup_free_ char *superuser_app =
		test_conninfo_with(harness_pg_conninfo(), "dbname=app");

	test_create_table("bl_prepared");
	preparer = test_session(harness_app_user_conninfo(), "preparer");
	test_exec(preparer,
		  "BEGIN; SELECT count(*) FROM bl_prepared; PREPARE TRANSACTION '" GID "'");
	s = find(conn, "bl_prepared", "AccessExclusiveLock");
	harness_pg_exec(superuser_app, "ROLLBACK PREPARED '" GID "'");
	ck_assert_uint_eq(s->n_blockers, 1);
	ck_assert_int_eq(s->blockers[0].blocker_pid, 0);
	ck_assert_str_eq(s->blockers[0].gid, GID);
	ck_assert_str_eq(s->blockers[0].state, "prepared");
	ck_assert_str_eq(s->blockers[0].user, "app_user");
	ck_assert_str_eq(s->blockers[0].mode_held, "AccessShareLock");
}
END_TEST

START_TEST(test_a_session_queued_for_a_conflicting_lock_is_in_the_way_too)
{
	_cleanup_(PQfinishp) PGconn *conn = harness_pg_connect(harness_app_conninfo());
	_cleanup_(PQfinishp) PGconn *holder = NULL, *queued = NULL;
	_cleanup_(lockwatch_snapshot_freep) LockSnapshot *s = NULL;
	_cleanup_(PQfinishp) PGconn *observer = test_observer();

	test_create_table("bl_queue");
	holder = test_session(harness_app_conninfo(), "holder");
	test_exec(holder, "BEGIN; SELECT count(*) FROM bl_queue");
	queued = test_session(harness_app_conninfo(), "queued");
	ck_assert_int_eq(PQsendQuery(queued, "BEGIN; LOCK TABLE bl_queue IN ACCESS EXCLUSIVE MODE"),
			 1);
	test_wait_until_waiting(observer, PQbackendPID(queued));

	/* A reader is not blocked by the holder, but it would queue behind the waiter. */
	s = find(conn, "bl_queue", "AccessShareLock");
	ck_assert_uint_eq(s->n_blockers, 1);
	ck_assert_int_eq(s->blockers[0].blocker_pid, PQbackendPID(queued));
	ck_assert(s->blockers[0].queued);
	ck_assert_str_eq(s->blockers[0].mode_held, "AccessExclusiveLock");
	ck_assert(!s->blockers[0].is_root);
	test_exec(holder, "ROLLBACK");
}
END_TEST

/* The id of this process's cgroup in the unified hierarchy. */
static uint64_t own_cgroup_id(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/cgroup", "re");
	char line[4096];
	uint64_t *ids = NULL;
	size_t n = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = '\0';
			ck_assert_int_eq(cgroup_ids_under(line + 3, &ids, &n), 0);
			uint64_t id = ids[0];
			free(ids);
			return id;
		}
	ck_abort_msg("no unified cgroup in /proc/self/cgroup");
	return 0;
}

static BlockerAttribution attribute(const LockBlocker *b, const BlockerOwnerRules *rules)
{
	BlockerAttribution a = {};

	ck_assert_int_eq(blocker_owner_attribute(b, rules, &a), 0);
	ck_assert_ptr_nonnull(a.reason);
	return a;
}

START_TEST(
	test_a_tcp_client_of_this_host_is_found_in_its_cgroup_and_is_outside_unless_a_unit_owns_it)
{
	_cleanup_(PQfinishp) PGconn *conn = harness_pg_connect(harness_app_conninfo());
	_cleanup_(PQfinishp) PGconn *tcp_session = NULL, *unix_session = NULL;
	_cleanup_(lockwatch_snapshot_freep) LockSnapshot *s = NULL;
	_cleanup_(tcp_sockets_freep) TcpSockets *sockets = NULL;
	_cleanup_free_ char *tcp = tcp_app_user();
	const LockBlocker *over_tcp = NULL, *over_unix = NULL;

	test_create_table("bl_owner");
	tcp_session = test_session(tcp, "console");
	unix_session = test_session(harness_app_user_conninfo(), "cron");
	test_exec(tcp_session, "BEGIN; SELECT count(*) FROM bl_owner");
	test_exec(unix_session, "BEGIN; SELECT count(*) FROM bl_owner");
	s = find(conn, "bl_owner", "AccessExclusiveLock");
	ck_assert_uint_eq(s->n_blockers, 2);
	for (size_t i = 0; i < s->n_blockers; i++) {
		if (s->blockers[i].blocker_pid == PQbackendPID(tcp_session))
			over_tcp = &s->blockers[i];
		if (s->blockers[i].blocker_pid == PQbackendPID(unix_session))
			over_unix = &s->blockers[i];
	}
	ck_assert_ptr_nonnull(over_tcp);
	ck_assert_ptr_nonnull(over_unix);
	ck_assert_str_eq(over_unix->client, "[local]");

	ck_assert_int_eq(tcp_sockets_load(&sockets), 0);
	_cleanup_free_ char *address = NULL;
	unsigned port;
	ck_assert_int_eq(blockers_client_address(over_tcp->client, &address, &port), 0);
	const TcpSocket *sock = tcp_sockets_find_local(sockets, address, (uint16_t)port,
						       (uint16_t)atoi(harness_pg_port()));
	ck_assert_ptr_nonnull(sock);
	uint64_t mine = own_cgroup_id();
	ck_assert_msg(sock->cgroup_id == mine, "socket cgroup %llu, ours %llu",
		      (unsigned long long)sock->cgroup_id, (unsigned long long)mine);
	ck_assert_uint_eq(sock->uid, getuid());

	/* Nobody's unit: outside.  Over a Unix socket: unknown. */
	BlockerOwnerRules rules = {.sockets = sockets,
				   .server_port = (uint16_t)atoi(harness_pg_port())};
	BlockerAttribution a = attribute(over_tcp, &rules);
	ck_assert_int_eq(a.owner, BLOCKER_OWNER_OUTSIDE);
	blocker_attribution_done(&a);
	a = attribute(over_unix, &rules);
	ck_assert_int_eq(a.owner, BLOCKER_OWNER_UNKNOWN);
	blocker_attribution_done(&a);

	/* A unit whose cgroup this process is in owns the TCP session. */
	BlockerOwnerUnit unit = {.name = "tests.service", .cgroup_ids = &mine, .n_cgroup_ids = 1};
	rules.units = &unit;
	rules.n_units = 1;
	a = attribute(over_tcp, &rules);
	ck_assert_int_eq(a.owner, BLOCKER_OWNER_UNITS);
	ck_assert_str_eq(a.unit, "tests.service");
	blocker_attribution_done(&a);

	/* Without the sockets (AF_NETLINK forbidden) nothing is called outside. */
	rules = (BlockerOwnerRules){};
	a = attribute(over_tcp, &rules);
	ck_assert_int_eq(a.owner, BLOCKER_OWNER_UNKNOWN);
	blocker_attribution_done(&a);

	/* services.sessions decides for what the sockets cannot tell. */
	char *users[] = {"app_*", NULL}, *apps[] = {"cr?n", NULL}, *other[] = {"api", NULL};
	rules = (BlockerOwnerRules){.users = users, .applications = apps};
	a = attribute(over_unix, &rules);
	ck_assert_int_eq(a.owner, BLOCKER_OWNER_UNITS);
	blocker_attribution_done(&a);
	rules.applications = other;
	a = attribute(over_unix, &rules);
	ck_assert_int_eq(a.owner, BLOCKER_OWNER_OUTSIDE);
	blocker_attribution_done(&a);

	/* A prepared transaction is outside whatever the plan says. */
	LockBlocker prepared = {.blocker_pid = 0, .gid = GID, .user = "app_user"};
	rules.applications = apps;
	a = attribute(&prepared, &rules);
	ck_assert_int_eq(a.owner, BLOCKER_OWNER_OUTSIDE);
	blocker_attribution_done(&a);
}
END_TEST

START_TEST(test_a_units_tcp_session_is_attributed_to_that_unit_through_its_control_group)
{
	_cleanup_(PQfinishp) PGconn *conn = harness_pg_connect(harness_app_conninfo());
	_cleanup_(units_manager_freep) UnitsManager *m = NULL;
	_cleanup_(lockwatch_snapshot_freep) LockSnapshot *s = NULL;
	_cleanup_(tcp_sockets_freep) TcpSockets *sockets = NULL;
	_cleanup_free_ char *unit = harness_unit_name("blockers-app", "service");
	_cleanup_free_ char *contents = NULL, *tcp = tcp_app_user(), *cgroup = NULL;
	uint64_t *ids = NULL;
	size_t n_ids = 0;

	test_create_table("bl_unit");
	ck_assert_int_ge(
		asprintf(&contents,
			 "[Service]\nExecStart=/bin/sh -c \"{ echo 'BEGIN; SELECT count(*) "
			 "FROM bl_unit;'; exec sleep infinity; } | exec %s/psql -X -q "
			 "'%s application_name=unit-app'\"\n",
			 harness_pg_bindir(), tcp),
		0);
	harness_write_unit(unit, contents);
	harness_daemon_reload();
	ck_assert_int_eq(harness_systemctl("start %s", unit), 0);
	harness_wait_idle_in_transaction("app", "app_user", 1);

	ck_assert_int_eq(units_connect(UNITS_BUS_USER, &m), 0);
	ck_assert_int_eq(units_control_group(m, unit, 5 * USEC_PER_SEC, -1, &cgroup), 0);
	ck_assert_int_eq(cgroup_ids_under(cgroup, &ids, &n_ids), 0);
	s = find(conn, "bl_unit", "AccessExclusiveLock");
	ck_assert_int_eq(tcp_sockets_load(&sockets), 0);
	BlockerOwnerUnit u = {.name = unit, .cgroup_ids = ids, .n_cgroup_ids = n_ids};
	BlockerOwnerRules rules = {.units = &u,
				   .n_units = 1,
				   .sockets = sockets,
				   .server_port = (uint16_t)atoi(harness_pg_port())};
	harness_systemctl("stop %s", unit);
	ck_assert_uint_eq(s->n_blockers, 1);
	ck_assert_str_eq(s->blockers[0].application, "unit-app");
	BlockerAttribution a = attribute(&s->blockers[0], &rules);
	ck_assert_msg(a.owner == BLOCKER_OWNER_UNITS, "attributed %s: %s",
		      blocker_owner_to_string(a.owner), a.reason);
	ck_assert_str_eq(a.unit, unit);
	blocker_attribution_done(&a);
	free(ids);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("blockers");
	TCase *tc = tcase_create("real");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_the_conflict_table_is_postgresqls_own);
	tcase_add_test(
		tc,
		test_an_idle_reader_blocks_an_alter_but_not_a_read_and_a_writer_blocks_a_share_lock);
	tcase_add_test(tc, test_a_prepared_transaction_shows_as_pid_0_with_its_gid);
	tcase_add_test(tc, test_a_session_queued_for_a_conflicting_lock_is_in_the_way_too);
	tcase_add_test(
		tc,
		test_a_tcp_client_of_this_host_is_found_in_its_cgroup_and_is_outside_unless_a_unit_owns_it);
	tcase_add_test(
		tc, test_a_units_tcp_session_is_attributed_to_that_unit_through_its_control_group);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run_suite(suite());
}
