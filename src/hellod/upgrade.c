#include "upgrade.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"
#include "proc.h"
#include "strbuf.h"

extern char **environ;

static int parse_count(const char *v, long max)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || *end || n < 0 || n > max)
		return -1;
	return (int)n;
}

int upgrade_inherited(int **fds, size_t *n, int *ready_fd, char **err)
{
	*fds = NULL;
	*n = 0;
	*ready_fd = -1;
	const char *count = getenv("TANDEM_LISTEN_FDS");
	int k;
	if (count) {
		k = parse_count(count, 64);
		const char *rf = getenv("TANDEM_READY_FD");
		*ready_fd = rf ? parse_count(rf, 1024) : -1;
		unsetenv("TANDEM_LISTEN_FDS");
		unsetenv("TANDEM_READY_FD");
		if (k < 0) {
			err_set(err, "TANDEM_LISTEN_FDS='%s' is not a socket count", count);
			return -1;
		}
		if (*ready_fd >= 0)
			fcntl(*ready_fd, F_SETFD, FD_CLOEXEC);
	} else {
		k = sd_listen_fds(1);
		if (k < 0) {
			err_set(err, "socket activation: %s", strerror(-k));
			return -1;
		}
	}
	if (k == 0)
		return 0;
	*fds = xcalloc((size_t)k, sizeof **fds);
	for (int i = 0; i < k; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		if (listener_adopt(fd, err) < 0) {
			free(*fds);
			*fds = NULL;
			return -1;
		}
		(*fds)[i] = fd;
	}
	*n = (size_t)k;
	return 0;
}

void upgrade_notify_ready(int ready_fd)
{
	if (ready_fd < 0)
		return;
	static const char msg[] = "ready\n";
	ssize_t r = write(ready_fd, msg, sizeof msg - 1);
	(void)r;
	close(ready_fd);
}

struct upgrade {
	uv_process_t proc;
	uv_pipe_t pipe;
	upgrade_done_cb done;
	void *ud;
	bool reported;
	bool forgotten; /* the owner let go: free once the handles are closed */
	int open_handles;
};

static void report(upgrade *u, bool ok)
{
	if (u->reported)
		return;
	u->reported = true;
	u->done(ok, u->ud);
}

static void on_handle_closed(uv_handle_t *h)
{
	upgrade *u = h->data;
	if (--u->open_handles == 0 && u->forgotten)
		free(u);
}

static void close_if_open(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, on_handle_closed);
}

void upgrade_forget(upgrade *u)
{
	if (!u)
		return;
	u->forgotten = true;
	u->reported = true;
	if (u->open_handles == 0) {
		free(u);
		return;
	}
	close_if_open((uv_handle_t *)&u->proc);
	close_if_open((uv_handle_t *)&u->pipe);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	static char scratch[64];
	*buf = uv_buf_init(scratch, sizeof scratch);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	(void)buf;
	upgrade *u = s->data;
	if (nread > 0) {
		report(u, true);
	} else if (nread < 0) {
		report(u, false);
		close_if_open((uv_handle_t *)&u->pipe);
	}
}

static void on_child_exit(uv_process_t *p, int64_t status, int sig)
{
	upgrade *u = p->data;
	if (!u->reported)
		log_error(
		    "upgrade: the new process exited (status %lld, signal %d) before it was ready",
		    (long long)status, sig);
	report(u, false);
	close_if_open((uv_handle_t *)&u->proc);
}

upgrade *upgrade_start(uv_loop_t *loop, const char *exe, char **argv, const int *fds, size_t n,
                       upgrade_done_cb done, void *ud, char **err)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		err_set(err, "pipe: %s", strerror(errno));
		return NULL;
	}
	size_t nenv = 0;
	while (environ[nenv])
		nenv++;
	char **env = xcalloc(nenv + 3, sizeof *env);
	size_t k = 0;
	for (size_t i = 0; i < nenv; i++)
		if (strncmp(environ[i], "LISTEN_", 7) != 0 &&
		    strncmp(environ[i], "TANDEM_", 7) != 0)
			env[k++] = environ[i];
	char *count = xasprintf("TANDEM_LISTEN_FDS=%zu", n);
	char *ready = xasprintf("TANDEM_READY_FD=%zu", 3 + n);
	env[k++] = count;
	env[k++] = ready;
	env[k] = NULL;

	/* The listening sockets as fds 3 .. 3 + n - 1, then the readiness pipe. */
	int *more = xcalloc(n + 1, sizeof *more);
	memcpy(more, fds, n * sizeof *more);
	more[n] = pfd[1];

	upgrade *u = xcalloc(1, sizeof *u);
	u->done = done;
	u->ud = ud;
	proc_spec spec = {.file = exe,
	                  .argv = argv,
	                  .env = env,
	                  .in_fd = 0,
	                  .out_fd = 1,
	                  .err_fd = 2,
	                  .more_fds = more,
	                  .nmore = n + 1,
	                  .detached = true,
	                  .on_exit = on_child_exit,
	                  .on_failed_close = on_handle_closed};
	u->proc.data = u;
	int rc = proc_spawn(loop, &u->proc, &spec);
	close(pfd[1]);
	free(more);
	free(env);
	free(count);
	free(ready);
	if (rc != 0) {
		err_set(err, "cannot start %s: %s", exe, uv_strerror(rc));
		close(pfd[0]);
		/* proc_spawn closes the handle; u is freed then (the close runs later). */
		u->open_handles = 1;
		u->reported = true;
		u->forgotten = true;
		return NULL;
	}
	u->open_handles = 2;
	uv_unref((uv_handle_t *)&u->proc);
	uv_pipe_init(loop, &u->pipe, 0);
	u->pipe.data = u;
	uv_pipe_open(&u->pipe, pfd[0]);
	uv_read_start((uv_stream_t *)&u->pipe, on_alloc, on_read);
	log_info("upgrade: started %s (pid %d); waiting for it to serve", exe, u->proc.pid);
	return u;
}
