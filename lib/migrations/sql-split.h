/* sql-split.h — where the statements of a SQL text begin, as the server will split them.
 *
 * sql_split() scans SQL the way psql's lexer does — -- and nested block comments, '…', E'…'
 * and U&'…' strings, "…" identifiers, $tag$…$tag$ bodies, parentheses, and the BEGIN … END
 * bodies of CREATE [OR REPLACE] FUNCTION/PROCEDURE — and lists every non-empty statement with
 * the byte offset of its first token and its first three words.  It serves to name the line of
 * a failing statement when the server gives no position, and to spot transaction control; it
 * never decides what is executed (the server parses the text).  Strings follow
 * standard_conforming_strings = on, PostgreSQL's default. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define SQL_WORD_MAX 16

typedef struct SqlStatement {
	size_t offset;		     /* byte offset of the statement's first token */
	char words[3][SQL_WORD_MAX]; /* its first bare words, lowercased; "" if none or long */
} SqlStatement;

/* The statements of text, in order (*ret_n may be 0; *ret is then NULL). */
int sql_split(const char *text, size_t size, SqlStatement **ret, size_t *ret_n);

/* BEGIN, START, COMMIT, END, ABORT, ROLLBACK (not ROLLBACK [WORK|TRANSACTION] TO, not
 * COMMIT/ROLLBACK PREPARED), PREPARE TRANSACTION: a
 * statement that would end or nest the transaction a migration runs in. */
bool sql_statement_is_transaction_control(const SqlStatement *s);
