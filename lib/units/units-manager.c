/* The connection to one service manager, whichever way it was reached (units-internal.h):
 * its life cycle, the signal subscription, and what callers may ask of it. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "units-internal.h"

int units_subscribe(UnitsManager *m, usec_t deadline, int cancel_fd)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
	int r;

	r = sd_bus_message_new_method_call(m->bus, &call, UNITS_DESTINATION, UNITS_MANAGER_PATH,
					   UNITS_MANAGER_INTERFACE, "Subscribe");
	if (r < 0)
		return r;
	return units_call(m->bus, call, deadline, cancel_fd, NULL, NULL);
}

int units_manager_new(UnitsBus which, UnitsManager **ret)
{
	UnitsManager *m = calloc(1, sizeof(UnitsManager));

	if (!m)
		return -ENOMEM;
	m->which = which;
	m->ssh_stderr = -EBADF;
	*ret = m;
	return 0;
}

UnitsManager *units_manager_free(UnitsManager *m)
{
	if (!m)
		return NULL;
	/* Closing without flushing: nothing we could still have queued matters, and a flush
	 * could wait on a manager that does not read. */
	sd_bus_close_unref(m->bus);
	units_ssh_stop(m);
	free(m->host);
	free(m);
	return NULL;
}

void units_ssh_stop(UnitsManager *m)
{
	if (m->ssh_pid > 0) {
		/* The bus is closed, so ssh would end by itself once the remote side has; SIGTERM
		 * spares that wait. */
		kill(m->ssh_pid, SIGTERM);
		(void)waitpid(m->ssh_pid, NULL, 0);
		m->ssh_pid = 0;
	}
	if (m->ssh_stderr >= 0) {
		close(m->ssh_stderr);
		m->ssh_stderr = -EBADF;
	}
}

bool units_manager_is_connected(UnitsManager *m)
{
	int r;

	/* A closed connection shows only once read: take in what is queued (between calls
	 * nothing waits for it, and signals without a match are dropped). */
	do
		r = sd_bus_process(m->bus, NULL);
	while (r > 0);
	return r == 0 && sd_bus_is_open(m->bus) > 0;
}

const char *units_manager_host(const UnitsManager *m)
{
	return m->host;
}

const char *units_signal_sender(const UnitsManager *m)
{
	return m->bus_client ? UNITS_DESTINATION : NULL;
}
