/* A watch connection made ready once (watch-session.h). */
#include <errno.h>
#include <stdlib.h>

#include "cleanup.h"
#include "lockwatch.h"
#include "pg-result.h"
#include "progress.h"
#include "watch-session.h"

int watch_session_prepare_send(PGconn *conn, char **ret_error)
{
	_cleanup_free_ char *sql = NULL;

	if (asprintf(&sql,
		     "SET jit = off;\nSET plan_cache_mode = force_generic_plan;\n"
		     "SET lock_timeout = '100ms';\n%s;\n%s",
		     lockwatch_session_sql, progress_session_sql) < 0)
		return -ENOMEM;
	/* A nonblocking session may keep part of the text queued: push it out now, so that the
	 * server starts while the caller goes on (what is left goes with the wait for results). */
	if (!PQsendQuery(conn, sql) || PQflush(conn) < 0)
		return pg_result_error(conn, NULL, ret_error);
	return 0;
}

int watch_session_prepare_finish(PGconn *conn, char **ret_error)
{
	_cleanup_free_ char *error = NULL;
	PGresult *res;
	int r = 0;

	/* Every result is taken, even after a failure, so that the connection is usable (or
	 * plainly broken) afterwards. */
	while ((res = PQgetResult(conn))) {
		ExecStatusType status = PQresultStatus(res);
		if (r == 0 && status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
			r = pg_result_error(conn, res, &error);
		PQclear(res);
	}
	if (r == 0 && PQstatus(conn) != CONNECTION_OK)
		return pg_result_error(conn, NULL, ret_error);
	if (r < 0) {
		*ret_error = TAKE_PTR(error);
		return *ret_error ? r : -ENOMEM;
	}
	return 0;
}

int watch_session_prepare(PGconn *conn, char **ret_error)
{
	int r = watch_session_prepare_send(conn, ret_error);

	return r < 0 ? r : watch_session_prepare_finish(conn, ret_error);
}
