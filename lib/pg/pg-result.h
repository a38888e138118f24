/* pg-result.h — reading one row of a PGresult whose server text is hostile.
 *
 * Text columns come back sanitized (text-sanitize.h) or NULL for SQL NULL;
 * ages are bigint microseconds, USEC_INFINITY for NULL and 0 for a negative
 * value (a state that changed after the statement began).  pg_result_error()
 * says why a statement failed as "SQLSTATE: message" and returns -EIO. */
#pragma once

#include <stdbool.h>
#include <libpq-fe.h>

#include "pg-cleanup.h"
#include "text-sanitize.h"
#include "time-util.h"

int pg_result_text(const PGresult *res, int row, int col, size_t max_chars, TextSanitizeFlags flags,
		   char **ret);
/* One text column of a row and where its sanitized copy goes. */
typedef struct PgResultText {
	int col;
	size_t max_chars; /* 0: no limit */
	TextSanitizeFlags flags;
	char **dest;
} PgResultText;
/* pg_result_text() for each of texts; stops at the first failure. */
int pg_result_texts(const PGresult *res, int row, const PgResultText *texts, size_t n);
int pg_result_int(const PGresult *res, int row, int col);
bool pg_result_bool(const PGresult *res, int row, int col);
usec_t pg_result_age(const PGresult *res, int row, int col);
int pg_result_error(const PGconn *conn, const PGresult *res, char **ret_error);
