/* plan-trust.h — a plan file opened once and trusted only when nobody else could have written it.
 *
 * A plan names commands the daemon runs, so its author is as powerful as the daemon.
 * plan_open_trusted() opens path once (following a symlink, e.g. from the plan directory to
 * where the plan really lives) and judges the descriptor it opened, never the path again: the
 * file must be a regular file owned by root or own_uid and writable by neither group nor
 * others.  So must every directory on the file's real path, from / down, except that a sticky
 * directory writable by others (/tmp) is safe when its entry on the path is owned by root or
 * own_uid: nobody else can rename or remove that entry (sshd's StrictModes judges its files
 * the same way).  The directories are walked with openat() from /, without following symlinks,
 * and the last entry must be the file that was opened.
 *
 * Returns the open descriptor in *ret_fd, or a negative errno: -EPERM when the file is not
 * trusted, with *ret_error "PATH: refused: REASON" (REASON names the file or directory and what
 * is wrong with it), the open's -errno (-ENOENT: no such plan), -ENOMEM. */
#pragma once

#include <sys/types.h>

int plan_open_trusted(const char *path, uid_t own_uid, int *ret_fd, char **ret_error);
