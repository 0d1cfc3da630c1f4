/* Failback (docs/sites.md): where this member's history forked from the primary site's, as
 * pg_rewind found it ("servers diverged at WAL location 0/5000148 on timeline 1"), kept beside
 * the data directory (DATA_DIR.fork: a delta restore would remove a file inside it) while the
 * site is a standby cluster.
 *
 * Past that point this site's own archive holds what it wrote and the other site never
 * received, under the names the other site's WAL has (the parent timeline's segments; maybe a
 * timeline of its own with the number the other site's promotion took). A replica replaying from
 * that archive would take them where the other site's WAL is missing, and go on from a history
 * that is not the primary site's. So while the fork is known, restore_command serves only what
 * comes before it (pgbr_restore_command_before); the rest streams from the other site or comes
 * from its archive (standby_cluster.restore_command). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_backup.h"
#include "agent_priv.h"
#include "log.h"
#include "pgbr_archive.h"

static char *fork_path(const agent *a)
{
	return xasprintf("%s.fork", a->s->data_dir);
}

bool agent_site_fork_parse(const char *out, uint64_t *lsn, int64_t *tli)
{
	const char *p = out ? strstr(out, "diverged at WAL location ") : NULL;
	unsigned hi, lo;
	long long t;
	if (!p || sscanf(p, "diverged at WAL location %X/%X on timeline %lld", &hi, &lo, &t) != 3 ||
	    t <= 0)
		return false;
	*lsn = ((uint64_t)hi << 32) | lo;
	*tli = t;
	return true;
}

void agent_site_fork_note(agent *a, const char *rewind_output)
{
	uint64_t lsn;
	int64_t tli;
	if (!agent_site_fork_parse(rewind_output, &lsn, &tli))
		return;
	char *path = fork_path(a);
	char *text = xasprintf("%" PRId64 " %X/%X\n", tli, (unsigned)(lsn >> 32), (unsigned)lsn);
	char *e = NULL;
	if (pgctl_write_file_(path, text, strlen(text), &e) != 0) {
		log_warning("failback: recording the fork point: %s", e);
		free(e);
	}
	free(text);
	free(path);
}

bool agent_site_fork(const agent *a, uint64_t *lsn, int64_t *tli)
{
	char *path = fork_path(a);
	FILE *f = fopen(path, "re");
	free(path);
	if (!f)
		return false;
	unsigned hi, lo;
	long long t;
	bool ok = fscanf(f, "%lld %X/%X", &t, &hi, &lo) == 3 && t > 0;
	fclose(f);
	if (ok) {
		*lsn = ((uint64_t)hi << 32) | lo;
		*tli = t;
	}
	return ok;
}

void agent_site_fork_settle(agent *a)
{
	const dcs_view *v = a->dcs ? dcs_get_view(a->dcs) : NULL;
	if (v && v->has_config && !v->config.standby.present)
		agent_site_fork_forget(a);
}

void agent_site_fork_forget(agent *a)
{
	char *path = fork_path(a);
	if (unlink(path) == 0)
		log_info("failback: this site is the primary site again; %s removed", path);
	else if (errno != ENOENT)
		log_warning("removing %s: %s", path, strerror(errno));
	free(path);
}

char *agent_site_standby_restore_command(const agent *a)
{
	const char *own = a->backup ? a->backup->restore_cmd : NULL;
	const char *site = agent_site_restore_command(a);
	uint64_t lsn;
	int64_t tli;
	if (!own || !agent_site_fork(a, &lsn, &tli))
		return site ? xstrdup(site) : NULL;
	uint64_t seg = a->ctl_ok && a->ctl.seg_size ? a->ctl.seg_size : 16u << 20;
	char *guarded = pgbr_restore_command_before(own, tli, lsn, seg);
	if (!site)
		return guarded;
	/* Its own archive first (the WAL before the fork: a delta restore replays from a backup
	 * of this site), then the primary site's. */
	char *both = xasprintf("{ %s; } || %s", guarded, site);
	free(guarded);
	return both;
}
