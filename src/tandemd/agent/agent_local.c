/* What the local PostgreSQL is (a state query when it runs, pg_controldata when it does not), and
 * the files tandem writes for it. See agent_priv.h. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "addr.h"
#include "agent_priv.h"
#include "dcs_view_ha.h"
#include "diverge.h"
#include "dyn_config.h"
#include "log.h"
#include "strbuf.h"

bool agent_has_data(const agent *a)
{
	char *p = xasprintf("%s/PG_VERSION", a->s->data_dir);
	struct stat st;
	bool ok = stat(p, &st) == 0;
	free(p);
	return ok;
}

static bool has_control_file(const agent *a)
{
	char *p = xasprintf("%s/global/pg_control", a->s->data_dir);
	struct stat st;
	bool ok = stat(p, &st) == 0;
	free(p);
	return ok;
}

void agent_move_aside_unfinished(agent *a, const char *why)
{
	char *moved = NULL, *e = NULL;
	if (pgctl_move_aside(a->pc, &moved, &e) == 0) {
		log_warning("%s: %s: moved aside to %s; cloning afresh", a->s->data_dir, why,
		            moved);
		free(moved);
		agent_backup_restore_forget(a); /* they were about the directory moved aside */
		agent_boot_forget(a);
	} else {
		log_error("%s", e);
		free(e);
	}
}

ha_pg_state agent_pg_state(const agent *a)
{
	if (pgctl_running(a->pc)) {
		if (!a->pg_ready || !a->query_ok)
			return HA_PG_STARTING;
		return a->st.in_recovery ? HA_PG_REPLICA : HA_PG_PRIMARY;
	}
	if (!agent_has_data(a))
		return HA_PG_NO_DATA;
	return a->pg_crashed ? HA_PG_CRASHED : HA_PG_STOPPED;
}

/* ---- configuration files ---- */

typedef struct params {
	pgctl_param *v;
	size_t n, cap;
	char **owned;
	size_t nowned;
} params;

static void param_add(params *p, const char *name, const char *value)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->v[i].name, name)) {
			p->v[i].value = value; /* a later source wins */
			return;
		}
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 32;
		p->v = xrealloc(p->v, p->cap * sizeof *p->v);
	}
	p->v[p->n++] = (pgctl_param){name, value};
}

static const char *own(params *p, char *s)
{
	p->owned = xrealloc(p->owned, (p->nowned + 1) * sizeof *p->owned);
	p->owned[p->nowned++] = s;
	return s;
}

static void params_free(params *p)
{
	for (size_t i = 0; i < p->nowned; i++)
		free(p->owned[i]);
	free(p->owned);
	free(p->v);
}

/* The cluster's parameters from the DCS config (postgresql.parameters), as text. Those the DCS
 * may not set (dyn_config_param_check: whoever can write to etcd must not run programs or load
 * code on this host, nor write a name or value that would make postgresql.conf unwritable) are
 * never written: one warning per name and config revision. */
static void add_dcs_params(agent *a, params *p, const dcs_view *v)
{
	if (!v->has_config || !v->config.parameters_json)
		return;
	json_t *j = json_loads(v->config.parameters_json, 0, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return;
	}
	const char *k;
	json_t *val;
	bool warn = a->refused_params_rev != v->config.mod_revision;
	a->refused_params_rev = v->config.mod_revision;
	json_object_foreach(j, k, val)
	{
		const char *why = dyn_config_param_check(k, val);
		if (why) {
			if (warn) {
				char *shown =
				    xstrndup(k, 100); /* one log line, whatever the name */
				for (char *c = shown; *c; c++)
					if ((unsigned char)*c < 0x20 || *c == 0x7f)
						*c = '?';
				log_warning("DCS config (revision %" PRId64
				            "): postgresql.parameters.%s %s: not written (only a "
				            "member's own YAML may set what the DCS may not)",
				            v->config.mod_revision, shown, why);
				free(shown);
			}
			continue;
		}
		const char *name = own(p, xstrdup(k));
		if (json_is_string(val))
			param_add(p, name, own(p, xstrdup(json_string_value(val))));
		else if (json_is_integer(val))
			param_add(
			    p, name,
			    own(p, xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(val))));
		else if (json_is_real(val))
			param_add(p, name, own(p, xasprintf("%g", json_real_value(val))));
		else if (json_is_boolean(val))
			param_add(p, name, json_is_true(val) ? "on" : "off");
	}
	json_decref(j);
}

static char *listen_addresses(const char *listen)
{
	return addr_host_text(listen, "127.0.0.1");
}

int agent_write_pg_files(agent *a, bool standby, const char *upstream, char **err)
{
	const tandemd_settings *s = a->s;
	params p = {0};
	/* What replication and pg_rewind need, bounded retained WAL, then the cluster's settings,
	 * then this member's, then what tandem must own. */
	param_add(&p, "wal_level", "replica");
	param_add(&p, "hot_standby", "on");
	param_add(&p, "max_wal_senders", "10");
	param_add(&p, "max_replication_slots", "10");
	param_add(&p, "wal_log_hints", "on");
	param_add(&p, "wal_keep_size", "128MB");
	param_add(&p, "max_slot_wal_keep_size", "1GB");
	param_add(&p, "wal_receiver_status_interval", "1s");
	/* A replica retries its upstream every 200 ms, not every 5 s: after a switchover or the
	 * leader's PostgreSQL restarting, a standby is back (and strict commits flow) that much
	 * sooner (1 s here cost strict mode about 0.8 s of write gap in both). The price: while
	 * no upstream answers, five connection attempts, and log lines, a second. */
	param_add(&p, "wal_retrieve_retry_interval", "200ms");
	for (size_t i = 0; i < s->bootstrap_parameters.n; i++)
		param_add(&p, s->bootstrap_parameters.keys[i], s->bootstrap_parameters.values[i]);
	add_dcs_params(a, &p, dcs_get_view(a->dcs));
	for (size_t i = 0; i < s->parameters.n; i++)
		param_add(&p, s->parameters.keys[i], s->parameters.values[i]);
	param_add(&p, "listen_addresses", own(&p, listen_addresses(s->pg_listen)));
	param_add(&p, "port", a->port);
	/* Archiving through pgBackRest (agent_backup.c): tandem's, whatever else says. */
	pgctl_param bp[AGENT_BACKUP_NPARAMS];
	for (size_t i = 0, n = agent_backup_params(a, bp); i < n; i++)
		param_add(&p, bp[i].name, bp[i].value);
	if (!cfg_map_get(&s->parameters, "unix_socket_directories"))
		param_add(&p, "unix_socket_directories", a->sockdir);
	param_add(&p, "cluster_name", s->scope);
	if (standby && !a->promoting) {
		free(a->ssn); /* a replica waits for no one; a promotion sets it afresh */
		a->ssn = NULL;
	}
	if (a->ssn)
		param_add(&p, "synchronous_standby_names", a->ssn);
	/* A standby cluster reads the primary site's archive when streaming cannot serve it, and
	 * its own only up to where a failback's history forked (agent_site_fork.c); its standby
	 * leader may lag on purpose. */
	char *restore =
	    standby && agent_is_standby_cluster(a) ? agent_site_standby_restore_command(a) : NULL;
	if (restore)
		param_add(&p, "restore_command", own(&p, restore));
	agent_site_fork_settle(a);
	if (standby && upstream && !strcmp(upstream, HA_PRIMARY_SITE) && agent_site_apply_delay(a))
		param_add(&p, "recovery_min_apply_delay", agent_site_apply_delay(a));

	pgctl_upstream *up = standby && upstream ? agent_upstream_of(a, upstream, false) : NULL;
	int rc = pgctl_write_conf(a->pc, p.v, p.n, up, err);
	params_free(&p);
	agent_upstream_free(up);
	/* `upstream` may be a->upstream itself: copy before freeing. */
	char *next = standby && upstream ? xstrdup(upstream) : NULL;
	free(a->upstream);
	a->upstream = next;
	if (rc != 0)
		return -1;

	const char *def_hba[] = {
	    "local all all peer",
	    "host all all 127.0.0.1/32 scram-sha-256",
	    "host all all ::1/128 scram-sha-256",
	    "host replication all 127.0.0.1/32 scram-sha-256",
	    "host replication all ::1/128 scram-sha-256",
	};
	if (s->pg_hba.n)
		rc = pgctl_write_hba(a->pc, (const char *const *)s->pg_hba.v, s->pg_hba.n, err);
	else
		rc = pgctl_write_hba(a->pc, def_hba, sizeof def_hba / sizeof def_hba[0], err);
	if (rc != 0)
		return -1;
	return pgctl_set_standby(a->pc, standby, err);
}

int agent_rewrite_pg_conf(agent *a, bool standby, const char *upstream, char **err)
{
	if (agent_write_pg_files(a, standby, upstream, err) != 0)
		return -1;
	return pgctl_reload(a->pc, err);
}

/* "postgres://host:port/db" -> host and port. */
static bool parse_conn_url(const char *url, char **host, char **port)
{
	return url && addr_url_host_port(url, 5432, host, port, NULL) == 0;
}

static const char *dup_opt(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

pgctl_ssl agent_ssl_copy(const tandemd_pg_ssl *t)
{
	return (pgctl_ssl){dup_opt(t->sslmode),    dup_opt(t->sslcert),
	                   dup_opt(t->sslkey),     dup_opt(t->sslrootcert),
	                   dup_opt(t->sslcrl),     dup_opt(t->sslcrldir),
	                   dup_opt(t->gssencmode), dup_opt(t->channel_binding)};
}

pgctl_upstream *agent_upstream_of(agent *a, const char *name, bool rewind)
{
	if (!strcmp(name, HA_PRIMARY_SITE))
		return agent_site_upstream(a, rewind);
	const dcs_member *m = dcs_view_member(dcs_get_view(a->dcs), name);
	char *host, *port;
	if (!m || !parse_conn_url(m->conn_url, &host, &port))
		return NULL;
	char *err = NULL;
	if (agent_pass_remote(a, host, port, &err) != 0) {
		log_error("connecting to %s: %s", name, err);
		free(err);
		free(host);
		free(port);
		return NULL;
	}
	pgctl_upstream *u = xcalloc(1, sizeof *u);
	u->host = host;
	u->port = port;
	/* pg_rewind connects as the rewind user, or the superuser when there is none. */
	const tandemd_pg_ssl *t = !rewind                 ? &a->s->replication_ssl
	                          : a->s->rewind_username ? &a->s->rewind_ssl
	                                                  : &a->s->superuser_ssl;
	u->ssl = agent_ssl_copy(t);
	u->user = xstrdup(rewind ? a->rewind_user : a->repl_user);
	u->dbname = xstrdup("postgres");
	u->passfile = xstrdup(a->passfile);
	u->application_name = xstrdup(a->s->name);
	u->slot_name = !rewind && a->s->use_slots ? xstrdup(a->slot_name) : NULL;
	return u;
}

void agent_upstream_free(pgctl_upstream *u)
{
	if (!u)
		return;
	free((char *)u->host);
	free((char *)u->port);
	free((char *)u->user);
	free((char *)u->dbname);
	free((char *)u->passfile);
	free((char *)u->application_name);
	free((char *)u->slot_name);
	free((char *)u->target_session_attrs);
	const char *ssl[] = {u->ssl.sslmode,     u->ssl.sslcert,        u->ssl.sslkey,
	                     u->ssl.sslrootcert, u->ssl.sslcrl,         u->ssl.sslcrldir,
	                     u->ssl.gssencmode,  u->ssl.channel_binding};
	for (size_t i = 0; i < sizeof ssl / sizeof ssl[0]; i++)
		free((char *)ssl[i]);
	free(u);
}

/* ---- gathering the local state ---- */

typedef struct gather {
	agent *a;
	void (*done)(agent *a);
} gather;

static void gather_end(gather *g)
{
	agent *a = g->a;
	void (*done)(agent *) = g->done;
	free(g);
	done(a);
}

void agent_set_replicas(agent *a, const char *json)
{
	for (size_t i = 0; i < a->nreplicas; i++) {
		free(a->replicas[i].application_name);
		free(a->replicas[i].client_addr);
		free(a->replicas[i].state);
		free(a->replicas[i].sync_state);
	}
	free(a->replicas);
	a->replicas = NULL;
	a->nreplicas = 0;
	json_t *j = json ? json_loads(json, 0, NULL) : NULL;
	if (json_is_array(j) && json_array_size(j)) {
		a->replicas = xcalloc(json_array_size(j), sizeof *a->replicas);
		size_t i;
		json_t *r;
		json_array_foreach(j, i, r)
		{
			agent_replica *x = &a->replicas[a->nreplicas++];
			const char *s;
			if ((s = json_string_value(json_object_get(r, "application_name"))))
				x->application_name = xstrdup(s);
			if ((s = json_string_value(json_object_get(r, "client_addr"))))
				x->client_addr = xstrdup(s);
			if ((s = json_string_value(json_object_get(r, "state"))))
				x->state = xstrdup(s);
			if ((s = json_string_value(json_object_get(r, "sync_state"))))
				x->sync_state = xstrdup(s);
			if ((s = json_string_value(json_object_get(r, "replay_lsn"))) &&
			    pgctl_parse_lsn(s, &x->replay_lsn) != 0)
				x->replay_lsn = 0;
		}
	}
	json_decref(j);
}

static const char info_sql[] =
    "SELECT current_setting('server_version_num'),"
    " (SELECT count(*) FROM pg_settings WHERE pending_restart),"
    " (extract(epoch FROM pg_postmaster_start_time()) * 1000)::bigint,"
    " (SELECT coalesce(json_agg(json_build_object('application_name', application_name,"
    " 'client_addr', host(client_addr), 'state', state, 'sync_state', sync_state,"
    " 'replay_lsn', replay_lsn::text)), '[]') FROM pg_stat_replication),"
    " (SELECT status FROM pg_stat_wal_receiver),"
    " (SELECT system_identifier::text FROM pg_control_system()),"
    /* A replica's replay lag: 0 when it replayed everything its upstream had sent; otherwise
     * from the last replayed commit to the upstream's last activity (when its WAL end last
     * moved, by its clock): an idle primary is no lag. */
    " (SELECT CASE WHEN NOT pg_is_in_recovery() THEN NULL"
    " WHEN pg_last_wal_replay_lsn() >= coalesce(r.latest_end_lsn, pg_last_wal_receive_lsn())"
    " THEN 0 ELSE greatest(0, extract(epoch FROM r.latest_end_time -"
    " pg_last_xact_replay_timestamp()) * 1000)::bigint END"
    " FROM (SELECT 1) o LEFT JOIN pg_stat_wal_receiver r ON true),"
    /* monitoring (agent_monitor_info) */
    " (extract(epoch FROM pg_last_xact_replay_timestamp()) * 1000)::bigint,"
    " CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END,"
    " (SELECT latest_end_lsn::text FROM pg_stat_wal_receiver)";

/* The state, then the info query's columns (asked in the same round trip). */
static void on_state(const pgctl_state *st, const char *const *row, int ncols, const char *err,
                     void *ud)
{
	gather *g = ud;
	agent *a = g->a;
	if (err) {
		a->query_ok = false;
		log_debug("state query: %s", err);
		gather_end(g);
		return;
	}
	a->query_ok = true;
	/* A replica reports the timeline of its WAL receiver, or of its last restartpoint while the
	 * receiver reconnects: timelines of one running server never go back. */
	int64_t prev = a->st_pid == pgctl_pid(a->pc) ? a->st.timeline : 0;
	a->st = *st;
	a->st_pid = pgctl_pid(a->pc);
	if (a->st.timeline < prev)
		a->st.timeline = prev;
	if (ncols >= 6) {
		a->server_version = row[0] ? atoi(row[0]) : 0;
		a->pending_restart = row[1] && atoi(row[1]) > 0;
		a->pg_started_unix_ms = row[2] ? strtoull(row[2], NULL, 10) : 0;
		agent_set_replicas(a, row[3]);
		free(a->walreceiver);
		a->walreceiver = row[4] ? xstrdup(row[4]) : NULL;
		if (row[5] && (!a->sysid || strcmp(a->sysid, row[5]) != 0)) {
			free(a->sysid);
			a->sysid = xstrdup(row[5]);
		}
		a->has_replay_lag = ncols >= 7 && row[6];
		a->replay_lag_ms = a->has_replay_lag ? strtoull(row[6], NULL, 10) : 0;
		agent_monitor_info(a, row + 7, ncols - 7);
	}
	gather_end(g);
}

static void on_controldata(bool ok, const char *out, const char *moved, void *ud)
{
	gather *g = ud;
	agent *a = g->a;
	(void)moved;
	a->ctl_ok = ok && pgctl_parse_controldata(out, &a->ctl) == 0;
	if (a->ctl_ok && (!a->sysid || strcmp(a->sysid, a->ctl.sysid) != 0)) {
		free(a->sysid);
		a->sysid = xstrdup(a->ctl.sysid);
	}
	/* Patroni stops on "system ID mismatch"; the plan keeps such data stopped (rule 2). */
	const char *cluster = dcs_get_view(a->dcs)->sysid;
	bool foreign = a->ctl_ok && cluster && *cluster && strcmp(cluster, a->ctl.sysid) != 0;
	if (foreign && !a->foreign_data)
		log_error("%s belongs to another cluster: its system identifier is %s, the "
		          "cluster's %s",
		          a->s->data_dir, a->ctl.sysid, cluster);
	a->foreign_data = foreign;
	gather_end(g);
}

void agent_gather(agent *a, void (*done)(agent *a))
{
	gather *g = xcalloc(1, sizeof *g);
	g->a = a;
	g->done = done;
	char *e = NULL;
	if (pgctl_running(a->pc)) {
		a->ctl_ok = false;
		if (!a->pg_ready) {
			gather_end(g);
			return;
		}
		if (pgctl_ask_state(a->pc, a->local_conninfo, info_sql, a->hc.retry_timeout_ms,
		                    on_state, g, &e) == 0)
			return;
		a->query_ok = false; /* no answer (the postmaster is being stopped): no state */
		log_debug("state query: %s", e);
		free(e);
		gather_end(g);
		return;
	} else {
		a->query_ok = false;
		/* A data directory that an interrupted tool left is never started, never
		 * deleted: the plan moves it aside, so that the member clones afresh. A pg_rewind
		 * cut short (the agent died during it) leaves what no rewind can be trusted to
		 * repair; pg_basebackup writes global/pg_control last, so a copy cut short lacks
		 * it. */
		a->unfinished_data = NULL;
		if (!agent_has_data(a))
			agent_boot_forget(a); /* a note of no data: nothing to move aside */
		if (agent_has_data(a) && pgctl_rewind_interrupted(a->pc))
			a->unfinished_data = "a pg_rewind did not finish";
		else if (agent_has_data(a) && agent_backup_restore_interrupted(a))
			a->unfinished_data = "a pgbackrest restore did not finish";
		else if (agent_has_data(a) && agent_boot_interrupted(a))
			a->unfinished_data = "a bootstrap did not finish (the cluster was never "
			                     "initialized with this data)";
		else if (agent_has_data(a) && !has_control_file(a))
			a->unfinished_data = "no global/pg_control (an interrupted copy)";
		if (!agent_has_data(a) || a->unfinished_data) {
			a->ctl_ok = false;
			a->foreign_data = false;
			gather_end(g);
			return;
		}
		pgctl_clone_opts o = {
		    .bin_dir = a->s->bin_dir, .timeout_ms = 30000, .done = on_controldata, .ud = g};
		if (pgctl_controldata(a->loop, a->pc, &o, &e) == 0)
			return;
	}
	log_warning("%s", e);
	free(e);
	gather_end(g);
}

int64_t agent_leader_timeline(const agent *a)
{
	return dcs_view_leader_timeline(dcs_get_view(a->dcs));
}

bool agent_diverged(const agent *a)
{
	if (!a->ctl_ok)
		return false;
	const dcs_view *v = dcs_get_view(a->dcs);
	return diverge_check(&a->ctl, agent_leader_timeline(a), v->history, v->nhistory);
}
