#include <stdio.h>
#include <stdlib.h>

#include "cleanup.h"
#include "pg-result.h"

int pg_result_text(const PGresult *res, int row, int col, size_t max_chars, TextSanitizeFlags flags,
		   char **ret)
{
	if (PQgetisnull(res, row, col)) {
		*ret = NULL;
		return 0;
	}
	return text_sanitize(PQgetvalue(res, row, col), max_chars, flags, ret);
}

int pg_result_texts(const PGresult *res, int row, const PgResultText *texts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int r = pg_result_text(res, row, texts[i].col, texts[i].max_chars, texts[i].flags,
				       texts[i].dest);
		if (r < 0)
			return r;
	}
	return 0;
}

int pg_result_int(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 : atoi(PQgetvalue(res, row, col));
}

bool pg_result_bool(const PGresult *res, int row, int col)
{
	return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}

usec_t pg_result_age(const PGresult *res, int row, int col)
{
	const char *v;

	if (PQgetisnull(res, row, col))
		return USEC_INFINITY;
	v = PQgetvalue(res, row, col);
	return v[0] == '-' ? 0 : (usec_t)strtoull(v, NULL, 10);
}

int pg_result_error(const PGconn *conn, const PGresult *res, char **ret_error)
{
	const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	_cleanup_free_ char *message = NULL;

	if (text_sanitize(primary ? primary : PQerrorMessage(conn), 0, TEXT_SANITIZE_SQUEEZE_SPACE,
			  &message) < 0)
		return -ENOMEM;
	if (asprintf(ret_error, "%s: %s", sqlstate ? sqlstate : "no SQLSTATE", message) < 0)
		return -ENOMEM;
	return -EIO;
}
