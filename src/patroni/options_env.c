/* Patroni's environment variables (PATRONI_SCOPE, ...), read beside tandemd's own (TANDEMD_*),
 * which win when both are set. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "options_priv.h"
#include "strbuf.h"

/* Patroni's environment variables and the options they set. */
static const struct {
	const char *patroni;
	const char *option;
} patroni_env[] = {
    {"PATRONI_SCOPE", "scope"},
    {"PATRONI_NAMESPACE", "namespace"},
    {"PATRONI_NAME", "name"},
    {"PATRONI_LOG_LEVEL", "log.level"},
    {"PATRONI_RESTAPI_LISTEN", "restapi.listen"},
    {"PATRONI_RESTAPI_CONNECT_ADDRESS", "restapi.connect_address"},
    {"PATRONI_RESTAPI_USERNAME", "restapi.authentication.username"},
    {"PATRONI_RESTAPI_PASSWORD", "restapi.authentication.password"},
    {"PATRONI_RESTAPI_CERTFILE", "restapi.certfile"},
    {"PATRONI_RESTAPI_KEYFILE", "restapi.keyfile"},
    {"PATRONI_RESTAPI_KEYFILE_PASSWORD", "restapi.keyfile_password"},
    {"PATRONI_RESTAPI_CAFILE", "restapi.cafile"},
    {"PATRONI_RESTAPI_VERIFY_CLIENT", "restapi.verify_client"},
    {"PATRONI_CTL_CACERT", "ctl.cacert"},
    {"PATRONI_CTL_CERTFILE", "ctl.certfile"},
    {"PATRONI_CTL_KEYFILE", "ctl.keyfile"},
    {"PATRONI_CTL_KEYFILE_PASSWORD", "ctl.keyfile_password"},
    {"PATRONI_CTL_INSECURE", "ctl.insecure"},
    {"PATRONI_ETCD3_HOST", "etcd3.host"},
    {"PATRONI_ETCD3_HOSTS", "etcd3.hosts"},
    {"PATRONI_ETCD3_PROTOCOL", "etcd3.protocol"},
    {"PATRONI_ETCD3_USERNAME", "etcd3.username"},
    {"PATRONI_ETCD3_PASSWORD", "etcd3.password"},
    {"PATRONI_ETCD3_CACERT", "etcd3.cacert"},
    {"PATRONI_ETCD3_CERT", "etcd3.cert"},
    {"PATRONI_ETCD3_KEY", "etcd3.key"},
    {"PATRONI_POSTGRESQL_LISTEN", "postgresql.listen"},
    {"PATRONI_POSTGRESQL_CONNECT_ADDRESS", "postgresql.connect_address"},
    {"PATRONI_POSTGRESQL_DATA_DIR", "postgresql.data_dir"},
    {"PATRONI_POSTGRESQL_BIN_DIR", "postgresql.bin_dir"},
    {"PATRONI_POSTGRESQL_PGPASS", "postgresql.pgpass"},
    {"PATRONI_SUPERUSER_USERNAME", "postgresql.authentication.superuser.username"},
    {"PATRONI_SUPERUSER_PASSWORD", "postgresql.authentication.superuser.password"},
    {"PATRONI_REPLICATION_USERNAME", "postgresql.authentication.replication.username"},
    {"PATRONI_REPLICATION_PASSWORD", "postgresql.authentication.replication.password"},
    {"PATRONI_REWIND_USERNAME", "postgresql.authentication.rewind.username"},
    {"PATRONI_REWIND_PASSWORD", "postgresql.authentication.rewind.password"},
};

static char *tandemd_env_name(const char *option)
{
	char *s = xasprintf("TANDEMD_%s", option);
	for (char *p = s; *p; p++)
		*p = (*p == '-' || *p == '.') ? '_' : (char)toupper((unsigned char)*p);
	return s;
}

static const char *env_get(char **envp, const char *name)
{
	size_t len = strlen(name);
	for (char **e = envp; e && *e; e++)
		if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
			return *e + len + 1;
	return NULL;
}

/* PATRONI_ETCD3_HOSTS may be written "'h1:2379','h2:2379'" or as a YAML flow list. */
static char *unquote_list(const char *v)
{
	char *s = xstrdup(v);
	char *w = s;
	for (const char *r = v; *r; r++)
		if (*r != '\'' && *r != '"' && *r != '[' && *r != ']')
			*w++ = *r;
	*w = '\0';
	return s;
}

/* A copy of the environment with TANDEMD_X=value added for each PATRONI_Y=value whose
 * TANDEMD_X is not set (a NULL-terminated array; the added strings are owned by *added). */
char **tandemd_environment_with_patroni(char **envp, cfg_list *added)
{
	size_t n = 0;
	while (envp && envp[n])
		n++;
	size_t cap = n + sizeof patroni_env / sizeof patroni_env[0] + 1;
	char **out = xcalloc(cap, sizeof *out);
	for (size_t i = 0; i < n; i++)
		out[i] = envp[i];
	for (size_t i = 0; i < sizeof patroni_env / sizeof patroni_env[0]; i++) {
		const char *v = env_get(envp, patroni_env[i].patroni);
		char *name = tandemd_env_name(patroni_env[i].option);
		if (v && !env_get(envp, name)) {
			char *value = strcmp(patroni_env[i].option, "etcd3.hosts") == 0
			                  ? unquote_list(v)
			                  : xstrdup(v);
			char *entry = xasprintf("%s=%s", name, value);
			free(value);
			added->v = xrealloc(added->v, (added->n + 1) * sizeof *added->v);
			added->v[added->n++] = entry;
			out[n++] = entry;
		}
		free(name);
	}
	out[n] = NULL;
	return out;
}

/* An error about "environment TANDEMD_X" that came from PATRONI_Y says so. */
void tandemd_name_patroni_variable(char **err, const cfg_list *added)
{
	for (size_t i = 0; i < sizeof patroni_env / sizeof patroni_env[0]; i++) {
		char *name = tandemd_env_name(patroni_env[i].option);
		char *origin = xasprintf("environment %s:", name);
		bool from_patroni = false;
		for (size_t k = 0; k < added->n; k++)
			from_patroni =
			    from_patroni || (strncmp(added->v[k], name, strlen(name)) == 0 &&
			                     added->v[k][strlen(name)] == '=');
		if (from_patroni && strstr(*err, origin)) {
			char *msg =
			    xasprintf("%s (%s is set from %s)", *err, name, patroni_env[i].patroni);
			free(*err);
			*err = msg;
			free(origin);
			free(name);
			return;
		}
		free(origin);
		free(name);
	}
}
