/* Adopting another tool's history: dbmate's and golang-migrate's schema_migrations, Flyway's
 * flyway_schema_history, read (never written) and recorded in deployd's history
 * (migrations.h). */
#include <stdio.h>
#include <string.h>

#include "migrations.h"
#include "text-sanitize.h"

void migrations_adoption_done(MigrationsAdoption *a)
{
	free(a->files);
	*a = (MigrationsAdoption){};
}

/* Text from the other tool's table, made safe for a message (NULL when out of memory). */
static char *clean(const char *s, size_t max_chars)
{
	char *r = NULL;

	(void)text_sanitize(s, max_chars, 0, &r);
	return r;
}

/* A refusal: the reason in *e; -EINVAL (or -ENOMEM). */
#define refuse(e, fmt, ...) (pg_error_set((e), PG_ERROR_OTHER, fmt, __VA_ARGS__) ?: -EINVAL)

/* Adds m once: files has room for every file of the directory. */
static void adoption_add(MigrationsAdoption *a, const Migration *m)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->files[i] == m)
			return;
	a->files[a->n++] = m;
}

/* Every file at or below version (golang-migrate's current version, Flyway's baseline). */
static void adopt_up_to(MigrationsAdoption *a, const Migration *files, size_t n_files,
			const char *version)
{
	for (size_t i = 0;
	     i < n_files && migrations_version_compare(files[i].version, version) <= 0; i++)
		adoption_add(a, &files[i]);
}

static int compare_files(const void *x, const void *y)
{
	const Migration *a = *(const Migration *const *)x, *b = *(const Migration *const *)y;

	return migrations_version_compare(a->version, b->version);
}

/* The file of a recorded version, or a refusal naming it. */
static int recorded_file(const char *source, const char *version, const Migration *files,
			 size_t n_files, const Migration **ret, PgError *e)
{
	_cleanup_free_ char *v = clean(version, MIGRATIONS_VERSION_MAX);
	const Migration *m;

	if (!v)
		return -ENOMEM;
	if (!migrations_version_is_valid(version))
		return refuse(e, "%s records version '%s', which is not a version number", source,
			      v);
	m = migrations_find(files, n_files, version);
	if (!m)
		return refuse(e,
			      "%s records version %s as applied, but no file of the migration "
			      "directory has that version",
			      source, v);
	*ret = m;
	return 0;
}

static int read_dbmate(PGresult *rows, const Migration *files, size_t n_files,
		       MigrationsAdoption *a, PgError *e)
{
	for (int i = 0; i < PQntuples(rows); i++) {
		const Migration *m;
		int r = recorded_file("dbmate's schema_migrations", PQgetvalue(rows, i, 0), files,
				      n_files, &m, e);
		if (r < 0)
			return r;
		adoption_add(a, m);
	}
	return 0;
}

static int read_golang_migrate(PGresult *rows, const Migration *files, size_t n_files,
			       MigrationsAdoption *a, PgError *e)
{
	const Migration *m;
	int r;

	/* golang-migrate keeps one row: the version the schema is at (none: nothing applied). */
	if (PQntuples(rows) > 1)
		return refuse(e,
			      "golang-migrate's schema_migrations holds %d rows (golang-migrate "
			      "keeps exactly one)",
			      PQntuples(rows));
	if (PQntuples(rows) == 0)
		return 0;
	if (strcmp(PQgetvalue(rows, 0, 1), "f") != 0) {
		_cleanup_free_ char *v = clean(PQgetvalue(rows, 0, 0), MIGRATIONS_VERSION_MAX);
		return refuse(
			e,
			"golang-migrate's schema_migrations is dirty at version %s: that "
			"migration failed part-way; repair the schema and run 'migrate force' "
			"before adopting",
			v ?: "?");
	}
	r = recorded_file("golang-migrate's schema_migrations", PQgetvalue(rows, 0, 0), files,
			  n_files, &m, e);
	if (r < 0)
		return r;
	adopt_up_to(a, files, n_files, m->version);
	return 0;
}

static int read_flyway(PGresult *rows, const Migration *files, size_t n_files,
		       MigrationsAdoption *a, PgError *e)
{
	/* Columns: version, type, success, script (installed_rank order). */
	for (int i = 0; i < PQntuples(rows); i++)
		if (strcmp(PQgetvalue(rows, i, 2), "t") != 0) {
			_cleanup_free_ char *v =
				clean(PQgetvalue(rows, i, 0), MIGRATIONS_VERSION_MAX);
			_cleanup_free_ char *script = clean(PQgetvalue(rows, i, 3), 200);
			return refuse(e,
				      "Flyway's flyway_schema_history records a failed migration "
				      "(version %s, script %s); fix the schema and run 'flyway "
				      "repair' before adopting",
				      v ?: "?", script ?: "?");
		}
	for (int i = 0; i < PQntuples(rows); i++) {
		const char *version = PQgetvalue(rows, i, 0), *type = PQgetvalue(rows, i, 1);
		const Migration *m;
		int r;

		/* The schema-creation marker and repeatable migrations have no version to adopt. */
		if (PQgetisnull(rows, i, 0) || strcmp(type, "SCHEMA") == 0)
			continue;
		if (strcmp(type, "BASELINE") == 0) {
			_cleanup_free_ char *v = clean(version, MIGRATIONS_VERSION_MAX);
			if (!migrations_version_is_valid(version))
				return refuse(e,
					      "Flyway's flyway_schema_history has a baseline at "
					      "'%s', which is not a version number",
					      v ?: "?");
			adopt_up_to(a, files, n_files, version);
			continue;
		}
		if (strcmp(type, "SQL") != 0) {
			_cleanup_free_ char *v = clean(version, MIGRATIONS_VERSION_MAX);
			_cleanup_free_ char *t = clean(type, 20);
			return refuse(e,
				      "Flyway's flyway_schema_history holds version %s of type %s, "
				      "which deployd does not adopt (only SQL migrations and "
				      "baselines)",
				      v ?: "?", t ?: "?");
		}
		r = recorded_file("Flyway's flyway_schema_history", version, files, n_files, &m, e);
		if (r < 0)
			return r;
		adoption_add(a, m);
	}
	return 0;
}

int migrations_adopt_read(PGconn *conn, MigrationsFormat format, const Migration *files,
			  size_t n_files, const PgWaitHooks *hooks, MigrationsAdoption *ret,
			  PgError *ret_error)
{
	static const struct {
		const char *table, *tool, *query;
	} sources[_MIGRATIONS_FORMAT_MAX] = {
		[MIGRATIONS_FORMAT_DBMATE] = {"schema_migrations", "dbmate",
					      "SELECT version::text FROM schema_migrations"},
		[MIGRATIONS_FORMAT_GOLANG_MIGRATE] = {"schema_migrations", "golang-migrate",
						      "SELECT version::text, dirty FROM "
						      "schema_migrations"},
		[MIGRATIONS_FORMAT_FLYWAY] = {"flyway_schema_history", "Flyway",
					      "SELECT version, type, success, script FROM "
					      "flyway_schema_history ORDER BY installed_rank"},
	};
	_cleanup_(PQclearp) PGresult *exists = NULL, *rows = NULL;
	_cleanup_(migrations_adoption_done) MigrationsAdoption a = {};
	_cleanup_free_ char *sql = NULL;
	int r;

	if (format <= MIGRATIONS_FORMAT_DEPLOYD || format >= _MIGRATIONS_FORMAT_MAX)
		return -EINVAL;
	/* Found as the tool finds it: unqualified, through the session's search_path. */
	if (asprintf(&sql, "SELECT pg_catalog.to_regclass('%s') IS NOT NULL",
		     sources[format].table) < 0)
		return -ENOMEM;
	r = pg_exec(conn, sql, hooks, &exists, ret_error);
	if (r < 0)
		return r;
	if (PQntuples(exists) != 1 || strcmp(PQgetvalue(exists, 0, 0), "t") != 0)
		return pg_error_set(ret_error, PG_ERROR_OTHER,
				    "there is no %s history table %s in the search_path of the "
				    "plan's database",
				    sources[format].tool, sources[format].table)
			       ?: -ENOENT;
	r = pg_exec(conn, sources[format].query, hooks, &rows, ret_error);
	if (r < 0)
		return r;

	a.files = calloc(n_files + 1, sizeof(Migration *));
	if (!a.files)
		return -ENOMEM;
	a.source = format == MIGRATIONS_FORMAT_FLYWAY	? "Flyway's flyway_schema_history"
		   : format == MIGRATIONS_FORMAT_DBMATE ? "dbmate's schema_migrations"
							: "golang-migrate's schema_migrations";
	r = format == MIGRATIONS_FORMAT_DBMATE ? read_dbmate(rows, files, n_files, &a, ret_error)
	    : format == MIGRATIONS_FORMAT_GOLANG_MIGRATE
		    ? read_golang_migrate(rows, files, n_files, &a, ret_error)
		    : read_flyway(rows, files, n_files, &a, ret_error);
	if (r < 0)
		return r;
	if (a.n > 0)
		qsort(a.files, a.n, sizeof(Migration *), compare_files);
	*ret = a;
	a = (MigrationsAdoption){};
	return 0;
}

int migrations_adopt_record(PGconn *conn, const MigrationsAdoption *a,
			    const MigrationsAdoptOptions *o, PgError *ret_error)
{
	_cleanup_free_ char *table = NULL, *sql = NULL;
	_cleanup_(PQfreemem_p) char *deploy_id = NULL, *applied_by = NULL;
	size_t len;
	bool oom = false;
	FILE *f;
	int r;

	r = migrations_quote_table(o->table, &table);
	if (r < 0)
		return pg_error_set(ret_error, PG_ERROR_OTHER, "'%s' is not a valid table name",
				    o->table)
			       ?: r;
	deploy_id = PQescapeLiteral(conn, o->deploy_id ?: "", strlen(o->deploy_id ?: ""));
	applied_by =
		o->applied_by ? PQescapeLiteral(conn, o->applied_by, strlen(o->applied_by)) : NULL;
	if (!deploy_id || (o->applied_by && !applied_by))
		return -ENOMEM;

	/* All rows in one transaction: adopted whole or not at all. */
	f = open_memstream(&sql, &len);
	if (!f)
		return -ENOMEM;
	fprintf(f, "BEGIN;CREATE TABLE %s (" MIGRATIONS_HISTORY_COLUMNS ");", table);
	for (size_t i = 0; i < a->n; i++) {
		const Migration *m = a->files[i];
		_cleanup_(PQfreemem_p) char *name = PQescapeLiteral(conn, m->name, strlen(m->name));
		if (!name) {
			oom = true;
			break;
		}
		/* Version (digits and dots) and checksum (hex) are ours: no quoting needed. */
		fprintf(f,
			"INSERT INTO %s (version, name, checksum, applied_at, duration_ms, "
			"deploy_id, applied_by, adopted) VALUES ('%s', %s, '%s', now(), NULL, %s, "
			"%s, true);",
			table, m->version, name, m->checksum, deploy_id,
			applied_by ?: "current_user");
	}
	fprintf(f, "COMMIT");
	if (fclose(f) != 0 || !sql || oom)
		return -ENOMEM;
	r = pg_exec(conn, sql, o->hooks, NULL, ret_error);
	if (r < 0 && PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE) {
		PgError ignored = {};
		(void)pg_exec(conn, "ROLLBACK", NULL, NULL, &ignored);
		pg_error_done(&ignored);
	}
	return r;
}
