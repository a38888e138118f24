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

int sql_parse(const char *text, SqlParse *ret, SqlParseError *ret_error)
{
	_cleanup_(sql_parse_done) SqlParse p = {};
	_cleanup_free_ char *unloadable = NULL;
	size_t size = strlen(text);
	json_object *stmts;
	PgQueryLib lib;
	int r = 0;

	r = pg_query_lib_open(&lib, &unloadable);
	if (r < 0) {
		if (ret_error && r == -ENOPKG)
			*ret_error = (SqlParseError){.message = TAKE_PTR(unloadable)};
		return r;
	}
	PgQueryParseResult result = lib.parse(text);
	if (result.error) {
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
		return r < 0 ? r : -EINVAL;
	}
	p.root = result.parse_tree ? json_tokener_parse(result.parse_tree) : NULL;
	lib.free_parse_result(result);
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
		int64_t location = get_int(raw, "stmt_location"), len = get_int(raw, "stmt_len");
		SqlStatement *s = &p.statements[p.n];

		if (!json_object_object_get_ex(raw, "stmt", &tree) || location < 0 || len < 0 ||
		    (size_t)location > size || (size_t)len > size - (size_t)location)
			return -EIO;
		s->offset = skip_to_token(text, size, (size_t)location);
		/* stmt_len 0: the statement runs to the end of the text. */
		s->end = len > 0 ? (size_t)(location + len) : size;
		if (s->offset >= s->end)
			return -EIO;
		first_word(text, s->offset, s->end, s->verb);
		s->transaction_control = is_transaction_control(tree);
		p.trees[p.n++] = tree;
	}
	*ret = p;
	p = (SqlParse){};
	return 0;
}

int sql_parse_statements(const char *text, SqlStatement **ret, size_t *ret_n,
			 SqlParseError *ret_error)
{
	_cleanup_(sql_parse_done) SqlParse p = {};
	int r;

	r = sql_parse(text, &p, ret_error);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(p.statements);
	*ret_n = p.n;
	return 0;
}
