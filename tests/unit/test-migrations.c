/* migrations: file names, directives, checksums, discovery, text positions, status (no
 * server). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check-run.h"
#include "migrations.h"

static char *temp_dir(void)
{
	char *dir;

	ck_assert_int_ge(asprintf(&dir, "%s/test-migrations-XXXXXX", getenv("TMPDIR") ?: "/tmp"),
			 0);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	return dir;
}

#define ck_assert_prefix(s, prefix)                                                                \
	ck_assert_msg(strncmp((s), (prefix), strlen(prefix)) == 0,                                 \
		      "'%s' does not start with '%s'", (s), (prefix))

static void write_file(const char *dir, const char *name, const char *text)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -EBADF;

	ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
}

/* Parses text as the file "/m/NAME" and expects success. */
static Migration parse_ok(const char *name, const char *text)
{
	_cleanup_free_ char *path = NULL, *error = NULL;
	Migration m = {};

	ck_assert_int_ge(asprintf(&path, "/m/%s", name), 0);
	ck_assert_msg(migrations_parse(MIGRATIONS_FORMAT_DEPLOYD, path, text, strlen(text), &m,
				       &error) == 0,
		      "%s", error ?: "(no message)");
	return m;
}

/* Parses text as "/m/NAME", expects a refusal, and hands back its message. */
static char *parse_error(const char *name, const char *text)
{
	_cleanup_free_ char *path = NULL;
	char *error = NULL;
	Migration m = {};

	ck_assert_int_ge(asprintf(&path, "/m/%s", name), 0);
	ck_assert_int_lt(
		migrations_parse(MIGRATIONS_FORMAT_DEPLOYD, path, text, strlen(text), &m, &error),
		0);
	ck_assert_ptr_nonnull(error);
	ck_assert_ptr_null(m.sql);
	return error;
}

/* A file migrations_parse() accepts was read to its end by PostgreSQL's parser: it may share
 * a message with other migrations; a Migration built any other way says nothing of the kind. */
START_TEST(test_a_parsed_file_is_known_to_be_read_whole_by_the_parser)
{
	Migration m = parse_ok("1_x.sql", "SELECT $x$ closed $x$;\n-- trailing comment");
	Migration unparsed = {};

	ck_assert(m.parses_whole);
	ck_assert(!unparsed.parses_whole);
	migration_done(&m);
}
END_TEST

START_TEST(test_text_the_parser_refuses_is_named_by_file_line_and_column)
{
	/* CRLF line ends and a two-byte character before the error: lines end at LF, the
	 * column counts characters. */
	_cleanup_free_ char *a = parse_error("1_x.sql", "-- deployd: lock_timeout=1s\r\n"
							"CREATE TABLE t (id int);\r\n"
							"SELECT 'é', 1 fromm t;\r\n");
	_cleanup_free_ char *b = parse_error("2_x.sql", "SELECT 1;\nSELECT 'unterminated;\n");

	ck_assert_str_eq(a, "/m/1_x.sql:3:21: syntax error at or near \"t\"");
	ck_assert_str_eq(b, "/m/2_x.sql:2:8: unterminated quoted string at or near "
			    "\"'unterminated; \"");
}
END_TEST

#define D MIGRATIONS_FORMAT_DEPLOYD

START_TEST(test_file_names_give_version_and_name)
{
	_cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *va = NULL, *vb = NULL, *vc = NULL;

	ck_assert_int_eq(migrations_filename_parse(D, "1_init.sql", &va, &a, NULL), 1);
	ck_assert_str_eq(va, "1");
	ck_assert_str_eq(a, "init");
	ck_assert_int_eq(migrations_filename_parse(D, "0042_add-users.v2.sql", &vb, &b, NULL), 1);
	ck_assert_str_eq(vb, "42");
	ck_assert_str_eq(b, "add-users.v2");
	/* Past 2^63: versions are text, compared as numbers of any length. */
	ck_assert_int_eq(
		migrations_filename_parse(D, "99999999999999999999_max.sql", &vc, &c, NULL), 1);
	ck_assert_str_eq(vc, "99999999999999999999");
}
END_TEST

/* The version and name filename gives in format, as "VERSION NAME", or "ignored", or
 * "refused: REASON". */
static char *parse_name(MigrationsFormat format, const char *filename)
{
	_cleanup_free_ char *version = NULL, *name = NULL;
	const char *reason = NULL;
	char *out = NULL;
	int r = migrations_filename_parse(format, filename, &version, &name, &reason);

	if (r == 1)
		ck_assert_int_ge(asprintf(&out, "%s %s", version, name), 0);
	else if (r == 0)
		out = strdup("ignored");
	else {
		ck_assert_int_eq(r, -EINVAL);
		ck_assert_ptr_nonnull(reason);
		ck_assert_int_ge(asprintf(&out, "refused: %s", reason), 0);
	}
	ck_assert_ptr_nonnull(out);
	return out;
}

#define ASSERT_NAME(format, filename, expected)                                                    \
	do {                                                                                       \
		_cleanup_free_ char *_got = parse_name(format, filename);                          \
		ck_assert_msg(strncmp(_got, expected, strlen(expected)) == 0,                      \
			      "%s: got '%s', expected '%s…'", filename, _got, expected);           \
	} while (0)

START_TEST(test_each_format_reads_its_tools_file_names)
{
	ASSERT_NAME(MIGRATIONS_FORMAT_DBMATE, "20151129054053_create_users.sql",
		    "20151129054053 create_users");
	ASSERT_NAME(MIGRATIONS_FORMAT_DBMATE, "create_users.sql", "refused: expected VERSION_NAME");
	ASSERT_NAME(MIGRATIONS_FORMAT_GOLANG_MIGRATE, "000001_create_users.up.sql",
		    "1 create_users");
	ASSERT_NAME(MIGRATIONS_FORMAT_GOLANG_MIGRATE, "000001_create_users.down.sql", "ignored");
	ASSERT_NAME(MIGRATIONS_FORMAT_GOLANG_MIGRATE, "1_users.sql",
		    "refused: expected VERSION_NAME.up.sql");
	ASSERT_NAME(MIGRATIONS_FORMAT_FLYWAY, "V1__init.sql", "1 init");
	ASSERT_NAME(MIGRATIONS_FORMAT_FLYWAY, "V1.2__add_users.sql", "1.2 add_users");
	ASSERT_NAME(MIGRATIONS_FORMAT_FLYWAY, "V1_10__more.sql", "1.10 more");
	ASSERT_NAME(MIGRATIONS_FORMAT_FLYWAY, "V2.01.0__x.sql", "2.1.0 x");
	ASSERT_NAME(MIGRATIONS_FORMAT_FLYWAY, "R__views.sql", "refused: a Flyway repeatable");
	ASSERT_NAME(MIGRATIONS_FORMAT_FLYWAY, "U2__undo.sql", "refused: a Flyway undo");
	ASSERT_NAME(MIGRATIONS_FORMAT_FLYWAY, "V1_init.sql", "refused: expected V<VERSION>__");
	ASSERT_NAME(MIGRATIONS_FORMAT_FLYWAY, "V1.__x.sql", "refused: expected V<VERSION>__");
	ASSERT_NAME(MIGRATIONS_FORMAT_FLYWAY, "V0__x.sql", "refused: expected V<VERSION>__");
	ASSERT_NAME(MIGRATIONS_FORMAT_FLYWAY, "notes.txt", "ignored");
}
END_TEST

START_TEST(test_versions_compare_part_by_part_as_numbers)
{
	ck_assert_int_lt(migrations_version_compare("1.9", "1.10"), 0);
	ck_assert_int_gt(migrations_version_compare("2", "1.99"), 0);
	ck_assert_int_eq(migrations_version_compare("1.0", "1"), 0);
	ck_assert_int_eq(migrations_version_compare("1.01", "1.1"), 0);
	ck_assert_int_lt(migrations_version_compare("9", "20240101120000"), 0);
	ck_assert_int_lt(migrations_version_compare("20240101120000", "20240101120001"), 0);
	ck_assert_int_lt(
		migrations_version_compare("99999999999999999999", "100000000000000000000"), 0);
	ck_assert(migrations_version_is_valid("1.2.3"));
	ck_assert(migrations_version_is_valid("20240101120000"));
	ck_assert(!migrations_version_is_valid("1..2"));
	ck_assert(!migrations_version_is_valid("1.2."));
	ck_assert(!migrations_version_is_valid("1'; DROP TABLE x; --"));
	ck_assert(!migrations_version_is_valid(""));
}
END_TEST

static Migration parse_format_ok(MigrationsFormat format, const char *name, const char *text)
{
	_cleanup_free_ char *path = NULL, *error = NULL;
	Migration m = {};

	ck_assert_int_ge(asprintf(&path, "/m/%s", name), 0);
	ck_assert_msg(migrations_parse(format, path, text, strlen(text), &m, &error) == 0, "%s",
		      error ?: "(no message)");
	return m;
}

static char *parse_format_error(MigrationsFormat format, const char *name, const char *text)
{
	_cleanup_free_ char *path = NULL;
	char *error = NULL;
	Migration m = {};

	ck_assert_int_ge(asprintf(&path, "/m/%s", name), 0);
	ck_assert_int_lt(migrations_parse(format, path, text, strlen(text), &m, &error), 0);
	ck_assert_ptr_nonnull(error);
	return error;
}

START_TEST(test_a_dbmate_file_runs_only_its_up_section_keeping_its_lines)
{
	static const char text[] = "-- migrate:up\n"
				   "CREATE TABLE u (id int);\n"
				   "INSERT INTO u VALUES (1);\n"
				   "\n"
				   "-- migrate:down\n"
				   "DROP TABLE u;\n";
	_cleanup_(migration_done) Migration m =
		parse_format_ok(MIGRATIONS_FORMAT_DBMATE, "20240101120000_users.sql", text);
	char sum[MIGRATIONS_CHECKSUM_HEX + 1];

	ck_assert_str_eq(m.version, "20240101120000");
	ck_assert_uint_eq(m.n_statements, 2);
	ck_assert_uint_eq(migrations_line_of_offset(m.sql, m.size, m.statements[1].offset), 3);
	ck_assert_ptr_null(strstr(m.sql, "DROP"));
	ck_assert_uint_eq(m.size, strlen(text));
	ck_assert(!m.directives.no_transaction);
	/* The checksum is the whole file's. */
	ck_assert_int_eq(migrations_checksum(text, strlen(text), sum), 0);
	ck_assert_str_eq(m.checksum, sum);
}
END_TEST

START_TEST(test_dbmate_transaction_false_means_no_transaction_and_other_text_is_refused)
{
	_cleanup_(migration_done) Migration m =
		parse_format_ok(MIGRATIONS_FORMAT_DBMATE, "2_idx.sql",
				"-- migrate:down\nDROP INDEX i;\n-- migrate:up transaction:false\n"
				"CREATE INDEX CONCURRENTLY i ON u (id);\n");
	_cleanup_free_ char *e1 = NULL, *e2 = NULL, *e3 = NULL;

	ck_assert(m.directives.no_transaction);
	ck_assert_uint_eq(m.n_statements, 1);
	ck_assert_ptr_null(strstr(m.sql, "DROP"));

	e1 = parse_format_error(MIGRATIONS_FORMAT_DBMATE, "3_x.sql", "CREATE TABLE x (id int);\n");
	ck_assert_str_eq(e1, "/m/3_x.sql:1: a statement before the '-- migrate:up' section (dbmate "
			     "runs nothing outside its up and down sections)");
	e2 = parse_format_error(MIGRATIONS_FORMAT_DBMATE, "3_x.sql", "-- hello\n-- migrate:down\n");
	ck_assert_prefix(e2, "/m/3_x.sql: no '-- migrate:up' line");
	e3 = parse_format_error(MIGRATIONS_FORMAT_DBMATE, "3_x.sql",
				"\n-- migrate:up transaction:maybe\nSELECT 1;\n");
	ck_assert_str_eq(e3, "/m/3_x.sql:2: unknown dbmate option 'transaction:maybe' (known: "
			     "transaction:false, transaction:true)");
}
END_TEST

START_TEST(test_a_flyway_repeatable_script_is_refused_by_name)
{
	_cleanup_free_ char *e =
		parse_format_error(MIGRATIONS_FORMAT_FLYWAY, "R__views.sql", "SELECT 1;");

	ck_assert_str_eq(e, "/m/R__views.sql: not a flyway migration file name (a Flyway "
			    "repeatable migration (R__): deployd runs each migration once; make it "
			    "a versioned V<VERSION>__<NAME>.sql file)");
}
END_TEST

START_TEST(test_bad_sql_file_names_are_refused_and_others_ignored)
{
	static const char *const bad[] = {
		"init.sql",
		"0_zero.sql",
		"000_zero.sql",
		"1init.sql",
		"1_.sql",
		"1-init.sql",
		"1_a b.sql",
		"1_é.sql",
		"-1_neg.sql",
		"1_a/b.sql",
		"12345678901234567890123456789012345678901234567890123456789012345_long.sql",
		"_1_x.sql",
	};
	static const char *const ignored[] = {"README", "1_x.sql.bak", ".1_x.sql", "1_x.SQL",
					      "sql"};
	char *v = NULL;
	char *name = NULL;

	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		ck_assert_msg(migrations_filename_parse(D, bad[i], &v, &name, NULL) == -EINVAL,
			      "%s", bad[i]);
	for (size_t i = 0; i < ELEMENTSOF(ignored); i++)
		ck_assert_msg(migrations_filename_parse(D, ignored[i], &v, &name, NULL) == 0, "%s",
			      ignored[i]);
	ck_assert_ptr_null(v);
	ck_assert_ptr_null(name);
}
END_TEST

START_TEST(test_checksum_is_sha256_hex_of_the_bytes)
{
	char sum[MIGRATIONS_CHECKSUM_HEX + 1];

	ck_assert_int_eq(migrations_checksum("abc", 3, sum), 0);
	ck_assert_str_eq(sum, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	ck_assert_int_eq(migrations_checksum("", 0, sum), 0);
	ck_assert_str_eq(sum, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
END_TEST

START_TEST(test_parse_fills_version_name_checksum_and_statements)
{
	_cleanup_(migration_done) Migration m =
		parse_ok("7_users.sql", "CREATE TABLE u (id int);\n"
					"INSERT INTO u VALUES (1);\n");

	ck_assert_str_eq(m.version, "7");
	ck_assert_str_eq(m.name, "users");
	ck_assert_str_eq(m.filename, "7_users.sql");
	ck_assert_str_eq(m.path, "/m/7_users.sql");
	ck_assert_uint_eq(m.size, 51);
	ck_assert_uint_eq(m.n_statements, 2);
	ck_assert_uint_eq(m.statements[1].offset, 25);
	ck_assert_int_eq(strlen(m.checksum), 64);
	ck_assert(!m.directives.no_transaction);
}
END_TEST

START_TEST(test_directives_in_the_leading_comments_are_read)
{
	_cleanup_(migration_done) Migration m =
		parse_ok("3_idx.sql", "-- adds an index\n"
				      "\n"
				      "-- deployd: no-transaction\n"
				      "--deployd: lock_timeout=10s statement_timeout=0\r\n"
				      "CREATE INDEX CONCURRENTLY i ON t (x);\n");

	ck_assert(m.directives.no_transaction);
	ck_assert(m.directives.set_lock_timeout);
	ck_assert_uint_eq(m.directives.lock_timeout, 10 * USEC_PER_SEC);
	ck_assert(m.directives.set_statement_timeout);
	ck_assert_uint_eq(m.directives.statement_timeout, 0);
}
END_TEST

START_TEST(test_unknown_directive_is_an_error_with_file_and_line)
{
	_cleanup_free_ char *e =
		parse_error("1_x.sql", "-- a comment\n-- deployd: no-transactions\n"
				       "SELECT 1;\n");

	ck_assert_str_eq(e, "/m/1_x.sql:2: unknown directive 'no-transactions' (known: "
			    "no-transaction, lock_timeout=DURATION, statement_timeout=DURATION)");
}
END_TEST

/* Found by fuzz-migration (tests/fuzz/regressions/migration/control-bytes-in-file-name). */
START_TEST(test_an_error_naming_a_hostile_file_name_is_one_line_of_utf8)
{
	_cleanup_free_ char *name = parse_error("\033[2J\xff\n.sql", "SELECT 1;\n");
	_cleanup_free_ char *directive =
		parse_error("1_x.sql", "-- deployd: lock_timeout=\033]0;owned\a\nSELECT 1;\n");

	ck_assert_str_eq(name,
			 "/m/\xef\xbf\xbd[2J\xef\xbf\xbd .sql: not a deployd migration file name "
			 "(expected VERSION_NAME.sql: VERSION a positive integer, NAME of "
			 "letters, digits, '_', '.', '-')");
	ck_assert_ptr_null(strchr(directive, '\033'));
	ck_assert_ptr_null(strchr(directive, '\a'));
}
END_TEST

START_TEST(test_repeated_bad_or_empty_directives_are_errors_with_their_line)
{
	_cleanup_free_ char *a = parse_error("1_x.sql", "-- deployd: lock_timeout=1s\n"
							"-- deployd: lock_timeout=2s\nSELECT 1;\n");
	_cleanup_free_ char *b = parse_error("1_x.sql", "-- deployd: statement_timeout=5\n");
	_cleanup_free_ char *c = parse_error("1_x.sql", "\n\n-- deployd:\n");

	ck_assert_str_eq(a, "/m/1_x.sql:2: directive lock_timeout repeated");
	ck_assert_prefix(b, "/m/1_x.sql:1: statement_timeout: '5': ");
	ck_assert_prefix(c, "/m/1_x.sql:3: ");
}
END_TEST

START_TEST(test_a_directive_after_the_first_statement_is_an_error)
{
	_cleanup_free_ char *e =
		parse_error("1_x.sql", "SELECT 1;\n-- deployd: no-transaction\nSELECT 2;\n");

	ck_assert_prefix(e, "/m/1_x.sql:2: directive after the first statement");
}
END_TEST

START_TEST(test_transaction_control_is_refused_with_its_line)
{
	_cleanup_free_ char *e = parse_error("1_x.sql", "CREATE TABLE a (id int);\n"
							"COMMIT;\nCREATE TABLE b (id int);\n");

	ck_assert_prefix(e, "/m/1_x.sql:2: transaction control (commit)");
}
END_TEST

START_TEST(test_savepoints_and_plpgsql_blocks_are_not_transaction_control)
{
	_cleanup_(migration_done) Migration m =
		parse_ok("1_x.sql", "SAVEPOINT s;\nROLLBACK TO SAVEPOINT s;\nRELEASE s;\n"
				    "DO $$ BEGIN PERFORM 1; END $$;\n");

	ck_assert_uint_eq(m.n_statements, 4);
}
END_TEST

START_TEST(test_a_no_transaction_file_holds_one_statement)
{
	_cleanup_free_ char *e = parse_error("1_x.sql", "-- deployd: no-transaction\n"
							"CREATE INDEX CONCURRENTLY a ON t (x);\n"
							"CREATE INDEX CONCURRENTLY b ON t (y);\n");
	_cleanup_(migration_done) Migration m =
		parse_ok("2_x.sql", "-- deployd: no-transaction\nVACUUM t; -- comment after it\n");

	ck_assert_prefix(e, "/m/1_x.sql:3: a no-transaction migration holds one statement");
	ck_assert_uint_eq(m.n_statements, 1);
}
END_TEST

START_TEST(test_invalid_utf8_and_nul_are_refused_with_their_line)
{
	_cleanup_free_ char *e = parse_error("1_x.sql", "SELECT 1;\nSELECT '\xC3\x28';\n");

	ck_assert_str_eq(e, "/m/1_x.sql:2: not valid UTF-8");

	char text[] = "SELECT 1;\n\nSELECT 2;";
	text[10] = '\0';
	Migration m = {};
	char *error = NULL;
	ck_assert_int_eq(migrations_parse(MIGRATIONS_FORMAT_DEPLOYD, "/m/1_x.sql", text,
					  sizeof(text) - 1, &m, &error),
			 -EINVAL);
	ck_assert_str_eq(error, "/m/1_x.sql:2: contains a NUL byte");
	free(error);
}
END_TEST

START_TEST(test_a_bad_file_name_is_refused_by_parse)
{
	_cleanup_free_ char *e = parse_error("01-x.sql", "SELECT 1;");

	ck_assert_prefix(e, "/m/01-x.sql: not a deployd migration file name");
}
END_TEST

START_TEST(test_positions_map_to_lines_with_lf)
{
	const char *t = "SELECT 1;\nSELEC 2;\nSELECT 3;";

	ck_assert_uint_eq(migrations_line_of_position(t, strlen(t), 1, false), 1);
	ck_assert_uint_eq(migrations_line_of_position(t, strlen(t), 10, false), 1);
	ck_assert_uint_eq(migrations_line_of_position(t, strlen(t), 11, false), 2);
	ck_assert_uint_eq(migrations_line_of_position(t, strlen(t), 19, false), 2);
	ck_assert_uint_eq(migrations_line_of_position(t, strlen(t), 20, false), 3);
	ck_assert_uint_eq(migrations_line_of_position(t, strlen(t), 999, false), 3);
	ck_assert_uint_eq(migrations_line_of_position(t, strlen(t), 0, false), 0);
}
END_TEST

START_TEST(test_positions_count_cr_as_a_character)
{
	/* "SELEC" on line 3 starts at character 23: 10 + 2 CRs earlier. */
	const char *t = "SELECT 1;\r\nSELECT 2;\r\nSELEC 3;\r\n";

	ck_assert_uint_eq(migrations_line_of_position(t, strlen(t), 11, false), 1); /* the LF */
	ck_assert_uint_eq(migrations_line_of_position(t, strlen(t), 12, false), 2);
	ck_assert_uint_eq(migrations_line_of_position(t, strlen(t), 23, false), 3);
	ck_assert_uint_eq(migrations_line_of_position(t, strlen(t), 500, false), 3);
}
END_TEST

START_TEST(test_positions_count_characters_not_bytes)
{
	/* Line 1 holds 9 characters in 15 bytes ("ä" is 2 bytes, "€" 3, "😀" 4). */
	const char *t = "--ä€😀xyz\nSELEC 1;\n";

	ck_assert_uint_eq(strlen(t), 15 + 9);
	ck_assert_uint_eq(migrations_line_of_position(t, strlen(t), 9, false), 1);
	ck_assert_uint_eq(migrations_line_of_position(t, strlen(t), 10, false), 2);
	/* Counted as bytes (a SQL_ASCII database), position 10 is still on line 1. */
	ck_assert_uint_eq(migrations_line_of_position(t, strlen(t), 10, true), 1);
	ck_assert_uint_eq(migrations_line_of_position(t, strlen(t), 16, true), 2);
}
END_TEST

START_TEST(test_offsets_map_to_lines)
{
	const char *t = "a\nb\n";

	ck_assert_uint_eq(migrations_line_of_offset(t, 4, 0), 1);
	ck_assert_uint_eq(migrations_line_of_offset(t, 4, 2), 2);
	ck_assert_uint_eq(migrations_line_of_offset(t, 4, 4), 2);
	ck_assert_uint_eq(migrations_line_of_offset(t, 4, 99), 2);
	ck_assert_uint_eq(migrations_line_of_offset("", 0, 0), 1);
}
END_TEST

START_TEST(test_discovery_orders_numerically_and_ignores_other_files)
{
	_cleanup_free_ char *dir = temp_dir(), *error = NULL;
	Migration *list = NULL;
	size_t n = 0;

	write_file(dir, "10_ten.sql", "SELECT 10;");
	write_file(dir, "2_two.sql", "SELECT 2;");
	write_file(dir, "0001_one.sql", "SELECT 1;");
	write_file(dir, "README.md", "not a migration");
	write_file(dir, ".3_hidden.sql", "garbage");
	write_file(dir, "4_x.sql~", "editor backup");

	ck_assert_msg(migrations_discover(D, dir, &list, &n, &error) == 0, "%s", error);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(list[0].version, "1");
	ck_assert_str_eq(list[1].version, "2");
	ck_assert_str_eq(list[2].version, "10");
	ck_assert_str_eq(list[2].sql, "SELECT 10;");
	migrations_free(list, n);
}
END_TEST

START_TEST(test_discovery_refuses_duplicate_versions)
{
	_cleanup_free_ char *dir = temp_dir();
	char *error = NULL;
	Migration *list = NULL;
	size_t n = 0;

	write_file(dir, "1_a.sql", "SELECT 1;");
	write_file(dir, "01_b.sql", "SELECT 1;");
	ck_assert_int_eq(migrations_discover(D, dir, &list, &n, &error), -EEXIST);
	ck_assert_ptr_null(list);
	ck_assert_ptr_nonnull(strstr(error, "01_b.sql and 1_a.sql have the same version 1"));
	free(error);
}
END_TEST

START_TEST(test_discovery_refuses_a_bad_name_or_a_directory)
{
	_cleanup_free_ char *dir = temp_dir(), *sub = NULL;
	char *error = NULL;
	Migration *list = NULL;
	size_t n = 0;

	write_file(dir, "1_a.sql", "SELECT 1;");
	write_file(dir, "2 b.sql", "SELECT 2;");
	ck_assert_int_eq(migrations_discover(D, dir, &list, &n, &error), -EINVAL);
	ck_assert_ptr_nonnull(strstr(error, "2 b.sql: not a deployd migration file name"));
	free(error);

	ck_assert_int_ge(asprintf(&sub, "%s/2 b.sql", dir), 0);
	unlink(sub);
	free(sub);
	ck_assert_int_ge(asprintf(&sub, "%s/3_dir.sql", dir), 0);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	ck_assert_int_eq(migrations_discover(D, dir, &list, &n, &error), -EINVAL);
	ck_assert_ptr_nonnull(strstr(error, "3_dir.sql: not a regular file"));
	free(error);
	ck_assert_ptr_null(list);
}
END_TEST

START_TEST(test_discovery_of_a_missing_directory_names_it)
{
	char *error = NULL;
	Migration *list = NULL;
	size_t n = 0;

	ck_assert_int_eq(migrations_discover(D, "/nonexistent/migrations", &list, &n, &error),
			 -ENOENT);
	ck_assert_str_eq(error, "/nonexistent/migrations: No such file or directory");
	free(error);
}
END_TEST

START_TEST(test_the_example_migrations_are_valid)
{
	_cleanup_free_ char *error = NULL;
	Migration *list = NULL;
	size_t n = 0;

	/* The tests run from the source tree. */
	ck_assert_msg(migrations_discover(D, "config/migrations", &list, &n, &error) == 0, "%s",
		      error);
	ck_assert_uint_ge(n, 3);
	ck_assert(list[2].directives.no_transaction);
	ck_assert_uint_eq(list[2].directives.lock_timeout, 10 * USEC_PER_SEC);
	migrations_free(list, n);
}
END_TEST

START_TEST(test_status_merges_files_and_history)
{
	_cleanup_(migration_done) Migration a = parse_ok("1_a.sql", "SELECT 1;");
	_cleanup_(migration_done) Migration b = parse_ok("2_b.sql", "SELECT 2;");
	_cleanup_(migration_done) Migration d = parse_ok("4_d.sql", "SELECT 4;");
	Migration files[] = {a, b, d};
	MigrationHistoryEntry entries[] = {
		{.version = "1", .checksum = a.checksum},
		{.version = "2", .checksum = "0000"},
		{.version = "3", .checksum = "1111"},
	};
	MigrationHistory h = {.exists = true, .entries = entries, .n = 3};
	_cleanup_free_ MigrationStatus *s = NULL;
	size_t n = 0;

	ck_assert_int_eq(migrations_status(files, 3, &h, &s, &n), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(s[0].state, MIGRATION_APPLIED);
	ck_assert_int_eq(s[1].state, MIGRATION_CHANGED);
	ck_assert_int_eq(s[2].state, MIGRATION_MISSING);
	ck_assert_str_eq(s[2].version, "3");
	ck_assert_ptr_null(s[2].file);
	ck_assert_int_eq(s[3].state, MIGRATION_PENDING);
	ck_assert_ptr_eq(s[3].file, &files[2]);
	ck_assert_ptr_null(s[3].entry);
	ck_assert_str_eq(migration_state_to_string(MIGRATION_CHANGED), "changed");
}
END_TEST

START_TEST(test_table_names_are_validated_and_quoted)
{
	_cleanup_free_ char *a = NULL, *b = NULL;
	char *c = NULL;

	ck_assert_int_eq(migrations_quote_table("deployd_schema_migrations", &a), 0);
	ck_assert_str_eq(a, "\"deployd_schema_migrations\"");
	ck_assert_int_eq(migrations_quote_table("Ops.History", &b), 0);
	ck_assert_str_eq(b, "\"Ops\".\"History\"");
	ck_assert_int_eq(migrations_quote_table("a.b.c", &c), -EINVAL);
	ck_assert_int_eq(migrations_quote_table("x\"; DROP TABLE y; --", &c), -EINVAL);
	ck_assert_int_eq(migrations_quote_table("", &c), -EINVAL);
	ck_assert_int_eq(migrations_quote_table("1abc", &c), -EINVAL);
	ck_assert_ptr_null(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("migrations");
	TCase *tc = tcase_create("migrations");

	tcase_add_test(tc, test_file_names_give_version_and_name);
	tcase_add_test(tc, test_a_parsed_file_is_known_to_be_read_whole_by_the_parser);
	tcase_add_test(tc, test_text_the_parser_refuses_is_named_by_file_line_and_column);
	tcase_add_test(tc, test_bad_sql_file_names_are_refused_and_others_ignored);
	tcase_add_test(tc, test_each_format_reads_its_tools_file_names);
	tcase_add_test(tc, test_versions_compare_part_by_part_as_numbers);
	tcase_add_test(tc, test_a_dbmate_file_runs_only_its_up_section_keeping_its_lines);
	tcase_add_test(
		tc, test_dbmate_transaction_false_means_no_transaction_and_other_text_is_refused);
	tcase_add_test(tc, test_a_flyway_repeatable_script_is_refused_by_name);
	tcase_add_test(tc, test_checksum_is_sha256_hex_of_the_bytes);
	tcase_add_test(tc, test_parse_fills_version_name_checksum_and_statements);
	tcase_add_test(tc, test_directives_in_the_leading_comments_are_read);
	tcase_add_test(tc, test_unknown_directive_is_an_error_with_file_and_line);
	tcase_add_test(tc, test_an_error_naming_a_hostile_file_name_is_one_line_of_utf8);
	tcase_add_test(tc, test_repeated_bad_or_empty_directives_are_errors_with_their_line);
	tcase_add_test(tc, test_a_directive_after_the_first_statement_is_an_error);
	tcase_add_test(tc, test_transaction_control_is_refused_with_its_line);
	tcase_add_test(tc, test_savepoints_and_plpgsql_blocks_are_not_transaction_control);
	tcase_add_test(tc, test_a_no_transaction_file_holds_one_statement);
	tcase_add_test(tc, test_invalid_utf8_and_nul_are_refused_with_their_line);
	tcase_add_test(tc, test_a_bad_file_name_is_refused_by_parse);
	tcase_add_test(tc, test_positions_map_to_lines_with_lf);
	tcase_add_test(tc, test_positions_count_cr_as_a_character);
	tcase_add_test(tc, test_positions_count_characters_not_bytes);
	tcase_add_test(tc, test_offsets_map_to_lines);
	tcase_add_test(tc, test_discovery_orders_numerically_and_ignores_other_files);
	tcase_add_test(tc, test_discovery_refuses_duplicate_versions);
	tcase_add_test(tc, test_discovery_refuses_a_bad_name_or_a_directory);
	tcase_add_test(tc, test_discovery_of_a_missing_directory_names_it);
	tcase_add_test(tc, test_the_example_migrations_are_valid);
	tcase_add_test(tc, test_status_merges_files_and_history);
	tcase_add_test(tc, test_table_names_are_validated_and_quoted);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
