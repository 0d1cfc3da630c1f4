/* tandemctl edit-config: changes the cluster-wide configuration through a member's REST API
 * (PATCH /config with --set and --pg or an edit in $EDITOR, PUT /config with --apply), after
 * showing the change as a diff of YAML and asking unless --force. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl_commands.h"
#include "ctl_edit.h"
#include "ctl_table.h"
#include "dyn_config.h"
#include "strbuf.h"

static char *read_all(FILE *f, size_t *len)
{
	strbuf sb = STRBUF_INIT;
	char buf[8192];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
		sb_append(&sb, buf, n);
		if (sb.len > 4u * 1024 * 1024)
			break;
	}
	*len = sb.len;
	char *out = sb_steal(&sb);
	return out ? out : xstrdup("");
}

static json_t *load_document(const char *path, char **err)
{
	bool dash = strcmp(path, "-") == 0;
	FILE *f = dash ? stdin : fopen(path, "r");
	if (!f) {
		err_set(err, "%s: %s", path, strerror(errno));
		return NULL;
	}
	size_t len = 0;
	char *text = read_all(f, &len);
	bool bad = ferror(f);
	if (!dash)
		fclose(f);
	if (bad) {
		err_set(err, "%s: cannot read it", path);
		free(text);
		return NULL;
	}
	json_t *j = ctl_yaml_to_json(text, len, dash ? "stdin" : path, err);
	free(text);
	if (j && !json_is_object(j)) {
		err_set(err, "%s: the configuration must be a mapping (an object)",
		        dash ? "stdin" : path);
		json_decref(j);
		return NULL;
	}
	return j;
}

/* Opens the configuration's YAML in $VISUAL or $EDITOR (vi) and reads it back; NULL with *err
 * (the edited file is kept then, and named). */
static json_t *edit_in_editor(const char *yaml, char **err)
{
	const char *editor = getenv("VISUAL");
	if (!editor || !*editor)
		editor = getenv("EDITOR");
	if (!editor || !*editor)
		editor = "vi";
	const char *tmp = getenv("TMPDIR");
	char *path = xasprintf("%s/tandemctl-config-XXXXXX.yaml", tmp && *tmp ? tmp : "/tmp");
	int fd = mkstemps(path, 5);
	if (fd < 0) {
		err_set(err, "cannot create a temporary file: %s", strerror(errno));
		free(path);
		return NULL;
	}
	size_t len = strlen(yaml);
	bool ok = write(fd, yaml, len) == (ssize_t)len;
	close(fd);
	json_t *j = NULL;
	if (!ok) {
		err_set(err, "%s: cannot write it", path);
		unlink(path);
		free(path);
		return NULL;
	}
	/* the editor may be a command with arguments ("code --wait"); the path is ours */
	char *cmd = xasprintf("%s '%s'", editor, path);
	int st = system(cmd);
	free(cmd);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		err_set(err, "the editor (%s) failed; nothing changed", editor);
		unlink(path);
		free(path);
		return NULL;
	}
	j = load_document(path, err);
	if (j)
		unlink(path);
	else
		err_prefix(err, "your edit is kept in %s", path);
	free(path);
	return j;
}

/* What edit-config works with; every member is NULL until known. */
typedef struct config_edit {
	json_t *patch;       /* --set and --pg, or what the editor changed */
	json_t *replacement; /* --apply */
	json_t *cur, *next;  /* the configuration in etcd, and as it would become */
	char *old_yaml, *new_yaml;
} config_edit;

static void config_edit_free(config_edit *e)
{
	free(e->old_yaml);
	free(e->new_yaml);
	json_decref(e->cur);
	json_decref(e->next);
	json_decref(e->patch);
	json_decref(e->replacement);
}

/* Whether the options go together, and a terminal is there when one is needed. */
static int edit_check_usage(const ctl_opts *o)
{
	if (!ctl_no_args(o, "edit-config"))
		return CTL_EXIT_USAGE;
	bool assign = o->nsets > 0 || o->npgs > 0;
	if (o->apply && assign) {
		ctl_printf(stderr,
		           "tandemctl: edit-config: --apply replaces the whole configuration; "
		           "give it without --set or --pg\n");
		return CTL_EXIT_USAGE;
	}
	if (o->apply && strcmp(o->apply, "-") == 0 && !o->force) {
		ctl_printf(stderr,
		           "tandemctl: edit-config --apply - reads stdin, so it cannot ask for "
		           "confirmation there; add --force\n");
		return CTL_EXIT_USAGE;
	}
	bool editor = !o->apply && !assign;
	if (editor && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))) {
		ctl_printf(stderr, "tandemctl: edit-config without --set, --pg or --apply opens an "
		                   "editor, which needs a terminal\n");
		return CTL_EXIT_USAGE;
	}
	return ctl_need_terminal(o, "edit-config");
}

/* The assignments (into e->patch) or the --apply document (into e->replacement): a mistake
 * there is a usage error, found before etcd is asked. */
static int edit_read_input(const ctl_opts *o, config_edit *e)
{
	char *err = NULL;
	if (o->nsets > 0 || o->npgs > 0) {
		e->patch = json_object();
		bool ok = true;
		for (int i = 0; i < o->nsets && ok; i++)
			ok = ctl_patch_assign(e->patch, NULL, o->sets[i], &err) >= 0;
		for (int i = 0; i < o->npgs && ok; i++)
			ok = ctl_patch_assign(e->patch, "postgresql.parameters", o->pgs[i], &err) >=
			     0;
		if (!ok)
			goto fail;
	}
	if (o->apply) {
		e->replacement = load_document(o->apply, &err);
		if (!e->replacement)
			goto fail;
	}
	return CTL_EXIT_OK;
fail:
	ctl_printf(stderr, "tandemctl: edit-config: %s\n", err);
	free(err);
	return CTL_EXIT_USAGE;
}

/* `j` as YAML to show; NULL when it cannot be (printed). */
static char *config_yaml(const json_t *j)
{
	char *err = NULL;
	char *text = json_dumps(j, JSON_COMPACT);
	char *yaml = ctl_json_to_yaml(text, &err);
	free(text);
	if (!yaml)
		ctl_printf(stderr, "tandemctl: %s\n", err ? err : "cannot show the configuration");
	free(err);
	return yaml;
}

/* The configuration in etcd (e->cur, e->old_yaml) and as it would become (e->next,
 * e->new_yaml; from the editor, e->patch is what changed). */
static int edit_prepare(const ctl_opts *o, const dcs_view *v, config_edit *e)
{
	e->cur =
	    v->has_config && v->config.raw ? json_loads(v->config.raw, 0, NULL) : json_object();
	if (!json_is_object(e->cur)) {
		if (!o->apply) {
			ctl_printf(stderr,
			           "tandemctl: the configuration in etcd is not a JSON object; "
			           "replace it with --apply FILE\n");
			return CTL_EXIT_FAILED;
		}
		json_decref(e->cur);
		e->cur = json_object();
	}
	e->old_yaml = config_yaml(e->cur);
	if (!e->old_yaml)
		return CTL_EXIT_FAILED;
	if (e->patch) {
		e->next = dyn_config_merge(e->cur, e->patch);
	} else if (e->replacement) {
		e->next = json_incref(e->replacement);
	} else {
		char *err = NULL;
		e->next = edit_in_editor(e->old_yaml, &err);
		if (!e->next) {
			ctl_printf(stderr, "tandemctl: edit-config: %s\n", err);
			free(err);
			return CTL_EXIT_FAILED;
		}
		e->patch = ctl_config_patch_between(e->cur, e->next);
	}
	e->new_yaml = config_yaml(e->next);
	return e->new_yaml ? CTL_EXIT_OK : CTL_EXIT_FAILED;
}

/* Sends the change (PUT with --apply, else PATCH) through `target` once confirmed. */
static int edit_send(const ctl_opts *o, const ctl_conn *c, const dcs_member *target,
                     const config_edit *e)
{
	char *question =
	    xasprintf("Apply these changes to the configuration of cluster '%s'?", c->scope);
	bool yes = ctl_confirm(o, question);
	free(question);
	if (!yes) {
		ctl_printf(stderr, "tandemctl: not confirmed; nothing done\n");
		return CTL_EXIT_FAILED;
	}
	char *body = json_dumps(e->replacement ? e->replacement : e->patch, JSON_COMPACT);
	char *answer = NULL;
	long status = 0;
	int rc = ctl_member_call(o, c, target, e->replacement ? "PUT" : "PATCH", "/config", body,
	                         "edit-config", &answer, &status);
	free(body);
	free(answer);
	if (rc != CTL_EXIT_OK)
		return rc;
	ctl_printf(stdout, "Configuration of cluster '%s' changed (through %s)\n", c->scope,
	           target->name);
	json_t *pg_old = json_object_get(json_object_get(e->cur, "postgresql"), "parameters");
	json_t *pg_new = json_object_get(json_object_get(e->next, "postgresql"), "parameters");
	if (!json_equal(pg_old, pg_new) && (pg_old || pg_new))
		ctl_printf(stdout,
		           "Every member applies the new PostgreSQL parameters now; those that "
		           "need a restart show\nin 'tandemctl list' (Pending restart): restart "
		           "them with 'tandemctl restart --pending'\n");
	return CTL_EXIT_OK;
}

int ctl_cmd_edit_config(const ctl_opts *o)
{
	int rc = edit_check_usage(o);
	if (rc != CTL_EXIT_OK)
		return rc;
	config_edit e = {0};
	rc = edit_read_input(o, &e);
	if (rc != CTL_EXIT_OK) {
		config_edit_free(&e);
		return rc;
	}
	ctl_conn c;
	dcs_view v;
	rc = ctl_open(o, &c, &v);
	if (rc != CTL_EXIT_OK) {
		config_edit_free(&e);
		return rc;
	}
	const dcs_member *target = ctl_target_member(&v, true);
	char *diff = NULL;
	if (v.nmembers == 0 && !v.has_config) {
		ctl_printf(stderr, "tandemctl: no cluster '%s' in etcd (nothing under %s)\n",
		           c.scope, v.prefix);
		rc = CTL_EXIT_FAILED;
	} else if (!target) {
		ctl_printf(stderr, "tandemctl: edit-config: no member has an api_url to ask\n");
		rc = CTL_EXIT_FAILED;
	} else {
		rc = edit_prepare(o, &v, &e);
	}
	if (rc != CTL_EXIT_OK)
		goto out;
	diff = ctl_unified_diff(e.old_yaml, e.new_yaml, "config (in etcd)", "config (new)");
	if (!*diff && json_equal(e.cur, e.next)) {
		ctl_printf(stdout, "No changes to the configuration of cluster '%s'\n", c.scope);
		goto out;
	}
	ctl_printf(stdout, "%s", diff);
	fflush(stdout);
	rc = edit_send(o, &c, target, &e);
out:
	free(diff);
	config_edit_free(&e);
	dcs_view_free(&v);
	ctl_conn_free(&c);
	return rc;
}
