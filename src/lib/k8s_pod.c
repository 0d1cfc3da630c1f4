/* See k8s_pod.h. The object owns its libcurl adapter, its one easy handle while a request runs,
 * and a retry timer; the timer's close callback releases the memory. */
#include "k8s_pod.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "curl_uv.h"
#include "log.h"
#include "strbuf.h"

enum { TOKEN_MAX = 64 * 1024, BACKOFF_MAX = 16 };

struct k8s_pod {
	curluv *curl;
	uv_timer_t retry;
	char *url, *token_file, *ca_file, *label;
	uint64_t timeout_ms, retry_ms, wait_ms;
	char *want;      /* what the label should read */
	char *sent;      /* what the running request sets (NULL: none runs) */
	char *confirmed; /* what the API server last accepted */
	CURL *easy;
	struct curl_slist *headers;
	char *body;
	char error[CURL_ERROR_SIZE];
	char *last_failure; /* logged once until it changes */
};

static bool alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool k8s_valid_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 253 || !alnum(s[0]) || !alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(alnum(s[i]) && !(s[i] >= 'A' && s[i] <= 'Z')) && s[i] != '-' && s[i] != '.')
			return false;
	return true;
}

static bool valid_label_name(const char *s, size_t n, bool may_be_empty)
{
	if (n == 0)
		return may_be_empty;
	if (n > 63 || !alnum(s[0]) || !alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

bool k8s_valid_label(const char *s, bool value)
{
	if (!s)
		return false;
	const char *slash = value ? NULL : strchr(s, '/');
	if (!slash)
		return valid_label_name(s, strlen(s), value);
	char *prefix = xstrndup(s, (size_t)(slash - s));
	bool ok = k8s_valid_name(prefix) && valid_label_name(slash + 1, strlen(slash + 1), false);
	free(prefix);
	return ok;
}

static size_t discard(char *p, size_t size, size_t nmemb, void *ud)
{
	(void)p;
	(void)ud;
	return size * nmemb;
}

static void send_want(k8s_pod *p);

static void failed(k8s_pod *p, const char *why)
{
	if (!p->last_failure || strcmp(p->last_failure, why) != 0) {
		log_warning("kubernetes: setting pod label %s=%s: %s (retrying)", p->label, p->want,
		            why);
		free(p->last_failure);
		p->last_failure = xstrdup(why);
	}
}

static void on_retry(uv_timer_t *t)
{
	send_want(t->data);
}

static void schedule_retry(k8s_pod *p)
{
	uv_timer_start(&p->retry, on_retry, p->wait_ms, 0);
	if (p->wait_ms < p->retry_ms * BACKOFF_MAX)
		p->wait_ms *= 2;
}

static void clear_request(k8s_pod *p)
{
	if (p->easy)
		curl_easy_cleanup(p->easy);
	p->easy = NULL;
	curl_slist_free_all(p->headers);
	p->headers = NULL;
	free(p->body);
	p->body = NULL;
}

static void on_done(CURL *easy, CURLcode rc, void *ud)
{
	k8s_pod *p = ud;
	long status = 0;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	char *sent = p->sent;
	p->sent = NULL;
	clear_request(p);
	if (rc == CURLE_OK && status >= 200 && status < 300) {
		free(p->confirmed);
		p->confirmed = sent;
		p->wait_ms = p->retry_ms;
		log_info("kubernetes: pod label %s=%s set", p->label, p->confirmed);
		free(p->last_failure);
		p->last_failure = NULL;
		send_want(p); /* nothing when the wanted value is the one confirmed */
		return;
	}
	free(sent);
	char *why = rc != CURLE_OK
	                ? xasprintf("%s", p->error[0] ? p->error : curl_easy_strerror(rc))
	            : status == 401 || status == 403
	                ? xasprintf("HTTP %ld (the service account's token, and a Role granting "
	                            "pods get and patch?)",
	                            status)
	                : xasprintf("HTTP %ld", status);
	failed(p, why);
	free(why);
	schedule_retry(p);
}

/* Not secret_file_read: the kubelet mounts the token 0644 (0640 with an fsGroup), owned by root. */
static char *read_token(const k8s_pod *p, char **err)
{
	strbuf sb = STRBUF_INIT;
	if (sb_read_file(&sb, p->token_file, TOKEN_MAX, err) != 0) {
		sb_free(&sb);
		return NULL;
	}
	char *t = sb_steal(&sb);
	size_t n = strlen(t);
	while (n && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' '))
		t[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] < 0x21 || (unsigned char)t[i] > 0x7e) {
			err_set(err, "%s: not a bearer token", p->token_file);
			free(t);
			return NULL;
		}
	if (n == 0) {
		err_set(err, "%s: empty", p->token_file);
		free(t);
		return NULL;
	}
	return t;
}

static char *patch_body(const k8s_pod *p, const char *value)
{
	json_t *labels = json_object();
	json_object_set_new(labels, p->label, json_string(value));
	json_t *body = json_pack("{s:{s:o}}", "metadata", "labels", labels);
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	return text;
}

static int start_request(k8s_pod *p, const char *value, char **err)
{
	char *token = read_token(p, err);
	if (!token)
		return -1;
	char *auth = xasprintf("Authorization: Bearer %s", token);
	free(token);
	p->headers = curl_slist_append(NULL, auth);
	free(auth);
	p->headers = curl_slist_append(p->headers, "Content-Type: application/merge-patch+json");
	p->headers = curl_slist_append(p->headers, "Accept: application/json");
	p->body = patch_body(p, value);
	p->easy = curl_easy_init();
	if (!p->easy || !p->headers || !p->body) {
		err_set(err, "out of memory");
		return -1;
	}
	CURL *e = p->easy;
	p->error[0] = '\0';
	curl_easy_setopt(e, CURLOPT_URL, p->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PATCH");
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, p->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(p->body));
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->headers);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, p->error);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_CAINFO, p->ca_file);
	if (curluv_add(p->curl, e, on_done, p) != CURLM_OK) {
		err_set(err, "libcurl refused the request");
		return -1;
	}
	p->sent = xstrdup(value);
	return 0;
}

/* Sends the wanted value unless it is confirmed, or a request or a retry is pending. */
static void send_want(k8s_pod *p)
{
	if (!p->want || p->sent || uv_is_active((uv_handle_t *)&p->retry))
		return;
	if (p->confirmed && strcmp(p->confirmed, p->want) == 0)
		return;
	char *err = NULL;
	if (start_request(p, p->want, &err) != 0) {
		clear_request(p);
		failed(p, err);
		free(err);
		schedule_retry(p);
	}
}

void k8s_pod_want(k8s_pod *p, const char *value)
{
	if (!p || !value || (p->want && strcmp(p->want, value) == 0))
		return;
	free(p->want);
	p->want = xstrdup(value);
	uv_timer_stop(&p->retry); /* a new value goes at once */
	p->wait_ms = p->retry_ms;
	send_want(p);
}

const char *k8s_pod_confirmed(const k8s_pod *p)
{
	return p ? p->confirmed : NULL;
}

k8s_pod *k8s_pod_new(uv_loop_t *loop, const k8s_pod_conf *c, char **err)
{
	if (!c->host || !*c->host || !c->port || !*c->port) {
		err_set(err, "the API server is not known (KUBERNETES_SERVICE_HOST and "
		             "KUBERNETES_SERVICE_PORT are not set: not in a Pod?)");
		return NULL;
	}
	if (strspn(c->port, "0123456789") != strlen(c->port) || strlen(c->port) > 5 ||
	    strpbrk(c->host, "/?#@[] ")) {
		err_set(err, "KUBERNETES_SERVICE_HOST/PORT: not an address and a port");
		return NULL;
	}
	if (!k8s_valid_name(c->pod_namespace) || !k8s_valid_name(c->pod_name)) {
		err_set(err, "'%s/%s' is not a Kubernetes namespace and Pod name",
		        c->pod_namespace ? c->pod_namespace : "", c->pod_name ? c->pod_name : "");
		return NULL;
	}
	if (!k8s_valid_label(c->label, false)) {
		err_set(err, "'%s' is not a Kubernetes label key", c->label ? c->label : "");
		return NULL;
	}
	k8s_pod *p = xcalloc(1, sizeof *p);
	p->curl = curluv_new(loop, NULL, NULL);
	if (!p->curl) {
		free(p);
		err_set(err, "libcurl cannot start");
		return NULL;
	}
	bool v6 = strchr(c->host, ':') != NULL;
	p->url = xasprintf("https://%s%s%s:%s/api/v1/namespaces/%s/pods/%s", v6 ? "[" : "", c->host,
	                   v6 ? "]" : "", c->port, c->pod_namespace, c->pod_name);
	p->token_file = xstrdup(c->token_file);
	p->ca_file = xstrdup(c->ca_file);
	p->label = xstrdup(c->label);
	p->timeout_ms = c->timeout_ms ? c->timeout_ms : 10000;
	p->retry_ms = c->retry_ms ? c->retry_ms : 1000;
	p->wait_ms = p->retry_ms;
	uv_timer_init(loop, &p->retry);
	p->retry.data = p;
	return p;
}

static void on_closed(uv_handle_t *h)
{
	k8s_pod *p = h->data;
	free(p->url);
	free(p->token_file);
	free(p->ca_file);
	free(p->label);
	free(p->want);
	free(p->confirmed);
	free(p->last_failure);
	free(p);
}

void k8s_pod_free(k8s_pod *p)
{
	if (!p)
		return;
	if (p->easy)
		curluv_remove(p->curl, p->easy);
	clear_request(p);
	free(p->sent);
	p->sent = NULL;
	curluv_free(p->curl);
	uv_close((uv_handle_t *)&p->retry, on_closed);
}
