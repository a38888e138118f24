/* SQL texts through libpg_query's parser (sql-parse.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "pg-query-lib.h"
#include "sql-parse.h"

/* The first token at or after offset.  The parser accepted the text, and between one
 * statement's end (or the text's start) and the next statement's first token the grammar
 * allows only whitespace, ';' and comments ("--" to the end of the line, nested block
 * comments): nothing else needs reading here. */
static size_t skip_to_token(const char *text, size_t size, size_t offset)
{
	size_t i = offset;

	while (i < size) {
		char c = text[i];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' ||
		    c == ';') {
			i++;
		} else if (c == '-' && i + 1 < size && text[i + 1] == '-') {
			const char *nl = memchr(text + i, '\n', size - i);
			i = nl ? (size_t)(nl - text) + 1 : size;
		} else if (c == '/' && i + 1 < size && text[i + 1] == '*') {
			unsigned depth = 1;
			for (i += 2; i < size && depth > 0; i++) {
				if (text[i] == '/' && i + 1 < size && text[i + 1] == '*')
					depth++, i++;
				else if (text[i] == '*' && i + 1 < size && text[i + 1] == '/')
					depth--, i++;
			}
		} else
			break;
	}
	return i;
}

static void first_word(const char *text, size_t offset, size_t end, char ret[SQL_WORD_MAX])
{
	size_t n = 0;

	ret[0] = '\0';
	while (offset + n < end && n < SQL_WORD_MAX &&
	       ((text[offset + n] >= 'a' && text[offset + n] <= 'z') ||
		(text[offset + n] >= 'A' && text[offset + n] <= 'Z'))) {
		n++;
	}
	if (n == 0 || n >= SQL_WORD_MAX)
		return;
	for (size_t i = 0; i < n; i++) {
		char c = text[offset + i];
		ret[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	ret[n] = '\0';
}

static bool is_transaction_control(json_object *tree)
{
	static const char *const kinds[] = {
		"TRANS_STMT_BEGIN",    "TRANS_STMT_START",   "TRANS_STMT_COMMIT",
		"TRANS_STMT_ROLLBACK", "TRANS_STMT_PREPARE",
	};
	json_object *stmt, *kind;

	if (!json_object_object_get_ex(tree, "TransactionStmt", &stmt))
		return false;
	if (!json_object_object_get_ex(stmt, "kind", &kind))
		return false;
	for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
		if (strcmp(json_object_get_string(kind), kinds[i]) == 0)
			return true;
	return false;
}

static int64_t get_int(json_object *o, const char *key)
{
	json_object *v;

	/* libpg_query leaves out fields at their default, 0. */
	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

void sql_parse_done(SqlParse *p)
{
	json_object_put(p->root);
	free(p->statements);
	free(p->trees);
	*p = (SqlParse){};
}

void sql_parse_error_done(SqlParseError *e)
{
	free(e->message);
	*e = (SqlParseError){};
}

/* Runs the parser over text; on failure *ret_error (when -EINVAL) says where. */
static int parse_raw(const char *text, PgQueryLib *ret_lib, PgQueryParseResult *ret,
		     SqlParseError *ret_error)
{
	_cleanup_free_ char *unloadable = NULL;
	PgQueryLib lib;
	int r;

	r = pg_query_lib_open(&lib, &unloadable);
	if (r < 0) {
		if (ret_error && r == -ENOPKG)
			*ret_error = (SqlParseError){.message = TAKE_PTR(unloadable)};
		return r;
	}
	PgQueryParseResult result = lib.parse(text);
	if (result.error) {
		r = -EINVAL;
		if (ret_error) {
			*ret_error = (SqlParseError){
				.message = strdup(result.error->message ?: "syntax error"),
				.position = result.error->cursorpos > 0
						    ? (unsigned)result.error->cursorpos
						    : 0,
			};
			if (!ret_error->message)
				r = -ENOMEM;
		}
		lib.free_parse_result(result);
		return r;
	}
	*ret_lib = lib;
	*ret = result;
	return 0;
}

/* The statement of text at location (bytes) for len (0: to the end); -EIO for bounds that
 * do not fit the text. */
static int statement_at(const char *text, size_t size, int64_t location, int64_t len,
			SqlStatement *ret)
{
	if (location < 0 || len < 0 || (size_t)location > size ||
	    (size_t)len > size - (size_t)location)
		return -EIO;
	*ret = (SqlStatement){.offset = skip_to_token(text, size, (size_t)location),
			      /* stmt_len 0: the statement runs to the end of the text. */
			      .end = len > 0 ? (size_t)(location + len) : size};
	if (ret->offset >= ret->end)
		return -EIO;
	first_word(text, ret->offset, ret->end, ret->verb);
	return 0;
}

static int parse_tree(const char *text, const char *tree_json, SqlParse *ret)
{
	_cleanup_(sql_parse_done) SqlParse p = {};
	size_t size = strlen(text);
	json_object *stmts;

	p.root = tree_json ? json_tokener_parse(tree_json) : NULL;
	if (!p.root)
		return -ENOMEM;
	if (!json_object_object_get_ex(p.root, "stmts", &stmts) ||
	    !json_object_is_type(stmts, json_type_array))
		return -EIO;

	size_t n = json_object_array_length(stmts);
	if (n > 0) {
		p.statements = calloc(n, sizeof(SqlStatement));
		p.trees = calloc(n, sizeof(json_object *));
		if (!p.statements || !p.trees)
			return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *raw = json_object_array_get_idx(stmts, i), *tree;

		if (!json_object_object_get_ex(raw, "stmt", &tree) ||
		    statement_at(text, size, get_int(raw, "stmt_location"),
				 get_int(raw, "stmt_len"), &p.statements[p.n]) < 0)
			return -EIO;
		p.statements[p.n].transaction_control = is_transaction_control(tree);
		p.trees[p.n++] = tree;
	}
	*ret = p;
	p = (SqlParse){};
	return 0;
}

int sql_parse(const char *text, SqlParse *ret, SqlParseError *ret_error)
{
	PgQueryParseResult result;
	PgQueryLib lib;
	int r;

	r = parse_raw(text, &lib, &result, ret_error);
	if (r < 0)
		return r;
	r = parse_tree(text, result.parse_tree, ret);
	lib.free_parse_result(result);
	return r;
}

/* The statements of a text that holds no transaction control, from the parser's splitter:
 * their bounds without reading a tree back (json-c costs ten times the parse itself). */
static int split(const PgQueryLib *lib, const char *text, SqlStatement **ret, size_t *ret_n)
{
	_cleanup_free_ SqlStatement *statements = NULL;
	PgQuerySplitResult result = lib->split_with_parser(text);
	size_t size = strlen(text), n = 0;
	int r = 0;

	if (result.error)
		r = -EIO;
	else if (result.n_stmts > 0 &&
		 !(statements = calloc((size_t)result.n_stmts, sizeof(SqlStatement))))
		r = -ENOMEM;
	for (int i = 0; r >= 0 && i < result.n_stmts; i++)
		r = statement_at(text, size, result.stmts[i]->stmt_location,
				 result.stmts[i]->stmt_len, &statements[n++]);
	lib->free_split_result(result);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(statements);
	*ret_n = n;
	return 0;
}

int sql_parse_statements(const char *text, SqlStatement **ret, size_t *ret_n, SqlKinds *ret_kinds,
			 SqlParseError *ret_error)
{
	_cleanup_(sql_parse_done) SqlParse p = {};
	PgQueryParseResult result;
	PgQueryLib lib;
	int r;

	r = parse_raw(text, &lib, &result, ret_error);
	if (r < 0)
		return r;
	/* The parser's JSON names each node as "Kind":{ (a string constant's quotes come out
	 * escaped): a text without a TransactionStmt node needs only its bounds. */
	const char *tree = result.parse_tree ?: "";
	bool transaction_stmt = strstr(tree, "\"TransactionStmt\":{");
	SqlKinds kinds = strstr(tree, "\"DeallocateStmt\":{") || strstr(tree, "\"DiscardStmt\":{")
				 ? SQL_DROPS_PREPARED
				 : 0;
	if (!transaction_stmt) {
		lib.free_parse_result(result);
		r = split(&lib, text, ret, ret_n);
	} else {
		r = parse_tree(text, result.parse_tree, &p);
		lib.free_parse_result(result);
		if (r >= 0) {
			*ret = TAKE_PTR(p.statements);
			*ret_n = p.n;
		}
	}
	if (r >= 0 && ret_kinds)
		*ret_kinds = kinds;
	return r;
}
