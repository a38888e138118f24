/* migrations-invalid-index.h — the INVALID index a failed concurrent build leaves, and its
 * removal before the build is tried again (internal to migrations-apply.c).
 *
 * A no-transaction migration whose statement is CREATE INDEX CONCURRENTLY (sql-index.h) is
 * guarded.  Before it runs, INVALID indexes that an earlier failed run of the same migration
 * left are dropped with DROP INDEX CONCURRENTLY, each told to the observer; they are known by
 * the comment the failure put on them, which names the migration's version and history table
 * — never a valid index, never one without that comment.  Then the table's INVALID indexes
 * are noted.  When the statement fails, the INVALID indexes on the table that were not there
 * before (and carry the statement's index name, when it gives one) are the ones it left: each
 * gets that comment (COMMENT ON INDEX) and is told to the observer. */
#pragma once

#include "migrations.h"
#include "sql-index.h"

typedef struct InvalidIndexGuard {
	bool active; /* the migration builds an index concurrently */
	SqlIndexBuild build;
	char *table;  /* the build's table, quoted as a regclass text */
	char *marker; /* the comment's first words, naming the migration */
	char *before; /* oid[] literal: the table's INVALID indexes before the run */
} InvalidIndexGuard;

/* Drops what an earlier run of m left and notes the table's INVALID indexes.  An error
 * (the drop failed, say on lock_timeout) fails the migration. */
int invalid_index_guard_begin(PGconn *conn, const Migration *m, const MigrationsApplyOptions *o,
			      InvalidIndexGuard *g, PgError *ret_error);
/* After m's statement failed: marks what it left.  Best effort: the migration has failed
 * anyway, and an index that could not be marked is left alone by later deploys. */
void invalid_index_guard_failed(PGconn *conn, const Migration *m, const MigrationsApplyOptions *o,
				InvalidIndexGuard *g);
void invalid_index_guard_done(InvalidIndexGuard *g);
