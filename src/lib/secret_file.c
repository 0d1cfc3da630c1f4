#include "secret_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int secret_file_check_fd(int fd, const char *path, char **err)
{
	struct stat st;
	if (fstat(fd, &st) != 0) {
		err_set(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		err_set(err, "%s: not a regular file", path);
		return -1;
	}
	unsigned mode = st.st_mode & 07777;
	if (st.st_uid == geteuid()) {
		if (mode & (S_IRWXG | S_IRWXO)) {
			err_set(err,
			        "%s: holds a secret but group or others can access it (mode %04o): "
			        "chmod 600 %s",
			        path, mode, path);
			return -1;
		}
	} else if (st.st_uid == 0) {
		if (mode & (S_IWGRP | S_IXGRP | S_IRWXO)) {
			err_set(
			    err,
			    "%s: holds a secret but is owned by root with mode %04o: allow at most "
			    "0640 (chmod 640 %s)",
			    path, mode, path);
			return -1;
		}
	} else {
		err_set(err,
		        "%s: holds a secret but belongs to uid %u: it must be owned by this user "
		        "(uid %u) or root",
		        path, (unsigned)st.st_uid, (unsigned)geteuid());
		return -1;
	}
	return 0;
}

static int open_secret(const char *path, char **err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		err_set(err, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (secret_file_check_fd(fd, path, err) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int secret_file_check(const char *path, char **err)
{
	int fd = open_secret(path, err);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

int secret_file_read(strbuf *sb, const char *path, size_t max, char **err)
{
	int fd = open_secret(path, err);
	if (fd < 0)
		return -1;
	int rc = sb_read_fd(sb, fd, path, max, err);
	close(fd);
	return rc;
}

bool secret_file_world_readable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && (st.st_mode & S_IROTH);
}
