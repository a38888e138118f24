/* fuzz-migration.c — a migration file: its name, its directives and its statements.
 *
 * Input: the first line is a file name, the rest the file's bytes.  Promises checked:
 * migrations_filename_parse() accepts in the deployd format exactly VERSION_NAME.sql and hands
 * back a valid version and the NAME, and in every format only ".sql" names with a valid
 * version; migrations_parse() (in the format the name and text suggest: V/R/U… flyway,
 * .up/.down.sql golang-migrate, "migrate:up" in the text dbmate, else deployd) either fills a
 * Migration (checksum in hex, the bytes kept, a dbmate file's as long as the file, statements
 * in order inside the text, one statement at most without a transaction) or fails with one
 * line of UTF-8 naming the file; sql_parse() (libpg_query's parser) either refuses the text
 * with a message or hands back statements in order inside it, each with a parse tree; the line
 * mappers stay inside the text. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "migrations.h"
#include "sql-parse.h"
#include "utf8.h"

static void check_filename(const char *filename)
{
	char *version = NULL;
	char *name = NULL;
	size_t len = strlen(filename);
	bool sql = len >= 4 && strcmp(filename + len - 4, ".sql") == 0;
	int r;

	for (int f = MIGRATIONS_FORMAT_DBMATE; f < _MIGRATIONS_FORMAT_MAX; f++) {
		r = migrations_filename_parse(f, filename, &version, &name, NULL);
		fuzz_assert(r == 1 || r == 0 || r == -EINVAL);
		fuzz_assert(r != 1 || (sql && filename[0] != '.'));
		fuzz_assert(r != 1 || migrations_version_is_valid(version));
		fuzz_assert(r != 1 || (name && *name));
		fuzz_assert(r == 1 || (!version && !name));
		free(version);
		free(name);
		version = name = NULL;
	}
	r = migrations_filename_parse(MIGRATIONS_FORMAT_DEPLOYD, filename, &version, &name, NULL);
	if (r == 1) {
		fuzz_assert(sql && filename[0] != '.');
		fuzz_assert(migrations_version_is_valid(version) && !strchr(version, '.'));
		fuzz_assert(name && *name);
		fuzz_assert(strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					 "0123456789_.-") == strlen(name));
		/* VERSION_NAME.sql: the name is what lies between the first '_' and ".sql". */
		const char *underscore = strchr(filename, '_');
		fuzz_assert(underscore);
		fuzz_assert(strlen(name) == (size_t)(filename + len - 4 - underscore - 1));
		fuzz_assert(strncmp(underscore + 1, name, strlen(name)) == 0);
		fuzz_assert(strspn(filename, "0123456789") == (size_t)(underscore - filename));
	} else if (r == 0) {
		fuzz_assert(!sql || filename[0] == '.');
		fuzz_assert(!name);
	} else {
		fuzz_assert(r == -EINVAL && sql && !name);
	}
	free(version);
	free(name);
}

static MigrationsFormat format_for(const char *filename, const char *text, size_t size)
{
	size_t len = strlen(filename);

	if (filename[0] == 'V' || filename[0] == 'R' || filename[0] == 'U')
		return MIGRATIONS_FORMAT_FLYWAY;
	if ((len >= 7 && strcmp(filename + len - 7, ".up.sql") == 0) ||
	    (len >= 9 && strcmp(filename + len - 9, ".down.sql") == 0))
		return MIGRATIONS_FORMAT_GOLANG_MIGRATE;
	if (memmem(text, size, "migrate:up", 10))
		return MIGRATIONS_FORMAT_DBMATE;
	return MIGRATIONS_FORMAT_DEPLOYD;
}

static bool check_name_ok(MigrationsFormat format, const char *filename)
{
	char *version = NULL;
	char *name = NULL;
	bool ok = migrations_filename_parse(format, filename, &version, &name, NULL) == 1;

	free(version);
	free(name);
	return ok;
}

static void check_statements(const char *text, size_t size, const SqlStatement *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fuzz_assert(s[i].offset < size);
		fuzz_assert(s[i].offset < s[i].end && s[i].end <= size);
		fuzz_assert(i == 0 || s[i].offset >= s[i - 1].end);
		fuzz_assert(strnlen(s[i].verb, SQL_WORD_MAX) < SQL_WORD_MAX);
		fuzz_assert(migrations_line_of_offset(text, size, s[i].offset) >= 1);
	}
}

static void check_parse(MigrationsFormat format, const char *path, const char *text, size_t size)
{
	Migration m = {};
	char *error = NULL;
	int r = migrations_parse(format, path, text, size, &m, &error);

	if (r >= 0) {
		fuzz_assert(!error);
		fuzz_assert(m.size == size && !m.sql[size]);
		fuzz_assert(format == MIGRATIONS_FORMAT_DBMATE || memcmp(m.sql, text, size) == 0);
		fuzz_assert(strlen(m.checksum) == MIGRATIONS_CHECKSUM_HEX);
		fuzz_assert(strspn(m.checksum, "0123456789abcdef") == MIGRATIONS_CHECKSUM_HEX);
		fuzz_assert(!m.directives.no_transaction || m.n_statements <= 1);
		check_statements(text, size, m.statements, m.n_statements);
		migration_done(&m);
	} else if (r == -EINVAL) {
		fuzz_assert(error);
		fuzz_assert(strncmp(error, "/migrations/", 12) == 0);
		fuzz_assert(!strchr(error, '\n'));
		fuzz_assert(utf8_find_invalid(error, strlen(error)) == strlen(error));
	}
	free(error);
}

int fuzz_migration(const uint8_t *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	size_t name_len = nl ? (size_t)(nl - (const char *)data) : size;
	char *filename = strndup((const char *)data, name_len), *path = NULL;
	const char *text = nl ? nl + 1 : (const char *)data + size;
	size_t text_size = size - (size_t)(text - (const char *)data);
	char *nul_terminated = NULL;
	SqlParse parsed = {};
	SqlParseError perr = {};

	fuzz_assert(filename);
	check_filename(filename);
	MigrationsFormat format = format_for(filename, text, text_size);

	/* The file's path as discovery builds it from a directory entry (any bytes but '/' and
	 * NUL); a name the parser would refuse half the time becomes one it accepts, so that
	 * the text gets parsed too. */
	if (!strchr(filename, '/') && (size % 2 == 0 || check_name_ok(format, filename)))
		fuzz_assert(asprintf(&path, "/migrations/%s", filename) >= 0);
	else
		path = strdup(format == MIGRATIONS_FORMAT_FLYWAY ? "/migrations/V1__fuzz.sql"
			      : format == MIGRATIONS_FORMAT_GOLANG_MIGRATE
				      ? "/migrations/1_fuzz.up.sql"
				      : "/migrations/1_fuzz.sql");
	fuzz_assert(path);
	check_parse(format, path, text, text_size);

	/* The parser reads up to a NUL: give it the text up to its first one. */
	nul_terminated = strndup(text, text_size);
	fuzz_assert(nul_terminated);
	int r = sql_parse(nul_terminated, &parsed, &perr);
	if (r >= 0) {
		fuzz_assert(parsed.n == 0 || (parsed.statements && parsed.trees));
		for (size_t i = 0; i < parsed.n; i++)
			fuzz_assert(json_object_is_type(parsed.trees[i], json_type_object));
		check_statements(nul_terminated, strlen(nul_terminated), parsed.statements,
				 parsed.n);
		sql_parse_done(&parsed);
	} else if (r == -EINVAL) {
		fuzz_assert(perr.message);
		fuzz_assert(perr.position <= strlen(nul_terminated) + 1);
		sql_parse_error_done(&perr);
	}
	free(nul_terminated);
	unsigned position = size > 0 ? data[0] : 0;
	unsigned line = migrations_line_of_position(text, text_size, position, false);
	fuzz_assert(line <= migrations_line_of_offset(text, text_size, text_size));
	fuzz_assert(line <=
		    migrations_line_of_position(text, text_size, position + 1000000u, true));

	free(path);
	free(filename);
	return 0;
}
