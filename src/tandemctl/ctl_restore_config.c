/* The new member's configuration, from the option table: a key added to the table is carried
 * without a change here, unless it is listed in `dropped` below with its reason. */
#include "ctl_restore_config.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

static const char per_member_file[] =
    "a file of the source member's own: the new member keeps its own beside its data directory";

/* The source's keys the new member does not get (a trailing '.' names a section). */
static const struct {
	const char *name;
	const char *why;
} dropped[] = {
    {"config", "the source's configuration file itself"},
    {"postgresql.pgpass", per_member_file},
    {"backup.config", per_member_file},
    {"backup.spool_path", per_member_file},
    {"backup.drill_path", per_member_file},
    {"log.dir",
     "the source member writes tandemd.log there: two tandemds would write and rotate one file; "
     "give the new member a directory of its own"},
    {"tags",
     "tags describe the source member (nofailover or nosync would keep the new cluster's only "
     "member from leading; site and clonefrom name its place): set the new member's own"},
    {"backup.tls_server.",
     "the source member's pgBackRest TLS server (its address and host name): give the new "
     "cluster's members their own, with backup.tls_client.*"},
    {"backup.tls_client.", "it goes with backup.tls_server.*, which is not carried"},
    {"kubernetes.",
     "the source member's Pod and its labels: the new cluster's tandemd would relabel that Pod; "
     "set the new member's own"},
    {"pgbouncer.",
     "the PgBouncers in front of the source cluster: the new cluster's switchovers would pause "
     "them; name the new cluster's own"},
    {"bootstrap.dcs.standby_cluster.",
     "the new cluster is promoted at its target: it is not a standby of another cluster"},
    {"bootstrap.pgbackrest.keep_existing_recovery_conf",
     "the restore writes its own bootstrap section"},
    {"bootstrap.pgbackrest.command", "the restore writes its own bootstrap section"},
    {"postgresql.parameters.archive_command",
     "it names the source's stanza: tandemd archives into the new cluster's own"},
    {"postgresql.parameters.restore_command",
     "it names the source's stanza: tandemd restores from the new cluster's own"},
    {"bootstrap.dcs.postgresql.parameters.archive_command",
     "it names the source's stanza: tandemd archives into the new cluster's own"},
    {"bootstrap.dcs.postgresql.parameters.restore_command",
     "it names the source's stanza: tandemd restores from the new cluster's own"},
};

const char *ctl_restore_not_carried(const char *name)
{
	for (size_t i = 0; i < sizeof dropped / sizeof dropped[0]; i++) {
		const char *d = dropped[i].name;
		size_t n = strlen(d);
		if (d[n - 1] == '.' ? strncmp(name, d, n) == 0 : strcmp(name, d) == 0)
			return dropped[i].why;
	}
	return NULL;
}

/* The object at the dotted path's parent in `root` (created as needed); *leaf: the last part. */
static json_t *parent_of(json_t *root, const char *dotted, char **leaf)
{
	json_t *at = root;
	const char *p = dotted, *dot;
	while ((dot = strchr(p, '.'))) {
		char *part = xstrndup(p, (size_t)(dot - p));
		json_t *next = json_object_get(at, part);
		if (!next) {
			next = json_object();
			json_object_set_new(at, part, next);
		}
		free(part);
		at = next;
		p = dot + 1;
	}
	*leaf = xstrdup(p);
	return at;
}

static void put(json_t *root, const char *dotted, json_t *v)
{
	char *leaf;
	json_t *at = parent_of(root, dotted, &leaf);
	json_object_set_new(at, leaf, v);
	free(leaf);
}

static json_t *text(const char *s)
{
	return json_string_nocheck(s ? s : "");
}

/* A map's entries, without those not carried (`name`.KEY dropped). */
static json_t *map_json(const char *name, const cfg_map *m, strbuf *notes)
{
	json_t *o = json_object();
	for (size_t i = 0; i < m->n; i++) {
		char *full = xasprintf("%s.%s", name, m->keys[i]);
		const char *why = ctl_restore_not_carried(full);
		if (why)
			sb_printf(notes, "#   %s: %s\n", full, why);
		else
			json_object_set_new_nocheck(o, m->keys[i], text(m->values[i]));
		free(full);
	}
	return o;
}

static json_t *value_json(const cfg_option *o, const tandemd_settings *s, strbuf *notes)
{
	const void *p = (const char *)s + o->offset;
	switch (o->type) {
	case CFG_STRING:
	case CFG_SECRET:
		return text(*(char *const *)p);
	case CFG_LIST: {
		const cfg_list *l = p;
		json_t *a = json_array();
		for (size_t i = 0; i < l->n; i++)
			json_array_append_new(a, text(l->v[i]));
		return a;
	}
	case CFG_MAP:
		return map_json(o->name, p, notes);
	case CFG_INT:
	case CFG_SIZE:
		return json_integer(*(const long long *)p);
	case CFG_DURATION: {
		long long ms = *(const long long *)p;
		return ms % 1000 ? json_sprintf("%lldms", ms) : json_integer(ms / 1000);
	}
	case CFG_BOOL:
		return json_boolean(*(const bool *)p);
	}
	return json_null();
}

/* The plan's value of option `name`, or NULL when the plan does not set it. */
static json_t *planned(const restore_plan *p, const char *name)
{
	static const char *const rest[] = {"restapi.listen", "restapi.connect_address"};
	static const char *const pg[] = {"postgresql.listen", "postgresql.connect_address"};
	for (size_t i = 0; i < 2; i++) {
		if (strcmp(name, rest[i]) == 0)
			return text(p->rest_listen);
		if (strcmp(name, pg[i]) == 0)
			return text(p->listen);
	}
	if (strcmp(name, "scope") == 0 || strcmp(name, "backup.stanza") == 0)
		return text(p->cluster);
	if (strcmp(name, "name") == 0)
		return text(p->member);
	if (strcmp(name, "postgresql.data_dir") == 0)
		return text(p->data_dir);
	if (strcmp(name, "bootstrap.method") == 0)
		return text("pgbackrest");
	if (strcmp(name, "bootstrap.pgbackrest.stanza") == 0)
		return text(p->from_stanza);
	if (strcmp(name, "bootstrap.pgbackrest.recovery_conf") == 0) {
		json_t *rc = json_object();
		if (p->target_key) {
			json_object_set_new(rc, p->target_key, text(p->target_value));
			json_object_set_new(rc, "recovery_target_action", text("promote"));
		}
		json_object_set_new(rc, "recovery_target_timeline", text("latest"));
		return rc;
	}
	return NULL;
}

/* The table's defaults, as a member that sets nothing has them. */
static void defaults(tandemd_settings *d)
{
	memset(d, 0, sizeof *d);
	for (size_t i = 0; i < tandemd_options.n; i++) {
		const cfg_option *o = &tandemd_options.options[i];
		char *err = NULL;
		if (o->def && cfg_set_text(o, d, o->def, "default", &err) < 0)
			free(err); /* the table's own defaults load: test_tandemd_options */
	}
}

static void quoted(strbuf *sb, const char *s)
{
	sb_puts(sb, "\"");
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\')
			sb_printf(sb, "\\%c", *c);
		else if (*c < 0x20 || *c == 0x7f)
			sb_printf(sb, "\\x%02x", *c);
		else
			sb_printf(sb, "%c", *c);
	}
	sb_puts(sb, "\"");
}

static void key(strbuf *sb, const char *k)
{
	static const char plain[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-/";
	if (*k && *k != '-' && strspn(k, plain) == strlen(k))
		sb_puts(sb, k);
	else
		quoted(sb, k);
}

static void scalar(strbuf *sb, const json_t *v)
{
	if (json_is_string(v))
		quoted(sb, json_string_value(v));
	else if (json_is_integer(v))
		sb_printf(sb, "%lld", (long long)json_integer_value(v));
	else
		sb_puts(sb, json_is_true(v) ? "true" : "false");
}

/* YAML in block style; every string double-quoted (JSON's escapes are YAML's). */
static void emit(strbuf *sb, int indent, const json_t *obj)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)obj, k, v)
	{
		if ((json_is_object(v) && !json_object_size(v)) ||
		    (json_is_array(v) && !json_array_size(v)))
			continue; /* a map left empty by what is not carried */
		sb_printf(sb, "%*s", indent, "");
		key(sb, k);
		if (json_is_object(v)) {
			sb_puts(sb, ":\n");
			emit(sb, indent + 2, v);
		} else if (json_is_array(v)) {
			sb_puts(sb, ":\n");
			size_t i;
			json_t *e;
			json_array_foreach(v, i, e)
			{
				sb_printf(sb, "%*s- ", indent + 2, "");
				scalar(sb, e);
				sb_puts(sb, "\n");
			}
		} else {
			sb_puts(sb, ": ");
			scalar(sb, v);
			sb_puts(sb, "\n");
		}
	}
}

char *ctl_restore_config(const restore_plan *p)
{
	tandemd_settings def;
	defaults(&def);
	json_t *root = json_object();
	strbuf notes = STRBUF_INIT;
	for (size_t i = 0; i < tandemd_options.n; i++) {
		const cfg_option *o = &tandemd_options.options[i];
		if (strcmp(o->name, tandemd_options.config_flag) == 0)
			continue; /* the file the new member's configuration is in */
		json_t *v = planned(p, o->name);
		const char *why = v ? NULL : ctl_restore_not_carried(o->name);
		if (v)
			put(root, o->name, v);
		else if (!cfg_differs(o, p->src, &def))
			continue;
		else if (why)
			sb_printf(&notes, "#   %s: %s\n", o->name, why);
		else
			put(root, o->name, value_json(o, p->src, &notes));
	}
	cfg_free(&tandemd_options, &def);
	strbuf sb = STRBUF_INIT;
	sb_printf(&sb,
	          "# tandemd configuration of %s, the first member of cluster %s, restored from "
	          "stanza %s\n# (tandemctl restore). It holds passwords: keep it private.\n",
	          p->member, p->cluster, p->from_stanza);
	emit(&sb, 0, root);
	json_decref(root);
	if (notes.len)
		sb_printf(&sb, "# Not carried from the source's configuration:\n%s", notes.data);
	sb_free(&notes);
	return sb_steal(&sb);
}
