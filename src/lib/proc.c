#include "proc.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* /proc/<pid>/stat into buf; the fields after the command start after the last ')' (the command
 * may hold spaces and parentheses). */
static const char *read_stat(long pid, char *buf, size_t cap, const char **comm, size_t *comm_len)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	ssize_t k = read(fd, buf, cap - 1);
	close(fd);
	if (k <= 0)
		return NULL;
	buf[k] = '\0';
	char *lp = strchr(buf, '(');
	char *rp = strrchr(buf, ')');
	if (!lp || !rp || rp < lp || rp[1] != ' ')
		return NULL;
	*comm = lp + 1;
	*comm_len = (size_t)(rp - lp - 1);
	return rp + 2;
}

char proc_state(long pid, char *comm, size_t cap)
{
	char buf[512];
	const char *c;
	size_t n;
	const char *rest = read_stat(pid, buf, sizeof buf, &c, &n);
	if (!rest)
		return 0;
	if (comm && cap) {
		if (n >= cap)
			n = cap - 1;
		memcpy(comm, c, n);
		comm[n] = '\0';
	}
	return *rest;
}

size_t proc_children(long pid, long *out, size_t cap)
{
	DIR *d = opendir("/proc");
	size_t n = 0;
	if (!d)
		return 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < cap) {
		char *end;
		long c = strtol(de->d_name, &end, 10);
		if (*end || c <= 0)
			continue;
		char buf[512];
		const char *comm;
		size_t comm_len;
		const char *rest = read_stat(c, buf, sizeof buf, &comm, &comm_len);
		long ppid;
		if (rest && sscanf(rest, "%*c %ld", &ppid) == 1 && ppid == pid)
			out[n++] = c;
	}
	closedir(d);
	return n;
}
