/* The agent's side of the fence: it runs `tandemd-fence watchdog DATA/postmaster.pid` as a child
 * and, while this member holds the leader key, tells it the moment by which PostgreSQL must have
 * stopped if no newer word comes: the lease's safe end. A frozen agent sends nothing, so the
 * watchdog stops PostgreSQL before the leader key can expire; a dead agent closes the pipe, and
 * the watchdog stops PostgreSQL at once. See docs/tandemd.md, "Fencing". */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "agent_priv.h"
#include "fence.h"
#include "log.h"
#include "proc.h"

/* This part of the agent; no other file looks inside. */
struct agent_fence {
	char *path;            /* tandemd-fence */
	char *watchdog_device; /* the hardware watchdog the fence uses; NULL: none */
	uv_process_t *proc;
	uv_pipe_t *pipe;
	uint64_t sent_ms; /* the last deadline sent; UINT64_MAX: none yet */
};

/* tandemd-fence, next to this executable. */
static char *fence_program(char **err)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0) {
		err_set(err, "cannot find tandemd's own executable (/proc/self/exe)");
		return NULL;
	}
	exe[n] = '\0';
	char *path = xasprintf("%s/tandemd-fence", dirname(exe));
	if (access(path, X_OK) != 0) {
		err_set(err,
		        "%s: %s (it is installed with tandemd and fences PostgreSQL when the "
		        "agent dies or freezes)",
		        path, strerror(errno));
		free(path);
		return NULL;
	}
	return path;
}

static void agent_fence_free_part(agent_fence *f)
{
	free(f->path);
	free(f->watchdog_device);
	free(f);
}

agent_fence *agent_fence_new(agent *a, char **err)
{
	const tandemd_settings *s = a->s;
	agent_fence *f = xcalloc(1, sizeof *f);
	f->sent_ms = UINT64_MAX;
	f->path = fence_program(err);
	if (!f->path) {
		agent_fence_free_part(f);
		return NULL;
	}
	if (!tandemd_watchdog_off(s)) {
		/* Only checked here: the fence opens it while this member leads. */
		if (access(s->watchdog_device, W_OK) == 0) {
			f->watchdog_device = xstrdup(s->watchdog_device);
			log_info("hardware watchdog %s, timeout %d s while leading",
			         s->watchdog_device, tandemd_watchdog_timeout_s(s));
		} else if (!strcasecmp(s->watchdog_mode, "required")) {
			err_set(err, "watchdog.mode is required, but %s cannot be opened: %s",
			        s->watchdog_device, strerror(errno));
			agent_fence_free_part(f);
			return NULL;
		} else {
			log_info("no hardware watchdog (%s: %s): the fence process alone stops "
			         "PostgreSQL",
			         s->watchdog_device, strerror(errno));
		}
	}
	return f;
}

const char *agent_fence_path(const agent *a)
{
	return a->fence->path;
}

typedef struct fence_write {
	uv_write_t req;
	char buf[64];
} fence_write;

static void on_closed(uv_handle_t *h)
{
	free(h);
}

static void on_watchdog_exit(uv_process_t *p, int64_t status, int sig)
{
	agent *a = p->data;
	if (a) {
		if (!a->stopping && status == FENCE_EXIT_FENCED && !sig)
			metrics_inc(&a->counters.fence_fired, 1);
		if (!a->stopping && status == FENCE_EXIT_FENCED && !sig)
			log_warning(
			    "the fence watchdog stopped PostgreSQL (no deadline from the agent "
			    "in time: its message above says why); starting a new watchdog");
		else if (!a->stopping)
			log_error("the fence watchdog exited (status %" PRId64
			          ", signal %d): restarting it",
			          status, sig);
		a->fence->proc = NULL;
		if (a->fence->pipe) {
			uv_close((uv_handle_t *)a->fence->pipe, on_closed);
			a->fence->pipe = NULL;
		}
		a->fence->sent_ms = UINT64_MAX;
	}
	uv_close((uv_handle_t *)p, on_closed);
}

static void on_written(uv_write_t *w, int status)
{
	(void)status;
	free(w);
}

static void send_line(agent *a, const char *line)
{
	if (!a->fence->pipe)
		return;
	fence_write *w = xcalloc(1, sizeof *w);
	snprintf(w->buf, sizeof w->buf, "%s\n", line);
	uv_buf_t b = uv_buf_init(w->buf, (unsigned)strlen(w->buf));
	if (uv_write(&w->req, (uv_stream_t *)a->fence->pipe, &b, 1, on_written) != 0)
		free(w);
}

static int spawn_watchdog(agent *a, char **err)
{
	char *pidfile = xasprintf("%s/postmaster.pid", a->s->data_dir);
	char timeout[16];
	snprintf(timeout, sizeof timeout, "%d", tandemd_watchdog_timeout_s(a->s));
	char *argv[] = {
	    a->fence->path, (char *)"watchdog", pidfile, a->fence->watchdog_device, timeout, NULL};
	if (!a->fence->watchdog_device)
		argv[3] = NULL;
	uv_pipe_t *pipe = xcalloc(1, sizeof *pipe);
	uv_process_t *proc = xcalloc(1, sizeof *proc);
	uv_pipe_init(a->loop, pipe, 0);
	proc_spec ps = {.argv = argv,
	                .in_pipe = pipe,
	                .out_fd = 1,
	                .err_fd = 2,
	                .on_exit = on_watchdog_exit,
	                .on_failed_close = proc_free_handle};
	proc->data = a;
	int r = proc_spawn(a->loop, proc, &ps);
	free(pidfile);
	if (r != 0) {
		err_set(err, "starting %s: %s", a->fence->path, uv_strerror(r));
		uv_close((uv_handle_t *)pipe, on_closed);
		return -1;
	}
	a->fence->proc = proc;
	a->fence->pipe = pipe;
	a->fence->sent_ms = UINT64_MAX; /* nothing sent yet */
	return 0;
}

void agent_fence_update(agent *a)
{
	/* Before the first heartbeat no pass has run, so no PostgreSQL of ours runs, and the
	 * lease is not known yet: a deadline from it would only make the watchdog fire for nothing
	 * (a restarted leader's view already names it). */
	if (!a->fence || a->stopping || !a->beat_done)
		return;
	if (!a->fence->proc) {
		char *e = NULL;
		if (spawn_watchdog(a, &e) != 0) {
			log_error("%s", e);
			free(e);
			return;
		}
	}
	bool leader = agent_holds_key(a);
	uint64_t deadline = 0, end = 0;
	uint64_t fs_expiry = agent_failsafe_expiry(a);
	if (leader || fs_expiry) {
		/* Half a retry_timeout before the lease's end: after the agent's own demotion point
		 * (retry_timeout before it), before any replica can take the key. A lease already
		 * spent gives a deadline in the past: the watchdog fences at once. In failsafe mode
		 * the members' confirmation holds them back as the lease does: its end counts too.
		 */
		uint64_t margin = a->hc.retry_timeout_ms / 2;
		end = a->lease_expiry_ms;
		if (fs_expiry > end && agent_failsafe_mode(a))
			end = fs_expiry;
		deadline = end > margin ? end - margin : 1;
	}
	if (deadline == a->fence->sent_ms)
		return;
	a->fence->sent_ms = deadline;
	/* The lease's end too: the fence pings a hardware watchdog only while a reset would still
	 * come before it. */
	char line[48];
	if (deadline > 1 && end > deadline)
		snprintf(line, sizeof line, "%" PRIu64 " %" PRIu64, deadline, end);
	else
		snprintf(line, sizeof line, "%" PRIu64, deadline);
	send_line(a, line);
}

bool agent_fence_armed(const agent *a)
{
	const agent_fence *f = a->fence;
	return f && f->proc && f->sent_ms != UINT64_MAX && f->sent_ms != 0;
}

void agent_fence_stop(agent *a)
{
	if (!a->fence->proc)
		return;
	send_line(a, "exit");
	/* Closing the handle does not kill the process: it reads "exit" and ends. */
	uv_close((uv_handle_t *)a->fence->proc, on_closed);
	a->fence->proc = NULL;
	if (a->fence->pipe) {
		uv_close((uv_handle_t *)a->fence->pipe, on_closed);
		a->fence->pipe = NULL;
	}
}

void agent_fence_free(agent *a)
{
	if (!a->fence)
		return;
	agent_fence_stop(a);
	agent_fence_free_part(a->fence);
	a->fence = NULL;
}
