/* The history table: reading it, and files against it (migrations.h). */
#include <stdio.h>
#include <string.h>

#include "migrations.h"

void migrations_history_done(MigrationHistory *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->entries[i].name);
		free(h->entries[i].checksum);
		free(h->entries[i].applied_at);
	}
	free(h->entries);
	*h = (MigrationHistory){};
}

static int parse_version(const char *s, int64_t *ret)
{
	char *end;

	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return -EINVAL;
	*ret = v;
	return 0;
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
	if (asprintf(&sql,
		     "SELECT version, name, checksum, applied_at::text FROM %s ORDER BY version",
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
		if (parse_version(PQgetvalue(rows, i, 0), &e->version) < 0)
			return pg_error_set(ret_error, PG_ERROR_OTHER,
					    "%s: version '%s' is not a number", table,
					    PQgetvalue(rows, i, 0))
				       ?: -EINVAL;
		e->name = strdup(PQgetvalue(rows, i, 1));
		e->checksum = strdup(PQgetvalue(rows, i, 2));
		e->applied_at = strdup(PQgetvalue(rows, i, 3));
		h.n++;
		if (!e->name || !e->checksum || !e->applied_at)
			return -ENOMEM;
	}
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

		if (file && (!entry || file->version < entry->version)) {
			list[n++] = (MigrationStatus){MIGRATION_PENDING, file->version, file, NULL};
			f++;
		} else if (!file || entry->version < file->version) {
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
