/* Attribution of a blocker to the plan's units or to the outside (blocker-owner.h). */
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blocker-owner.h"
#include "blockers.h"
#include "cleanup.h"

static const char *const owner_names[_BLOCKER_OWNER_MAX] = {
	[BLOCKER_OWNER_UNITS] = "units",
	[BLOCKER_OWNER_OUTSIDE] = "outside",
	[BLOCKER_OWNER_UNKNOWN] = "unknown",
};

const char *blocker_owner_to_string(BlockerOwner o)
{
	return o >= 0 && o < _BLOCKER_OWNER_MAX ? owner_names[o] : NULL;
}

void blocker_attribution_done(BlockerAttribution *a)
{
	free(a->unit);
	free(a->reason);
	*a = (BlockerAttribution){};
}

static bool glob_any(char *const *globs, const char *s)
{
	for (char *const *g = globs; g && *g; g++)
		if (fnmatch(*g, s ?: "", 0) == 0)
			return true;
	return false;
}

static const BlockerOwnerUnit *unit_of_cgroup(const BlockerOwnerRules *r, uint64_t id)
{
	for (size_t i = 0; id != 0 && i < r->n_units; i++)
		for (size_t j = 0; j < r->units[i].n_cgroup_ids; j++)
			if (r->units[i].cgroup_ids[j] == id)
				return &r->units[i];
	return NULL;
}

static int decide(BlockerAttribution *ret, BlockerOwner owner, const char *unit, const char *fmt,
		  ...) _printf_(4, 5);
static int decide(BlockerAttribution *ret, BlockerOwner owner, const char *unit, const char *fmt,
		  ...)
{
	_cleanup_free_ char *reason = NULL, *unit_copy = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&reason, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	if (unit && !(unit_copy = strdup(unit)))
		return -ENOMEM;
	*ret = (BlockerAttribution){
		.owner = owner,
		.unit = TAKE_PTR(unit_copy),
		.reason = TAKE_PTR(reason),
	};
	return 0;
}

int blocker_owner_attribute(const LockBlocker *b, const BlockerOwnerRules *rules,
			    BlockerAttribution *ret)
{
	_cleanup_free_ char *address = NULL;
	const TcpSocket *socket = NULL;
	bool named = rules->users || rules->applications;
	unsigned port = 0;
	int r;

	if (b->blocker_pid == 0)
		return decide(ret, BLOCKER_OWNER_OUTSIDE, NULL,
			      "it is a prepared transaction, which no stop of a unit ends");

	r = blockers_client_address(b->client, &address, &port);
	if (r == -ENOMEM)
		return r;
	if (r >= 0)
		socket = tcp_sockets_find_local(rules->sockets, address, (uint16_t)port,
						rules->server_port);
	if (socket) {
		const BlockerOwnerUnit *u = unit_of_cgroup(rules, socket->cgroup_id);
		if (u)
			return decide(ret, BLOCKER_OWNER_UNITS, u->name,
				      "its client %s is a socket of unit %s", b->client, u->name);
	}

	if (named) {
		bool user_ok = !rules->users || glob_any(rules->users, b->user);
		bool app_ok = !rules->applications || glob_any(rules->applications, b->application);
		if (user_ok && app_ok)
			return decide(ret, BLOCKER_OWNER_UNITS, NULL,
				      "its user %s and application \"%s\" match services.sessions",
				      b->user ?: "(none)", b->application ?: "");
		return decide(ret, BLOCKER_OWNER_OUTSIDE, NULL,
			      "its %s \"%s\" does not match services.sessions",
			      user_ok ? "application" : "user",
			      (user_ok ? b->application : b->user) ?: "");
	}

	if (socket) {
		if (rules->units_incomplete)
			return decide(ret, BLOCKER_OWNER_UNKNOWN, NULL,
				      "its client %s is a socket of this host (uid %u), and the "
				      "cgroups of some units could not be read",
				      b->client, socket->uid);
		if (socket->cgroup_id == 0)
			return decide(
				ret, BLOCKER_OWNER_UNKNOWN, NULL,
				"its client %s is a socket of this host (uid %u) whose cgroup "
				"the kernel did not say",
				b->client, socket->uid);
		return decide(ret, BLOCKER_OWNER_OUTSIDE, NULL,
			      "its client %s is a socket of a process of uid %u on this host in "
			      "none of the units' cgroups",
			      b->client, socket->uid);
	}
	if (b->client && strcmp(b->client, "[local]") == 0)
		return decide(ret, BLOCKER_OWNER_UNKNOWN, NULL,
			      "it connected over a Unix socket, whose client process deployd "
			      "cannot find");
	if (address && !rules->sockets)
		return decide(ret, BLOCKER_OWNER_UNKNOWN, NULL,
			      "its client is %s, and this host's TCP sockets could not be read",
			      b->client);
	if (address)
		return decide(ret, BLOCKER_OWNER_UNKNOWN, NULL,
			      "its client %s is no socket of this host (another host, or a pooler "
			      "or NAT in between)",
			      b->client);
	if (b->backend_type && strcmp(b->backend_type, "client backend") != 0)
		return decide(ret, BLOCKER_OWNER_UNKNOWN, NULL, "it is a server process (%s)",
			      b->backend_type);
	return decide(ret, BLOCKER_OWNER_UNKNOWN, NULL, "its client is not visible");
}
