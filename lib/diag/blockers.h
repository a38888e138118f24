/* blockers.h — who would be in the way of locks a deploy is about to take.
 *
 * blockers_find() takes the table-level locks the pending migrations will request (a relation
 * oid and a pg_locks.mode each, from the lock forecast) and finds, in ONE statement, every
 * session and prepared transaction of the connection's database that holds, or waits for, a
 * mode on one of those relations that conflicts with a requested mode (lock-mode.h: the
 * conflict table is computed here, in C, from the mode names; a session queued for a
 * conflicting mode is in the way too, since PostgreSQL queues a later request behind it).
 * The answer has the shape of the lock watch's (lockwatch.h), one LockBlocker per (relation,
 * blocker): mode_wanted lists the requested modes it conflicts with, mode_held its conflicting
 * modes (queued when it holds none of them and waits), blocked_pid is the caller's waiter
 * (the migration session that will ask), wait_age_usec is USEC_INFINITY, is_root says the
 * blocker itself waits for nobody.  A prepared transaction shows as pid 0 with its gid, its
 * owner as user and "prepared" as state.  The connection's own session and exclude_pids are
 * never blockers.  Every text from the server is sanitized.  Run it on a connection idle
 * outside a transaction (-EBUSY otherwise): it uses a short transaction of its own so that it
 * can turn JIT off for this statement only.  Nothing here prints or logs. */
#pragma once

#include <stddef.h>
#include <libpq-fe.h>

#include "lockwatch.h"

typedef struct LockRequest {
	unsigned relid;	  /* pg_class oid */
	const char *mode; /* as in pg_locks.mode, e.g. "AccessExclusiveLock" */
} LockRequest;

/* Returns 0 with the snapshot (ordered by relation, blocker pid, gid; empty when nothing is
 * in the way); -EINVAL for an unknown mode name, -EBUSY, -EIO (*ret_error "SQLSTATE:
 * message"), -ENOMEM. */
int blockers_find(PGconn *conn, const LockRequest *requests, size_t n_requests, int waiter_pid,
		  const int *exclude_pids, size_t n_exclude_pids, LockSnapshot **ret,
		  char **ret_error);

/* Splits a LockBlocker.client "ADDRESS:PORT" into its address and port: -EINVAL for
 * "[local]", NULL and anything else. */
int blockers_client_address(const char *client, char **ret_address, unsigned *ret_port);
