/* migrations.h — directory migrations: files, history table, applying them.
 *
 * Files: VERSION_NAME.sql with VERSION decimal digits worth 1…2^63-1 (leading zeros allowed:
 * 0042_x.sql is version 42) and NAME of [A-Za-z0-9_.-]+.  Names starting with a dot and names
 * not ending in ".sql" are ignored; any other ".sql" name, such an entry that is not a regular
 * file (symlinks are followed), a file over MIGRATIONS_FILE_MAX or not UTF-8, and two files of
 * one version are errors, reported before anything runs.  Versions apply in numeric order.
 *
 * Directives: the comment lines before a file's first statement may be
 * "-- deployd: DIRECTIVE…" with no-transaction, lock_timeout=DURATION or
 * statement_timeout=DURATION (durations as in plans, 0 = off).  An unknown or repeated
 * directive, or a directive line after the first statement, is an error naming FILE:LINE.
 * Statements are read by PostgreSQL's own parser (sql-parse.h): text it refuses is an error
 * naming FILE:LINE:COLUMN and the parser's message, before anything runs.  A
 * file that runs in a transaction may not hold transaction control (BEGIN, COMMIT, …: the
 * deploy owns the transaction); a no-transaction file holds exactly one statement.
 *
 * History: a table (name as the plan spells it, each part quoted, so case-sensitive) of
 * version, name, checksum (SHA-256 of the file's bytes, lowercase hex), applied_at,
 * duration_ms, deploy_id, applied_by.  Reading it never creates it; migrations_apply() does.
 *
 * Applying: each file runs in its own transaction together with its history row (a failure,
 * a syntax error anywhere included, leaves no trace of the file).  Several such transactions
 * go in one message ("BEGIN; file; row; COMMIT; BEGIN; …"), in batches of 1, 2, 4, … 64 that
 * double while every migration of a batch takes at most 10 ms (and the batch at most 250 ms;
 * longer, it keeps its size), and start again from 1 after a slower migration; a file runs in a
 * batch of its own when it has directives or when PostgreSQL's parser (libpg_query) does not read
 * it alone to the end.  An error skips the rest of a message: the migrations whose COMMIT came back
 * are committed and recorded, the next one is the one that failed.  A message the server refuses
 * before running any of it is re-sent one migration at a time.  A duration is the server's
 * clock_timestamp() from the migration's BEGIN to its row.  A no-transaction file runs alone, with
 * statement_timeout off unless its directive sets one (an index build on a big table must not
 * die at the plan's statement_timeout), then its row is inserted (its duration is measured
 * here).  A no-transaction CREATE INDEX CONCURRENTLY that fails leaves an INVALID index: it is
 * marked, and dropped (DROP INDEX CONCURRENTLY) before the migration runs again
 * (migrations-invalid-index.h).  Every transaction but the last commits with
 * synchronous_commit off; the last commit (or a flush after a failure) makes them all
 * durable.  Errors name FILE:LINE: the server's position (characters of the text sent)
 * mapped to a line of the file, else the line where the failing statement starts.
 *
 * The observer hears started(m) and applied(m) in order, each once: within a batch, as the
 * COMMIT results arrive (a server sends them when its output buffer fills or the message
 * ends) and, while the batch runs past a tick of the hooks, from the history rows that
 * probe_conn sees committed, so that the migration last started is the one in flight when
 * the caller's tick runs (the lock watch names it). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "pg.h"
#include "sql-parse.h"
#include "time-util.h"

#define MIGRATIONS_FILE_MAX (64 * 1024 * 1024)
#define MIGRATIONS_CHECKSUM_HEX 64

typedef struct MigrationDirectives {
	bool no_transaction;
	bool set_lock_timeout;
	usec_t lock_timeout;
	bool set_statement_timeout;
	usec_t statement_timeout;
} MigrationDirectives;

typedef struct Migration {
	int64_t version;
	char *name;	/* NAME of VERSION_NAME.sql */
	char *filename; /* VERSION_NAME.sql */
	char *path;	/* DIRECTORY/VERSION_NAME.sql */
	char *sql;	/* the file's bytes, NUL-terminated (holds no NUL) */
	size_t size;
	char checksum[MIGRATIONS_CHECKSUM_HEX + 1];
	MigrationDirectives directives;
	SqlStatement *statements;
	size_t n_statements;
} Migration;

/* 1 and the version and name when filename is a migration's, 0 when it is not a migration
 * file at all (ignored), -EINVAL for a ".sql" file whose name is not VERSION_NAME.sql. */
int migrations_filename_parse(const char *filename, int64_t *ret_version, char **ret_name);

/* Fills *m (version and name from its file name) from the text of the file at path: checksum,
 * directives, statements.  On failure *ret_error is "PATH[:LINE]: reason". */
int migrations_parse(const char *path, const char *sql, size_t size, Migration *ret,
		     char **ret_error);

/* Every migration file of directory, ordered by version.  Files are read (and checksummed)
 * here once: what is applied later is exactly what was checked. */
int migrations_discover(const char *directory, Migration **ret, size_t *ret_n, char **ret_error);
void migration_done(Migration *m);
void migrations_free(Migration *list, size_t n);

/* SHA-256 of data as lowercase hex (OpenSSL EVP). */
int migrations_checksum(const void *data, size_t size,
			char ret[static MIGRATIONS_CHECKSUM_HEX + 1]);

/* The 1-based line of text holding the character at 1-based position (a server's error
 * position: characters of UTF-8, or bytes when position_counts_bytes, i.e. a SQL_ASCII
 * database).  Lines end at LF; a CR is a character like any other.  Positions past the end
 * give the last line; 0 gives 0. */
unsigned migrations_line_of_position(const char *text, size_t size, unsigned position,
				     bool position_counts_bytes);
/* The 1-based column (in characters, counted as for a position) of that character in its
 * line; 0 gives 0; positions past the end give the column after the last character. */
unsigned migrations_column_of_position(const char *text, size_t size, unsigned position,
				       bool position_counts_bytes);
/* The 1-based line holding byte offset (clamped to the text). */
unsigned migrations_line_of_offset(const char *text, size_t size, size_t offset);

/* "schema"."table" or "table", each part quoted; -EINVAL unless table is NAME or SCHEMA.NAME
 * with NAME [A-Za-z_][A-Za-z0-9_]* of at most 63 bytes. */
int migrations_quote_table(const char *table, char **ret);

typedef struct MigrationHistoryEntry {
	int64_t version;
	char *name;
	char *checksum;
	char *applied_at; /* server's text */
} MigrationHistoryEntry;

typedef struct MigrationHistory {
	bool exists;			/* false: the table does not exist (yet); no entries */
	MigrationHistoryEntry *entries; /* ordered by version */
	size_t n;
} MigrationHistory;

int migrations_history_read(PGconn *conn, const char *table, const PgWaitHooks *hooks,
			    MigrationHistory *ret, PgError *ret_error);
void migrations_history_done(MigrationHistory *h);

typedef enum MigrationState {
	MIGRATION_PENDING, /* a file not in the history */
	MIGRATION_APPLIED, /* in the history with the file's checksum */
	MIGRATION_CHANGED, /* in the history with another checksum */
	MIGRATION_MISSING, /* in the history, no file */
} MigrationState;

typedef struct MigrationStatus {
	MigrationState state;
	int64_t version;
	const Migration *file;		    /* NULL when MISSING */
	const MigrationHistoryEntry *entry; /* NULL when PENDING */
} MigrationStatus;

const char *migration_state_to_string(MigrationState s);
/* Files and history side by side, ordered by version. */
int migrations_status(const Migration *files, size_t n_files, const MigrationHistory *history,
		      MigrationStatus **ret, size_t *ret_n);

/* Told as migrations_apply() goes; each may be NULL. */
typedef struct MigrationsObserver {
	void (*started)(const Migration *m, void *userdata);
	void (*applied)(const Migration *m, usec_t duration, void *userdata);
	/* m's failed CREATE INDEX CONCURRENTLY left index ("schema"."name") INVALID; it is
	 * marked, and the next run of m drops it first. */
	void (*invalid_index_left)(const Migration *m, const char *index, void *userdata);
	/* Before m runs again, the INVALID index its failed run left was dropped. */
	void (*invalid_index_dropped)(const Migration *m, const char *index, void *userdata);
	void *userdata;
} MigrationsObserver;

typedef struct MigrationsApplyOptions {
	const char *table;	/* as in the plan */
	const char *deploy_id;	/* history's deploy_id */
	const char *applied_by; /* history's applied_by; NULL: the session's current_user */
	const PgWaitHooks *hooks;
	const MigrationsObserver *observer;
	/* NULL, or an idle session of the same database: while a batch runs past a tick of
	 * hooks, its history rows are read there, so that the observer hears of each
	 * migration as it commits and knows the one in flight. */
	PGconn *probe_conn;
	/* The first batch's size (0: 1); later ones double while migrations are fast. */
	size_t batch_start;
} MigrationsApplyOptions;

typedef struct MigrationFailure {
	const Migration *migration; /* NULL when it failed before or between migrations */
	unsigned line;		    /* in migration's file; 0 when unknown */
	usec_t duration;
	PgError error;
} MigrationFailure;

void migration_failure_done(MigrationFailure *f);

/* Creates the history table if missing, then applies pending (in the order given) on conn,
 * an idle session.  Returns 0 when all were applied; else -ECANCELED (cancelled through
 * hooks) or another negative errno, with *ret_failure filled.  After a failure the session
 * is idle again, unless the server did not answer a cancel (see pg_exec()). */
int migrations_apply(PGconn *conn, Migration *const *pending, size_t n_pending,
		     const MigrationsApplyOptions *o, MigrationFailure *ret_failure);
