#include "job.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"
#include "strbuf.h"

struct job {
	uv_process_t proc;
	uv_pipe_t out, err;
	uv_timer_t timer;
	int pid;
	bool exited, out_eof, err_eof, timed_out, cancelled, reported;
	int status, sig;
	strbuf outbuf;
	bool out_truncated;
	size_t out_cap;
	char tail[JOB_ERR_TAIL + 1];
	size_t tail_len;
	uint64_t started, timeout_ms;
	job_done_cb done;
	void *ud;
	int open_handles;
};

static void on_closed(uv_handle_t *h)
{
	job *j = h->data;
	if (--j->open_handles == 0) {
		sb_free(&j->outbuf);
		free(j);
	}
}

static void finish(job *j)
{
	if (j->reported || !j->exited || !j->out_eof || !j->err_eof)
		return;
	j->reported = true;
	sb_puts(&j->outbuf, "");
	job_result r = {.status = j->sig ? -1 : j->status,
	                .signal = j->sig,
	                .timed_out = j->timed_out,
	                .cancelled = j->cancelled,
	                .out = j->outbuf.data ? j->outbuf.data : "",
	                .out_truncated = j->out_truncated,
	                .err_tail = j->tail,
	                .elapsed_ms = uv_now(j->proc.loop) - j->started};
	if (j->done)
		j->done(&r, j->ud);
	j->open_handles = 4;
	uv_close((uv_handle_t *)&j->proc, on_closed);
	uv_close((uv_handle_t *)&j->out, on_closed);
	uv_close((uv_handle_t *)&j->err, on_closed);
	uv_close((uv_handle_t *)&j->timer, on_closed);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	(void)h;
	(void)hint;
	static char b[16384];
	buf->base = b;
	buf->len = sizeof b;
}

static void on_out(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	job *j = s->data;
	if (n < 0) {
		uv_read_stop(s);
		j->out_eof = true;
		finish(j);
		return;
	}
	size_t room = j->out_cap > j->outbuf.len ? j->out_cap - j->outbuf.len : 0;
	size_t take = (size_t)n < room ? (size_t)n : room;
	if (take)
		sb_append(&j->outbuf, buf->base, take);
	if (take < (size_t)n)
		j->out_truncated = true;
}

static void on_err(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	job *j = s->data;
	if (n < 0) {
		uv_read_stop(s);
		j->err_eof = true;
		finish(j);
		return;
	}
	tail_keep(j->tail, JOB_ERR_TAIL, &j->tail_len, buf->base, (size_t)n);
}

static void on_job_exit(uv_process_t *p, int64_t status, int sig)
{
	job *j = p->data;
	j->exited = true;
	j->status = (int)status;
	j->sig = sig;
	uv_timer_stop(&j->timer);
	finish(j);
}

static void kill_group(job *j)
{
	if (j->exited)
		return;
	kill(-j->pid, SIGKILL); /* its own session: whatever it started goes too */
	uv_process_kill(&j->proc, SIGKILL);
}

static void on_timeout(uv_timer_t *t)
{
	job *j = t->data;
	j->timed_out = true;
	kill_group(j);
}

void job_cancel(job *j)
{
	if (j->exited)
		return;
	j->cancelled = true;
	kill_group(j);
}

int job_pid(const job *j)
{
	return j->pid;
}

static void free_failed(uv_handle_t *h)
{
	free(h->data);
}

job *job_start(uv_loop_t *loop, const job_spec *s, char **err)
{
	int o[2], e[2];
	if (pipe2(o, O_CLOEXEC) != 0) {
		err_set(err, "job: pipe: %s", strerror(errno));
		return NULL;
	}
	if (pipe2(e, O_CLOEXEC) != 0) {
		err_set(err, "job: pipe: %s", strerror(errno));
		close(o[0]);
		close(o[1]);
		return NULL;
	}
	job *j = xcalloc(1, sizeof *j);
	j->out_cap = s->out_cap ? s->out_cap : 1u << 20;
	j->done = s->done;
	j->ud = s->ud;
	j->proc.data = j;
	proc_spec ps = {.argv = s->argv,
	                .env = s->env,
	                .cwd = s->cwd ? s->cwd : "/",
	                .in_fd = -1,
	                .out_fd = o[1],
	                .err_fd = e[1],
	                .detached = true,
	                .switch_ids = s->switch_ids,
	                .uid = s->uid,
	                .gid = s->gid,
	                .on_exit = on_job_exit,
	                .on_failed_close = free_failed};
	int r = proc_spawn(loop, &j->proc, &ps);
	close(o[1]);
	close(e[1]);
	if (r != 0) {
		err_set(err, "cannot start %s: %s", s->argv[0], uv_strerror(r));
		close(o[0]);
		close(e[0]);
		return NULL; /* proc_spawn closes the handle; free_failed frees the job */
	}
	j->pid = j->proc.pid;
	j->started = uv_now(loop);
	uv_pipe_init(loop, &j->out, 0);
	uv_pipe_open(&j->out, o[0]);
	j->out.data = j;
	uv_pipe_init(loop, &j->err, 0);
	uv_pipe_open(&j->err, e[0]);
	j->err.data = j;
	uv_timer_init(loop, &j->timer);
	j->timer.data = j;
	uv_read_start((uv_stream_t *)&j->out, on_alloc, on_out);
	uv_read_start((uv_stream_t *)&j->err, on_alloc, on_err);
	if (s->timeout_ms) {
		j->timeout_ms = s->timeout_ms;
		uv_timer_start(&j->timer, on_timeout, s->timeout_ms, 0);
	}
	return j;
}

char *job_describe(const job_result *r)
{
	if (r->timed_out)
		return xasprintf("killed at its deadline after %llu ms",
		                 (unsigned long long)r->elapsed_ms);
	if (r->cancelled)
		return xstrdup("cancelled");
	/* The last non-empty line of standard error says why. */
	const char *t = r->err_tail ? r->err_tail : "";
	size_t n = strlen(t);
	while (n && (t[n - 1] == '\n' || t[n - 1] == '\r'))
		n--;
	size_t b = n;
	while (b && t[b - 1] != '\n')
		b--;
	if (r->signal)
		return xasprintf("killed by signal %d%s%.*s", r->signal, n > b ? ": " : "",
		                 (int)(n - b), t + b);
	return xasprintf("exit %d%s%.*s", r->status, n > b ? ": " : "", (int)(n - b), t + b);
}
