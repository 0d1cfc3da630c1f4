#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool write_all(int fd, const char *data, size_t len)
{
	size_t off = 0;
	while (off < len) {
		ssize_t k = write(fd, data + off, len - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		off += (size_t)k;
	}
	return true;
}

/* The rename itself is durable once the directory is synced. */
static void sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = !slash          ? xstrdup(".")
	            : slash == path ? xstrdup("/")
	                            : xstrndup(path, (size_t)(slash - path));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	free(dir);
}

int atomic_file_write_as(const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
                         gid_t gid, char **err)
{
	char *tmp = xasprintf("%s.tandem-XXXXXX", path);
	int fd = mkostemp(tmp, O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		err_set(err, "create %s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	const char *what = NULL;
	if (!write_all(fd, data, len))
		what = "write";
	else if (fchmod(fd, mode) != 0)
		what = "chmod";
	else if ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) != 0)
		what = "chown";
	else if (fsync(fd) != 0)
		what = "fsync";
	if (close(fd) != 0 && !what)
		what = "close";
	if (!what && rename(tmp, path) != 0)
		what = "rename";
	if (what) {
		err_set(err, "%s %s: %s", what, tmp, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	sync_dir(path);
	return 0;
}

int atomic_file_write(const char *path, const void *data, size_t len, mode_t mode, char **err)
{
	return atomic_file_write_as(path, data, len, mode, (uid_t)-1, (gid_t)-1, err);
}
