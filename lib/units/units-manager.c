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

/* Closes the bus and asks ssh to end, without waiting for it.  Closing without flushing:
 * nothing we could still have queued matters, and a flush could wait on a manager that does
 * not read. */
static void hang_up(UnitsManager *m)
{
	m->bus = sd_bus_close_unref(m->bus);
	/* The bus is closed, so ssh would end by itself once the remote side has; SIGTERM
	 * spares that wait. */
	if (m->ssh_pid > 0)
		(void)kill(m->ssh_pid, SIGTERM);
}

/* Waits for a remote manager's ssh to end (after hang_up()) and closes its stderr file. */
static void ssh_reap(UnitsManager *m)
{
	if (m->ssh_pid > 0) {
		(void)waitpid(m->ssh_pid, NULL, 0);
		m->ssh_pid = 0;
	}
	if (m->ssh_stderr >= 0) {
		close(m->ssh_stderr);
		m->ssh_stderr = -EBADF;
	}
}

UnitsManager *units_manager_free(UnitsManager *m)
{
	units_managers_free(&m, 1);
	return NULL;
}

void units_managers_free(UnitsManager **managers, size_t n)
{
	/* Every ssh is told first and waited for after: n of them end together, in about the
	 * time of one. */
	for (size_t i = 0; i < n; i++)
		if (managers[i])
			hang_up(managers[i]);
	for (size_t i = 0; i < n; i++) {
		UnitsManager *m = TAKE_PTR(managers[i]);

		if (!m)
			continue;
		ssh_reap(m);
		free(m->host);
		free(m);
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
