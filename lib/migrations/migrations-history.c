/* The history table: reading it, and files against it (migrations.h). */
#include <stdio.h>
#include <string.h>

#include "migrations.h"

void migrations_history_done(MigrationHistory *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->entries[i].version);
		free(h->entries[i].applied_by);
		free(h->entries[i].name);
		free(h->entries[i].checksum);
		free(h->entries[i].applied_at);
	}
	free(h->entries);
	*h = (MigrationHistory){};
}

static int compare_entries(const void *a, const void *b)
{
	const MigrationHistoryEntry *x = a, *y = b;

	return migrations_version_compare(x->version, y->version);
}

int migrations_history_read(PGconn *conn, const char *table, const PgWaitHooks *hooks,
			    MigrationHistory *ret, PgError *ret_error)
{
	_cleanup_(PQclearp) PGresult *exists = NULL, *rows = NULL;
	_cleanup_free_ char *quoted = NULL, *sql = NULL;
	_cleanup_(migrations_history_done) MigrationHistory h = {};
	int r;

	r = migrations_quote_table(table, &quoted);
	if (r < 0)
		return pg_error_set(ret_error, PG_ERROR_OTHER, "'%s' is not a valid table name",
				    table)
			       ?: r;
	/* The quoted name holds no single quote: it is a safe literal as it is. */
	if (asprintf(&sql, "SELECT pg_catalog.to_regclass('%s') IS NOT NULL", quoted) < 0)
		return -ENOMEM;
	r = pg_exec(conn, sql, hooks, &exists, ret_error);
	if (r < 0)
		return r;
	if (PQntuples(exists) != 1 || strcmp(PQgetvalue(exists, 0, 0), "t") != 0) {
		*ret = (MigrationHistory){};
		return 0;
	}

	free(sql);
	/* The previous release's table has a bigint version and no adopted column: read as
	 * JSON, both read alike.  Ordered here, by version, not by the server's text order. */
	if (asprintf(&sql,
		     "SELECT version::text, name, checksum, applied_at::text, "
		     "pg_catalog.to_jsonb(h)->>'applied_by', "
		     "coalesce((pg_catalog.to_jsonb(h)->>'adopted')::boolean, false) FROM %s AS h",
		     quoted) < 0)
		return -ENOMEM;
	r = pg_exec(conn, sql, hooks, &rows, ret_error);
	if (r < 0)
		return r;

	h.exists = true;
	h.entries = calloc((size_t)PQntuples(rows) + 1, sizeof(MigrationHistoryEntry));
	if (!h.entries)
		return -ENOMEM;
	for (int i = 0; i < PQntuples(rows); i++) {
		MigrationHistoryEntry *e = &h.entries[h.n];
		if (!migrations_version_is_valid(PQgetvalue(rows, i, 0)))
			return pg_error_set(ret_error, PG_ERROR_OTHER,
					    "%s: version '%.*s' is not a version (digits and dots)",
					    table, MIGRATIONS_VERSION_MAX, PQgetvalue(rows, i, 0))
				       ?: -EINVAL;
		e->version = strdup(PQgetvalue(rows, i, 0));
		e->name = strdup(PQgetvalue(rows, i, 1));
		e->checksum = strdup(PQgetvalue(rows, i, 2));
		e->applied_at = strdup(PQgetvalue(rows, i, 3));
		e->applied_by = PQgetisnull(rows, i, 4) ? NULL : strdup(PQgetvalue(rows, i, 4));
		e->adopted = strcmp(PQgetvalue(rows, i, 5), "t") == 0;
		h.n++;
		if (!e->version || !e->name || !e->checksum || !e->applied_at ||
		    (!PQgetisnull(rows, i, 4) && !e->applied_by))
			return -ENOMEM;
	}
	if (h.n > 0)
		qsort(h.entries, h.n, sizeof(MigrationHistoryEntry), compare_entries);
	*ret = h;
	h = (MigrationHistory){};
	return 0;
}

const char *migration_state_to_string(MigrationState s)
{
	static const char *const names[] = {
		[MIGRATION_PENDING] = "pending",
		[MIGRATION_APPLIED] = "applied",
		[MIGRATION_CHANGED] = "changed",
		[MIGRATION_MISSING] = "missing",
	};
	return s >= 0 && s < (int)ELEMENTSOF(names) ? names[s] : NULL;
}

int migrations_status(const Migration *files, size_t n_files, const MigrationHistory *history,
		      MigrationStatus **ret, size_t *ret_n)
{
	MigrationStatus *list = calloc(n_files + history->n + 1, sizeof(MigrationStatus));
	size_t n = 0, f = 0, h = 0;

	if (!list)
		return -ENOMEM;
	/* Both are ordered by version: merge them. */
	while (f < n_files || h < history->n) {
		const Migration *file = f < n_files ? &files[f] : NULL;
		const MigrationHistoryEntry *entry = h < history->n ? &history->entries[h] : NULL;

		int c = file && entry ? migrations_version_compare(file->version, entry->version)
				      : 0;

		if (file && (!entry || c < 0)) {
			list[n++] = (MigrationStatus){MIGRATION_PENDING, file->version, file, NULL};
			f++;
		} else if (!file || c > 0) {
			list[n++] =
				(MigrationStatus){MIGRATION_MISSING, entry->version, NULL, entry};
			h++;
		} else {
			bool same = strcmp(file->checksum, entry->checksum) == 0;
			list[n++] = (MigrationStatus){same ? MIGRATION_APPLIED : MIGRATION_CHANGED,
						      file->version, file, entry};
			f++;
			h++;
		}
	}
	*ret = list;
	*ret_n = n;
	return 0;
}

int migrations_history_prepare(PGconn *conn, const char *quoted_table, const PgWaitHooks *hooks,
			       PgError *ret_error)
{
	_cleanup_(PQclearp) PGresult *res = NULL;
	_cleanup_free_ char *sql = NULL;
	int r;

	/* What the table looks like now: absent, current, or the previous release's. */
	if (asprintf(&sql,
		     "SELECT pg_catalog.format_type(a.atttypid, a.atttypmod), "
		     "EXISTS (SELECT FROM pg_catalog.pg_attribute b WHERE b.attrelid = a.attrelid "
		     "AND b.attname = 'adopted' AND NOT b.attisdropped) "
		     "FROM pg_catalog.pg_attribute a WHERE a.attrelid = "
		     "pg_catalog.to_regclass('%s') AND a.attname = 'version' AND NOT "
		     "a.attisdropped",
		     quoted_table) < 0)
		return -ENOMEM;
	r = pg_exec(conn, sql, hooks, &res, ret_error);
	if (r < 0)
		return r;
	free(sql);
	sql = NULL;
	if (PQntuples(res) == 0)
		/* Committed without waiting for the disk: the first migration's row commits
		 * after it, and a durable commit flushes everything before it.  Lost with a
		 * crash before that, it held nothing. */
		r = asprintf(&sql,
			     "BEGIN;SET LOCAL synchronous_commit TO off;"
			     "CREATE TABLE IF NOT EXISTS %s (" MIGRATIONS_HISTORY_COLUMNS
			     ");COMMIT",
			     quoted_table);
	else if (strcmp(PQgetvalue(res, 0, 0), "text") != 0 ||
		 strcmp(PQgetvalue(res, 0, 1), "t") != 0)
		/* The previous release's table: the version becomes text (its numbers as they
		 * were), the adopted column is added; all or nothing. */
		r = asprintf(&sql,
			     "BEGIN;"
			     "ALTER TABLE %s ALTER COLUMN version TYPE text USING version::text;"
			     "ALTER TABLE %s ADD COLUMN IF NOT EXISTS adopted boolean NOT NULL "
			     "DEFAULT false;"
			     "COMMIT",
			     quoted_table, quoted_table);
	else
		return 0;
	if (r < 0)
		return -ENOMEM;
	r = pg_exec(conn, sql, hooks, NULL, ret_error);
	if (r < 0 && PQstatus(conn) == CONNECTION_OK &&
	    PQtransactionStatus(conn) == PQTRANS_INERROR) {
		PgError ignored = {};
		(void)pg_exec(conn, "ROLLBACK", NULL, NULL, &ignored);
		pg_error_done(&ignored);
	}
	return r;
}
