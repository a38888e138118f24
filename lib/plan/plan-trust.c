/* Trusting a plan file by its descriptor and its real path (plan-trust.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "plan-trust.h"

static int refuse(char **ret_error, const char *path, const char *fmt, ...) _printf_(3, 4);
static int refuse(char **ret_error, const char *path, const char *fmt, ...)
{
	_cleanup_free_ char *reason = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&reason, fmt, ap);
	va_end(ap);
	if (n < 0 || asprintf(ret_error, "%s: refused: %s", path, reason) < 0)
		return -ENOMEM;
	return -EPERM;
}

static bool owner_is_trusted(const struct stat *st, uid_t own_uid)
{
	return st->st_uid == 0 || st->st_uid == own_uid;
}

/* The real path of an open file, from the kernel's record of it. */
static int fd_real_path(int fd, char **ret)
{
	char link[64], buf[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, sizeof(buf) - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	/* A file renamed away or deleted since it was opened has no path to judge. */
	if (buf[0] != '/' || strstr(buf, " (deleted)"))
		return -ENOENT;
	*ret = strdup(buf);
	return *ret ? 0 : -ENOMEM;
}

static int check_directory(const char *path, const char *dir, const struct stat *st,
			   const struct stat *entry, const char *entry_name, uid_t own_uid,
			   char **ret_error)
{
	unsigned mode = (unsigned)(st->st_mode & 07777);

	if (!owner_is_trusted(st, own_uid))
		return refuse(ret_error, path,
			      "directory %s on its path is owned by uid %u, not root or the "
			      "daemon's uid %u",
			      dir, (unsigned)st->st_uid, (unsigned)own_uid);
	if (!(st->st_mode & (S_IWGRP | S_IWOTH)))
		return 0;
	if (!(st->st_mode & S_ISVTX))
		return refuse(ret_error, path,
			      "directory %s on its path is writable by group or others (mode "
			      "%04o) and not sticky",
			      dir, mode);
	if (!owner_is_trusted(entry, own_uid))
		return refuse(ret_error, path,
			      "directory %s on its path is writable by others (mode %04o), and "
			      "its entry %s is owned by uid %u, not root or the daemon's uid %u",
			      dir, mode, entry_name, (unsigned)entry->st_uid, (unsigned)own_uid);
	return 0;
}

/* Walks real_path from / with openat(O_NOFOLLOW), judging each directory together with its
 * entry on the path; the last entry must be the opened file (file_st). */
static int check_path(const char *path, const char *real_path, const struct stat *file_st,
		      uid_t own_uid, char **ret_error)
{
	_cleanup_close_ int dir_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct stat dir_st;
	size_t dir_len = 0; /* real_path[0..dir_len) is the directory walked so far, "" for / */
	int r;

	if (dir_fd < 0 || fstat(dir_fd, &dir_st) < 0)
		return -errno;
	for (const char *p = real_path;;) {
		char name[NAME_MAX + 1];
		_cleanup_close_ int fd = -EBADF;
		struct stat st;
		size_t len;

		p += strspn(p, "/");
		len = strcspn(p, "/");
		if (len == 0)
			return refuse(ret_error, path, "its real path %s names no file", real_path);
		if (len > NAME_MAX)
			return refuse(ret_error, path, "%s: a name on it is too long", real_path);
		memcpy(name, p, len);
		name[len] = '\0';
		bool last = p[len + strspn(p + len, "/")] == '\0';
		/* The directory as a path, for messages: "/" or real_path's prefix. */
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%.*s", dir_len > 0 ? (int)dir_len : 1,
			 dir_len > 0 ? real_path : "/");

		fd = openat(dir_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0)
			return refuse(ret_error, path, "%s/%s on its path: %s",
				      dir_len > 0 ? dir : "", name, strerror(errno));
		r = check_directory(path, dir, &dir_st, &st, name, own_uid, ret_error);
		if (r < 0)
			return r;
		if (last) {
			if (st.st_dev != file_st->st_dev || st.st_ino != file_st->st_ino)
				return refuse(ret_error, path,
					      "%s was replaced while it was being checked",
					      real_path);
			return 0;
		}
		if (!S_ISDIR(st.st_mode))
			return refuse(ret_error, path, "%s/%s on its path is not a directory",
				      dir_len > 0 ? dir : "", name);
		close(dir_fd);
		dir_fd = TAKE_FD(fd);
		dir_st = st;
		p += len;
		dir_len = (size_t)(p - real_path);
	}
}

int plan_open_trusted(const char *path, uid_t own_uid, int *ret_fd, char **ret_error)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	_cleanup_free_ char *real_path = NULL;
	struct stat st;
	int r;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return refuse(ret_error, path, "not a regular file");
	if (!owner_is_trusted(&st, own_uid))
		return refuse(ret_error, path, "owned by uid %u, not root or the daemon's uid %u",
			      (unsigned)st.st_uid, (unsigned)own_uid);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return refuse(ret_error, path, "writable by group or others (mode %04o)",
			      (unsigned)(st.st_mode & 07777));
	r = fd_real_path(fd, &real_path);
	if (r == -ENOENT)
		return refuse(ret_error, path,
			      "it was moved or deleted while it was being checked");
	if (r < 0)
		return r;
	r = check_path(path, real_path, &st, own_uid, ret_error);
	if (r < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}
