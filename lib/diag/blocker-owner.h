/* blocker-owner.h — whose is a session in the way of a deploy: the plan's units, or not.
 *
 * blocker_owner_attribute() decides for one LockBlocker (blockers.h) whether stopping the
 * plan's units ends it:
 *   - BLOCKER_OWNER_UNITS: the session belongs to one of the units (ret->unit names it), so it
 *     goes away when the units stop; never a reason to refuse a deploy.
 *   - BLOCKER_OWNER_OUTSIDE: it does not: a prepared transaction (no stop ends one), a session
 *     whose TCP client is a socket of this host made by a process outside every unit's cgroup
 *     (a console, a cron job, another app), or, when the plan names its units' sessions
 *     (services.sessions), any session that does not match.
 *   - BLOCKER_OWNER_UNKNOWN: deployd cannot tell: a Unix-socket client (the kernel does not say
 *     which process holds the other end without access to the server's file descriptors), a
 *     client that is not a socket of this host (another host, a pooler or NAT in between), a
 *     background process.
 * In that order: a prepared transaction is always outside; then a client socket found in a
 * unit's cgroup (or below it) is the unit's; then the plan's services.sessions decide when
 * given (a session matches when its user matches one of users, if given, and its application
 * one of applications, if given; fnmatch(3) globs); then a socket of this host outside the
 * units is outside; everything else is unknown.  ret->reason is one clause saying why, for a
 * sentence ("its client 127.0.0.1:40112 is a socket of unit api.service").  Pure: the sockets and
 * the units' cgroups are the caller's (tcp-sockets.h). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lockwatch.h"
#include "tcp-sockets.h"

typedef enum BlockerOwner {
	BLOCKER_OWNER_UNITS,
	BLOCKER_OWNER_OUTSIDE,
	BLOCKER_OWNER_UNKNOWN,
	_BLOCKER_OWNER_MAX,
} BlockerOwner;

/* One unit of the plan on this host and the ids of its cgroup and of every cgroup below. */
typedef struct BlockerOwnerUnit {
	const char *name;
	const uint64_t *cgroup_ids;
	size_t n_cgroup_ids;
} BlockerOwnerUnit;

typedef struct BlockerOwnerRules {
	const BlockerOwnerUnit *units;
	size_t n_units;
	const TcpSockets *sockets; /* NULL: this host's sockets could not be read */
	/* Some unit's cgroup could not be read: a socket of this host in no known unit's cgroup
	 * might be that unit's, so it is unknown rather than outside. */
	bool units_incomplete;
	/* The server's TCP port, to tell a client socket from another connection that happens to
	 * use the same local port; 0 when not known (a Unix-socket conninfo). */
	uint16_t server_port;
	/* services.sessions; both NULL when the plan does not name its sessions. */
	char *const *users;
	char *const *applications;
} BlockerOwnerRules;

typedef struct BlockerAttribution {
	BlockerOwner owner;
	char *unit;   /* BLOCKER_OWNER_UNITS by cgroup: the unit's name; else NULL */
	char *reason; /* why, one clause */
} BlockerAttribution;

int blocker_owner_attribute(const LockBlocker *b, const BlockerOwnerRules *rules,
			    BlockerAttribution *ret);
void blocker_attribution_done(BlockerAttribution *a);

/* "units", "outside", "unknown". */
const char *blocker_owner_to_string(BlockerOwner o);
