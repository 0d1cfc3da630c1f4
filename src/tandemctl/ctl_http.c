#include "ctl_http.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

/* Answers larger than this are an error rather than a memory hog. */
#define CTL_HTTP_MAX_BODY (4u * 1024 * 1024)

typedef struct sink {
	strbuf sb;
	bool too_big;
} sink;

static size_t on_data(char *data, size_t size, size_t nmemb, void *ud)
{
	sink *s = ud;
	size_t n = size * nmemb;
	if (s->sb.len + n > CTL_HTTP_MAX_BODY) {
		s->too_big = true;
		return 0;
	}
	sb_append(&s->sb, data, n);
	return n;
}

int ctl_http_request(const char *method, const char *url, const char *json_body,
                     const ctl_http_auth *auth, long timeout_ms, ctl_http_answer *out, char **err)
{
	memset(out, 0, sizeof *out);
	CURL *c = curl_easy_init();
	if (!c) {
		err_set(err, "%s: cannot start an HTTP request", url);
		return -1;
	}
	sink s = {STRBUF_INIT, false};
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *headers = NULL;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 3000 ? timeout_ms : 3000L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "tandemctl/" TANDEM_VERSION);
	if (auth && auth->username) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERNAME, auth->username);
		curl_easy_setopt(c, CURLOPT_PASSWORD, auth->password ? auth->password : "");
	}
	if (auth && auth->cacert)
		curl_easy_setopt(c, CURLOPT_CAINFO, auth->cacert);
	if (auth && auth->certfile) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, auth->certfile);
		curl_easy_setopt(c, CURLOPT_SSLKEY, auth->keyfile);
		if (auth->keyfile_password)
			curl_easy_setopt(c, CURLOPT_KEYPASSWD, auth->keyfile_password);
	}
	bool verify = !(auth && auth->insecure);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
	if (strcmp(method, "POST") == 0 || json_body) {
		headers = curl_slist_append(headers, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, json_body ? json_body : "");
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}
	CURLcode rc = curl_easy_perform(c);
	int ret = 0;
	if (rc != CURLE_OK) {
		if (s.too_big)
			err_set(err, "%s: the answer is larger than %u bytes", url,
			        CTL_HTTP_MAX_BODY);
		else
			err_set(err, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
		ret = -1;
		sb_free(&s.sb);
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
		out->body = sb_steal(&s.sb);
	}
	curl_slist_free_all(headers);
	curl_easy_cleanup(c);
	return ret;
}

void ctl_http_answer_free(ctl_http_answer *a)
{
	free(a->body);
	a->body = NULL;
}
