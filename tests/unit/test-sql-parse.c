/* sql-parse: statement boundaries, errors and transaction control from PostgreSQL's parser. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check-run.h"
#include "cleanup.h"
#include "sql-parse.h"

typedef struct Split {
	SqlStatement *s;
	size_t n;
} Split;

static void split_done(Split *s)
{
	free(s->s);
}

static Split split(const char *text)
{
	Split s = {};
	SqlParseError e = {};
	int r = sql_parse_statements(text, &s.s, &s.n, NULL, &e);

	ck_assert_msg(r == 0, "%s: %s", text, e.message);
	return s;
}

/* The parser's error for text, which it must refuse. */
static SqlParseError refused(const char *text)
{
	SqlStatement *s = NULL;
	size_t n = 0;
	SqlParseError e = {};

	ck_assert_int_eq(sql_parse_statements(text, &s, &n, NULL, &e), -EINVAL);
	ck_assert_ptr_null(s);
	ck_assert_ptr_nonnull(e.message);
	return e;
}

/* The text of statement i from its first token to the next statement (or the end). */
static void assert_starts(const char *text, const Split *s, size_t i, const char *start)
{
	ck_assert_uint_lt(i, s->n);
	ck_assert_msg(strncmp(text + s->s[i].offset, start, strlen(start)) == 0,
		      "statement %zu starts with '%.20s', expected '%s'", i, text + s->s[i].offset,
		      start);
}

START_TEST(test_statements_start_at_their_first_token)
{
	const char *t = "  SELECT 1;\n-- note\nSELECT 2 ;/* c */ SELECT 3";
	_cleanup_(split_done) Split s = split(t);

	ck_assert_uint_eq(s.n, 3);
	ck_assert_uint_eq(s.s[0].offset, 2);
	assert_starts(t, &s, 1, "SELECT 2");
	assert_starts(t, &s, 2, "SELECT 3");
	ck_assert_uint_eq(s.s[0].end, 10);
	ck_assert_str_eq(s.s[0].verb, "select");
}
END_TEST

START_TEST(test_empty_statements_and_comments_alone_are_not_statements)
{
	_cleanup_(split_done) Split a =
		split(";;  ; -- only a comment\n/* and /* nested */ one */;");
	_cleanup_(split_done) Split b = split("");

	ck_assert_uint_eq(a.n, 0);
	ck_assert_ptr_null(a.s);
	ck_assert_uint_eq(b.n, 0);
}
END_TEST

START_TEST(test_semicolons_inside_strings_and_identifiers_do_not_split)
{
	const char *t =
		"INSERT INTO \"a;b\" VALUES ('x;''y', E'z\\';w', U&'q;', $$a;b$$, $t$ $$; $t$);"
		"SELECT 2;";
	_cleanup_(split_done) Split s = split(t);

	ck_assert_uint_eq(s.n, 2);
	assert_starts(t, &s, 1, "SELECT 2");
	ck_assert_str_eq(s.s[0].verb, "insert");
}
END_TEST

START_TEST(test_dollar_parameters_and_identifiers_with_dollars_are_not_quotes)
{
	const char *t = "PREPARE p AS SELECT $1; SELECT a$b FROM t; SELECT 3";
	_cleanup_(split_done) Split s = split(t);

	ck_assert_uint_eq(s.n, 3);
	assert_starts(t, &s, 1, "SELECT a$b");
	assert_starts(t, &s, 2, "SELECT 3");
}
END_TEST

START_TEST(test_function_bodies_split_nowhere)
{
	const char *t = "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$\n"
			"BEGIN\n  RETURN 1;\nEND;\n$body$;\n"
			"CREATE OR REPLACE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC\n"
			"  SELECT CASE WHEN true THEN 1 ELSE 2 END;\n  SELECT 2;\nEND;\n"
			"CREATE RULE r AS ON INSERT TO t DO ALSO (SELECT 1; SELECT 2);\n"
			"SELECT 4;";
	_cleanup_(split_done) Split s = split(t);

	ck_assert_uint_eq(s.n, 4);
	assert_starts(t, &s, 1, "CREATE OR REPLACE PROCEDURE");
	assert_starts(t, &s, 2, "CREATE RULE");
	assert_starts(t, &s, 3, "SELECT 4");
}
END_TEST

START_TEST(test_begin_as_a_column_outside_a_function_still_splits)
{
	const char *t = "SELECT begin, \"end\" FROM t; SELECT 2";
	_cleanup_(split_done) Split s = split(t);

	ck_assert_uint_eq(s.n, 2);
}
END_TEST

START_TEST(test_unterminated_quotes_and_syntax_errors_are_refused_with_a_character_position)
{
	_cleanup_(sql_parse_error_done) SqlParseError a = refused("SELECT 'abc; SELECT 2;");
	_cleanup_(sql_parse_error_done) SqlParseError b = refused("SELECT $x$ abc; SELECT 2;");
	_cleanup_(sql_parse_error_done) SqlParseError c = refused("SELECT 1 /* abc; SELECT 2;");
	/* 'é' is two bytes and one character: the position counts characters. */
	_cleanup_(sql_parse_error_done) SqlParseError d = refused("SELECT 'é' fromm x;");

	ck_assert_uint_eq(a.position, 8);
	ck_assert_uint_eq(b.position, 8);
	ck_assert_uint_eq(d.position, 18);
	ck_assert_ptr_nonnull(strstr(d.message, "syntax error"));
}
END_TEST

START_TEST(test_parse_trees_come_with_their_statements)
{
	_cleanup_(sql_parse_done) SqlParse p = {};
	json_object *alter;

	ck_assert_int_eq(sql_parse("ALTER TABLE \"Ab\".t ADD c int; DROP TABLE u", &p, NULL), 0);
	ck_assert_uint_eq(p.n, 2);
	ck_assert(json_object_object_get_ex(p.trees[0], "AlterTableStmt", &alter));
	ck_assert(json_object_object_get_ex(p.trees[1], "DropStmt", NULL));
	ck_assert_str_eq(p.statements[1].verb, "drop");
}
END_TEST

START_TEST(test_transaction_control_is_recognised)
{
	static const char *const control[] = {
		"BEGIN",
		"begin isolation level serializable",
		"START TRANSACTION",
		"COMMIT",
		"commit and chain",
		"END",
		"ABORT",
		"ROLLBACK",
		"rollback work",
		"PREPARE TRANSACTION 'x'",
	};
	static const char *const not_control[] = {
		"ROLLBACK TO SAVEPOINT s",
		"rollback to s",
		"ROLLBACK WORK TO s",
		"SAVEPOINT s",
		"RELEASE SAVEPOINT s",
		"COMMIT PREPARED 'x'",
		"PREPARE q AS SELECT 1",
		"SELECT 1",
		"(SELECT 1)",
		"SELECT endpoint_update()",
	};

	for (size_t i = 0; i < ELEMENTSOF(control); i++) {
		_cleanup_(split_done) Split s = split(control[i]);
		ck_assert_uint_eq(s.n, 1);
		ck_assert_msg(s.s[0].transaction_control, "%s", control[i]);
	}
	for (size_t i = 0; i < ELEMENTSOF(not_control); i++) {
		_cleanup_(split_done) Split s = split(not_control[i]);
		ck_assert_uint_eq(s.n, 1);
		ck_assert_msg(!s.s[0].transaction_control, "%s", not_control[i]);
	}
}
END_TEST

/* sql_parse_statements() takes a text without transaction statements from the parser's
 * splitter instead of its tree: both ways give the same statements. */
START_TEST(test_the_splitter_and_the_tree_give_the_same_statements)
{
	static const char *const texts[] = {
		"CREATE TABLE t (id int);\n",
		"-- leading comment\n/* block /* nested */ */ SELECT 1;\r\nSELECT 2",
		"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $x$ SELECT 1; $x$;\nSELECT f();",
		"SELECT 'a;b', \"c;d\" FROM t;;; ;\n  INSERT INTO t VALUES (1) -- tail",
		"SELECT 'caf\xc3\xa9' AS x; SELECT '\"TransactionStmt\":{' AS y;",
		"DO $$ BEGIN PERFORM 1; END $$;\nALTER TABLE t ADD COLUMN y int;",
	};

	for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
		_cleanup_(split_done) Split fast = split(texts[i]);
		_cleanup_(sql_parse_done) SqlParse tree = {};
		SqlParseError e = {};

		ck_assert_msg(sql_parse(texts[i], &tree, &e) == 0, "%s: %s", texts[i], e.message);
		ck_assert_uint_eq(fast.n, tree.n);
		for (size_t k = 0; k < tree.n; k++) {
			ck_assert_uint_eq(fast.s[k].offset, tree.statements[k].offset);
			ck_assert_uint_eq(fast.s[k].end, tree.statements[k].end);
			ck_assert_str_eq(fast.s[k].verb, tree.statements[k].verb);
			ck_assert(!fast.s[k].transaction_control);
		}
	}
}
END_TEST

/* DEALLOCATE and DISCARD, as PostgreSQL's parser reads them, are told; a name or a string that
 * only looks like one is not. */
START_TEST(test_a_text_that_drops_prepared_statements_is_told)
{
	static const struct {
		const char *text;
		bool drops;
	} cases[] = {
		{"CREATE TABLE t (id int);\nDEALLOCATE ALL;\n", true},
		{"DEALLOCATE PREPARE my_plan;", true},
		{"DISCARD ALL", true},
		{"BEGIN; DISCARD PLANS; COMMIT;", true},
		{"SELECT 'DEALLOCATE ALL', '\"DeallocateStmt\":{' AS x;", false},
		{"CREATE TABLE discard (deallocate int);", false},
		{"BEGIN; CREATE TABLE t (id int); COMMIT;", false},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		SqlStatement *s = NULL;
		size_t n = 0;
		SqlKinds kinds = 0;
		SqlParseError e = {};

		ck_assert_msg(sql_parse_statements(cases[i].text, &s, &n, &kinds, &e) == 0,
			      "%s: %s", cases[i].text, e.message);
		ck_assert_msg(!!(kinds & SQL_DROPS_PREPARED) == cases[i].drops, "%s",
			      cases[i].text);
		free(s);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sql-parse");
	TCase *tc = tcase_create("sql-parse");

	tcase_add_test(tc, test_statements_start_at_their_first_token);
	tcase_add_test(tc, test_empty_statements_and_comments_alone_are_not_statements);
	tcase_add_test(tc, test_semicolons_inside_strings_and_identifiers_do_not_split);
	tcase_add_test(tc, test_dollar_parameters_and_identifiers_with_dollars_are_not_quotes);
	tcase_add_test(tc, test_function_bodies_split_nowhere);
	tcase_add_test(tc, test_begin_as_a_column_outside_a_function_still_splits);
	tcase_add_test(
		tc,
		test_unterminated_quotes_and_syntax_errors_are_refused_with_a_character_position);
	tcase_add_test(tc, test_parse_trees_come_with_their_statements);
	tcase_add_test(tc, test_transaction_control_is_recognised);
	tcase_add_test(tc, test_the_splitter_and_the_tree_give_the_same_statements);
	tcase_add_test(tc, test_a_text_that_drops_prepared_statements_is_told);
	suite_add_tcase(s, tc);

	return check_run_suite(s);
}
