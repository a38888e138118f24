/* units.h — stopping and starting systemd units over D-Bus (sd-bus), the way systemctl does.
 *
 * units_connect() reaches the system or the user manager of this machine,
 * units_connect_remote() one of another machine the way systemctl -H does (ssh to the host,
 * systemd-stdio-bridge there).  units_check() is the preflight:
 * every unit must be loaded (not masked, not not-found); units_check_all() checks several
 * managers at once.  units_stop() and units_start() queue
 * one job per unit at once (StopUnit/StartUnit, mode "replace"), with the JobRemoved match
 * installed before the calls, wait for all of them and then check each unit's ActiveState;
 * units_settle() watches that started units stay active for a while.  Each reports one
 * UnitOutcome per unit, through an optional callback as soon as that unit is decided and as an
 * array at the end.  Waits are bounded by a deadline and end early when the caller's cancel fd
 * becomes readable.  units_stop_all(), units_start_all() and units_settle_all() do the same
 * for units of several managers at once, in parallel, in one wait (no threads: every
 * manager's requests go out first, then one poll serves all their connections); a manager
 * whose connection fails fails its own units only.  Nothing here prints, logs or builds
 * events. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "time-util.h"

/* How many of a failed unit's newest journal lines an outcome carries. */
#define UNITS_JOURNAL_LINES 10

/* Which manager of a machine: PID 1's on the system bus, or a user's own. */
typedef enum UnitsBus {
	UNITS_BUS_SYSTEM,
	UNITS_BUS_USER,
} UnitsBus;

/* A connection to one service manager. */
typedef struct UnitsManager UnitsManager;

/* The units_*_all() calls act on units of several managers: each target is one manager and
 * its units. */
typedef struct UnitsTarget {
	UnitsManager *manager;
	char *const *units;
} UnitsTarget;

/* The verdict on one unit of a units_stop(), units_start() or units_settle() call. */
typedef struct UnitOutcome {
	char *name;
	size_t target; /* the index of the unit's UnitsTarget (0 for units_stop() and the like) */
	/* 0 when the unit reached the wanted state, else a negative errno: the job result's
	 * (units_job_result_to_errno(); -ETIME is the manager's own job timeout), -ETIMEDOUT when
	 * our deadline passed first, -EBUSY when a stopped unit is still active, -ESRCH when a
	 * started unit is not active (or did not stay active, or restarted, during settle), or
	 * the errno of a refused StopUnit/StartUnit call, or of the manager's connection when it
	 * failed on the way (error_message then says so, with what ssh said for a remote one). */
	int error;
	/* The job's result from JobRemoved ("done", "skipped", "failed", "canceled", …), "timeout"
	 * when our deadline passed first (error -ETIMEDOUT), NULL when no job was queued (the call
	 * failed) and for units_settle(), where the start job is long over. */
	char *job_result;
	char *active_state;   /* ActiveState when decided (for settle: the one seen falling) */
	char *service_result; /* on failure, .service units only: Service.Result (exit-code, …) */
	char *error_message;  /* the manager's D-Bus error message when the call failed */
	usec_t duration;      /* from the request (settle: from its beginning) to the verdict */
	/* settle, .service units: how often it restarted between the first and the last look
	 * (a unit seen falling is decided at once, with 0 here) */
	unsigned n_restarts;
	/* On failure: the newest UNITS_JOURNAL_LINES lines the unit (and its manager about it)
	 * logged since the call began, oldest first, as "IDENTIFIER[PID]: MESSAGE" with control
	 * characters and invalid UTF-8 replaced; NULL when there are none or the journal is not
	 * readable, and always for a remote manager's unit (its journal is on its machine). */
	char **journal_lines;
} UnitOutcome;

/* Receives each unit's outcome as soon as it is decided, in the order they are decided. */
typedef void (*UnitsOutcomeCallback)(const UnitOutcome *outcome, void *userdata);

typedef struct UnitsOptions {
	usec_t timeout; /* stop_timeout, start_timeout or settle; USEC_INFINITY = none */
	/* When this fd becomes readable (or hangs up) the wait ends with -ECANCELED; -1 = none.
	 * Jobs already queued stay queued: the manager finishes them on its own terms (the unit's
	 * TimeoutStopSec=/TimeoutStartSec=), and the next StopUnit/StartUnit supersedes them. */
	int cancel_fd;
	UnitsOutcomeCallback on_outcome; /* may be NULL */
	void *userdata;
	/* A failed unit's journal lines are those logged since this realtime; 0 = since the call
	 * began.  Settle passes the start's: a unit that crashes there said why when it started. */
	usec_t journal_since;
} UnitsOptions;

/* A unit the preflight refuses. */
typedef struct UnitProblem {
	char *name;
	/* -EINVAL bad name, -ENOENT not-found, -ERFKILL masked, -ENOEXEC error/bad-setting, or the
	 * errno of the refused LoadUnit call. */
	int error;
	char *load_state; /* "not-found", "masked", "bad-setting", "error", …; NULL if unknown */
	char *message;	  /* why, as the manager says it (LoadError) or as we found it */
} UnitProblem;

/* Connects to the system manager (as root through its private socket /run/systemd/private,
 * like systemctl, else through the system bus) or to the calling user's manager (through
 * $XDG_RUNTIME_DIR/systemd/private when the peer there is root, us or the directory's owner —
 * so root reaches the manager of the user whose runtime directory it names — else through
 * the user's bus).  Through a bus daemon it subscribes to the manager's signals, waiting at
 * most a few seconds for that.  -errno on failure. */
int units_connect(UnitsBus which, UnitsManager **ret);

/* How a remote manager is reached: ssh from $PATH (without any ssh_config, never prompting,
 * StrictHostKeyChecking) to the host, running systemd-stdio-bridge there for the system bus or
 * the login's user bus ($XDG_RUNTIME_DIR/bus, else /run/user/UID/bus). */
typedef struct UnitsSshOptions {
	const char *identity; /* the only key offered (IdentitiesOnly); NULL: ssh's default keys */
	const char *known_hosts; /* the only known-hosts file; NULL: ssh's default files */
	/* ssh's ConnectTimeout (rounded up to whole seconds); with UNITS_QUERY_TIMEOUT more,
	 * it bounds the whole wait for the manager's first answer.  0: the default. */
	usec_t connect_timeout;
} UnitsSshOptions;

#define UNITS_SSH_CONNECT_TIMEOUT (10 * USEC_PER_SEC)

/* A path ssh takes literally in -o NAME=PATH: absolute, without white space, quotes, '%'
 * (ssh's tokens) or a backslash.  units_connect_remote() refuses others. */
bool units_ssh_path_is_valid(const char *path);

/* Connects to the system or user manager on host ("[user@]host[:port]", remote-host.h) and
 * subscribes to its signals, waiting at most ssh->connect_timeout plus a few seconds, or until
 * cancel_fd becomes readable (-ECANCELED).  On any other failure *ret_error says why (without
 * naming the host), in ssh's own words when it said something ("ssh: connect to host … port
 * 22: Connection refused", "Host key verification failed.", …); -ENOMEM and -ECANCELED leave
 * it untouched. */
int units_connect_remote(const char *host, UnitsBus which, const UnitsSshOptions *ssh, int cancel_fd,
			 UnitsManager **ret, char **ret_error);

/* One remote manager to reach with units_connect_remote_all(), and what came of it. */
typedef struct UnitsRemote {
	const char *host;
	UnitsBus which;
	UnitsManager *manager; /* on success */
	int error;	       /* else what units_connect_remote() would return */
	char *error_message;   /* and its *ret_error (free it) */
} UnitsRemote;

/* units_connect_remote() for n hosts at once: every ssh starts first, then one wait serves
 * all their connections, so that the whole takes about as long as the slowest host, at most
 * ssh->connect_timeout plus a few seconds however many hosts do not answer.  Each remote gets
 * its manager or its error; returns 0, or -ENOMEM or -ECANCELED (then some remotes may be
 * connected: the caller frees what they hold). */
int units_connect_remote_all(UnitsRemote *remotes, size_t n, const UnitsSshOptions *ssh,
			     int cancel_fd);

/* Whether the connection still works, as far as can be told without asking: a remote one
 * whose ssh ended (the network went, the host rebooted) does not.  Dispatches what the
 * manager sent meanwhile, so call it between calls, not within a wait. */
bool units_manager_is_connected(UnitsManager *m);
/* The host a remote manager was reached on, as given; NULL for this machine's managers. */
const char *units_manager_host(const UnitsManager *m);
/* What the remote manager's ssh wrote to stderr so far, made one safe line (its last few
 * hundred bytes); *ret is NULL when it wrote nothing or the manager is local. */
int units_manager_ssh_message(const UnitsManager *m, char **ret);
UnitsManager *units_manager_free(UnitsManager *m);
/* Frees n managers (NULL entries allowed) and sets each entry to NULL: every connection is
 * closed and every remote one's ssh told to end before any is waited for, so that n remote
 * managers are let go in about the time of one. */
void units_managers_free(UnitsManager **managers, size_t n);
static inline void units_manager_freep(UnitsManager **m)
{
	units_manager_free(*m);
}

/* Preflight: asks the manager to load each unit (LoadUnit) and reads its LoadState.  Returns
 * the number of problem units (0: all loaded) and, in *ret_problems, one UnitProblem for each,
 * in the order of units, terminated by an entry whose name is NULL; -errno when the manager
 * could not be asked (bus error, deadline, -ECANCELED).  Only timeout and cancel_fd of
 * options are used. */
int units_check(UnitsManager *m, char *const *units, const UnitsOptions *options,
		UnitProblem **ret_problems);

/* One manager's preflight in units_check_all(), and what came of it. */
typedef struct UnitsCheck {
	UnitsManager *manager;
	char *const *units;
	/* Ask first which kind of manager it is (as units_manager_kind()); its units are then
	 * checked only when it is the kind it was reached as (the bus asked for): another is not
	 * ours to load units into. */
	bool ask_kind;
	int kind_error; /* when asked: what units_manager_kind() would return, 0 with kind set */
	UnitsBus kind;
	bool checked; /* the units were asked about */
	/* Then what units_check() would return: the number of problem units (and the problems,
	 * which the caller frees), or -errno when the manager could not be asked about them. */
	int result;
	UnitProblem *problems;
} UnitsCheck;

/* The preflight of several managers at once: every manager's questions go out together and
 * one wait serves all their connections, so that n managers take about as long as the
 * slowest, and all of them at most options->timeout; a manager that does not answer in
 * time (or whose connection fails) fails its own check only.  Returns 0 with each check's
 * outcome in it, or -ENOMEM or -ECANCELED (then no check holds problems).  Only timeout and
 * cancel_fd of options are used. */
int units_check_all(UnitsCheck *checks, size_t n, const UnitsOptions *options);

/* Which kind of manager m is, from its unit search path (Manager.UnitPath): UNITS_BUS_SYSTEM
 * when it searches /etc/systemd/system, UNITS_BUS_USER when it searches /etc/systemd/user (a
 * forced command on a remote host can hand either to whoever asked for the other).  -EPROTO
 * when it names neither, -errno when it did not answer within timeout. */
int units_manager_kind(UnitsManager *m, usec_t timeout, int cancel_fd, UnitsBus *ret);

/* Stop (start) every unit at once and wait for all jobs within options->timeout.  A unit is
 * stopped when its job result is done or skipped and its ActiveState inactive or failed (so
 * a unit that was stopped already is fine); started when it is active or reloading.  Returns
 * the number of units that failed (0: all good) and, in *ret_outcomes, one outcome per unit in
 * the order of units, terminated by an entry whose name is NULL.  A connection that fails
 * fails each unit not decided yet with its errno (see UnitOutcome.error).  -EINVAL when a
 * name is not valid, -ECANCELED on cancel, -ENOMEM: *ret_outcomes is then not set and only
 * the callback has seen the units decided so far. */
int units_stop(UnitsManager *m, char *const *units, const UnitsOptions *options,
	       UnitOutcome **ret_outcomes);
int units_start(UnitsManager *m, char *const *units, const UnitsOptions *options,
		UnitOutcome **ret_outcomes);

/* units_stop() and units_start() for the units of every target at once, within one
 * options->timeout.  Outcomes come target by target, each target's units in their order.
 * When a manager's connection fails, its units not decided yet fail and the other managers'
 * carry on. */
int units_stop_all(const UnitsTarget *targets, size_t n_targets, const UnitsOptions *options,
		   UnitOutcome **ret_outcomes);
int units_start_all(const UnitsTarget *targets, size_t n_targets, const UnitsOptions *options,
		    UnitOutcome **ret_outcomes);

/* Watches, for options->timeout, that every unit stays active: a unit that leaves active
 * (PropertiesChanged) or whose NRestarts grew in the meantime fails with -ESRCH at once;
 * the rest are checked once more at the end.  Returns and reports like units_stop(). */
int units_settle(UnitsManager *m, char *const *units, const UnitsOptions *options,
		 UnitOutcome **ret_outcomes);
/* units_settle() over the units of every target at once, like units_stop_all(). */
int units_settle_all(const UnitsTarget *targets, size_t n_targets, const UnitsOptions *options,
		     UnitOutcome **ret_outcomes);

UnitOutcome *units_outcomes_free(UnitOutcome *outcomes);
static inline void units_outcomes_freep(UnitOutcome **o)
{
	units_outcomes_free(*o);
}
UnitProblem *units_problems_free(UnitProblem *problems);
static inline void units_problems_freep(UnitProblem **p)
{
	units_problems_free(*p);
}

/* The unit's control group as its manager names it ("/system.slice/api.service", relative to
 * the cgroup hierarchy's root): -ENOENT when it has none (not running), -EINVAL for a bad
 * name, else the errno of the property read.  For a manager of this machine only: a remote
 * host's cgroups are not ours to look at. */
int units_control_group(UnitsManager *m, const char *unit, usec_t timeout, int cancel_fd,
			char **ret);

/* A JobRemoved result, as systemctl reads it: "done" and "skipped" (nothing to do) are
 * success (0); "canceled" and "collected" -ECANCELED, "timeout" -ETIME, "dependency" -EIO,
 * "invalid" -ENOEXEC, "assert" -EPROTO, "unsupported" -EOPNOTSUPP, "once" -ESTALE, "failed"
 * and anything unknown (or NULL) -EIO. */
int units_job_result_to_errno(const char *result);
bool units_job_result_is_success(const char *result);
