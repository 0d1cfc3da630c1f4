/* Cloning a replica: a libpq password file, pg_basebackup and pg_rewind. See pgctl.h. */
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

#include "log.h"
#include "pgctl.h"
#include "proc.h"
#include "strbuf.h"

#define CLONE_TAIL 4000

/* ---- the password file ---- */

static bool bad_chars(const char *s)
{
	for (; s && *s; s++)
		if (*s == '\n' || *s == '\r' || *s == '\0')
			return true;
	return false;
}

static void pass_field(strbuf *sb, const char *v)
{
	if (!v) {
		sb_puts(sb, "*");
		return;
	}
	for (const char *p = v; *p; p++) {
		if (*p == ':' || *p == '\\')
			sb_puts(sb, "\\");
		sb_append(sb, p, 1);
	}
}

int pgctl_write_passfile(const char *path, const pgctl_pass_entry *e, size_t n, char **err)
{
	strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < n; i++) {
		if (!e[i].password || bad_chars(e[i].host) || bad_chars(e[i].port) ||
		    bad_chars(e[i].dbname) || bad_chars(e[i].user) || bad_chars(e[i].password)) {
			err_set(err, "pgctl: passfile entry %zu: no password or a line break", i);
			sb_free(&sb);
			return -1;
		}
		pass_field(&sb, e[i].host);
		sb_puts(&sb, ":");
		pass_field(&sb, e[i].port);
		sb_puts(&sb, ":");
		pass_field(&sb, e[i].dbname);
		sb_puts(&sb, ":");
		pass_field(&sb, e[i].user);
		sb_puts(&sb, ":");
		pass_field(&sb, e[i].password);
		sb_puts(&sb, "\n");
	}
	sb_puts(&sb, "");
	int rc = pgctl_write_file_(path, sb.data, sb.len, err);
	/* The buffer held passwords. */
	memset(sb.data, 0, sb.len);
	sb_free(&sb);
	return rc;
}

/* ---- running a tool ---- */

typedef enum tool_kind { TOOL_BASEBACKUP, TOOL_REWIND, TOOL_CONTROLDATA } tool_kind;

static const char *tool_name(tool_kind k)
{
	return k == TOOL_BASEBACKUP ? "pg_basebackup"
	       : k == TOOL_REWIND   ? "pg_rewind"
	                            : "pg_controldata";
}

typedef struct tool {
	tool_kind kind;
	pgctl *pc;
	uv_process_t *proc;
	uv_pipe_t *pipe;
	uv_timer_t *timer;
	bool exited, eof, timed_out;
	int64_t status;
	int sig;
	int pid;
	strbuf line;
	char tail[CLONE_TAIL + 1];
	size_t tail_len;
	int last_percent;
	uint64_t last_log;
	pgctl_progress_cb progress;
	pgctl_clone_cb done;
	void *ud;
	int closing;
} tool;

/* "12345/67890 kB (18%), 0/1 tablespace ..." */
static void on_line(tool *t, const char *l)
{
	if (t->kind != TOOL_BASEBACKUP)
		return;
	unsigned long long done, total;
	int pct;
	if (sscanf(l, "%llu/%llu kB (%d%%)", &done, &total, &pct) != 3 || pct < 0 || pct > 100)
		return;
	if (pct != t->last_percent) {
		t->last_percent = pct;
		if (t->progress)
			t->progress(pct, t->ud);
	}
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	(void)h;
	(void)hint;
	static char b[8192];
	buf->base = b;
	buf->len = sizeof b;
}

static void finish(tool *t);

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	tool *t = s->data;
	if (n < 0) {
		uv_read_stop(s);
		t->eof = true;
		if (t->line.len) {
			sb_puts(&t->line, "");
			on_line(t, t->line.data);
			sb_reset(&t->line);
		}
		finish(t);
		return;
	}
	tail_keep(t->tail, CLONE_TAIL, &t->tail_len, buf->base, (size_t)n);
	for (ssize_t i = 0; i < n; i++) {
		char ch = buf->base[i];
		if (ch == '\n' || ch == '\r') {
			if (t->line.len) {
				sb_puts(&t->line, "");
				on_line(t, t->line.data);
				sb_reset(&t->line);
			}
		} else if (t->line.len < 4096) {
			sb_append(&t->line, &ch, 1);
		}
	}
	uint64_t now = uv_now(s->loop);
	if (t->kind == TOOL_BASEBACKUP && t->last_percent >= 0 && now - t->last_log >= 1000) {
		t->last_log = now;
		log_info("pg_basebackup: %d%%", t->last_percent);
	}
}

static void on_exit_tool(uv_process_t *p, int64_t status, int sig)
{
	tool *t = p->data;
	t->exited = true;
	t->status = status;
	t->sig = sig;
	finish(t);
}

static void on_timeout(uv_timer_t *tm)
{
	tool *t = tm->data;
	if (t->exited)
		return;
	t->timed_out = true;
	log_error("%s did not finish before its deadline: killing it", tool_name(t->kind));
	kill(-t->pid, SIGKILL); /* its own process group: pg_basebackup's WAL streamer too */
	uv_process_kill(t->proc, SIGKILL);
}

static void on_closed(uv_handle_t *h)
{
	tool *t = h->data;
	free(h);
	if (--t->closing == 0) {
		sb_free(&t->line);
		free(t);
	}
}

static void finish(tool *t)
{
	if (!t->exited || !t->eof)
		return;
	bool ok = t->status == 0 && t->sig == 0 && !t->timed_out;
	const char *name = tool_name(t->kind);
	char *moved = NULL;
	if (ok) {
		if (t->kind != TOOL_CONTROLDATA)
			log_info("%s succeeded", name);
		if (t->kind == TOOL_REWIND)
			pgctl_rewind_forget(t->pc);
	} else {
		log_error("%s failed (status %lld, signal %d%s)", name, (long long)t->status,
		          t->sig, t->timed_out ? ", deadline" : "");
		if (t->kind == TOOL_BASEBACKUP) {
			char *err = NULL;
			struct stat st;
			if (lstat(pgctl_data_dir_(t->pc), &st) == 0 &&
			    pgctl_move_aside(t->pc, &moved, &err) != 0) {
				log_error("%s", err);
				free(err);
			}
		}
	}
	if (t->done)
		t->done(ok, t->tail, moved, t->ud);
	free(moved);
	t->closing = 3;
	t->proc->data = t;
	t->pipe->data = t;
	t->timer->data = t;
	uv_close((uv_handle_t *)t->proc, on_closed);
	uv_close((uv_handle_t *)t->pipe, on_closed);
	uv_close((uv_handle_t *)t->timer, on_closed);
}

static char *rewind_marker(const pgctl *pc)
{
	return xasprintf("%s.rewinding", pgctl_data_dir_(pc));
}

bool pgctl_rewind_interrupted(const pgctl *pc)
{
	char *path = rewind_marker(pc);
	struct stat st;
	bool there = lstat(path, &st) == 0;
	free(path);
	return there;
}

void pgctl_rewind_forget(pgctl *pc)
{
	char *path = rewind_marker(pc);
	if (unlink(path) != 0 && errno != ENOENT)
		log_warning("pgctl: removing %s: %s", path, strerror(errno));
	free(path);
}

bool pgctl_rewind_never_connected(const char *output)
{
	if (!output || strstr(output, "was lost") || strstr(output, "closed the connection") ||
	    strstr(output, "could not fetch"))
		return false;
	return strstr(output, "could not connect") ||
	       (strstr(output, "connection to server") && strstr(output, "failed:"));
}

static int run_tool(uv_loop_t *loop, pgctl *pc, tool_kind kind, char **argv,
                    const pgctl_clone_opts *o, char **err)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0) {
		err_set(err, "pgctl: pipe: %s", strerror(errno));
		return -1;
	}
	tool *t = xcalloc(1, sizeof *t);
	t->kind = kind;
	t->pc = pc;
	t->last_percent = -1;
	t->progress = o->progress;
	t->done = o->done;
	t->ud = o->ud;
	t->proc = xcalloc(1, sizeof *t->proc);
	t->pipe = xcalloc(1, sizeof *t->pipe);
	t->timer = xcalloc(1, sizeof *t->timer);
	t->proc->data = t;
	/* Through the fence (`tandemd-fence exec`), the tool gets SIGQUIT from the kernel when the
	 * agent dies: none outlives it to work on a data directory the next agent uses. */
	char **args = pgctl_fenced_argv_(pc, argv);
	proc_spec ps = {.argv = args,
	                .cwd = "/",
	                .in_fd = -1,
	                .out_fd = fds[1],
	                .err_fd = fds[1],
	                .detached = true,
	                .on_exit = on_exit_tool,
	                .on_failed_close = proc_free_handle};
	int r = proc_spawn(loop, t->proc, &ps);
	free(args);
	close(fds[1]);
	if (r != 0) {
		err_set(err, "pgctl: spawn %s: %s", argv[0], uv_strerror(r));
		close(fds[0]);
		free(t->pipe);
		free(t->timer);
		free(t);
		return -1;
	}
	t->pid = t->proc->pid;
	uv_pipe_init(loop, t->pipe, 0);
	uv_pipe_open(t->pipe, fds[0]);
	t->pipe->data = t;
	uv_read_start((uv_stream_t *)t->pipe, on_alloc, on_read);
	uv_timer_init(loop, t->timer);
	t->timer->data = t;
	t->last_log = uv_now(loop);
	uv_timer_start(t->timer, on_timeout, o->timeout_ms ? o->timeout_ms : 3600000, 0);
	if (kind != TOOL_CONTROLDATA)
		log_info("%s started (pid %d)", argv[0], t->pid);
	return 0;
}

static char *source_conninfo(const pgctl_clone_opts *o, char **err)
{
	if (!o->from || !o->from->passfile) {
		err_set(err, "pgctl: the source server needs a passfile");
		return NULL;
	}
	return pgctl_conninfo(o->from, err);
}

int pgctl_basebackup(uv_loop_t *loop, pgctl *pc, const pgctl_clone_opts *o, char **err)
{
	if (pgctl_running(pc)) {
		err_set(err, "pgctl: the postmaster is running");
		return -1;
	}
	const char *dir = pgctl_data_dir_(pc);
	char *ci = source_conninfo(o, err);
	if (!ci)
		return -1;
	bool created = false;
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *de;
		bool empty = true;
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, ".."))
				empty = false;
		closedir(d);
		if (!empty) {
			err_set(err, "pgctl: %s is not empty: refusing to overwrite it", dir);
			free(ci);
			return -1;
		}
	} else if (errno != ENOENT) {
		err_set(err, "pgctl: %s: %s", dir, strerror(errno));
		free(ci);
		return -1;
	} else if (mkdir(dir, 0700) != 0) {
		err_set(err, "pgctl: mkdir %s: %s", dir, strerror(errno));
		free(ci);
		return -1;
	} else {
		created = true;
	}
	/* PostgreSQL wants its data directory 0700. */
	if (chmod(dir, 0700) != 0) {
		err_set(err, "pgctl: chmod %s: %s", dir, strerror(errno));
		if (created)
			(void)rmdir(dir);
		free(ci);
		return -1;
	}
	char *bin = xasprintf("%s/pg_basebackup", o->bin_dir);
	/* --no-clean: a failure leaves the partial directory, which is then moved aside. */
	char *argv[] = {bin,
	                (char *)"-D",
	                (char *)dir,
	                (char *)"-X",
	                (char *)"stream",
	                (char *)"-c",
	                (char *)"fast",
	                (char *)"-P",
	                (char *)"-v",
	                (char *)"--no-password",
	                (char *)"--no-clean",
	                (char *)"-d",
	                ci,
	                NULL};
	int r = run_tool(loop, pc, TOOL_BASEBACKUP, argv, o, err);
	if (r != 0 && created)
		(void)rmdir(dir); /* still empty: nothing ran */
	free(bin);
	free(ci);
	return r;
}

static bool postmaster_alive(const char *dir)
{
	char *path = xasprintf("%s/postmaster.pid", dir);
	FILE *f = fopen(path, "re");
	free(path);
	if (!f)
		return false;
	char line[64];
	long pid = 0;
	if (fgets(line, sizeof line, f))
		pid = strtol(line, NULL, 10);
	fclose(f);
	if (pid <= 0)
		return true; /* a pid file we cannot read: assume it runs */
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

int pgctl_rewind(uv_loop_t *loop, pgctl *pc, const pgctl_clone_opts *o, char **err)
{
	const char *dir = pgctl_data_dir_(pc);
	if (pgctl_running(pc) || postmaster_alive(dir)) {
		err_set(err, "pgctl: a postmaster runs on %s: stop it before pg_rewind", dir);
		return -1;
	}
	char *ci = source_conninfo(o, err);
	if (!ci)
		return -1;
	char *bin = xasprintf("%s/pg_rewind", o->bin_dir);
	char *target = xasprintf("--target-pgdata=%s", dir);
	char *source = xasprintf("--source-server=%s", ci);
	/* With a restore_command (its own site's archive), WAL the rewind needs that pg_wal no
	 * longer holds comes from the archive. */
	char *argv[] = {bin,
	                target,
	                source,
	                (char *)"--progress",
	                o->restore_target_wal ? (char *)"--restore-target-wal" : NULL,
	                NULL};
	char *marker = rewind_marker(pc);
	static const char why[] = "pg_rewind started by tandemd and not finished\n";
	int r = pgctl_write_file_(marker, why, sizeof why - 1, err);
	free(marker);
	if (r == 0)
		r = run_tool(loop, pc, TOOL_REWIND, argv, o, err);
	if (r != 0)
		pgctl_rewind_forget(pc);
	free(bin);
	free(target);
	free(source);
	free(ci);
	return r;
}

int pgctl_controldata(uv_loop_t *loop, pgctl *pc, const pgctl_clone_opts *o, char **err)
{
	char *bin = xasprintf("%s/pg_controldata", o->bin_dir);
	char *argv[] = {bin, (char *)"-D", (char *)pgctl_data_dir_(pc), NULL};
	int r = run_tool(loop, pc, TOOL_CONTROLDATA, argv, o, err);
	free(bin);
	return r;
}

static const char *field(const char *text, const char *name)
{
	size_t n = strlen(name);
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, name, n) == 0 && l[n] == ':') {
			const char *v = l + n + 1;
			while (*v == ' ')
				v++;
			return v;
		}
	}
	return NULL;
}

static char *field_dup(const char *text, const char *name)
{
	const char *v = field(text, name);
	if (!v)
		return NULL;
	size_t n = strcspn(v, "\n");
	while (n && v[n - 1] == ' ')
		n--;
	return xstrndup(v, n);
}

int pgctl_parse_controldata(const char *text, pgctl_control *out)
{
	memset(out, 0, sizeof *out);
	char *state = field_dup(text, "Database cluster state");
	char *sysid = field_dup(text, "Database system identifier");
	char *ckpt = field_dup(text, "Latest checkpoint location");
	char *tli = field_dup(text, "Latest checkpoint's TimeLineID");
	int rc = -1;
	if (!state || !sysid || !ckpt || !tli || pgctl_parse_lsn(ckpt, &out->checkpoint_lsn) != 0)
		goto done;
	char *end;
	long long t = strtoll(tli, &end, 10);
	if (*end || t <= 0)
		goto done;
	out->timeline = t;
	snprintf(out->sysid, sizeof out->sysid, "%s", sysid);
	char *minrec = field_dup(text, "Minimum recovery ending location");
	if (!minrec || pgctl_parse_lsn(minrec, &out->min_recovery_lsn) != 0)
		out->min_recovery_lsn = 0;
	free(minrec);
	char *mintli = field_dup(text, "Min recovery ending loc's timeline");
	long long mt = mintli ? strtoll(mintli, &end, 10) : 0;
	out->min_recovery_timeline = mintli && !*end && mt > 0 && out->min_recovery_lsn ? mt : 0;
	free(mintli);
	out->was_primary = strcmp(state, "in production") == 0 || strcmp(state, "shut down") == 0;
	out->clean = strcmp(state, "shut down") == 0 || strcmp(state, "shut down in recovery") == 0;
	char *seg = field_dup(text, "Bytes per WAL segment");
	unsigned long long sz = seg ? strtoull(seg, &end, 10) : 0;
	out->seg_size = seg && !*end && sz ? sz : 16u << 20;
	free(seg);
	rc = 0;
done:
	free(state);
	free(sysid);
	free(ckpt);
	free(tli);
	return rc;
}
