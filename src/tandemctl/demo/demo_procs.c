/* The demo's children on a libuv loop: spawn with redirected output, report the exit, stop with a
 * grace period. */
#include "demo_procs.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"

extern char **environ;

struct demo_proc {
	demo_procs *set;
	demo_proc *next;
	char *name;
	char *log;
	uv_process_t process;
	uv_timer_t kill_timer;
	bool timer_open;
	bool running;
	bool stopping;
	int pid;
	demo_proc_exit_cb cb;
	void *arg;
};

struct demo_procs {
	uv_loop_t *loop;
	bool as_user;
	uid_t uid;
	gid_t gid;
	char *home;
	demo_proc *all;
};

demo_procs *demo_procs_new(uv_loop_t *loop, bool as_user, uid_t uid, gid_t gid, const char *home)
{
	demo_procs *ps = xcalloc(1, sizeof *ps);
	ps->loop = loop;
	ps->as_user = as_user;
	ps->uid = uid;
	ps->gid = gid;
	ps->home = home ? xstrdup(home) : NULL;
	return ps;
}

static void on_proc_exit(uv_process_t *h, int64_t status, int term_signal)
{
	demo_proc *p = h->data;
	p->running = false;
	if (p->timer_open)
		uv_timer_stop(&p->kill_timer);
	if (p->cb)
		p->cb(p, status, term_signal, p->arg);
}

static void on_kill_timer(uv_timer_t *t)
{
	demo_proc *p = t->data;
	if (p->running)
		uv_process_kill(&p->process, SIGKILL);
}

/* The demo's environment with `extra` entries over it (same name: replaced). */
static char **build_env(char *const extra[])
{
	size_t n = 0, nx = 0;
	while (environ[n])
		n++;
	while (extra && extra[nx])
		nx++;
	char **env = xcalloc(n + nx + 1, sizeof *env);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t len = eq ? (size_t)(eq - environ[i]) + 1 : strlen(environ[i]);
		bool replaced = false;
		for (size_t j = 0; j < nx && !replaced; j++)
			replaced = strncmp(extra[j], environ[i], len) == 0;
		if (!replaced)
			env[k++] = environ[i];
	}
	for (size_t j = 0; j < nx; j++)
		env[k++] = extra[j];
	env[k] = NULL;
	return env;
}

demo_proc *demo_proc_start(demo_procs *ps, const char *name, char *const argv[], const char *cwd,
                           const char *log_path, const char *out_path, char *const env[],
                           demo_proc_exit_cb cb, void *arg, char **err)
{
	/* O_NOFOLLOW: the directory may belong to the servers' user, who must not be able to
	 * point a log at another file for us (root) to write. */
	int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (log_fd < 0) {
		err_set(err, "%s: %s", log_path, strerror(errno));
		return NULL;
	}
	int out_fd = log_fd;
	if (out_path) {
		out_fd =
		    open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (out_fd < 0) {
			err_set(err, "%s: %s", out_path, strerror(errno));
			close(log_fd);
			return NULL;
		}
	}
	if (ps->as_user) {
		/* The child's files belong to the user it runs as (a failure only leaves them
		 * owned by root, which the child can still write through the inherited fd). */
		int ignored = fchown(log_fd, ps->uid, ps->gid);
		if (out_fd != log_fd)
			ignored |= fchown(out_fd, ps->uid, ps->gid);
		(void)ignored;
	}

	size_t nenv = 0;
	while (env && env[nenv])
		nenv++;
	char **extra = xcalloc(nenv + 3, sizeof *extra);
	size_t nx = 0;
	for (size_t i = 0; i < nenv; i++)
		extra[nx++] = env[i];
	char *home = NULL, *user = NULL;
	if (ps->as_user && ps->home) {
		home = xasprintf("HOME=%s", ps->home);
		user = xstrdup("USER=postgres");
		extra[nx++] = home;
		extra[nx++] = user;
	}
	char **full_env = build_env(extra);
	free(extra);

	demo_proc *p = xcalloc(1, sizeof *p);
	p->set = ps;
	p->name = xstrdup(name);
	p->log = xstrdup(log_path);
	p->cb = cb;
	p->arg = arg;

	proc_spec spec = {.argv = (char **)argv,
	                  .env = full_env,
	                  .cwd = cwd,
	                  .in_fd = -1,
	                  .out_fd = out_fd,
	                  .err_fd = log_fd,
	                  .detached = true,
	                  .switch_ids = ps->as_user,
	                  .uid = ps->uid,
	                  .gid = ps->gid,
	                  .on_exit = on_proc_exit};
	p->process.data = p;
	int rc = proc_spawn(ps->loop, &p->process, &spec);
	free(full_env);
	free(home);
	free(user);
	close(log_fd);
	if (out_fd != log_fd)
		close(out_fd);
	if (rc != 0) {
		err_set(err, "cannot start %s (%s): %s", name, argv[0], uv_strerror(rc));
		/* proc_spawn closed the handle: p is freed with the set, after the close. */
		p->next = ps->all;
		ps->all = p;
		return NULL;
	}
	p->running = true;
	p->pid = p->process.pid;
	uv_timer_init(ps->loop, &p->kill_timer);
	p->kill_timer.data = p;
	p->timer_open = true;
	p->next = ps->all;
	ps->all = p;
	return p;
}

const char *demo_proc_name(const demo_proc *p)
{
	return p->name;
}

const char *demo_proc_log(const demo_proc *p)
{
	return p->log;
}

int demo_proc_pid(const demo_proc *p)
{
	return p->pid;
}

bool demo_proc_running(const demo_proc *p)
{
	return p->running;
}

bool demo_proc_stopping(const demo_proc *p)
{
	return p->stopping;
}

void demo_proc_stop(demo_proc *p, unsigned grace_ms)
{
	if (!p->running || p->stopping)
		return;
	p->stopping = true;
	uv_process_kill(&p->process, SIGTERM);
	uv_timer_start(&p->kill_timer, on_kill_timer, grace_ms, 0);
}

void demo_procs_close(demo_procs *ps)
{
	for (demo_proc *p = ps->all; p; p = p->next) {
		if (p->timer_open) {
			uv_close((uv_handle_t *)&p->kill_timer, NULL);
			p->timer_open = false;
			if (!uv_is_closing((uv_handle_t *)&p->process))
				uv_close((uv_handle_t *)&p->process, NULL);
		}
	}
}

void demo_procs_free(demo_procs *ps)
{
	if (!ps)
		return;
	demo_proc *p = ps->all;
	while (p) {
		demo_proc *next = p->next;
		free(p->name);
		free(p->log);
		free(p);
		p = next;
	}
	free(ps->home);
	free(ps);
}
