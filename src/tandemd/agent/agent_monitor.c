/* What the agent keeps only for /metrics (docs/monitoring.md, "Metrics"): the HA pass's
 * duration, promotions by cause and their write-gap estimate, the WAL position histories that
 * give lag in seconds (core/lag.h), the info query's monitoring columns, and the file systems of
 * the data directory and pg_wal (uv_fs_statfs on libuv's thread pool: never on the loop).
 * Everything is recorded by the loop; the REST server reads it through agent_status. */
#include <stdlib.h>
#include <string.h>

#include "agent_priv.h"
#include "clock.h"
#include "lag.h"

typedef struct statfs_req {
	uv_fs_t req;
	agent_monitor *m; /* NULL once the monitor is gone */
	bool wal;
} statfs_req;

struct agent_monitor {
	uint64_t pass_start_us;  /* 0: no pass started */
	int64_t leader_seen_ms;  /* last pass that saw another member hold the leader key */
	lag_history primary;     /* our own positions while we are the primary */
	lag_history site;        /* the primary site's positions, on a standby leader */
	int64_t replay_unix_ms;  /* info query: pg_last_xact_replay_timestamp() */
	bool replay_paused;      /* info query: pg_is_wal_replay_paused() */
	uint64_t upstream_end;   /* info query: pg_stat_wal_receiver.latest_end_lsn; 0: none */
	double *replica_lag;     /* for the status, one per replica */
	statfs_req *inflight[2]; /* data, wal */
	bool fs_known[2];
	uint64_t fs_avail[2], fs_size[2];
};

agent_monitor *agent_monitor_new(void)
{
	return xcalloc(1, sizeof(agent_monitor));
}

void agent_monitor_free(agent *a)
{
	agent_monitor *m = a->monitor;
	if (!m)
		return;
	for (int i = 0; i < 2; i++)
		if (m->inflight[i])
			m->inflight[i]->m = NULL; /* its callback frees it */
	free(m->replica_lag);
	free(m);
	a->monitor = NULL;
}

void agent_monitor_pass_start(agent *a)
{
	a->monitor->pass_start_us = clock_mono_us();
}

static void on_statfs(uv_fs_t *req)
{
	statfs_req *r = (statfs_req *)req;
	agent_monitor *m = r->m;
	if (m) {
		int i = r->wal ? 1 : 0;
		m->inflight[i] = NULL;
		m->fs_known[i] = req->result == 0 && req->ptr;
		if (m->fs_known[i]) {
			const uv_statfs_t *s = req->ptr;
			m->fs_avail[i] = s->f_bavail * s->f_bsize;
			m->fs_size[i] = s->f_blocks * s->f_bsize;
		}
	}
	uv_fs_req_cleanup(req);
	free(r);
}

static void ask_statfs(agent *a, int i)
{
	agent_monitor *m = a->monitor;
	if (m->inflight[i])
		return; /* the last one has not answered yet (a hung file system): ask once */
	statfs_req *r = xcalloc(1, sizeof *r);
	r->m = m;
	r->wal = i == 1;
	char *path = i ? xasprintf("%s/pg_wal", a->s->data_dir) : xstrdup(a->s->data_dir);
	if (uv_fs_statfs(a->loop, &r->req, path, on_statfs) == 0)
		m->inflight[i] = r;
	else
		free(r);
	free(path);
}

void agent_monitor_pass_end(agent *a)
{
	agent_monitor *m = a->monitor;
	if (m->pass_start_us) {
		uint64_t now = clock_mono_us();
		metrics_observe_us(&a->counters.ha_pass,
		                   now > m->pass_start_us ? now - m->pass_start_us : 0);
		m->pass_start_us = 0;
	}
	int64_t wall = clock_unix_ms();
	const dcs_view *v = dcs_get_view(a->dcs);
	if (v->leader && strcmp(v->leader, a->s->name) != 0)
		m->leader_seen_ms = wall;
	ha_pg_state pg = agent_pg_state(a);
	if (pg == HA_PG_PRIMARY)
		lag_record(&m->primary, wall, a->st.lsn);
	if (pg == HA_PG_REPLICA && m->upstream_end)
		lag_record(&m->site, wall, m->upstream_end);
	ask_statfs(a, 0);
	ask_statfs(a, 1);
}

void agent_monitor_promoted(agent *a)
{
	agent_monitor *m = a->monitor;
	const dcs_view *v = dcs_get_view(a->dcs);
	/* The failover key with a leader is a handover the leader agreed to (Patroni's
	 * switchover); anything else is a failover. */
	if (v->has_failover && v->failover_leader)
		metrics_inc(&a->counters.switchovers, 1);
	else
		metrics_inc(&a->counters.failovers, 1);
	int64_t wall = clock_unix_ms();
	if (m->leader_seen_ms > 0 && wall > m->leader_seen_ms)
		metrics_set(&a->counters.write_gap_ms, (uint64_t)(wall - m->leader_seen_ms));
	memset(&m->primary, 0, sizeof m->primary);
}

void agent_monitor_info(agent *a, const char *const *cols, int ncols)
{
	agent_monitor *m = a->monitor;
	m->replay_unix_ms = ncols > 0 && cols[0] ? strtoll(cols[0], NULL, 10) : 0;
	m->replay_paused = ncols > 1 && cols[1] && cols[1][0] == 't';
	if (ncols < 3 || !cols[2] || pgctl_parse_lsn(cols[2], &m->upstream_end) != 0)
		m->upstream_end = 0;
}

static bool in_failsafe_key(const dcs_view *v, const char *name)
{
	for (size_t i = 0; i < v->nfailsafe && v->failsafe_names; i++)
		if (v->failsafe_names[i] && !strcmp(v->failsafe_names[i], name))
			return true;
	return false;
}

static int64_t failover_priority(const tandemd_settings *s)
{
	if (tandemd_tag(s, "nofailover"))
		return 0;
	for (size_t i = 0; i < s->tags.n; i++)
		if (s->tags.keys[i] && !strcmp(s->tags.keys[i], "failover_priority") &&
		    s->tags.values[i])
			return strtoll(s->tags.values[i], NULL, 10);
	return 1;
}

void agent_monitor_publish(agent *a, agent_status *st)
{
	agent_monitor *m = a->monitor;
	agent_monitor_status *o = &st->mon;
	const dcs_view *v = st->view;
	int64_t wall = clock_unix_ms();
	bool replica = st->health.pg == HEALTH_PG_RUNNING && a->st.in_recovery;
	o->replay_unix_ms = replica ? m->replay_unix_ms : 0;
	o->replay_paused = replica && m->replay_paused;
	o->failover_priority = failover_priority(a->s);
	o->failsafe_member = in_failsafe_key(v, a->s->name);
	o->standby_cluster = agent_is_standby_cluster(a);
	o->site_lag_known = st->health.is_standby_leader && replica && m->upstream_end;
	if (o->site_lag_known) {
		o->site_lag_bytes = m->upstream_end > a->st.lsn ? m->upstream_end - a->st.lsn : 0;
		o->site_lag_seconds = lag_seconds(&m->site, wall, m->upstream_end, a->st.lsn);
	}
	free(m->replica_lag);
	m->replica_lag = st->nreplicas ? xcalloc(st->nreplicas, sizeof *m->replica_lag) : NULL;
	for (size_t i = 0; i < st->nreplicas; i++)
		m->replica_lag[i] =
		    lag_seconds(&m->primary, wall, a->st.lsn, st->replicas[i].replay_lsn);
	o->replica_lag_seconds = m->replica_lag;
	o->fence_armed = agent_fence_armed(a);
	o->sync_required = a->ssn && *a->ssn;
	o->members = v->nmembers;
	o->data_fs_known = m->fs_known[0];
	o->data_fs_avail = m->fs_avail[0];
	o->data_fs_size = m->fs_size[0];
	o->wal_fs_known = m->fs_known[1];
	o->wal_fs_avail = m->fs_avail[1];
	o->wal_fs_size = m->fs_size[1];
}
