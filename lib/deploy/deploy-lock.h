/* deploy-lock.h — one deploy at a time per history table, on any host.
 *
 * The deploy lock is a session-level advisory lock (pg_try_advisory_lock, never waiting) held
 * on a dedicated session that never enters a transaction; it goes away with that session, so
 * a deploy process that dies frees it.  Its key is the first 8 bytes (big-endian) of the
 * SHA-256 of the history table's name as the plan spells it: plans sharing a history table
 * must spell it alike.  Advisory locks are per database.  When another session holds the lock,
 * deploy_lock_try() says who: pid, user, application name (a deploy's lock session is named
 * after its DEPLOY_ID and the machine it runs on, deploy_lock_application_name()), client
 * address and since when; application name is visible to any role, the rest needs
 * pg_read_all_stats for another role's session. */
#pragma once

#include <stdint.h>
#include <libpq-fe.h>

#include "pg.h"

typedef struct DeployLockHolder {
	int pid;		/* 0 when the holder went away before it could be looked up */
	char *user;		/* may be NULL (not visible) */
	char *application_name; /* may be NULL */
	char *client_addr;	/* NULL for a Unix socket or when not visible */
	char *since;		/* the holder's session start, server's text; may be NULL */
} DeployLockHolder;

/* PostgreSQL keeps application_name to NAMEDATALEN - 1 bytes. */
#define DEPLOY_LOCK_APPLICATION_MAX 63

/* "NAME@HOST", the lock session's application_name: another deploy, on any host, learns from
 * it which machine holds the lock.  HOST is this machine's name, cut to its first label and
 * then to what fits in DEPLOY_LOCK_APPLICATION_MAX bytes, with anything but [A-Za-z0-9._-]
 * replaced by '_'; name must leave room for at least "@" and one character. */
int deploy_lock_application_name(const char *name, const char *host, char **ret);

void deploy_lock_holder_done(DeployLockHolder *h);
/* "pid 4242 on host app1 (application deployd/…@app1, user deployer, client 10.0.0.7,
 * session since …)"; "on host" only when the application name carries one. */
int deploy_lock_holder_describe(const DeployLockHolder *h, char **ret);

int64_t deploy_lock_key(const char *table);

/* Tries to take the lock on conn, which must be idle outside a transaction.  Returns 1 when
 * taken, 0 when another session holds it (*ret_holder then says who), <0 with *ret_error. */
int deploy_lock_try(PGconn *conn, int64_t key, const PgWaitHooks *hooks,
		    DeployLockHolder *ret_holder, PgError *ret_error);
/* Gives the lock back on conn (idle, the session that took it) and waits for the server to
 * say so: once this returns 0, another deploy can take it.  -EIO with *ret_error otherwise
 * (closing the session frees it too, as soon as the server has ended the backend). */
int deploy_lock_release(PGconn *conn, int64_t key, PgError *ret_error);
