#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "units-internal.h"

usec_t units_deadline(usec_t timeout)
{
	usec_t now = now_usec(CLOCK_MONOTONIC);

	if (timeout == USEC_INFINITY || timeout >= USEC_INFINITY - now)
		return USEC_INFINITY;
	return now + timeout;
}

usec_t units_call_timeout(usec_t deadline)
{
	usec_t now = now_usec(CLOCK_MONOTONIC);

	/* Our own wait enforces the deadline; the call's timeout only has to outlast it. */
	if (deadline == USEC_INFINITY)
		return 0;
	return (deadline > now ? deadline - now : 0) + USEC_PER_SEC;
}

/* Sleeps until the bus has something to do, the deadline passes or cancel_fd is readable. */
static int units_poll(sd_bus *bus, usec_t deadline, int cancel_fd)
{
	usec_t now = now_usec(CLOCK_MONOTONIC), until = deadline, bus_until;
	int r;

	if (now >= deadline)
		return -ETIMEDOUT;

	r = sd_bus_get_timeout(bus, &bus_until);
	if (r < 0)
		return r;
	if (bus_until < until)
		until = bus_until;

	int fd = sd_bus_get_fd(bus);
	if (fd < 0)
		return fd;
	r = sd_bus_get_events(bus);
	if (r < 0)
		return r;

	struct pollfd fds[2] = {
		{.fd = fd, .events = (short)r},
		{.fd = cancel_fd, .events = POLLIN},
	};
	struct timespec ts, *tsp = NULL;
	if (until != USEC_INFINITY) {
		usec_t left = until > now ? until - now : 0;
		ts = (struct timespec){.tv_sec = left / USEC_PER_SEC,
				       .tv_nsec = (left % USEC_PER_SEC) * 1000};
		tsp = &ts;
	}

	if (ppoll(fds, cancel_fd >= 0 ? 2 : 1, tsp, NULL) < 0)
		return errno == EINTR ? 0 : -errno;
	if (cancel_fd >= 0 && fds[1].revents)
		return -ECANCELED;
	return 0;
}

int units_wait(sd_bus *bus, usec_t deadline, int cancel_fd, bool (*done)(void *userdata),
	       void *userdata)
{
	for (;;) {
		if (done(userdata))
			return 0;

		/* Everything queued is dispatched before sleeping: sd_bus_process() handles one
		 * message per call. */
		int r = sd_bus_process(bus, NULL);
		if (r < 0)
			return r;
		if (r > 0) {
			if (now_usec(CLOCK_MONOTONIC) >= deadline && !done(userdata))
				return -ETIMEDOUT;
			continue;
		}

		r = units_poll(bus, deadline, cancel_fd);
		if (r < 0)
			return r;
	}
}

static int on_call_reply(sd_bus_message *reply, void *userdata, sd_bus_error *error _unused_)
{
	*(sd_bus_message **)userdata = sd_bus_message_ref(reply);
	return 0;
}

static bool call_replied(void *userdata)
{
	return *(sd_bus_message **)userdata != NULL;
}

int units_call(sd_bus *bus, sd_bus_message *m, usec_t deadline, int cancel_fd,
	       sd_bus_message **ret_reply, sd_bus_error *ret_error)
{
	_cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	usec_t now = now_usec(CLOCK_MONOTONIC);
	int r;

	if (now >= deadline)
		return -ETIMEDOUT;

	r = sd_bus_call_async(bus, &slot, m, on_call_reply, &reply, units_call_timeout(deadline));
	if (r < 0)
		return r;

	r = units_wait(bus, deadline, cancel_fd, call_replied, &reply);
	if (r < 0)
		return r;

	if (sd_bus_message_is_method_error(reply, NULL)) {
		if (ret_error)
			sd_bus_error_copy(ret_error, sd_bus_message_get_error(reply));
		return -sd_bus_message_get_errno(reply);
	}
	if (ret_reply)
		*ret_reply = TAKE_PTR(reply);
	return 0;
}

int units_get_property(UnitsManager *m, const char *path, const char *interface,
		       const char *property, const char *type, usec_t deadline, int cancel_fd,
		       sd_bus_message **ret)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
	int r;

	r = sd_bus_message_new_method_call(m->bus, &call, UNITS_DESTINATION, path,
					   "org.freedesktop.DBus.Properties", "Get");
	if (r < 0)
		return r;
	r = sd_bus_message_append(call, "ss", interface, property);
	if (r < 0)
		return r;
	r = units_call(m->bus, call, deadline, cancel_fd, &reply, NULL);
	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(reply, 'v', type);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(reply);
	return 0;
}

int units_get_string(UnitsManager *m, const char *path, const char *interface, const char *property,
		     usec_t deadline, int cancel_fd, char **ret)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	const char *s;
	int r;

	r = units_get_property(m, path, interface, property, "s", deadline, cancel_fd, &reply);
	if (r < 0)
		return r;
	r = sd_bus_message_read(reply, "s", &s);
	if (r < 0)
		return r;
	char *copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	*ret = copy;
	return 0;
}

int units_get_u32(UnitsManager *m, const char *path, const char *interface, const char *property,
		  usec_t deadline, int cancel_fd, uint32_t *ret)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	uint32_t value;
	int r;

	r = units_get_property(m, path, interface, property, "u", deadline, cancel_fd, &reply);
	if (r < 0)
		return r;
	r = sd_bus_message_read(reply, "u", &value);
	if (r < 0)
		return r;
	*ret = value;
	return 0;
}

int units_object_path(const char *name, char **ret)
{
	return sd_bus_path_encode("/org/freedesktop/systemd1/unit", name, ret);
}
