/* Plans as the server loads them: opened once and trusted only as plan_open_trusted() says
 * (server-internal.h). */
#include "plan-trust.h"
#include "server-internal.h"

int server_load_plan(Server *s, const char *path, Plan **ret, char **ret_error)
{
	_cleanup_close_ int fd = -EBADF;
	int r;

	r = plan_open_trusted(path, s->own_uid, &fd, ret_error);
	if (r < 0)
		return r;
	return plan_load_fd(fd, path, ret, ret_error);
}
