/* Who is in the forecast's way right now (forecast.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "forecast.h"
#include "pg-result.h"

#define HOLDER_QUERY_MAX 200

/* Every relation lock on $1's relations but ours, granted or awaited; a prepared
 * transaction's rows have no pid and carry its xid in virtualtransaction ("-1/XID"). */
static const char holders_sql[] =
	"SELECT l.relation, format('%I.%I', n.nspname, c.relname), l.mode, l.granted,\n"
	"       coalesce(l.pid, 0), p.gid, a.usename::text, a.application_name,\n"
	"       CASE WHEN a.client_port = -1 THEN '[local]'\n"
	"            WHEN a.client_addr IS NOT NULL THEN host(a.client_addr) || ':' || "
	"a.client_port END,\n"
	"       CASE WHEN l.pid IS NULL THEN 'prepared' ELSE a.state END,\n"
	"       (extract(epoch FROM now() - coalesce(a.xact_start, p.prepared)) * 1e6)::bigint,\n"
	"       left(a.query, 1000)\n"
	"FROM pg_locks l\n"
	"JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace\n"
	"LEFT JOIN pg_stat_activity a ON a.pid = l.pid\n"
	"LEFT JOIN pg_prepared_xacts p ON l.pid IS NULL\n"
	"  AND p.transaction::text = split_part(l.virtualtransaction, '/', 2)\n"
	"WHERE l.locktype = 'relation'\n"
	"  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())\n"
	"  AND l.relation = ANY ($1::oid[]) AND l.pid IS DISTINCT FROM pg_backend_pid()\n"
	"ORDER BY 2, 5, 3";

void forecast_holders_free(ForecastHolder *h, size_t n)
{
	for (size_t i = 0; h && i < n; i++) {
		free(h[i].gid);
		free(h[i].user);
		free(h[i].application);
		free(h[i].client);
		free(h[i].state);
		free(h[i].query);
		free(h[i].relation);
	}
	free(h);
}

int forecast_holders(PGconn *conn, const Forecast *f, ForecastHolder **ret, size_t *ret_n,
		     char **ret_error)
{
	_cleanup_free_ char *oids = NULL;
	ForecastHolder *list = NULL;
	size_t size = 0, n = 0;
	PGresult *res = NULL;
	FILE *out;
	int r = 0;

	out = open_memstream(&oids, &size);
	if (!out)
		return -ENOMEM;
	fputc('{', out);
	for (size_t i = 0; i < f->n_locks; i++)
		fprintf(out, "%s%u", i ? "," : "", f->locks[i].relid);
	fputc('}', out);
	if (fclose(out) != 0)
		return -ENOMEM;

	const char *params[] = {oids};
	res = PQexecParams(conn, holders_sql, 1, NULL, params, NULL, NULL, 0);
	if (!res)
		return -ENOMEM;
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		r = pg_result_error(conn, res, ret_error);
		PQclear(res);
		return r;
	}
	list = calloc((size_t)PQntuples(res) + 1, sizeof(ForecastHolder));
	if (!list) {
		PQclear(res);
		return -ENOMEM;
	}
	for (int row = 0; row < PQntuples(res); row++) {
		uint32_t relid = (uint32_t)strtoul(PQgetvalue(res, row, 0), NULL, 10);
		LockMode mode = lock_mode_from_string(PQgetvalue(res, row, 2));
		LockMode against = LOCK_MODE_NONE;

		for (size_t i = 0; i < f->n_locks; i++)
			if (f->locks[i].relid == relid &&
			    lock_modes_conflict(f->locks[i].mode, mode) &&
			    f->locks[i].mode > against)
				against = f->locks[i].mode;
		if (against == LOCK_MODE_NONE)
			continue;
		ForecastHolder *h = &list[n++];
		*h = (ForecastHolder){
			.relid = relid,
			.mode = mode,
			.granted = pg_result_bool(res, row, 3),
			.pid = pg_result_int(res, row, 4),
			.xact_age = pg_result_age(res, row, 10),
			.conflicts_with = against,
		};
		r = pg_result_texts(res, row,
				    (const PgResultText[]){
					    {1, 0, 0, &h->relation},
					    {5, 0, 0, &h->gid},
					    {6, 0, 0, &h->user},
					    {7, 0, 0, &h->application},
					    {8, 0, 0, &h->client},
					    {9, 0, 0, &h->state},
					    {11, HOLDER_QUERY_MAX, 0, &h->query},
				    },
				    7);
		if (r < 0)
			break;
	}
	PQclear(res);
	if (r < 0) {
		forecast_holders_free(list, n);
		return r;
	}
	*ret = list;
	*ret_n = n;
	return 0;
}
