/* TCP sockets and their cgroups from the kernel's socket diagnostics (tcp-sockets.h). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/magic.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <unistd.h>

#include "alloc-util.h"
#include "cleanup.h"
#include "tcp-sockets.h"

/* TCP states of a connection that still has a server-side session: everything but LISTEN
 * and the closed states (as the kernel numbers them, include/net/tcp_states.h). */
#define TCP_CONNECTED_STATES                                                                       \
	((1u << TCP_ESTABLISHED) | (1u << TCP_SYN_SENT) | (1u << TCP_SYN_RECV) |                   \
	 (1u << TCP_FIN_WAIT1) | (1u << TCP_FIN_WAIT2) | (1u << TCP_CLOSE_WAIT))

TcpSockets *tcp_sockets_free(TcpSockets *t)
{
	if (!t)
		return NULL;
	free(t->sockets);
	free(t);
	return NULL;
}

static int append(TcpSockets *t, size_t *allocated, const TcpSocket *s)
{
	if (array_grow((void **)&t->sockets, t->n_sockets, allocated, sizeof(TcpSocket), 64) < 0)
		return -ENOMEM;
	t->sockets[t->n_sockets++] = *s;
	return 0;
}

static void parse_message(const struct nlmsghdr *h, TcpSocket *s)
{
	const struct inet_diag_msg *m = NLMSG_DATA(h);
	size_t len = 4 * (m->idiag_family == AF_INET6 ? 4 : 1);
	int rta_len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*m));

	*s = (TcpSocket){
		.family = m->idiag_family,
		.local_port = ntohs(m->id.idiag_sport),
		.remote_port = ntohs(m->id.idiag_dport),
		.uid = m->idiag_uid,
		.inode = m->idiag_inode,
	};
	memcpy(s->local_addr, m->id.idiag_src, len);
	memcpy(s->remote_addr, m->id.idiag_dst, len);
	for (const struct rtattr *a = (const struct rtattr *)(m + 1); RTA_OK(a, rta_len);
	     a = RTA_NEXT(a, rta_len))
		if (a->rta_type == INET_DIAG_CGROUP_ID && RTA_PAYLOAD(a) >= (int)sizeof(uint64_t))
			memcpy(&s->cgroup_id, RTA_DATA(a), sizeof(uint64_t));
}

/* One dump of one address family's TCP sockets into t. */
static int dump_family(int fd, int family, TcpSockets *t, size_t *allocated)
{
	struct {
		struct nlmsghdr h;
		struct inet_diag_req_v2 r;
	} req = {
		.h =
			{
				.nlmsg_len = sizeof(req),
				.nlmsg_type = SOCK_DIAG_BY_FAMILY,
				.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
				.nlmsg_seq = (uint32_t)family,
			},
		.r =
			{
				.sdiag_family = (uint8_t)family,
				.sdiag_protocol = IPPROTO_TCP,
				.idiag_states = TCP_CONNECTED_STATES,
			},
	};
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	/* Aligned for struct nlmsghdr; the kernel sends at most a page's worth per read. */
	_cleanup_free_ long *buf = NULL;
	const size_t buf_size = 32768;

	if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	buf = malloc(buf_size);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = recv(fd, buf, buf_size, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != (uint32_t)family)
				continue;
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
					return -EIO;
				return e->error < 0 ? e->error : -EIO;
			}
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
			    h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
				continue;
			TcpSocket s;
			parse_message(h, &s);
			int r = append(t, allocated, &s);
			if (r < 0)
				return r;
		}
	}
}

int tcp_sockets_load(TcpSockets **ret)
{
	_cleanup_(tcp_sockets_freep) TcpSockets *t = NULL;
	_cleanup_close_ int fd = -EBADF;
	size_t allocated = 0;
	int r;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	t = calloc(1, sizeof(TcpSockets));
	if (!t)
		return -ENOMEM;
	r = dump_family(fd, AF_INET, t, &allocated);
	if (r < 0)
		return r;
	r = dump_family(fd, AF_INET6, t, &allocated);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(t);
	return 0;
}

/* A socket's address as IPv4 when it is one (IPv4-mapped IPv6 included). */
static bool address_v4(int family, const uint8_t addr[static 16], uint8_t ret[static 4])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (family == AF_INET) {
		memcpy(ret, addr, 4);
		return true;
	}
	if (memcmp(addr, mapped, sizeof(mapped)) == 0) {
		memcpy(ret, addr + 12, 4);
		return true;
	}
	return false;
}

static bool same_address(const TcpSocket *s, int family, const uint8_t addr[static 16])
{
	uint8_t a4[4], b4[4];
	bool a_is_v4 = address_v4(s->family, s->local_addr, a4);
	bool b_is_v4 = address_v4(family, addr, b4);

	if (a_is_v4 || b_is_v4)
		return a_is_v4 && b_is_v4 && memcmp(a4, b4, 4) == 0;
	return memcmp(s->local_addr, addr, 16) == 0;
}

const TcpSocket *tcp_sockets_find_local(const TcpSockets *t, const char *address, uint16_t port,
					uint16_t remote_port)
{
	uint8_t addr[16] = {};
	int family;

	if (!t || !address)
		return NULL;
	if (inet_pton(AF_INET, address, addr) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, address, addr) == 1)
		family = AF_INET6;
	else
		return NULL;
	for (size_t i = 0; i < t->n_sockets; i++) {
		const TcpSocket *s = &t->sockets[i];
		if (s->local_port == port && (remote_port == 0 || s->remote_port == remote_port) &&
		    same_address(s, family, addr))
			return s;
	}
	return NULL;
}

/* Where the unified (v2) hierarchy is mounted: /sys/fs/cgroup, or its "unified" directory
 * on a hybrid host. */
static const char *cgroup2_root(void)
{
	static const char *const roots[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
	struct statfs fs;

	for (size_t i = 0; i < ELEMENTSOF(roots); i++)
		if (statfs(roots[i], &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC)
			return roots[i];
	return NULL;
}

typedef struct IdList {
	uint64_t *ids;
	size_t n, allocated;
} IdList;

static int id_list_add(IdList *l, uint64_t id)
{
	if (array_grow((void **)&l->ids, l->n, &l->allocated, sizeof(uint64_t), 8) < 0)
		return -ENOMEM;
	l->ids[l->n++] = id;
	return 0;
}

/* The directory fd's own id and, recursively, its subdirectories'.  Consumes fd.  Bounded
 * in depth: a cgroup tree is shallow, a loop impossible (directories only, no symlinks). */
static int collect(int fd, unsigned depth, IdList *l)
{
	_cleanup_(closedirp) DIR *d = NULL;
	struct stat st;
	int r;

	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	r = id_list_add(l, (uint64_t)st.st_ino);
	if (r < 0 || depth >= 32) {
		close(fd);
		return r;
	}
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	for (struct dirent *e; (errno = 0, e = readdir(d));) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		int sub = openat(dirfd(d), e->d_name,
				 O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (sub < 0) {
			/* A child cgroup removed meanwhile has no sockets left to find. */
			if (errno == ENOENT)
				continue;
			return -errno;
		}
		r = collect(sub, depth + 1, l);
		if (r < 0)
			return r;
	}
	return errno > 0 ? -errno : 0;
}

int cgroup_ids_under(const char *path, uint64_t **ret_ids, size_t *ret_n)
{
	_cleanup_free_ char *full = NULL;
	IdList l = {};
	const char *root = cgroup2_root();
	int fd, r;

	if (!path || path[0] != '/' || strstr(path, "/../") || strstr(path, "/./"))
		return -EINVAL;
	if (!root)
		return -ENOENT;
	if (asprintf(&full, "%s%s", root, path) < 0)
		return -ENOMEM;
	fd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = collect(fd, 0, &l);
	if (r < 0) {
		free(l.ids);
		return r;
	}
	*ret_ids = l.ids;
	*ret_n = l.n;
	return 0;
}
