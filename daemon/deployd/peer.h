/* peer.h — who is on the other end of a socket, and may they deploy.
 *
 * The identity comes from SO_PEERCRED (the kernel's word, not the
 * client's).  A peer is authorized when it is root, the daemon's own uid,
 * or a member — primary or supplementary, per the group database — of the
 * allowed group.  Functions return 0/1 or a negative errno. */
#pragma once

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>

#define PEER_NO_GROUP ((gid_t)-1)

int peer_get_credentials(int fd, struct ucred *ret);
/* 1 when authorized, 0 when not, <0 when the group database failed. */
int peer_is_authorized(const struct ucred *peer, uid_t own_uid, gid_t allow_gid);

/* Who asked, as the history's applied_by records it: the user name of uid (its number when
 * the user database has none), plus "@HOST" when claimed_host (the client's address from its
 * ssh session, SSH_CONNECTION, as deployctl reports it) is an IPv4 or IPv6 address; anything
 * else claimed is left out.  The user is the kernel's word, the host the requester's own. */
int peer_requester_name(uid_t uid, const char *claimed_host, char **ret);
