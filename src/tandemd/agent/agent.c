/* The agent: lease and member key on a heartbeat, the HA pass on every DCS change and every
 * loop_wait, operator requests, and the status snapshot the REST API serves. See agent.h. */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "addr.h"
#include "agent_backup.h"
#include "agent_pgbr_server.h"
#include "agent_pooler.h"
#include "agent_priv.h"
#include "agent_runner.h"
#include "clock.h"
#include "dcs_view_ha.h"
#include "diverge.h"
#include "job.h"
#include "log.h"
#include "proc.h"
#include "strbuf.h"

static uint64_t mix(uint64_t h, const char *s)
{
	/* FNV-1a; NULL and "" differ */
	h = (h ^ (s ? 1u : 2u)) * 1099511628211u;
	for (; s && *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return h;
}

static uint64_t mix_int(uint64_t h, int64_t n)
{
	char buf[24];
	snprintf(buf, sizeof buf, "%" PRId64, n);
	return mix(h, buf);
}

/* What the HA decision reads from the view, except the WAL positions that every member
 * publishes every second under writes (and the leader key's touch): a change that leaves this
 * alone waits for the next beat instead of running a pass on every member. */
static uint64_t view_signature(const dcs_view *v)
{
	uint64_t h = 14695981039346656037u;
	h = mix_int(h, v->initialized);
	h = mix(h, v->leader);
	h = mix_int(h, v->leader_lease);
	h = mix_int(h, v->has_config ? v->config.mod_revision : -1);
	h = mix_int(h, v->has_failover);
	h = mix(h, v->failover_leader);
	h = mix(h, v->failover_candidate);
	h = mix(h, v->failover_scheduled_at);
	h = mix_int(h, v->has_sync);
	h = mix(h, v->sync_leader);
	for (size_t i = 0; i < v->nsync_standby; i++)
		h = mix(h, v->sync_standby[i]);
	h = mix_int(h, (int64_t)v->nhistory);
	h = mix(h, v->failsafe);
	for (size_t i = 0; i < v->nmembers; i++) {
		const dcs_member *m = &v->members[i];
		h = mix(h, m->name);
		h = mix(h, m->state);
		h = mix(h, m->role);
		h = mix(h, m->replication_state);
		h = mix(h, m->api_url);
		h = mix(h, m->conn_url);
		h = mix_int(h, m->timeline);
		h = mix_int(h, m->has_lsn);
		h = mix(h, m->tags_json);
		h = mix_int(h, m->pending_restart);
	}
	return h;
}

static void on_dcs_change(const dcs_view *v, void *ud)
{
	agent *a = ud;
	a->dcs_ok = true;
	a->dcs_last_seen_unix_s = clock_unix_ms() / 1000;
	/* Without a leader every position counts (who is furthest ahead): always a pass. */
	uint64_t sig = view_signature(v);
	if (!v->leader || sig != a->view_signature)
		agent_kick(a);
	a->view_signature = sig;
}

char *agent_slot_name(const char *member)
{
	return dcs_slot_name(member);
}

/* "postgres://host:port/postgres" or "http://host:port/patroni" for a listen or connect
 * address checked at load (IPv6 in brackets). */
static char *url_of(const char *scheme, const char *address, const char *default_port,
                    const char *path)
{
	char *host = addr_connect_host(address);
	char *port = addr_port_text(address, default_port);
	char *hp = addr_join(host, atoi(port));
	char *url = xasprintf("%s://%s/%s", scheme, hp, path);
	free(hp);
	free(host);
	free(port);
	return url;
}

/* Where this member is reached: its PostgreSQL (port, Unix socket directory, the conn_url the
 * others replicate from) and its REST API (api_url). */
static void derive_addresses(agent *a)
{
	const tandemd_settings *s = a->s;
	a->port = addr_port_text(s->pg_listen ? s->pg_listen : s->pg_connect_address, "5432");
	const char *sockdirs = cfg_map_get(&s->parameters, "unix_socket_directories");
	if (sockdirs) {
		a->sockdir = xstrndup(sockdirs, strcspn(sockdirs, ","));
	} else {
		char *copy = xstrdup(s->data_dir);
		a->sockdir = xstrdup(dirname(copy));
		free(copy);
	}
	a->passfile = s->pgpass ? xstrdup(s->pgpass) : xasprintf("%s.pgpass", s->data_dir);
	a->conn_url =
	    url_of("postgres", s->pg_connect_address ? s->pg_connect_address : s->pg_listen, "5432",
	           "postgres");
	a->api_url =
	    url_of(s->restapi_certfile ? "https" : "http",
	           s->restapi_connect_address ? s->restapi_connect_address : s->restapi_listen,
	           "8008", "patroni");
}

/* The agent's own connection to its PostgreSQL: over the Unix socket, as the superuser. */
static char *local_conninfo(agent *a, char **err)
{
	pgctl_upstream local = {.host = a->sockdir,
	                        .port = a->port,
	                        .user = a->su_user,
	                        .dbname = "postgres",
	                        .passfile = a->passfile,
	                        .application_name = "tandemd"};
	return pgctl_conninfo(&local, err);
}

/* Whoever can write to etcd steers every member (docs/tandemd.md, "Trust"): say so at start when
 * the way there is open. One line for the transport, one for authentication. */
static void warn_open_etcd(const tandemd_settings *s)
{
	bool plain = false;
	for (size_t i = 0; i < s->etcd3_nendpoints; i++)
		if (strncmp(s->etcd3_endpoints[i], "https://", 8) != 0)
			plain = true;
	if (plain)
		log_warning("etcd is reached over plain HTTP (etcd3.protocol: http): anyone on the "
		            "network path can read and rewrite the cluster's keys; use https with "
		            "etcd3.cacert");
	else if (!s->etcd3_cacert)
		log_warning("etcd is reached over HTTPS without etcd3.cacert: its certificate is "
		            "checked only against the system's certificate authorities");
	if (!s->etcd3_username)
		log_warning("etcd is used without authentication (no etcd3.username): anyone who "
		            "can reach it can rewrite the cluster's keys");
}

/* The etcd client on the endpoint list built at load, and the DCS session over it. */
static int open_dcs(agent *a, char **err)
{
	const tandemd_settings *s = a->s;
	warn_open_etcd(s);
	etcd_config ec = {.endpoints = (const char *const *)s->etcd3_endpoints,
	                  .nendpoints = s->etcd3_nendpoints,
	                  .username = s->etcd3_username,
	                  .password = s->etcd3_password,
	                  .cacert = s->etcd3_cacert,
	                  .cert = s->etcd3_cert,
	                  .key = s->etcd3_key,
	                  .connect_timeout_ms = a->hc.retry_timeout_ms};
	a->etcd = etcd_new(a->loop, &ec, err);
	if (!a->etcd)
		return -1;
	etcd_set_rtt_histogram(a->etcd, &a->counters.etcd_rtt);
	dcs_config dc = {.etcd = a->etcd,
	                 .namespace_ = s->dcs_namespace,
	                 .scope = s->scope,
	                 .name = s->name,
	                 .ttl_s = a->ttl_s,
	                 .retry_timeout_ms = a->hc.retry_timeout_ms,
	                 .on_change = on_dcs_change,
	                 .ud = a};
	a->dcs = dcs_new(a->loop, &dc, err);
	return a->dcs ? 0 : -1;
}

agent *agent_new(uv_loop_t *loop, const tandemd_settings *s, char **err)
{
	if (geteuid() == 0) {
		err_set(err, "tandemd runs as the PostgreSQL OS user, not root (e.g. runuser -u "
		             "postgres -- tandemd CONFIG.yml)");
		return NULL;
	}
	agent *a = xcalloc(1, sizeof *a);
	a->loop = loop;
	a->failsafe = agent_failsafe_new();
	a->monitor = agent_monitor_new();
	a->cred = agent_cred_new(s);
	a->s = s;
	a->hc.name = s->name;
	a->hc.nofailover = tandemd_tag(s, "nofailover");
	a->hc.site = tandemd_site(s);
	a->hc.ttl_ms = (uint64_t)s->ttl;
	a->hc.loop_wait_ms = (uint64_t)s->loop_wait;
	a->hc.retry_timeout_ms = (uint64_t)s->retry_timeout;
	a->hc.maximum_lag_on_failover = (uint64_t)s->maximum_lag_on_failover;
	a->hc.max_restarts = 3;
	a->ttl_s = (s->ttl + 999) / 1000;
	a->last_action = HA_WAIT;
	a->last_reason = "starting";

	a->su_user = xstrdup(s->superuser_username ? s->superuser_username : "postgres");
	a->repl_user = xstrdup(s->replication_username ? s->replication_username : "replicator");
	a->rewind_user = xstrdup(s->rewind_username ? s->rewind_username : a->su_user);
	derive_addresses(a);
	a->local_conninfo = local_conninfo(a, err);
	a->slot_name = agent_slot_name(s->name);
	agent_site_init(a);
	agent_settings_changed(a);
	if (!a->local_conninfo || agent_write_passfile(a, err) != 0 ||
	    agent_backup_new(a, err) != 0)
		goto fail;
	a->hc.restore_without_leader = agent_backup_restore_first(a) && s->pgbackrest_no_leader;

	a->fence = agent_fence_new(a, err);
	if (!a->fence || agent_k8s_new(a, err) != 0)
		goto fail;
	char *log_path = xasprintf("%s.log", s->data_dir);
	pgctl_opts po = {.bin_dir = s->bin_dir,
	                 .data_dir = s->data_dir,
	                 .log_path = log_path,
	                 .fence_path = agent_fence_path(a)};
	a->pc = pgctl_new(loop, &po, err);
	free(log_path);
	if (!a->pc)
		goto fail;

	if (open_dcs(a, err) != 0)
		goto fail;
	a->runner = agent_runner_new(a);
	a->pgbr_server = agent_pgbr_server_new(a);
	uv_timer_init(loop, &a->tick);
	uv_timer_init(loop, &a->kick);
	uv_timer_init(loop, &a->wait);
	a->tick.data = a->kick.data = a->wait.data = a;
	return a;
fail:
	agent_free(a);
	return NULL;
}

void agent_settings_changed(agent *a)
{
	const tandemd_settings *s = a->s;
	free(a->tags_kv);
	a->tags_kv = xcalloc(s->tags.n + 1, sizeof *a->tags_kv);
	a->ntags_kv = 0;
	for (size_t i = 0; i < s->tags.n; i++)
		a->tags_kv[a->ntags_kv++] = (health_kv){s->tags.keys[i], s->tags.values[i]};
	a->hc.nofailover = tandemd_tag(s, "nofailover");
	a->hc.site = tandemd_site(s);
	if (a->cred)
		agent_credentials_changed(a);
	char *e = NULL;
	if (agent_backup_write_conf(a, &e) != 0) {
		log_error("%s", e);
		free(e);
	}
}

/* ---- the heartbeat: lease, member key ---- */

static void heartbeat(agent *a);

static void hb_done(agent *a)
{
	a->hb_running = false;
	a->beat_done = true;
	agent_fence_update(a); /* the lease's end moved (or the first beat armed the fence) */
	agent_kick(a);
}

static void on_touch(dcs_result r, const char *error, void *ud)
{
	agent *a = ud;
	if (r != DCS_OK) {
		metrics_inc(&a->counters.dcs_errors, 1);
		log_warning("publishing the member key: %s", error ? error : dcs_result_name(r));
	}
}

void agent_publish_member(agent *a)
{
	if (!dcs_lease_id(a->dcs) || a->stopping)
		return;
	if (!a->published_member && agent_name_taken(a))
		return;
	const agent_status *st = agent_status_get(a);
	dcs_member_info m = {.conn_url = a->conn_url,
	                     .api_url = a->api_url,
	                     .state = st->state,
	                     .role = st->role,
	                     .version = TANDEM_VERSION,
	                     .has_lsn = st->lsn_known,
	                     .xlog_location = st->lsn,
	                     .timeline = st->timeline,
	                     .pending_restart = st->pending_restart};
	if (!strcmp(st->role, "replica") && a->walreceiver && !strcmp(a->walreceiver, "streaming"))
		m.replication_state = "streaming";
	m.tags.nofailover = tandemd_tag(a->s, "nofailover");
	m.tags.noloadbalance = tandemd_tag(a->s, "noloadbalance");
	m.tags.clonefrom = tandemd_tag(a->s, "clonefrom");
	m.tags.nosync = tandemd_tag(a->s, "nosync");
	m.site = tandemd_site(a->s);
	m.has_replay_lag = a->has_replay_lag && st->lsn_known && a->query_ok;
	m.replay_lag_ms = a->replay_lag_ms;
	char *v = dcs_encode_member(&m);
	/* The key lives on the lease (kept alive every loop_wait): it is only rewritten when it
	 * says something new, or when the lease is a new one. */
	const dcs_view *view = dcs_get_view(a->dcs);
	const dcs_member *mine = dcs_view_member(view, a->s->name);
	if (a->published_member && !strcmp(a->published_member, v) &&
	    a->published_lease == dcs_lease_id(a->dcs) && mine &&
	    mine->lease == a->published_lease) {
		free(v);
		return;
	}
	dcs_touch_member(a->dcs, v, on_touch, a);
	free(a->published_member);
	a->published_member = v;
	a->published_lease = dcs_lease_id(a->dcs);
}

static void on_lease(dcs_result r, const char *error, uint64_t sent_ms, int64_t ttl_s, void *ud)
{
	agent *a = ud;
	if (r == DCS_OK) {
		a->dcs_ok = true;
		a->dcs_last_seen_unix_s = clock_unix_ms() / 1000;
		/* Never longer than the TTL asked for: an answer (a hostile etcd, or one in the
		 * middle of plain HTTP) claiming more would keep a primary writable for that long
		 * without the key. A shorter one only makes us stop sooner. */
		a->lease_expiry_ms =
		    sent_ms + (uint64_t)(ttl_s > 0 && ttl_s < a->ttl_s ? ttl_s : a->ttl_s) * 1000;
		agent_publish_member(a); /* a new lease carries the member key again */
	} else {
		metrics_inc(&a->counters.dcs_errors, 1);
		log_warning("lease renewal: %s", error ? error : dcs_result_name(r));
		if (r == DCS_LOST) {
			a->dcs_ok = true;
			a->lease_expiry_ms = 0; /* gone: a new one is granted on the next beat */
		} else {
			a->dcs_ok = false;
			agent_failsafe_round(a);
		}
	}
	hb_done(a);
}

static void on_grant(dcs_result r, const char *error, void *ud)
{
	agent *a = ud;
	if (r == DCS_OK) {
		a->dcs_ok = true;
		a->dcs_last_seen_unix_s = clock_unix_ms() / 1000;
		/* Granted at least now - retry_timeout ago; keep-alive right away for an exact
		 * send time. A leader key of ours (a restarted agent's; the key still lives on the
		 * dead one's lease) is moved onto the new lease at once: its expiry is then ours.
		 */
		if (agent_holds_key(a))
			dcs_renew_leader(a->dcs, on_lease, a);
		else
			dcs_lease_keepalive(a->dcs, on_lease, a);
		return;
	}
	metrics_inc(&a->counters.dcs_errors, 1);
	a->dcs_ok = r == DCS_LOST;
	log_warning("lease grant: %s", error ? error : dcs_result_name(r));
	hb_done(a);
}

static void heartbeat(agent *a)
{
	if (a->hb_running || a->stopping)
		return;
	a->hb_running = true;
	bool leader = agent_holds_key(a);
	if (!dcs_lease_id(a->dcs) || a->lease_expiry_ms == 0)
		dcs_lease_grant(a->dcs, on_grant, a);
	else if (leader)
		dcs_renew_leader(a->dcs, on_lease, a);
	else
		dcs_lease_keepalive(a->dcs, on_lease, a);
}

static void on_tick(uv_timer_t *t)
{
	agent *a = t->data;
	uint64_t mono = clock_mono_ms(), wall = (uint64_t)clock_unix_ms();
	ha_tilt tilt = ha_tilt_detect(&a->hc, a->last_tick_mono, a->last_tick_wall, mono, wall);
	if (tilt != HA_TILT_NONE) {
		if (!a->mem.tilt)
			log_warning("TILT: %s (%" PRIu64
			            " ms between beats, wall clock moved %" PRId64
			            " ms); observing for one pass",
			            tilt == HA_TILT_STALL ? "the loop stalled" : "the clock jumped",
			            mono - a->last_tick_mono, (int64_t)(wall - a->last_tick_wall));
		a->mem.tilt = true;
		metrics_inc(&a->counters.tilts, 1);
	}
	a->last_tick_mono = mono;
	a->last_tick_wall = wall;
	heartbeat(a);
	agent_failsafe_round(a);
}

/* ---- the HA pass ---- */

static void pass_plan(agent *a);

static void on_kick(uv_timer_t *t)
{
	agent *a = t->data;
	if (a->stopping || !dcs_view_ready(a->dcs) || !a->beat_done)
		return;
	/* A restarted leader whose key still lives on its predecessor's lease: the renewal moves
	 * it onto ours before the first decision, which would otherwise judge a lease that is not
	 * the key's. Once: the watch then shows the key on our lease. */
	const dcs_view *v = dcs_get_view(a->dcs);
	if (!a->adopt_tried && agent_holds_key(a) && dcs_lease_id(a->dcs) &&
	    v->leader_lease != dcs_lease_id(a->dcs)) {
		if (!a->hb_running) {
			a->adopt_tried = true;
			heartbeat(a);
		}
		return;
	}
	if (a->busy || a->pass_running) {
		a->pass_again = true;
		return;
	}
	a->pass_running = true;
	agent_monitor_pass_start(a);
	agent_gather(a, pass_plan);
}

/* 1 ms, not 0: a timer restarted with 0 from a timer callback would run again in the same loop
 * iteration, for ever, starving I/O. */
void agent_kick(agent *a)
{
	if (!a->stopping)
		uv_timer_start(&a->kick, on_kick, 1, 0);
}

void agent_action_done(agent *a)
{
	a->busy = false;
	a->doing = NULL;
	a->step = NULL;
	free(a->target);
	a->target = NULL;
	if (a->stopping) {
		agent_act_shutdown(a);
		return;
	}
	agent_kick(a); /* the pass that follows publishes what the step changed */
}

/* The end-of-pass hook: what the pass changed, made visible (the member key, the fence's
 * deadline, the beat's period). */
static void publish(agent *a)
{
	if (uv_timer_get_repeat(&a->tick) != a->hc.loop_wait_ms)
		uv_timer_set_repeat(&a->tick, a->hc.loop_wait_ms);
	agent_fence_update(a);
	agent_publish_member(a); /* written only when it says something new */
	agent_backup_tick(a);
	agent_k8s_publish(a);
}

/* One pass: gather (agent_gather, then agent_inputs) -> plan -> carry out one step -> publish. */
static void pass_plan(agent *a)
{
	a->pass_running = false;
	if (a->stopping)
		return;
	metrics_inc(&a->counters.ha_passes, 1);
	ha_inputs in;
	ha_member *members = agent_inputs(a, &in);
	ha_memory next;
	ha_step s = ha_plan(&in, &a->mem, &next);
	free(members); /* the step's target and reason point into the view or static text */
	a->mem = next;
	a->requests &= ~s.requests_done;
	a->last_pass_done_ms = in.now_ms;
	if (s.note)
		log_warning("%s", s.note);
	if (s.reason != a->last_logged_reason) {
		log_info("%s: %s%s%s", ha_action_name(s.action), s.reason, s.target ? " -> " : "",
		         s.target ? agent_target_text(s.target) : "");
		a->last_logged_reason = s.reason;
	}
	a->last_action = s.action;
	a->last_reason = s.reason;
	agent_monitor_pass_end(a);
	if (s.action != HA_WAIT && s.action != HA_KEEP_LEADER)
		metrics_inc(&a->counters.actions, 1);
	agent_act(a, s);
	if (s.recheck_in_ms && !a->busy && !a->stopping)
		uv_timer_start(&a->kick, on_kick, s.recheck_in_ms, 0);
	publish(a);
	if (!a->busy && a->pass_again) {
		a->pass_again = false;
		agent_kick(a);
	}
}

/* ---- lifecycle ---- */

static void begin(agent *a)
{
	dcs_start(a->dcs);
	a->last_tick_mono = 0;
	uv_timer_start(&a->tick, on_tick, 0, a->hc.loop_wait_ms);
	agent_runner_start(a);
	agent_pgbr_server_start(a);
}

/* Whether `pid` is a live (not zombie) postgres process: comm is "postgres" (the process title
 * changes the command line, not comm); a reused pid is something else. */
static bool is_live_postgres(pid_t pid)
{
	char comm[32];
	char st = proc_state(pid, comm, sizeof comm);
	return st && st != 'Z' && st != 'X' &&
	       (!strcmp(comm, "postgres") || !strcmp(comm, "postmaster"));
}

/* The pid in <data_dir>/postmaster.pid when that process is a live postgres; 0 otherwise. */
static pid_t leftover_postmaster(const agent *a)
{
	char *path = xasprintf("%s/postmaster.pid", a->s->data_dir);
	FILE *f = fopen(path, "re");
	free(path);
	if (!f)
		return 0;
	long pid = 0;
	char line[64];
	if (fgets(line, sizeof line, f))
		pid = strtol(line, NULL, 10);
	fclose(f);
	return pid > 1 && is_live_postgres((pid_t)pid) ? (pid_t)pid : 0;
}

static void on_leftover_wait(uv_timer_t *t)
{
	agent *a = t->data;
	pid_t pid = leftover_postmaster(a);
	uint64_t now = clock_mono_ms();
	if (pid && now <= a->leftover_deadline_ms)
		return;
	if (pid && a->leftover_signal == SIGINT) {
		log_warning("the leftover postmaster %d ignores fast shutdown: immediate (SIGQUIT)",
		            (int)pid);
		kill(pid, SIGQUIT);
		a->leftover_signal = SIGQUIT;
		a->leftover_deadline_ms = now + 10000;
		return;
	}
	if (pid) {
		log_error("the leftover postmaster %d ignores SIGQUIT: SIGKILL", (int)pid);
		kill(pid, SIGKILL);
	}
	uv_timer_stop(t);
	log_info("the leftover postmaster is gone");
	begin(a);
}

void agent_start(agent *a)
{
	a->started = true;
	pid_t pid = leftover_postmaster(a);
	if (!pid) {
		begin(a);
		return;
	}
	/* A postmaster we did not start (left by a previous tandemd): it is stopped, so that
	 * this agent owns its PostgreSQL as a child and decides its role afresh. */
	log_warning("a postmaster left by a previous run (pid %d) runs on %s: stopping it (fast)",
	            (int)pid, a->s->data_dir);
	kill(pid, SIGINT);
	a->leftover_signal = SIGINT;
	a->leftover_deadline_ms = clock_mono_ms() + 60000;
	uv_timer_start(&a->wait, on_leftover_wait, 100, 100);
}

void agent_on_fatal(agent *a, void (*fn)(void *ud), void *ud)
{
	a->on_fatal = fn;
	a->fatal_ud = ud;
}

void agent_fatal(agent *a)
{
	void (*fn)(void *) = a->on_fatal;
	a->on_fatal = NULL;
	if (fn)
		fn(a->fatal_ud);
}

void agent_shutdown(agent *a, void (*done)(void *ud), void *ud)
{
	a->on_shutdown = done;
	a->shutdown_ud = ud;
	if (a->stopping)
		return;
	a->stopping = true;
	agent_runner_stop(a);
	agent_pgbr_server_stop(a);
	uv_timer_stop(&a->tick);
	uv_timer_stop(&a->kick);
	if (a->boot_job) /* a restore of a bootstrap from a backup: it ends the action */
		job_cancel(a->boot_job);
	if (!a->busy)
		agent_act_shutdown(a);
	/* else: the running action ends, then agent_action_done carries on */
}

void agent_free(agent *a)
{
	if (!a)
		return;
	agent_fence_free(a);
	agent_k8s_free(a);
	agent_backup_free(a);
	agent_drill_free(a);
	agent_pooler_free(a);
	agent_failsafe_free(a);
	agent_cred_free(a);
	agent_abort_patches(a);
	agent_runner_free(a);
	agent_pgbr_server_free(a);
	if (a->dcs)
		dcs_free(a->dcs);
	if (a->etcd)
		etcd_free(a->etcd);
	if (a->pc)
		pgctl_free(a->pc);
	if (a->tick.loop) {
		uv_close((uv_handle_t *)&a->tick, NULL);
		uv_close((uv_handle_t *)&a->kick, NULL);
		uv_close((uv_handle_t *)&a->wait, NULL);
		/* the handles live inside `a`: let the loop finish closing them */
		uv_run(a->loop, UV_RUN_NOWAIT);
	}
	agent_set_replicas(a, NULL);
	agent_site_free(a);
	agent_monitor_free(a);
	free(a->port);
	free(a->sockdir);
	free(a->passfile);
	free(a->local_conninfo);
	free(a->conn_url);
	free(a->api_url);
	free(a->slot_name);
	free(a->tags_kv);
	free(a->su_user);
	free(a->repl_user);
	free(a->rewind_user);
	free(a->upstream);
	free(a->walreceiver);
	free(a->published_member);
	free(a->ssn);
	free(a->sysid);
	free(a->target);
	free(a->restore_conf);
	free(a);
}
