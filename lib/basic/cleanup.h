/* cleanup.h — scope-bound cleanup helpers for libc objects.
 *
 * Declare a variable with _cleanup_free_, _cleanup_close_, _cleanup_fclose_,
 * _cleanup_strv_free_ or _cleanup_(fn) and it is released when it leaves
 * scope.  Hand ownership out with TAKE_PTR()/TAKE_FD().  libc only: the helpers for
 * libpq are in lib/pg/pg-cleanup.h, sd-bus brings its own. */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_strv_free_ _cleanup_(strv_freep)
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Moves a pointer out of a cleanup-managed variable. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _taken = (p);                                                        \
		(p) = NULL;                                                                        \
		_taken;                                                                            \
	})

#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _taken_fd = (fd);                                                              \
		(fd) = -EBADF;                                                                     \
		_taken_fd;                                                                         \
	})

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

void strv_free(char **l);
static inline void strv_freep(char ***l)
{
	strv_free(*l);
}

static inline void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}
