/* sql-parse.h — a SQL text as PostgreSQL's own parser reads it (libpg_query, PostgreSQL 15's
 * grammar), so that no statement boundary, string or comment rule is guessed here.
 *
 * sql_parse() runs the raw parser (no catalog: names are not resolved, nothing is executed)
 * over a NUL-terminated text and hands back every statement in order: the byte offset of its
 * first token (leading whitespace and comments skipped), the byte offset just past its last
 * token, its first keyword and whether it is transaction control, together with its parse
 * tree (libpg_query's JSON, read with json-c).  A text the parser refuses gives -EINVAL and
 * the parser's message with the 1-based *character* position of the error (UTF-8 characters,
 * as the server counts them; 0 when the parser gives none).  Empty statements (";;") and
 * comments alone are no statements.  Strings follow standard_conforming_strings = on. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>

#define SQL_WORD_MAX 16

typedef struct SqlStatement {
	size_t offset;		 /* byte offset of the statement's first token */
	size_t end;		 /* byte offset just past its last token (before any ';') */
	char verb[SQL_WORD_MAX]; /* its first keyword, lowercased ("" if longer) */
	/* BEGIN, START TRANSACTION, COMMIT, END, ABORT, ROLLBACK, PREPARE TRANSACTION: it would
	 * end or nest the transaction a migration runs in (not SAVEPOINT, RELEASE, ROLLBACK TO,
	 * COMMIT/ROLLBACK PREPARED) */
	bool transaction_control;
} SqlStatement;

typedef struct SqlParse {
	json_object *root; /* libpg_query's {"version":…,"stmts":[…]} */
	SqlStatement *statements;
	json_object **trees; /* trees[i]: statement i's node, e.g. {"AlterTableStmt":{…}}; owned by
				root */
	size_t n;
} SqlParse;

typedef struct SqlParseError {
	char *message;	   /* the parser's, e.g. "syntax error at or near \"x\"" */
	unsigned position; /* 1-based character of text, 0 when unknown */
} SqlParseError;

/* text: NUL-terminated.  On failure *ret is untouched; with -EINVAL *ret_error is filled,
 * and with -ENOPKG (the parser library cannot be loaded: pg-query-lib.h) its message says
 * why. */
int sql_parse(const char *text, SqlParse *ret, SqlParseError *ret_error);
void sql_parse_done(SqlParse *p);
void sql_parse_error_done(SqlParseError *e);

/* What sql_parse_statements() saw a text do, beside its statements. */
typedef enum SqlKinds {
	/* DEALLOCATE or DISCARD: prepared statements of the session may be gone after it. */
	SQL_DROPS_PREPARED = 1 << 0,
} SqlKinds;

/* The statements alone (*ret NULL when there are none), as sql_parse() gives them, and
 * (ret_kinds may be NULL) the SqlKinds of the text; a text without transaction statements
 * takes their bounds from the parser's splitter, without reading a tree back. */
int sql_parse_statements(const char *text, SqlStatement **ret, size_t *ret_n, SqlKinds *ret_kinds,
			 SqlParseError *ret_error);
