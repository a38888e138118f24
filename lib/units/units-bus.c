#include <assert.h>
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

bool units_reply_is_connection_lost(sd_bus_message *reply)
{
	return sd_bus_message_is_method_error(reply, SD_BUS_ERROR_NO_REPLY) &&
	       sd_bus_is_open(sd_bus_message_get_bus(reply)) <= 0;
}

static int on_call_reply(sd_bus_message *reply, void *userdata, sd_bus_error *error _unused_)
{
	UnitsCall *c = userdata;

	c->reply = sd_bus_message_ref(reply);
	return 0;
}

typedef struct CallsWait {
	UnitsCall *calls;
	size_t n;
	sd_bus **buses; /* the distinct buses of the calls */
	int *errors;	/* and their failures */
	size_t n_buses;
} CallsWait;

static size_t bus_index(const CallsWait *w, sd_bus *bus)
{
	size_t i = 0;

	while (i < w->n_buses && w->buses[i] != bus)
		i++;
	return i;
}

static bool all_replied(void *userdata)
{
	const CallsWait *w = userdata;

	for (size_t i = 0; i < w->n; i++)
		if (w->calls[i].slot && !w->calls[i].reply &&
		    w->errors[bus_index(w, sd_bus_message_get_bus(w->calls[i].call))] >= 0)
			return false;
	return true;
}

/* What became of call c, once the wait is over (wait_r: its result, 0 or -ETIMEDOUT). */
static void conclude_call(const CallsWait *w, UnitsCall *c, int wait_r)
{
	if (!c->call || c->r < 0)
		return; /* never sent */
	int bus_error = w->errors[bus_index(w, sd_bus_message_get_bus(c->call))];

	if (!c->reply)
		c->r = bus_error < 0 ? bus_error : wait_r < 0 ? wait_r : -ETIMEDOUT;
	else if (units_reply_is_connection_lost(c->reply))
		c->r = -ECONNRESET;
	else if (sd_bus_message_is_method_error(c->reply, NULL)) {
		c->r = -sd_bus_message_get_errno(c->reply);
		if (sd_bus_error_copy(&c->error, sd_bus_message_get_error(c->reply)) == -ENOMEM)
			c->r = -ENOMEM;
	}
	if (c->r < 0)
		c->reply = sd_bus_message_unref(c->reply);
}

int units_call_all(UnitsCall *calls, size_t n, usec_t deadline, int cancel_fd)
{
	_cleanup_free_ sd_bus **buses = calloc(n + 1, sizeof(sd_bus *));
	_cleanup_free_ int *errors = calloc(n + 1, sizeof(int));
	CallsWait w = {.calls = calls, .n = n, .buses = buses, .errors = errors};
	int r = 0;

	if (!buses || !errors)
		return -ENOMEM;
	/* Every call goes out first; then one wait serves all their connections. */
	for (size_t i = 0; i < n; i++) {
		UnitsCall *c = &calls[i];

		if (!c->call)
			continue; /* one the caller could not make: its r says why */
		sd_bus *bus = sd_bus_message_get_bus(c->call);
		*c = (UnitsCall){.call = c->call, .error = SD_BUS_ERROR_NULL};
		if (bus_index(&w, bus) == w.n_buses)
			buses[w.n_buses++] = bus;
		c->r = sd_bus_call_async(bus, &c->slot, c->call, on_call_reply, c,
					 units_call_timeout(deadline));
		if (c->r == -ENOMEM)
			r = -ENOMEM;
		if (c->r >= 0)
			c->r = 0;
	}
	if (r >= 0) {
		r = units_wait_many(buses, errors, w.n_buses, deadline, cancel_fd, all_replied, &w);
		if (r == -ETIMEDOUT || r >= 0) {
			for (size_t i = 0; i < n; i++)
				conclude_call(&w, &calls[i], r);
			r = 0;
			for (size_t i = 0; i < n; i++)
				if (calls[i].r == -ENOMEM)
					r = -ENOMEM;
		}
	}
	/* A call still pending is forgotten: its reply, should it come, goes nowhere. */
	for (size_t i = 0; i < n; i++)
		calls[i].slot = sd_bus_slot_unref(calls[i].slot);
	return r;
}

void units_calls_done(UnitsCall *calls, size_t n)
{
	for (size_t i = 0; calls && i < n; i++) {
		sd_bus_slot_unref(calls[i].slot);
		sd_bus_message_unref(calls[i].call);
		sd_bus_message_unref(calls[i].reply);
		sd_bus_error_free(&calls[i].error);
		calls[i] = (UnitsCall){};
	}
}

int units_call(sd_bus *bus, sd_bus_message *m, usec_t deadline, int cancel_fd,
	       sd_bus_message **ret_reply, sd_bus_error *ret_error)
{
	UnitsCall c = {.call = m};
	int r;

	if (now_usec(CLOCK_MONOTONIC) >= deadline)
		return -ETIMEDOUT;
	assert(sd_bus_message_get_bus(m) == bus);
	r = units_call_all(&c, 1, deadline, cancel_fd);
	if (r >= 0)
		r = c.r;
	if (r < 0 && ret_error && sd_bus_error_is_set(&c.error))
		sd_bus_error_move(ret_error, &c.error);
	else if (r >= 0 && ret_reply)
		*ret_reply = TAKE_PTR(c.reply);
	c.call = NULL; /* the caller's */
	units_calls_done(&c, 1);
	return r;
}

int units_property_call(UnitsManager *m, const char *path, const char *interface,
			const char *property, sd_bus_message **ret)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
	int r;

	r = sd_bus_message_new_method_call(m->bus, &call, UNITS_DESTINATION, path,
					   "org.freedesktop.DBus.Properties", "Get");
	if (r < 0)
		return r;
	r = sd_bus_message_append(call, "ss", interface, property);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(call);
	return 0;
}

int units_get_property(UnitsManager *m, const char *path, const char *interface,
		       const char *property, const char *type, usec_t deadline, int cancel_fd,
		       sd_bus_message **ret)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
	int r;

	r = units_property_call(m, path, interface, property, &call);
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

int units_object_path(const char *name, char **ret)
{
	return sd_bus_path_encode("/org/freedesktop/systemd1/unit", name, ret);
}
