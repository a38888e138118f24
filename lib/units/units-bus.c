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

/* Sleeps until one of the buses (those not failed) has something to do, the deadline passes
 * or cancel_fd is readable. */
static int units_poll(sd_bus *const *buses, const int *errors, size_t n, usec_t deadline,
		      int cancel_fd)
{
	_cleanup_free_ struct pollfd *fds = calloc(n + 1, sizeof(struct pollfd));
	usec_t now = now_usec(CLOCK_MONOTONIC), until = deadline;
	int r;

	if (!fds)
		return -ENOMEM;
	if (now >= deadline)
		return -ETIMEDOUT;

	for (size_t i = 0; i < n; i++) {
		usec_t bus_until;

		fds[i].fd = -1; /* poll() skips it */
		if (errors && errors[i] < 0)
			continue;
		r = sd_bus_get_timeout(buses[i], &bus_until);
		if (r < 0)
			return r;
		if (bus_until < until)
			until = bus_until;
		fds[i].fd = sd_bus_get_fd(buses[i]);
		if (fds[i].fd < 0)
			return fds[i].fd;
		r = sd_bus_get_events(buses[i]);
		if (r < 0)
			return r;
		fds[i].events = (short)r;
	}
	fds[n] = (struct pollfd){.fd = cancel_fd, .events = POLLIN};

	struct timespec ts, *tsp = NULL;
	if (until != USEC_INFINITY) {
		usec_t left = until > now ? until - now : 0;
		ts = (struct timespec){.tv_sec = left / USEC_PER_SEC,
				       .tv_nsec = (left % USEC_PER_SEC) * 1000};
		tsp = &ts;
	}

	if (ppoll(fds, n + 1, tsp, NULL) < 0)
		return errno == EINTR ? 0 : -errno;
	if (cancel_fd >= 0 && fds[n].revents)
		return -ECANCELED;
	return 0;
}

int units_wait_many(sd_bus *const *buses, int *errors, size_t n, usec_t deadline, int cancel_fd,
		    bool (*done)(void *userdata), void *userdata)
{
	for (;;) {
		bool busy = false;

		if (done(userdata))
			return 0;

		/* Everything queued is dispatched before sleeping: sd_bus_process() handles one
		 * message per call. */
		for (size_t i = 0; i < n; i++) {
			if (errors && errors[i] < 0)
				continue;
			int r = sd_bus_process(buses[i], NULL);
			if (r < 0 && !errors)
				return r;
			if (r < 0)
				errors[i] = r;
			busy = busy || r != 0;
		}
		if (busy) {
			if (now_usec(CLOCK_MONOTONIC) >= deadline && !done(userdata))
				return -ETIMEDOUT;
			continue;
		}

		int r = units_poll(buses, errors, n, deadline, cancel_fd);
		if (r < 0)
			return r;
	}
}

int units_wait(sd_bus *bus, usec_t deadline, int cancel_fd, bool (*done)(void *userdata),
	       void *userdata)
{
	return units_wait_many(&bus, NULL, 1, deadline, cancel_fd, done, userdata);
}

bool units_reply_is_connection_lost(sd_bus_message *reply)
{
	return sd_bus_message_is_method_error(reply, SD_BUS_ERROR_NO_REPLY) &&
	       sd_bus_is_open(sd_bus_message_get_bus(reply)) <= 0;
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

	if (units_reply_is_connection_lost(reply))
		return -ECONNRESET;
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
