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

/* "INSERT INTO history … VALUES (…)" for m, without the prepared statements; applied_at_sql
 * and duration_sql are SQL expressions, returning "" or " RETURNING …". */
static int history_insert(const ApplyContext *c, const Migration *m, const char *applied_at_sql,
			  const char *duration_sql, const char *returning, char **ret)
{
	_cleanup_(PQfreemem_p) char *name = PQescapeLiteral(c->conn, m->name, strlen(m->name));

	if (!name)
		return -ENOMEM;
	/* The version (digits and dots) and the checksum (hex) are ours: no quoting needed. */
	if (asprintf(ret,
		     "INSERT INTO %s (version, name, checksum, applied_at, duration_ms, deploy_id, "
		     "applied_by) VALUES ('%s', %s, '%s', %s, %s, %s, %s)%s",
		     c->table, m->version, name, m->checksum, applied_at_sql, duration_sql,
		     c->deploy_id, c->applied_by, returning) < 0)
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

/* How many migrations' transactions one message may carry, and how batches grow: a batch
 * with a migration slower than BATCH_FAST_MIGRATION_USEC (on the server's clock) drops the
 * next one back to one, so that a slow migration does not hide its neighbours; one whose
 * migrations were all fast doubles the next, unless the whole batch took longer than
 * BATCH_FAST_USEC (a busy server), which keeps its size.  BATCH_MAX_BYTES bounds a message's
 * text (a bigger file goes alone). */
#define BATCH_MAX 64
#define BATCH_FAST_MIGRATION_USEC (10 * USEC_PER_MSEC)
#define BATCH_FAST_USEC (250 * USEC_PER_MSEC)
#define BATCH_MAX_BYTES (1024 * 1024)

/* A migration may share a message with others when it runs in a transaction without
 * directives and PostgreSQL's parser read its text alone to the end: a file that left a
 * string, comment or body open would otherwise swallow the next migration's statements. */
static bool may_share_message(const Migration *m)
{
	const MigrationDirectives *d = &m->directives;

	return m->parses_whole && !d->no_transaction && !d->set_lock_timeout &&
	       !d->set_statement_timeout && !m->drops_prepared;
}

/* One message of migrations' transactions, and what its results have told so far. */
typedef struct Batch {
	const ApplyContext *c;
	Migration *const *list;
	size_t n;
	size_t *file_offset;	   /* byte offset of each file's text in sql */
	size_t *prefix_statements; /* statements of each migration before its file's */
	char *sql;
	size_t sql_size;
	PgWaitHooks hooks;	    /* the caller's, with probe_tick in between */
	size_t n_results;	    /* completed results so far */
	size_t current_begin;	    /* result index of the last BEGIN */
	size_t n_committed;	    /* COMMIT results */
	size_t n_told;		    /* migrations the observer heard applied */
	long long last_duration_ms; /* the last result's single value, -1 if none */
	usec_t in_flight_since;	    /* when the observer heard the next one started */
	usec_t slowest;		    /* slowest migration so far (server's measure) */
	bool probe_broken;	    /* a probe failed: no more probes for this batch */
} Batch;

static void batch_done(Batch *b)
{
	free(b->file_offset);
	free(b->prefix_statements);
	free(b->sql);
}

/* Migration k of the batch is committed: tell the observer, and that the next one runs. */
static void batch_tell_applied(Batch *b, size_t k, long long duration_ms)
{
	const MigrationsObserver *obs = b->c->o->observer;
	usec_t duration = duration_ms > 0 ? (usec_t)duration_ms * USEC_PER_MSEC : 0;

	if (k < b->n_told)
		return;
	b->n_told = k + 1;
	if (duration > b->slowest)
		b->slowest = duration;
	if (obs && obs->applied)
		obs->applied(b->list[k], duration, obs->userdata);
	b->in_flight_since = now_usec(CLOCK_MONOTONIC);
	if (k + 1 < b->n && obs && obs->started)
		obs->started(b->list[k + 1], obs->userdata);
}

/* Each result of the batch's message: BEGIN and COMMIT come only from us (files hold no
 * transaction control), and the result right before a COMMIT is its history row's INSERT …
 * RETURNING duration_ms. */
static void batch_on_result(const PGresult *res, void *userdata)
{
	Batch *b = userdata;
	const char *status = PQcmdStatus((PGresult *)res);
	long long duration = -1;

	if (strcmp(status, "BEGIN") == 0)
		b->current_begin = b->n_results;
	else if (strcmp(status, "COMMIT") == 0) {
		if (b->n_committed < b->n)
			batch_tell_applied(b, b->n_committed, b->last_duration_ms);
		b->n_committed++;
	} else if (PQntuples(res) == 1 && PQnfields(res) == 1 && !PQgetisnull(res, 0, 0))
		duration = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	b->last_duration_ms = duration;
	b->n_results++;
}

/* The probe's rows: the batch commits in order, so the rows found are a prefix of the ones not
 * yet told. */
static void batch_on_probe_result(const PGresult *res, void *userdata)
{
	Batch *b = userdata;

	if (PQnfields(res) != 2)
		return;
	for (size_t k = b->n_told; k < b->n; k++) {
		int row = -1;
		for (int i = 0; i < PQntuples(res) && row < 0; i++)
			if (strcmp(PQgetvalue(res, i, 0), b->list[k]->version) == 0)
				row = i;
		if (row < 0)
			break;
		batch_tell_applied(
			b, k,
			PQgetisnull(res, row, 1) ? 0 : strtoll(PQgetvalue(res, row, 1), NULL, 10));
	}
}

/* While a batch runs longer than a tick: which of its migrations have committed (their
 * history rows are visible to other sessions at once), so that the observer — and the lock
 * watch behind it — names the one in flight.  One message, one round trip: the migrations'
 * DDL makes every other session reload its catalog caches, so each look costs the server
 * more than it seems.  Bounded: the probe never waits on a lock. */
static void batch_probe(Batch *b)
{
	const ApplyContext *c = b->c;
	PGconn *probe = c->o->probe_conn;
	_cleanup_free_ char *sql = NULL, *versions = NULL;
	size_t len = 0;
	FILE *f;
	PgError e = {};

	if (!probe || b->probe_broken || b->n_told + 1 >= b->n ||
	    PQtransactionStatus(probe) != PQTRANS_IDLE)
		return;
	f = open_memstream(&versions, &len);
	if (!f)
		return;
	for (size_t k = b->n_told; k < b->n; k++)
		fprintf(f, "%s'%s'", k > b->n_told ? "," : "", b->list[k]->version);
	/* Its own transaction, so that its lock_timeout is local. */
	if (fclose(f) != 0 ||
	    asprintf(&sql,
		     "BEGIN READ ONLY;SET LOCAL lock_timeout TO 100;"
		     "SELECT version::text, duration_ms FROM %s WHERE deploy_id = %s AND "
		     "version::text IN (%s);COMMIT",
		     c->table, c->deploy_id, versions) < 0)
		return;
	if (pg_exec_each(probe, sql, NULL, batch_on_probe_result, b, &e) < 0)
		b->probe_broken = true;
	pg_error_done(&e);
	if (PQtransactionStatus(probe) != PQTRANS_IDLE)
		(void)pg_exec(probe, "ROLLBACK", NULL, NULL, &e);
	pg_error_done(&e);
}

static int batch_tick(void *userdata)
{
	Batch *b = userdata;
	const PgWaitHooks *h = b->c->o->hooks;

	batch_probe(b);
	return h->tick(h->userdata);
}

/* The two statements of every migration's transaction around its file, prepared once per
 * migrations_apply() (planning them for each of hundreds of migrations cost the server more
 * than running them).  $1 is the migration's position in its batch: the start time is in a
 * setting of its own name per position, read by the history row, so that a statement of
 * another migration that ran in this transaction (nothing but a file left open could make it
 * so) fails there, before COMMIT.  $2 of the first: commit without waiting for the disk (all
 * but a batch's durable last). */
#define BEGIN_STATEMENT "deployd_migration_begin"
#define RECORD_STATEMENT "deployd_migration_record"

static int prepare_statements(const ApplyContext *c, PgError *ret_error)
{
	_cleanup_(PQclearp) PGresult *res = NULL;
	_cleanup_free_ char *sql = NULL, *drop = NULL;
	size_t drop_size = 0;
	int r;

	/* A retry runs on the same session, and a migration's DEALLOCATE may have dropped one
	 * of them: what is still prepared is replaced. */
	r = pg_exec(c->conn,
		    "SELECT name FROM pg_catalog.pg_prepared_statements WHERE name IN "
		    "('" BEGIN_STATEMENT "', '" RECORD_STATEMENT "')",
		    c->o->hooks, &res, ret_error);
	if (r < 0)
		return r;
	FILE *f = open_memstream(&drop, &drop_size);
	if (!f)
		return -ENOMEM;
	for (int i = 0; i < PQntuples(res); i++)
		fprintf(f, "DEALLOCATE %s;",
			strcmp(PQgetvalue(res, i, 0), BEGIN_STATEMENT) == 0 ? BEGIN_STATEMENT
									    : RECORD_STATEMENT);
	if (fclose(f) != 0)
		return -ENOMEM;
	if (asprintf(&sql,
		     "%s"
		     "PREPARE " BEGIN_STATEMENT "(text, bool) AS "
		     "SELECT pg_catalog.set_config('deployd.migration_' || $1, "
		     "extract(epoch FROM pg_catalog.clock_timestamp())::text, true), "
		     "CASE WHEN $2 THEN pg_catalog.set_config('synchronous_commit', 'off', true) "
		     "END;"
		     "PREPARE " RECORD_STATEMENT "(text, text, text, text, text, text) AS "
		     "INSERT INTO %s (version, name, checksum, applied_at, duration_ms, deploy_id, "
		     "applied_by) VALUES ($2, $3, $4, pg_catalog.clock_timestamp(), "
		     "((extract(epoch FROM pg_catalog.clock_timestamp()) - "
		     "pg_catalog.current_setting('deployd.migration_' || $1)::numeric) * "
		     "1000)::integer, $5, COALESCE($6, current_user)) RETURNING duration_ms",
		     drop ?: "", c->table) < 0)
		return -ENOMEM;
	return pg_exec(c->conn, sql, c->o->hooks, NULL, ret_error);
}

/* Per migration k (position in the batch): BEGIN; its start time and settings; the file; its
 * history row; COMMIT. */
static int batch_build(Batch *b, size_t last_durable_index)
{
	const ApplyContext *c = b->c;
	_cleanup_fclose_ FILE *f = NULL;

	b->file_offset = calloc(b->n, sizeof(size_t));
	b->prefix_statements = calloc(b->n, sizeof(size_t));
	if (!b->file_offset || !b->prefix_statements)
		return -ENOMEM;
	f = open_memstream(&b->sql, &b->sql_size);
	if (!f)
		return -ENOMEM;
	for (size_t k = 0; k < b->n; k++) {
		const Migration *m = b->list[k];
		const MigrationDirectives *d = &m->directives;
		_cleanup_(PQfreemem_p) char *name =
			PQescapeLiteral(c->conn, m->name, strlen(m->name));

		if (!name)
			return -ENOMEM;
		b->prefix_statements[k] = 2;
		fprintf(f, "BEGIN;EXECUTE " BEGIN_STATEMENT "('%zu', %s);", k,
			k == last_durable_index ? "false" : "true");
		if (d->set_lock_timeout) {
			fprintf(f, "SET LOCAL lock_timeout TO %llu;", msec(d->lock_timeout));
			b->prefix_statements[k]++;
		}
		if (d->set_statement_timeout) {
			fprintf(f, "SET LOCAL statement_timeout TO %llu;",
				msec(d->statement_timeout));
			b->prefix_statements[k]++;
		}
		fputc('\n', f);
		if (fflush(f) != 0)
			return -ENOMEM;
		b->file_offset[k] = b->sql_size;
		fwrite(m->sql, 1, m->size, f);
		/* The newline ends a trailing "--" comment of the file.  The version (digits and
		 * dots) and the checksum (hex) are ours: no quoting needed. */
		if (m->drops_prepared) {
			/* Ours may be gone with the file's DEALLOCATE or DISCARD: the row as
			 * RECORD_STATEMENT would write it, spelled out. */
			_cleanup_free_ char *duration = NULL, *insert = NULL;
			if (asprintf(
				    &duration,
				    "((extract(epoch FROM pg_catalog.clock_timestamp()) - "
				    "pg_catalog.current_setting('deployd.migration_%zu')::numeric) "
				    "* 1000)::integer",
				    k) < 0 ||
			    history_insert(c, m, "pg_catalog.clock_timestamp()", duration,
					   " RETURNING duration_ms", &insert) < 0)
				return -ENOMEM;
			fprintf(f, "\n;%s;COMMIT;", insert);
			continue;
		}
		fprintf(f, "\n;EXECUTE " RECORD_STATEMENT "('%zu', '%s', %s, '%s', %s, %s);COMMIT;",
			k, m->version, name, m->checksum, c->deploy_id,
			c->o->applied_by ? c->applied_by : "NULL");
	}
	if (fflush(f) != 0 || ferror(f))
		return -ENOMEM;
	return 0;
}

/* The line of the failing migration k's file that the server's error points at: its
 * position (characters of the message) when it falls in the file's text, else the start of
 * the statement that failed. */
static unsigned batch_locate_error(const Batch *b, size_t k, const PgError *e)
{
	const Migration *m = b->list[k];

	if (e->position > 0) {
		size_t chars = 0;
		for (size_t i = 0; i < b->sql_size; i++) {
			if (b->c->position_counts_bytes ||
			    ((unsigned char)b->sql[i] & 0xC0) != 0x80)
				chars++;
			if (chars < e->position)
				continue;
			if (i >= b->file_offset[k] && i < b->file_offset[k] + m->size)
				return migrations_line_of_offset(m->sql, m->size,
								 i - b->file_offset[k]);
			break;
		}
	}
	size_t first = b->current_begin + b->prefix_statements[k];
	if (e->position == 0 && b->n_committed < b->n && e->statement_index >= first &&
	    e->statement_index - first < m->n_statements)
		return migrations_line_of_offset(m->sql, m->size,
						 m->statements[e->statement_index - first].offset);
	return 0;
}

/* Applies list[0…n) in one message (first_told: the observer already heard that list[0]
 * started).  Returns 0, or a negative errno with *f naming the
 * failing migration; -ENOEXEC when the server refused the message before running any of it
 * (then nothing ran, and the caller applies them one by one to find the file at fault). */
static int apply_batch(const ApplyContext *c, Migration *const *list, size_t n, bool last_is_final,
		       bool first_told, usec_t *ret_slowest, size_t *ret_committed,
		       MigrationFailure *f)
{
	_cleanup_(batch_done) Batch b = {.c = c, .list = list, .n = n, .last_duration_ms = -1};
	const MigrationsObserver *obs = c->o->observer;
	const PgWaitHooks *hooks = c->o->hooks;
	int r;

	r = batch_build(&b, last_is_final ? n - 1 : SIZE_MAX);
	if (r < 0)
		return r;
	if (hooks && hooks->tick && n > 1) {
		b.hooks = *hooks;
		b.hooks.tick = batch_tick;
		b.hooks.userdata = &b;
		hooks = &b.hooks;
	}
	b.in_flight_since = now_usec(CLOCK_MONOTONIC);
	if (!first_told && obs && obs->started)
		obs->started(list[0], obs->userdata);

	r = pg_exec_each(c->conn, b.sql, hooks, batch_on_result, &b, &f->error);
	*ret_committed = b.n_committed < n ? b.n_committed : n;
	*ret_slowest = b.slowest;
	if (r < 0) {
		if (n > 1 && b.n_results == 0 && strncmp(f->error.sqlstate, "42", 2) == 0)
			return -ENOEXEC;
		f->migration = list[*ret_committed < n ? *ret_committed : n - 1];
		f->duration = now_usec(CLOCK_MONOTONIC) - b.in_flight_since;
		if (b.n_committed < n)
			f->line = batch_locate_error(&b, b.n_committed, &f->error);
		return r;
	}
	if (b.n_committed != n) {
		f->migration = list[*ret_committed < n ? *ret_committed : n - 1];
		return pg_error_set(
			       &f->error, PG_ERROR_OTHER,
			       "the server ended %zu of %zu migration transactions sent in one "
			       "message",
			       b.n_committed, n)
			       ?: -EIO;
	}
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
	r = history_insert(c, m, "now()", duration, "", &insert);
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
	_cleanup_free_ bool *shareable = NULL;
	const MigrationsObserver *obs = o->observer;
	MigrationFailure f = {};
	bool unflushed = false;
	size_t batch = o->batch_start ?: 1, alone_until = 0;
	bool first_told = false;
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
	shareable = calloc(n_pending + 1, sizeof(bool));
	if (!c.deploy_id || !c.applied_by || !shareable) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < n_pending; i++)
		shareable[i] = may_share_message(pending[i]);
	const char *encoding = PQparameterStatus(conn, "server_encoding");
	c.position_counts_bytes = encoding && strcmp(encoding, "SQL_ASCII") == 0;

	r = migrations_history_prepare(conn, c.table, o->hooks, &f.error);
	if (r >= 0)
		r = prepare_statements(&c, &f.error);
	if (r < 0)
		goto fail;

	for (size_t i = 0; i < n_pending;) {
		const Migration *m = pending[i];

		if (pg_wait_hooks_cancelled(o->hooks)) {
			r = pg_error_set(&f.error, PG_ERROR_CANCELED,
					 "cancelled before %s was started", m->filename)
				    ?: -ECANCELED;
			goto fail;
		}
		if (m->directives.no_transaction) {
			if (obs && obs->started)
				obs->started(m, obs->userdata);
			usec_t started = now_usec(CLOCK_MONOTONIC);
			f.migration = m;
			r = apply_alone(&c, m, started, &f);
			f.duration = now_usec(CLOCK_MONOTONIC) - started;
			if (r < 0)
				goto fail;
			/* Its row commits synchronously, flushing all before it. */
			unflushed = false;
			if (obs && obs->applied)
				obs->applied(m, f.duration, obs->userdata);
			f = (MigrationFailure){};
			/* Applied and recorded: a failure from here on is not its own. */
			if (m->drops_prepared && (r = prepare_statements(&c, &f.error)) < 0)
				goto fail;
			i++;
			continue;
		}

		/* The batch: m, and while they may share its message, the ones after it. */
		size_t n = 1, bytes = m->size;
		while (i >= alone_until && shareable[i] && n < batch && i + n < n_pending &&
		       shareable[i + n] && bytes + pending[i + n]->size <= BATCH_MAX_BYTES)
			bytes += pending[i + n++]->size;

		usec_t sent = now_usec(CLOCK_MONOTONIC), slowest = 0;
		size_t committed = 0;
		r = apply_batch(&c, pending + i, n, i + n == n_pending, first_told, &slowest,
				&committed, &f);
		first_told = r == -ENOEXEC;
		if (r == -ENOEXEC) {
			/* Refused whole, nothing ran: one by one, each file meets the parser alone.
			 */
			migration_failure_done(&f);
			alone_until = i + n;
			batch = 1;
			continue;
		}
		if (committed > 0)
			unflushed = true;
		/* Alone in its batch (may_share_message()), applied and recorded: the next ones
		 * need ours back, and a failure to prepare them is not its own. */
		if (r >= 0 && m->drops_prepared) {
			migration_failure_done(&f);
			r = prepare_statements(&c, &f.error);
		}
		if (r < 0)
			goto fail;
		i += n;
		/* The final migration commits durably, flushing all before it. */
		unflushed = i < n_pending;
		if (slowest > BATCH_FAST_MIGRATION_USEC)
			batch = 1;
		else if (now_usec(CLOCK_MONOTONIC) - sent <= BATCH_FAST_USEC)
			batch = batch * 2 < BATCH_MAX ? batch * 2 : BATCH_MAX;
	}
	return 0;

fail:
	recover(conn, unflushed);
	if (f.error.kind == PG_ERROR_NONE)
		pg_error_set(&f.error, PG_ERROR_OTHER, "%s", strerror(-r));
	*ret_failure = f;
	return r;
}
