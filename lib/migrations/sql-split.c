/* Statement boundaries of SQL text, following psql's lexer (sql-split.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sql-split.h"

typedef struct Scanner {
	const char *text;
	size_t size;
	size_t pos;
	/* Per statement, as psql keeps it (psqlscan.l): */
	bool in_statement;
	unsigned paren_depth;
	unsigned begin_depth;
	unsigned identifier_count;
	char identifiers[4]; /* first letters of CREATE [OR REPLACE] FUNCTION|PROCEDURE */
	unsigned n_words;
	bool words_done;
} Scanner;

static bool is_ident_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static bool is_ident_cont(unsigned char c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}

static bool is_dollar_tag_cont(unsigned char c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9');
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int peek(const Scanner *s, size_t ahead)
{
	return s->pos + ahead < s->size ? (unsigned char)s->text[s->pos + ahead] : -1;
}

/* Skips a quoted token starting at the opening quote q; with backslash escapes for E''. */
static void skip_quoted(Scanner *s, char q, bool backslash_escapes)
{
	s->pos++;
	while (s->pos < s->size) {
		char c = s->text[s->pos];
		if (backslash_escapes && c == '\\') {
			s->pos += 2;
			continue;
		}
		s->pos++;
		if (c == q) {
			if (peek(s, 0) == q) {
				s->pos++;
				continue;
			}
			return;
		}
	}
	s->pos = s->size;
}

static void skip_block_comment(Scanner *s)
{
	unsigned depth = 0;

	while (s->pos < s->size) {
		if (peek(s, 0) == '/' && peek(s, 1) == '*') {
			depth++;
			s->pos += 2;
		} else if (peek(s, 0) == '*' && peek(s, 1) == '/') {
			s->pos += 2;
			if (--depth == 0)
				return;
		} else
			s->pos++;
	}
}

/* At '$': a dollar-quoted body ($tag$…$tag$) is skipped whole; a parameter ($1) or a lone '$'
 * is an ordinary token. */
static void skip_dollar(Scanner *s)
{
	size_t start = s->pos, end = s->pos + 1;

	if (end < s->size && is_ident_start((unsigned char)s->text[end]))
		while (end < s->size && is_dollar_tag_cont((unsigned char)s->text[end]))
			end++;
	if (end >= s->size || s->text[end] != '$') {
		s->pos++;
		while (s->pos < s->size && s->text[s->pos] >= '0' && s->text[s->pos] <= '9')
			s->pos++;
		return;
	}
	size_t tag_len = end - start + 1;
	const char *tag = s->text + start;
	s->pos = end + 1;
	while (s->pos < s->size) {
		const char *close = memchr(s->text + s->pos, '$', s->size - s->pos);
		if (!close)
			break;
		size_t at = (size_t)(close - s->text);
		if (at + tag_len <= s->size && memcmp(close, tag, tag_len) == 0) {
			s->pos = at + tag_len;
			return;
		}
		s->pos = at + 1;
	}
	s->pos = s->size;
}

static void note_identifier(Scanner *s, const char *word, size_t len)
{
	/* psql's heuristic for SQL-standard function bodies: inside CREATE [OR REPLACE]
	 * FUNCTION|PROCEDURE, BEGIN (and CASE within it) opens a block that END closes, and
	 * semicolons inside do not end the statement. */
#define WORD_IS(w) (len == strlen(w) && strncasecmp(word, w, len) == 0)
	if (s->identifier_count == 0)
		memset(s->identifiers, 0, sizeof(s->identifiers));
	if (WORD_IS("create") || WORD_IS("function") || WORD_IS("procedure") || WORD_IS("or") ||
	    WORD_IS("replace")) {
		if (s->identifier_count < sizeof(s->identifiers))
			s->identifiers[s->identifier_count] = (char)(word[0] | 0x20);
	}
	s->identifier_count++;
	const char *id = s->identifiers;
	if (id[0] == 'c' &&
	    (id[1] == 'f' || id[1] == 'p' ||
	     (id[1] == 'o' && id[2] == 'r' && (id[3] == 'f' || id[3] == 'p'))) &&
	    s->paren_depth == 0) {
		if (WORD_IS("begin"))
			s->begin_depth++;
		else if (WORD_IS("case")) {
			if (s->begin_depth >= 1)
				s->begin_depth++;
		} else if (WORD_IS("end")) {
			if (s->begin_depth > 0)
				s->begin_depth--;
		}
	}
#undef WORD_IS
}

static void note_word(Scanner *s, SqlStatement *st, const char *word, size_t len)
{
	if (s->words_done)
		return;
	if (len < SQL_WORD_MAX)
		for (size_t i = 0; i < len; i++) {
			char c = word[i];
			st->words[s->n_words][i] = c >= 'A' && c <= 'Z' ? (char)(c | 0x20) : c;
		}
	if (++s->n_words == sizeof(st->words) / sizeof(st->words[0]))
		s->words_done = true;
}

int sql_split(const char *text, size_t size, SqlStatement **ret, size_t *ret_n)
{
	Scanner s = {.text = text, .size = size};
	SqlStatement *list = NULL;
	size_t n = 0, allocated = 0;

	while (s.pos < size) {
		int c = peek(&s, 0);

		if (is_space((unsigned char)c)) {
			s.pos++;
			continue;
		}
		if (c == '-' && peek(&s, 1) == '-') {
			while (s.pos < size && text[s.pos] != '\n' && text[s.pos] != '\r')
				s.pos++;
			continue;
		}
		if (c == '/' && peek(&s, 1) == '*') {
			skip_block_comment(&s);
			continue;
		}
		if (c == ';' && s.paren_depth == 0 && s.begin_depth == 0) {
			/* The end of a statement, or of an empty one, which the server drops. */
			s = (Scanner){.text = text, .size = size, .pos = s.pos + 1};
			continue;
		}
		if (!s.in_statement) {
			if (n == allocated) {
				size_t grown = allocated ? allocated * 2 : 16;
				SqlStatement *l = realloc(list, grown * sizeof(SqlStatement));
				if (!l) {
					free(list);
					return -ENOMEM;
				}
				list = l;
				allocated = grown;
			}
			list[n++] = (SqlStatement){.offset = s.pos};
			s.in_statement = true;
		}
		SqlStatement *st = &list[n - 1];

		if (c == '\'') {
			skip_quoted(&s, '\'', false);
			s.words_done = true;
		} else if (c == '"') {
			skip_quoted(&s, '"', false);
			s.words_done = true;
		} else if (c == '$') {
			skip_dollar(&s);
			s.words_done = true;
		} else if (is_ident_start((unsigned char)c)) {
			size_t start = s.pos, len;
			while (s.pos < size && is_ident_cont((unsigned char)text[s.pos]))
				s.pos++;
			len = s.pos - start;
			int next = peek(&s, 0);
			char lower = (char)(c | 0x20);
			if (len == 1 && lower == 'e' && next == '\'') {
				skip_quoted(&s, '\'', true);
				s.words_done = true;
			} else if (len == 1 && strchr("bxn", lower) && next == '\'') {
				skip_quoted(&s, '\'', false);
				s.words_done = true;
			} else if (len == 1 && lower == 'u' && next == '&' &&
				   (peek(&s, 1) == '\'' || peek(&s, 1) == '"')) {
				s.pos++;
				skip_quoted(&s, text[s.pos], false);
				s.words_done = true;
			} else {
				note_identifier(&s, text + start, len);
				note_word(&s, st, text + start, len);
			}
		} else if (c >= '0' && c <= '9') {
			while (s.pos < size && (is_dollar_tag_cont((unsigned char)text[s.pos]) ||
						text[s.pos] == '.'))
				s.pos++;
			s.words_done = true;
		} else {
			if (c == '(')
				s.paren_depth++;
			else if (c == ')' && s.paren_depth > 0)
				s.paren_depth--;
			s.pos++;
			s.words_done = true;
		}
	}
	*ret = list;
	*ret_n = n;
	return 0;
}

bool sql_statement_is_transaction_control(const SqlStatement *s)
{
	const char *w = s->words[0], *w2 = s->words[1], *w3 = s->words[2];

	if (strcmp(w, "begin") == 0 || strcmp(w, "start") == 0 || strcmp(w, "end") == 0 ||
	    strcmp(w, "abort") == 0)
		return true;
	if (strcmp(w, "commit") == 0)
		return strcmp(w2, "prepared") != 0;
	if (strcmp(w, "rollback") == 0) {
		if (strcmp(w2, "work") == 0 || strcmp(w2, "transaction") == 0)
			return strcmp(w3, "to") != 0;
		return strcmp(w2, "to") != 0 && strcmp(w2, "prepared") != 0;
	}
	if (strcmp(w, "prepare") == 0)
		return strcmp(w2, "transaction") == 0;
	return false;
}
