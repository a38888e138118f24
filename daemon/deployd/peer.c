#include <arpa/inet.h>
#include <grp.h>
#include <stdio.h>
#include <pwd.h>
#include <stdlib.h>

#include "cleanup.h"
#include "peer.h"

int peer_get_credentials(int fd, struct ucred *ret)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	if (len != sizeof(cred))
		return -EIO;
	*ret = cred;
	return 0;
}

static int user_in_group(uid_t uid, gid_t primary, gid_t gid)
{
	struct passwd pw, *found = NULL;
	char buf[4096];
	int n = 64;

	if (primary == gid)
		return 1;
	int r = getpwuid_r(uid, &pw, buf, sizeof(buf), &found);
	if (r != 0)
		return -r;
	if (!found)
		return 0; /* a uid without a passwd entry has no supplementary groups */

	for (;;) {
		_cleanup_free_ gid_t *groups = calloc((size_t)n, sizeof(gid_t));
		int count = n;

		if (!groups)
			return -ENOMEM;
		if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &count) < 0) {
			if (count <= n) /* glibc reports the size it needs in count */
				return -EIO;
			n = count;
			continue;
		}
		for (int i = 0; i < count; i++)
			if (groups[i] == gid)
				return 1;
		return 0;
	}
}

int peer_is_authorized(const struct ucred *peer, uid_t own_uid, gid_t allow_gid)
{
	if (peer->uid == 0 || peer->uid == own_uid)
		return 1;
	if (allow_gid == PEER_NO_GROUP)
		return 0;
	return user_in_group(peer->uid, peer->gid, allow_gid);
}

int peer_requester_name(uid_t uid, const char *claimed_host, char **ret)
{
	struct passwd pw, *found = NULL;
	unsigned char addr[sizeof(struct in6_addr)];
	char buf[4096], number[16];
	const char *user;
	bool host;

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) != 0 || !found) {
		snprintf(number, sizeof(number), "%u", (unsigned)uid);
		user = number;
	} else
		user = found->pw_name;
	host = claimed_host && (inet_pton(AF_INET, claimed_host, addr) == 1 ||
				inet_pton(AF_INET6, claimed_host, addr) == 1);
	if (asprintf(ret, "%s%s%s", user, host ? "@" : "", host ? claimed_host : "") < 0)
		return -ENOMEM;
	return 0;
}
