/* The deploy lock: a session-level advisory lock, and who holds it (deploy-lock.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nettle/sha2.h>

#include "deploy-lock.h"
#include "deploy-migrate.h"

/* Between a failed try and the look-up the holder may let go: try again, a few times. */
#define DEPLOY_LOCK_ATTEMPTS 3

void deploy_lock_holder_done(DeployLockHolder *h)
{
	free(h->user);
	free(h->application_name);
	free(h->client_addr);
	free(h->since);
	*h = (DeployLockHolder){};
}

int deploy_lock_application_name(const char *name, const char *host, char **ret)
{
	size_t room, len = strlen(name);
	char *s;

	if (len + 2 > DEPLOY_LOCK_APPLICATION_MAX)
		return -EINVAL;
	room = DEPLOY_LOCK_APPLICATION_MAX - len - 1;
	size_t host_len = strlen(host);
	if (host_len > room) /* a short name says more than a cut-off one */
		host_len = strcspn(host, ".");
	if (host_len > room)
		host_len = room;
	if (host_len == 0)
		host = "unknown", host_len = strlen("unknown");
	if (asprintf(&s, "%s@%.*s", name, (int)host_len, host) < 0)
		return -ENOMEM;
	for (char *p = s + len + 1; *p; p++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-",
			    *p))
			*p = '_';
	*ret = s;
	return 0;
}

/* The host in a deploy lock session's application name "deployd/ID@HOST", or NULL. */
static const char *holder_host(const DeployLockHolder *h)
{
	const char *at;

	if (!h->application_name || strncmp(h->application_name, DEPLOY_MIGRATE_APPLICATION_PREFIX,
					    strlen(DEPLOY_MIGRATE_APPLICATION_PREFIX)) != 0)
		return NULL;
	at = strrchr(h->application_name, '@');
	return at && at[1] ? at + 1 : NULL;
}

int deploy_lock_holder_describe(const DeployLockHolder *h, char **ret)
{
	const char *host = holder_host(h);
	char *s;

	if (h->pid == 0)
		s = strdup("a session that let go of it before it could be identified");
	else if (asprintf(&s, "pid %d%s%s (application %s, user %s, client %s, session since %s)",
			  h->pid, host ? " on host " : "", host ?: "",
			  h->application_name ?: "not visible", h->user ?: "not visible",
			  h->client_addr ?: "local or not visible", h->since ?: "not visible") < 0)
		s = NULL;
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int64_t deploy_lock_key(const char *table)
{
	struct sha256_ctx ctx;
	uint8_t md[SHA256_DIGEST_SIZE];
	uint64_t key = 0;

	sha256_init(&ctx);
	sha256_update(&ctx, strlen(table), (const uint8_t *)table);
	sha256_digest(&ctx, sizeof(md), md);
	for (int i = 0; i < 8; i++)
		key = key << 8 | md[i];
	return (int64_t)key;
}

static int dup_value(const PGresult *res, int column, char **ret)
{
	*ret = NULL;
	if (PQgetisnull(res, 0, column))
		return 0;
	*ret = strdup(PQgetvalue(res, 0, column));
	return *ret ? 0 : -ENOMEM;
}

/* Fills *ret with the session holding key; pid 0 when none does (any more). */
static int look_up_holder(PGconn *conn, int64_t key, const PgWaitHooks *hooks,
			  DeployLockHolder *ret, PgError *ret_error)
{
	_cleanup_(PQclearp) PGresult *res = NULL;
	char sql[1024];
	uint64_t k = (uint64_t)key;
	int r;

	/* pg_advisory_lock(bigint) shows as classid = high half, objid = low half, objsubid 1. */
	snprintf(sql, sizeof(sql),
		 "SELECT l.pid, a.usename, a.application_name, host(a.client_addr), "
		 "to_char(a.backend_start, 'YYYY-MM-DD\"T\"HH24:MI:SSOF') "
		 "FROM pg_catalog.pg_locks l "
		 "LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
		 "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
		 "AND l.classid = '%u'::oid AND l.objid = '%u'::oid "
		 "AND l.database = (SELECT oid FROM pg_catalog.pg_database "
		 "WHERE datname = pg_catalog.current_database()) "
		 "LIMIT 1",
		 (unsigned)(k >> 32), (unsigned)(k & 0xffffffffu));
	r = pg_exec(conn, sql, hooks, &res, ret_error);
	if (r < 0)
		return r;

	DeployLockHolder h = {};
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
		h.pid = atoi(PQgetvalue(res, 0, 0));
		if (dup_value(res, 1, &h.user) < 0 || dup_value(res, 2, &h.application_name) < 0 ||
		    dup_value(res, 3, &h.client_addr) < 0 || dup_value(res, 4, &h.since) < 0) {
			deploy_lock_holder_done(&h);
			return -ENOMEM;
		}
	}
	*ret = h;
	return 0;
}

int deploy_lock_try(PGconn *conn, int64_t key, const PgWaitHooks *hooks,
		    DeployLockHolder *ret_holder, PgError *ret_error)
{
	DeployLockHolder holder = {};
	char sql[128];
	int r;

	/* A lock taken inside a transaction block would still be session-level, but the point
	 * is a session that never holds a snapshot or row locks for the deploy's duration. */
	if (PQtransactionStatus(conn) != PQTRANS_IDLE)
		return pg_error_set(ret_error, PG_ERROR_OTHER,
				    "the deploy lock's session is busy or inside a transaction")
			       ?: -EBUSY;
	snprintf(sql, sizeof(sql), "SELECT pg_catalog.pg_try_advisory_lock(%lld)", (long long)key);

	for (int attempt = 0; attempt < DEPLOY_LOCK_ATTEMPTS; attempt++) {
		_cleanup_(PQclearp) PGresult *res = NULL;

		r = pg_exec(conn, sql, hooks, &res, ret_error);
		if (r < 0)
			return r;
		if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0)
			return 1;

		deploy_lock_holder_done(&holder);
		r = look_up_holder(conn, key, hooks, &holder, ret_error);
		if (r < 0)
			return r;
		if (holder.pid != 0)
			break;
	}
	*ret_holder = holder;
	return 0;
}

int deploy_lock_release(PGconn *conn, int64_t key, PgError *ret_error)
{
	char sql[80];

	snprintf(sql, sizeof(sql), "SELECT pg_catalog.pg_advisory_unlock(%lld)", (long long)key);
	return pg_exec(conn, sql, NULL, NULL, ret_error);
}
