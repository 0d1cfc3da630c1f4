/* Two sites: this cluster as a standby cluster of another site (Patroni's `standby_cluster`).
 * Its leader, the standby leader, replicates from the primary site (HA_PRIMARY_SITE: the hosts
 * and port of standby_cluster); the other members follow it as they follow any leader. A standby
 * cluster is born by copying the primary site (not initdb); a leader whose cluster became a
 * standby cluster (demote-cluster) stops cleanly, keeps the key and follows the other site. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "agent_priv.h"
#include "atomic_file.h"
#include "clock.h"
#include "dcs_codec_priv.h"
#include "job.h"
#include "log.h"

void agent_site_init(agent *a)
{
	json_t *j = tandemd_standby_json(a->s);
	char *e = NULL;
	if (j && dcs_standby_decode(j, &a->boot_standby, &e) != 0) {
		/* options.c checked it when loading: not reached */
		log_error("bootstrap.dcs.%s", e);
		free(e);
	}
	json_decref(j);
}

void agent_site_free(agent *a)
{
	dcs_standby_clear(&a->boot_standby);
	free(a->diverged_dir);
}

const dcs_standby *agent_standby(const agent *a)
{
	const dcs_view *v = a->dcs ? dcs_get_view(a->dcs) : NULL;
	if (v && v->has_config)
		return v->config.standby.present ? &v->config.standby : NULL;
	/* No cluster configuration yet: the one this member would bootstrap with. */
	return a->boot_standby.present ? &a->boot_standby : NULL;
}

bool agent_is_standby_cluster(const agent *a)
{
	return agent_standby(a) != NULL;
}

const char *agent_target_text(const char *target)
{
	if (!target)
		return "no one";
	return strcmp(target, HA_PRIMARY_SITE) == 0 ? "the primary site" : target;
}

size_t agent_site_hosts(const agent *a, char **out, size_t cap)
{
	const dcs_standby *sb = agent_standby(a);
	if (!sb || !sb->valid || !sb->host)
		return 0;
	const char *h = sb->host, *p = sb->port ? sb->port : "5432";
	size_t n = 0;
	while (*h && n < cap) {
		size_t hl = strcspn(h, ","), pl = strcspn(p, ",");
		out[2 * n] = xstrndup(h, hl);
		out[2 * n + 1] = xstrndup(p, pl);
		n++;
		h += hl + (h[hl] == ',');
		if (p[pl] == ',') /* one port for every host, or one each */
			p += pl + 1;
	}
	return n;
}

pgctl_upstream *agent_site_upstream(agent *a, bool rewind)
{
	const dcs_standby *sb = agent_standby(a);
	if (!sb || !sb->valid || !sb->host)
		return NULL;
	char *err = NULL;
	if (agent_write_passfile(a, &err) != 0) { /* the site's hosts may be new */
		log_error("the primary site's passfile lines: %s", err);
		free(err);
		return NULL;
	}
	pgctl_upstream *u = xcalloc(1, sizeof *u);
	/* pg_rewind connects as the rewind user, or the superuser when there is none. */
	u->ssl = agent_ssl_copy(!rewind                 ? &a->s->replication_ssl
	                        : a->s->rewind_username ? &a->s->rewind_ssl
	                                                : &a->s->superuser_ssl);
	u->host = xstrdup(sb->host);
	u->port = xstrdup(sb->port ? sb->port : "5432");
	u->user = xstrdup(rewind ? a->rewind_user : a->repl_user);
	u->dbname = xstrdup("postgres");
	u->passfile = xstrdup(a->passfile);
	u->application_name = xstrdup(a->s->name);
	u->slot_name = !rewind && sb->primary_slot_name ? xstrdup(sb->primary_slot_name) : NULL;
	/* Several hosts: libpq tries them in turn and keeps the writable one, so the standby leader
	 * follows a failover inside the primary site. */
	u->target_session_attrs = strchr(sb->host, ',') ? xstrdup("read-write") : NULL;
	return u;
}

const char *agent_site_restore_command(const agent *a)
{
	const dcs_standby *sb = agent_standby(a);
	if (!sb || !sb->valid || !sb->restore_command)
		return NULL;
	/* A command from the DCS runs as the PostgreSQL user on every member: only the text this
	 * member's own configuration gives is run. */
	if (!a->s->standby_restore_command ||
	    strcmp(a->s->standby_restore_command, sb->restore_command))
		return NULL;
	return sb->restore_command;
}

const char *agent_site_apply_delay(const agent *a)
{
	const dcs_standby *sb = agent_standby(a);
	return sb && sb->valid ? sb->recovery_min_apply_delay : NULL;
}

/* ---- demote-cluster: the leader of a cluster that became a standby cluster ---- */

static void site_restart_standby(agent *a, bool ok)
{
	(void)ok;
	char *e = NULL;
	/* The shutdown checkpoint is the last record: the other site, having replayed up to it,
	 * promotes on a timeline we can follow without a rewind. */
	log_info("PostgreSQL stopped cleanly: following the primary site as the standby leader");
	if (agent_start_pg(a, true, HA_PRIMARY_SITE, NULL, &e) != 0) {
		agent_fail_action(a, "starting as the standby leader", e);
		free(e);
		return;
	}
	agent_action_done(a);
}

static void site_demoted(agent *a, bool ok)
{
	if (!ok) {
		agent_fail_action(a, "stopping PostgreSQL for the other site", NULL);
		return;
	}
	agent_site_publish_checkpoint(a, site_restart_standby);
}

void agent_act_demote_site(agent *a)
{
	metrics_inc(&a->counters.demotions, 1);
	a->doing = "demoting to a standby cluster";
	log_warning("the cluster is now a standby cluster: stopping PostgreSQL cleanly (a shutdown "
	            "checkpoint), keeping the leader key, then following the primary site");
	/* fast, not immediate: a shutdown checkpoint is the point of this stop; an immediate stop
	 * would leave WAL the other site never sees (then only a rewind helps). */
	agent_stop_pg(a, PGCTL_FAST, 10 * AGENT_STOP_STEP_MS, site_demoted);
}

/* ---- bootstrap of a standby cluster: a copy of the primary site ---- */

static void site_boot_fail(agent *a, const char *what, const char *err)
{
	agent_boot_fail(a, what, err);
}

static void site_boot_put(dcs_result r, const char *error, void *ud)
{
	agent *a = ud;
	if (r != DCS_OK)
		log_warning("standby cluster bootstrap: writing a key: %s",
		            error ? error : dcs_result_name(r));
	if (--a->boot_puts == 0) {
		log_info(
		    "bootstrap complete: a standby cluster, this member is its standby leader");
		agent_boot_forget(a);
		agent_action_done(a);
	}
}

static void site_boot_leader(dcs_result r, const char *error, void *ud)
{
	agent *a = ud;
	if (r != DCS_OK) {
		site_boot_fail(a, "taking the leader key", error ? error : dcs_result_name(r));
		return;
	}
	log_info("took the leader key (standby leader)");
	agent_fence_update(a);
	a->boot_puts = 1;
	dcs_put_key(a->dcs, "initialize", a->sysid ? a->sysid : "", site_boot_put, a);
}

/* The config first: it says "standby cluster" before anyone holds the key, so no pass can see a
 * leader with a replica and no standby_cluster (which would promote it). */
static void site_boot_config(dcs_result r, const char *error, void *ud)
{
	agent *a = ud;
	if (r != DCS_OK) {
		site_boot_fail(a, "writing the cluster configuration",
		               error ? error : dcs_result_name(r));
		return;
	}
	const char *why = agent_boot_race_lost(a);
	if (why) {
		site_boot_fail(a, "taking the leader key", why);
		return;
	}
	dcs_acquire_leader(a->dcs, site_boot_leader, a);
}

static void site_boot_sysid(const char *const *row, int ncols, const char *err, void *ud)
{
	agent *a = ud;
	if (err || ncols < 1 || !row[0]) {
		site_boot_fail(a, "reading the system identifier", err);
		return;
	}
	free(a->sysid);
	a->sysid = xstrdup(row[0]);
	char *cfg = agent_bootstrap_config(a->s);
	dcs_put_key(a->dcs, "config", cfg, site_boot_config, a);
	free(cfg);
}

static void site_boot_ready(agent *a, bool ok)
{
	if (!ok) {
		site_boot_fail(a, "starting the standby leader", NULL);
		return;
	}
	pgctl_query(a->loop, a->local_conninfo,
	            "SELECT system_identifier::text FROM pg_control_system()",
	            a->hc.retry_timeout_ms, site_boot_sysid, a);
}

static void site_boot_start(agent *a)
{
	char *e = NULL;
	if (agent_start_pg(a, true, HA_PRIMARY_SITE, site_boot_ready, &e) != 0) {
		site_boot_fail(a, "starting the standby leader", e);
		free(e);
	}
}

static void site_boot_cloned(bool ok, const char *tail, const char *moved, void *ud)
{
	agent *a = ud;
	if (!ok) {
		if (moved)
			log_error("the partial copy was moved aside to %s", moved);
		site_boot_fail(a, "pg_basebackup from the primary site", tail);
		return;
	}
	log_info("copied the primary site");
	site_boot_start(a);
}

void agent_site_bootstrap(agent *a)
{
	a->doing = "creating standby cluster";
	if (agent_has_data(a)) {
		log_info("won the initialize race: a standby cluster, adopting the existing data");
		a->boot_ran_initdb = false;
		site_boot_start(a);
		return;
	}
	pgctl_upstream *up = agent_site_upstream(a, false);
	if (!up) {
		site_boot_fail(a, "copying the primary site",
		               "standby_cluster names no host to copy from (restore_command alone "
		               "cannot create the first member)");
		return;
	}
	log_info("won the initialize race: a standby cluster, copying the primary site (%s)",
	         up->host);
	agent_boot_mark(a, "a copy of the primary site"); /* moved aside if it fails */
	pgctl_clone_opts o = {.bin_dir = a->s->bin_dir,
	                      .from = up,
	                      .timeout_ms = 24 * 3600 * 1000,
	                      .done = site_boot_cloned,
	                      .ud = a};
	char *e = NULL;
	int r = pgctl_basebackup(a->loop, a->pc, &o, &e);
	agent_upstream_free(up);
	if (r != 0) {
		site_boot_fail(a, "pg_basebackup from the primary site", e);
		free(e);
	}
}

/* ---- failback: the WAL a returning site wrote that the other site never received ---- */

typedef struct keep_wal {
	agent *a;
	agent_step_fn then;
} keep_wal;

static void wal_copied(const job_result *r, void *ud)
{
	keep_wal *k = ud;
	agent *a = k->a;
	agent_step_fn then = k->then;
	free(k);
	if (r->status != 0) {
		char *why = job_describe(r);
		log_error("copying pg_wal aside to %s: %s", a->diverged_dir, why);
		free(why);
		then(a, false);
		return;
	}
	log_info("pg_wal copied aside to %s before the rewind", a->diverged_dir);
	then(a, true);
}

void agent_site_keep_wal(agent *a, agent_step_fn then)
{
	free(a->diverged_dir);
	a->diverged_dir = NULL;
	/* Only a former primary can hold acknowledged writes the other site lacks (a replica's
	 * extra WAL was acknowledged by its primary, whose copy is kept). */
	if (!a->primary_data) {
		then(a, true);
		return;
	}
	a->primary_data = false;
	a->diverged_dir =
	    xasprintf("%s.diverged-%lld", a->s->data_dir, (long long)(clock_unix_ms() / 1000));
	char *src = xasprintf("%s/pg_wal", a->s->data_dir);
	char *argv[] = {"cp", "-a", src, a->diverged_dir, NULL};
	keep_wal *k = xcalloc(1, sizeof *k);
	k->a = a;
	k->then = then;
	job_spec js = {.argv = argv, .timeout_ms = 600000, .done = wal_copied, .ud = k};
	char *err = NULL;
	job *j = job_start(a->loop, &js, &err);
	free(src);
	if (!j) {
		free(k);
		log_error("copying pg_wal aside: %s", err);
		free(err);
		then(a, false);
	}
}

static uint64_t lsn_value(const char *s)
{
	unsigned hi = 0, lo = 0;
	return sscanf(s, "%X/%X", &hi, &lo) == 2 ? ((uint64_t)hi << 32) | lo : 0;
}

typedef struct waldump {
	agent *a;
	char lsn[32];
	unsigned tli;
} waldump;

/* What pg_waldump listed from the divergence point: the last record's end, and the commits. */
static void waldumped(const job_result *r, void *ud)
{
	waldump *w = ud;
	agent *a = w->a;
	uint64_t from = lsn_value(w->lsn), last = from;
	unsigned commits = 0;
	char first_t[64] = "", last_t[64] = "";
	for (const char *l = r->out; l && *l;) {
		const char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);
		const char *at = memmem(l, len, "lsn: ", 5);
		if (at) {
			uint64_t v = lsn_value(at + 5);
			last = v > last ? v : last;
		}
		const char *c = memmem(l, len, "desc: COMMIT ", 13);
		if (c) {
			commits++;
			size_t tl = strcspn(c + 13, ";\n");
			tl = tl < sizeof last_t - 1 ? tl : sizeof last_t - 1;
			snprintf(last_t, sizeof last_t, "%.*s", (int)tl, c + 13);
			if (!first_t[0])
				snprintf(first_t, sizeof first_t, "%s", last_t);
		}
		l = nl ? nl + 1 : l + len;
	}
	char *report = xasprintf(
	    "This site diverged from the other at %s on timeline %u: the WAL after that point, "
	    "which "
	    "the other site never received, is kept in %s (pg_wal as it was before pg_rewind).\n"
	    "WAL beyond the divergence: about %llu bytes (to the record at %X/%X), %u "
	    "commits%s%s%s%s.\n",
	    w->lsn, w->tli, a->diverged_dir, (unsigned long long)(last - from),
	    (unsigned)(last >> 32), (unsigned)last, commits, commits ? ", from " : "", first_t,
	    commits ? " to " : "", last_t);
	log_warning("failback: %s", report);
	char *path = xasprintf("%s/REPORT", a->diverged_dir);
	char *err = NULL;
	if (atomic_file_write(path, report, strlen(report), 0600, &err) != 0) {
		log_error("%s", err);
		free(err);
	}
	free(path);
	free(report);
	free(w);
}

void agent_site_report_diverged(agent *a, const char *output)
{
	char lsn[32];
	uint64_t at;
	int64_t fork_tli;
	if (!a->diverged_dir)
		return;
	if (!agent_site_fork_parse(output, &at, &fork_tli)) {
		log_info("failback: pg_rewind found nothing to rewind; %s holds a copy of pg_wal",
		         a->diverged_dir);
		return;
	}
	unsigned tli = (unsigned)fork_tli;
	snprintf(lsn, sizeof lsn, "%X/%X", (unsigned)(at >> 32), (unsigned)at);
	waldump *w = xcalloc(1, sizeof *w);
	w->a = a;
	snprintf(w->lsn, sizeof w->lsn, "%s", lsn);
	w->tli = tli;
	char *bin = xasprintf("%s/pg_waldump",
	                      a->s->bin_dir ? a->s->bin_dir : "/usr/lib/postgresql/15/bin");
	char *path = xasprintf("--path=%s", a->diverged_dir);
	char *start = xasprintf("--start=%s", lsn);
	char *tl = xasprintf("--timeline=%u", tli);
	char *argv[] = {bin, path, start, tl, NULL};
	job_spec js = {
	    .argv = argv, .timeout_ms = 120000, .out_cap = 64u << 20, .done = waldumped, .ud = w};
	char *err = NULL;
	if (!job_start(a->loop, &js, &err)) {
		log_error("failback: pg_waldump: %s", err);
		free(err);
		free(w);
	}
	free(bin);
	free(path);
	free(start);
	free(tl);
}
