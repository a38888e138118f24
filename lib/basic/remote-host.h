/* remote-host.h — the ssh destination of a remote host in a plan: [USER@]HOST[:PORT].
 *
 * remote_host_parse() checks the text strictly, so that it can be handed to ssh as plain
 * arguments with no meaning to ssh's option parser or to a shell: USER is
 * [A-Za-z0-9._-] (at most REMOTE_HOST_USER_MAX bytes), HOST a name or IPv4 address of
 * [A-Za-z0-9._-] (at most REMOTE_HOST_NAME_MAX bytes) or an IPv6 address in brackets
 * ([0-9A-Fa-f:.]), PORT a number from 1 to 65535; neither USER nor HOST may begin with '-'
 * or '.'.  Pure functions, no allocation. */
#pragma once

#include <stdint.h>

#define REMOTE_HOST_USER_MAX 32
#define REMOTE_HOST_NAME_MAX 253

typedef struct RemoteHost {
	char user[REMOTE_HOST_USER_MAX + 1]; /* "" when not given: ssh's default */
	char name[REMOTE_HOST_NAME_MAX + 1]; /* an IPv6 address without its brackets */
	uint16_t port;			     /* 0 when not given: ssh's default (22) */
} RemoteHost;

/* Fills *ret and returns 0, or returns -EINVAL with *ret_reason (may be NULL) set to a
 * static phrase completing "the host …", e.g. "has no host name after '@'". */
int remote_host_parse(const char *s, RemoteHost *ret, const char **ret_reason);
