/* Kubernetes: the member's role on its own Pod's label (kubernetes.role_label), so that the
 * read-write Service selects the leader. Kept by k8s_pod (src/lib), off the HA loop: the end of
 * every pass says what the label should read, and k8s_pod patches it when that changes. */
#include <stdlib.h>
#include <string.h>

#include "agent_priv.h"
#include "k8s_pod.h"
#include "log.h"
#include "options_kubernetes.h"
#include "strbuf.h"

/* The namespace: kubernetes.namespace, or the service account's `namespace` file. */
static char *pod_namespace(const tandemd_settings *s, char **err)
{
	if (s->k8s_namespace)
		return xstrdup(s->k8s_namespace);
	const char *slash = strrchr(s->k8s_token_file, '/');
	char *path =
	    slash ? xasprintf("%.*s/namespace", (int)(slash - s->k8s_token_file), s->k8s_token_file)
	          : xstrdup("namespace");
	strbuf sb = STRBUF_INIT;
	int rc = sb_read_file(&sb, path, 256, err);
	free(path);
	if (rc != 0) {
		err_prefix(err, "kubernetes.namespace is not set, and");
		sb_free(&sb);
		return NULL;
	}
	char *ns = sb_steal(&sb);
	ns[strcspn(ns, " \r\n")] = '\0';
	return ns;
}

int agent_k8s_new(agent *a, char **err)
{
	const tandemd_settings *s = a->s;
	if (!tandemd_kubernetes_on(s))
		return 0;
	char *ns = pod_namespace(s, err);
	if (!ns)
		return -1;
	k8s_pod_conf c = {.host = getenv("KUBERNETES_SERVICE_HOST"),
	                  .port = getenv("KUBERNETES_SERVICE_PORT"),
	                  .token_file = s->k8s_token_file,
	                  .ca_file = s->k8s_cacert,
	                  .pod_namespace = ns,
	                  .pod_name = s->k8s_pod_name ? s->k8s_pod_name : s->name,
	                  .label = s->k8s_role_label,
	                  .timeout_ms = a->hc.retry_timeout_ms,
	                  .retry_ms = a->hc.loop_wait_ms};
	a->k8s = k8s_pod_new(a->loop, &c, err);
	free(ns);
	if (!a->k8s) {
		err_prefix(err, "kubernetes");
		return -1;
	}
	return 0;
}

/* What the label should read: the leader's value while this member leads (a standby cluster's
 * leader has its own), the follower's otherwise. */
static const char *role_value(agent *a)
{
	const tandemd_settings *s = a->s;
	ha_pg_state pg = agent_pg_state(a);
	bool leads = agent_holds_key(a) || agent_failsafe_active(a);
	if (leads && agent_is_standby_cluster(a) && pg != HA_PG_PRIMARY)
		return s->k8s_standby_leader_value;
	if (leads && pg == HA_PG_PRIMARY)
		return s->k8s_leader_value;
	return s->k8s_follower_value;
}

void agent_k8s_publish(agent *a)
{
	if (a->k8s)
		k8s_pod_want(a->k8s, role_value(a));
}

void agent_k8s_free(agent *a)
{
	k8s_pod_free(a->k8s);
	a->k8s = NULL;
}
