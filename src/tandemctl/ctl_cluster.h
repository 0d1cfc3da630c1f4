/* Where tandemctl finds the cluster, and reading it: the connection settings come from a
 * tandemd/Patroni YAML file (the same keys: scope, namespace, etcd3.*, restapi.authentication.*)
 * or from --etcd/--scope/--namespace; the cluster is one etcd range of /<namespace>/<scope>/,
 * read on a private libuv loop and decoded with dcs_view_apply. */
#ifndef TANDEMCTL_CTL_CLUSTER_H
#define TANDEMCTL_CTL_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "cidr.h"
#include "ctl_http.h"
#include "dcs_codec.h"
#include "err.h"

/* What the command line and the environment say (NULL: not given). */
typedef struct ctl_conn_args {
	const char *config;     /* -c FILE, TANDEMCTL_CONFIG */
	const char *etcd;       /* --etcd HOST:PORT[,...], TANDEMCTL_ETCD */
	const char *scope;      /* --scope, TANDEMCTL_SCOPE */
	const char *namespace_; /* --namespace, TANDEMCTL_NAMESPACE */
	const char *cacert;     /* --cacert FILE: over ctl.cacert and restapi.cafile */
	bool insecure;          /* --insecure: the members' certificates are not verified */
} ctl_conn_args;

typedef struct ctl_conn {
	char *config; /* the file it came from, or NULL */
	char *scope;
	char *namespace_;
	char **endpoints; /* "http://host:port", NULL-terminated (addr_urls_free) */
	size_t nendpoints;
	char *etcd_username, *etcd_password;
	char *etcd_cacert, *etcd_cert, *etcd_key;
	char *rest_username, *rest_password;
	/* restapi.allowlist: the members' api_url hosts that may receive the REST credentials
	 * (cred_trust.h). */
	cidr_list rest_trusted;
	/* https to the members: --cacert, else ctl.cacert, else restapi.cafile (NULL: the
	 * system's CAs); the client certificate of ctl.certfile/keyfile, else restapi's; and
	 * --insecure or ctl.insecure. */
	char *rest_cacert, *rest_certfile, *rest_keyfile, *rest_keyfile_password;
	bool rest_insecure;
} ctl_conn;

/* Whether any of the args (or their environment variables) names a cluster. */
bool ctl_conn_given(const ctl_conn_args *a);

/* Fills `c` from `a` (a configuration file is read with tandemd's loader, so its errors name the
 * file, line and key). Returns -1 with *err when the settings are missing or wrong. */
int ctl_conn_load(ctl_conn *c, const ctl_conn_args *a, char **err) TND_MUST_CHECK;
void ctl_conn_free(ctl_conn *c);

/* How to call the members' REST APIs: the credentials and TLS settings of `c` (pointers into
 * it). */
ctl_http_auth ctl_conn_rest_auth(const ctl_conn *c);

/* Reads the cluster's keys into `v` (initialised here; the caller frees it with
 * dcs_view_free). Returns 0, or -1 with *err when no etcd endpoint answered in time or etcd
 * refused the read. Values that could not be decoded are reported on stderr and left as the
 * codec leaves them. */
int ctl_cluster_read(const ctl_conn *c, uint64_t timeout_ms, dcs_view *v,
                     char **err) TND_MUST_CHECK;

/* Writes `value` to the cluster's key `key` (after the prefix) in etcd directly: for a site none of
 * whose members runs (demote-cluster before starting a returning site). 0, or -1 with *err. */
int ctl_cluster_put(const ctl_conn *c, const char *key, const char *value, uint64_t timeout_ms,
                    char **err) TND_MUST_CHECK;

/* Deletes the cluster's key `key` (after the prefix) in etcd directly: what `remove` takes away
 * for a member that no longer runs. 0 (also when there was no such key), or -1 with *err. */
int ctl_cluster_delete(const ctl_conn *c, const char *key, uint64_t timeout_ms,
                       char **err) TND_MUST_CHECK;

/* Why member `name` may not become the leader by failover or switchover (it is not a member, is
 * the leader already, or is tagged nofailover), as a heap string; NULL when it may, with *m set
 * to it. */
char *ctl_candidate_problem(const dcs_view *v, const char *scope, const char *name,
                            const dcs_member **m);

/* switchover --site: the member of `site` (tags.site) that may take over and is furthest ahead:
 * not the leader, its key says running with a position, not nofailover, and in synchronous
 * mode listed in `sync`; NULL with *why (heap) when there is none. */
const dcs_member *ctl_site_candidate(const dcs_view *v, const char *site, char **why);

#endif
