#include "proc.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void set_fd(uv_stdio_container_t *c, int fd)
{
	if (fd < 0) {
		c->flags = UV_IGNORE;
	} else {
		c->flags = UV_INHERIT_FD;
		c->data.fd = fd;
	}
}

int proc_spawn(uv_loop_t *loop, uv_process_t *p, const proc_spec *s)
{
	uv_stdio_container_t *stdio = xcalloc(3 + s->nmore, sizeof *stdio);
	if (s->in_pipe) {
		stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
		stdio[0].data.stream = (uv_stream_t *)s->in_pipe;
	} else {
		set_fd(&stdio[0], s->in_fd);
	}
	set_fd(&stdio[1], s->out_fd);
	set_fd(&stdio[2], s->err_fd);
	for (size_t i = 0; i < s->nmore; i++)
		set_fd(&stdio[3 + i], s->more_fds[i]);
	uv_process_options_t po = {
	    .file = s->file ? s->file : s->argv[0],
	    .args = s->argv,
	    .env = s->env,
	    .cwd = s->cwd,
	    .exit_cb = s->on_exit,
	    .stdio = stdio,
	    .stdio_count = (int)(3 + s->nmore),
	};
	if (s->detached)
		po.flags |= UV_PROCESS_DETACHED;
	if (s->switch_ids) {
		po.flags |= UV_PROCESS_SETUID | UV_PROCESS_SETGID;
		po.uid = s->uid;
		po.gid = s->gid;
	}
	int r = uv_spawn(loop, p, &po);
	free(stdio);
	if (r != 0)
		uv_close((uv_handle_t *)p, s->on_failed_close);
	return r;
}

void proc_free_handle(uv_handle_t *h)
{
	free(h);
}

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
