/* The managers of this machine: the system manager and the caller's user manager, over their
 * private sockets where we may, else through the bus (units.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "units-internal.h"

#define SYSTEM_PRIVATE_SOCKET "/run/systemd/private"

static int peer_uid(sd_bus *bus, uid_t *ret)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd = sd_bus_get_fd(bus);

	if (fd < 0)
		return fd;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	*ret = cred.uid;
	return 0;
}

/* A path that needs no escaping in a D-Bus address; anything else is not tried. */
static bool address_path_is_plain(const char *path)
{
	return path[0] == '/' &&
	       strspn(path, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-/.") ==
		       strlen(path);
}

/* Connects straight to a manager's private socket, like systemctl, and keeps the connection
 * only when the peer is root, ourselves or trusted_uid: anyone else listening there is not
 * a manager we may believe. */
static int connect_private(const char *socket_path, uid_t trusted_uid, sd_bus **ret, uid_t *ret_uid)
{
	_cleanup_(sd_bus_close_unrefp) sd_bus *bus = NULL;
	_cleanup_free_ char *address = NULL;
	uid_t uid;
	int r;

	if (!address_path_is_plain(socket_path))
		return -EINVAL;
	if (asprintf(&address, "unix:path=%s", socket_path) < 0)
		return -ENOMEM;

	r = sd_bus_new(&bus);
	if (r < 0)
		return r;
	r = sd_bus_set_address(bus, address);
	if (r < 0)
		return r;
	r = sd_bus_start(bus);
	if (r < 0)
		return r;
	r = peer_uid(bus, &uid);
	if (r < 0)
		return r;
	if (uid != 0 && uid != geteuid() && uid != trusted_uid)
		return -EPERM;

	*ret = TAKE_PTR(bus);
	*ret_uid = uid;
	return 0;
}

static int connect_user(sd_bus **ret, uid_t *ret_uid)
{
	_cleanup_(sd_bus_close_unrefp) sd_bus *bus = NULL;
	const char *runtime_dir = secure_getenv("XDG_RUNTIME_DIR");
	int r;

	if (runtime_dir) {
		_cleanup_free_ char *socket_path = NULL;
		struct stat st;

		/* The manager listening in a runtime directory is its owner's.  systemctl accepts
		 * only root or itself there; we also accept the owner, so that root reaches the
		 * manager of the user XDG_RUNTIME_DIR names.  That trusts the peer no more than
		 * the fallback does: the user's bus daemon runs as that user too. */
		if (stat(runtime_dir, &st) == 0 &&
		    asprintf(&socket_path, "%s/systemd/private", runtime_dir) >= 0 &&
		    connect_private(socket_path, st.st_uid, ret, ret_uid) >= 0)
			return 0;
	}

	r = sd_bus_open_user(&bus);
	if (r < 0)
		return r;
	r = peer_uid(bus, ret_uid);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(bus);
	return 0;
}

static int connect_system(sd_bus **ret)
{
	uid_t uid;

	if (geteuid() == 0 && connect_private(SYSTEM_PRIVATE_SOCKET, 0, ret, &uid) >= 0)
		return 0;
	return sd_bus_open_system(ret);
}

int units_connect(UnitsBus which, UnitsManager **ret)
{
	_cleanup_(units_manager_freep) UnitsManager *m = NULL;
	int r;

	r = units_manager_new(which, &m);
	if (r < 0)
		return r;

	switch (which) {
	case UNITS_BUS_SYSTEM:
		r = connect_system(&m->bus);
		break;
	case UNITS_BUS_USER:
		r = connect_user(&m->bus, &m->owner_uid);
		break;
	default:
		r = -EINVAL;
	}
	if (r < 0)
		return r;

	r = sd_bus_is_bus_client(m->bus);
	if (r < 0)
		return r;
	m->bus_client = r > 0;
	if (m->bus_client) {
		r = units_subscribe(m, units_deadline(UNITS_QUERY_TIMEOUT), -1);
		if (r < 0)
			return r;
	}

	*ret = TAKE_PTR(m);
	return 0;
}
