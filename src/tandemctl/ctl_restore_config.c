#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_restore.h"
#include "strbuf.h"

/* A YAML double-quoted scalar (JSON's string syntax is YAML's). */
static void q(strbuf *sb, const char *v)
{
	json_t *j = json_string(v ? v : "");
	char *t = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
	sb_puts(sb, t ? t : "\"\"");
	free(t);
	json_decref(j);
}

static void kv(strbuf *sb, int indent, const char *key, const char *v)
{
	if (!v)
		return;
	sb_printf(sb, "%*s%s: ", indent, "", key);
	q(sb, v);
	sb_puts(sb, "\n");
}

static void kv_seconds(strbuf *sb, int indent, const char *key, long long ms)
{
	sb_printf(sb, "%*s%s: %g\n", indent, "", key, (double)ms / 1000.0);
}

static void kv_num(strbuf *sb, int indent, const char *key, long long n)
{
	sb_printf(sb, "%*s%s: %lld\n", indent, "", key, n);
}

static void kv_bool(strbuf *sb, int indent, const char *key, bool b)
{
	sb_printf(sb, "%*s%s: %s\n", indent, "", key, b ? "true" : "false");
}

static bool left_out(const char *param)
{
	return strcmp(param, "archive_command") == 0 || strcmp(param, "restore_command") == 0;
}

static void map(strbuf *sb, int indent, const char *key, const cfg_map *m, bool params)
{
	size_t shown = 0;
	for (size_t i = 0; i < m->n; i++)
		if (!params || !left_out(m->keys[i])) {
			if (!shown++)
				sb_printf(sb, "%*s%s:\n", indent, "", key);
			kv(sb, indent + 2, m->keys[i], m->values[i]);
		}
}

static void list(strbuf *sb, int indent, const char *key, const cfg_list *l)
{
	if (!l->n)
		return;
	sb_printf(sb, "%*s%s:\n", indent, "", key);
	for (size_t i = 0; i < l->n; i++) {
		sb_printf(sb, "%*s- ", indent + 2, "");
		q(sb, l->v[i]);
		sb_puts(sb, "\n");
	}
}

static void user(strbuf *sb, const char *role, const char *name, const char *password)
{
	if (!name && !password)
		return;
	sb_printf(sb, "    %s:\n", role);
	kv(sb, 6, "username", name);
	kv(sb, 6, "password", password);
}

static void restapi_etcd(strbuf *sb, const restore_plan *p)
{
	const tandemd_settings *s = p->src;
	sb_puts(sb, "restapi:\n");
	kv(sb, 2, "listen", p->rest_listen);
	kv(sb, 2, "connect_address", p->rest_listen);
	if (s->restapi_username) {
		sb_puts(sb, "  authentication:\n");
		kv(sb, 4, "username", s->restapi_username);
		kv(sb, 4, "password", s->restapi_password);
	}
	if (s->restapi_allow_unauthenticated_changes)
		kv_bool(sb, 2, "allow_unauthenticated_changes", true);
	list(sb, 2, "allowlist", &s->restapi_allowlist);
	sb_puts(sb, "etcd3:\n");
	if (s->etcd3_hosts.n)
		list(sb, 2, "hosts", &s->etcd3_hosts);
	else
		kv(sb, 2, "host", s->etcd3_host);
	kv(sb, 2, "protocol", s->etcd3_protocol);
	kv(sb, 2, "username", s->etcd3_username);
	kv(sb, 2, "password", s->etcd3_password);
	kv(sb, 2, "cacert", s->etcd3_cacert);
	kv(sb, 2, "cert", s->etcd3_cert);
	kv(sb, 2, "key", s->etcd3_key);
}

static void bootstrap(strbuf *sb, const restore_plan *p)
{
	const tandemd_settings *s = p->src;
	sb_puts(sb, "bootstrap:\n  method: pgbackrest\n  pgbackrest:\n");
	kv(sb, 4, "stanza", p->from_stanza);
	sb_puts(sb, "    recovery_conf:\n");
	kv(sb, 6, p->target_key ? p->target_key : "recovery_target_timeline",
	   p->target_key ? p->target_value : "latest");
	if (p->target_key) {
		kv(sb, 6, "recovery_target_action", "promote");
		kv(sb, 6, "recovery_target_timeline", "latest");
	}
	sb_puts(sb, "  dcs:\n");
	kv_seconds(sb, 4, "ttl", s->ttl);
	kv_seconds(sb, 4, "loop_wait", s->loop_wait);
	kv_seconds(sb, 4, "retry_timeout", s->retry_timeout);
	kv_num(sb, 4, "maximum_lag_on_failover", s->maximum_lag_on_failover);
	kv_bool(sb, 4, "synchronous_mode", s->synchronous_mode);
	kv_bool(sb, 4, "synchronous_mode_strict", s->synchronous_mode_strict);
	kv_num(sb, 4, "synchronous_node_count", s->synchronous_node_count);
	kv_bool(sb, 4, "failsafe_mode", s->failsafe_mode);
	sb_puts(sb, "    postgresql:\n");
	kv_bool(sb, 6, "use_pg_rewind", s->use_pg_rewind);
	kv_bool(sb, 6, "use_slots", s->use_slots);
	map(sb, 6, "parameters", &s->bootstrap_parameters, true);
}

static void postgresql(strbuf *sb, const restore_plan *p)
{
	const tandemd_settings *s = p->src;
	sb_puts(sb, "postgresql:\n");
	kv(sb, 2, "listen", p->listen);
	kv(sb, 2, "connect_address", p->listen);
	kv(sb, 2, "data_dir", p->data_dir);
	kv(sb, 2, "bin_dir", s->bin_dir);
	sb_puts(sb, "  authentication:\n");
	user(sb, "superuser", s->superuser_username, s->superuser_password);
	user(sb, "replication", s->replication_username, s->replication_password);
	user(sb, "rewind", s->rewind_username, s->rewind_password);
	map(sb, 2, "parameters", &s->parameters, true);
	list(sb, 2, "pg_hba", &s->pg_hba);
}

static void backup(strbuf *sb, const restore_plan *p)
{
	const tandemd_settings *s = p->src;
	sb_puts(sb, "backup:\n");
	map(sb, 2, "pgbackrest", &s->backup_pgbackrest, false);
	kv(sb, 2, "stanza", p->cluster);
	kv(sb, 2, "command", s->backup_command);
	kv_seconds(sb, 2, "archive_timeout", s->backup_archive_timeout);
	kv_bool(sb, 2, "archive_async", s->backup_archive_async);
	kv_num(sb, 2, "archive_push_queue_max", s->backup_archive_push_queue_max);
	kv_num(sb, 2, "process_max", s->backup_process_max);
	kv_num(sb, 2, "retention_full", s->backup_retention_full);
}

char *ctl_restore_config(const restore_plan *p)
{
	const tandemd_settings *s = p->src;
	strbuf sb = STRBUF_INIT;
	sb_printf(&sb,
	          "# tandemd configuration of %s, the first member of cluster %s, restored from "
	          "stanza %s\n# (tandemctl restore). It holds passwords: keep it private.\n",
	          p->member, p->cluster, p->from_stanza);
	kv(&sb, 0, "scope", p->cluster);
	kv(&sb, 0, "namespace", s->dcs_namespace);
	kv(&sb, 0, "name", p->member);
	restapi_etcd(&sb, p);
	bootstrap(&sb, p);
	postgresql(&sb, p);
	backup(&sb, p);
	sb_puts(&sb, "watchdog:\n");
	kv(&sb, 2, "mode", s->watchdog_mode);
	kv(&sb, 2, "device", s->watchdog_device);
	sb_puts(&sb, "log:\n");
	kv(&sb, 2, "level", s->log_level);
	return sb_steal(&sb);
}
