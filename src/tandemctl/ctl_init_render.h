/* tandemctl init, its pure part: a node's configuration (YAML, no secret in it) and its secrets
 * file (PATRONI_* variables, read by systemd's EnvironmentFile= and by tandemd's environment
 * options) from the operator's answers. Nothing here touches a file. */
#ifndef TANDEMCTL_INIT_RENDER_H
#define TANDEMCTL_INIT_RENDER_H

#include <stddef.h>

#include "err.h"

typedef struct ctl_init_spec {
	const char *cluster; /* postgresql-common's VERSION-NAME: "15-main" */
	const char *scope;
	const char *namespace_; /* NULL: Patroni's default "/service/" */
	const char *name;
	const char *site;            /* NULL: no tags.site */
	const char *etcd;            /* "host:port[,host:port]" */
	const char *connect_address; /* this node's address, as the other members reach it */
	const char *listen;          /* the address PostgreSQL and the REST API listen on */
	int pg_port, rest_port;
	const char *data_dir; /* NULL: /var/lib/postgresql/VERSION/NAME */
	const char *bin_dir;  /* NULL: /usr/lib/postgresql/VERSION/bin */
	const char *allow;    /* comma-separated CIDR blocks of the members and clients */
} ctl_init_spec;

typedef struct ctl_init_secrets {
	char *superuser_password;
	char *replication_password;
	char *rest_password;
} ctl_init_secrets;

/* Checks the answers (names, the cluster key, ports, addresses, CIDR blocks); -1 with *err
 * naming the flag that is wrong. */
int ctl_init_check(const ctl_init_spec *s, char **err) TND_MUST_CHECK;

/* The YAML configuration (heap). The REST API needs authentication (its credentials come from
 * the secrets file), pg_hba lets the `allow` blocks connect with scram-sha-256 only. */
char *ctl_init_yaml(const ctl_init_spec *s);

/* The secrets file's text (heap): PATRONI_SUPERUSER_PASSWORD, PATRONI_REPLICATION_PASSWORD,
 * PATRONI_RESTAPI_USERNAME, PATRONI_RESTAPI_PASSWORD. */
char *ctl_init_env(const ctl_init_secrets *x);

/* Reads back a secrets file's text (the same variables; other lines and comments are skipped).
 * -1 with *err when one of the three passwords is missing or empty. */
int ctl_init_env_parse(const char *text, ctl_init_secrets *x, char **err) TND_MUST_CHECK;

/* A password of `bytes` random bytes, URL-safe base64 (heap); NULL with *err when the kernel's
 * random source fails. */
char *ctl_init_password(size_t bytes, char **err);

void ctl_init_secrets_free(ctl_init_secrets *x);

#endif
