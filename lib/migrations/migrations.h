/* migrations.h — directory migrations: files, history table, applying them.
 *
 * Files, by the plan's format (migrations-format.c):
 *   deployd         VERSION_NAME.sql
 *   dbmate          VERSION_NAME.sql with "-- migrate:up" and "-- migrate:down" sections: only
 *                   the up section runs ("transaction:false" on its line = no-transaction)
 *   golang-migrate  VERSION_NAME.up.sql (VERSION_NAME.down.sql files are ignored)
 *   flyway          V<VERSION>__<NAME>.sql, VERSION parts separated by '.' or '_'; repeatable
 *                   (R__) and undo (U…) scripts are refused, naming the file
 * VERSION is decimal digits (flyway: parts of them), not all zero, at most
 * MIGRATIONS_VERSION_MAX bytes; a file's version is kept normalized: leading zeros of each part
 * dropped, flyway's parts joined by '.' (0042 is 42, flyway's 1_01 is 1.1).  Versions compare
 * part by part as numbers of any length (1.10 after 1.9; 14-digit timestamps work), a missing
 * part counting as 0.  NAME is [A-Za-z0-9_.-]+.  Names starting with a dot and names not ending
 * in ".sql" are ignored; any other ".sql" name, such an entry that is not a regular file
 * (symlinks are followed), a file over MIGRATIONS_FILE_MAX or not UTF-8, and two files of one
 * version are errors, reported before anything runs.  The checksum is of the whole file (a
 * dbmate file's down section included).
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
 * History (migrations-history.c): a table (name as the plan spells it, each part quoted, so
 * case-sensitive) of version (text), name, checksum (SHA-256 of the file's bytes, lowercase
 * hex), applied_at, duration_ms, deploy_id, applied_by, adopted.  Reading it never creates
 * it; migrations_history_prepare() does, and upgrades the previous release's table (version
 * bigint, no adopted column) in place, in one transaction.
 *
 * Adopting (migrations-adopt.c): another tool's history, read once, recorded as applied.
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

#include "migration-format.h"
#include "pg.h"
#include "sql-parse.h"
#include "time-util.h"

#define MIGRATIONS_FILE_MAX (64 * 1024 * 1024)
#define MIGRATIONS_CHECKSUM_HEX 64
#define MIGRATIONS_VERSION_MAX 64

/* <0, 0, >0 as version a sorts before, with, after b (both valid versions). */
int migrations_version_compare(const char *a, const char *b);
/* Digits and dots, no empty part, at most MIGRATIONS_VERSION_MAX bytes (a history's text). */
bool migrations_version_is_valid(const char *s);

typedef struct MigrationDirectives {
	bool no_transaction;
	bool set_lock_timeout;
	usec_t lock_timeout;
	bool set_statement_timeout;
	usec_t statement_timeout;
} MigrationDirectives;

typedef struct Migration {
	char *version;	/* normalized */
	char *name;	/* NAME of the file name */
	char *filename; /* as in the directory */
	char *path;	/* DIRECTORY/FILENAME */
	char *sql;	/* what runs, NUL-terminated (holds no NUL): the file's bytes, a dbmate
			 * file's other sections blanked (so lines and offsets stay the file's) */
	size_t size;
	char checksum[MIGRATIONS_CHECKSUM_HEX + 1];
	MigrationDirectives directives;
	SqlStatement *statements;
	size_t n_statements;
	/* PostgreSQL's parser read sql alone to its end (migrations_parse() checked): no string,
	 * comment or body left open would swallow text sent after it.  Only such a migration
	 * shares a message with others; one built any other way runs alone. */
	bool parses_whole;
	/* It runs DEALLOCATE or DISCARD: the session's prepared statements may be gone after it
	 * (migrations_apply() records it without them and prepares them again). */
	bool drops_prepared;
} Migration;

/* 1 and the (normalized) version and name when filename is a migration's in format, 0 when it
 * is not a migration file at all (ignored), -EINVAL for a ".sql" file whose name is not one,
 * with *ret_reason (may be NULL) a static sentence saying what is expected. */
int migrations_filename_parse(MigrationsFormat format, const char *filename, char **ret_version,
			      char **ret_name, const char **ret_reason);

/* Fills *m (version and name from its file name) from the text of the file at path: checksum,
 * directives, statements.  On failure *ret_error is "PATH[:LINE]: reason". */
int migrations_parse(MigrationsFormat format, const char *path, const char *sql, size_t size,
		     Migration *ret, char **ret_error);

/* Every migration file of directory, ordered by version.  Files are read (and checksummed)
 * here once: what is applied later is exactly what was checked. */
int migrations_discover(MigrationsFormat format, const char *directory, Migration **ret,
			size_t *ret_n, char **ret_error);
/* The file of version in files (ordered as discovered), or NULL. */
const Migration *migrations_find(const Migration *files, size_t n, const char *version);
void migration_done(Migration *m);
void migrations_free(Migration *list, size_t n);

/* SHA-256 of data as lowercase hex (nettle: no library state to set up, where OpenSSL
 * initializes its providers in every new worker). */
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
	char *version;
	char *name;
	char *checksum;
	char *applied_at; /* server's text */
	char *applied_by; /* NULL when the row has none */
	bool adopted;	  /* recorded from another tool's history, not applied by deployd */
} MigrationHistoryEntry;

typedef struct MigrationHistory {
	bool exists;			/* false: the table does not exist (yet); no entries */
	MigrationHistoryEntry *entries; /* ordered by version */
	size_t n;
} MigrationHistory;

/* The history table's columns as this release creates them (SQL). */
#define MIGRATIONS_HISTORY_COLUMNS                                                                 \
	"version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at "        \
	"timestamptz NOT NULL DEFAULT now(), duration_ms integer, deploy_id text, applied_by "     \
	"text, adopted boolean NOT NULL DEFAULT false"

int migrations_history_read(PGconn *conn, const char *table, const PgWaitHooks *hooks,
			    MigrationHistory *ret, PgError *ret_error);
void migrations_history_done(MigrationHistory *h);
/* Creates the history table if missing; upgrades the previous release's (version bigint, no
 * adopted column) in one transaction.  On an idle session; a no-op for a current table. */
int migrations_history_prepare(PGconn *conn, const char *quoted_table, const PgWaitHooks *hooks,
			       PgError *ret_error);

/* Another tool's history, to be recorded as applied: the files it records, in version order
 * (golang-migrate's: every file up to its current version; a Flyway baseline: every file up to
 * it). */
typedef struct MigrationsAdoption {
	const Migration **files;
	size_t n;
	const char *source; /* "dbmate's schema_migrations", … (static) */
} MigrationsAdoption;

void migrations_adoption_done(MigrationsAdoption *a);
/* Reads the history of format's tool (dbmate's or golang-migrate's schema_migrations, Flyway's
 * flyway_schema_history, found through the search_path) against files (ordered as discovered);
 * never writes to it.  Refuses, with the reason in *ret_error, when there is no such table
 * (-ENOENT), when its state is dirty or a migration failed, or when a recorded version has no
 * file (-EINVAL); other errors are the server's. */
int migrations_adopt_read(PGconn *conn, MigrationsFormat format, const Migration *files,
			  size_t n_files, const PgWaitHooks *hooks, MigrationsAdoption *ret,
			  PgError *ret_error);

typedef struct MigrationsAdoptOptions {
	const char *table;	/* deployd's history, as in the plan */
	const char *deploy_id;	/* history's deploy_id */
	const char *applied_by; /* history's applied_by; NULL: the session's current_user */
	const PgWaitHooks *hooks;
} MigrationsAdoptOptions;

/* Creates deployd's history table (it must not exist yet) and records the adopted files in it,
 * marked adopted, with the checksums of today's files: all in one transaction, so that a
 * failure leaves no table behind (whose existence would end adoption). */
int migrations_adopt_record(PGconn *conn, const MigrationsAdoption *a,
			    const MigrationsAdoptOptions *o, PgError *ret_error);

typedef enum MigrationState {
	MIGRATION_PENDING, /* a file not in the history */
	MIGRATION_APPLIED, /* in the history with the file's checksum */
	MIGRATION_CHANGED, /* in the history with another checksum */
	MIGRATION_MISSING, /* in the history, no file */
} MigrationState;

typedef struct MigrationStatus {
	MigrationState state;
	const char *version;		    /* the file's, else the entry's */
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
