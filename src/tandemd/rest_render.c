/* The JSON and Prometheus bodies of tandemd's REST API, and the parsing of what clients send: see
 * rest_render.h. */
#include "rest_render.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cfg.h"
#include "clock.h"
#include "dyn_config.h"
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
	bool replica = st->role && strcmp(st->role, "replica") == 0;

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
	if (replica && st->health.pg == REST_PG_RUNNING)
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
		role = st->name && strcmp(st->name, m->name) == 0 && st->health.is_standby_leader
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
static void label_value(strbuf *out, const char *s)
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

void rest_render_metrics(strbuf *out, const agent_status *st, const agent_counters *c)
{
	strbuf lb = STRBUF_INIT;
	sb_puts(&lb, "scope=\"");
	label_value(&lb, st->scope);
	sb_puts(&lb, "\",name=\"");
	label_value(&lb, st->name);
	sb_puts(&lb, "\"");
	const char *l = lb.data;
	bool primary = st->role && strcmp(st->role, "primary") == 0;
	bool replica = st->role && strcmp(st->role, "replica") == 0;

	gauge(out, l, "tandem_up", "Whether PostgreSQL is running (1) or not (0).",
	      st->health.pg == REST_PG_RUNNING ? 1 : 0);
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
	sb_free(&lb);
}

/* ---- the query string ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes s[0..len) to `out` (room for len + 1), NUL-terminated; -1 on a decoded NUL. */
static int form_decode(const char *s, size_t len, char *out, size_t *outlen)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 &&
		           hexval(s[i + 2]) >= 0) {
			c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		}
		if (c == '\0')
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	*outlen = o;
	return 0;
}

int rest_query_parse(const char *query, size_t len, rest_query *out)
{
	out->kv = NULL;
	out->n = 0;
	out->buf = NULL;
	if (!query || len == 0)
		return 0;
	size_t npairs = 1;
	for (size_t i = 0; i < len; i++)
		if (query[i] == '&')
			npairs++;
	rest_kv *kv = xcalloc(npairs, sizeof *kv);
	/* each pair's key and value, decoded, are no longer than the pair; two NULs per pair */
	char *buf = xmalloc(len + 2 * npairs + 1);
	size_t n = 0, used = 0, pos = 0;
	while (pos <= len) {
		const char *p = query + pos;
		const char *amp = memchr(p, '&', len - pos);
		size_t plen = amp ? (size_t)(amp - p) : len - pos;
		const char *eq = memchr(p, '=', plen);
		if (eq && (size_t)(eq - p) + 1 < plen) {
			size_t klen = (size_t)(eq - p), vlen = plen - klen - 1, kout, vout;
			char *k = buf + used;
			if (form_decode(p, klen, k, &kout) < 0)
				goto bad;
			char *v = k + kout + 1;
			if (form_decode(eq + 1, vlen, v, &vout) < 0)
				goto bad;
			used += kout + vout + 2;
			kv[n].key = k;
			kv[n].value = v;
			n++;
		}
		if (!amp)
			break;
		pos += plen + 1;
	}
	if (n == 0) {
		free(kv);
		free(buf);
		return 0;
	}
	out->kv = kv;
	out->n = n;
	out->buf = buf;
	return 0;
bad:
	free(kv);
	free(buf);
	return -1;
}

void rest_query_free(rest_query *q)
{
	free(q->kv);
	free(q->buf);
	q->kv = NULL;
	q->buf = NULL;
	q->n = 0;
}

/* ---- the POST actions ---- */

void rest_verdict_free(rest_verdict *v)
{
	free(v->message);
	v->message = NULL;
	v->status = 0;
}

static void verdict(rest_verdict *v, unsigned status, const char *fmt, ...) TND_PRINTF(3, 4);

static void verdict(rest_verdict *v, unsigned status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = NULL;
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	free(v->message);
	v->message = m ? m : xstrdup("error");
	v->status = status;
}

/* Parses an optional JSON object body; NULL (and no verdict) for an empty body. */
static json_t *body_object(const char *body, size_t len, bool required, rest_verdict *v,
                           bool *failed)
{
	*failed = false;
	size_t i = 0;
	while (body && i < len &&
	       (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
		i++;
	if (!body || i == len) {
		if (required) {
			verdict(v, 400, "a JSON object body is required");
			*failed = true;
		}
		return NULL;
	}
	json_error_t je;
	json_t *j = json_loadb(body, len, 0, &je);
	if (!j) {
		verdict(v, 400, "invalid JSON body: %.200s (line %d, column %d)", je.text, je.line,
		        je.column);
		*failed = true;
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		verdict(v, 400, "the body must be a JSON object");
		*failed = true;
		return NULL;
	}
	return j;
}

/* A string or null member; -1 (with a 400 verdict) for another type. */
static int opt_string(json_t *o, const char *key, char **out, rest_verdict *v)
{
	json_t *j = json_object_get(o, key);
	*out = NULL;
	if (!j || json_is_null(j))
		return 0;
	if (!json_is_string(j)) {
		verdict(v, 400, "\"%s\" must be a string", key);
		return -1;
	}
	const char *s = json_string_value(j);
	if (*s)
		*out = xstrndup(s, strlen(s));
	return 0;
}

int rest_parse_failover(const char *body, size_t len, rest_failover_req *out, rest_verdict *v)
{
	memset(out, 0, sizeof *out);
	bool failed;
	json_t *o = body_object(body, len, true, v, &failed);
	if (failed)
		return -1;
	if (opt_string(o, "leader", &out->leader, v) < 0 ||
	    opt_string(o, "candidate", &out->candidate, v) < 0 ||
	    opt_string(o, "scheduled_at", &out->scheduled_at, v) < 0) {
		json_decref(o);
		rest_failover_req_free(out);
		return -1;
	}
	json_decref(o);
	return 0;
}

void rest_failover_req_free(rest_failover_req *r)
{
	free(r->leader);
	free(r->candidate);
	free(r->scheduled_at);
	memset(r, 0, sizeof *r);
}

void rest_check_failover(const agent_status *st, bool switchover, const rest_failover_req *r,
                         int64_t now_unix_ms, rest_verdict *v)
{
	const char *what = switchover ? "switchover" : "failover";
	const dcs_view *view = st->view;
	v->status = 0;
	v->message = NULL;
	if (r->scheduled_at) {
		int64_t at;
		if (!switchover) {
			verdict(v, 400, "a failover cannot be scheduled; use a switchover");
			return;
		}
		if (clock_parse_iso8601(r->scheduled_at, &at) < 0) {
			verdict(v, 400,
			        "cannot read \"scheduled_at\" \"%.100s\": give an ISO 8601 time "
			        "with a time zone, e.g. 2030-01-01T10:00:00+00:00",
			        r->scheduled_at);
			return;
		}
		if (st->paused) {
			verdict(v, 400, "a switchover cannot be scheduled in maintenance mode");
			return;
		}
		if (at <= now_unix_ms) {
			verdict(v, 422, "cannot schedule a switchover in the past (%.100s)",
			        r->scheduled_at);
			return;
		}
	}
	if (!switchover && !r->candidate) {
		verdict(v, 400, "a failover needs a \"candidate\"");
		return;
	}
	if (switchover && st->paused && !r->candidate) {
		verdict(v, 400, "in maintenance mode a switchover needs a \"candidate\"");
		return;
	}
	if (switchover && !st->leader) {
		verdict(v, 412, "switchover is not possible: the cluster has no leader");
		return;
	}
	if (r->leader && (!st->leader || strcmp(r->leader, st->leader) != 0)) {
		verdict(v, 412, "%s refused: \"%.200s\" is not the leader (the leader is %.200s)",
		        what, r->leader, st->leader ? st->leader : "nobody");
		return;
	}
	if (r->candidate) {
		if (st->leader && strcmp(r->candidate, st->leader) == 0) {
			verdict(v, 412, "%s refused: \"%.200s\" is already the leader", what,
			        r->candidate);
			return;
		}
		const dcs_member *m = view ? dcs_view_member(view, r->candidate) : NULL;
		if (!m) {
			verdict(v, 412, "%s refused: \"%.200s\" is not a member of the cluster",
			        what, r->candidate);
			return;
		}
		if (m->tags.nofailover) {
			verdict(v, 412, "%s refused: \"%.200s\" is tagged nofailover", what,
			        r->candidate);
			return;
		}
	}
}

/* "15.4" -> 150004, "9.6.3" -> 90603, "15" -> 150000; -1 when malformed. */
static long pg_version_num(const char *s)
{
	long part[3] = {0, 0, 0};
	int n = 0;
	const char *p = s;
	while (n < 3) {
		if (*p < '0' || *p > '9')
			return -1;
		long x = 0;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (x > 9999)
				return -1;
			x = x * 10 + (*p - '0');
		}
		part[n++] = x;
		if (*p == '\0')
			break;
		if (*p != '.')
			return -1;
		p++;
	}
	if (*p != '\0')
		return -1;
	if (part[0] >= 10) /* 10 and later: major.minor */
		return part[0] * 10000 + part[1];
	return part[0] * 10000 + part[1] * 100 + part[2];
}

void rest_check_restart(const agent_status *st, const char *body, size_t len, rest_verdict *v)
{
	static const char *const known[] = {"restart_pending", "role", "postgres_version",
	                                    "timeout", "schedule"};
	v->status = 0;
	v->message = NULL;
	bool failed;
	json_t *o = body_object(body, len, false, v, &failed);
	if (!o)
		return;
	const char *key;
	json_t *val;
	json_object_foreach(o, key, val)
	{
		bool ok = false;
		for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
			ok = ok || strcmp(key, known[i]) == 0;
		if (!ok) {
			verdict(v, 400, "unknown restart parameter \"%.100s\"", key);
			goto out;
		}
	}
	json_t *sched = json_object_get(o, "schedule");
	if (sched && !json_is_null(sched)) {
		verdict(v, 501,
		        "a scheduled restart is not supported by tandem yet; ask again "
		        "without \"schedule\" at the time it should happen");
		goto out;
	}
	json_t *pending = json_object_get(o, "restart_pending");
	if (pending && !json_is_boolean(pending)) {
		verdict(v, 400, "\"restart_pending\" must be true or false");
		goto out;
	}
	json_t *timeout = json_object_get(o, "timeout");
	if (timeout && !json_is_null(timeout) && !json_is_number(timeout) &&
	    !json_is_string(timeout)) {
		verdict(v, 400, "\"timeout\" must be a number of seconds");
		goto out;
	}
	json_t *role = json_object_get(o, "role");
	const char *want_role = NULL;
	if (role && !json_is_null(role)) {
		const char *r = json_string_value(role);
		if (!r || (strcmp(r, "primary") && strcmp(r, "master") && strcmp(r, "replica"))) {
			verdict(v, 400, "\"role\" must be \"primary\", \"master\" or \"replica\"");
			goto out;
		}
		want_role = strcmp(r, "replica") == 0 ? "replica" : "primary";
	}
	json_t *ver = json_object_get(o, "postgres_version");
	long want_ver = -1;
	if (ver && !json_is_null(ver)) {
		const char *s = json_string_value(ver);
		want_ver = s ? pg_version_num(s) : -1;
		if (want_ver < 0) {
			verdict(v, 400, "\"postgres_version\" must be a version such as \"15.4\"");
			goto out;
		}
	}
	if (json_is_true(pending) && !st->pending_restart) {
		verdict(v, 503, "restart conditions are not met: no restart is pending");
		goto out;
	}
	if (want_role && (!st->role || strcmp(st->role, want_role) != 0)) {
		verdict(v, 503, "restart conditions are not met: the role is %s, not %s",
		        st->role ? st->role : "unknown", want_role);
		goto out;
	}
	if (want_ver >= 0 && st->server_version >= want_ver) {
		verdict(
		    v, 503,
		    "restart conditions are not met: the server version %d is not older than %ld",
		    st->server_version, want_ver);
		goto out;
	}
out:
	json_decref(o);
}

void rest_check_reinitialize(const char *body, size_t len, rest_verdict *v)
{
	v->status = 0;
	v->message = NULL;
	bool failed;
	json_t *o = body_object(body, len, false, v, &failed);
	if (!o)
		return;
	const char *key;
	json_t *val;
	json_object_foreach(o, key, val)
	{
		if (strcmp(key, "force") != 0 && strcmp(key, "from_leader") != 0) {
			verdict(v, 400, "unknown reinitialize parameter \"%.100s\"", key);
			break;
		}
		if (!json_is_boolean(val)) {
			verdict(v, 400, "\"%s\" must be true or false", key);
			break;
		}
	}
	json_decref(o);
}

char *rest_parse_failsafe(const char *body, size_t len, rest_verdict *v)
{
	v->status = 0;
	v->message = NULL;
	bool failed;
	json_t *o = body_object(body, len, true, v, &failed);
	if (!o)
		return NULL;
	const char *name = json_string_value(json_object_get(o, "name"));
	char *out = name && *name ? xstrdup(name) : NULL;
	if (!out)
		verdict(v, 400, "the body must name the leader: {\"name\": \"...\"}");
	json_decref(o);
	return out;
}

/* ---- PATCH and PUT /config ---- */

int rest_config_request(const agent_status *st, const char *body, size_t len, bool replace,
                        char **new_config, rest_verdict *v)
{
	*new_config = NULL;
	v->status = 0;
	v->message = NULL;
	bool failed;
	json_t *patch = body_object(body, len, true, v, &failed);
	if (failed)
		return -1;
	json_t *result;
	if (replace) {
		result = patch;
		patch = NULL;
	} else {
		const dcs_view *view = st->view;
		json_t *cur = view && view->has_config && view->config.raw
		                  ? json_loads(view->config.raw, 0, NULL)
		                  : NULL;
		if (!cur && view && view->has_config && view->config.raw) {
			verdict(v, 503,
			        "the configuration in the DCS is not readable JSON; replace it "
			        "with PUT /config");
			json_decref(patch);
			return -1;
		}
		if (!cur)
			cur = json_object();
		if (!json_is_object(cur)) {
			json_decref(cur);
			cur = json_object();
		}
		result = dyn_config_merge(cur, patch);
		json_decref(cur);
		json_decref(patch);
	}
	dyn_config_defaults d = dyn_config_patroni_defaults;
	if (st->settings && st->settings->ttl > 0)
		d = (dyn_config_defaults){(int64_t)(st->settings->ttl + 999) / 1000,
		                          (int64_t)(st->settings->loop_wait + 999) / 1000,
		                          (int64_t)(st->settings->retry_timeout + 999) / 1000};
	char *why = dyn_config_check(result, &d);
	if (why) {
		verdict(v, 400, "invalid configuration: %s", why);
		free(why);
		json_decref(result);
		return -1;
	}
	*new_config = json_dumps(result, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(result);
	return 0;
}
