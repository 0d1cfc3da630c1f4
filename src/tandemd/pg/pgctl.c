/* The postmaster as a child of the agent, and initdb. See pgctl.h. */
#include "pgctl.h"
#include "pgsession.h"
#include "proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "atomic_file.h"
#include "log.h"
#include "strbuf.h"

#define WATCH_INTERVAL_MS 50
#define TAIL_BYTES        2000

typedef enum stop_step { STEP_NONE, STEP_SMART, STEP_FAST, STEP_IMMEDIATE, STEP_KILL } stop_step;

struct pgctl {
	uv_loop_t *loop;
	char *bin_dir, *data_dir, *log_path;
	char *fence_path; /* NULL: the postmaster is started directly */

	/* the postmaster */
	uv_process_t *proc; /* NULL when not running; freed in its close callback */
	bool started_reported;
	bool stop_asked;
	stop_step step;
	uint64_t step_timeout_ms;
	uint64_t start_deadline; /* uv_now */
	uv_timer_t *timer;       /* readiness and stop escalation */
	pgctl_start_cb start_cb;
	pgctl_exit_cb exit_cb;
	void *ud;

	/* initdb */
	uv_process_t *initdb;
	long initdb_log_off;
	pgctl_initdb_cb initdb_cb;
	void *initdb_ud;

	/* the kept connection for the periodic questions (pgctl_ask_state): closed whenever the
	 * server is started, stopped or exits */
	pgsession *session;
	char *session_conninfo;
};

static void close_free(uv_handle_t *h)
{
	free(h);
}

const char *pgctl_data_dir_(const pgctl *pc)
{
	return pc->data_dir;
}

static void remove_leftover_pwfiles(const char *data_dir);

char **pgctl_fenced_argv_(const pgctl *pc, char *const *argv)
{
	size_t argc = 0;
	while (argv[argc])
		argc++;
	char **out = xcalloc(argc + 3, sizeof *out);
	size_t k = 0;
	if (pc->fence_path) {
		out[k++] = pc->fence_path;
		out[k++] = (char *)"exec";
	}
	for (size_t i = 0; i <= argc; i++)
		out[k + i] = argv[i];
	return out;
}

pgctl *pgctl_new(uv_loop_t *loop, const pgctl_opts *o, char **err)
{
	if (!o->bin_dir || !o->data_dir || !o->log_path || o->data_dir[0] != '/') {
		err_set(err, "pgctl: bin_dir, an absolute data_dir and log_path are required");
		return NULL;
	}
	pgctl *pc = xcalloc(1, sizeof *pc);
	pc->loop = loop;
	pc->bin_dir = xstrdup(o->bin_dir);
	pc->fence_path = o->fence_path ? xstrdup(o->fence_path) : NULL;
	pc->data_dir = xstrdup(o->data_dir);
	size_t l = strlen(pc->data_dir);
	while (l > 1 && pc->data_dir[l - 1] == '/')
		pc->data_dir[--l] = '\0';
	pc->log_path = xstrdup(o->log_path);
	remove_leftover_pwfiles(pc->data_dir);
	pc->timer = xcalloc(1, sizeof *pc->timer);
	uv_timer_init(loop, pc->timer);
	pc->timer->data = pc;
	return pc;
}

void pgctl_free(pgctl *pc)
{
	if (!pc)
		return;
	if (pc->proc) {
		pc->proc->data = NULL;
		uv_close((uv_handle_t *)pc->proc, close_free);
	}
	if (pc->initdb) {
		pc->initdb->data = NULL;
		uv_close((uv_handle_t *)pc->initdb, close_free);
	}
	if (pc->timer)
		uv_close((uv_handle_t *)pc->timer, close_free);
	pgsession_free(pc->session);
	free(pc->session_conninfo);
	free(pc->bin_dir);
	free(pc->fence_path);
	free(pc->data_dir);
	free(pc->log_path);
	free(pc);
}

bool pgctl_running(const pgctl *pc)
{
	return pc->proc != NULL;
}

int pgctl_pid(const pgctl *pc)
{
	return pc->proc ? pc->proc->pid : 0;
}

int pgctl_promote_signal(pgctl *pc, char **err)
{
	int pid = pgctl_pid(pc);
	if (!pid || pc->stop_asked) {
		err_set(err, "pgctl: the postmaster is not running");
		return -1;
	}
	char *path = xasprintf("%s/promote", pgctl_data_dir_(pc));
	int r = pgctl_write_file_(path, "", 0, err);
	if (r == 0 && kill(pid, SIGUSR1) != 0) {
		err_set(err, "pgctl: signalling the postmaster (pid %d): %s", pid, strerror(errno));
		(void)unlink(path);
		r = -1;
	}
	free(path);
	return r;
}

pgsession *pgctl_session_(pgctl *pc, const char *conninfo, char **err)
{
	if (!pc->proc || pc->stop_asked) {
		err_set(err, "pgctl: the postmaster is %s",
		        pc->proc ? "being stopped" : "not running");
		return NULL;
	}
	if (pc->session && strcmp(pc->session_conninfo, conninfo) != 0) {
		err_set(err, "pgctl: the kept connection was opened with another conninfo");
		return NULL;
	}
	if (!pc->session) {
		pc->session = pgsession_new(pc->loop, conninfo);
		pc->session_conninfo = xstrdup(conninfo);
	}
	return pc->session;
}

/* A stopped, restarted or crashed server is not the one the kept connection talked to; and a
 * smart shutdown would wait for it. */
static void drop_session(pgctl *pc, const char *why)
{
	if (pc->session)
		pgsession_reset(pc->session, why);
}

static int open_log(const pgctl *pc, char **err)
{
	int fd = open(pc->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		err_set(err, "pgctl: open %s: %s", pc->log_path, strerror(errno));
		return -1;
	}
	return fd;
}

/* A heap-allocated `p` is freed by a failed start (proc_spawn closes it). */
static int spawn(pgctl *pc, uv_process_t *p, char **argv, uv_exit_cb cb, bool detached, int in_fd,
                 char **err)
{
	int fd = open_log(pc, err);
	if (fd < 0) {
		free(p);
		return -1;
	}
	proc_spec ps = {.argv = argv,
	                .cwd = "/",
	                .in_fd = in_fd,
	                .out_fd = fd,
	                .err_fd = fd,
	                .detached = detached,
	                .on_exit = cb,
	                .on_failed_close = proc_free_handle};
	int r = proc_spawn(pc->loop, p, &ps);
	close(fd);
	if (r != 0) {
		err_set(err, "pgctl: spawn %s: %s", argv[0], uv_strerror(r));
		return -1;
	}
	return 0;
}

/* ---- the postmaster ---- */

static void report_start(pgctl *pc, bool ready, const char *status, const char *why)
{
	if (pc->started_reported)
		return;
	pc->started_reported = true;
	if (pc->start_cb)
		pc->start_cb(pc, ready, status, why, pc->ud);
}

/* Line 1 (pid) and line 8 (status) of postmaster.pid; -1 if absent or incomplete. */
static int read_pidfile(const pgctl *pc, long *pid, char *status, size_t cap)
{
	char *path = xasprintf("%s/postmaster.pid", pc->data_dir);
	FILE *f = fopen(path, "re");
	free(path);
	if (!f)
		return -1;
	char line[1024];
	int n = 0, rc = -1;
	while (fgets(line, sizeof line, f)) {
		n++;
		if (n == 1)
			*pid = strtol(line, NULL, 10);
		if (n == 8) {
			line[strcspn(line, " \r\n")] = '\0';
			size_t k = strlen(line);
			if (k >= cap)
				k = cap - 1;
			memcpy(status, line, k);
			status[k] = '\0';
			rc = 0;
			break;
		}
	}
	fclose(f);
	return rc;
}

static void on_pm_timer(uv_timer_t *t);

static void on_pm_exit(uv_process_t *p, int64_t status, int sig)
{
	pgctl *pc = p->data;
	uv_close((uv_handle_t *)p, close_free);
	if (!pc)
		return;
	pc->proc = NULL;
	uv_timer_stop(pc->timer);
	drop_session(pc, "the postmaster exited");
	bool asked = pc->stop_asked;
	pc->stop_asked = false;
	pc->step = STEP_NONE;
	log_info("postmaster exited (status %lld, signal %d)%s", (long long)status, sig,
	         asked ? "" : ": not asked to stop");
	char *why = xasprintf("postmaster exited (status %lld, signal %d) before it was ready",
	                      (long long)status, sig);
	report_start(pc, false, NULL, why);
	free(why);
	if (pc->exit_cb)
		pc->exit_cb(pc, asked, status, sig, pc->ud);
}

int pgctl_start(pgctl *pc, uint64_t timeout_ms, pgctl_start_cb start_cb, pgctl_exit_cb exit_cb,
                void *ud, char **err)
{
	if (pc->proc) {
		err_set(err, "pgctl: the postmaster is already running");
		return -1;
	}
	char *bin = xasprintf("%s/postgres", pc->bin_dir);
	char *plain[] = {bin, (char *)"-D", pc->data_dir, NULL};
	/* Through the fence, the postmaster gets SIGQUIT from the kernel when the agent dies. */
	char **argv = pgctl_fenced_argv_(pc, plain);
	uv_process_t *p = xcalloc(1, sizeof *p);
	p->data = pc;
	/* Detached: its own session and process group, and it outlives the agent (as with Patroni).
	 */
	int r = spawn(pc, p, argv, on_pm_exit, true, -1, err);
	free(argv);
	free(bin);
	if (r != 0)
		return -1;
	pc->proc = p;
	drop_session(pc, "the postmaster was started again");
	pc->started_reported = false;
	pc->stop_asked = false;
	pc->step = STEP_NONE;
	pc->start_cb = start_cb;
	pc->exit_cb = exit_cb;
	pc->ud = ud;
	pc->start_deadline = uv_now(pc->loop) + timeout_ms;
	log_info("postmaster started (pid %d)", p->pid);
	uv_timer_start(pc->timer, on_pm_timer, WATCH_INTERVAL_MS, WATCH_INTERVAL_MS);
	return 0;
}

static void stop_step_run(pgctl *pc, stop_step s)
{
	pc->step = s;
	int pid = pc->proc->pid;
	switch (s) {
	case STEP_SMART:
		uv_process_kill(pc->proc, SIGTERM);
		break;
	case STEP_FAST:
		uv_process_kill(pc->proc, SIGINT);
		break;
	case STEP_IMMEDIATE:
		uv_process_kill(pc->proc, SIGQUIT);
		break;
	case STEP_KILL: {
		long kids[512];
		size_t n = proc_children(pid, kids, 512);
		log_warning(
		    "postmaster %d did not stop in time: SIGKILL to it, its %zu children and "
		    "its process group",
		    pid, n);
		for (size_t i = 0; i < n; i++)
			kill((pid_t)kids[i], SIGKILL);
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		break;
	}
	case STEP_NONE:
		break;
	}
	uv_timer_start(pc->timer, on_pm_timer, pc->step_timeout_ms, 0);
}

static void on_pm_timer(uv_timer_t *t)
{
	pgctl *pc = t->data;
	if (!pc->proc)
		return;
	if (pc->step != STEP_NONE) { /* a stop step's deadline passed */
		if (pc->step < STEP_KILL)
			stop_step_run(pc, (stop_step)(pc->step + 1));
		else /* the exit callback should come; keep signalling */
			stop_step_run(pc, STEP_KILL);
		return;
	}
	if (pc->started_reported) {
		uv_timer_stop(pc->timer);
		return;
	}
	long pid = 0;
	char status[64];
	if (read_pidfile(pc, &pid, status, sizeof status) == 0 && pid == pc->proc->pid &&
	    (strcmp(status, "ready") == 0 || strcmp(status, "standby") == 0)) {
		uv_timer_stop(pc->timer);
		report_start(pc, true, status, NULL);
		return;
	}
	if (uv_now(pc->loop) >= pc->start_deadline) {
		uv_timer_stop(pc->timer);
		report_start(pc, false, NULL, "the postmaster was not ready before the deadline");
	}
}

int pgctl_stop(pgctl *pc, pgctl_stop_mode mode, uint64_t step_timeout_ms, char **err)
{
	if (!pc->proc) {
		err_set(err, "pgctl: the postmaster is not running");
		return -1;
	}
	pc->stop_asked = true;
	drop_session(pc, "PostgreSQL is being stopped");
	pc->step_timeout_ms = step_timeout_ms;
	report_start(pc, false, NULL, "asked to stop before it was ready");
	stop_step s = mode == PGCTL_SMART  ? STEP_SMART
	              : mode == PGCTL_FAST ? STEP_FAST
	                                   : STEP_IMMEDIATE;
	if (pc->step != STEP_NONE && pc->step > s)
		s = pc->step; /* never de-escalate */
	stop_step_run(pc, s);
	return 0;
}

int pgctl_reload(pgctl *pc, char **err)
{
	if (!pc->proc) {
		err_set(err, "pgctl: the postmaster is not running");
		return -1;
	}
	int r = uv_process_kill(pc->proc, SIGHUP);
	if (r != 0) {
		err_set(err, "pgctl: reload: %s", uv_strerror(r));
		return -1;
	}
	return 0;
}

/* ---- initdb ---- */

void pgctl_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **a = argv; *a; a++)
		free(*a);
	free(argv);
}

char **pgctl_initdb_argv(const pgctl *pc, const pgctl_initdb_opts *o, const char *pwfile,
                         char **err)
{
	size_t cap = 10 + o->nextra, n = 0;
	char **argv = xcalloc(cap, sizeof *argv);
	argv[n++] = xasprintf("%s/initdb", pc->bin_dir);
	argv[n++] = xstrdup("-D");
	argv[n++] = xstrdup(pc->data_dir);
	argv[n++] = xasprintf("--auth-local=%s", o->auth_local ? o->auth_local : "trust");
	argv[n++] = xasprintf("--auth-host=%s", o->auth_host ? o->auth_host : "scram-sha-256");
	argv[n++] = xasprintf("--username=%s", o->superuser ? o->superuser : "postgres");
	if (pwfile)
		argv[n++] = xasprintf("--pwfile=%s", pwfile);
	for (size_t i = 0; i < o->nextra; i++) {
		const char *e = o->extra[i];
		if (!e || !*e || e[0] == '-' || strncmp(e, "pwfile", 6) == 0 ||
		    strncmp(e, "pgdata", 6) == 0) {
			err_set(err, "pgctl: initdb option '%s' is not allowed", e ? e : "");
			pgctl_argv_free(argv);
			return NULL;
		}
		argv[n++] = xasprintf("--%s", e);
	}
	argv[n] = NULL;
	return argv;
}

static char *log_tail_from(const pgctl *pc, long off)
{
	FILE *f = fopen(pc->log_path, "re");
	if (!f)
		return xstrdup("");
	fseek(f, 0, SEEK_END);
	long end = ftell(f);
	if (end - off > TAIL_BYTES)
		off = end - TAIL_BYTES;
	if (off < 0)
		off = 0;
	fseek(f, off, SEEK_SET);
	char *buf = xmalloc(TAIL_BYTES + 1);
	size_t k = fread(buf, 1, TAIL_BYTES, f);
	buf[k] = '\0';
	fclose(f);
	return buf;
}

static void on_initdb_exit(uv_process_t *p, int64_t status, int sig)
{
	pgctl *pc = p->data;
	uv_close((uv_handle_t *)p, close_free);
	if (!pc)
		return;
	pc->initdb = NULL;
	char *tail = log_tail_from(pc, pc->initdb_log_off);
	bool ok = status == 0 && sig == 0;
	if (!ok)
		log_error("initdb failed (status %lld, signal %d)", (long long)status, sig);
	if (pc->initdb_cb)
		pc->initdb_cb(pc, ok, tail, pc->initdb_ud);
	free(tail);
}

/* The superuser's password reaches initdb through its stdin (--pwfile=/dev/stdin): a pipe holding
 * the password, written whole before initdb starts, so that no file with it ever exists on disk
 * for a crash to leave behind. The read end, or -1. */
static int password_pipe(const char *password, char **err)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0) {
		err_set(err, "pgctl: password pipe: %s", strerror(errno));
		return -1;
	}
	char *line = xasprintf("%s\n", password);
	size_t len = strlen(line);
	/* Non-blocking: a password larger than the pipe is an error, never a stalled loop. */
	bool ok =
	    fcntl(fds[1], F_SETFL, O_NONBLOCK) == 0 && write(fds[1], line, len) == (ssize_t)len;
	int e = errno;
	explicit_bzero(line, len);
	free(line);
	close(fds[1]);
	if (!ok) {
		err_set(err, "pgctl: password pipe: %s",
		        e == EAGAIN ? "the password is too long" : strerror(e));
		close(fds[0]);
		return -1;
	}
	return fds[0];
}

/* Removes password files that tandemd before this version wrote for initdb beside the data
 * directory (DATA.pwfile-XXXXXX) and a crash left behind: regular files of ours only. */
static void remove_leftover_pwfiles(const char *data_dir)
{
	char *dir = xstrdup(data_dir);
	char *slash = strrchr(dir, '/');
	*slash = '\0';
	char *prefix = xasprintf("%s.pwfile-", slash + 1);
	int dfd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d && dfd >= 0)
		close(dfd);
	for (struct dirent *de; d && (de = readdir(d));) {
		struct stat st;
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0 ||
		    strlen(de->d_name) != strlen(prefix) + 6 ||
		    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode) || st.st_uid != geteuid())
			continue;
		if (unlinkat(dfd, de->d_name, 0) == 0)
			log_warning("removed %s/%s, a password file for initdb left by a crash",
			            dir, de->d_name);
	}
	if (d)
		closedir(d);
	free(prefix);
	free(dir);
}

int pgctl_initdb(pgctl *pc, const pgctl_initdb_opts *o, pgctl_initdb_cb cb, void *ud, char **err)
{
	if (pc->initdb || pc->proc) {
		err_set(err, "pgctl: initdb or the postmaster is already running");
		return -1;
	}
	if (o->password && strchr(o->password, '\n')) {
		err_set(err, "pgctl: the password cannot contain a newline");
		return -1;
	}
	char **argv = pgctl_initdb_argv(pc, o, o->password ? "/dev/stdin" : NULL, err);
	if (!argv)
		return -1;
	int pw_fd = o->password ? password_pipe(o->password, err) : -1;
	if (o->password && pw_fd < 0) {
		pgctl_argv_free(argv);
		return -1;
	}
	struct stat st;
	pc->initdb_log_off = stat(pc->log_path, &st) == 0 ? (long)st.st_size : 0;
	uv_process_t *p = xcalloc(1, sizeof *p);
	p->data = pc;
	char **fenced = pgctl_fenced_argv_(pc, argv); /* initdb dies with the agent too */
	int r = spawn(pc, p, fenced, on_initdb_exit, false, pw_fd, err);
	if (pw_fd >= 0)
		close(pw_fd);
	free(fenced);
	pgctl_argv_free(argv);
	if (r != 0)
		return -1;
	pc->initdb = p;
	pc->initdb_cb = cb;
	pc->initdb_ud = ud;
	return 0;
}

/* ---- files ---- */

int pgctl_write_file_(const char *path, const char *data, size_t len, char **err)
{
	if (atomic_file_write(path, data, len, 0600, err) < 0) {
		err_prefix(err, "pgctl");
		return -1;
	}
	return 0;
}
