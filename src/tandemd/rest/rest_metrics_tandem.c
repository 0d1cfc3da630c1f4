/* The tandem_* families of the monitoring kit (docs/monitoring.md, "Metrics"): the HA pass,
 * failovers and switchovers, lag per replica, the site, synchronous replication, the fence,
 * etcd round trips, members and disk space. Rendered from the published status and counters. */
#include <string.h>

#include "metrics.h"
#include "rest_render.h"

/* One family with its one sample. */
static void fam(strbuf *out, const char *labels, const char *name, const char *type,
                const char *help, double v)
{
	metrics_single(out, name, type, help, labels, v);
}

static double cv(const agent_counters *c, size_t offset)
{
	return c ? (double)metrics_get(
	               (const metrics_counter *)(const void *)((const char *)c + offset))
	         : 0;
}

#define CV(field) cv(c, offsetof(agent_counters, field))

static void histogram(strbuf *out, const char *l, const char *name, const char *help,
                      const metrics_histogram *h)
{
	static const metrics_histogram empty;
	const metrics_histogram *parts[1] = {h ? h : &empty};
	metrics_family(out, name, "histogram", help);
	metrics_histogram_write(out, name, l, parts, 1);
}

/* On the primary, one sample per replica in pg_stat_replication, labelled by its name. */
static void replication_lag(strbuf *out, const char *l, const agent_status *st)
{
	bool primary = st->role && !strcmp(st->role, "primary");
	metrics_family(out, "tandem_replication_lag_bytes", "gauge",
	               "On the primary: WAL written here and not yet replayed by the replica.");
	strbuf lb = STRBUF_INIT;
	for (size_t i = 0; primary && st->lsn_known && i < st->nreplicas && st->replicas; i++) {
		const agent_replica *r = &st->replicas[i];
		sb_reset(&lb);
		sb_printf(&lb, "%s,replica=\"", l);
		rest_label_value(&lb, r->application_name);
		sb_puts(&lb, "\"");
		double bytes = st->lsn > r->replay_lsn ? (double)(st->lsn - r->replay_lsn) : 0;
		metrics_sample(out, "tandem_replication_lag_bytes", lb.data, bytes);
	}
	metrics_family(out, "tandem_replication_lag_seconds", "gauge",
	               "On the primary: how long ago it first wrote WAL the replica has not "
	               "replayed; 0 when the replica has replayed everything (an idle primary is "
	               "not lag).");
	for (size_t i = 0; primary && st->lsn_known && i < st->nreplicas && st->replicas &&
	                   st->mon.replica_lag_seconds;
	     i++) {
		sb_reset(&lb);
		sb_printf(&lb, "%s,replica=\"", l);
		rest_label_value(&lb, st->replicas[i].application_name);
		sb_puts(&lb, "\"");
		metrics_sample(out, "tandem_replication_lag_seconds", lb.data,
		               st->mon.replica_lag_seconds[i]);
	}
	sb_free(&lb);
}

static void site(strbuf *out, const char *l, const agent_status *st)
{
	const agent_monitor_status *m = &st->mon;
	fam(out, l, "tandem_site_primary", "gauge",
	    "1 on a member of the primary site's cluster, 0 in a standby cluster.",
	    m->standby_cluster ? 0 : 1);
	fam(out, l, "tandem_standby_leader", "gauge",
	    "Whether this member is the standby leader of a standby cluster.",
	    st->role && !strcmp(st->role, "standby_leader") ? 1 : 0);
	if (m->site_lag_known) {
		fam(out, l, "tandem_site_lag_bytes", "gauge",
		    "On a standby leader: WAL the primary site has sent word of and this member "
		    "has not replayed.",
		    (double)m->site_lag_bytes);
		fam(out, l, "tandem_site_lag_seconds", "gauge",
		    "On a standby leader: how long ago the primary site was first seen past the "
		    "position replayed here; 0 when caught up.",
		    m->site_lag_seconds);
	}
}

static void sync_and_fence(strbuf *out, const char *l, const agent_status *st,
                           const agent_counters *c)
{
	bool primary = st->role && !strcmp(st->role, "primary");
	if (primary) {
		size_t n = 0;
		for (size_t i = 0; i < st->nreplicas && st->replicas; i++) {
			const char *s = st->replicas[i].sync_state;
			if (s && (!strcmp(s, "sync") || !strcmp(s, "quorum")))
				n++;
		}
		fam(out, l, "tandem_sync_standbys", "gauge",
		    "On the primary: standbys PostgreSQL reports synchronous now.", (double)n);
		fam(out, l, "tandem_sync_required", "gauge",
		    "On the primary: 1 when synchronous_standby_names makes commits wait for a "
		    "standby (synchronous mode with a standby, or strict mode without one).",
		    st->mon.sync_required ? 1 : 0);
	}
	fam(out, l, "tandem_fence_armed", "gauge",
	    "Whether the fence watchdog holds a deadline by which it stops PostgreSQL.",
	    st->mon.fence_armed ? 1 : 0);
	fam(out, l, "tandem_fence_fired_total", "counter",
	    "Times the fence watchdog stopped PostgreSQL (no deadline from the agent in time).",
	    CV(fence_fired));
}

static void disk(strbuf *out, const char *l, const agent_monitor_status *m)
{
	if (m->data_fs_known) {
		fam(out, l, "tandem_data_fs_avail_bytes", "gauge",
		    "Bytes available to PostgreSQL on the data directory's file system.",
		    (double)m->data_fs_avail);
		fam(out, l, "tandem_data_fs_size_bytes", "gauge",
		    "Size of the data directory's file system.", (double)m->data_fs_size);
	}
	if (m->wal_fs_known) {
		fam(out, l, "tandem_wal_fs_avail_bytes", "gauge",
		    "Bytes available on the file system of pg_wal (its link's target).",
		    (double)m->wal_fs_avail);
		fam(out, l, "tandem_wal_fs_size_bytes", "gauge",
		    "Size of the file system of pg_wal (its link's target).",
		    (double)m->wal_fs_size);
	}
}

void rest_render_metrics_tandem(strbuf *out, const char *l, const agent_status *st,
                                const agent_counters *c)
{
	histogram(out, l, "tandem_ha_pass_duration_seconds",
	          "Time from the start of an HA pass (gathering PostgreSQL's state) to its "
	          "decision.",
	          c ? &c->ha_pass : NULL);
	histogram(out, l, "tandem_etcd_rtt_seconds",
	          "Round trips of DCS requests to etcd that got an answer.",
	          c ? &c->etcd_rtt : NULL);
	fam(out, l, "tandem_failovers_total", "counter",
	    "Promotions of this member that were not a planned handover (the leader was lost, "
	    "or a manual failover).",
	    CV(failovers));
	fam(out, l, "tandem_switchovers_total", "counter",
	    "Promotions of this member handed over by the leader (a switchover).", CV(switchovers));
	fam(out, l, "tandem_last_failover_write_gap_seconds", "gauge",
	    "On the member last promoted: from the last moment the old leader was seen holding "
	    "the leader key to the end of the promotion (an upper bound of the write gap); 0 "
	    "before any.",
	    CV(write_gap_ms) / 1000.0);
	replication_lag(out, l, st);
	site(out, l, st);
	sync_and_fence(out, l, st, c);
	fam(out, l, "tandem_members", "gauge", "Members registered in the DCS.",
	    (double)st->mon.members);
	disk(out, l, &st->mon);
}
