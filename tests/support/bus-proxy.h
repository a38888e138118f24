/* bus-proxy.h — sockets a test owns that forward to a real D-Bus socket.
 *
 * bus_proxy_start() forks a process, running as uid/gid, that listens on each of listen[i]
 * and forwards every connection byte for byte to target[i] (the credentials the far side
 * sees are uid's, so a client of uid authenticates as itself).  bus_proxy_kill() kills
 * that process and its connections at once: for whoever connected through the proxy, the
 * bus goes away, while every other client of the real bus is untouched.  The proxy also
 * dies with the test process.  Helpers abort the test on failure. */
#pragma once

#include <sys/types.h>

typedef struct BusProxy {
	pid_t pid;
} BusProxy;

void bus_proxy_start(BusProxy *p, const char *const *listen, const char *const *target, size_t n,
		     uid_t uid, gid_t gid);
/* SIGKILLs the proxy and every connection it forwards; idempotent. */
void bus_proxy_kill(BusProxy *p);
