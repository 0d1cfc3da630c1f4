#include "ctl_cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "addr.h"
#include "ctl_table.h"
#include "etcd.h"
#include "options.h"

bool ctl_conn_given(const ctl_conn_args *a)
{
	return a->config || a->etcd || a->scope;
}

static int set_endpoints(ctl_conn *c, const char *const *items, size_t n, const char *protocol,
                         const char *key, char **err)
{
	int count = addr_base_urls(items, n, protocol, TANDEMD_ETCD_PORT, key, &c->endpoints, err);
	if (count < 0)
		return -1;
	c->nendpoints = (size_t)count;
	return 0;
}

/* "h1:2379,http://h2:2379": comma-separated, spaces allowed around the items. */
static int add_endpoint_list(ctl_conn *c, const char *list, const char *protocol, char **err)
{
	char *copy = xstrdup(list);
	size_t n = 0;
	const char **items = xcalloc(strlen(list) + 1, sizeof *items);
	for (char *save = NULL, *h = strtok_r(copy, ",", &save); h;
	     h = strtok_r(NULL, ",", &save)) {
		while (*h == ' ')
			h++;
		size_t len = strlen(h);
		while (len && h[len - 1] == ' ')
			h[--len] = '\0';
		if (len)
			items[n++] = h;
	}
	int rc = 0;
	if (n == 0) {
		err_set(err, "no etcd endpoint in '%s'", list);
		rc = -1;
	} else {
		rc = set_endpoints(c, items, n, protocol, "--etcd", err);
	}
	free(items);
	free(copy);
	return rc;
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* The file, read with tandemd's own loader. tandemctl does not need the member's name or data
 * directory, so it supplies placeholders for them: a configuration written for tandemctl alone
 * needs only scope and etcd3. */
static int load_file(ctl_conn *c, const ctl_conn_args *a, char **err)
{
	const char *argv[16];
	int argc = 0;
	argv[argc++] = "tandemctl";
	argv[argc++] = "--config";
	argv[argc++] = a->config;
	argv[argc++] = "--name";
	argv[argc++] = "tandemctl";
	argv[argc++] = "--postgresql.data_dir";
	argv[argc++] = "/nonexistent";
	if (a->scope) {
		argv[argc++] = "--scope";
		argv[argc++] = a->scope;
	}
	if (a->namespace_) {
		argv[argc++] = "--namespace";
		argv[argc++] = a->namespace_;
	}
	if (a->etcd) {
		/* The file's etcd is replaced; the host is checked by us below. */
		argv[argc++] = "--etcd3.host";
		argv[argc++] = "placeholder";
	}
	argv[argc] = NULL;
	tandemd_settings s;
	if (tandemd_settings_load(&s, argc, (char **)argv, NULL, err) < 0) {
		tandemd_settings_free(&s);
		return -1;
	}
	c->config = xstrdup(a->config);
	c->scope = xstrdup(s.scope);
	c->namespace_ = dup_or_null(s.dcs_namespace);
	int rc = 0;
	if (a->etcd) {
		rc = add_endpoint_list(c, a->etcd, s.etcd3_protocol, err);
	} else {
		c->endpoints = s.etcd3_endpoints; /* built by the loader, as tandemd's */
		c->nendpoints = s.etcd3_nendpoints;
		s.etcd3_endpoints = NULL;
	}
	c->etcd_username = dup_or_null(s.etcd3_username);
	c->etcd_password = dup_or_null(s.etcd3_password);
	c->etcd_cacert = dup_or_null(s.etcd3_cacert);
	c->etcd_cert = dup_or_null(s.etcd3_cert);
	c->etcd_key = dup_or_null(s.etcd3_key);
	c->rest_username = dup_or_null(s.restapi_username);
	c->rest_password = dup_or_null(s.restapi_password);
	for (size_t i = 0; rc == 0 && i < s.restapi_allowlist.n; i++)
		rc = cidr_list_add(&c->rest_trusted, s.restapi_allowlist.v[i], err);
	tandem_rest_client rest = tandemd_rest_client(&s);
	c->rest_cacert = dup_or_null(rest.cacert);
	c->rest_certfile = dup_or_null(rest.certfile);
	c->rest_keyfile = dup_or_null(rest.keyfile);
	c->rest_keyfile_password = dup_or_null(rest.keyfile_password);
	c->rest_insecure = rest.insecure;
	tandemd_settings_free(&s);
	return rc;
}

/* The command line's --cacert and --insecure, over the file's. */
static void apply_tls_args(ctl_conn *c, const ctl_conn_args *a)
{
	if (a->cacert) {
		free(c->rest_cacert);
		c->rest_cacert = xstrdup(a->cacert);
	}
	c->rest_insecure = c->rest_insecure || a->insecure;
	if (c->rest_insecure)
		ctl_printf(stderr,
		           "tandemctl: warning: %s: the members' REST API certificates "
		           "are not verified\n",
		           a->insecure ? "--insecure" : "ctl.insecure");
}

ctl_http_auth ctl_conn_rest_auth(const ctl_conn *c)
{
	ctl_http_auth a = {c->rest_username, c->rest_password, c->rest_cacert,
	                   c->rest_certfile, c->rest_keyfile,  c->rest_keyfile_password,
	                   c->rest_insecure};
	return a;
}

static int conn_load(ctl_conn *c, const ctl_conn_args *a, char **err)
{
	if (a->config)
		return load_file(c, a, err);
	if (!a->scope) {
		err_set(err,
		        "which cluster? give --scope NAME (or TANDEMCTL_SCOPE) with --etcd, or "
		        "-c FILE (or TANDEMCTL_CONFIG)");
		return -1;
	}
	if (!a->etcd) {
		err_set(err,
		        "where is etcd? give --etcd HOST:PORT[,...] (or TANDEMCTL_ETCD), or -c "
		        "FILE (or TANDEMCTL_CONFIG)");
		return -1;
	}
	if (a->namespace_ && a->namespace_[0] != '/') {
		err_set(err, "--namespace '%s' must start with '/' (e.g. /service/)",
		        a->namespace_);
		return -1;
	}
	if (!*a->scope || strchr(a->scope, '/')) {
		err_set(err, "--scope '%s' is not a cluster name", a->scope);
		return -1;
	}
	c->scope = xstrdup(a->scope);
	c->namespace_ = xstrdup(a->namespace_ ? a->namespace_ : "/service/");
	return add_endpoint_list(c, a->etcd, "http", err);
}

int ctl_conn_load(ctl_conn *c, const ctl_conn_args *a, char **err)
{
	memset(c, 0, sizeof *c);
	if (conn_load(c, a, err) < 0)
		return -1;
	apply_tls_args(c, a);
	return 0;
}

void ctl_conn_free(ctl_conn *c)
{
	free(c->config);
	free(c->scope);
	free(c->namespace_);
	addr_urls_free(c->endpoints);
	free(c->etcd_username);
	free(c->etcd_password);
	free(c->etcd_cacert);
	free(c->etcd_cert);
	free(c->etcd_key);
	free(c->rest_username);
	free(c->rest_password);
	cidr_list_free(&c->rest_trusted);
	free(c->rest_cacert);
	free(c->rest_certfile);
	free(c->rest_keyfile);
	free(c->rest_keyfile_password);
	memset(c, 0, sizeof *c);
}

typedef struct read_state {
	bool done;
	etcd_status status;
	char *error;
	dcs_view *view;
	uv_loop_t *loop;
} read_state;

static void on_range(const etcd_result *r, void *ud)
{
	read_state *st = ud;
	st->done = true;
	st->status = r->status;
	if (r->status != ETCD_OK) {
		st->error = xstrdup(r->error ? r->error : "no answer");
	} else {
		st->view->revision = r->revision;
		for (size_t i = 0; i < r->nkvs; i++) {
			const etcd_kv *kv = &r->kvs[i];
			char *why = NULL;
			if (dcs_view_apply(st->view, kv->key, kv->key_len, kv->value, kv->value_len,
			                   kv->mod_revision, kv->lease, &why) < 0)
				ctl_printf(stderr, "tandemctl: warning: %.*s: %s\n",
				           (int)kv->key_len, kv->key,
				           why ? why : "unreadable value");
			free(why);
		}
	}
	uv_stop(st->loop); /* the caller looks at the result at once */
}

/* The etcd client of `c` on `loop`; NULL with *err. */
static etcd *open_etcd(const ctl_conn *c, uv_loop_t *loop, uint64_t timeout_ms, char **err)
{
	etcd_config cfg = {
	    .endpoints = (const char *const *)c->endpoints,
	    .nendpoints = c->nendpoints,
	    .username = c->etcd_username,
	    .password = c->etcd_password,
	    .cacert = c->etcd_cacert,
	    .cert = c->etcd_cert,
	    .key = c->etcd_key,
	    .connect_timeout_ms = timeout_ms < 3000 ? timeout_ms : 3000,
	};
	return etcd_new(loop, &cfg, err);
}

int ctl_cluster_read(const ctl_conn *c, uint64_t timeout_ms, dcs_view *v, char **err)
{
	dcs_view_init(v, c->namespace_, c->scope);
	uv_loop_t loop;
	if (uv_loop_init(&loop) != 0) {
		err_set(err, "cannot start an event loop");
		return -1;
	}
	etcd *e = open_etcd(c, &loop, timeout_ms, err);
	int rc = -1;
	if (e) {
		/* A failed call moves the client to the next endpoint: try each once. */
		for (size_t attempt = 0; attempt < c->nendpoints; attempt++) {
			read_state st = {false, ETCD_OK, NULL, v, &loop};
			char *endpoint = xstrdup(etcd_endpoint(e));
			dcs_view_clear(v);
			if (!etcd_range(e, v->prefix, true, timeout_ms, on_range, &st)) {
				err_set(err, "cannot start the etcd request");
				free(endpoint);
				break;
			}
			while (!st.done)
				uv_run(&loop, UV_RUN_ONCE);
			if (st.status == ETCD_OK) {
				free(endpoint);
				rc = 0;
				break;
			}
			if (strstr(st.error, endpoint))
				err_set(err, "%s", st.error);
			else
				err_set(err, "%s: %s", endpoint, st.error);
			free(endpoint);
			free(st.error);
			if (st.status != ETCD_UNAVAILABLE)
				break;
		}
		etcd_free(e);
	}
	uv_run(&loop, UV_RUN_DEFAULT); /* lets the client's handles close */
	if (uv_loop_close(&loop) != 0)
		ctl_printf(stderr, "tandemctl: warning: handles left open on the loop\n");
	return rc;
}

char *ctl_candidate_problem(const dcs_view *v, const char *scope, const char *name,
                            const dcs_member **m)
{
	*m = dcs_view_member(v, name);
	if (!*m)
		return xasprintf("cluster '%s' has no member named '%s'", scope, name);
	if (v->leader && !strcmp(v->leader, name))
		return xasprintf("%s is the leader already", name);
	if ((*m)->tags.nofailover)
		return xasprintf("%s is tagged nofailover: it may not become the leader", name);
	return NULL;
}

static bool listed_in_sync(const dcs_view *v, const char *name)
{
	for (size_t i = 0; i < v->nsync_standby; i++)
		if (!strcmp(v->sync_standby[i], name))
			return true;
	return false;
}

const dcs_member *ctl_site_candidate(const dcs_view *v, const char *site, char **why)
{
	const dcs_member *best = NULL;
	size_t in_site = 0;
	bool sync = v->has_config && v->config.synchronous_mode;
	for (size_t i = 0; i < v->nmembers; i++) {
		const dcs_member *m = &v->members[i];
		if (!m->site || strcmp(m->site, site) != 0)
			continue;
		in_site++;
		if ((v->leader && !strcmp(v->leader, m->name)) || !m->state ||
		    strcmp(m->state, "running") != 0 || !m->has_lsn || m->tags.nofailover ||
		    (sync && !listed_in_sync(v, m->name)))
			continue;
		if (!best || m->xlog_location > best->xlog_location)
			best = m;
	}
	if (!best)
		*why = in_site ? xasprintf("no member of site '%s' may take over (running, not "
		                           "the leader, not nofailover; in synchronous mode a "
		                           "synchronous standby)",
		                           site)
		               : xasprintf("no member is tagged with site '%s'", site);
	return best;
}

typedef struct put_state {
	bool done;
	etcd_status status;
	char *error;
} put_state;

static void on_put(const etcd_result *r, void *ud)
{
	put_state *st = ud;
	st->done = true;
	st->status = r->status;
	if (r->status != ETCD_OK)
		st->error = xstrdup(r->error ? r->error : "no answer");
}

/* A PUT of `value`, or a DELETE when it is NULL, of the cluster's key `key`. */
static int change_key(const ctl_conn *c, const char *key, const char *value, uint64_t timeout_ms,
                      char **err)
{
	uv_loop_t loop;
	if (uv_loop_init(&loop) != 0) {
		err_set(err, "cannot start an event loop");
		return -1;
	}
	etcd *e = open_etcd(c, &loop, timeout_ms, err);
	int rc = -1;
	if (e) {
		char *prefix = dcs_prefix(c->namespace_, c->scope);
		char *full = xasprintf("%s%s", prefix, key);
		put_state st = {0};
		if (value ? etcd_put(e, full, value, 0, timeout_ms, on_put, &st) != NULL
		          : etcd_delete(e, full, false, timeout_ms, on_put, &st) != NULL) {
			while (!st.done)
				uv_run(&loop, UV_RUN_ONCE);
			if (st.status == ETCD_OK)
				rc = 0;
			else
				err_set(err, "%s", st.error);
			free(st.error);
		} else {
			err_set(err, "cannot start the etcd request");
		}
		free(full);
		free(prefix);
		etcd_free(e);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0)
		ctl_printf(stderr, "tandemctl: warning: handles left open on the loop\n");
	return rc;
}

int ctl_cluster_put(const ctl_conn *c, const char *key, const char *value, uint64_t timeout_ms,
                    char **err)
{
	return change_key(c, key, value, timeout_ms, err);
}

int ctl_cluster_delete(const ctl_conn *c, const char *key, uint64_t timeout_ms, char **err)
{
	return change_key(c, key, NULL, timeout_ms, err);
}
