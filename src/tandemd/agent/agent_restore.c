/* Replicas from the repository (docs/backup.md, "Replicas from the repository"): when
 * postgresql.create_replica_methods lists pgbackrest first, a new or rebuilt member runs
 * `pgbackrest restore --delta --type=standby` into its data directory, then streams from the
 * leader like any replica; basebackup, when listed after it, is the fallback. A former primary
 * that pg_rewind could not repair keeps its files for the delta restore (with keep_data): only
 * the files that differ from the backup are copied, the rest is checksummed in place. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent_backup.h"
#include "agent_priv.h"
#include "backup_options.h"
#include "log.h"
#include "pgbr_info.h"
#include "proc.h"
#include "strbuf.h"

enum { RESTORE_TIMEOUT_MS = 24 * 3600 * 1000, RESTORE_INFO_MS = 60 * 1000 };

bool agent_backup_restore_first(const agent *a)
{
	const cfg_list *m = &a->s->create_replica_methods;
	return a->backup && m->n > 0 && strcmp(m->v[0], "pgbackrest") == 0;
}

bool agent_backup_keeps_data(const agent *a)
{
	return agent_backup_restore_first(a) && a->s->pgbackrest_keep_data;
}

static char *marker_path(const agent *a)
{
	return xasprintf("%s.pgbackrest-restore", a->s->data_dir);
}

bool agent_backup_restore_interrupted(const agent *a)
{
	char *p = marker_path(a);
	struct stat st;
	bool there = lstat(p, &st) == 0;
	free(p);
	return there;
}

void agent_backup_restore_forget(const agent *a)
{
	char *p = marker_path(a);
	if (unlink(p) != 0 && errno != ENOENT)
		log_warning("removing %s: %s", p, strerror(errno));
	free(p);
}

/* The note kept beside the data directory while a restore runs: what was there before. */
static int write_marker(agent *a, char **err)
{
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
	char *text =
	    xasprintf("pgbackrest restore --delta started by tandemd at %s, not finished\n"
	              "before: system id %s, timeline %" PRId64 ", checkpoint %" PRIX64 "\n",
	              ts, a->ctl_ok ? a->ctl.sysid : "unknown", a->ctl_ok ? a->ctl.timeline : 0,
	              a->ctl_ok ? a->ctl.checkpoint_lsn : 0);
	char *p = marker_path(a);
	int r = pgctl_write_file_(p, text, strlen(text), err);
	free(p);
	free(text);
	return r;
}

/* pgbackrest restore --type=standby appends restore_command to postgresql.auto.conf, which
 * PostgreSQL reads after tandem.conf: remove it, so that tandem's own stays the one in force. */
static void strip_auto_conf(agent *a)
{
	char *path = xasprintf("%s/postgresql.auto.conf", a->s->data_dir);
	strbuf f = STRBUF_INIT;
	char *e = NULL;
	if (sb_read_file(&f, path, 1 << 20, &e) == 0) {
		char *clean = pgbr_strip_recovery(f.data ? f.data : "");
		if (strcmp(clean, f.data ? f.data : "") != 0 &&
		    pgctl_write_file_(path, clean, strlen(clean), &e) != 0) {
			log_warning("%s", e);
			free(e);
		}
		free(clean);
	} else {
		free(e);
	}
	sb_free(&f);
	free(path);
}

static void on_restore(agent *a, const job_result *r)
{
	agent_backup *b = a->backup;
	void (*done)(agent *, bool) = b->restored;
	b->restored = NULL;
	bool ok = r->status == 0 && !r->timed_out && !r->cancelled;
	if (ok) {
		strip_auto_conf(a);
		agent_backup_restore_forget(a);
		b->st.restores++;
		log_info(
		    "pgbackrest restore succeeded in %.1f s: the data directory is a replica of "
		    "the repository's latest backup",
		    (double)r->elapsed_ms / 1000.0);
	} else {
		b->st.restore_failures++;
		char *d = job_describe(r);
		log_error("pgbackrest restore: %s", d);
		free(d);
	}
	done(a, ok);
}

/* pgBackRest refuses a data directory with postmaster.pid. PostgreSQL is stopped before every
 * restore, but one that crashed (or whose host died) leaves the file: removed when no live
 * postgres has its pid; -1 when one does. */
static int clear_stale_pid(agent *a, char **err)
{
	char *path = xasprintf("%s/postmaster.pid", a->s->data_dir);
	FILE *f = fopen(path, "re");
	if (!f) {
		free(path);
		return 0;
	}
	char line[64], comm[32];
	long pid = fgets(line, sizeof line, f) ? strtol(line, NULL, 10) : 0;
	fclose(f);
	char st = pid > 1 ? proc_state(pid, comm, sizeof comm) : 0;
	if (st && st != 'Z' && st != 'X' &&
	    (!strcmp(comm, "postgres") || !strcmp(comm, "postmaster"))) {
		err_set(err, "a postmaster (pid %ld) runs on %s", pid, a->s->data_dir);
		free(path);
		return -1;
	}
	int r = unlink(path) == 0 || errno == ENOENT ? 0 : -1;
	if (r == 0)
		log_info("removed the stale %s (pid %ld is not a running postgres)", path, pid);
	else
		err_set(err, "removing %s: %s", path, strerror(errno));
	free(path);
	return r;
}

/* The restore cannot run: the marker goes, `done` hears of it; `counted` as a failed restore. */
static void restore_not_run(agent *a, bool counted)
{
	agent_backup *b = a->backup;
	void (*done)(agent *, bool) = b->restored;
	b->restored = NULL;
	agent_backup_restore_forget(a);
	if (counted)
		b->st.restore_failures++;
	done(a, false);
}

/* pgbackrest restore --delta --type=standby [--set=LABEL] */
static void start_restore(agent *a, const char *set)
{
	agent_backup *b = a->backup;
	char *e = NULL, *opt_set = set ? xasprintf("--set=%s", set) : NULL;
	/* --delta keeps what matches the backup; --type=standby writes standby.signal. */
	const char *args[] = {"--delta", "--type=standby", opt_set};
	log_info("restoring the data directory from the repository (stanza %s, pgbackrest "
	         "restore --delta%s%s)",
	         b->stanza, set ? " --set=" : "", set ? set : "");
	if (agent_backup_run(a, "restore", args, set ? 3 : 2, true, RESTORE_TIMEOUT_MS, on_restore,
	                     &e) != 0) {
		log_error("pgbackrest restore: %s", e);
		free(e);
		restore_not_run(a, true);
	}
	free(opt_set);
}

/* Failback: the repository's latest backup may hold what this site wrote after its history
 * forked from the primary site's; the newest that ended before the fork is restored instead
 * (its own archive then serves the WAL up to the fork, agent_site_fork.c). */
static void on_fork_info(agent *a, const job_result *r)
{
	agent_backup *b = a->backup;
	uint64_t lsn = 0;
	int64_t tli = 0;
	char *set = NULL;
	if (r->status == 0 && agent_site_fork(a, &lsn, &tli))
		set = pgbr_info_backup_before(r->out, b->stanza, lsn);
	if (!set) {
		if (r->status != 0) {
			char *d = job_describe(r);
			log_error("failback: pgbackrest info: %s: a delta restore cannot be used",
			          d);
			free(d);
		} else {
			log_error(
			    "failback: no backup of stanza %s ended before the fork at %X/%X on "
			    "timeline %lld: a delta restore cannot be used",
			    b->stanza, (unsigned)(lsn >> 32), (unsigned)lsn, (long long)tli);
		}
		restore_not_run(a, true);
		return;
	}
	log_info("failback: restoring backup %s, the newest that ended before the fork at %X/%X",
	         set, (unsigned)(lsn >> 32), (unsigned)lsn);
	start_restore(a, set);
	free(set);
}

void agent_backup_restore(agent *a, void (*done)(agent *a, bool ok))
{
	agent_backup *b = a->backup;
	char *e = NULL;
	const char *dir = a->s->data_dir;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		log_error("pgbackrest restore: mkdir %s: %s", dir, strerror(errno));
		done(a, false);
		return;
	}
	if (pgctl_running(a->pc))
		err_set(&e, "PostgreSQL runs on %s", dir);
	if (e || clear_stale_pid(a, &e) != 0 || write_marker(a, &e) != 0) {
		log_error("pgbackrest restore: %s", e);
		free(e);
		done(a, false);
		return;
	}
	b->restored = done;
	uint64_t lsn;
	int64_t tli;
	if (!agent_is_standby_cluster(a) || !agent_site_fork(a, &lsn, &tli)) {
		start_restore(a, NULL);
		return;
	}
	static const char *const args[] = {"--output=json"};
	if (agent_backup_run(a, "info", args, 1, true, RESTORE_INFO_MS, on_fork_info, &e) != 0) {
		log_error("pgbackrest info: %s", e);
		free(e);
		restore_not_run(a, false);
	}
}

int agent_backup_clear_for_fallback(agent *a, char **err)
{
	DIR *d = opendir(a->s->data_dir);
	bool empty = true;
	if (d) {
		struct dirent *de;
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
				empty = false;
		closedir(d);
	}
	if (!empty) {
		char *moved = NULL;
		if (pgctl_move_aside(a->pc, &moved, err) != 0)
			return -1;
		log_warning("what the restore left was moved aside to %s", moved);
		free(moved);
	}
	agent_backup_restore_forget(a);
	return 0;
}
