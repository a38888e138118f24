/* test-forecast-corpus.c — the lock forecast agrees with PostgreSQL itself.
 *
 * Each corpus entry is a migration file's text.  In a database of its own holding a schema
 * with foreign keys, triggers, views, a materialized view, partitions, inheritance, two
 * schemas with a table of the same name and quoted names, the forecast is taken first; then
 * the entry runs in a transaction, and before ROLLBACK the backend's own pg_locks rows
 * (strongest mode per relation that existed before), the relfilenodes and the sequential
 * scans of the transaction (pg_stat_xact_user_tables) are read: that is the expected answer.
 * The test fails on any disagreement and prints the share of entries exactly right. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check-run.h"
#include "forecast.h"
#include "harness.h"
#include "migrations.h"
#include "sessions.h"

static const char schema_sql[] =
	"CREATE SCHEMA shop;\n"
	"CREATE SCHEMA \"Audit Log\";\n"
	"CREATE TABLE shop.accounts (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE,\n"
	"  name varchar(50), balance numeric(10,2) DEFAULT 0, note text);\n"
	"CREATE INDEX accounts_name_idx ON shop.accounts (lower(name));\n"
	"CREATE TABLE shop.orders (id serial PRIMARY KEY, account_id bigint REFERENCES "
	"shop.accounts (id),\n"
	"  total numeric(12,2), status text, created_at timestamptz DEFAULT now());\n"
	"CREATE INDEX orders_account_idx ON shop.orders (account_id);\n"
	"CREATE TABLE shop.order_lines (order_id int REFERENCES shop.orders (id) ON DELETE "
	"CASCADE,\n"
	"  sku text, qty int, PRIMARY KEY (order_id, sku));\n"
	"CREATE TABLE shop.tags (id int, label text);\n"
	"CREATE TABLE shop.\"Mixed Case\" (id int);\n"
	"CREATE TABLE \"Audit Log\".\"Events\" (id int GENERATED ALWAYS AS IDENTITY PRIMARY "
	"KEY,\n"
	"  \"Kind\" text, at timestamptz);\n"
	"CREATE TABLE public.settings (key text PRIMARY KEY, value text);\n"
	"CREATE TABLE shop.settings (key text, value text);\n"
	"CREATE TABLE shop.measurements (city int, at date, reading int) PARTITION BY RANGE "
	"(at);\n"
	"CREATE TABLE shop.measurements_2025 PARTITION OF shop.measurements\n"
	"  FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');\n"
	"CREATE TABLE shop.measurements_2026 PARTITION OF shop.measurements\n"
	"  FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');\n"
	"CREATE INDEX measurements_at_idx ON shop.measurements (at);\n"
	"CREATE TABLE shop.measurements_2024 (city int, at date, reading int);\n"
	"CREATE TABLE shop.parent_inh (id int);\n"
	"CREATE TABLE shop.child_inh () INHERITS (shop.parent_inh);\n"
	"CREATE VIEW shop.account_totals AS SELECT a.id, sum(o.total) AS total\n"
	"  FROM shop.accounts a JOIN shop.orders o ON o.account_id = a.id GROUP BY a.id;\n"
	"CREATE MATERIALIZED VIEW shop.order_stats AS SELECT status, count(*) FROM shop.orders "
	"GROUP BY status;\n"
	"CREATE UNIQUE INDEX order_stats_status ON shop.order_stats (status);\n"
	"CREATE FUNCTION shop.audit() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; "
	"END$$;\n"
	"CREATE TRIGGER orders_audit AFTER INSERT ON shop.orders FOR EACH ROW EXECUTE FUNCTION "
	"shop.audit();\n"
	"INSERT INTO shop.accounts (email, name) VALUES ('a@x', 'A'), ('b@x', 'B'), ('c@x', "
	"'C');\n"
	"INSERT INTO shop.orders (account_id, total, status) VALUES (1, 10, 'new'), (2, 20, "
	"'paid'), (1, 30, 'paid');\n"
	"INSERT INTO shop.order_lines VALUES (1, 'x', 1), (2, 'y', 2), (3, 'z', 3);\n"
	"INSERT INTO shop.tags VALUES (1, 'one'), (2, 'two');\n"
	"INSERT INTO \"Audit Log\".\"Events\" (\"Kind\", at) VALUES ('boot', now());\n"
	"INSERT INTO public.settings VALUES ('a', '1'); INSERT INTO shop.settings VALUES ('a', "
	"'2');\n"
	"INSERT INTO shop.measurements VALUES (1, '2025-06-01', 5), (2, '2026-06-01', 6);\n"
	"INSERT INTO shop.measurements_2024 VALUES (1, '2024-06-01', 4);\n"
	"INSERT INTO shop.parent_inh VALUES (1); INSERT INTO shop.child_inh VALUES (2);\n"
	"ALTER TABLE shop.order_lines ADD CONSTRAINT qty_positive CHECK (qty > 0) NOT VALID;\n"
	"ALTER TABLE shop.settings ADD CONSTRAINT settings_key_fk FOREIGN KEY (key)\n"
	"  REFERENCES public.settings (key) NOT VALID;\n"
	"REFRESH MATERIALIZED VIEW shop.order_stats;\n"
	"ANALYZE;\n";

typedef struct Entry {
	const char *search_path; /* the session's, NULL: the default */
	const char *sql;
} Entry;

static const Entry corpus[] = {
	/* ALTER TABLE: columns */
	{NULL, "ALTER TABLE shop.accounts ADD COLUMN nickname text"},
	{NULL, "ALTER TABLE shop.accounts ADD COLUMN flag boolean NOT NULL DEFAULT false"},
	{NULL, "ALTER TABLE shop.accounts ADD COLUMN token uuid DEFAULT gen_random_uuid()"},
	{NULL, "ALTER TABLE shop.accounts ADD COLUMN seq_no bigserial"},
	{NULL, "ALTER TABLE shop.accounts ADD COLUMN seen timestamptz DEFAULT now()"},
	{NULL, "ALTER TABLE shop.accounts DROP COLUMN note"},
	{NULL, "ALTER TABLE shop.accounts DROP COLUMN name"},
	{NULL, "ALTER TABLE shop.accounts ALTER COLUMN name TYPE varchar(100)"},
	{NULL, "ALTER TABLE shop.accounts ALTER COLUMN name TYPE text"},
	{NULL, "ALTER TABLE shop.accounts ALTER COLUMN name TYPE varchar(10)"},
	{NULL, "ALTER TABLE shop.accounts ALTER COLUMN balance TYPE numeric(14,2)"},
	{NULL, "ALTER TABLE shop.accounts ALTER COLUMN balance TYPE float8"},
	{NULL, "ALTER TABLE shop.order_lines ALTER COLUMN order_id TYPE bigint"},
	{NULL, "ALTER TABLE shop.orders ALTER COLUMN id TYPE bigint"},
	{NULL, "ALTER TABLE shop.accounts ALTER COLUMN name SET NOT NULL"},
	{NULL, "ALTER TABLE shop.accounts ALTER COLUMN email DROP NOT NULL"},
	{NULL, "ALTER TABLE shop.accounts ALTER COLUMN balance SET DEFAULT 10"},
	{NULL, "ALTER TABLE shop.accounts ALTER COLUMN balance DROP DEFAULT"},
	{NULL, "ALTER TABLE shop.orders ALTER COLUMN status SET STATISTICS 500"},
	{NULL, "ALTER TABLE shop.orders RENAME COLUMN status TO state"},
	/* ALTER TABLE: constraints and foreign keys */
	{NULL, "ALTER TABLE shop.accounts ADD CONSTRAINT balance_positive CHECK (balance >= 0)"},
	{NULL, "ALTER TABLE shop.accounts ADD CONSTRAINT balance_positive CHECK (balance >= 0) "
	       "NOT VALID"},
	{NULL, "ALTER TABLE shop.tags ADD CONSTRAINT tags_pk PRIMARY KEY (id)"},
	{NULL, "ALTER TABLE shop.tags ADD CONSTRAINT tags_label_key UNIQUE (label)"},
	{NULL, "ALTER TABLE shop.tags ADD CONSTRAINT tags_account_fk FOREIGN KEY (id) "
	       "REFERENCES shop.accounts (id)"},
	{NULL, "ALTER TABLE shop.tags ADD CONSTRAINT tags_account_fk FOREIGN KEY (id) "
	       "REFERENCES shop.accounts (id) NOT VALID"},
	{NULL, "ALTER TABLE shop.orders VALIDATE CONSTRAINT orders_account_id_fkey"},
	{NULL, "ALTER TABLE shop.order_lines VALIDATE CONSTRAINT qty_positive"},
	{NULL, "ALTER TABLE shop.settings VALIDATE CONSTRAINT settings_key_fk"},
	{NULL, "ALTER TABLE shop.orders DROP CONSTRAINT orders_account_id_fkey"},
	{NULL, "ALTER TABLE shop.order_lines DROP CONSTRAINT order_lines_pkey"},
	{NULL, "ALTER TABLE shop.tags ADD COLUMN account_id bigint REFERENCES shop.accounts "
	       "(id)"},
	/* ALTER TABLE: other subcommands */
	{NULL, "ALTER TABLE shop.tags RENAME TO labels"},
	{NULL, "ALTER INDEX shop.orders_account_idx RENAME TO orders_by_account"},
	{NULL, "ALTER TABLE shop.orders DISABLE TRIGGER orders_audit"},
	{NULL, "ALTER TABLE shop.orders SET (fillfactor = 80)"},
	{NULL, "ALTER TABLE shop.orders SET (autovacuum_enabled = false)"},
	{NULL, "ALTER TABLE shop.orders ENABLE ROW LEVEL SECURITY"},
	{NULL, "ALTER TABLE shop.orders CLUSTER ON orders_account_idx"},
	{NULL, "ALTER TABLE shop.tags SET UNLOGGED"},
	/* Indexes */
	{NULL, "CREATE INDEX ON shop.orders (status)"},
	{NULL, "CREATE UNIQUE INDEX tags_id_key ON shop.tags (id)"},
	{NULL, "CREATE INDEX ON shop.measurements (city)"},
	{NULL, "DROP INDEX shop.orders_account_idx"},
	{NULL, "REINDEX INDEX shop.orders_account_idx"},
	{NULL, "REINDEX TABLE shop.orders"},
	/* Tables, partitions, inheritance */
	{NULL, "CREATE TABLE shop.invoices (id int PRIMARY KEY, order_id int REFERENCES "
	       "shop.orders (id))"},
	{NULL, "CREATE TABLE shop.accounts_copy (LIKE shop.accounts INCLUDING ALL)"},
	{NULL, "CREATE TABLE shop.measurements_2027 PARTITION OF shop.measurements\n"
	       "  FOR VALUES FROM ('2027-01-01') TO ('2028-01-01')"},
	{NULL, "ALTER TABLE shop.measurements ATTACH PARTITION shop.measurements_2024\n"
	       "  FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')"},
	{NULL, "ALTER TABLE shop.measurements DETACH PARTITION shop.measurements_2025"},
	{NULL, "ALTER TABLE shop.measurements ADD COLUMN unit text"},
	{NULL, "ALTER TABLE shop.parent_inh ADD COLUMN extra int"},
	{NULL, "DROP TABLE shop.order_lines"},
	{NULL, "DROP TABLE shop.tags"},
	{NULL, "TRUNCATE shop.tags"},
	{NULL, "TRUNCATE shop.order_lines"},
	/* Views, materialized views */
	{NULL, "CREATE VIEW shop.big_orders AS SELECT * FROM shop.orders WHERE total > 100"},
	{NULL, "CREATE OR REPLACE VIEW shop.account_totals AS SELECT a.id, sum(o.total) AS "
	       "total\n"
	       "  FROM shop.accounts a JOIN shop.orders o ON o.account_id = a.id GROUP BY a.id"},
	{NULL, "DROP VIEW shop.account_totals"},
	{NULL, "CREATE MATERIALIZED VIEW shop.tag_stats AS SELECT label, count(*) FROM "
	       "shop.tags GROUP BY label"},
	{NULL, "REFRESH MATERIALIZED VIEW shop.order_stats"},
	{NULL, "REFRESH MATERIALIZED VIEW CONCURRENTLY shop.order_stats"},
	{NULL, "DROP MATERIALIZED VIEW shop.order_stats"},
	{NULL, "SELECT count(*) FROM shop.account_totals"},
	/* Triggers, policies, comments, statistics, grants, explicit locks */
	{NULL, "CREATE TRIGGER tags_audit BEFORE INSERT ON shop.tags FOR EACH ROW EXECUTE "
	       "FUNCTION shop.audit()"},
	{NULL, "DROP TRIGGER orders_audit ON shop.orders"},
	{NULL, "CREATE POLICY own_orders ON shop.orders USING (true)"},
	{NULL, "COMMENT ON TABLE shop.orders IS 'orders'"},
	{NULL, "COMMENT ON COLUMN shop.orders.status IS 'state'"},
	{NULL, "CREATE STATISTICS shop.orders_stats ON account_id, status FROM shop.orders"},
	{NULL, "GRANT SELECT ON shop.orders TO PUBLIC"},
	{NULL, "LOCK TABLE shop.orders IN SHARE MODE"},
	{NULL, "LOCK TABLE shop.measurements IN ACCESS EXCLUSIVE MODE"},
	{NULL, "ANALYZE shop.orders"},
	/* DML and the foreign keys' checks */
	{NULL, "INSERT INTO shop.accounts (email, name) VALUES ('new@x', 'New')"},
	{NULL, "INSERT INTO shop.orders (account_id, total, status) VALUES (1, 10, 'new')"},
	{NULL, "INSERT INTO shop.tags SELECT id, email FROM shop.accounts"},
	{NULL, "UPDATE shop.accounts SET balance = balance + 1 WHERE id = 1"},
	{NULL, "UPDATE shop.accounts SET id = id + 100 WHERE id = 3"},
	{NULL, "UPDATE shop.orders SET account_id = 2 WHERE id = 1"},
	{NULL, "DELETE FROM shop.orders WHERE id = 3"},
	{NULL, "DELETE FROM shop.accounts WHERE id = 3"},
	{NULL, "SELECT * FROM shop.orders FOR UPDATE"},
	{NULL, "UPDATE shop.measurements SET reading = 0"},
	{NULL, "DELETE FROM shop.parent_inh"},
	{NULL, "SELECT * FROM ONLY shop.parent_inh"},
	{NULL, "WITH x AS (SELECT id FROM shop.accounts)\n"
	       "UPDATE shop.orders SET status = 'y' FROM x WHERE orders.account_id = x.id"},
	/* Quoted names, search_path */
	{NULL, "ALTER TABLE \"Audit Log\".\"Events\" ADD COLUMN \"Detail\" text"},
	{NULL, "INSERT INTO \"Audit Log\".\"Events\" (\"Kind\", at) VALUES ('x', now())"},
	{NULL, "ALTER TABLE \"Audit Log\".\"Events\" RENAME COLUMN \"Kind\" TO \"Type\""},
	{NULL, "CREATE INDEX \"Events_Kind\" ON \"Audit Log\".\"Events\" (\"Kind\")"},
	{NULL, "ALTER TABLE shop.\"Mixed Case\" ADD COLUMN x int"},
	{"shop, public", "ALTER TABLE settings ADD COLUMN extra int"},
	{"shop, public", "INSERT INTO tags VALUES (9, 'z')"},
	{NULL, "ALTER TABLE settings ADD COLUMN extra int"},
	{NULL, "SET search_path = shop, public;\nALTER TABLE settings ADD COLUMN extra int"},
	{NULL, "SET LOCAL search_path = \"Audit Log\";\nUPDATE \"Events\" SET at = now()"},
	/* More shapes migrations take */
	{NULL, "ALTER TABLE shop.tags ADD COLUMN c int, ADD COLUMN d text DEFAULT 'x'"},
	{NULL, "ALTER TABLE IF EXISTS shop.missing ADD COLUMN x int"},
	{NULL, "DROP TABLE IF EXISTS shop.missing"},
	{NULL, "INSERT INTO public.settings VALUES ('a', '9') ON CONFLICT (key) DO UPDATE SET "
	       "value = EXCLUDED.value"},
	{NULL, "UPDATE shop.orders o SET total = 0 WHERE EXISTS (SELECT 1 FROM shop.order_lines l "
	       "WHERE l.order_id = o.id)"},
	{NULL, "DELETE FROM shop.order_lines WHERE order_id IN (SELECT id FROM shop.orders WHERE "
	       "status = 'paid')"},
	{NULL, "ALTER TABLE shop.order_lines ALTER COLUMN sku TYPE varchar(20)"},
	{NULL, "SELECT nextval('shop.orders_id_seq'), currval('shop.orders_id_seq')"},
	{NULL, "ALTER TABLE shop.tags INHERIT shop.parent_inh"},
	{NULL, "ALTER TABLE shop.orders ADD CONSTRAINT orders_total_check CHECK (total > 0), "
	       "ALTER COLUMN status SET NOT NULL"},
	{NULL, "ALTER TABLE shop.order_stats RENAME TO order_summary"},
	{NULL, "ALTER MATERIALIZED VIEW shop.order_stats RENAME TO order_summary"},
	{NULL, "ALTER VIEW shop.account_totals RENAME TO totals"},
	{NULL, "ALTER SEQUENCE shop.orders_id_seq RESTART WITH 1000"},
	{NULL, "SELECT setval('shop.orders_id_seq', 500)"},
	{NULL, "CREATE INDEX orders_lower_status ON shop.orders (lower(status)) WHERE total > 0"},
	{NULL, "ALTER TABLE shop.accounts ADD COLUMN ref int GENERATED ALWAYS AS IDENTITY"},
	{NULL, "COMMENT ON INDEX shop.orders_account_idx IS 'by account'"},
	{NULL, "ALTER TABLE shop.child_inh NO INHERIT shop.parent_inh"},
	{NULL, "TRUNCATE shop.parent_inh"},
	/* Files of several statements */
	{NULL, "ALTER TABLE shop.tags ADD COLUMN c int;\nUPDATE shop.tags SET c = 1;\n"
	       "CREATE INDEX ON shop.tags (c);"},
	{NULL, "CREATE TABLE shop.t_new (id int);\nALTER TABLE shop.t_new ADD COLUMN y int;\n"
	       "INSERT INTO shop.t_new VALUES (1, 2);"},
	{NULL, "-- deployd: lock_timeout=5s\r\nALTER TABLE shop.orders ADD COLUMN note text;\r\n"
	       "UPDATE shop.orders SET note = 'é';\r\n"},
};

typedef struct Rel {
	uint32_t oid;
	char *name;
	char relkind;
	char *relfilenode;
	LockMode held;	/* strongest mode held after the entry ran */
	long seq_scans; /* the transaction's sequential scans of it before the entry ran */
	LockMode forecast;
	bool scanned;
} Rel;

typedef struct Snapshot {
	Rel *rels;
	size_t n;
} Snapshot;

static void snapshot_done(Snapshot *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->rels[i].name);
		free(s->rels[i].relfilenode);
	}
	free(s->rels);
}

static Rel *find_rel(Snapshot *s, uint32_t oid)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->rels[i].oid == oid)
			return &s->rels[i];
	return NULL;
}

#define USER_RELATIONS                                                                             \
	"SELECT c.oid, format('%I.%I', n.nspname, c.relname), c.relkind, c.relfilenode\n"          \
	"FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace\n"                          \
	"WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')\n"                \
	"  AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%'"

#define SEQ_SCANS "SELECT relid, seq_scan FROM pg_stat_xact_user_tables"

static Snapshot take_snapshot(PGconn *conn)
{
	PGresult *res = harness_pg_query(conn, USER_RELATIONS);
	Snapshot s = {.n = (size_t)PQntuples(res)};

	s.rels = calloc(s.n + 1, sizeof(Rel));
	ck_assert_ptr_nonnull(s.rels);
	for (size_t i = 0; i < s.n; i++) {
		s.rels[i].oid = (uint32_t)strtoul(PQgetvalue(res, (int)i, 0), NULL, 10);
		s.rels[i].name = strdup(PQgetvalue(res, (int)i, 1));
		s.rels[i].relkind = PQgetvalue(res, (int)i, 2)[0];
		s.rels[i].relfilenode = strdup(PQgetvalue(res, (int)i, 3));
	}
	PQclear(res);
	return s;
}

static char *database;
static char *conninfo;

static void setup(void)
{
	ck_assert_int_ge(asprintf(&database, "forecast_%s", harness_run_id()), 0);
	for (char *p = database; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			*p = '_';
	/* Two statements: DROP/CREATE DATABASE cannot run in one transaction. */
	_cleanup_(PQfinishp) PGconn *admin = harness_pg_connect(harness_pg_conninfo());
	_cleanup_free_ char *drop = NULL, *make = NULL;
	ck_assert_int_ge(asprintf(&drop, "DROP DATABASE IF EXISTS %s", database), 0);
	ck_assert_int_ge(asprintf(&make, "CREATE DATABASE %s", database), 0);
	PQclear(harness_pg_query(admin, drop));
	PQclear(harness_pg_query(admin, make));
	conninfo = harness_db_conninfo(database, "postgres");
	harness_pg_exec(conninfo, schema_sql);
}

static void teardown(void)
{
	_cleanup_(PQfinishp) PGconn *admin = harness_pg_connect(harness_pg_conninfo());
	_cleanup_free_ char *drop = NULL;

	ck_assert_int_ge(asprintf(&drop, "DROP DATABASE IF EXISTS %s WITH (FORCE)", database), 0);
	PQclear(harness_pg_query(admin, drop));
	free(conninfo);
	free(database);
}

/* The modes held on each relation of s, into held[] (indexed like s->rels), as bit sets. */
static void read_locks(PGconn *conn, Snapshot *s, unsigned *held)
{
	PGresult *res = harness_pg_query(
		conn, "SELECT relation, mode FROM pg_locks WHERE pid = pg_backend_pid()\n"
		      "AND locktype = 'relation' AND database = (SELECT oid FROM pg_database "
		      "WHERE datname = current_database())");

	memset(held, 0, s->n * sizeof(unsigned));
	for (int i = 0; i < PQntuples(res); i++) {
		Rel *r = find_rel(s, (uint32_t)strtoul(PQgetvalue(res, i, 0), NULL, 10));
		if (r)
			held[r - s->rels] |= 1u << lock_mode_from_string(PQgetvalue(res, i, 1));
	}
	PQclear(res);
}

static LockMode strongest(unsigned modes)
{
	LockMode m = LOCK_MODE_NONE;

	for (LockMode x = LOCK_MODE_ACCESS_SHARE; x < _LOCK_MODE_MAX; x++)
		if (modes & (1u << x))
			m = x;
	return m;
}

/* What PostgreSQL did for one statement: did it give a table a new relfilenode, did it read
 * a table in full under a lock of its own of ShareUpdateExclusiveLock or stronger (the
 * locks a DDL statement takes; a query's or DML's are weaker). */
static void run_statement(PGconn *conn, Snapshot *s, const char *sql, bool *ret_rewrite,
			  bool *ret_scan, char **ret_error)
{
	_cleanup_free_ unsigned *before = calloc(s->n + 1, sizeof(unsigned));
	_cleanup_free_ unsigned *after = calloc(s->n + 1, sizeof(unsigned));
	_cleanup_free_ long *scans = calloc(s->n + 1, sizeof(long));
	PGresult *res;

	ck_assert(before && after && scans);
	*ret_rewrite = *ret_scan = false;
	read_locks(conn, s, before);
	/* The counters hold scans of earlier transactions not yet reported: count this one's. */
	res = harness_pg_query(conn, SEQ_SCANS);
	for (int i = 0; i < PQntuples(res); i++) {
		Rel *r = find_rel(s, (uint32_t)strtoul(PQgetvalue(res, i, 0), NULL, 10));
		if (r)
			scans[r - s->rels] = strtol(PQgetvalue(res, i, 1), NULL, 10);
	}
	PQclear(res);
	res = harness_pg_query(conn, USER_RELATIONS);
	for (int i = 0; i < PQntuples(res); i++) {
		Rel *r = find_rel(s, (uint32_t)strtoul(PQgetvalue(res, i, 0), NULL, 10));
		if (r) {
			free(r->relfilenode);
			r->relfilenode = strdup(PQgetvalue(res, i, 3));
		}
	}
	PQclear(res);

	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		*ret_error = strdup(PQresultErrorMessage(res));
		PQclear(res);
		return;
	}
	PQclear(res);

	read_locks(conn, s, after);
	for (size_t i = 0; i < s->n; i++)
		if (strongest(after[i]) > s->rels[i].held)
			s->rels[i].held = strongest(after[i]);
	res = harness_pg_query(conn, USER_RELATIONS);
	for (int i = 0; i < PQntuples(res); i++) {
		Rel *r = find_rel(s, (uint32_t)strtoul(PQgetvalue(res, i, 0), NULL, 10));
		if (r && (r->relkind == 'r' || r->relkind == 'm') &&
		    strcmp(r->relfilenode, PQgetvalue(res, i, 3)) != 0)
			*ret_rewrite = true;
	}
	PQclear(res);
	res = harness_pg_query(conn, SEQ_SCANS);
	for (int i = 0; i < PQntuples(res); i++) {
		Rel *r = find_rel(s, (uint32_t)strtoul(PQgetvalue(res, i, 0), NULL, 10));
		if (!r || strtol(PQgetvalue(res, i, 1), NULL, 10) <= scans[r - s->rels])
			continue;
		size_t k = (size_t)(r - s->rels);
		/* The statement's own lock: the modes it added, else (it asked for modes the
		 * transaction already held) what was held. */
		LockMode own = strongest(after[k] & ~before[k]) ?: strongest(before[k]);
		if (own >= LOCK_MODE_SHARE_UPDATE_EXCLUSIVE)
			*ret_scan = true;
	}
	PQclear(res);
}

/* Runs one entry; true when the forecast agrees.  A disagreement is described in *report. */
static bool check_entry(PGconn *conn, size_t index, const Entry *e, FILE *report)
{
	_cleanup_free_ char *path = NULL, *error = NULL, *set = NULL;
	_cleanup_(migration_done) Migration m = {};
	_cleanup_(forecast_freep) Forecast *f = NULL;
	_cleanup_(snapshot_done) Snapshot s = {};
	bool ok = true;

	ck_assert_int_ge(asprintf(&path, "/corpus/%zu_entry.sql", index + 1), 0);
	ck_assert_msg(migrations_parse(MIGRATIONS_FORMAT_DEPLOYD, path, e->sql, strlen(e->sql), &m,
				       &error) == 0,
		      "%s", error);
	ck_assert_int_ge(
		asprintf(&set, "SET search_path = %s", e->search_path ?: "\"$user\", public"), 0);
	PQclear(harness_pg_query(conn, set));
	Migration *pending[] = {&m};
	ck_assert_msg(forecast_pending(conn, pending, 1, FORECAST_EVERY_LOCK, &f, &error) == 0,
		      "%s: %s", e->sql, error);
	ck_assert_int_eq(PQtransactionStatus(conn), PQTRANS_IDLE);
	ck_assert_uint_eq(f->n_migrations, 1);
	ck_assert_uint_eq(f->migrations[0].n_statements, m.n_statements);

	PQclear(harness_pg_query(conn, "BEGIN"));
	s = take_snapshot(conn);
	for (size_t i = 0; i < m.n_statements; i++) {
		const ForecastStatement *st = &f->migrations[0].statements[i];
		_cleanup_free_ char *sql = strndup(m.sql + m.statements[i].offset,
						   m.statements[i].end - m.statements[i].offset);
		_cleanup_free_ char *failed = NULL;
		bool rewrite, scan;

		ck_assert_ptr_nonnull(sql);
		run_statement(conn, &s, sql, &rewrite, &scan, &failed);
		if (failed) {
			fprintf(report, "#%zu %s\n  failed to run: %s\n", index + 1, e->sql,
				failed);
			PQclear(harness_pg_query(conn, "ROLLBACK"));
			return false;
		}
		if (rewrite != st->rewrite || scan != st->scan) {
			if (ok)
				fprintf(report, "#%zu %s\n", index + 1, e->sql);
			ok = false;
			fprintf(report,
				"  line %u: rewrite: PostgreSQL %d, forecast %d; scan: PostgreSQL "
				"%d, forecast %d\n",
				st->line, rewrite, st->rewrite, scan, st->scan);
		}
		for (size_t k = 0; k < st->n_locks; k++) {
			Rel *r = find_rel(&s, st->locks[k].relid);
			if (r && st->locks[k].mode > r->forecast)
				r->forecast = st->locks[k].mode;
		}
	}
	PQclear(harness_pg_query(conn, "ROLLBACK"));

	for (size_t i = 0; i < s.n; i++)
		if (s.rels[i].held != s.rels[i].forecast) {
			if (ok)
				fprintf(report, "#%zu %s\n", index + 1, e->sql);
			ok = false;
			fprintf(report, "  %s: PostgreSQL %s, forecast %s\n", s.rels[i].name,
				lock_mode_to_string(s.rels[i].held) ?: "no lock",
				lock_mode_to_string(s.rels[i].forecast) ?: "no lock");
		}
	return ok;
}

START_TEST(test_the_forecast_of_every_corpus_entry_matches_postgresql_own_locks)
{
	_cleanup_(PQfinishp) PGconn *conn = harness_pg_connect(conninfo);
	_cleanup_free_ char *report = NULL;
	size_t size = 0, right = 0;
	FILE *out = open_memstream(&report, &size);

	ck_assert_ptr_nonnull(out);
	ck_assert_uint_ge(ELEMENTSOF(corpus), 60);
	for (size_t i = 0; i < ELEMENTSOF(corpus); i++)
		right += check_entry(conn, i, &corpus[i], out);
	fclose(out);
	printf("forecast corpus: %zu of %zu entries exactly right (%.1f %%)\n", right,
	       ELEMENTSOF(corpus), 100.0 * (double)right / (double)ELEMENTSOF(corpus));
	if (right != ELEMENTSOF(corpus))
		fprintf(stderr, "forecast disagrees with PostgreSQL:\n%s", report);
	ck_assert_msg(right == ELEMENTSOF(corpus), "%zu entries disagree (listed above)",
		      ELEMENTSOF(corpus) - right);
}
END_TEST

/* The preflight leaves out what no one else can hold (a new table's lock); the flat list it
 * judges by must come out the same as the full forecast's. */
START_TEST(test_the_preflights_forecast_of_every_corpus_entry_gives_the_same_flat_locks)
{
	_cleanup_(PQfinishp) PGconn *conn = harness_pg_connect(conninfo);
	size_t created_tables = 0;

	for (size_t i = 0; i < ELEMENTSOF(corpus); i++) {
		const Entry *e = &corpus[i];
		_cleanup_free_ char *path = NULL, *error = NULL, *set = NULL;
		_cleanup_(migration_done) Migration m = {};
		_cleanup_(forecast_freep) Forecast *every = NULL, *existing = NULL;
		Migration *pending[] = {&m};

		ck_assert_int_ge(asprintf(&path, "/corpus/%zu_entry.sql", i + 1), 0);
		ck_assert_msg(migrations_parse(MIGRATIONS_FORMAT_DEPLOYD, path, e->sql,
					       strlen(e->sql), &m, &error) == 0,
			      "%s", error);
		ck_assert_int_ge(asprintf(&set, "SET search_path = %s",
					  e->search_path ?: "\"$user\", public"),
				 0);
		PQclear(harness_pg_query(conn, set));
		ck_assert_msg(forecast_pending(conn, pending, 1, FORECAST_EVERY_LOCK, &every,
					       &error) == 0,
			      "%s: %s", e->sql, error);
		ck_assert_msg(forecast_pending(conn, pending, 1, FORECAST_EXISTING_RELATIONS,
					       &existing, &error) == 0,
			      "%s: %s", e->sql, error);
		ck_assert_msg(every->n_locks == existing->n_locks, "%s: %zu locks, preflight %zu",
			      e->sql, every->n_locks, existing->n_locks);
		for (size_t k = 0; k < every->n_locks; k++) {
			ck_assert_msg(every->locks[k].relid == existing->locks[k].relid &&
					      every->locks[k].mode == existing->locks[k].mode,
				      "%s: lock %zu differs", e->sql, k);
			ck_assert_str_eq(every->locks[k].relation, existing->locks[k].relation);
		}
		created_tables += strstr(e->sql, "CREATE TABLE") != NULL;
	}
	/* The corpus does exercise what the preflight leaves out. */
	ck_assert_uint_gt(created_tables, 0);
}
END_TEST

static Forecast *forecast_texts(PGconn *conn, const char *const *texts, size_t n)
{
	Migration *files = calloc(n, sizeof(Migration));
	Migration **pending = calloc(n, sizeof(Migration *));
	_cleanup_free_ char *error = NULL;
	Forecast *f = NULL;

	ck_assert(files && pending);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = NULL;
		ck_assert_int_ge(asprintf(&path, "/corpus/%zu_file.sql", i + 1), 0);
		ck_assert_msg(migrations_parse(MIGRATIONS_FORMAT_DEPLOYD, path, texts[i],
					       strlen(texts[i]), &files[i], &error) == 0,
			      "%s", error);
		pending[i] = &files[i];
	}
	ck_assert_msg(forecast_pending(conn, pending, n, FORECAST_EVERY_LOCK, &f, &error) == 0,
		      "%s", error);
	migrations_free(files, n);
	free(pending);
	return f;
}

START_TEST(test_a_statement_not_understood_is_assumed_to_take_access_exclusive_on_what_it_names)
{
	_cleanup_(PQfinishp) PGconn *conn = harness_pg_connect(conninfo);
	static const char *const texts[] = {
		"CLUSTER shop.orders USING orders_pkey;\n"
		"DO $$BEGIN PERFORM 1; END$$;\n",
	};
	_cleanup_(forecast_freep) Forecast *f = forecast_texts(conn, texts, 1);
	const ForecastStatement *cluster = &f->migrations[0].statements[0];
	const ForecastStatement *block = &f->migrations[0].statements[1];

	ck_assert(cluster->unknown);
	ck_assert_uint_eq(cluster->n_locks, 1);
	ck_assert_str_eq(cluster->locks[0].relation, "shop.orders");
	ck_assert_int_eq(cluster->locks[0].mode, LOCK_MODE_ACCESS_EXCLUSIVE);
	ck_assert_uint_ne(cluster->locks[0].relid, 0);
	/* A DO block names no relation the parser can see: unknown, never "no lock" silently. */
	ck_assert(block->unknown);
	ck_assert_str_eq(block->command, "DoStmt");
	ck_assert_uint_eq(f->n_locks, 1);
	ck_assert_int_eq(f->locks[0].mode, LOCK_MODE_ACCESS_EXCLUSIVE);
}
END_TEST

/* A session-wide SET search_path outlives its migration (the deploy's session runs them all);
 * SET LOCAL ends with its migration's transaction. */
START_TEST(test_search_path_set_by_a_migration_resolves_the_names_of_the_next_ones)
{
	_cleanup_(PQfinishp) PGconn *conn = harness_pg_connect(conninfo);
	static const char *const session[] = {
		"SET search_path = shop, public;\n",
		"ALTER TABLE settings ADD COLUMN z int;\n",
	};
	static const char *const local[] = {
		"SET LOCAL search_path = shop, public;\nALTER TABLE settings ADD COLUMN z int;\n",
		"ALTER TABLE settings ADD COLUMN y int;\n",
	};
	_cleanup_(forecast_freep) Forecast *a = forecast_texts(conn, session, 2);
	_cleanup_(forecast_freep) Forecast *b = forecast_texts(conn, local, 2);
	_cleanup_free_ char *path = harness_pg_value(conninfo, "SHOW search_path");

	ck_assert_str_eq(a->migrations[1].statements[0].locks[0].relation, "shop.settings");
	ck_assert_str_eq(b->migrations[0].statements[1].locks[0].relation, "shop.settings");
	ck_assert_str_eq(b->migrations[1].statements[0].locks[0].relation, "public.settings");
	/* The forecast left the session as it found it. */
	PGresult *res = harness_pg_query(conn, "SHOW search_path");
	ck_assert_str_eq(PQgetvalue(res, 0, 0), path);
	PQclear(res);
}
END_TEST

/* The relations a run of migrations names are resolved FORECAST_CHUNK migrations per catalog
 * query, and what the rules ask about a relation is asked once per forecast, not per
 * statement: counted in libpq's own trace of what it sent. */
START_TEST(test_the_catalog_is_asked_about_each_relation_once_not_per_migration)
{
	enum { N = 200 };
	_cleanup_(PQfinishp) PGconn *conn = harness_pg_connect(conninfo);
	_cleanup_free_ char *settings_oid =
		harness_pg_value(conninfo, "SELECT 'public.settings'::regclass::oid");
	char *texts[N];
	_cleanup_free_ char *trace = NULL;
	size_t trace_size = 0, parses = 0;
	FILE *out = open_memstream(&trace, &trace_size);

	ck_assert_ptr_nonnull(out);
	for (size_t i = 0; i < N; i++)
		ck_assert_int_ge(asprintf(&texts[i],
					  i % 2 ? "ALTER TABLE settings ADD COLUMN c_%zu int;\n"
						: "CREATE TABLE fresh_%zu (id int);\n",
					  i),
				 0);
	PQtrace(conn, out);
	_cleanup_(forecast_freep) Forecast *f = forecast_texts(conn, (const char *const *)texts, N);
	PQuntrace(conn);
	ck_assert_int_eq(fclose(out), 0);

	for (const char *line = trace; (line = strstr(line, "\tF\t")); line++)
		parses += strncmp(line + strcspn(line + 3, "\t") + 4, "Parse", 5) == 0;
	/* BEGIN, lock_timeout, search_path, 4 chunks of names, what ALTER TABLE asks of settings
	 * once, the sizes, ROLLBACK; 400 and more when each statement asked its own. */
	ck_assert_uint_le(parses, 16);
	ck_assert_uint_eq(f->n_migrations, N);
	for (size_t i = 0; i < N; i++) {
		const ForecastStatement *st = &f->migrations[i].statements[0];
		_cleanup_free_ char *fresh = NULL;
		ck_assert_int_ge(asprintf(&fresh, "public.fresh_%zu", i), 0);
		ck_assert_uint_eq(f->migrations[i].n_statements, 1);
		ck_assert_uint_ge(st->n_locks, 1);
		ck_assert_str_eq(st->locks[0].relation, i % 2 ? "public.settings" : fresh);
		ck_assert_uint_eq(st->locks[0].relid, i % 2 ? strtoul(settings_oid, NULL, 10) : 0);
		free(texts[i]);
	}
}
END_TEST

/* A file the parser refuses (discovery would have refused it first; the forecast must not rely
 * on that) fails the forecast with its FILE:LINE and the parser's words. */
START_TEST(test_a_file_the_parser_refuses_fails_the_forecast_naming_its_line)
{
	_cleanup_(PQfinishp) PGconn *conn = harness_pg_connect(conninfo);
	static const char alter[] = "ALTER TABLE settings ADD COLUMN x int;\n";
	static const char bad[] = "CREATE TABLE fine (id int);\nCREATE TABLE (;\n";
	Migration *files = calloc(3, sizeof(Migration));
	Migration *pending[3];
	_cleanup_free_ char *error = NULL;
	Forecast *f = NULL;

	ck_assert_ptr_nonnull(files);
	for (size_t i = 0; i < 2; i++) {
		_cleanup_free_ char *path = NULL, *why = NULL;
		ck_assert_int_ge(asprintf(&path, "/corpus/%zu_file.sql", i + 1), 0);
		ck_assert_int_eq(migrations_parse(MIGRATIONS_FORMAT_DEPLOYD, path, alter,
						  strlen(alter), &files[i], &why),
				 0);
	}
	files[2] = (Migration){.size = strlen(bad)};
	ck_assert_ptr_nonnull(files[2].sql = strdup(bad));
	ck_assert_ptr_nonnull(files[2].path = strdup("/corpus/3_bad.sql"));
	ck_assert_ptr_nonnull(files[2].version = strdup("3"));
	ck_assert_ptr_nonnull(files[2].name = strdup("bad"));
	for (size_t i = 0; i < 3; i++)
		pending[i] = &files[i];

	ck_assert_int_eq(
		forecast_pending(conn, pending, 3, FORECAST_EXISTING_RELATIONS, &f, &error),
		-EINVAL);
	ck_assert_ptr_null(f);
	ck_assert_ptr_nonnull(error);
	ck_assert_msg(strncmp(error, "/corpus/3_bad.sql:2: ", 21) == 0 && strstr(error, "syntax"),
		      "%s", error);
	migrations_free(files, 3);
}
END_TEST

START_TEST(test_the_conflict_table_is_postgresql_own)
{
	static const char *const sql_mode[_LOCK_MODE_MAX] = {
		[LOCK_MODE_ACCESS_SHARE] = "ACCESS SHARE",
		[LOCK_MODE_ROW_SHARE] = "ROW SHARE",
		[LOCK_MODE_ROW_EXCLUSIVE] = "ROW EXCLUSIVE",
		[LOCK_MODE_SHARE_UPDATE_EXCLUSIVE] = "SHARE UPDATE EXCLUSIVE",
		[LOCK_MODE_SHARE] = "SHARE",
		[LOCK_MODE_SHARE_ROW_EXCLUSIVE] = "SHARE ROW EXCLUSIVE",
		[LOCK_MODE_EXCLUSIVE] = "EXCLUSIVE",
		[LOCK_MODE_ACCESS_EXCLUSIVE] = "ACCESS EXCLUSIVE",
	};
	_cleanup_(PQfinishp) PGconn *holder = harness_pg_connect(conninfo);
	_cleanup_(PQfinishp) PGconn *asker = harness_pg_connect(conninfo);

	for (LockMode a = LOCK_MODE_ACCESS_SHARE; a < _LOCK_MODE_MAX; a++)
		for (LockMode b = LOCK_MODE_ACCESS_SHARE; b < _LOCK_MODE_MAX; b++) {
			_cleanup_free_ char *take = NULL, *ask = NULL;
			ck_assert_int_ge(asprintf(&take, "LOCK shop.tags IN %s MODE", sql_mode[a]),
					 0);
			ck_assert_int_ge(
				asprintf(&ask, "LOCK shop.tags IN %s MODE NOWAIT", sql_mode[b]), 0);
			PQclear(harness_pg_query(holder, "BEGIN"));
			PQclear(harness_pg_query(holder, take));
			PQclear(harness_pg_query(asker, "BEGIN"));
			PGresult *res = PQexec(asker, ask);
			const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
			bool conflict = PQresultStatus(res) != PGRES_COMMAND_OK;
			ck_assert_msg(!conflict || (state && strcmp(state, "55P03") == 0), "%s: %s",
				      ask, PQresultErrorMessage(res));
			PQclear(res);
			PQclear(harness_pg_query(asker, "ROLLBACK"));
			PQclear(harness_pg_query(holder, "ROLLBACK"));
			ck_assert_msg(lock_modes_conflict(a, b) == conflict,
				      "%s held, %s asked: PostgreSQL says %s", sql_mode[a],
				      sql_mode[b], conflict ? "conflict" : "no conflict");
		}
}
END_TEST

/* CREATE INDEX CONCURRENTLY cannot run in a transaction: its locks are read from outside
 * while it waits for a writer's transaction to end (its second phase waits for them). */
START_TEST(test_create_index_concurrently_in_a_no_transaction_file_takes_the_forecast_locks)
{
	static const char text[] =
		"-- deployd: no-transaction\n"
		"CREATE INDEX CONCURRENTLY tags_label_cic ON shop.tags (label);\n";
	_cleanup_(PQfinishp) PGconn *writer = harness_pg_connect(conninfo);
	_cleanup_(PQfinishp) PGconn *builder = harness_pg_connect(conninfo);
	_cleanup_(PQfinishp) PGconn *observer = harness_pg_connect(conninfo);
	_cleanup_(migration_done) Migration m = {};
	_cleanup_(forecast_freep) Forecast *f = NULL;
	_cleanup_(snapshot_done) Snapshot s = {};
	_cleanup_free_ char *error = NULL, *held = NULL;
	PGresult *res;
	bool waiting = false;

	ck_assert_msg(migrations_parse(MIGRATIONS_FORMAT_DEPLOYD, "/corpus/1_cic.sql", text,
				       strlen(text), &m, &error) == 0,
		      "%s", error);
	ck_assert(m.directives.no_transaction);
	Migration *pending[] = {&m};
	ck_assert_msg(forecast_pending(builder, pending, 1, FORECAST_EVERY_LOCK, &f, &error) == 0,
		      "%s", error);
	const ForecastStatement *st = &f->migrations[0].statements[0];
	ck_assert_uint_eq(st->n_locks, 1);
	ck_assert_str_eq(st->locks[0].relation, "shop.tags");
	ck_assert_int_eq(st->locks[0].mode, LOCK_MODE_SHARE_UPDATE_EXCLUSIVE);
	ck_assert(st->scan && !st->rewrite);

	s = take_snapshot(observer);
	PQclear(harness_pg_query(writer, "BEGIN"));
	PQclear(harness_pg_query(writer, "INSERT INTO shop.tags VALUES (5, 'w')"));
	ck_assert_int_eq(PQsendQuery(builder, text), 1);
	for (int i = 0; i < 1000 && !waiting; i++) {
		_cleanup_free_ char *q = NULL;
		ck_assert_int_ge(asprintf(&q,
					  "SELECT count(*) FROM pg_locks WHERE pid = %d AND NOT "
					  "granted",
					  PQbackendPID(builder)),
				 0);
		char *n = harness_pg_value(conninfo, q);
		waiting = strcmp(n, "0") != 0;
		free(n);
		if (!waiting)
			usleep(10 * 1000);
	}
	ck_assert_msg(waiting, "CREATE INDEX CONCURRENTLY never waited for the writer");
	ck_assert_int_ge(asprintf(&held,
				  "SELECT relation, mode FROM pg_locks WHERE pid = %d AND granted "
				  "AND locktype = 'relation'",
				  PQbackendPID(builder)),
			 0);
	res = harness_pg_query(observer, held);
	for (int i = 0; i < PQntuples(res); i++) {
		Rel *r = find_rel(&s, (uint32_t)strtoul(PQgetvalue(res, i, 0), NULL, 10));
		LockMode mode = lock_mode_from_string(PQgetvalue(res, i, 1));
		if (r && mode > r->held)
			r->held = mode;
	}
	PQclear(res);
	PQclear(harness_pg_query(writer, "ROLLBACK"));
	while ((res = PQgetResult(builder))) {
		ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK, "%s",
			      PQresultErrorMessage(res));
		PQclear(res);
	}
	PQclear(harness_pg_query(observer, "DROP INDEX shop.tags_label_cic"));

	for (size_t i = 0; i < s.n; i++) {
		LockMode expected =
			s.rels[i].oid == st->locks[0].relid ? st->locks[0].mode : LOCK_MODE_NONE;
		ck_assert_msg(s.rels[i].held == expected, "%s: PostgreSQL %s, forecast %s",
			      s.rels[i].name, lock_mode_to_string(s.rels[i].held) ?: "no lock",
			      lock_mode_to_string(expected) ?: "no lock");
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("forecast-corpus");
	TCase *tc = tcase_create("forecast-corpus");

	tcase_set_timeout(tc, 300);
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_the_forecast_of_every_corpus_entry_matches_postgresql_own_locks);
	tcase_add_test(tc, test_the_conflict_table_is_postgresql_own);
	tcase_add_test(
		tc, test_the_preflights_forecast_of_every_corpus_entry_gives_the_same_flat_locks);
	tcase_add_test(
		tc,
		test_a_statement_not_understood_is_assumed_to_take_access_exclusive_on_what_it_names);
	tcase_add_test(tc, test_search_path_set_by_a_migration_resolves_the_names_of_the_next_ones);
	tcase_add_test(tc, test_the_catalog_is_asked_about_each_relation_once_not_per_migration);
	tcase_add_test(tc, test_a_file_the_parser_refuses_fails_the_forecast_naming_its_line);
	tcase_add_test(
		tc,
		test_create_index_concurrently_in_a_no_transaction_file_takes_the_forecast_locks);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
