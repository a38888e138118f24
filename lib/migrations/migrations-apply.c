/* Applying migration files, each with its history row (migrations.h). */
#include <stdio.h>
#include <string.h>

#include "migrations-invalid-index.h"
#include "migrations.h"

/* What every apply step needs: the session and the history row's constant parts. */
typedef struct ApplyContext {
	PGconn *conn;
	const MigrationsApplyOptions *o;
	char *table;	  /* quoted */
	char *deploy_id;  /* literal */
	char *applied_by; /* literal or current_user */
	bool position_counts_bytes;
} ApplyContext;

static void apply_context_done(ApplyContext *c)
{
	free(c->table);
	PQfreemem(c->deploy_id);
	if (c->o && c->o->applied_by)
		PQfreemem(c->applied_by);
}

void migration_failure_done(MigrationFailure *f)
{
	pg_error_done(&f->error);
	*f = (MigrationFailure){};
}

static unsigned long long msec(usec_t u)
{
	return (unsigned long long)(u / USEC_PER_MSEC + (u % USEC_PER_MSEC != 0));
}

/* "INSERT INTO history … VALUES (…)" for m; duration_sql is an SQL expression. */
static int history_insert(const ApplyContext *c, const Migration *m, const char *duration_sql,
			  char **ret)
{
	_cleanup_(PQfreemem_p) char *name = PQescapeLiteral(c->conn, m->name, strlen(m->name));

	if (!name)
		return -ENOMEM;
	/* The version (digits and dots) and the checksum (hex) are ours: no quoting needed. */
	if (asprintf(ret,
		     "INSERT INTO %s (version, name, checksum, applied_at, duration_ms, deploy_id, "
		     "applied_by) VALUES ('%s', %s, '%s', now(), %s, %s, %s)",
		     c->table, m->version, name, m->checksum, duration_sql, c->deploy_id,
		     c->applied_by) < 0)
		return -ENOMEM;
	return 0;
}

/* The file's line the server's error points at.  prefix_chars characters and
 * prefix_statements statements were sent before the file's text. */
static unsigned locate_error(const ApplyContext *c, const Migration *m, const PgError *e,
			     size_t prefix_chars, size_t prefix_statements)
{
	if (e->position > prefix_chars)
		return migrations_line_of_position(m->sql, m->size,
						   e->position - (unsigned)prefix_chars,
						   c->position_counts_bytes);
	if (e->position == 0 && e->statement_index >= prefix_statements &&
	    e->statement_index - prefix_statements < m->n_statements)
		return migrations_line_of_offset(
			m->sql, m->size,
			m->statements[e->statement_index - prefix_statements].offset);
	return 0;
}

/* BEGIN, settings, the file, its history row, COMMIT: one message, one round trip.  The server
 * parses all of it before running any of it, so a syntax error anywhere runs nothing. */
static int apply_in_transaction(const ApplyContext *c, const Migration *m, bool durable,
				MigrationFailure *f)
{
	_cleanup_(PQclearp) PGresult *res = NULL;
	_cleanup_free_ char *prefix = NULL, *insert = NULL, *sql = NULL;
	const MigrationDirectives *d = &m->directives;
	size_t prefix_statements = 1;
	char lock[64] = "", statement[64] = "";
	int r;

	if (d->set_lock_timeout) {
		snprintf(lock, sizeof(lock), "SET LOCAL lock_timeout TO %llu;",
			 msec(d->lock_timeout));
		prefix_statements++;
	}
	if (d->set_statement_timeout) {
		snprintf(statement, sizeof(statement), "SET LOCAL statement_timeout TO %llu;",
			 msec(d->statement_timeout));
		prefix_statements++;
	}
	if (!durable)
		prefix_statements++;
	/* All ASCII: its length in bytes is its length in characters. */
	if (asprintf(&prefix, "BEGIN;%s%s%s\n",
		     durable ? "" : "SET LOCAL synchronous_commit TO off;", lock, statement) < 0)
		return -ENOMEM;
	r = history_insert(c, m,
			   "(extract(epoch FROM clock_timestamp() - statement_timestamp()) * "
			   "1000)::integer",
			   &insert);
	if (r < 0)
		return r;
	/* The newline ends a trailing "--" comment of the file. */
	if (asprintf(&sql, "%s%s\n;%s;COMMIT", prefix, m->sql, insert) < 0)
		return -ENOMEM;

	r = pg_exec(c->conn, sql, c->o->hooks, &res, &f->error);
	if (r < 0) {
		f->line = locate_error(c, m, &f->error, strlen(prefix), prefix_statements);
		return r;
	}
	if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
		return pg_error_set(&f->error, PG_ERROR_OTHER,
				    "the migration's transaction did not end with the deploy's "
				    "COMMIT (it ended with %s)",
				    PQcmdStatus(res))
			       ?: -EIO;
	return 0;
}

/* A no-transaction file: its settings (statement_timeout off unless its directive sets one),
 * the file alone, then its history row.  A concurrent index build that an earlier run left
 * INVALID is dropped first, and one this run leaves is marked. */
static int apply_alone(const ApplyContext *c, const Migration *m, usec_t started,
		       MigrationFailure *f)
{
	const MigrationDirectives *d = &m->directives;
	_cleanup_(invalid_index_guard_done) InvalidIndexGuard guard = {};
	_cleanup_free_ char *set = NULL, *reset = NULL, *insert = NULL;
	char lock[64] = "", duration[32];
	int r;

	r = invalid_index_guard_begin(c->conn, m, c->o, &guard, &f->error);
	if (r < 0)
		return r;
	if (d->set_lock_timeout)
		snprintf(lock, sizeof(lock), "SET lock_timeout TO %llu;", msec(d->lock_timeout));
	if (asprintf(&set, "%sSET statement_timeout TO %llu", lock,
		     d->set_statement_timeout ? msec(d->statement_timeout) : 0) < 0 ||
	    asprintf(&reset, "%sRESET statement_timeout",
		     d->set_lock_timeout ? "RESET lock_timeout;" : "") < 0)
		return -ENOMEM;
	r = pg_exec(c->conn, set, c->o->hooks, NULL, &f->error);
	if (r < 0)
		return r;

	r = pg_exec(c->conn, m->sql, c->o->hooks, NULL, &f->error);
	if (r < 0)
		f->line = locate_error(c, m, &f->error, 0, 0);
	/* Back to the session's own timeouts (RESET returns to the connection's options),
	 * whatever happened, as long as the session can still take it. */
	if (PQstatus(c->conn) == CONNECTION_OK && PQtransactionStatus(c->conn) == PQTRANS_IDLE) {
		PgError ignored = {};
		int k = pg_exec(c->conn, reset, NULL, NULL, r < 0 ? &ignored : &f->error);
		pg_error_done(&ignored);
		if (r >= 0 && k < 0)
			return k;
	}
	if (r < 0) {
		invalid_index_guard_failed(c->conn, m, c->o, &guard);
		return r;
	}

	snprintf(duration, sizeof(duration), "%llu", msec(now_usec(CLOCK_MONOTONIC) - started));
	r = history_insert(c, m, duration, &insert);
	if (r < 0)
		return r;
	r = pg_exec(c->conn, insert, c->o->hooks, NULL, &f->error);
	if (r < 0) {
		_cleanup_free_ char *m2 = NULL;
		if (asprintf(&m2, "the migration ran, but recording it in %s failed: %s",
			     c->o->table, f->error.message) < 0)
			return -ENOMEM;
		free(f->error.message);
		f->error.message = TAKE_PTR(m2);
		return r;
	}
	return 0;
}

/* After a failure: end the failed transaction, and make the earlier, asynchronously committed
 * migrations durable (a commit that writes WAL flushes everything before it).  No hooks: this
 * runs after a cancel too, bounded by the session's statement_timeout. */
static void recover(PGconn *conn, bool flush)
{
	PgError ignored = {};

	if (PQstatus(conn) != CONNECTION_OK)
		return;
	if (PQtransactionStatus(conn) == PQTRANS_INTRANS ||
	    PQtransactionStatus(conn) == PQTRANS_INERROR)
		(void)pg_exec(conn, "ROLLBACK", NULL, NULL, &ignored);
	pg_error_done(&ignored);
	if (flush && PQtransactionStatus(conn) == PQTRANS_IDLE)
		(void)pg_exec(conn, "SELECT pg_catalog.txid_current()", NULL, NULL, &ignored);
	pg_error_done(&ignored);
}

int migrations_apply(PGconn *conn, Migration *const *pending, size_t n_pending,
		     const MigrationsApplyOptions *o, MigrationFailure *ret_failure)
{
	_cleanup_(apply_context_done) ApplyContext c = {.conn = conn};
	const MigrationsObserver *obs = o->observer;
	MigrationFailure f = {};
	bool unflushed = false;
	int r;

	r = migrations_quote_table(o->table, &c.table);
	if (r < 0) {
		pg_error_set(&f.error, PG_ERROR_OTHER, "'%s' is not a valid table name", o->table);
		goto fail;
	}
	c.o = o;
	c.deploy_id = PQescapeLiteral(conn, o->deploy_id ?: "", strlen(o->deploy_id ?: ""));
	c.applied_by = o->applied_by ? PQescapeLiteral(conn, o->applied_by, strlen(o->applied_by))
				     : "current_user";
	if (!c.deploy_id || !c.applied_by) {
		r = -ENOMEM;
		goto fail;
	}
	const char *encoding = PQparameterStatus(conn, "server_encoding");
	c.position_counts_bytes = encoding && strcmp(encoding, "SQL_ASCII") == 0;

	r = migrations_history_prepare(conn, c.table, o->hooks, &f.error);
	if (r < 0)
		goto fail;

	for (size_t i = 0; i < n_pending; i++) {
		const Migration *m = pending[i];
		bool last = i + 1 == n_pending;

		if (pg_wait_hooks_cancelled(o->hooks)) {
			r = pg_error_set(&f.error, PG_ERROR_CANCELED,
					 "cancelled before %s was started", m->filename)
				    ?: -ECANCELED;
			goto fail;
		}
		if (obs && obs->started)
			obs->started(m, obs->userdata);
		usec_t started = now_usec(CLOCK_MONOTONIC);
		f.migration = m;
		r = m->directives.no_transaction ? apply_alone(&c, m, started, &f)
						 : apply_in_transaction(&c, m, last, &f);
		f.duration = now_usec(CLOCK_MONOTONIC) - started;
		if (r < 0)
			goto fail;
		/* A no-transaction file's row commits synchronously, flushing all before it. */
		unflushed = !m->directives.no_transaction && !last;
		if (obs && obs->applied)
			obs->applied(m, f.duration, obs->userdata);
		f = (MigrationFailure){};
	}
	return 0;

fail:
	recover(conn, unflushed);
	if (f.error.kind == PG_ERROR_NONE)
		pg_error_set(&f.error, PG_ERROR_OTHER, "%s", strerror(-r));
	*ret_failure = f;
	return r;
}
