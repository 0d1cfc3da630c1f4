/* Planned operations: switchover (at once, or scheduled), maintenance mode (pause, resume) and
 * changes of the cluster-wide configuration (edit-config). Each one goes to the leader's REST API
 * (POST /switchover, PATCH or PUT /config), which checks it and answers with a reason when it
 * refuses; tandemctl checks what it can first, shows what will change and asks unless --force. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "ctl_commands.h"
#include "ctl_edit.h"
#include "ctl_http.h"
#include "ctl_table.h"
#include "dyn_config.h"
#include "strbuf.h"

enum { POLL_MS = 200 };

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

static bool no_args(const ctl_opts *o, const char *command)
{
	if (o->nargs == 0)
		return true;
	fprintf(stderr, "tandemctl: %s takes no arguments ('%s' given)\n", command, o->args[0]);
	return false;
}

/* The member to send a cluster-wide request to: the leader, or (`any_member`, for the
 * configuration, which every member can write) the first member with an api_url. */
static const dcs_member *target_member(const dcs_view *v, bool any_member)
{
	const dcs_member *l = v->leader ? dcs_view_member(v, v->leader) : NULL;
	if (l && l->api_url)
		return l;
	for (size_t i = 0; any_member && i < v->nmembers; i++)
		if (v->members[i].api_url)
			return &v->members[i];
	return NULL;
}

/* The reason in an error answer: {"error": "..."} or the text itself, trimmed. */
static char *answer_reason(const char *body)
{
	json_t *j = json_loads(body, JSON_DECODE_ANY, NULL);
	const char *s = NULL;
	if (json_is_object(j) && json_is_string(json_object_get(j, "error")))
		s = json_string_value(json_object_get(j, "error"));
	else if (json_is_string(j))
		s = json_string_value(j);
	char *out = xstrdup(s ? s : body);
	json_decref(j);
	size_t n = strlen(out);
	while (n && isspace((unsigned char)out[n - 1]))
		out[--n] = '\0';
	return *out ? out : (free(out), xstrdup("(no answer text)"));
}

/* A request whose answer the caller handles itself. CTL_EXIT_OK with *answer (2xx), else the
 * exit status after printing why ("tandemctl: WHAT refused by pg1 (HTTP 400): reason"). */
static int member_call(const ctl_opts *o, const ctl_conn *c, const dcs_member *m,
                       const char *method, const char *path, const char *body, const char *what,
                       char **answer, long *status)
{
	*answer = NULL;
	char *url = ctl_url_with_path(m->api_url, path);
	if (!url) {
		fprintf(stderr, "tandemctl: %s: no usable api_url in its member key\n", m->name);
		return CTL_EXIT_FAILED;
	}
	ctl_http_auth auth = {c->rest_username, c->rest_password, NULL};
	ctl_http_answer a;
	char *err = NULL;
	int rc;
	if (ctl_http_request(method, url, body, &auth, o->timeout_ms, &a, &err) < 0) {
		fprintf(stderr, "tandemctl: %s: %s\n", m->name, err ? err : "no answer");
		rc = CTL_EXIT_UNREACHABLE;
	} else {
		*status = a.status;
		if (a.status >= 200 && a.status < 300) {
			*answer = a.body;
			a.body = NULL;
			rc = CTL_EXIT_OK;
		} else {
			char *why = answer_reason(a.body);
			fprintf(stderr, "tandemctl: %s refused by %s (HTTP %ld): %s\n", what,
			        m->name, a.status, why);
			free(why);
			rc = CTL_EXIT_FAILED;
		}
		ctl_http_answer_free(&a);
	}
	free(err);
	free(url);
	return rc;
}

/* ---- switchover ---- */

static int wait_new_leader(const ctl_opts *o, const ctl_conn *c, const char *old, const char *want,
                           char **now_leader)
{
	uint64_t deadline = clock_mono_ms() + (uint64_t)o->timeout_ms;
	*now_leader = NULL;
	bool tty = isatty(STDERR_FILENO) && !o->json;
	while (clock_mono_ms() < deadline) {
		dcs_view v;
		char *err = NULL;
		if (ctl_cluster_read(c, 3000, &v, &err) == 0 && v.leader &&
		    strcmp(v.leader, old) != 0 && (!want || strcmp(v.leader, want) == 0)) {
			*now_leader = xstrdup(v.leader);
			dcs_view_free(&v);
			if (tty)
				fputc('\n', stderr);
			return CTL_EXIT_OK;
		}
		free(err);
		dcs_view_free(&v);
		if (tty) {
			fputc('.', stderr);
			fflush(stderr);
		}
		sleep_ms(POLL_MS);
	}
	if (tty)
		fputc('\n', stderr);
	return CTL_EXIT_FAILED;
}

/* Why the switchover cannot be asked for (heap), or NULL; *cand is the --candidate member. */
static char *switchover_problem(const ctl_opts *o, const dcs_view *v, const char *scope,
                                const dcs_member *leader, const dcs_member **cand)
{
	char *why = NULL;
	if (!v->leader)
		why = xstrdup("the cluster has no leader (use failover --candidate NAME)");
	else if (o->leader && strcmp(o->leader, v->leader) != 0)
		why = xasprintf("%s is not the leader (the leader is %s)", o->leader, v->leader);
	else if (o->candidate)
		why = ctl_candidate_problem(v, scope, o->candidate, cand);
	if (!why && v->nmembers < 2)
		why = xstrdup("there is no other member to switch over to");
	else if (!why && !leader)
		why = xasprintf("the leader %s has no api_url to ask", v->leader);
	return why;
}

/* A switchover accepted now: waits for the new leader and reports it (into `result` too). */
static int switchover_wait(const ctl_opts *o, const ctl_conn *c, const char *old_leader,
                           const dcs_member *cand, json_t *result)
{
	char *now_leader = NULL;
	int rc = wait_new_leader(o, c, old_leader, cand ? cand->name : NULL, &now_leader);
	if (rc == CTL_EXIT_OK) {
		if (!o->json)
			printf("Switched over: %s is the leader of cluster '%s'\n", now_leader,
			       c->scope);
		json_object_set_new(result, "new_leader", json_string(now_leader));
	} else {
		fprintf(stderr,
		        "tandemctl: the switchover was accepted, but %s did not take over "
		        "within %.1f s; see tandemctl list\n",
		        cand ? cand->name : "another member", (double)o->timeout_ms / 1000);
	}
	free(now_leader);
	return rc;
}

int ctl_cmd_switchover(const ctl_opts *o)
{
	if (!no_args(o, "switchover"))
		return CTL_EXIT_USAGE;
	const char *at = o->scheduled && strcmp(o->scheduled, "now") != 0 ? o->scheduled : NULL;
	int64_t at_ms = 0;
	if (at && clock_parse_iso8601(at, &at_ms) < 0) {
		fprintf(stderr,
		        "tandemctl: --scheduled '%s': give an ISO 8601 time with a zone, e.g. "
		        "2030-01-01T10:00:00+00:00, or 'now'\n",
		        at);
		return CTL_EXIT_USAGE;
	}
	int rc = ctl_need_terminal(o, "switchover");
	if (rc != CTL_EXIT_OK)
		return rc;
	ctl_conn c;
	dcs_view v;
	rc = ctl_open(o, &c, &v);
	if (rc != CTL_EXIT_OK)
		return rc;
	const dcs_member *cand = NULL;
	const dcs_member *leader = target_member(&v, false);
	char *why = switchover_problem(o, &v, c.scope, leader, &cand);
	if (why) {
		fprintf(stderr, "tandemctl: switchover refused: %s\n", why);
		free(why);
		rc = CTL_EXIT_FAILED;
		goto out;
	}
	char *question =
	    xasprintf("Switch over cluster '%s' from %s to %s %s%s?", c.scope, v.leader,
	              cand ? cand->name : "the best replica", at ? "at " : "now", at ? at : "");
	bool yes = ctl_confirm(o, question);
	free(question);
	if (!yes) {
		fprintf(stderr, "tandemctl: not confirmed; nothing done\n");
		rc = CTL_EXIT_FAILED;
		goto out;
	}
	json_t *body = json_object();
	json_object_set_new(body, "leader", json_string(v.leader));
	if (cand)
		json_object_set_new(body, "candidate", json_string(cand->name));
	if (at)
		json_object_set_new(body, "scheduled_at", json_string(at));
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	char *answer = NULL;
	long status = 0;
	rc =
	    member_call(o, &c, leader, "POST", "/switchover", text, "switchover", &answer, &status);
	free(text);
	if (rc != CTL_EXIT_OK)
		goto out;
	char *said = answer_reason(answer);
	free(answer);
	json_t *result = json_object();
	json_object_set_new(result, "leader", json_string(v.leader));
	json_object_set_new(result, "answer", json_string(said));
	if (!o->json)
		printf("%s: %s\n", leader->name, said);
	free(said);
	if (at) {
		json_object_set_new(result, "scheduled_at", json_string(at));
		if (!o->json)
			printf("The switchover will happen at %s (tandemctl list shows it until "
			       "then)\n",
			       at);
	} else {
		rc = switchover_wait(o, &c, v.leader, cand, result);
	}
	if (o->json)
		ctl_print_json(result);
	else
		json_decref(result);
out:
	dcs_view_free(&v);
	ctl_conn_free(&c);
	return rc;
}

/* ---- pause, resume ---- */

/* Whether a member's /patroni says paused: 1, 0, or -1 when it did not answer. */
static int member_paused(const ctl_opts *o, const ctl_conn *c, const dcs_member *m)
{
	char *url = m->api_url ? ctl_url_with_path(m->api_url, "/patroni") : NULL;
	if (!url)
		return -1;
	ctl_http_auth auth = {c->rest_username, c->rest_password, NULL};
	ctl_http_answer a;
	char *err = NULL;
	int r = -1;
	long t = o->timeout_ms < 3000 ? o->timeout_ms : 3000;
	if (ctl_http_request("GET", url, NULL, &auth, t, &a, &err) == 0) {
		json_t *j = json_loads(a.body, 0, NULL);
		if (json_is_object(j))
			r = json_is_true(json_object_get(j, "pause")) ? 1 : 0;
		json_decref(j);
		ctl_http_answer_free(&a);
	}
	free(err);
	free(url);
	return r;
}

static int set_pause(const ctl_opts *o, bool pause)
{
	const char *command = pause ? "pause" : "resume";
	if (!no_args(o, command))
		return CTL_EXIT_USAGE;
	ctl_conn c;
	dcs_view v;
	int rc = ctl_open(o, &c, &v);
	if (rc != CTL_EXIT_OK)
		return rc;
	const dcs_member *target = target_member(&v, true);
	bool paused = v.has_config && v.config.pause;
	if (v.nmembers == 0 && !v.has_config) {
		fprintf(stderr, "tandemctl: no cluster '%s' in etcd (nothing under %s)\n", c.scope,
		        v.prefix);
		rc = CTL_EXIT_FAILED;
		goto out;
	}
	if (paused == pause) {
		fprintf(stderr, "tandemctl: cluster '%s' is %s in maintenance mode\n", c.scope,
		        pause ? "already" : "not");
		rc = CTL_EXIT_FAILED;
		goto out;
	}
	if (!target) {
		fprintf(stderr, "tandemctl: %s: no member has an api_url to ask\n", command);
		rc = CTL_EXIT_FAILED;
		goto out;
	}
	char *answer = NULL;
	long status = 0;
	rc = member_call(o, &c, target, "PATCH", "/config",
	                 pause ? "{\"pause\":true}" : "{\"pause\":false}", command, &answer,
	                 &status);
	free(answer);
	if (rc != CTL_EXIT_OK)
		goto out;
	if (!o->json)
		printf("%s: maintenance mode %s for cluster '%s'\n", target->name,
		       pause ? "requested" : "end requested", c.scope);
	json_t *members = json_object();
	if (o->wait) {
		uint64_t deadline = clock_mono_ms() + (uint64_t)o->timeout_ms;
		bool *seen = xcalloc(v.nmembers + 1, sizeof *seen);
		size_t left = v.nmembers;
		while (left > 0 && clock_mono_ms() < deadline) {
			for (size_t i = 0; i < v.nmembers; i++) {
				if (seen[i])
					continue;
				if (member_paused(o, &c, &v.members[i]) == (pause ? 1 : 0)) {
					seen[i] = true;
					left--;
					json_object_set_new(members, v.members[i].name,
					                    json_true());
					if (!o->json)
						printf("%s: %s\n", v.members[i].name,
						       pause ? "paused" : "resumed");
				}
			}
			if (left > 0)
				sleep_ms(POLL_MS);
		}
		for (size_t i = 0; i < v.nmembers; i++) {
			if (seen[i])
				continue;
			json_object_set_new(members, v.members[i].name, json_false());
			fprintf(stderr, "tandemctl: %s did not report %s within %.1f s\n",
			        v.members[i].name, pause ? "pause" : "the end of pause",
			        (double)o->timeout_ms / 1000);
			rc = CTL_EXIT_FAILED;
		}
		free(seen);
	}
	if (o->json) {
		json_t *j = json_object();
		json_object_set_new(j, "scope", json_string(c.scope));
		json_object_set_new(j, "pause", json_boolean(pause));
		json_object_set_new(j, "ok", json_boolean(rc == CTL_EXIT_OK));
		if (o->wait)
			json_object_set_new(j, "members", members);
		else
			json_decref(members);
		ctl_print_json(j);
	} else {
		json_decref(members);
		if (rc == CTL_EXIT_OK)
			printf("Maintenance mode: %s\n", pause ? "on" : "off");
	}
out:
	dcs_view_free(&v);
	ctl_conn_free(&c);
	return rc;
}

int ctl_cmd_pause(const ctl_opts *o)
{
	return set_pause(o, true);
}

int ctl_cmd_resume(const ctl_opts *o)
{
	return set_pause(o, false);
}

/* ---- edit-config ---- */

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
	if (!no_args(o, "edit-config"))
		return CTL_EXIT_USAGE;
	bool assign = o->nsets > 0 || o->npgs > 0;
	if (o->apply && assign) {
		fprintf(stderr, "tandemctl: edit-config: --apply replaces the whole configuration; "
		                "give it without --set or --pg\n");
		return CTL_EXIT_USAGE;
	}
	if (o->apply && strcmp(o->apply, "-") == 0 && !o->force) {
		fprintf(stderr,
		        "tandemctl: edit-config --apply - reads stdin, so it cannot ask for "
		        "confirmation there; add --force\n");
		return CTL_EXIT_USAGE;
	}
	bool editor = !o->apply && !assign;
	if (editor && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))) {
		fprintf(stderr, "tandemctl: edit-config without --set, --pg or --apply opens an "
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
	fprintf(stderr, "tandemctl: edit-config: %s\n", err);
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
		fprintf(stderr, "tandemctl: %s\n", err ? err : "cannot show the configuration");
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
			fprintf(stderr,
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
			fprintf(stderr, "tandemctl: edit-config: %s\n", err);
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
		fprintf(stderr, "tandemctl: not confirmed; nothing done\n");
		return CTL_EXIT_FAILED;
	}
	char *body = json_dumps(e->replacement ? e->replacement : e->patch, JSON_COMPACT);
	char *answer = NULL;
	long status = 0;
	int rc = member_call(o, c, target, e->replacement ? "PUT" : "PATCH", "/config", body,
	                     "edit-config", &answer, &status);
	free(body);
	free(answer);
	if (rc != CTL_EXIT_OK)
		return rc;
	printf("Configuration of cluster '%s' changed (through %s)\n", c->scope, target->name);
	json_t *pg_old = json_object_get(json_object_get(e->cur, "postgresql"), "parameters");
	json_t *pg_new = json_object_get(json_object_get(e->next, "postgresql"), "parameters");
	if (!json_equal(pg_old, pg_new) && (pg_old || pg_new))
		printf("Every member applies the new PostgreSQL parameters now; those that "
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
	const dcs_member *target = target_member(&v, true);
	char *diff = NULL;
	if (v.nmembers == 0 && !v.has_config) {
		fprintf(stderr, "tandemctl: no cluster '%s' in etcd (nothing under %s)\n", c.scope,
		        v.prefix);
		rc = CTL_EXIT_FAILED;
	} else if (!target) {
		fprintf(stderr, "tandemctl: edit-config: no member has an api_url to ask\n");
		rc = CTL_EXIT_FAILED;
	} else {
		rc = edit_prepare(o, &v, &e);
	}
	if (rc != CTL_EXIT_OK)
		goto out;
	diff = ctl_unified_diff(e.old_yaml, e.new_yaml, "config (in etcd)", "config (new)");
	if (!*diff && json_equal(e.cur, e.next)) {
		printf("No changes to the configuration of cluster '%s'\n", c.scope);
		goto out;
	}
	fputs(diff, stdout);
	fflush(stdout);
	rc = edit_send(o, &c, target, &e);
out:
	free(diff);
	config_edit_free(&e);
	dcs_view_free(&v);
	ctl_conn_free(&c);
	return rc;
}
