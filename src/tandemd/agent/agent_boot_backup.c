/* bootstrap.method pgbackrest: the first member of a new cluster restores another cluster's
 * backup (bootstrap.pgbackrest.stanza, in the repository of backup.pgbackrest) into its empty data
 * directory, recovers to the target of bootstrap.pgbackrest.recovery_conf and is promoted there;
 * the bootstrap then goes on as after initdb (roles, leader key, `initialize`, `config`).
 *
 * Refused before anything is written: a data directory that is not empty, a stanza of the new
 * cluster (backup.stanza) that already holds backups or WAL (two clusters archiving the same
 * timelines into one stanza corrupt it), a source stanza that is missing or has no backup, a
 * target before its oldest backup. A failure after the restore started moves the data aside.
 * Any failure stops tandemd (exit 1), as Patroni does: a bootstrap from a backup that failed is
 * not retried in a loop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_priv.h"
#include "backup_options.h"
#include "backup_paths.h"
#include "bootstrap_options.h"
#include "job.h"
#include "log.h"
#include "pgbr_conf.h"
#include "pgbr_restore.h"
#include "strbuf.h"

enum {
	INFO_TIMEOUT_MS = 120000,
	POLL_MS = 500,
	QUERY_TIMEOUT_MS = 5000,
};

/* What pgBackRest wrote into postgresql.auto.conf for the recovery: removed once promoted, so
 * that a later replica of this member does not stop at the target or fetch from the old stanza. */
static const char *const recovery_settings[] = {
    "restore_command",        "recovery_target",          "recovery_target_time",
    "recovery_target_lsn",    "recovery_target_name",     "recovery_target_xid",
    "recovery_target_action", "recovery_target_timeline", "recovery_target_inclusive",
};

static void fail(agent *a, const char *what, const char *err)
{
	a->boot_fatal = true;
	if (a->restore_conf)
		unlink(a->restore_conf);
	agent_boot_fail(a, what, err);
}

/* The last FATAL/PANIC/ERROR lines of PostgreSQL's log (caller frees); NULL: none. */
static char *pg_log_reason(const agent *a)
{
	char *path = xasprintf("%s.log", a->s->data_dir);
	FILE *f = fopen(path, "re");
	free(path);
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > 16384)
		fseek(f, -16384, SEEK_END);
	else
		rewind(f);
	char line[1024];
	char *last[3] = {NULL, NULL, NULL};
	while (fgets(line, sizeof line, f)) {
		if (!strstr(line, "FATAL:") && !strstr(line, "PANIC:") && !strstr(line, "ERROR:"))
			continue;
		line[strcspn(line, "\n")] = '\0';
		free(last[0]);
		last[0] = last[1];
		last[1] = last[2];
		last[2] = xstrdup(line);
	}
	fclose(f);
	strbuf sb = STRBUF_INIT;
	for (int i = 0; i < 3; i++)
		if (last[i]) {
			sb_printf(&sb, "%s%s", sb.len ? "; " : "", last[i]);
			free(last[i]);
		}
	return sb.len ? sb_steal(&sb) : (sb_free(&sb), NULL);
}

static void recovery_failed(agent *a, const char *what)
{
	char *why = pg_log_reason(a);
	fail(a, what, why ? why : "see PostgreSQL's log");
	free(why);
}

static void reset_next(agent *a);

static void on_reset(const char *const *row, int ncols, const char *err, void *ud)
{
	agent *a = ud;
	(void)row;
	(void)ncols;
	if (err)
		log_warning("bootstrap: removing %s from postgresql.auto.conf: %s",
		            recovery_settings[a->restore_step], err);
	a->restore_step++;
	reset_next(a);
}

static void reset_next(agent *a)
{
	size_t n = sizeof recovery_settings / sizeof recovery_settings[0];
	if ((size_t)a->restore_step < n) {
		char *sql = xasprintf("ALTER SYSTEM RESET %s", recovery_settings[a->restore_step]);
		pgctl_query(a->loop, a->local_conninfo, sql, QUERY_TIMEOUT_MS, on_reset, a);
		free(sql);
		return;
	}
	log_info("bootstrap: the recovery settings are removed from postgresql.auto.conf");
	unlink(a->restore_conf);
	free(a->restore_conf);
	a->restore_conf = NULL;
	agent_boot_ready(a, true);
}

static void poll_later(agent *a);

static void on_poll(const char *const *row, int ncols, const char *err, void *ud)
{
	agent *a = ud;
	if (!err && ncols >= 1 && row[0] && strcmp(row[0], "f") == 0) {
		log_info("bootstrap: recovery reached its target and PostgreSQL was promoted");
		a->restore_step = 0;
		reset_next(a);
		return;
	}
	poll_later(a);
}

static void on_poll_timer(uv_timer_t *t)
{
	agent *a = t->data;
	if (!pgctl_running(a->pc)) {
		recovery_failed(a,
		                "recovery from the backup: PostgreSQL stopped before the target");
		return;
	}
	if (a->stopping) {
		fail(a, "recovery from the backup", "tandemd is stopping");
		return;
	}
	pgctl_query(a->loop, a->local_conninfo, "SELECT pg_is_in_recovery()", QUERY_TIMEOUT_MS,
	            on_poll, a);
}

static void poll_later(agent *a)
{
	uv_timer_start(&a->wait, on_poll_timer, POLL_MS, 0);
}

static void on_recovery_started(agent *a, bool ok)
{
	if (!ok) {
		recovery_failed(a, "recovery from the backup: PostgreSQL did not start");
		return;
	}
	log_info("bootstrap: PostgreSQL recovers from the archive towards the target");
	poll_later(a);
}

static void on_restored(const job_result *r, void *ud)
{
	agent *a = ud;
	a->boot_job = NULL;
	if (r->status != 0) {
		char *why = job_describe(r);
		fail(a, "pgbackrest restore", why);
		free(why);
		return;
	}
	log_info("bootstrap: pgbackrest restore done in %llu ms; starting PostgreSQL to recover",
	         (unsigned long long)r->elapsed_ms);
	char *e = NULL;
	if (agent_start_pg(a, false, NULL, on_recovery_started, &e) != 0) {
		fail(a, "starting PostgreSQL to recover", e);
		free(e);
	}
}

static int run_pgbackrest(agent *a, const char *stanza, const char *verb, char **args, size_t nargs,
                          uint64_t timeout_ms, job_done_cb done, char **err)
{
	char **argv = pgbr_argv(a->s->backup_command, a->restore_conf, stanza, verb,
	                        (const char *const *)args, nargs);
	job_spec js = {.argv = argv, .timeout_ms = timeout_ms, .done = done, .ud = a};
	a->boot_job = job_start(a->loop, &js, err);
	pgbr_argv_free(argv);
	return a->boot_job ? 0 : -1;
}

/* The repository allows it: our stanza is empty, theirs has a backup before the target. */
static char *refusal(agent *a, const char *json, const bootstrap_target *t)
{
	const char *ours = tandemd_backup_stanza(a->s), *from = a->s->bootstrap_pgbackrest_stanza;
	pgbr_info mine, src;
	char *e = NULL;
	if (pgbr_info_parse(json, ours, &mine, &e) != 0)
		return e;
	bool empty = pgbr_info_empty(&mine);
	pgbr_info_free(&mine);
	if (!empty)
		return xasprintf("this cluster's stanza '%s' already holds backups or WAL in the "
		                 "repository: a new cluster archives into a new, empty stanza (set "
		                 "backup.stanza)",
		                 ours);
	if (pgbr_info_parse(json, from, &src, &e) != 0)
		return e;
	char *why = pgbr_info_unusable(&src, from);
	if (!why)
		why = pgbr_target_too_early(&src, t);
	pgbr_info_free(&src);
	return why;
}

static void on_info(const job_result *r, void *ud)
{
	agent *a = ud;
	bootstrap_target t;
	char *e = NULL;
	a->boot_job = NULL;
	if (a->stopping) {
		fail(a, "bootstrap from a backup", "tandemd is stopping");
		return;
	}
	if (r->status != 0) {
		char *why = job_describe(r);
		fail(a, "pgbackrest info", why);
		free(why);
		return;
	}
	if (bootstrap_recovery_target(&a->s->bootstrap_pgbackrest_recovery_conf, &t, &e) != 0 ||
	    (e = refusal(a, r->out, &t)) != NULL) {
		fail(a, "bootstrap from a backup refused", e);
		free(e);
		return;
	}
	size_t nargs;
	char **args = pgbr_restore_args(&t, &nargs);
	log_info("bootstrap: restoring stanza %s (--type=%s%s%s) into %s",
	         a->s->bootstrap_pgbackrest_stanza, t.type, t.target ? " --target=" : "",
	         t.target ? t.target : "", a->s->data_dir);
	agent_boot_mark(a, "a restore"); /* from here, what is in the data directory is ours */
	int rc = run_pgbackrest(a, a->s->bootstrap_pgbackrest_stanza, "restore", args, nargs, 0,
	                        on_restored, &e);
	pgbr_argv_free(args);
	if (rc != 0) {
		fail(a, "pgbackrest restore", e);
		free(e);
	}
}

static int write_conf(agent *a, char **err)
{
	const tandemd_settings *s = a->s;
	char *spool = backup_spool_path(s);
	const char *dirs[] = {spool, s->data_dir}; /* pgBackRest restores into an existing one */
	for (size_t i = 0; i < 2; i++)
		if (mkdir(dirs[i], 0700) != 0 && errno != EEXIST) {
			err_set(err, "mkdir %s: %s", dirs[i], strerror(errno));
			free(spool);
			return -1;
		}
	pgbr_pg pg = {
	    .path = s->data_dir, .port = a->port, .socket_path = a->sockdir, .user = a->su_user};
	pgbr_conf_in in;
	backup_conf_in(s, spool, &pg, 1, &in);
	in.stanza = s->bootstrap_pgbackrest_stanza;
	in.archive_async = false; /* archive-get of the recovery: no spool queue needed */
	free(a->restore_conf);
	a->restore_conf = xasprintf("%s.pgbackrest-bootstrap.conf", s->data_dir);
	int rc = pgbr_conf_write(a->restore_conf, &in, err);
	free(spool);
	return rc;
}

void agent_boot_restore(agent *a)
{
	const tandemd_settings *s = a->s;
	a->doing = "running custom bootstrap script";
	a->boot_ran_initdb = false;
	if (agent_has_data(a)) {
		char *why = xasprintf("the data directory %s is not empty: a restore needs an "
		                      "empty one (move it aside)",
		                      s->data_dir);
		fail(a, "bootstrap from a backup refused", why);
		free(why);
		return;
	}
	if (s->bootstrap_pgbackrest_command)
		log_warning("bootstrap.pgbackrest.command is not run: tandemd runs pgbackrest "
		            "restore itself with the target of bootstrap.pgbackrest.recovery_conf");
	char *e = NULL;
	char *args[] = {"--output=json"};
	if (write_conf(a, &e) != 0 ||
	    run_pgbackrest(a, NULL, "info", args, 1, INFO_TIMEOUT_MS, on_info, &e) != 0) {
		fail(a, "bootstrap from a backup", e);
		free(e);
		return;
	}
	log_info("bootstrap from a backup: checking the repository (stanza %s to restore, stanza "
	         "%s for this cluster)",
	         s->bootstrap_pgbackrest_stanza, tandemd_backup_stanza(s));
}
