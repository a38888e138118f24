/* forecast.h — which table locks pending migrations will take, known before anything runs.
 *
 * Contract.  forecast_pending() reads every statement of every pending migration with
 * PostgreSQL's own parser (sql-parse.h) and, against the target database's catalog (read
 * only, inside a transaction it rolls back, with the session's own search_path and any
 * SET search_path the migration makes), says for each statement:
 *   - every relation it locks, schema-qualified ("schema.name", each part as quote_ident()
 *     spells it) with its pg_class oid, and the strongest mode it holds on it until the
 *     transaction ends, named as in pg_locks.mode ("AccessExclusiveLock", …).  Locks taken
 *     and let go within the statement (the executor's on an INSERT target's indexes, the
 *     catalogs') are not listed.  Relations include what the catalog implies:
 *     indexes (opened by the planner and the executor, rebuilt by rewrites), partitions and
 *     inheritance children, tables referenced by foreign keys (added, validated, dropped, and
 *     the RI checks of INSERT/UPDATE/DELETE), the tables behind views and materialized
 *     views, sequences advanced by defaults or by nextval()/setval()/currval() of a constant
 *     name.  A relation the migration itself creates has
 *     relid 0 (nobody else can hold a lock on it).
 *   - rewrite: a table gets a new relfilenode (ALTER COLUMN TYPE that changes the bytes, a
 *     volatile DEFAULT or an identity column added, TRUNCATE, REFRESH MATERIALIZED VIEW,
 *     SET LOGGED/UNLOGGED, …);
 *   - scan: a table is read in full while the statement holds its own DDL lock on it
 *     (ShareUpdateExclusiveLock or stronger): SET NOT NULL, CHECK or FOREIGN KEY without
 *     NOT VALID, VALIDATE CONSTRAINT, CREATE INDEX (CONCURRENTLY too), ATTACH PARTITION,
 *     REFRESH MATERIALIZED VIEW, indexes rebuilt; a rewrite reads the table too.
 * A statement it does not understand is `unknown`: it is assumed to take AccessExclusiveLock
 * on every relation it names (never "no lock").  DML is forecast as if it touched rows (the
 * RI checks and tuple routing of a statement that touches none take fewer locks).
 * Locks taken inside trigger functions and other functions the SQL calls are not read.  The
 * forecast itself takes no lock on user relations but to read their sizes, and skips a
 * relation someone holds or awaits an AccessExclusiveLock on (lock_timeout 2 s besides).
 *
 * For the preflight: forecast->locks is the flat list over all pending migrations of
 * {relid, relation, mode} with relid != 0, one entry per (relid, mode) that is needed to
 * describe the conflicts exactly (a mode whose conflicts another entry of the same relation
 * covers is left out; ShareLock and RowExclusiveLock on one relation stay two entries).  A
 * session holding or waiting for a lock that lock_modes_conflict() with one of them blocks the
 * migrations.  Nothing else is needed from this module.
 *
 * Migration commands (migrations.command) have no SQL to read: forecast_command() gives a
 * Forecast with command set, no migrations and no locks.
 *
 * Round trips: the relations named by up to 64 migrations (1 MiB of SQL) at a time are
 * resolved in one catalog query (only when a rule asks about one), and what the rules ask
 * about a relation (its kind, children, indexes, …) is asked once per forecast.  A file
 * PostgreSQL's parser refuses fails the forecast with FILE:LINE, after the ones before it
 * were read.
 *
 * Nothing here prints or logs.  Strings are from the parser or the catalog, sanitized to one
 * line of UTF-8 where they are shown (sql_first_line). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "lock-mode.h"
#include "migrations.h"
#include "time-util.h"

typedef struct ForecastLock {
	char *relation; /* "schema.name" */
	uint32_t relid; /* pg_class.oid; 0 when the relation does not exist before the migration */
	LockMode mode;
	/* pg_total_relation_size() and pg_class.reltuples, read without waiting: -1 when
	 * unknown (the relation is new, never analyzed, or someone holds or waits for an
	 * AccessExclusiveLock on it, which the size function would wait behind). */
	int64_t size_bytes;
	int64_t rows;
} ForecastLock;

typedef struct ForecastStatement {
	unsigned line;	      /* 1-based line of the file where the statement starts */
	char *sql_first_line; /* the statement's first line, sanitized */
	char *command;	      /* the parse node, e.g. "AlterTableStmt" */
	bool unknown;	      /* not understood: AccessExclusiveLock assumed on what it names */
	bool rewrite;
	bool scan;
	ForecastLock *locks; /* ordered by relation name */
	size_t n_locks;
} ForecastStatement;

typedef struct ForecastMigration {
	char *version; /* as migrations.h normalizes it: 42, 20240101120000, 1.10 */
	char *name;
	char *file; /* the file's path */
	bool no_transaction;
	ForecastStatement *statements;
	size_t n_statements;
} ForecastMigration;

typedef struct Forecast {
	bool command; /* the plan runs a migration command: there is no SQL to read */
	ForecastMigration *migrations;
	size_t n_migrations;
	ForecastLock *locks; /* flat, for the preflight: see the contract above */
	size_t n_locks;
} Forecast;

/* What a forecast is for.  FORECAST_EXISTING_RELATIONS (the preflight) gives the flat list
 * only (no migrations, no sizes: with thousands of migrations their details would be most
 * of a worker's memory), and leaves out the lock a CREATE TABLE takes on its new table: no
 * one else can hold it, and naming it would cost a round trip to the server per statement
 * (the flat list drops relid 0 anyway). */
typedef enum ForecastScope {
	FORECAST_EVERY_LOCK,
	FORECAST_EXISTING_RELATIONS,
} ForecastScope;

/* Forecasts pending[0…n_pending-1] (in the order they would apply) on conn, an idle session
 * of the target database with the deploy's settings.  conn is idle again afterwards.  On
 * failure *ret is untouched and *ret_error (if given) says why. */
int forecast_pending(PGconn *conn, Migration *const *pending, size_t n_pending, ForecastScope scope,
		     Forecast **ret, char **ret_error);
/* A session (or prepared transaction) that holds or waits for a lock that conflicts with one
 * of the forecast's, right now. */
typedef struct ForecastHolder {
	int pid;	   /* 0 for a prepared transaction */
	char *gid;	   /* the prepared transaction's, else NULL */
	char *user;	   /* NULL when not visible */
	char *application; /* NULL when not visible */
	char *client;	   /* "ADDRESS:PORT", "[local]", or NULL */
	char *state;	   /* pg_stat_activity.state, "prepared" for a prepared transaction */
	char *query;	   /* the start of its current or last query, sanitized, or NULL */
	usec_t xact_age;   /* how long its transaction has run; USEC_INFINITY if unknown */
	char *relation;	   /* "schema.name" */
	uint32_t relid;
	LockMode mode;		 /* the mode it holds (granted) or waits for */
	bool granted;		 /* false: it waits for the lock */
	LockMode conflicts_with; /* the forecast's strongest mode on relid it conflicts with */
} ForecastHolder;

/* Who holds or waits for a lock conflicting with f->locks, from one pg_locks query on conn
 * (never inside a transaction: the views would be a snapshot).  Our own backend is left out.
 * Ordered by relation, then pid. */
int forecast_holders(PGconn *conn, const Forecast *f, ForecastHolder **ret, size_t *ret_n,
		     char **ret_error);
void forecast_holders_free(ForecastHolder *h, size_t n);

/* Sentences (forecast-message.c).  "AccessExclusiveLock on public.accounts (16 kB, ~3 rows)";
 * "FILE:LINE: SQL: LOCKS[; rewrites a table][; reads a table in full under its lock]."; "Session
 * PID holds MODE on REL, which conflicts with the MODE a migration needs (user …): QUERY.". */
#define FORECAST_SIZE_MAX 32
char *forecast_format_size(int64_t bytes, char buf[static FORECAST_SIZE_MAX]);
int forecast_lock_describe(const ForecastLock *l, char **ret);
int forecast_statement_describe(const ForecastMigration *m, const ForecastStatement *s, char **ret);
int forecast_holder_describe(const ForecastHolder *h, char **ret);

/* The forecast of a plan whose migrations are a command. */
int forecast_command(Forecast **ret);
void forecast_free(Forecast *f);
static inline void forecast_freep(Forecast **f)
{
	forecast_free(*f);
}
