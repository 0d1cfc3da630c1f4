/* The parsing and checking of what clients of tandemd's REST API send: see rest_request.h. */
#include "rest_request.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dyn_config.h"

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
	health_kv *kv = xcalloc(npairs, sizeof *kv);
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
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	free(v->message);
	v->message = m;
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

int rest_parse_backup(const char *body, size_t len, char **type, char **by, rest_verdict *v)
{
	*type = *by = NULL;
	v->status = 0;
	v->message = NULL;
	bool failed;
	json_t *o = body_object(body, len, false, v, &failed);
	if (failed)
		return -1;
	const char *k;
	json_t *val;
	json_object_foreach(o, k, val)
	{
		const char *text = json_string_value(val);
		if (strcmp(k, "type") == 0 && text &&
		    (!strcmp(text, "full") || !strcmp(text, "diff") || !strcmp(text, "incr"))) {
			free(*type);
			*type = xstrdup(text);
		} else if (strcmp(k, "by") == 0 && text && strlen(text) <= 200) {
			free(*by);
			*by = xstrdup(text);
			for (char *p = *by; *p; p++)
				if ((unsigned char)*p < 0x20 || *p == 0x7f)
					*p = '?';
		} else {
			verdict(v, 400,
			        "'%.60s': the body is {\"type\": \"full\"|\"diff\"|\"incr\", "
			        "\"by\": \"who\"}",
			        k);
			json_decref(o);
			free(*type);
			free(*by);
			*type = *by = NULL;
			return -1;
		}
	}
	json_decref(o);
	return 0;
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
	/* A refused parameter already in the DCS (written by Patroni, or straight into etcd) may
	 * stay as it is: the agent never applies it, and the change is checked, not the past. */
	const dcs_view *view = st->view;
	json_t *before = view && view->has_config && view->config.raw
	                     ? json_loads(view->config.raw, 0, NULL)
	                     : NULL;
	char *why = dyn_config_check_change(before, result, &d);
	json_decref(before);
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
