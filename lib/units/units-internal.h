/* units-internal.h — what the units-*.c files share: the manager connection, the bounded
 * wait that drives the bus, method calls and property reads made through that wait, and
 * the details gathered about a failed unit.  Not for use outside lib/units/. */
#pragma once

#include <systemd/sd-bus.h>

#include "cleanup.h"

#include "units.h"

#define UNITS_DESTINATION "org.freedesktop.systemd1"
#define UNITS_MANAGER_PATH "/org/freedesktop/systemd1"
#define UNITS_MANAGER_INTERFACE "org.freedesktop.systemd1.Manager"
#define UNITS_UNIT_INTERFACE "org.freedesktop.systemd1.Unit"
#define UNITS_SERVICE_INTERFACE "org.freedesktop.systemd1.Service"

/* How long the reads that follow a verdict (ActiveState, Result, …) may take together. */
#define UNITS_QUERY_TIMEOUT (5 * USEC_PER_SEC)

struct UnitsManager {
	sd_bus *bus;
	UnitsBus which;
	/* Through a bus daemon messages carry a sender, and the manager sends its signals only
	 * to subscribers; on a direct (private socket) connection there is no sender. */
	bool bus_client;
	uid_t owner_uid; /* the user manager's uid, which its units' journal entries carry */
	/* A remote manager (units_connect_remote()): its host as the plan names it, the ssh
	 * process carrying the bus, and the file ssh writes its stderr to.  NULL, 0 and -EBADF
	 * for a manager of this machine, whose units' journal is ours to read. */
	char *host;
	pid_t ssh_pid;
	int ssh_stderr;
};

/* A manager not yet connected, with no ssh process. */
int units_manager_new(UnitsBus which, UnitsManager **ret);

/* Calls Subscribe: through a bus daemon the manager sends signals only to subscribers. */
int units_subscribe(UnitsManager *m, usec_t deadline, int cancel_fd);

/* The sender a signal match must name: the manager's bus name, or NULL on a direct
 * connection. */
const char *units_signal_sender(const UnitsManager *m);

/* now + timeout on CLOCK_MONOTONIC, USEC_INFINITY when either is infinite. */
usec_t units_deadline(usec_t timeout);

/* The timeout to give sd_bus_call_async() for a reply awaited until deadline by
 * units_wait_many()
 * (0, sd-bus's default, when there is no deadline). */
usec_t units_call_timeout(usec_t deadline);

/* Dispatches the messages of n buses until done(userdata) holds (0), the CLOCK_MONOTONIC
 * deadline passes (-ETIMEDOUT), cancel_fd becomes readable (-ECANCELED) or a bus fails.  With
 * errors (n entries, 0 at first), a bus that fails gets its -errno there and is left alone
 * from then on while the wait goes on (done() should look); without, the first failure ends
 * the wait. */
int units_wait_many(sd_bus *const *buses, int *errors, size_t n, usec_t deadline, int cancel_fd,
		    bool (*done)(void *userdata), void *userdata);

/* The error reply sd-bus makes up for each pending call of a connection that closed. */
bool units_reply_is_connection_lost(sd_bus_message *reply);

/* One method call of units_call_all(), and what came of it. */
typedef struct UnitsCall {
	sd_bus_message *call; /* the method call, on the bus it is for */
	/* 0 with the reply; else an error reply's negative errno (error then holds its name and
	 * message), -ECONNRESET when the connection closed meanwhile, the connection's -errno
	 * when it failed, -ETIMEDOUT when the deadline passed first, or the errno of the send. */
	int r;
	sd_bus_message *reply;
	sd_bus_error error;
	sd_bus_slot *slot; /* while pending */
} UnitsCall;

/* Sends every call at once (they may be for different buses) and waits for all their
 * replies by units_wait_many(), within one deadline: n calls to n managers take as long as
 * the slowest, and a manager that does not answer fails its own calls only.  A call without
 * a message (one the caller could not make) is left as it is.  Returns 0 (each call's
 * outcome in its r), -ENOMEM or -ECANCELED. */
int units_call_all(UnitsCall *calls, size_t n, usec_t deadline, int cancel_fd);
/* Unrefs each call's messages (call included) and frees its error. */
void units_calls_done(UnitsCall *calls, size_t n);

/* Sends the method call m and waits for its reply, as units_call_all() does for one call;
 * returns its r and, when ret_error is not NULL, an error reply's name and message. */
int units_call(sd_bus *bus, sd_bus_message *m, usec_t deadline, int cancel_fd,
	       sd_bus_message **ret_reply, sd_bus_error *ret_error);

/* The method call that reads one property of the object path (Properties.Get); its reply
 * holds the value in a variant. */
int units_property_call(UnitsManager *m, const char *path, const char *interface,
			const char *property, sd_bus_message **ret);

/* Reads one property of the object path through units_call(): *ret is the reply, positioned
 * inside the property's variant, which must have the given type. */
int units_get_property(UnitsManager *m, const char *path, const char *interface,
		       const char *property, const char *type, usec_t deadline, int cancel_fd,
		       sd_bus_message **ret);
int units_get_string(UnitsManager *m, const char *path, const char *interface, const char *property,
		     usec_t deadline, int cancel_fd, char **ret);

/* The manager's object path of a unit: /org/freedesktop/systemd1/unit/ESCAPED_NAME. */
int units_object_path(const char *name, char **ret);

/* How long a failed unit's journal lines may take to show up (see units_journal_tail()). */
#define UNITS_JOURNAL_GRACE (1 * USEC_PER_SEC)

/* The message of a unit whose manager's connection failed with error: "lost the connection
 * to the service manager on HOST (ssh: …)". */
int units_connection_lost_message(const UnitsManager *m, int error, char **ret);

/* Frees what an outcome holds and zeroes it. */
void units_outcome_done(UnitOutcome *o);
/* How many outcomes of the array (ended by a NULL name) are failures. */
int units_outcomes_count_failed(const UnitOutcome *outcomes);

/* Concludes an outcome whose name, error and state are set: a failed one gets Service.Result
 * (.service units) and the unit's journal lines logged since the realtime since, each left
 * NULL when it cannot be had; then it goes to options->on_outcome.  Only -ENOMEM and
 * -ECANCELED are errors. */
int units_outcome_conclude(UnitsManager *m, UnitOutcome *o, usec_t since, usec_t deadline,
			   const UnitsOptions *options);

/* The newest n lines the unit and its manager about it logged at or after the realtime since,
 * oldest first, and the UNIT_RESULT of the manager's newest "failed with result" record among
 * them (NULL if none).  Waits up to deadline for that record to reach the journal when
 * await_failure_record is set.  -errno when the journal cannot be read. */
int units_journal_tail(const UnitsManager *m, const char *unit, usec_t since,
		       bool await_failure_record, usec_t deadline, int cancel_fd, size_t n,
		       char ***ret_lines, char **ret_unit_result);
