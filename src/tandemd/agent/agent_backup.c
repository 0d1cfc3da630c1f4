/* Archiving through pgBackRest from whoever leads (docs/backup.md, "Archiving"): the member's
 * pgbackrest.conf and spool, PostgreSQL's archive and restore settings, the stanza created once
 * from the leader when the repository is empty, archive continuity checked after every
 * promotion, and what /metrics shows (pg_stat_archiver, WAL waiting, WAL pgBackRest dropped,
 * archive-push's exit 45). Every pgbackrest call is a job (lib/job) with a deadline: nothing here
 * blocks the loop but reading small local files. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_backup.h"
#include "agent_priv.h"
#include "backup_options.h"
#include "backup_paths.h"
#include "clock.h"
#include "log.h"
#include "pgbr_archive.h"
#include "strbuf.h"

extern char **environ;

enum {
	WAL_SEG_SIZE = 16 * 1024 * 1024, /* initdb's default, which tandem's bootstrap keeps */
	CONTINUITY_WINDOW_MS = 60000,
	CONTINUITY_RETRY_MS = 3000,
	STANZA_RETRY_MS = 30000,
	STANZA_FOREIGN_RETRY_MS = 300000,
	SHORT_JOB_MS = 120000,
	LOG_READ_MAX = 1 << 20,
};

typedef enum { ST_UNKNOWN, ST_OK, ST_FOREIGN } stanza_state;

/* One pgbackrest call in flight; `b` is NULL once the agent let go of it. */
struct bjob {
	agent_backup *b;
};

static void job_done(const job_result *r, void *ud)
{
	bjob *bj = ud;
	agent_backup *b = bj->b;
	free(bj);
	if (!b)
		return;
	b->running = NULL;
	b->running_job = NULL;
	void (*then)(agent *, const job_result *) = b->then;
	b->then = NULL;
	then(b->a, r);
}

int agent_backup_run(agent *a, const char *verb, const char *const *args, size_t nargs,
                     bool with_stanza, uint64_t timeout_ms,
                     void (*then)(agent *a, const job_result *r), char **err)
{
	agent_backup *b = a->backup;
	if (b->running) {
		err_set(err, "a pgbackrest command runs already");
		return -1;
	}
	char **argv =
	    pgbr_argv(b->program, b->conf, with_stanza ? b->stanza : NULL, verb, args, nargs);
	/* A restore writes the data directory: through the fence (`tandemd-fence exec`), it gets
	 * SIGQUIT from the kernel when the agent dies, and never works on under the next agent. */
	char **run = strcmp(verb, "restore") == 0 ? pgctl_fenced_argv_(a->pc, argv) : NULL;
	bjob *bj = xcalloc(1, sizeof *bj);
	bj->b = b;
	job_spec js = {.argv = run ? run : argv,
	               .env = b->env,
	               .timeout_ms = timeout_ms,
	               .done = job_done,
	               .ud = bj};
	b->then = then;
	b->running = job_start(a->loop, &js, err);
	b->running_job = bj;
	free(run); /* its strings are argv's */
	pgbr_argv_free(argv);
	if (!b->running) {
		free(bj);
		b->running_job = NULL;
		b->then = NULL;
		return -1;
	}
	return 0;
}

/* ---- setup ---- */

/* backup.command as an absolute path (the fence runs programs with execv): looked up in PATH
 * when it names no directory; as given when it is not found (the job's spawn reports it). */
static char *program_path(const char *command)
{
	if (strchr(command, '/'))
		return xstrdup(command);
	const char *path = getenv("PATH");
	char *dirs = xstrdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	char *found = NULL;
	for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d && !found;
	     d = strtok_r(NULL, ":", &save)) {
		char *p = xasprintf("%s/%s", d, command);
		if (access(p, X_OK) == 0)
			found = p;
		else
			free(p);
	}
	free(dirs);
	return found ? found : xstrdup(command);
}

static char **job_env(const char *passfile)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = xcalloc(n + 2, sizeof *env);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "PGPASSFILE=", 11) != 0)
			env[k++] = xstrdup(environ[i]);
	env[k++] = xasprintf("PGPASSFILE=%s", passfile);
	env[k] = NULL;
	return env;
}

static int64_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

int agent_backup_write_conf(agent *a, char **err)
{
	agent_backup *b = a->backup;
	if (!b)
		return 0;
	pgbr_pg pg = {
	    .path = a->s->data_dir, .port = a->port, .socket_path = a->sockdir, .user = a->su_user};
	pgbr_conf_in in;
	backup_conf_in(a->s, b->spool, &pg, 1, &in);
	return pgbr_conf_write(b->conf, &in, err);
}

static int mkdir_private(const char *dir, char **err)
{
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		err_set(err, "backup: mkdir %s: %s", dir, strerror(errno));
		return -1;
	}
	if (chmod(dir, 0700) != 0) {
		err_set(err, "backup: chmod %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

int agent_backup_new(agent *a, char **err)
{
	const tandemd_settings *s = a->s;
	if (!tandemd_backup_on(s))
		return 0;
	if (s->pgbackrest_method_command)
		log_warning("postgresql.pgbackrest.command is not run: tandemd runs `pgbackrest "
		            "restore --delta --type=standby` with its own configuration");
	agent_backup *b = xcalloc(1, sizeof *b);
	a->backup = b;
	b->a = a;
	b->stanza = xstrdup(tandemd_backup_stanza(s));
	b->conf = backup_conf_path(s);
	b->program = program_path(s->backup_command);
	b->spool = backup_spool_path(s);
	b->conflict = xasprintf("%s/%s", b->spool, PGBR_CONFLICT_FILE);
	b->archive_cmd = pgbr_archive_command(b->program, b->conf, b->stanza, b->conflict);
	b->restore_cmd = pgbr_restore_command(b->program, b->conf, b->stanza);
	b->timeout = xasprintf("%llds", (s->backup_archive_timeout + 999) / 1000);
	b->env = job_env(a->passfile);
	b->st.continuity_ok = true;
	b->logs[0] = xasprintf("%s/log/%s-archive-push.log", b->spool, b->stanza);
	b->logs[1] = xasprintf("%s/log/%s-archive-push-async.log", b->spool, b->stanza);
	/* What the logs said before this start was alerted on by the previous run. */
	for (int i = 0; i < 2; i++)
		b->log_off[i] = file_size(b->logs[i]);
	if (mkdir_private(b->spool, err) != 0)
		return -1;
	char *logdir = xasprintf("%s/log", b->spool);
	int r = mkdir_private(logdir, err);
	free(logdir);
	if (r != 0 || agent_backup_write_conf(a, err) != 0)
		return -1;
	log_info("backups: archiving into stanza %s through %s", b->stanza, b->conf);
	return 0;
}

void agent_backup_free(agent *a)
{
	agent_backup *b = a->backup;
	if (!b)
		return;
	if (b->running) {
		b->running_job->b = NULL; /* its end finds nobody */
		job_cancel(b->running);
	}
	free(b->stanza);
	free(b->program);
	free(b->conf);
	free(b->spool);
	free(b->conflict);
	free(b->archive_cmd);
	free(b->restore_cmd);
	free(b->timeout);
	for (size_t i = 0; b->env[i]; i++)
		free(b->env[i]);
	free(b->env);
	free(b->logs[0]);
	free(b->logs[1]);
	free(b);
	a->backup = NULL;
}

size_t agent_backup_params(const agent *a, pgctl_param *out)
{
	const agent_backup *b = a->backup;
	if (!b)
		return 0;
	/* archive_mode on everywhere: only a primary archives, and a promoted replica starts
	 * at once, without a restart. */
	out[0] = (pgctl_param){"archive_mode", "on"};
	out[1] = (pgctl_param){"archive_command", b->archive_cmd};
	out[2] = (pgctl_param){"restore_command", b->restore_cmd};
	out[3] = (pgctl_param){"archive_timeout", b->timeout};
	return AGENT_BACKUP_NPARAMS;
}

const agent_archive_status *agent_backup_status(const agent *a)
{
	return a->backup ? &a->backup->st : NULL;
}

/* ---- the stanza, from the leader ---- */

static void stanza_retry(agent_backup *b, uint64_t in_ms)
{
	b->stanza_next_ms = clock_mono_ms() + in_ms;
}

static void on_check(agent *a, const job_result *r)
{
	agent_backup *b = a->backup;
	char *d = job_describe(r);
	if (r->status == 0 && !r->timed_out) {
		b->stanza_state = ST_OK;
		b->st.stanza_ok = true;
		log_info("backups: stanza %s checked: WAL reaches the repository", b->stanza);
	} else {
		log_error("backups: pgbackrest check of stanza %s: %s", b->stanza, d);
		stanza_retry(b, STANZA_RETRY_MS);
	}
	free(d);
}

static void run_check(agent *a)
{
	char *e = NULL;
	uint64_t t = (uint64_t)a->s->backup_archive_timeout + SHORT_JOB_MS;
	if (agent_backup_run(a, "check", NULL, 0, true, t, on_check, &e) != 0) {
		log_error("backups: pgbackrest check: %s", e);
		free(e);
		stanza_retry(a->backup, STANZA_RETRY_MS);
	}
}

static void on_create(agent *a, const job_result *r)
{
	agent_backup *b = a->backup;
	if (r->status != 0 || r->timed_out) {
		char *d = job_describe(r);
		log_error("backups: pgbackrest stanza-create %s: %s", b->stanza, d);
		free(d);
		stanza_retry(b, STANZA_RETRY_MS);
		return;
	}
	log_info("backups: stanza %s created", b->stanza);
	run_check(a);
}

static void on_info(agent *a, const job_result *r)
{
	agent_backup *b = a->backup;
	pgbr_info in;
	char *e = NULL;
	if (r->status != 0 || r->timed_out || pgbr_info_parse(r->out, b->stanza, &in, &e) != 0) {
		char *d = job_describe(r);
		log_error("backups: pgbackrest info: %s%s%s", d, e ? ": " : "", e ? e : "");
		free(d);
		free(e);
		stanza_retry(b, STANZA_RETRY_MS);
		return;
	}
	bool exists = pgbr_info_exists(&in);
	char *foreign = in.system_id && a->sysid && strcmp(in.system_id, a->sysid) != 0
	                    ? xstrdup(in.system_id)
	                    : NULL;
	pgbr_info_free(&in);
	if (!exists) {
		log_info("backups: stanza %s is not in the repository: creating it", b->stanza);
		if (agent_backup_run(a, "stanza-create", NULL, 0, true, SHORT_JOB_MS, on_create,
		                     &e) != 0) {
			log_error("backups: pgbackrest stanza-create: %s", e);
			free(e);
			stanza_retry(b, STANZA_RETRY_MS);
		}
		return;
	}
	if (foreign) {
		if (b->stanza_state != ST_FOREIGN)
			log_error(
			    "backups: stanza %s in the repository belongs to another database "
			    "(system id %s; this cluster's is %s): not archiving into it, WAL "
			    "is refused; give backup.stanza a new name or use another "
			    "repository path",
			    b->stanza, foreign, a->sysid);
		free(foreign);
		b->stanza_state = ST_FOREIGN;
		b->st.stanza_ok = false;
		stanza_retry(b, STANZA_FOREIGN_RETRY_MS);
		return;
	}
	run_check(a);
}

static void stanza_step(agent *a)
{
	agent_backup *b = a->backup;
	if (b->stanza_state == ST_OK || !a->sysid || clock_mono_ms() < b->stanza_next_ms)
		return;
	static const char *const args[] = {"--output=json"};
	char *e = NULL;
	if (agent_backup_run(a, "info", args, 1, true, SHORT_JOB_MS, on_info, &e) != 0) {
		log_error("backups: pgbackrest info: %s", e);
		free(e);
		stanza_retry(b, STANZA_RETRY_MS);
	}
}

/* ---- continuity after a promotion ---- */

void agent_backup_promoted(agent *a, int64_t timeline, bool site)
{
	agent_backup *b = a->backup;
	if (!b || timeline < 2)
		return;
	/* A site promotion: the timelines before this one were archived by the other site, into
	 * its own repository; this site's begins here. A full backup now, rather than at the next
	 * scheduled time, is what makes it restorable. */
	if (site) {
		char *id = NULL, *e = NULL;
		b->st.continuity_ok =
		    true; /* nothing in this repository for the switch to continue */
		if (agent_runner_request(a, "full", "the site's promotion", &id, &e) == 0)
			log_info("backups: this site was promoted: its repository continues from "
			         "timeline "
			         "%" PRId64
			         " (the earlier ones are in the other site's); full backup %s "
			         "requested",
			         timeline, id);
		else
			log_error("backups: this site was promoted, but a full backup could not be "
			          "requested: %s",
			          e);
		free(id);
		free(e);
		return;
	}
	b->cont_timeline = timeline;
	b->cont_deadline_ms = clock_mono_ms() + CONTINUITY_WINDOW_MS;
	b->cont_next_ms = 0;
	b->cont_pushed = false;
	log_info("backups: checking archive continuity into timeline %" PRId64 " (within %d s)",
	         timeline, CONTINUITY_WINDOW_MS / 1000);
}

static void continuity_verdict(agent_backup *b, bool ok, const char *why)
{
	b->st.continuity_ok = ok;
	if (ok)
		log_info("backups: archive continuity into timeline %" PRId64
		         " checked: the history file and the previous timeline's last segments are "
		         "in the repository",
		         b->cont_timeline);
	else
		log_error("backups: archive continuity into timeline %" PRId64
		          " NOT proven within %d s: %s; point-in-time recovery across this switch "
		          "may be impossible until the next backup",
		          b->cont_timeline, CONTINUITY_WINDOW_MS / 1000, why);
	b->cont_timeline = 0;
}

static void on_own_push(agent *a, const job_result *r)
{
	agent_backup *b = a->backup;
	if (r->status == 0 && !r->timed_out) {
		log_info(
		    "backups: pushed the previous timeline's last full segment from our pg_wal");
	} else {
		char *why = job_describe(r);
		log_error(
		    "backups: pushing the previous timeline's last full segment from our "
		    "pg_wal: %s%s",
		    why,
		    r->status == PGBR_EXIT_DUPLICATE
		        ? " (the repository holds another copy of it: two primaries wrote it?)"
		        : "");
		free(why);
	}
	b->cont_next_ms = 0; /* list again at once */
}

/* The old primary died before archiving its last full segment (it switched WAL, then was
 * killed): nobody else archives it, and the archive has a hole before our timeline. We replayed
 * past its end, so our pg_wal holds it whole: push it ourselves, once. */
static bool push_own_segment(agent *a, const char *listing)
{
	agent_backup *b = a->backup;
	char seg[25];
	if (b->cont_pushed || !pgbr_continuity_own_segment(&b->cont, listing, seg))
		return false;
	char *path = xasprintf("%s/pg_wal/%s", a->s->data_dir, seg);
	struct stat st;
	bool there = stat(path, &st) == 0 && st.st_size == WAL_SEG_SIZE;
	char *e = NULL;
	const char *args[] = {"--no-archive-async", path};
	bool started = there && agent_backup_run(a, "archive-push", args, 2, true, SHORT_JOB_MS,
	                                         on_own_push, &e) == 0;
	if (there && !started) {
		log_warning("backups: pgbackrest archive-push %s: %s", seg, e);
		free(e);
	}
	if (started)
		log_warning("backups: %s (the previous timeline's last full segment) is not in the "
		            "repository: pushing our copy",
		            seg);
	b->cont_pushed = true;
	free(path);
	return started;
}

static void on_listing(agent *a, const job_result *r)
{
	agent_backup *b = a->backup;
	if (!b->cont_timeline)
		return;
	char *missing = NULL;
	bool listed = r->status == 0 && !r->timed_out;
	bool ok = listed && pgbr_continuity_check(&b->cont, r->out ? r->out : "", &missing);
	if (ok) {
		continuity_verdict(b, true, NULL);
		return;
	}
	if (listed && push_own_segment(a, r->out ? r->out : "")) {
		free(missing);
		return;
	}
	char *why = missing ? xasprintf("not in the repository: %s", missing) : job_describe(r);
	free(missing);
	if (clock_mono_ms() >= b->cont_deadline_ms)
		continuity_verdict(b, false, why);
	else
		b->cont_next_ms = clock_mono_ms() + CONTINUITY_RETRY_MS;
	free(why);
}

static void continuity_step(agent *a)
{
	agent_backup *b = a->backup;
	uint64_t now = clock_mono_ms();
	if (!b->cont_timeline || now < b->cont_next_ms)
		return;
	char *path = xasprintf("%s/pg_wal/%08" PRIX64 ".history", a->s->data_dir,
	                       (uint64_t)b->cont_timeline);
	strbuf h = STRBUF_INIT;
	char *e = NULL;
	if (sb_read_file(&h, path, 1 << 20, &e) != 0 ||
	    pgbr_continuity_files(h.data, b->cont_timeline, WAL_SEG_SIZE, &b->cont, &e) != 0) {
		continuity_verdict(b, false, e);
		free(e);
		free(path);
		sb_free(&h);
		return;
	}
	free(path);
	sb_free(&h);
	char *filter = pgbr_continuity_filter(&b->cont);
	char *opt = xasprintf("--filter=%s", filter);
	char *dir = xasprintf("archive/%s", b->stanza);
	const char *args[] = {"--recurse", opt, dir};
	b->cont_next_ms = now + CONTINUITY_RETRY_MS;
	if (agent_backup_run(a, "repo-ls", args, 3, false, SHORT_JOB_MS, on_listing, &e) != 0) {
		log_warning("backups: pgbackrest repo-ls: %s", e);
		free(e);
	}
	free(filter);
	free(opt);
	free(dir);
}

/* ---- what /metrics shows ---- */

static int64_t count_ready(const agent *a)
{
	char *dir = xasprintf("%s/pg_wal/archive_status", a->s->data_dir);
	DIR *d = opendir(dir);
	free(dir);
	if (!d)
		return 0;
	int64_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l > 6 && strcmp(de->d_name + l - 6, ".ready") == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* The bytes of `path` from *off on (at most LOG_READ_MAX); *off moves past them. A file that
 * shrank was replaced: read from its start. */
static char *read_new(const char *path, int64_t *off, size_t *len)
{
	int64_t size = file_size(path);
	if (size < *off)
		*off = 0;
	*len = 0;
	if (size == *off)
		return NULL;
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	size_t want = (size_t)(size - *off) < LOG_READ_MAX ? (size_t)(size - *off) : LOG_READ_MAX;
	char *buf = xcalloc(1, want + 1);
	if (fseek(f, (long)*off, SEEK_SET) == 0)
		*len = fread(buf, 1, want, f);
	fclose(f);
	*off += (int64_t)*len;
	return buf;
}

static void scan_conflicts(agent_backup *b)
{
	size_t len;
	char *text = read_new(b->conflict, &b->conflict_off, &len);
	b->st.conflict = file_size(b->conflict) > 0;
	if (!text)
		return;
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		b->st.conflicts++;
		log_error(
		    "backups: archive-push exited 45 for WAL file %.64s: the repository holds "
		    "it with another checksum, so two primaries wrote this timeline (split "
		    "brain) or another cluster archives into stanza %s; nothing is "
		    "overwritten; investigate, then remove %s",
		    l, b->stanza, b->conflict);
	}
	free(text);
}

static void scan_dropped(agent_backup *b)
{
	for (int i = 0; i < 2; i++) {
		size_t len;
		char *text = read_new(b->logs[i], &b->log_off[i], &len);
		size_t n = text ? pgbr_count_dropped(text, len) : 0;
		free(text);
		if (!n)
			continue;
		b->st.dropped += n;
		log_error(
		    "backups: pgBackRest dropped %zu WAL file(s) because the archive queue "
		    "exceeded backup.archive_push_queue_max (the repository is unreachable or "
		    "slow): point-in-time recovery has a gap until the next full backup (%s)",
		    n, b->logs[i]);
	}
}

static void on_archiver(const char *const *row, int ncols, const char *err, void *ud)
{
	agent *a = ud;
	agent_backup *b = a->backup;
	if (!b)
		return;
	if (err || ncols < 4) {
		b->st.archiver_known = false;
		return;
	}
	agent_archive_status *st = &b->st;
	int64_t failed_before = st->failed;
	bool known_before = st->archiver_known;
	st->archiver_known = true;
	st->archived = row[0] ? strtoll(row[0], NULL, 10) : 0;
	st->failed = row[1] ? strtoll(row[1], NULL, 10) : 0;
	st->last_archived_unix_s = row[2] ? strtoll(row[2], NULL, 10) : 0;
	st->last_failed_unix_s = row[3] ? strtoll(row[3], NULL, 10) : 0;
	if (known_before && st->failed > failed_before)
		log_warning("backups: archive_command failed %" PRId64
		            " time(s) more (%s); %" PRId64 " WAL file(s) wait",
		            st->failed - failed_before, ncols > 4 && row[4] ? row[4] : "?",
		            st->ready);
}

static const char archiver_sql[] =
    "SELECT archived_count, failed_count, extract(epoch FROM last_archived_time)::bigint,"
    " extract(epoch FROM last_failed_time)::bigint, last_failed_wal FROM pg_stat_archiver";

void agent_backup_tick(agent *a)
{
	agent_backup *b = a->backup;
	if (!b || a->stopping)
		return;
	uint64_t now = clock_mono_ms();
	if (b->last_scan_ms && now - b->last_scan_ms < a->hc.loop_wait_ms)
		return;
	b->last_scan_ms = now;
	b->st.ready = count_ready(a);
	scan_conflicts(b);
	scan_dropped(b);
	ha_pg_state pg = agent_pg_state(a);
	char *e = NULL;
	if ((pg == HA_PG_PRIMARY || pg == HA_PG_REPLICA) &&
	    pgctl_ask(a->pc, a->local_conninfo, archiver_sql, a->hc.retry_timeout_ms, on_archiver,
	              a, &e) != 0) {
		log_debug("pg_stat_archiver: %s", e);
		free(e);
	}
	bool leading = pg == HA_PG_PRIMARY && agent_holds_key(a);
	if (!leading) {
		b->cont_timeline = 0; /* the next leader checks its own switch */
		return;
	}
	if (b->running)
		return;
	if (b->cont_timeline)
		continuity_step(a);
	if (!b->running)
		stanza_step(a);
}
