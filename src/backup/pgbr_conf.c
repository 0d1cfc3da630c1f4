#include "pgbr_conf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "strbuf.h"

/* repoN-xxx: N, or 0. */
static int repo_index(const char *k, const char **rest)
{
	if (strncmp(k, "repo", 4) != 0 || !isdigit((unsigned char)k[4]))
		return 0;
	char *end;
	long n = strtol(k + 4, &end, 10);
	if (*end != '-' || n < 1 || n > 256)
		return 0;
	*rest = end + 1;
	return (int)n;
}

size_t pgbr_repos(const cfg_map *global, int *out, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; global && i < global->n; i++) {
		const char *rest;
		int r = repo_index(global->keys[i], &rest);
		if (!r || (strcmp(rest, "path") != 0 && strcmp(rest, "type") != 0))
			continue;
		size_t k = 0;
		while (k < n && out[k] < r)
			k++;
		if ((k < n && out[k] == r) || n == cap)
			continue;
		memmove(out + k + 1, out + k, (n - k) * sizeof *out);
		out[k] = r;
		n++;
	}
	return n;
}

static bool has_key(const cfg_map *m, const char *k)
{
	return m && cfg_map_get(m, k) != NULL;
}

char *pgbr_conf_render(const pgbr_conf_in *in)
{
	strbuf sb = STRBUF_INIT;
	sb_puts(&sb,
	        "# Written by tandemd: edits are overwritten. Set these options under backup: in\n"
	        "# tandemd's configuration (backup.pgbackrest holds pgBackRest's own).\n"
	        "[global]\n");
	for (size_t i = 0; in->global && i < in->global->n; i++)
		sb_printf(&sb, "%s=%s\n", in->global->keys[i], in->global->values[i]);
	int repos[64];
	size_t nrepo = pgbr_repos(in->global, repos, 64);
	for (size_t i = 0; in->retention_full > 0 && i < nrepo; i++) {
		char key[48];
		snprintf(key, sizeof key, "repo%d-retention-full", repos[i]);
		if (!has_key(in->global, key))
			sb_printf(&sb, "%s=%lld\n", key, in->retention_full);
	}
	sb_printf(&sb, "archive-async=%s\n", in->archive_async ? "y" : "n");
	sb_printf(&sb, "spool-path=%s\n", in->spool_path);
	sb_printf(&sb, "lock-path=%s/lock\n", in->spool_path);
	if (!has_key(in->global, "log-path"))
		sb_printf(&sb, "log-path=%s/log\n", in->spool_path);
	sb_printf(&sb, "process-max=%lld\n", in->process_max > 0 ? in->process_max : 1);
	if (in->archive_push_queue_max > 0)
		sb_printf(&sb, "archive-push-queue-max=%lld\n", in->archive_push_queue_max);
	sb_printf(&sb, "\n[%s]\n", in->stanza);
	for (size_t i = 0; i < in->npg; i++) {
		const pgbr_pg *p = &in->pg[i];
		/* pgN-KEY=VALUE for each that is set; the host-* ones only with a host */
		const struct {
			const char *key, *value;
		} kv[] = {{"path", p->path},
		          {"port", p->port},
		          {"socket-path", p->socket_path},
		          {"user", p->user},
		          {"host", p->host},
		          {"host-type", p->host_type},
		          {"host-port", p->host_port},
		          {"host-cert-file", p->host_cert_file},
		          {"host-key-file", p->host_key_file},
		          {"host-ca-file", p->host_ca_file}};
		for (size_t k = 0; k < sizeof kv / sizeof kv[0]; k++)
			if (kv[k].value && (p->host || strncmp(kv[k].key, "host", 4) != 0))
				sb_printf(&sb, "pg%zu-%s=%s\n", i + 1, kv[k].key, kv[k].value);
	}
	return sb_steal(&sb);
}

char *pgbr_server_conf_render(const pgbr_server_in *in)
{
	strbuf sb = STRBUF_INIT;
	sb_puts(&sb,
	        "# Written by tandemd for pgBackRest's TLS server: edits are overwritten (set\n"
	        "# backup.tls_server.* in tandemd's configuration).\n"
	        "[global]\n");
	sb_printf(&sb, "tls-server-address=%s\n", in->address);
	if (in->port)
		sb_printf(&sb, "tls-server-port=%s\n", in->port);
	sb_printf(&sb, "tls-server-cert-file=%s\n", in->cert_file);
	sb_printf(&sb, "tls-server-key-file=%s\n", in->key_file);
	sb_printf(&sb, "tls-server-ca-file=%s\n", in->ca_file);
	for (size_t i = 0; i < in->nauth; i++)
		sb_printf(&sb, "tls-server-auth=%s=%s\n", in->auth[i], in->stanza);
	sb_printf(&sb, "lock-path=%s/lock\n", in->spool_path);
	sb_printf(&sb, "log-path=%s/log\n", in->spool_path);
	sb_puts(&sb, "log-level-file=detail\n");
	return sb_steal(&sb);
}

int pgbr_conf_write(const char *path, const pgbr_conf_in *in, char **err)
{
	char *text = pgbr_conf_render(in);
	int rc = atomic_file_write(path, text, strlen(text), 0600, err);
	free(text);
	return rc;
}

char **pgbr_argv(const char *command, const char *config, const char *stanza, const char *verb,
                 const char *const *args, size_t nargs)
{
	char **v = xcalloc(nargs + 6, sizeof *v);
	size_t n = 0;
	v[n++] = xstrdup(command);
	v[n++] = xasprintf("--config=%s", config);
	if (stanza)
		v[n++] = xasprintf("--stanza=%s", stanza);
	v[n++] = xstrdup(verb);
	for (size_t i = 0; i < nargs; i++)
		v[n++] = xstrdup(args[i]);
	v[n] = NULL;
	return v;
}

void pgbr_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}
