/* One label of this process's own Kubernetes Pod, kept at a wanted value through the in-cluster
 * API server: a JSON merge patch (PATCH /api/v1/namespaces/NS/pods/POD, content type
 * application/merge-patch+json) with the service account's bearer token, over https verified
 * with the service account's CA. Nothing here knows what the label means.
 *
 * Asynchronous on the caller's libuv loop (libcurl through curl_uv): k8s_pod_want() never blocks.
 * One request at a time, each with a deadline; a failed one is retried (the wait doubles from
 * retry_ms up to 16 times it) until the API server confirms the value; a change of the wanted
 * value while a request runs is sent when it ends. The token file is read before every request
 * (projected tokens rotate). Answers are judged by their status code only: the body is never
 * parsed. */
#ifndef TANDEM_K8S_POD_H
#define TANDEM_K8S_POD_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "err.h"

typedef struct k8s_pod k8s_pod;

typedef struct k8s_pod_conf {
	const char *host, *port; /* the API server (KUBERNETES_SERVICE_HOST / _PORT) */
	const char *token_file;  /* the bearer token, read before every request */
	const char *ca_file;     /* CAs that verify the API server */
	const char *pod_namespace, *pod_name;
	const char *label; /* the label's key */
	uint64_t timeout_ms, retry_ms;
} k8s_pod_conf;

/* Whether `s` is a name Kubernetes accepts for a namespace or a Pod (DNS subdomain: lower-case
 * letters, digits, '-' and '.', at most 253, starting and ending with a letter or digit). */
bool k8s_valid_name(const char *s);
/* Whether `s` is a label key ([prefix/]name, name at most 63 of [A-Za-z0-9-_.], alphanumeric at
 * both ends) or, with `value`, a label value (the same without a prefix, possibly empty). */
bool k8s_valid_label(const char *s, bool value);

/* NULL with *err when a name is not valid or libcurl cannot start; the configuration is copied. */
k8s_pod *k8s_pod_new(uv_loop_t *loop, const k8s_pod_conf *c, char **err) TND_MUST_CHECK;

/* The label should read `value` (a valid label value; copied). */
void k8s_pod_want(k8s_pod *p, const char *value);

/* The value the API server last confirmed; NULL before any. */
const char *k8s_pod_confirmed(const k8s_pod *p);

/* Cancels what runs; the memory goes once the loop has closed the handles. NULL is allowed. */
void k8s_pod_free(k8s_pod *p);

#endif
