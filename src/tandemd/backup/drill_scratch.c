/* A restore drill's scratch copy (drill_run.h): its directory and pgbackrest.conf, the restore,
 * the scratch PostgreSQL's start, promotion and stop, and the removal of it all. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "backup_options.h"
#include "backup_paths.h"
#include "drill_run_priv.h"
#include "log.h"
#include "pgbr_conf.h"
#include "pgctl.h"
#include "strbuf.h"

static char **argv_of(const char *const *v)
{
	size_t n = 0;
	while (v[n])
		n++;
	char **out = xcalloc(n + 1, sizeof *out);
	for (size_t i = 0; i < n; i++)
		out[i] = xstrdup(v[i]);
	return out;
}

static char *pg_ctl(const drill_run *d)
{
	return xasprintf("%s/pg_ctl", d->s->bin_dir);
}

static char **stop_argv(const drill_run *d)
{
	char *p = pg_ctl(d);
	char **v = argv_of(
	    (const char *const[]){p, "stop", "-D", d->data, "-m", "immediate", "-w", "-s", NULL});
	free(p);
	return v;
}

static char *tail_of(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return xstrdup("");
	char buf[8193];
	struct stat st;
	off_t off = fstat(fd, &st) == 0 && st.st_size > 8192 ? st.st_size - 8192 : 0;
	ssize_t n = pread(fd, buf, 8192, off);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return xstrdup(buf);
}

char *drill_log_reason(const drill_run *d)
{
	char *t = tail_of(d->log);
	const char *last = NULL, *fatal = NULL;
	for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
		last = line;
		if (strstr(line, "FATAL:") || strstr(line, "PANIC:"))
			fatal = line;
	}
	const char *pick = fatal ? fatal : last;
	char *out = xasprintf("%s (server log %s)", pick ? pick : "no server log", d->log);
	free(t);
	return out;
}

void drill_kill_copy(drill_run *d)
{
	char *path = xasprintf("%s/postmaster.pid", d->data);
	FILE *f = fopen(path, "re");
	long pid = 0;
	if (f) {
		if (fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	if (pid > 1 && kill((pid_t)pid, SIGQUIT) == 0)
		log_warning("drill %s: the scratch PostgreSQL (pid %ld) stopped at once", d->id,
		            pid);
	free(path);
}

static bool pid_file(const drill_run *d)
{
	char *path = xasprintf("%s/postmaster.pid", d->data);
	bool there = access(path, F_OK) == 0;
	free(path);
	return there;
}

/* ---- report and cleanup ---- */

static void report(drill_run *d)
{
	d->step = "done";
	drill_outcome o = {.ok = d->ok,
	                   .reason = d->reason ? d->reason : "",
	                   .rto_ms = d->rto_ms,
	                   .duration_ms = uv_now(d->loop) - d->t0,
	                   .tables = d->tables,
	                   .busy_tables = d->busy,
	                   .databases = (long long)d->ndbs};
	if (d->ok)
		log_info("drill %s: passed in %.1f s (RTO %.1f s): %s", d->id, o.duration_ms / 1e3,
		         o.rto_ms / 1e3, o.reason);
	else
		log_warning("drill %s: failed after %.1f s: %s", d->id, o.duration_ms / 1e3,
		            o.reason);
	d->done(&o, d->ud);
}

static void on_removed(drill_run *d, const job_result *r)
{
	if (r->status != 0) {
		char *why = job_describe(r);
		char *was = d->reason;
		d->reason =
		    xasprintf("%s%sthe scratch directory %s could not be removed: %s",
		              was && !d->ok ? was : "", was && !d->ok ? "; " : "", d->dir, why);
		d->ok = false;
		free(was);
		free(why);
	}
	report(d);
}

static void remove_dir(drill_run *d)
{
	drill_job(d, "removing the scratch directory",
	          argv_of((const char *const[]){"rm", "-rf", "--one-file-system", d->dir, NULL}),
	          DRILL_REMOVE_MS, on_removed);
}

static void on_stopped(drill_run *d, const job_result *r)
{
	if (r->status != 0 && pid_file(d))
		drill_kill_copy(d);
	d->pg_started = false;
	remove_dir(d);
}

void drill_cleanup(drill_run *d)
{
	if (d->cleaning)
		return;
	d->cleaning = true;
	uv_timer_stop(&d->timer);
	pgsession_free(d->sess);
	d->sess = NULL;
	if (!d->pg_started) {
		if (d->owns_dir)
			remove_dir(d);
		else
			report(d);
		return;
	}
	drill_job(d, "stopping the restored copy", stop_argv(d), DRILL_STOP_MS, on_stopped);
}

/* ---- prepare ---- */

static int make_dirs(drill_run *d, char **err)
{
	char *spool = xasprintf("%s/spool", d->dir);
	const char *dirs[] = {d->dir, d->data, spool};
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < 3; i++)
		if (mkdir(dirs[i], 0700) != 0) {
			err_set(err, "mkdir %s: %s", dirs[i], strerror(errno));
			rc = -1;
		}
	char *mark = xasprintf("%s/%s", d->dir, DRILL_MARK);
	static const char text[] = "a restore drill's scratch directory: tandemd removes it\n";
	if (rc == 0)
		rc = atomic_file_write(mark, text, strlen(text), 0600, err);
	free(mark);
	pgbr_pg pg = {.path = d->data, .port = DRILL_PORT, .socket_path = d->dir, .user = d->user};
	pgbr_conf_in in;
	if (rc == 0) {
		backup_conf_in(d->s, spool, &pg, 1, &in);
		in.archive_async = false;
		rc = pgbr_conf_write(d->conf, &in, err);
	}
	free(spool);
	return rc;
}

static void on_cleaned(drill_run *d, const job_result *r)
{
	if (r->status != 0) {
		char *why = job_describe(r);
		drill_fail(d, "removing the previous drill's scratch directory %s: %s", d->dir,
		           why);
		free(why);
		return;
	}
	char *err = NULL;
	if (make_dirs(d, &err) != 0) {
		drill_fail(d, "preparing the scratch directory: %s", err);
		free(err);
		return;
	}
	d->then_prepared(d);
}

static void on_leftover_stopped(drill_run *d, const job_result *r)
{
	(void)r;
	drill_job(d, "removing a leftover scratch directory",
	          argv_of((const char *const[]){"rm", "-rf", "--one-file-system", d->dir, NULL}),
	          DRILL_REMOVE_MS, on_cleaned);
}

/* 0 when the scratch directory is absent, empty or a drill's (its mark); else -1 with *why:
 * a path set by mistake to someone else's directory is never removed. */
static int check_dir(drill_run *d, char **why)
{
	struct stat st;
	if (lstat(d->dir, &st) != 0)
		return errno == ENOENT ? 0 : (err_set(why, "%s: %s", d->dir, strerror(errno)), -1);
	if (!S_ISDIR(st.st_mode)) {
		err_set(why, "%s is not a directory", d->dir);
		return -1;
	}
	char *mark = xasprintf("%s/%s", d->dir, DRILL_MARK);
	bool marked = access(mark, F_OK) == 0;
	free(mark);
	DIR *dh = marked ? NULL : opendir(d->dir);
	bool empty = true;
	for (struct dirent *e; dh && empty && (e = readdir(dh));)
		empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
	if (dh)
		closedir(dh);
	if (!marked && !empty) {
		err_set(why,
		        "%s exists and was not made by a drill (no %s in it): remove it, or set "
		        "backup.drill_path to a directory of its own",
		        d->dir, DRILL_MARK);
		return -1;
	}
	return 0;
}

void drill_prepare(drill_run *d, drill_then then)
{
	d->then_prepared = then;
	char *why = NULL;
	if (check_dir(d, &why) != 0) {
		drill_fail(d, "the scratch directory: %s", why);
		free(why);
		return;
	}
	d->owns_dir = true;
	if (pid_file(d)) {
		log_warning("drill %s: a scratch PostgreSQL left by an earlier drill is stopped",
		            d->id);
		drill_job(d, "stopping a leftover scratch copy", stop_argv(d), DRILL_STOP_MS,
		          on_leftover_stopped);
		return;
	}
	job_result ok = {.status = 0};
	on_leftover_stopped(d, &ok);
}

/* ---- restore, start, promotion ---- */

/* What the copy must never do (archive into the repository, run the member's archive cleanup,
 * replicate, listen on TCP), where it gets its WAL, and a small footprint beside the member's own
 * server, after everything it was restored with (postgresql.auto.conf is read last). */
static int write_copy_conf(drill_run *d, char **err)
{
	char *auto_conf = xasprintf("%s/postgresql.auto.conf", d->data);
	strbuf sb = STRBUF_INIT;
	int rc = access(auto_conf, F_OK) == 0 ? sb_read_file(&sb, auto_conf, 1 << 20, err) : 0;
	char *restore = xasprintf("%s --config=%s --stanza=%s archive-get %%f \"%%p\"",
	                          d->s->backup_command, d->conf, tandemd_backup_stanza(d->s));
	char *hba = xasprintf("%s/pg_hba.conf", d->dir);
	const char *set[][2] = {{"archive_mode", "off"},
	                        {"restore_command", restore},
	                        {"listen_addresses", ""},
	                        {"port", DRILL_PORT},
	                        {"unix_socket_directories", d->dir},
	                        {"hba_file", hba},
	                        {"primary_conninfo", ""},
	                        {"primary_slot_name", ""},
	                        {"synchronous_standby_names", ""},
	                        {"cluster_name", "tandem-drill"},
	                        {"archive_cleanup_command", ""},
	                        {"recovery_end_command", ""},
	                        {"hot_standby", "on"},
	                        {"ssl", "off"},
	                        {"logging_collector", "off"},
	                        /* Beside the member's own server on the same host: small. */
	                        {"shared_buffers", "128MB"},
	                        {"huge_pages", "try"},
	                        {"autovacuum", "off"},
	                        {"jit", "off"}};
	sb_puts(&sb, "\n# tandem restore drill: a scratch copy that never archives, never "
	             "replicates and listens on no TCP port\n");
	for (size_t i = 0; i < sizeof set / sizeof set[0]; i++) {
		char *q = pgctl_conf_quote(set[i][1]);
		sb_printf(&sb, "%s = %s\n", set[i][0], q);
		free(q);
	}
	static const char hba_text[] = "local all all trust\n";
	if (rc == 0)
		rc = atomic_file_write(auto_conf, sb.data, sb.len, 0600, err);
	if (rc == 0)
		rc = atomic_file_write(hba, hba_text, strlen(hba_text), 0600, err);
	sb_free(&sb);
	free(restore);
	free(hba);
	free(auto_conf);
	return rc;
}

static void on_recovery(const char *const *row, int nc, const char *err, void *ud);

static void ask_recovery(drill_run *d)
{
	drill_query(d, true, "postgres", "SELECT pg_is_in_recovery()::text", on_recovery);
}

static void on_recovery(const char *const *row, int nc, const char *err, void *ud)
{
	drill_run *d = ud;
	if (!err && nc >= 1 && row[0] && strcmp(row[0], "false") == 0) {
		d->rto_ms = uv_now(d->loop) - d->restore_t0;
		log_info("drill %s: the restored copy is promoted, %.1f s after the restore began",
		         d->id, d->rto_ms / 1e3);
		d->then_restored(d);
		return;
	}
	if (err && !pid_file(d)) {
		char *why = drill_log_reason(d);
		drill_fail(d, "the restored copy stopped before it reached %s: %s", d->target, why);
		free(why);
		return;
	}
	drill_after(d, DRILL_POLL_MS, ask_recovery);
}

static void on_started(drill_run *d, const job_result *r)
{
	if (r->status != 0) {
		char *why = drill_log_reason(d);
		char *how = job_describe(r);
		drill_fail(d, "the restored copy did not start (pg_ctl %s): %s", how, why);
		free(how);
		free(why);
		return;
	}
	d->step = "recovering to the restore point";
	ask_recovery(d);
}

/* pgBackRest's "ERROR: [NNN]: ..." line (its later lines are detail), else job_describe. */
static char *pgbr_reason(const job_result *r)
{
	const char *texts[] = {r->err_tail, r->out};
	for (size_t i = 0; i < 2; i++) {
		const char *e = texts[i] ? strstr(texts[i], "ERROR: [") : NULL;
		if (e && !r->timed_out)
			return xasprintf("exit %d: %.*s", r->status, (int)strcspn(e, "\n"), e);
	}
	return job_describe(r);
}

static void on_restore(drill_run *d, const job_result *r)
{
	if (r->status != 0) {
		char *why = pgbr_reason(r);
		drill_fail(d, "pgbackrest restore failed: %s", why);
		free(why);
		return;
	}
	char *err = NULL;
	if (write_copy_conf(d, &err) != 0) {
		drill_fail(d, "configuring the restored copy: %s", err);
		free(err);
		return;
	}
	char *p = pg_ctl(d);
	char *secs = xasprintf("%llu", (unsigned long long)(drill_left(d) / 1000 + 1));
	char **argv = argv_of((const char *const[]){p, "start", "-D", d->data, "-l", d->log, "-w",
	                                            "-t", secs, "-s", NULL});
	free(p);
	free(secs);
	d->pg_started = true;
	drill_job(d, "starting the restored copy", argv, drill_left(d) + 5000, on_started);
}

void drill_restore(drill_run *d, drill_then then)
{
	d->then_restored = then;
	char *target = xasprintf("--target=%s", d->target);
	const char *args[] = {"--type=name", target, "--target-action=promote"};
	char **argv = pgbr_argv(d->s->backup_command, d->conf, tandemd_backup_stanza(d->s),
	                        "restore", args, 3);
	free(target);
	d->restore_t0 = uv_now(d->loop);
	log_info("drill %s: restoring the latest backup to %s into %s", d->id, d->target, d->data);
	drill_job(d, "restoring the latest backup", argv, drill_left(d), on_restore);
}
