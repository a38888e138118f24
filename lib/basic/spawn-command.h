/* spawn-command.h — run a program without a shell: explicit environment, output line by line,
 * bounded.
 *
 * spawn_run() starts argv (argv[0] containing no '/' is looked up in envp's PATH) in its own
 * process group, with stdin /dev/null, no other inherited fd, default signal handling, in
 * working_directory.  Its stdout and stderr are read as they come and handed over line by line
 * (without the line break and a trailing CR; a line longer than SPAWN_LINE_MAX is handed over
 * in pieces, cut between characters; then made safe by text_sanitize(): invalid UTF-8, NUL
 * and control characters become U+FFFD, tabs a space).  Every occurrence of a string in
 * redact becomes "***" (text-redact.h) before a line is handed over, and a long line is never
 * cut inside one.  When the timeout
 * passes or cancel_fd becomes readable the process group gets SIGTERM, then SIGKILL after
 * SPAWN_KILL_GRACE_USEC.  While it runs, tick (if set) is called on the schedule of
 * tick-schedule.h from its start (tick_first, its doubles, then every tick_interval); a
 * negative return stops the program like the cancel fd.  When the program ends, whatever is
 * left of its process group is killed (nothing of a migration may outlive it), and output
 * still buffered is handed over. */
#pragma once

#include <stdbool.h>

#include "time-util.h"

#define SPAWN_LINE_MAX 4096
#define SPAWN_KILL_GRACE_USEC (5 * USEC_PER_SEC)

typedef enum SpawnStream {
	SPAWN_STDOUT,
	SPAWN_STDERR,
} SpawnStream;

typedef enum SpawnOutcome {
	SPAWN_EXITED,	 /* status is the exit status */
	SPAWN_SIGNALED,	 /* status is the signal */
	SPAWN_TIMED_OUT, /* killed when the timeout passed */
	SPAWN_CANCELLED, /* killed when cancel_fd became readable or tick said so */
} SpawnOutcome;

typedef struct SpawnOptions {
	char *const *argv;
	char *const *envp;
	const char *working_directory; /* NULL: the caller's */
	usec_t timeout;		       /* total run time; 0 = unbounded */
	int cancel_fd;		       /* -1: none */
	void (*output)(SpawnStream stream, const char *line, void *userdata); /* may be NULL */
	usec_t tick_first; /* 0: every tick_interval from the start */
	usec_t tick_interval;
	int (*tick)(void *userdata); /* may be NULL */
	void *userdata;		     /* for output and tick */
	char *const *redact;	     /* secrets never handed over; NULL-terminated, may be NULL */
} SpawnOptions;

typedef struct SpawnResult {
	SpawnOutcome outcome;
	int status;
} SpawnResult;

const char *spawn_stream_to_string(SpawnStream s);

/* The path argv0 runs as: itself when it contains '/', else the first executable match in
 * path_list (a PATH value).  -ENOENT when there is none. */
int spawn_find_program(const char *argv0, const char *path_list, char **ret);

/* Runs the program to its end.  Fails (with *ret_error) only when it cannot be started. */
int spawn_run(const SpawnOptions *o, SpawnResult *ret, char **ret_error);
