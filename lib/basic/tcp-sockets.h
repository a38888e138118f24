/* tcp-sockets.h — this host's TCP connections and the cgroup each socket was made in.
 *
 * tcp_sockets_load() asks the kernel's socket diagnostics (NETLINK_SOCK_DIAG, inet_diag, what
 * `ss -tne --cgroup` reads) for every connected TCP socket, IPv4 and IPv6, of the caller's
 * network namespace, with its owner uid, inode and the id of the cgroup (v2, the unified
 * hierarchy) of the process that created it.  It needs no capability, no /proc and no access
 * to other users' processes: only the AF_NETLINK address family.  The cgroup id is the inode
 * number of that cgroup's directory (cgroup_ids_under()).  Nothing here prints. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct TcpSocket {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t local_addr[16]; /* network order; 4 bytes used for AF_INET */
	uint8_t remote_addr[16];
	uint16_t local_port, remote_port; /* host order */
	uint32_t uid;
	uint64_t inode;
	uint64_t cgroup_id; /* 0 when the kernel did not say */
} TcpSocket;

typedef struct TcpSockets {
	TcpSocket *sockets;
	size_t n_sockets;
} TcpSockets;

/* -errno of the netlink socket or its answer (-EAFNOSUPPORT/-EPERM when a sandbox forbids
 * AF_NETLINK), -ENOMEM. */
int tcp_sockets_load(TcpSockets **ret);
TcpSockets *tcp_sockets_free(TcpSockets *t);
static inline void tcp_sockets_freep(TcpSockets **t)
{
	tcp_sockets_free(*t);
}

/* The socket whose own end is address:port (a numeric IPv4 or IPv6 address; an IPv4-mapped
 * IPv6 address matches its IPv4 form), and, unless remote_port is 0, whose other end has
 * port remote_port; NULL when there is none. */
const TcpSocket *tcp_sockets_find_local(const TcpSockets *t, const char *address, uint16_t port,
					uint16_t remote_port);

/* The ids of the cgroup at path (as systemd's ControlGroup property gives it, "/system.slice/
 * a.service") and of every cgroup below it, from the unified hierarchy (/sys/fs/cgroup, or
 * /sys/fs/cgroup/unified on a hybrid host).  -ENOENT when the cgroup does not exist (a unit
 * without processes), -errno of reading the directories, -ENOMEM. */
int cgroup_ids_under(const char *path, uint64_t **ret_ids, size_t *ret_n);
