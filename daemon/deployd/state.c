#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "state.h"

int state_write(const char *state_dir, const ProtoRecord *rec)
{
	_cleanup_free_ char *wire = NULL, *path = NULL, *tmp = NULL;
	_cleanup_close_ int fd = -EBADF;
	size_t len, done = 0;
	int r;

	r = proto_encode(rec, &wire, &len);
	if (r < 0)
		return r;
	if (asprintf(&path, "%s/%s", state_dir, STATE_FILE_NAME) < 0 ||
	    asprintf(&tmp, "%s/.%s.tmp", state_dir, STATE_FILE_NAME) < 0)
		return -ENOMEM;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t n = write(fd, wire + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			unlink(tmp);
			return r;
		}
		done += (size_t)n;
	}
	/* The rename must not become visible before the data: a crash leaves the old record. */
	if (fsync(fd) < 0 || rename(tmp, path) < 0) {
		r = -errno;
		unlink(tmp);
		return r;
	}
	return 0;
}

int state_read(const char *state_dir, ProtoRecord **ret)
{
	_cleanup_(proto_decoder_freep) ProtoDecoder *dec = NULL;
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -EBADF;
	char buf[4096];
	ssize_t n;
	int r;

	if (asprintf(&path, "%s/%s", state_dir, STATE_FILE_NAME) < 0)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	r = proto_decoder_new(PROTO_REQUEST_MAX, &dec);
	if (r < 0)
		return r;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		r = proto_decoder_feed(dec, buf, (size_t)n);
		if (r < 0)
			return r;
	}
	if (n < 0)
		return -errno;
	r = proto_decoder_next(dec, ret);
	if (r == 0)
		return -EBADMSG; /* truncated: cannot happen with rename, but the file is not ours
				    alone */
	return r < 0 ? r : 0;
}
