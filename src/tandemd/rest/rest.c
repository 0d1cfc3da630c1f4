/* tandemd's REST API server on httpd: routing, authentication and methods (see rest.h). The
 * bodies and the checks of the requests are the pure functions of rest_render.h and rest_request.h.
 */
#include "rest.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base64.h"
#include "clock.h"
#include "health.h"
#include "httpd.h"
#include "listener.h"
#include "log.h"
#include "rest_guard.h"
#include "rest_render.h"
#include "rest_request.h"
#include "rest_tls.h"
#include "strbuf.h"

enum {
	REST_MAX_BODY = 64 * 1024,
	REST_MAX_HEADER = 16 * 1024,
	/* An idle or stalled client holds a connection for at most this long, and one peer at
	 * most REST_MAX_PER_PEER of them: a single client cannot starve the health checks. */
	REST_IDLE_TIMEOUT_S = 10,
	REST_MAX_CONNECTIONS = 256,
	REST_MAX_PER_PEER = 32,
	REST_BACKLOG = 128,
};

typedef struct config_write config_write;

struct rest_server {
	agent *a;
	const tandemd_settings *s;
	int fd;
	httpd *http;
	config_write *writes; /* PATCH/PUT /config waiting for the agent's answer */
	cidr_list allow;      /* restapi.allowlist */
	rest_throttle throttle;
	rest_tls tls; /* restapi.certfile, keyfile, cafile, verify_client */
};

static const char json_ctype[] = "application/json";
static const char text_type[] = "text/plain; charset=utf-8";

typedef enum route_kind {
	R_NONE,
	R_HEALTH,
	R_PATRONI,
	R_CLUSTER,
	R_HISTORY,
	R_CONFIG,
	R_METRICS,
	R_FAILSAFE, /* GET, and POST from a leader that cannot reach the DCS */
	R_DRILL,    /* GET: this member's restore drill; POST: start one */
	R_RESTART,
	R_RELOAD,
	R_REINITIALIZE,
	R_FAILOVER,
	R_SWITCHOVER,
	R_BACKUP,
} route_kind;

static const struct {
	const char *path;
	route_kind kind;
} routes[] = {
    {"/patroni", R_PATRONI},       {"/cluster", R_CLUSTER},           {"/history", R_HISTORY},
    {"/config", R_CONFIG},         {"/metrics", R_METRICS},           {"/restart", R_RESTART},
    {"/reload", R_RELOAD},         {"/reinitialize", R_REINITIALIZE}, {"/failover", R_FAILOVER},
    {"/switchover", R_SWITCHOVER}, {"/failsafe", R_FAILSAFE},         {"/backup", R_BACKUP},
    {"/drill", R_DRILL},
};

static route_kind route_of(const char *path, const health_state *health)
{
	if (!path)
		return R_NONE;
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
		if (strcmp(path, routes[i].path) == 0)
			return routes[i].kind;
	if (health_status(path, NULL, 0, health) != 404)
		return R_HEALTH;
	return R_NONE;
}

static bool is_post_route(route_kind k)
{
	return k >= R_RESTART;
}

static void respond_text(http_req *req, unsigned status, const char *text)
{
	http_respond(req, status, text_type, text, strlen(text), NULL);
}

static void respond_json(http_req *req, unsigned status, bool with_body, const char *body)
{
	http_respond(req, status, json_ctype, with_body ? body : NULL, with_body ? strlen(body) : 0,
	             NULL);
}

/* ---- authentication ---- */

/* Decodes base64 credentials into a NUL-terminated heap string; NULL when malformed. */
static char *decode_credentials(const char *in, size_t *outlen)
{
	size_t len = strlen(in);
	unsigned char *out = xmalloc(b64_decoded_max(len) + 1);
	if (b64_decode(in, len, out, outlen) != 0) {
		free(out);
		return NULL;
	}
	out[*outlen] = '\0';
	return (char *)out;
}

/* Constant time in the length of `want` (the secret), whatever `got` is. */
static bool ct_equal(const char *got, size_t got_len, const char *want, size_t want_len)
{
	unsigned char diff = got_len != want_len;
	for (size_t i = 0; i < want_len; i++) {
		unsigned char g = i < got_len ? (unsigned char)got[i] : 0;
		diff |= (unsigned char)(g ^ (unsigned char)want[i]);
	}
	return diff == 0;
}

static bool authorized(const rest_server *r, http_req *req)
{
	const char *user = r->s->restapi_username;
	if (!user || !*user)
		return true;
	const char *h = http_req_header(req, "Authorization");
	if (!h)
		return false;
	while (*h == ' ')
		h++;
	if (strncasecmp(h, "Basic", 5) != 0 || (h[5] != ' ' && h[5] != '\t'))
		return false;
	h += 5;
	while (*h == ' ' || *h == '\t')
		h++;
	char *token = xstrndup(h, strcspn(h, " \t\r\n"));
	size_t got_len = 0;
	char *got = decode_credentials(token, &got_len);
	free(token);
	if (!got)
		return false;
	char *want = xasprintf("%s:%s", user, r->s->restapi_password ? r->s->restapi_password : "");
	bool ok = ct_equal(got, got_len, want, strlen(want));
	/* the secrets leave no copy behind in freed memory */
	memset(got, 0, got_len);
	memset(want, 0, strlen(want));
	free(got);
	free(want);
	return ok;
}

/* ---- GET-like routes ---- */

/* The raw query string (after '?'), NULL when none. httpd.h does not hand it over yet (see
 * rest.h); once it has http_req_query(), this returns it. */
static const char *request_query(http_req *req)
{
	return http_req_query(req);
}

static void serve_health(rest_server *r, http_req *req, const char *path, rest_method m)
{
	const agent_status *st = agent_status_get(r->a);
	const char *query = request_query(req);
	rest_query q;
	if (rest_query_parse(query, query ? strlen(query) : 0, &q) < 0) {
		http_respond_error(req, 400, "malformed query string", NULL);
		return;
	}
	unsigned status = (unsigned)health_status(path, q.kv, q.n, &st->health);
	rest_query_free(&q);
	if (status == 404) {
		http_respond_error(req, 404, "not found", NULL);
		return;
	}
	if (status == 400) {
		http_respond_error(req, 400, "bad query parameter (lag must be a size, e.g. 10MB)",
		                   NULL);
		return;
	}
	if (health_has_body(m, path)) {
		char *body = rest_render_patroni(st);
		respond_json(req, status, true, body);
		free(body);
	} else {
		http_respond(req, status, NULL, NULL, 0, NULL);
	}
}

static void serve_get(rest_server *r, http_req *req, route_kind k, bool with_body)
{
	const agent_status *st = agent_status_get(r->a);
	char *body = NULL;
	unsigned status = 200;
	switch (k) {
	case R_PATRONI:
		body = rest_render_patroni(st);
		break;
	case R_CLUSTER:
		body = rest_render_cluster(st);
		break;
	case R_HISTORY:
		body = rest_render_history(st);
		break;
	case R_CONFIG:
		status = rest_render_config(st, &body);
		break;
	case R_FAILSAFE:
		status = rest_render_failsafe(st, &body);
		break;
	case R_DRILL:
		body = agent_drill_json(r->a);
		break;
	case R_METRICS: {
		strbuf out = STRBUF_INIT;
		rest_render_metrics(&out, st, agent_counters_get(r->a));
		http_respond(req, 200, "text/plain; version=0.0.4", with_body ? out.data : NULL,
		             with_body ? out.len : 0, NULL);
		sb_free(&out);
		return;
	}
	default:
		http_respond_error(req, 404, "not found", NULL);
		return;
	}
	respond_json(req, status, with_body, body);
	free(body);
}

/* ---- audit ---- */

/* The one audit line of a change, accepted (2xx) or refused; `user` NULL is "-". */
static void audit(http_req *req, const char *user, unsigned status, const char *detail)
{
	char peer[64];
	listener_addr_text(http_req_peer(req), peer, sizeof peer);
	char *line =
	    rest_audit_line(user, peer, http_req_method(req), http_req_path(req), status, detail);
	if (status >= 200 && status < 300)
		log_info("%s", line);
	else
		log_warning("%s", line);
	free(line);
}

/* Answers a change that got past the allowlist and authentication, and audits it. */
static void answer_change(const rest_server *r, http_req *req, unsigned status, const char *text,
                          const char *detail)
{
	audit(req, r->s->restapi_username, status, detail ? detail : text);
	respond_text(req, status, text);
}

/* ---- POST routes ---- */

static void queue_request(rest_server *r, http_req *req, agent_request_kind kind,
                          const char *candidate, unsigned ok_status, const char *ok_text)
{
	char *err = NULL;
	if (agent_request(r->a, kind, candidate, &err) < 0) {
		answer_change(r, req, 409, err ? err : "refused", NULL);
		free(err);
		return;
	}
	answer_change(r, req, ok_status, ok_text, NULL);
}

static void answer_verdict(const rest_server *r, http_req *req, rest_verdict *v)
{
	answer_change(r, req, v->status, v->message ? v->message : "refused", NULL);
	rest_verdict_free(v);
}

static void serve_failover(rest_server *r, http_req *req, bool switchover, const char *body,
                           size_t len)
{
	rest_failover_req fr;
	rest_verdict v = {0, NULL};
	if (rest_parse_failover(body, len, &fr, &v) < 0) {
		answer_verdict(r, req, &v);
		return;
	}
	const agent_status *st = agent_status_get(r->a);
	rest_check_failover(st, switchover, &fr, clock_unix_ms(), &v);
	if (v.status) {
		answer_verdict(r, req, &v);
	} else if (switchover) {
		char *err = NULL;
		if (agent_switchover(r->a, fr.candidate, fr.scheduled_at, &err) < 0) {
			answer_change(r, req, 409, err ? err : "refused", NULL);
			free(err);
		} else {
			char *text = fr.scheduled_at ? xasprintf("switchover scheduled")
			             : fr.candidate
			                 ? xasprintf("switchover to %s started", fr.candidate)
			                 : xasprintf("switchover started");
			char *detail = xasprintf("switchover, candidate %s, at %s",
			                         fr.candidate ? fr.candidate : "(the best replica)",
			                         fr.scheduled_at ? fr.scheduled_at : "once");
			answer_change(r, req, 202, text, detail);
			free(detail);
			free(text);
		}
	} else {
		char *text = xasprintf("failover to %s requested", fr.candidate);
		queue_request(r, req, AGENT_REQ_FAILOVER, fr.candidate, 202, text);
		free(text);
	}
	rest_failover_req_free(&fr);
}

/* ---- PATCH and PUT /config ---- */

struct config_write {
	rest_server *r; /* NULL once the server is gone (it answered 503) */
	config_write *prev, *next;
	http_req *req;
	char *new_config; /* what is answered on success */
	char *change;     /* what the client sent, for the audit line */
	bool replace;
};

static void write_unlink(config_write *w)
{
	if (!w->r)
		return;
	if (w->prev)
		w->prev->next = w->next;
	else
		w->r->writes = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->r = NULL;
}

static void config_written(const char *error, void *ud)
{
	config_write *w = ud;
	/* Without a server it was answered when the server stopped. */
	if (w->r && error) {
		char *detail = xasprintf("%s; the change was %s", error, w->change);
		audit(w->req, w->r->s->restapi_username, 409, detail);
		free(detail);
		char *body = http_error_body(error);
		respond_json(w->req, 409, true, body);
		free(body);
	} else if (w->r) {
		char *detail =
		    xasprintf("%s %s; the configuration is now %s",
		              w->replace ? "replaced by" : "changed by", w->change, w->new_config);
		audit(w->req, w->r->s->restapi_username, 200, detail);
		free(detail);
		respond_json(w->req, 200, true, w->new_config);
	}
	write_unlink(w);
	free(w->new_config);
	free(w->change);
	free(w);
}

static void serve_config_write(rest_server *r, http_req *req, bool replace)
{
	size_t len = 0;
	const char *body = http_req_body(req, &len);
	rest_verdict v = {0, NULL};
	char *new_config = NULL;
	if (rest_config_request(agent_status_get(r->a), body, len, replace, &new_config, &v) < 0) {
		audit(req, r->s->restapi_username, v.status, v.message ? v.message : "refused");
		http_respond_error(req, v.status, v.message ? v.message : "refused", NULL);
		rest_verdict_free(&v);
		return;
	}
	config_write *w = xcalloc(1, sizeof *w);
	w->r = r;
	w->req = req;
	w->new_config = new_config;
	w->change = xstrndup(body, len);
	w->replace = replace;
	w->next = r->writes;
	if (r->writes)
		r->writes->prev = w;
	r->writes = w;
	/* PUT sends the whole new configuration; PATCH only the change (the agent merges it into
	 * the latest revision under a compare-and-swap). */
	/* `done` may run at once and free w: the agent gets a copy. */
	char *text = xstrdup(replace ? new_config : w->change);
	agent_patch_config(r->a, text, replace, config_written, w);
	free(text);
}

/* Patroni's answers: 200 "Accepted"; 502 when failsafe mode is off; 500 when refused. */
static void serve_failsafe(rest_server *r, http_req *req, const char *body, size_t len)
{
	rest_verdict v;
	char *leader = rest_parse_failsafe(body, len, &v);
	if (!leader) {
		answer_verdict(r, req, &v);
		return;
	}
	char *why = NULL;
	int rc = agent_failsafe_confirm(r->a, leader, &why);
	free(leader);
	if (rc == 0) {
		answer_change(r, req, 200, "Accepted", "failsafe: the leader is confirmed");
		return;
	}
	unsigned status = agent_status_get(r->a)->failsafe_mode ? 500 : 502;
	answer_change(r, req, status, why ? why : "refused", NULL);
	free(why);
}

/* POST /backup: 202 with {"id": ...} (tandemctl backup --wait follows it in the DCS). */
static void serve_backup(rest_server *r, http_req *req, const char *body, size_t len)
{
	rest_verdict v;
	char *type, *by, *id = NULL, *err = NULL;
	if (rest_parse_backup(body, len, &type, &by, &v) != 0) {
		answer_verdict(r, req, &v);
		return;
	}
	if (agent_runner_request(r->a, type, by, &id, &err) != 0) {
		answer_change(r, req, 409, err ? err : "refused", NULL);
	} else {
		char *detail = xasprintf("backup %s requested (%s), by %s", id,
		                         type ? type : "incr", by ? by : "-");
		char *json = xasprintf("{\"id\":\"%s\",\"type\":\"%s\"}", id, type ? type : "incr");
		audit(req, r->s->restapi_username, 202, detail);
		respond_json(req, 202, true, json);
		free(json);
		free(detail);
	}
	free(id);
	free(err);
	free(type);
	free(by);
}

static void serve_post(rest_server *r, http_req *req, route_kind k)
{
	size_t len = 0;
	const char *body = http_req_body(req, &len);
	rest_verdict v = {0, NULL};
	switch (k) {
	case R_RESTART:
		rest_check_restart(agent_status_get(r->a), body, len, &v);
		if (v.status)
			answer_verdict(r, req, &v);
		else
			queue_request(r, req, AGENT_REQ_RESTART, NULL, 202, "restart scheduled");
		break;
	case R_RELOAD:
		queue_request(r, req, AGENT_REQ_RELOAD, NULL, 202, "reload scheduled");
		break;
	case R_REINITIALIZE:
		rest_check_reinitialize(body, len, &v);
		if (v.status)
			answer_verdict(r, req, &v);
		else
			queue_request(r, req, AGENT_REQ_REINITIALIZE, NULL, 200,
			              "reinitialize started");
		break;
	case R_FAILOVER:
	case R_SWITCHOVER:
		serve_failover(r, req, k == R_SWITCHOVER, body, len);
		break;
	case R_FAILSAFE:
		serve_failsafe(r, req, body, len);
		break;
	case R_BACKUP:
		serve_backup(r, req, body, len);
		break;
	default:
		http_respond_error(req, 404, "not found", NULL);
		break;
	}
}

/* POST /drill: 202 {"id": ...}, or the refusal (409, 503). */
static void serve_drill(rest_server *r, http_req *req)
{
	char *id = NULL, *err = NULL;
	unsigned status = 0;
	if (agent_drill_start(r->a, &id, &status, &err) != 0) {
		audit(req, r->s->restapi_username, status, err ? err : "refused");
		http_respond_error(req, status, err ? err : "refused", NULL);
		free(err);
		return;
	}
	char *detail = xasprintf("restore drill %s started", id);
	audit(req, r->s->restapi_username, 202, detail);
	char *body = xasprintf("{\"id\":\"%s\"}", id);
	respond_json(req, 202, true, body);
	free(body);
	free(detail);
	free(id);
}

/* ---- dispatch ---- */

/* The client certificate (restapi.verify_client), the throttle, then authentication: true when the
 * change may go on; otherwise the request is answered (429 or 401) and audited. */
static bool admit_change(rest_server *r, http_req *req)
{
	static const char *const challenge[] = {"WWW-Authenticate",
	                                        "Basic realm=\"tandem\", charset=\"UTF-8\"", NULL};
	const struct sockaddr *peer = http_req_peer(req);
	if (r->tls.client_verified && !http_req_client_verified(req)) {
		audit(req, NULL, 403,
		      "no client certificate that verifies against restapi.cafile "
		      "(restapi.verify_client)");
		http_respond_error(req, 403, "a valid client certificate is required", NULL);
		return false;
	}
	if (!r->s->restapi_username || !*r->s->restapi_username)
		return true;
	uint64_t now = clock_mono_ms();
	unsigned retry_s = 0;
	if (rest_throttle_blocked(&r->throttle, peer, now, &retry_s)) {
		char retry[16];
		snprintf(retry, sizeof retry, "%u", retry_s);
		const char *const headers[] = {"Retry-After", retry, NULL};
		audit(req, NULL, 429, "too many failed authentications from this peer");
		http_respond_error(req, 429, "too many failed authentications", headers);
		return false;
	}
	if (!authorized(r, req)) {
		bool blocked = rest_throttle_failed(&r->throttle, peer, now);
		audit(req, NULL, 401,
		      blocked ? "authentication failed; the peer is answered 429 for a while"
		              : "authentication failed");
		http_respond_error(req, 401, "authentication required", challenge);
		return false;
	}
	rest_throttle_succeeded(&r->throttle, peer);
	return true;
}

static void on_request(http_req *req, void *ud)
{
	rest_server *r = ud;
	const char *method = http_req_method(req);
	const char *path = http_req_path(req);

	if (http_req_too_large(req)) {
		http_respond_error(req, 413, "request body too large (limit 64 KiB)", NULL);
		return;
	}
	const agent_status *st = agent_status_get(r->a);
	route_kind k = route_of(path, &st->health);
	bool cfg_write =
	    k == R_CONFIG && (strcmp(method, "PATCH") == 0 || strcmp(method, "PUT") == 0);
	bool failsafe_post = (k == R_FAILSAFE || k == R_DRILL) && strcmp(method, "POST") == 0;
	bool changing = is_post_route(k) || cfg_write || failsafe_post;
	const dcs_view *members = r->s->restapi_allowlist_include_members ? st->view : NULL;
	if (!rest_allowlist_admits(&r->allow, members, r->s->restapi_allowlist_all, changing,
	                           http_req_peer(req))) {
		if (changing)
			audit(req, NULL, 403, "the peer is not in restapi.allowlist");
		else
			log_debug("REST: %s %s: the peer is not in restapi.allowlist", method,
			          path);
		http_respond_error(req, 403, "forbidden", NULL);
		return;
	}
	if (k == R_NONE) {
		http_respond_error(req, 404, "not found", NULL);
		return;
	}
	if (changing) {
		if (!cfg_write && strcmp(method, "POST") != 0) {
			static const char *const allow[] = {"Allow", "POST", NULL};
			http_respond_error(req, 405, "method not allowed", allow);
			return;
		}
		if (!admit_change(r, req))
			return;
		if (cfg_write)
			serve_config_write(r, req, strcmp(method, "PUT") == 0);
		else if (k == R_DRILL)
			serve_drill(r, req);
		else
			serve_post(r, req, k);
		return;
	}
	rest_method m;
	if (strcmp(method, "GET") == 0) {
		m = REST_GET;
	} else if (strcmp(method, "HEAD") == 0) {
		m = REST_HEAD;
	} else if (strcmp(method, "OPTIONS") == 0) {
		m = REST_OPTIONS;
	} else {
		static const char *const allow[] = {"Allow", "GET, HEAD, OPTIONS", NULL};
		static const char *const allow_config[] = {"Allow",
		                                           "GET, HEAD, OPTIONS, PATCH, PUT", NULL};
		static const char *const allow_failsafe[] = {"Allow", "GET, HEAD, OPTIONS, POST",
		                                             NULL};
		http_respond_error(req, 405, "method not allowed",
		                   k == R_CONFIG                     ? allow_config
		                   : k == R_FAILSAFE || k == R_DRILL ? allow_failsafe
		                                                     : allow);
		return;
	}
	if (k == R_HEALTH)
		serve_health(r, req, path, m);
	else
		serve_get(r, req, k, m == REST_GET);
}

rest_server *rest_new(uv_loop_t *loop, agent *a, const tandemd_settings *s, char **err)
{
	if (!s->restapi_listen || !*s->restapi_listen) {
		err_set(err, "restapi.listen is not set");
		return NULL;
	}
	int fd = listener_open(s->restapi_listen, REST_BACKLOG, err);
	if (fd < 0) {
		err_prefix(err, "restapi.listen %s", s->restapi_listen);
		return NULL;
	}
	rest_server *r = xcalloc(1, sizeof *r);
	r->a = a;
	r->s = s;
	r->fd = fd;
	if (rest_tls_load(s, &r->tls, err) < 0) {
		close(fd);
		free(r);
		return NULL;
	}
	for (size_t i = 0; i < s->restapi_allowlist.n; i++)
		if (cidr_list_add(&r->allow, s->restapi_allowlist.v[i], err) < 0) {
			err_prefix(err, "restapi.allowlist");
			cidr_list_free(&r->allow);
			rest_tls_free(&r->tls);
			close(fd);
			free(r);
			return NULL;
		}
	httpd_config hc = {
	    .fds = &r->fd,
	    .nfds = 1,
	    .max_body = REST_MAX_BODY,
	    .max_header = REST_MAX_HEADER,
	    .idle_timeout_s = REST_IDLE_TIMEOUT_S,
	    .max_connections = REST_MAX_CONNECTIONS,
	    .max_connections_per_peer = REST_MAX_PER_PEER,
	    .tls_cert_pem = r->tls.cert_pem,
	    .tls_key_pem = r->tls.key_pem,
	    .tls_key_password = s->restapi_keyfile_password,
	    .tls_trust_pem = r->tls.trust_pem,
	    .tls_require_client = r->tls.require_client,
	    .on_request = on_request,
	    .ud = r,
	};
	r->http = httpd_new(loop, &hc, err);
	if (!r->http) {
		err_prefix(err, "REST API on %s", s->restapi_listen);
		cidr_list_free(&r->allow);
		rest_tls_free(&r->tls);
		close(fd);
		free(r);
		return NULL;
	}
	if (r->tls.cert_pem)
		log_info("REST API on %s: https, client certificates %s", s->restapi_listen,
		         r->tls.require_client    ? "required"
		         : r->tls.client_verified ? "required by the changing endpoints"
		                                  : "not asked for");
	return r;
}

void rest_free(rest_server *r)
{
	if (!r)
		return;
	/* A suspended request must be answered before the server stops; the agent answers the
	 * write itself later (agent_abort_patches) and finds it detached. */
	while (r->writes) {
		config_write *w = r->writes;
		respond_text(w->req, 503, "tandemd is stopping");
		write_unlink(w);
	}
	httpd_free(r->http);
	close(r->fd);
	cidr_list_free(&r->allow);
	rest_tls_free(&r->tls);
	free(r);
}
