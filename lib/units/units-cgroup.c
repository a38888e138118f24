/* The control group of a loaded unit (units_control_group()). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "unit-name.h"
#include "units-internal.h"

int units_control_group(UnitsManager *m, const char *unit, usec_t timeout, int cancel_fd,
			char **ret)
{
	_cleanup_free_ char *path = NULL, *cgroup = NULL;
	usec_t deadline = units_deadline(timeout);
	int r;

	if (!m || unit_name_check_deployable(unit, NULL) < 0)
		return -EINVAL;
	r = units_object_path(unit, &path);
	if (r < 0)
		return r;
	/* The unit, the interface of its type: ControlGroup is on Service, Socket, Scope, … */
	const char *dot = strrchr(unit, '.');
	_cleanup_free_ char *interface = NULL;
	if (!dot ||
	    asprintf(&interface, "org.freedesktop.systemd1.%c%s", dot[1] - 'a' + 'A', dot + 2) < 0)
		return dot ? -ENOMEM : -EINVAL;
	r = units_get_string(m, path, interface, "ControlGroup", deadline, cancel_fd, &cgroup);
	if (r < 0)
		return r;
	if (cgroup[0] == '\0')
		return -ENOENT;
	*ret = TAKE_PTR(cgroup);
	return 0;
}
