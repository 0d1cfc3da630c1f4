/* The JSON and Prometheus bodies of tandemd's REST API: see rest_render.h. */
#include "rest_render.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "backup_options.h"
#include "backup_state.h"
#include "cfg.h"
#include "metrics.h"

/* ---- helpers ---- */

static json_t *jint_u64(uint64_t v)
{
	return json_integer(v > (uint64_t)INT64_MAX ? (json_int_t)INT64_MAX : (json_int_t)v);
}

static json_t *jstr_or_null(const char *s)
{
	json_t *j = s ? json_string(s) : NULL;
	/* json_string refuses text that is not UTF-8: keep the shape with a null. */
	return j ? j : json_null();
}

static char *dump(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	json_decref(j);
	if (!s) {
		/* Out of memory inside jansson: the process ends like every other allocation. */
		s = xstrdup("{}");
	}
	char *out = xstrdup(s);
	free(s);
	return out;
}

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

/* A tag value from the YAML as JSON: true/false become booleans (as Patroni keeps YAML types). */
static json_t *tag_value_json(const char *v)
{
	if (v && strcasecmp(v, "true") == 0)
		return json_true();
	if (v && strcasecmp(v, "false") == 0)
		return json_false();
	return jstr_or_null(v);
}

/* "2023-08-18 11:03:37.966+00:00", Patroni's (PostgreSQL's) text of a timestamp, in UTC. */
static json_t *pg_timestamp(int64_t unix_ms)
{
	time_t secs = (time_t)(unix_ms / 1000);
	struct tm tm;
	if (!gmtime_r(&secs, &tm))
		return json_null();
	char text[64];
	snprintf(text, sizeof text, "%04d-%02d-%02d %02d:%02d:%02d.%03d+00:00", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	         (int)(unix_ms % 1000));
	return json_string(text);
}

/* ---- GET /patroni ---- */

char *rest_render_patroni(const agent_status *st)
{
	json_t *o = json_object();
	bool primary = st->role && strcmp(st->role, "primary") == 0;
	/* A standby leader is a replica of the other site: its positions and streaming state are
	 * a replica's. */
	bool replica = st->role && (strcmp(st->role, "replica") == 0 ||
	                            strcmp(st->role, "standby_leader") == 0);

	json_object_set_new(o, "state", jstr_or_null(st->state));
	if (st->postmaster_start_unix_ms > 0)
		json_object_set_new(o, "postmaster_start_time",
		                    pg_timestamp(st->postmaster_start_unix_ms));
	json_object_set_new(o, "role", jstr_or_null(st->role));
	if (st->server_version > 0)
		json_object_set_new(o, "server_version", json_integer(st->server_version));
	if (st->lsn_known && (primary || replica)) {
		json_t *x = json_object();
		if (primary) {
			json_object_set_new(x, "location", jint_u64(st->lsn));
		} else {
			if (st->receive_lsn)
				json_object_set_new(x, "received_location",
				                    jint_u64(st->receive_lsn));
			json_object_set_new(x, "replayed_location", jint_u64(st->lsn));
			json_object_set_new(x, "paused", json_false());
		}
		json_object_set_new(o, "xlog", x);
	}
	if (replica && st->health.pg == HEALTH_PG_RUNNING)
		json_object_set_new(
		    o, "replication_state",
		    json_string(st->health.streaming ? "streaming" : "in archive recovery"));
	if (replica && st->health.sync_standby)
		json_object_set_new(o, "sync_standby", json_true());
	if (st->timeline > 0)
		json_object_set_new(o, "timeline", json_integer(st->timeline));
	if (primary && st->nreplicas > 0 && st->replicas) {
		json_t *a = json_array();
		for (size_t i = 0; i < st->nreplicas; i++) {
			const agent_replica *r = &st->replicas[i];
			json_t *e = json_object();
			json_object_set_new(e, "application_name",
			                    jstr_or_null(r->application_name));
			json_object_set_new(e, "client_addr", jstr_or_null(r->client_addr));
			json_object_set_new(e, "state", jstr_or_null(r->state));
			json_object_set_new(e, "sync_state", jstr_or_null(r->sync_state));
			json_array_append_new(a, e);
		}
		json_object_set_new(o, "replication", a);
	}
	if (!st->leader)
		json_object_set_new(o, "cluster_unlocked", json_true());
	if (st->dcs_last_seen_unix_s > 0)
		json_object_set_new(o, "dcs_last_seen", json_integer(st->dcs_last_seen_unix_s));
	if (st->sysid)
		json_object_set_new(o, "database_system_identifier", jstr_or_null(st->sysid));
	if (st->pending_restart)
		json_object_set_new(o, "pending_restart", json_true());
	if (st->paused)
		json_object_set_new(o, "pause", json_true());
	if (st->failsafe_active)
		json_object_set_new(o, "failsafe_mode_is_active", json_true());
	if (st->settings && st->settings->tags.n > 0) {
		const cfg_map *m = &st->settings->tags;
		json_t *t = json_object();
		for (size_t i = 0; i < m->n; i++)
			if (m->keys[i])
				json_object_set_new(t, m->keys[i], tag_value_json(m->values[i]));
		json_object_set_new(o, "tags", t);
	}
	json_t *p = json_object();
	json_object_set_new(p, "version", json_string(TANDEM_VERSION));
	json_object_set_new(p, "scope", jstr_or_null(st->scope));
	json_object_set_new(p, "name", jstr_or_null(st->name));
	json_object_set_new(o, "patroni", p);
	return dump(o);
}

/* ---- GET /cluster ---- */

void rest_conn_url_host_port(const char *conn_url, char **host, int *port)
{
	*host = NULL;
	*port = 0;
	if (!conn_url)
		return;
	const char *p = strstr(conn_url, "://");
	p = p ? p + 3 : conn_url;
	/* the authority ends at '/', '?' or the end; userinfo ends at its last '@' */
	size_t alen = strcspn(p, "/?#");
	const char *at = NULL;
	for (size_t i = 0; i < alen; i++)
		if (p[i] == '@')
			at = p + i;
	if (at) {
		alen -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	const char *end = p + alen;
	const char *hs = p, *he;
	if (*p == '[') {
		const char *close = memchr(p, ']', alen);
		if (!close)
			return;
		hs = p + 1;
		he = close;
		p = close + 1;
	} else {
		he = memchr(p, ':', alen);
		if (!he)
			he = end;
		p = he;
	}
	if (he > hs)
		*host = xstrndup(hs, (size_t)(he - hs));
	if (p < end && *p == ':') {
		long v = 0;
		const char *d = p + 1;
		if (d == end)
			return;
		for (; d < end; d++) {
			if (*d < '0' || *d > '9' || v > 65535)
				return;
			v = v * 10 + (*d - '0');
		}
		if (v >= 1 && v <= 65535)
			*port = (int)v;
	}
}

static bool in_sync(const dcs_view *v, const char *name)
{
	for (size_t i = 0; i < v->nsync_standby; i++)
		if (v->sync_standby[i] && strcmp(v->sync_standby[i], name) == 0)
			return true;
	return false;
}

static int member_cmp(const void *a, const void *b)
{
	const dcs_member *const *x = a, *const *y = b;
	return strcmp(or_empty((*x)->name), or_empty((*y)->name));
}

static json_t *member_json(const agent_status *st, const dcs_member *m, bool has_leader_lsn,
                           uint64_t leader_lsn)
{
	const dcs_view *v = st->view;
	bool is_leader = v->leader && m->name && strcmp(v->leader, m->name) == 0;
	const char *role = "replica";
	if (is_leader)
		role = (v->has_config && v->config.standby.present) ||
		               (st->name && strcmp(st->name, m->name) == 0 &&
		                st->health.is_standby_leader)
		           ? "standby_leader"
		           : "leader";
	else if (m->name && in_sync(v, m->name))
		role = "sync_standby";

	json_t *e = json_object();
	json_object_set_new(e, "name", jstr_or_null(m->name));
	json_object_set_new(e, "role", json_string(role));
	json_object_set_new(e, "state", m->state ? jstr_or_null(m->state) : json_string(""));
	json_object_set_new(e, "api_url", jstr_or_null(m->api_url));
	char *host;
	int port;
	rest_conn_url_host_port(m->conn_url, &host, &port);
	if (host) {
		json_object_set_new(e, "host", jstr_or_null(host));
		if (port)
			json_object_set_new(e, "port", json_integer(port));
	}
	free(host);
	if (m->timeline > 0)
		json_object_set_new(e, "timeline", json_integer(m->timeline));
	if (m->pending_restart)
		json_object_set_new(e, "pending_restart", json_true());
	if (m->tags_json) {
		json_error_t je;
		json_t *t = json_loads(m->tags_json, 0, &je);
		if (json_is_object(t))
			json_object_set_new(e, "tags", t);
		else
			json_decref(t);
	}
	if (!is_leader) {
		if (!m->has_lsn)
			json_object_set_new(e, "lag", json_string("unknown"));
		else if (has_leader_lsn && leader_lsn >= m->xlog_location)
			json_object_set_new(e, "lag", jint_u64(leader_lsn - m->xlog_location));
		else
			json_object_set_new(e, "lag", json_integer(0));
	}
	return e;
}

char *rest_render_cluster(const agent_status *st)
{
	json_t *o = json_object();
	json_t *a = json_array();
	const dcs_view *v = st->view;
	if (v && v->nmembers > 0 && v->members) {
		bool has_leader_lsn = false;
		uint64_t leader_lsn = 0;
		const dcs_member *ldr = v->leader ? dcs_view_member(v, v->leader) : NULL;
		if (ldr && ldr->has_lsn) {
			has_leader_lsn = true;
			leader_lsn = ldr->xlog_location;
		} else if (v->has_status) {
			has_leader_lsn = true;
			leader_lsn = v->optime;
		}
		const dcs_member **sorted = xcalloc(v->nmembers, sizeof *sorted);
		for (size_t i = 0; i < v->nmembers; i++)
			sorted[i] = &v->members[i];
		qsort(sorted, v->nmembers, sizeof *sorted, member_cmp);
		for (size_t i = 0; i < v->nmembers; i++)
			json_array_append_new(
			    a, member_json(st, sorted[i], has_leader_lsn, leader_lsn));
		free(sorted);
	}
	json_object_set_new(o, "members", a);
	json_object_set_new(o, "scope", jstr_or_null(st->scope));
	if (st->paused)
		json_object_set_new(o, "pause", json_true());
	if (v && v->has_failover && v->failover_scheduled_at) {
		json_t *s = json_object();
		json_object_set_new(s, "at", jstr_or_null(v->failover_scheduled_at));
		if (v->failover_leader)
			json_object_set_new(s, "from", jstr_or_null(v->failover_leader));
		if (v->failover_candidate)
			json_object_set_new(s, "to", jstr_or_null(v->failover_candidate));
		json_object_set_new(o, "scheduled_switchover", s);
	}
	return dump(o);
}

/* ---- GET /history, GET /config ---- */

char *rest_render_history(const agent_status *st)
{
	json_t *a = json_array();
	const dcs_view *v = st->view;
	if (v && v->has_history && v->history) {
		for (size_t i = 0; i < v->nhistory; i++) {
			const dcs_history_entry *h = &v->history[i];
			json_t *e = json_array();
			json_array_append_new(e, json_integer(h->timeline));
			json_array_append_new(e, jint_u64(h->lsn));
			json_array_append_new(e, jstr_or_null(h->reason));
			if (h->timestamp || h->new_leader)
				json_array_append_new(e, jstr_or_null(h->timestamp));
			if (h->new_leader)
				json_array_append_new(e, jstr_or_null(h->new_leader));
			json_array_append_new(a, e);
		}
	}
	return dump(a);
}

unsigned rest_render_config(const agent_status *st, char **body)
{
	const dcs_view *v = st->view;
	if (v && v->has_config && v->config.raw) {
		/* Re-encoded rather than passed through, so the answer is always JSON. */
		json_error_t je;
		json_t *j = json_loads(v->config.raw, JSON_DECODE_ANY, &je);
		if (j) {
			*body = dump(j);
			return 200;
		}
	}
	*body = xstrdup("{}");
	return 502;
}

unsigned rest_render_failsafe(const agent_status *st, char **body)
{
	const dcs_view *v = st->view;
	if (st->failsafe_mode && v && v->failsafe) {
		*body = xstrdup(v->failsafe);
		return 200;
	}
	*body = xstrdup(st->failsafe_mode ? "{\"error\":\"no failsafe key in the DCS yet\"}"
	                                  : "{\"error\":\"failsafe mode is off\"}");
	return 502;
}

/* ---- GET /metrics ---- */

/* A Prometheus label value: backslash, double quote and newline escaped. */
void rest_label_value(strbuf *out, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\\')
			sb_puts(out, "\\\\");
		else if (*s == '"')
			sb_puts(out, "\\\"");
		else if (*s == '\n')
			sb_puts(out, "\\n");
		else
			sb_append(out, s, 1);
	}
}

static void gauge(strbuf *out, const char *labels, const char *name, const char *help, double v)
{
	metrics_family(out, name, "gauge", help);
	metrics_sample(out, name, labels, v);
}

static void counter(strbuf *out, const char *labels, const char *name, const char *help,
                    const metrics_counter *c)
{
	metrics_family(out, name, "counter", help);
	metrics_sample(out, name, labels, c ? (double)metrics_get(c) : 0.0);
}

/* The cluster's backups, from the `backup` key (the same on every member): only when backups
 * are on. A type never backed up has no sample. */
static void backup_metrics(strbuf *out, const char *l, const agent_status *st)
{
	if (!st->settings || !tandemd_backup_on(st->settings) || !st->view)
		return;
	backup_state bs;
	const char *text = st->view->backup;
	if (backup_state_parse(text, text ? strlen(text) : 0, &bs, NULL) != 0)
		memset(&bs, 0, sizeof bs);
	static const char *const names[2] = {"tandem_backup_last_success_timestamp_seconds",
	                                     "tandem_backup_last_duration_seconds"};
	static const char *const helps[2] = {
	    "When the last successful backup of this type ended (Unix time).",
	    "How long the last successful backup of this type took."};
	for (int m = 0; m < 2; m++) {
		metrics_family(out, names[m], "gauge", helps[m]);
		for (int t = 0; t < BACKUP_NTYPES; t++) {
			if (!bs.has_last[t])
				continue;
			const backup_run *r = &bs.last[t];
			char *labels =
			    xasprintf("%s,type=\"%s\"", l, backup_type_name((backup_type)t));
			double v = m == 0 ? (double)r->end_ms / 1000.0
			                  : (double)(r->end_ms - r->start_ms) / 1000.0;
			metrics_sample(out, names[m], labels, v);
			free(labels);
		}
	}
	metrics_family(out, "tandem_backup_failures_total", "counter",
	               "Backups that failed (in the cluster, as the backup key counts them).");
	metrics_sample(out, "tandem_backup_failures_total", l, (double)bs.failures);
	gauge(out, l, "tandem_backup_running", "Whether a backup runs now (in the cluster).",
	      bs.has_running ? 1 : 0);
	int verify = backup_state_verify(&bs);
	if (verify >= 0)
		gauge(out, l, "tandem_backup_verify_ok",
		      "Whether pgbackrest verify found the repository sound after the last backup.",
		      verify);
	backup_state_free(&bs);
}

void rest_render_metrics(strbuf *out, const agent_status *st, const agent_counters *c)
{
	strbuf lb = STRBUF_INIT;
	sb_puts(&lb, "scope=\"");
	rest_label_value(&lb, st->scope);
	sb_puts(&lb, "\",name=\"");
	rest_label_value(&lb, st->name);
	sb_puts(&lb, "\"");
	const char *l = lb.data;
	bool primary = st->role && strcmp(st->role, "primary") == 0;
	bool replica = st->role && strcmp(st->role, "replica") == 0;

	rest_render_metrics_patroni(out, l, st);
	gauge(out, l, "tandem_up", "Whether PostgreSQL is running (1) or not (0).",
	      st->health.pg == HEALTH_PG_RUNNING ? 1 : 0);
	gauge(out, l, "tandem_leader", "Whether this member holds the leader key.",
	      st->holds_leader_key ? 1 : 0);
	gauge(out, l, "tandem_primary", "Whether PostgreSQL runs as a primary.", primary ? 1 : 0);
	gauge(out, l, "tandem_replica", "Whether PostgreSQL runs as a replica.", replica ? 1 : 0);
	gauge(out, l, "tandem_timeline", "PostgreSQL's timeline (0 when unknown).",
	      (double)(st->timeline > 0 ? st->timeline : 0));
	gauge(out, l, "tandem_xlog_location",
	      "The WAL position: written (primary) or replayed (replica); 0 when unknown.",
	      st->lsn_known ? (double)st->lsn : 0);
	gauge(out, l, "tandem_dcs_ok", "Whether the DCS answers.", st->dcs_ok ? 1 : 0);
	gauge(out, l, "tandem_pending_restart",
	      "Whether PostgreSQL needs a restart for a setting to apply.",
	      st->pending_restart ? 1 : 0);
	gauge(out, l, "tandem_paused", "Whether the cluster is in maintenance mode.",
	      st->paused ? 1 : 0);
	gauge(out, l, "tandem_failsafe_active",
	      "Whether the primary runs on every member's confirmation (failsafe mode) rather "
	      "than on its lease.",
	      st->failsafe_active ? 1 : 0);
	counter(out, l, "tandem_ha_passes_total", "Passes of the HA loop.",
	        c ? &c->ha_passes : NULL);
	counter(out, l, "tandem_actions_total", "Actions started by the HA loop, of any kind.",
	        c ? &c->actions : NULL);
	counter(out, l, "tandem_promotions_total", "Promotions of the local PostgreSQL.",
	        c ? &c->promotions : NULL);
	counter(out, l, "tandem_demotions_total", "Demotions of the local PostgreSQL.",
	        c ? &c->demotions : NULL);
	counter(out, l, "tandem_pg_restarts_total", "Restarts of the local PostgreSQL.",
	        c ? &c->pg_restarts : NULL);
	counter(out, l, "tandem_dcs_errors_total", "Failed DCS operations.",
	        c ? &c->dcs_errors : NULL);
	counter(out, l, "tandem_tilts_total",
	        "HA passes skipped because the loop stalled or the clock jumped.",
	        c ? &c->tilts : NULL);
	rest_render_metrics_tandem(out, l, st, c);
	rest_render_archive_metrics(out, l, st->archive);
	backup_metrics(out, l, st);
	rest_render_drill_metrics(out, l, st);
	sb_free(&lb);
}
