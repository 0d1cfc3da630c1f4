/* tandemctl init, its pure part (ctl_init_render.h). */
#include "ctl_init_render.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "addr.h"
#include "base64.h"
#include "cidr.h"
#include "strbuf.h"

/* Names that go into YAML, file names and etcd keys: letters, digits, '.', '_' and '-'. */
static bool plain_name(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > max)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
			return false;
	return true;
}

/* "15-main": digits, '-', a cluster name (postgresql-common's). */
static bool cluster_key(const char *s)
{
	if (!plain_name(s, 63) || !isdigit((unsigned char)s[0]))
		return false;
	const char *dash = strchr(s, '-');
	if (!dash || dash[1] == '\0')
		return false;
	for (const char *p = s; p < dash; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	return true;
}

static int bad(char **err, const char *what)
{
	err_set(err, "%s", what);
	return -1;
}

/* Each comma-separated item of `text` (one, without `list`) is a host[:port]. */
static int check_hosts(const char *flag, const char *text, unsigned flags, bool list, char **err)
{
	if (!text || !*text) {
		err_set(err, "--%s: missing", flag);
		return -1;
	}
	char *copy = xstrdup(text), *save = NULL;
	int rc = 0;
	for (char *item = list ? strtok_r(copy, ",", &save) : copy; item && rc == 0;
	     item = list ? strtok_r(NULL, ",", &save) : NULL) {
		addr a;
		char *e = NULL;
		if (addr_parse(item, 2379, flags, &a, &e) != 0) {
			err_set(err, "--%s: %s", flag, e);
			free(e);
			rc = -1;
		} else {
			addr_clear(&a);
		}
	}
	free(copy);
	return rc;
}

int ctl_init_check(const ctl_init_spec *s, char **err)
{
	if (!cluster_key(s->cluster))
		return bad(err, "--cluster: not VERSION-NAME (like 15-main)");
	if (!plain_name(s->scope, 63))
		return bad(err, "--scope: letters, digits, '.', '_' and '-' (1 to 63)");
	if (!plain_name(s->name, 63))
		return bad(err, "--name: letters, digits, '.', '_' and '-' (1 to 63)");
	if (s->site && !plain_name(s->site, 63))
		return bad(err, "--site: letters, digits, '.', '_' and '-' (1 to 63)");
	if (s->namespace_ && (s->namespace_[0] != '/' || strpbrk(s->namespace_, " '\"\n")))
		return bad(err, "--namespace: a path like /service/");
	if (check_hosts("etcd", s->etcd, 0, true, err) < 0 ||
	    check_hosts("connect-address", s->connect_address, ADDR_PORT_OPTIONAL, false, err) <
	        0 ||
	    check_hosts("listen", s->listen, ADDR_PORT_OPTIONAL | ADDR_WILDCARD, false, err) < 0)
		return -1;
	if (s->pg_port < 1 || s->pg_port > 65535 || s->rest_port < 1 || s->rest_port > 65535 ||
	    s->pg_port == s->rest_port)
		return bad(err, "--pg-port and --rest-port: two different ports");
	const char *dirs[] = {s->data_dir, s->bin_dir};
	for (size_t i = 0; i < 2; i++)
		if (dirs[i] && (dirs[i][0] != '/' || strpbrk(dirs[i], "'\n")))
			return bad(err, i ? "--bin-dir: an absolute path"
			                  : "--data-dir: an absolute path");
	cidr_list l = {0};
	char *e = NULL;
	if (cidr_list_parse(s->allow, &l, &e) != 0) {
		err_set(err, "--allow: %s", e);
		free(e);
		return -1;
	}
	cidr_list_free(&l);
	return 0;
}

/* VERSION and NAME of "VERSION-NAME" (checked). */
static char *cluster_version(const ctl_init_spec *s)
{
	return xstrndup(s->cluster, strcspn(s->cluster, "-"));
}

static void hba_lines(strbuf *sb, const char *allow)
{
	char *copy = xstrdup(allow), *save = NULL;
	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		while (isspace((unsigned char)*item))
			item++;
		size_t n = strlen(item);
		while (n && isspace((unsigned char)item[n - 1]))
			item[--n] = '\0';
		if (!n)
			continue;
		const char *prefix = strchr(item, '/') ? "" : strchr(item, ':') ? "/128" : "/32";
		sb_printf(sb, "    - host all all %s%s scram-sha-256\n", item, prefix);
		sb_printf(sb, "    - host replication replicator %s%s scram-sha-256\n", item,
		          prefix);
	}
	free(copy);
}

char *ctl_init_yaml(const ctl_init_spec *s)
{
	char *ver = cluster_version(s);
	const char *name = strchr(s->cluster, '-') + 1;
	strbuf sb = STRBUF_INIT;
	sb_printf(
	    &sb,
	    "# tandemd@%s: written by tandemctl init. Secrets are not here: they are in\n"
	    "# %s.env (mode 0600), read by systemd (EnvironmentFile=) as PATRONI_* variables.\n"
	    "scope: '%s'\n",
	    s->cluster, s->cluster, s->scope);
	if (s->namespace_)
		sb_printf(&sb, "namespace: '%s'\n", s->namespace_);
	char *rest_listen = addr_join(s->listen, s->rest_port);
	char *rest_connect = addr_join(s->connect_address, s->rest_port);
	char *pg_listen = addr_join(s->listen, s->pg_port);
	char *pg_connect = addr_join(s->connect_address, s->pg_port);
	sb_printf(&sb,
	          "name: '%s'\n"
	          "restapi:\n"
	          "  listen: '%s'\n"
	          "  connect_address: '%s'\n"
	          "etcd3:\n"
	          "  hosts: '%s'\n"
	          "bootstrap:\n"
	          "  dcs:\n"
	          "    ttl: 30\n"
	          "    loop_wait: 10\n"
	          "    retry_timeout: 10\n"
	          "    maximum_lag_on_failover: 1048576\n"
	          "    postgresql:\n"
	          "      use_pg_rewind: true\n"
	          "      use_slots: true\n"
	          "  initdb:\n"
	          "    - encoding: UTF8\n"
	          "    - data-checksums\n"
	          "postgresql:\n"
	          "  listen: '%s'\n"
	          "  connect_address: '%s'\n",
	          s->name, rest_listen, rest_connect, s->etcd, pg_listen, pg_connect);
	if (s->data_dir)
		sb_printf(&sb, "  data_dir: '%s'\n", s->data_dir);
	else
		sb_printf(&sb, "  data_dir: '/var/lib/postgresql/%s/%s'\n", ver, name);
	if (s->bin_dir)
		sb_printf(&sb, "  bin_dir: '%s'\n", s->bin_dir);
	else
		sb_printf(&sb, "  bin_dir: '/usr/lib/postgresql/%s/bin'\n", ver);
	sb_puts(&sb, "  authentication:\n"
	             "    superuser:\n"
	             "      username: postgres\n"
	             "    replication:\n"
	             "      username: replicator\n"
	             "  pg_hba:\n"
	             "    - local all all peer\n"
	             "    - host all all 127.0.0.1/32 scram-sha-256\n"
	             "    - host all all ::1/128 scram-sha-256\n"
	             "    - host replication replicator 127.0.0.1/32 scram-sha-256\n");
	hba_lines(&sb, s->allow);
	if (s->site)
		sb_printf(&sb, "tags:\n  site: '%s'\n", s->site);
	free(rest_listen);
	free(rest_connect);
	free(pg_listen);
	free(pg_connect);
	free(ver);
	return sb_steal(&sb);
}

char *ctl_init_env(const ctl_init_secrets *x)
{
	return xasprintf(
	    "# tandem secrets (tandemctl init): the same on every member of the cluster\n"
	    "PATRONI_SUPERUSER_PASSWORD=%s\n"
	    "PATRONI_REPLICATION_PASSWORD=%s\n"
	    "PATRONI_RESTAPI_USERNAME=tandem\n"
	    "PATRONI_RESTAPI_PASSWORD=%s\n",
	    x->superuser_password, x->replication_password, x->rest_password);
}

int ctl_init_env_parse(const char *text, ctl_init_secrets *x, char **err)
{
	static const char *const keys[] = {
	    "PATRONI_SUPERUSER_PASSWORD=", "PATRONI_REPLICATION_PASSWORD=",
	    "PATRONI_RESTAPI_PASSWORD="};
	char **slots[] = {&x->superuser_password, &x->replication_password, &x->rest_password};
	memset(x, 0, sizeof *x);
	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		for (size_t i = 0; i < 3; i++) {
			size_t k = strlen(keys[i]);
			if (n > k && !strncmp(line, keys[i], k)) {
				free(*slots[i]);
				*slots[i] = xstrndup(line + k, n - k);
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	for (size_t i = 0; i < 3; i++)
		if (!*slots[i]) {
			err_set(err, "no %.*s line", (int)strlen(keys[i]) - 1, keys[i]);
			ctl_init_secrets_free(x);
			return -1;
		}
	return 0;
}

char *ctl_init_password(size_t bytes, char **err)
{
	unsigned char buf[64];
	if (bytes > sizeof buf)
		bytes = sizeof buf;
	size_t got = 0;
	while (got < bytes) {
		ssize_t r = getrandom(buf + got, bytes - got, 0);
		if (r < 0) {
			err_set(err, "getrandom: %s", strerror(errno));
			return NULL;
		}
		got += (size_t)r;
	}
	char *b = b64_encode(buf, bytes);
	for (char *p = b; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	char *eq = strchr(b, '=');
	if (eq)
		*eq = '\0';
	return b;
}

void ctl_init_secrets_free(ctl_init_secrets *x)
{
	free(x->superuser_password);
	free(x->replication_password);
	free(x->rest_password);
	memset(x, 0, sizeof *x);
}
