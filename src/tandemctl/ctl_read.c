/* The commands that only read the cluster: list, history, show-config, haproxy-config, version. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_commands.h"
#include "ctl_table.h"
#include "haproxy_config.h"
#include "strbuf.h"

int ctl_open(const ctl_opts *o, ctl_conn *conn, dcs_view *v)
{
	char *err = NULL;
	if (ctl_conn_load(conn, &o->conn, &err) < 0) {
		ctl_printf(stderr, "tandemctl: %s\n", err ? err : "bad configuration");
		free(err);
		ctl_conn_free(conn);
		return CTL_EXIT_USAGE;
	}
	if (ctl_cluster_read(conn, (uint64_t)o->timeout_ms, v, &err) < 0) {
		ctl_printf(stderr, "tandemctl: cannot read cluster '%s' from etcd: %s\n",
		           conn->scope, err ? err : "no answer");
		free(err);
		dcs_view_free(v);
		ctl_conn_free(conn);
		return CTL_EXIT_UNREACHABLE;
	}
	return CTL_EXIT_OK;
}

void ctl_print_json(json_t *j)
{
	/* ASCII: every control character, C1 ones too, is a \u escape, so the output is exact
	 * and safe on a terminal. */
	char *text = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
	if (text)
		printf("%s\n", text);
	free(text);
	json_decref(j);
}

static bool view_empty(const dcs_view *v)
{
	return !v->initialized && v->nmembers == 0 && !v->leader && !v->has_config;
}

static int not_found(const ctl_conn *c, const dcs_view *v)
{
	ctl_printf(stderr, "tandemctl: no cluster '%s' in etcd (nothing under %s)\n", c->scope,
	           v->prefix);
	return CTL_EXIT_FAILED;
}

/* The read commands' frame: reads the cluster from etcd, runs `body` on it (or says that there
 * is no such cluster), frees it; returns the exit code. */
typedef int (*read_body)(const ctl_opts *o, const ctl_conn *c, const dcs_view *v);
static int read_cluster(const ctl_opts *o, read_body body)
{
	ctl_conn c;
	dcs_view v;
	int rc = ctl_open(o, &c, &v);
	if (rc != CTL_EXIT_OK)
		return rc;
	rc = view_empty(&v) ? not_found(&c, &v) : body(o, &c, &v);
	dcs_view_free(&v);
	ctl_conn_free(&c);
	return rc;
}

static json_t *json_str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* ---- list ---- */

static int cmp_member(const void *a, const void *b)
{
	const dcs_member *x = *(const dcs_member *const *)a, *y = *(const dcs_member *const *)b;
	return strcmp(x->name, y->name);
}

static const dcs_member **sorted_members(const dcs_view *v)
{
	const dcs_member **m = xcalloc(v->nmembers ? v->nmembers : 1, sizeof *m);
	for (size_t i = 0; i < v->nmembers; i++)
		m[i] = &v->members[i];
	qsort(m, v->nmembers, sizeof *m, cmp_member);
	return m;
}

static bool is_sync_standby(const dcs_view *v, const char *name)
{
	for (size_t i = 0; v->has_sync && i < v->nsync_standby; i++)
		if (strcmp(v->sync_standby[i], name) == 0)
			return true;
	return false;
}

typedef struct member_row {
	const char *role_text, *role_id;
	const char *state;
	bool has_lag;
	uint64_t lag_bytes;
} member_row;

/* The leader of a primary cluster: no lag. A standby leader's lag is its own replay's behind the
 * primary site. */
static bool is_leader_of(const dcs_view *v, const dcs_member *m)
{
	return v->leader && !strcmp(v->leader, m->name) &&
	       !(v->has_config && v->config.standby.present);
}

static void describe(const dcs_view *v, const dcs_member *m, member_row *r)
{
	bool leader = v->leader && strcmp(v->leader, m->name) == 0;
	if (leader && v->has_config && v->config.standby.present) {
		r->role_text = "Standby Leader";
		r->role_id = "standby_leader";
	} else if (leader) {
		r->role_text = "Leader";
		r->role_id = "leader";
	} else if (is_sync_standby(v, m->name)) {
		r->role_text = "Sync Standby";
		r->role_id = "sync_standby";
	} else {
		r->role_text = "Replica";
		r->role_id = "replica";
	}
	/* A streaming replica says so, as patronictl shows it. */
	r->state = !leader && m->replication_state ? m->replication_state : m->state;
	const dcs_member *lm = v->leader ? dcs_view_member(v, v->leader) : NULL;
	r->has_lag = false;
	if (!leader && m->has_lsn) {
		if (lm && lm->has_lsn) {
			r->has_lag = true;
			r->lag_bytes = lm->xlog_location > m->xlog_location
			                   ? lm->xlog_location - m->xlog_location
			                   : 0;
		} else if (v->has_status) {
			r->has_lag = true;
			r->lag_bytes =
			    v->optime > m->xlog_location ? v->optime - m->xlog_location : 0;
		}
	}
}

static json_t *list_json(const dcs_view *v, const ctl_conn *c, const dcs_member **ms)
{
	json_t *root = json_object();
	json_object_set_new(root, "scope", json_string(c->scope));
	json_object_set_new(root, "system_id", json_str_or_null(v->sysid));
	json_object_set_new(root, "leader", json_str_or_null(v->leader));
	json_object_set_new(root, "leader_site", json_str_or_null(v->current_site));
	json_object_set_new(root, "paused", json_boolean(v->has_config && v->config.pause));
	json_t *arr = json_array();
	for (size_t i = 0; i < v->nmembers; i++) {
		const dcs_member *m = ms[i];
		member_row r;
		describe(v, m, &r);
		json_t *o = json_object();
		char *host = m->conn_url ? ctl_url_host_port(m->conn_url) : NULL;
		json_object_set_new(o, "name", json_string(m->name));
		json_object_set_new(o, "host", json_str_or_null(host));
		json_object_set_new(o, "site", json_str_or_null(m->site));
		json_object_set_new(o, "role", json_string(r.role_id));
		json_object_set_new(o, "state", json_str_or_null(r.state));
		json_object_set_new(o, "timeline",
		                    m->timeline ? json_integer(m->timeline) : json_null());
		json_object_set_new(o, "lag_mb",
		                    r.has_lag ? json_integer((json_int_t)ctl_lag_mb(r.lag_bytes))
		                              : json_null());
		json_object_set_new(o, "lag_bytes",
		                    r.has_lag ? json_integer((json_int_t)r.lag_bytes)
		                              : json_null());
		json_object_set_new(o, "lag_s",
		                    m->has_replay_lag && !is_leader_of(v, m)
		                        ? json_real((double)m->replay_lag_ms / 1000.0)
		                        : json_null());
		json_t *tags = m->tags_json ? json_loads(m->tags_json, 0, NULL) : NULL;
		json_object_set_new(o, "tags", tags ? tags : json_object());
		json_object_set_new(o, "pending_restart", json_boolean(m->pending_restart));
		json_object_set_new(o, "conn_url", json_str_or_null(m->conn_url));
		json_object_set_new(o, "api_url", json_str_or_null(m->api_url));
		json_object_set_new(o, "version", json_str_or_null(m->version));
		json_array_append_new(arr, o);
		free(host);
	}
	json_object_set_new(root, "members", arr);
	json_t *backup = ctl_backup_json(v);
	if (backup)
		json_object_set_new(root, "backup", backup);
	json_object_set_new(root, "drill", v->drill ? ctl_drill_json(v->drill) : json_null());
	return root;
}

static char *list_text(const dcs_view *v, const ctl_conn *c, const dcs_member **ms)
{
	bool any_tags = false, any_pending = false, any_site = false, any_secs = false;
	for (size_t i = 0; i < v->nmembers; i++) {
		any_site = any_site || ms[i]->site;
		any_secs = any_secs || (ms[i]->has_replay_lag && !is_leader_of(v, ms[i]));
		char *t = ctl_tags_line(ms[i]->tags_json);
		any_tags = any_tags || *t;
		free(t);
		any_pending = any_pending || ms[i]->pending_restart;
	}
	/* The Site column, when a member has one (tags.site), after the host. */
	size_t sc = any_site ? 1 : 0;
	const char *headers[10] = {"Member", "Host", "Site", "Role", "State", "TL", "Lag in MB"};
	if (!any_site)
		memmove(&headers[2], &headers[3], 4 * sizeof headers[0]);
	size_t ncols = 6 + sc;
	if (any_secs) /* replicas that report their replay lag (tandemd does) */
		headers[ncols++] = "Lag in s";
	if (any_pending)
		headers[ncols++] = "Pending restart";
	if (any_tags)
		headers[ncols++] = "Tags";
	ctl_table *t = ctl_table_new(ncols, headers);
	ctl_table_align(t, 4 + sc, CTL_ALIGN_RIGHT);
	ctl_table_align(t, 5 + sc, CTL_ALIGN_RIGHT);
	if (any_secs)
		ctl_table_align(t, 6 + sc, CTL_ALIGN_RIGHT);
	for (size_t i = 0; i < v->nmembers; i++) {
		const dcs_member *m = ms[i];
		member_row r;
		describe(v, m, &r);
		char *host = m->conn_url ? ctl_url_host_port(m->conn_url) : NULL;
		char *tl = m->timeline ? xasprintf("%lld", (long long)m->timeline) : xstrdup("");
		bool leader = v->leader && strcmp(v->leader, m->name) == 0;
		char *lag = leader ? xstrdup("")
		            : r.has_lag
		                ? xasprintf("%llu", (unsigned long long)ctl_lag_mb(r.lag_bytes))
		                : xstrdup("unknown");
		char *tags = ctl_tags_line(m->tags_json);
		const char *cells[10] = {m->name, host ? host : ""};
		size_t n = 2;
		if (any_site)
			cells[n++] = m->site ? m->site : "";
		cells[n++] = r.role_text;
		cells[n++] = r.state ? r.state : "unknown";
		cells[n++] = tl;
		cells[n++] = lag;
		char *secs = !any_secs || is_leader_of(v, m) ? xstrdup("")
		             : m->has_replay_lag
		                 ? xasprintf("%.1f", (double)m->replay_lag_ms / 1000.0)
		                 : xstrdup("unknown");
		if (any_secs)
			cells[n++] = secs;
		if (any_pending)
			cells[n++] = m->pending_restart ? "*" : "";
		if (any_tags)
			cells[n++] = tags;
		ctl_table_add_row(t, cells);
		free(host);
		free(tl);
		free(lag);
		free(secs);
		free(tags);
	}
	char *title =
	    xasprintf("Cluster: %s (%s)", c->scope, v->sysid ? v->sysid : "not initialized");
	char *text = ctl_table_render(t, title);
	free(title);
	ctl_table_free(t);
	strbuf sb = STRBUF_INIT;
	sb_puts(&sb, text);
	free(text);
	if (!v->leader)
		sb_puts(&sb, " No leader: the cluster has no primary\n");
	else if (v->current_site)
		sb_printf(&sb, " Leader site: %s\n", v->current_site);
	if (v->has_config && v->config.pause)
		sb_puts(&sb, " Maintenance mode: on\n");
	if (v->has_failover)
		sb_printf(&sb, " Failover requested: from %s to %s%s%s\n",
		          v->failover_leader ? v->failover_leader : "the leader",
		          v->failover_candidate ? v->failover_candidate : "the best replica",
		          v->failover_scheduled_at ? " at " : "",
		          v->failover_scheduled_at ? v->failover_scheduled_at : "");
	char *backups = ctl_backup_line(v);
	if (backups)
		sb_puts(&sb, backups);
	free(backups);
	if (v->drill) {
		char *line = ctl_drill_line(v->drill);
		sb_puts(&sb, line);
		free(line);
	}
	return sb_steal(&sb);
}

static int list_body(const ctl_opts *o, const ctl_conn *c, const dcs_view *v)
{
	const dcs_member **ms = sorted_members(v);
	json_t *site = json_object();
	char *site_line = ctl_site_line(o, v, site);
	char *archive_line = ctl_archive_line(o, c, v, site);
	if (o->json) {
		json_t *j = list_json(v, c, ms);
		json_object_update(j, site);
		ctl_print_json(j);
	} else {
		char *text = list_text(v, c, ms);
		ctl_printf(stdout, "%s%s%s", text, archive_line ? archive_line : "",
		           site_line ? site_line : "");
		free(text);
	}
	json_decref(site);
	free(site_line);
	free(archive_line);
	free(ms);
	return CTL_EXIT_OK;
}

int ctl_cmd_list(const ctl_opts *o)
{
	return read_cluster(o, list_body);
}

/* ---- history ---- */

static int history_body(const ctl_opts *o, const ctl_conn *c, const dcs_view *v)
{
	if (o->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < v->nhistory; i++) {
			const dcs_history_entry *h = &v->history[i];
			char *lsn = ctl_lsn_text(h->lsn);
			json_t *e = json_object();
			json_object_set_new(e, "timeline", json_integer(h->timeline));
			json_object_set_new(e, "lsn", json_integer((json_int_t)h->lsn));
			json_object_set_new(e, "lsn_text", json_string(lsn));
			json_object_set_new(e, "reason", json_str_or_null(h->reason));
			json_object_set_new(e, "timestamp", json_str_or_null(h->timestamp));
			json_object_set_new(e, "new_leader", json_str_or_null(h->new_leader));
			json_array_append_new(arr, e);
			free(lsn);
		}
		ctl_print_json(arr);
	} else {
		const char *headers[] = {"TL", "LSN", "Reason", "Timestamp", "New Leader"};
		ctl_table *t = ctl_table_new(5, headers);
		ctl_table_align(t, 0, CTL_ALIGN_RIGHT);
		ctl_table_align(t, 1, CTL_ALIGN_RIGHT);
		for (size_t i = 0; i < v->nhistory; i++) {
			const dcs_history_entry *h = &v->history[i];
			char *tl = xasprintf("%lld", (long long)h->timeline);
			char *lsn = ctl_lsn_text(h->lsn);
			const char *cells[] = {tl, lsn, h->reason, h->timestamp, h->new_leader};
			ctl_table_add_row(t, cells);
			free(tl);
			free(lsn);
		}
		char *title = xasprintf("Cluster: %s (%s)", c->scope,
		                        v->sysid ? v->sysid : "not initialized");
		char *text = ctl_table_render(t, title);
		ctl_printf(stdout, "%s", text);
		if (v->nhistory == 0)
			ctl_printf(
			    stdout, "%s\n",
			    " No failover or switchover yet: the cluster is on its first timeline");
		free(text);
		free(title);
		ctl_table_free(t);
	}
	return CTL_EXIT_OK;
}

int ctl_cmd_history(const ctl_opts *o)
{
	return read_cluster(o, history_body);
}

/* ---- show-config ---- */

static int show_config_body(const ctl_opts *o, const ctl_conn *c, const dcs_view *v)
{
	int rc = CTL_EXIT_OK;
	if (!v->has_config || !v->config.raw) {
		ctl_printf(stderr, "tandemctl: cluster '%s' has no configuration key (%sconfig)\n",
		           c->scope, v->prefix);
		rc = CTL_EXIT_FAILED;
	} else {
		json_t *j = json_loads(v->config.raw, JSON_DECODE_ANY, NULL);
		char *err = NULL;
		char *yaml = j && !o->json ? ctl_json_to_yaml(v->config.raw, &err) : NULL;
		if (!j) {
			ctl_printf(stderr,
			           "tandemctl: the configuration key is not JSON; as stored:\n");
			ctl_printf(stdout, "%s\n", v->config.raw);
			rc = CTL_EXIT_FAILED;
		} else if (o->json) {
			ctl_print_json(j);
			j = NULL;
		} else if (yaml) {
			ctl_printf(stdout, "%s", yaml);
		} else {
			ctl_printf(stderr, "tandemctl: %s\n",
			           err ? err : "cannot show the configuration");
			rc = CTL_EXIT_FAILED;
		}
		json_decref(j);
		free(yaml);
		free(err);
	}
	return rc;
}

int ctl_cmd_show_config(const ctl_opts *o)
{
	return read_cluster(o, show_config_body);
}

/* ---- haproxy-config ---- */

/* The servers of the configuration, site after site, and the strings they point to. */
typedef struct hp_list {
	haproxy_member *hm;
	size_t n, cap;
	char **owned;
	size_t nowned, capowned;
	bool insecure; /* some site's checks are 'verify none' */
} hp_list;

static const char *hp_own(hp_list *l, char *s)
{
	if (l->nowned == l->capowned) {
		l->capowned = l->capowned ? 2 * l->capowned : 16;
		l->owned = xrealloc(l->owned, l->capowned * sizeof *l->owned);
	}
	l->owned[l->nowned++] = s;
	return s;
}

static void hp_list_free(hp_list *l)
{
	for (size_t i = 0; i < l->nowned; i++)
		free(l->owned[i]);
	free(l->owned);
	free(l->hm);
}

/* Adds the members of one site (a member without a readable conn_url or api_url is left out,
 * with a warning). `site` NULL: one site only; `ca`: its checks' CA file (absolute), or NULL. */
static void hp_add_site(hp_list *l, const dcs_view *v, const char *site, bool remote,
                        const char *ca)
{
	const dcs_member **ms = sorted_members(v);
	for (size_t i = 0; i < v->nmembers; i++) {
		char *pg = ms[i]->conn_url ? ctl_url_host_port(ms[i]->conn_url) : NULL;
		char *rest = ms[i]->api_url ? ctl_url_host_port(ms[i]->api_url) : NULL;
		if (!pg || !rest) {
			ctl_printf(
			    stderr,
			    "tandemctl: warning: member %s left out: it has no readable %s\n",
			    ms[i]->name, !pg ? "conn_url" : "api_url");
			free(pg);
			free(rest);
			continue;
		}
		if (l->n == l->cap) {
			l->cap = l->cap ? 2 * l->cap : 8;
			l->hm = xrealloc(l->hm, l->cap * sizeof *l->hm);
		}
		haproxy_member *m = &l->hm[l->n++];
		memset(m, 0, sizeof *m);
		m->name = hp_own(l, xstrdup(ms[i]->name));
		m->pg_addr = hp_own(l, pg);
		m->rest_addr = hp_own(l, rest);
		m->rest_tls = strncmp(ms[i]->api_url, "https://", 8) == 0;
		m->site = site;
		m->remote = remote;
		m->ca_file = ca;
	}
	free(ms);
}

/* The CA file of a site's checks, absolute (HAProxy reads it from its own working directory);
 * NULL for none or 'verify none'. -1 with *err when it cannot be found. */
static int hp_site_ca(hp_list *l, const ctl_conn *c, const char **ca, char **err)
{
	*ca = NULL;
	if (c->rest_insecure) {
		l->insecure = true;
		return 0;
	}
	if (!c->rest_cacert)
		return 0;
	char *real = realpath(c->rest_cacert, NULL);
	if (!real) {
		err_set(err, "the CA file %s: %s", c->rest_cacert, strerror(errno));
		return -1;
	}
	*ca = hp_own(l, real);
	return 0;
}

/* The name of a site in the configuration's comments: its scope, made unique. */
static const char *hp_site_label(hp_list *l, const char *scope, int index)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->hm[i].site && strcmp(l->hm[i].site, scope) == 0)
			return hp_own(l, xasprintf("%s.%d", scope, index + 1));
	return hp_own(l, xstrdup(scope));
}

/* --site FILE: another site's members (read from its own etcd), remote. */
static int hp_add_remote(const ctl_opts *o, hp_list *l, const char *file, int index, char **err)
{
	ctl_conn_args a = {.config = file, .cacert = o->conn.cacert, .insecure = o->conn.insecure};
	ctl_conn c;
	dcs_view v;
	if (ctl_conn_load(&c, &a, err) != 0) {
		char *e = *err;
		*err = xasprintf("--site %s: %s", file, e ? e : "bad configuration");
		free(e);
		ctl_conn_free(&c);
		return CTL_EXIT_USAGE;
	}
	int rc = CTL_EXIT_OK;
	if (ctl_cluster_read(&c, (uint64_t)o->timeout_ms, &v, err) != 0) {
		char *e = *err;
		*err = xasprintf("--site %s: cannot read cluster '%s' from etcd: %s", file, c.scope,
		                 e ? e : "no answer");
		free(e);
		ctl_conn_free(&c);
		return CTL_EXIT_UNREACHABLE;
	}
	const char *ca = NULL;
	if (view_empty(&v)) {
		*err = xasprintf("--site %s: no cluster '%s' in etcd (nothing under %s)", file,
		                 c.scope, v.prefix);
		rc = CTL_EXIT_FAILED;
	} else if (hp_site_ca(l, &c, &ca, err) != 0) {
		rc = CTL_EXIT_FAILED;
	} else {
		hp_add_site(l, &v, hp_site_label(l, c.scope, index), true, ca);
	}
	dcs_view_free(&v);
	ctl_conn_free(&c);
	return rc;
}

static int haproxy_config_body(const ctl_opts *o, const ctl_conn *c, const dcs_view *v)
{
	hp_list l;
	memset(&l, 0, sizeof l);
	char *err = NULL;
	const char *ca = NULL;
	int rc = hp_site_ca(&l, c, &ca, &err) == 0 ? CTL_EXIT_OK : CTL_EXIT_FAILED;
	if (rc == CTL_EXIT_OK)
		hp_add_site(&l, v, o->nsites ? hp_site_label(&l, c->scope, 0) : NULL, false, ca);
	for (int i = 0; i < o->nsites && rc == CTL_EXIT_OK; i++)
		rc = hp_add_remote(o, &l, o->sites[i], i + 1, &err);
	haproxy_config_input in;
	haproxy_config_input_defaults(&in);
	in.scope = c->scope;
	in.members = l.hm;
	in.n_members = l.n;
	in.rw_listen = o->rw_listen ? o->rw_listen : "*:5000";
	in.ro_listen = o->ro_listen ? o->ro_listen : "*:5001";
	in.stats_listen = o->stats_listen;
	if (o->maxconn)
		in.maxconn = o->maxconn;
	if (o->no_fallback)
		in.ro_fallback_primary = false;
	in.check_verify_none = l.insecure;
	char *text = rc == CTL_EXIT_OK && l.n ? haproxy_config_render(&in, &err) : NULL;
	if (text) {
		ctl_printf(stdout, "%s", text);
	} else {
		ctl_printf(stderr, "tandemctl: cannot write an HAProxy configuration: %s\n",
		           err   ? err
		           : l.n ? "invalid input"
		                 : "no member has both conn_url and api_url");
		if (rc == CTL_EXIT_OK)
			rc = CTL_EXIT_FAILED;
	}
	free(text);
	free(err);
	hp_list_free(&l);
	return rc;
}

int ctl_cmd_haproxy_config(const ctl_opts *o)
{
	return read_cluster(o, haproxy_config_body);
}

/* ---- version ---- */

int ctl_cmd_version(const ctl_opts *o)
{
	if (!ctl_conn_given(&o->conn)) {
		if (o->json) {
			json_t *j = json_object();
			json_object_set_new(j, "tandemctl", json_string(TANDEM_VERSION));
			ctl_print_json(j);
		} else {
			ctl_printf(stdout, "tandemctl version %s\n", TANDEM_VERSION);
		}
		return CTL_EXIT_OK;
	}
	if (!o->json)
		ctl_printf(stdout, "tandemctl version %s\n", TANDEM_VERSION);
	ctl_conn c;
	dcs_view v;
	int rc = ctl_open(o, &c, &v);
	if (rc != CTL_EXIT_OK)
		return rc;
	const dcs_member **ms = sorted_members(&v);
	json_t *members = json_object();
	for (size_t i = 0; i < v.nmembers; i++) {
		if (o->json)
			json_object_set_new(members, ms[i]->name, json_str_or_null(ms[i]->version));
		else
			ctl_printf(stdout, "%s: %s: version %s\n", c.scope, ms[i]->name,
			           ms[i]->version ? ms[i]->version : "unknown");
	}
	if (o->json) {
		json_t *j = json_object();
		json_object_set_new(j, "tandemctl", json_string(TANDEM_VERSION));
		json_object_set_new(j, "scope", json_string(c.scope));
		json_object_set_new(j, "members", members);
		ctl_print_json(j);
	} else {
		json_decref(members);
	}
	free(ms);
	dcs_view_free(&v);
	ctl_conn_free(&c);
	return rc;
}
