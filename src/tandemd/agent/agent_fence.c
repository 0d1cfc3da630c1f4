/* The agent's side of the fence: it runs `tandemd-fence watchdog DATA/postmaster.pid` as a child
 * and, while this member holds the leader key, tells it the moment by which PostgreSQL must have
 * stopped if no newer word comes: the lease's safe end. A frozen agent sends nothing, so the
 * watchdog stops PostgreSQL before the leader key can expire; a dead agent closes the pipe, and
 * the watchdog stops PostgreSQL at once. See docs/tandemd.md, "Fencing". */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_priv.h"
#include "fence.h"
#include "log.h"
#include "proc.h"

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
			log_warning(
			    "the fence watchdog stopped PostgreSQL (no deadline from the agent "
			    "in time: its message above says why); starting a new watchdog");
		else if (!a->stopping)
			log_error("the fence watchdog exited (status %" PRId64
			          ", signal %d): restarting it",
			          status, sig);
		a->fence_proc = NULL;
		if (a->fence_pipe) {
			uv_close((uv_handle_t *)a->fence_pipe, on_closed);
			a->fence_pipe = NULL;
		}
		a->fence_sent_ms = UINT64_MAX;
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
	if (!a->fence_pipe)
		return;
	fence_write *w = xcalloc(1, sizeof *w);
	snprintf(w->buf, sizeof w->buf, "%s\n", line);
	uv_buf_t b = uv_buf_init(w->buf, (unsigned)strlen(w->buf));
	if (uv_write(&w->req, (uv_stream_t *)a->fence_pipe, &b, 1, on_written) != 0)
		free(w);
}

static int spawn_watchdog(agent *a, char **err)
{
	char *pidfile = xasprintf("%s/postmaster.pid", a->s->data_dir);
	char timeout[16];
	snprintf(timeout, sizeof timeout, "%d", tandemd_watchdog_timeout_s(a->s));
	char *argv[] = {a->fence_path, (char *)"watchdog", pidfile, a->watchdog_device, timeout,
	                NULL};
	if (!a->watchdog_device)
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
		err_set(err, "starting %s: %s", a->fence_path, uv_strerror(r));
		uv_close((uv_handle_t *)pipe, on_closed);
		return -1;
	}
	a->fence_proc = proc;
	a->fence_pipe = pipe;
	a->fence_sent_ms = UINT64_MAX; /* nothing sent yet */
	return 0;
}

void agent_fence_update(agent *a)
{
	/* Before the first heartbeat no pass has run, so no PostgreSQL of ours runs, and the
	 * lease is not known yet: a deadline from it would only make the watchdog fire for nothing
	 * (a restarted leader's view already names it). */
	if (!a->fence_path || a->stopping || !a->beat_done)
		return;
	if (!a->fence_proc) {
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
	if (deadline == a->fence_sent_ms)
		return;
	a->fence_sent_ms = deadline;
	/* The lease's end too: the fence pings a hardware watchdog only while a reset would still
	 * come before it. */
	char line[48];
	if (deadline > 1 && end > deadline)
		snprintf(line, sizeof line, "%" PRIu64 " %" PRIu64, deadline, end);
	else
		snprintf(line, sizeof line, "%" PRIu64, deadline);
	send_line(a, line);
}

void agent_fence_stop(agent *a)
{
	if (!a->fence_proc)
		return;
	send_line(a, "exit");
	/* Closing the handle does not kill the process: it reads "exit" and ends. */
	uv_close((uv_handle_t *)a->fence_proc, on_closed);
	a->fence_proc = NULL;
	if (a->fence_pipe) {
		uv_close((uv_handle_t *)a->fence_pipe, on_closed);
		a->fence_pipe = NULL;
	}
}
