/* The rows of tandemd's option table for Kubernetes (the `kubernetes:` section): tandemd keeps a
 * role label on its own Pod, so that a Service selects the leader (Patroni's role_label and
 * *_label_value keys). Patroni's Kubernetes DCS keys (use_endpoints, ports, ...) are refused:
 * tandem's DCS is etcd. docs/deploy-kubernetes.md describes every key. */
#ifndef PATRONI_OPTIONS_KUBERNETES_H
#define PATRONI_OPTIONS_KUBERNETES_H

#include <stdbool.h>

#include "cfg.h"
#include "err.h"

struct tandemd_settings;

#define TANDEMD_K8S_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

int kubernetes_check_label(const void *v, char **err);
int kubernetes_check_value(const void *v, char **err);
int kubernetes_check_name(const void *v, char **err);

/* Whether the Pod label is kept (kubernetes.role_label is set). */
bool tandemd_kubernetes_on(const struct tandemd_settings *s);

/* Patroni's Kubernetes DCS keys, refused by name (for the table's `unsupported` list). */
#define TANDEMD_KUBERNETES_UNSUPPORTED                                                             \
	"kubernetes.use_endpoints", "kubernetes.bypass_api_service", "kubernetes.ports",           \
	    "kubernetes.scope_label", "kubernetes.labels", "kubernetes.pod_ip",                    \
	    "kubernetes.retriable_http_codes", "kubernetes.tmp_role_label",                        \
	    "kubernetes.bootstrap_labels", "kubernetes.context"

#define KOPT(field) offsetof(tandemd_settings, field)
/* clang-format off */
#define TANDEMD_KUBERNETES_OPTIONS \
    {"kubernetes.role_label", CFG_STRING, NULL, 0, 0, false, KOPT(k8s_role_label), "KEY", \
     "the label of this member's own Pod that tandemd keeps at its role (Patroni's role_label), " \
     "through the in-cluster API server; setting it turns the labelling on", \
     kubernetes_check_label}, \
    {"kubernetes.leader_label_value", CFG_STRING, "primary", 0, 0, false, \
     KOPT(k8s_leader_value), "VALUE", "the role label of the leader", kubernetes_check_value}, \
    {"kubernetes.follower_label_value", CFG_STRING, "replica", 0, 0, false, \
     KOPT(k8s_follower_value), "VALUE", "the role label of every other member", \
     kubernetes_check_value}, \
    {"kubernetes.standby_leader_label_value", CFG_STRING, "standby-leader", 0, 0, false, \
     KOPT(k8s_standby_leader_value), "VALUE", "the role label of a standby cluster's leader", \
     kubernetes_check_value}, \
    {"kubernetes.namespace", CFG_STRING, NULL, 0, 0, false, KOPT(k8s_namespace), "NAME", \
     "the Pod's namespace (default: the file `namespace` beside kubernetes.token_file)", \
     kubernetes_check_name}, \
    {"kubernetes.pod_name", CFG_STRING, NULL, 0, 0, false, KOPT(k8s_pod_name), "NAME", \
     "the Pod's name (default: the member's `name`)", kubernetes_check_name}, \
    {"kubernetes.cacert", CFG_STRING, TANDEMD_K8S_SA_DIR "/ca.crt", 0, 0, false, \
     KOPT(k8s_cacert), "FILE", "CAs that verify the API server (Patroni's cacert)", NULL}, \
    {"kubernetes.token_file", CFG_STRING, TANDEMD_K8S_SA_DIR "/token", 0, 0, false, \
     KOPT(k8s_token_file), "FILE", \
     "the service account's bearer token, read before every request", NULL},
/* clang-format on */

#endif
