/* PgError: classification of server errors and client-side failures (pg.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

static const char *const pg_error_kind_names[_PG_ERROR_KIND_MAX] = {
	[PG_ERROR_NONE] = "none",
	[PG_ERROR_LOCK_TIMEOUT] = "lock-timeout",
	[PG_ERROR_STATEMENT_TIMEOUT] = "statement-timeout",
	[PG_ERROR_CANCELED] = "canceled",
	[PG_ERROR_TERMINATED] = "terminated",
	[PG_ERROR_IDLE_TIMEOUT] = "idle-timeout",
	[PG_ERROR_CONNECTION_LOST] = "connection-lost",
	[PG_ERROR_CONNECT_FAILED] = "connect-failed",
	[PG_ERROR_OTHER] = "other",
};

const char *pg_error_kind_to_string(PgErrorKind k)
{
	return k >= 0 && k < _PG_ERROR_KIND_MAX ? pg_error_kind_names[k] : NULL;
}

void pg_error_done(PgError *e)
{
	free(e->message);
	free(e->detail);
	free(e->hint);
	*e = (PgError){};
}

int pg_error_set(PgError *e, PgErrorKind kind, const char *fmt, ...)
{
	va_list ap;
	char *message;
	int r;

	pg_error_done(e);
	e->kind = kind;
	va_start(ap, fmt);
	r = vasprintf(&message, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	e->message = message;
	return 0;
}

PgErrorKind pg_error_classify(const char *sqlstate, const char *message)
{
	if (!sqlstate || strlen(sqlstate) != 5)
		return PG_ERROR_OTHER;
	if (strcmp(sqlstate, "55P03") == 0)
		return PG_ERROR_LOCK_TIMEOUT;
	if (strcmp(sqlstate, "57014") == 0)
		/* A statement timeout and a cancel request share 57014 and differ only in the
		 * (translatable) message.  Only the English text of a cancel request is matched: a
		 * translated one is taken for a statement timeout, the likelier cause when we sent
		 * no cancel ourselves (pg_exec() knows when it did). */
		return message && strstr(message, "due to user request")
			       ? PG_ERROR_CANCELED
			       : PG_ERROR_STATEMENT_TIMEOUT;
	if (strcmp(sqlstate, "57P01") == 0 || strcmp(sqlstate, "57P02") == 0)
		return PG_ERROR_TERMINATED;
	if (strcmp(sqlstate, "25P03") == 0 || strcmp(sqlstate, "57P05") == 0)
		return PG_ERROR_IDLE_TIMEOUT;
	if (strcmp(sqlstate, "57P03") == 0)
		return PG_ERROR_CONNECT_FAILED;
	if (strncmp(sqlstate, "08", 2) == 0)
		return PG_ERROR_CONNECTION_LOST;
	return PG_ERROR_OTHER;
}
