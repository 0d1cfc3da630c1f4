/* The commands that ask members to act, through their REST APIs: failover, restart (--pending:
 * only where a restart is pending), reload, reinit. Destructive ones ask for confirmation unless
 * --force, and refuse to ask when nobody can answer (stdin is not a terminal). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cred_trust.h"
#include "ctl_commands.h"
#include "ctl_http.h"
#include "ctl_table.h"
#include "strbuf.h"

/* Before anything is read: without --force, someone must be there to answer. */
int ctl_need_terminal(const ctl_opts *o, const char *command)
{
	if (o->force || isatty(STDIN_FILENO))
		return CTL_EXIT_OK;
	ctl_printf(
	    stderr,
	    "tandemctl: %s asks for confirmation, but stdin is not a terminal; use --force to "
	    "go ahead without asking\n",
	    command);
	return CTL_EXIT_USAGE;
}

bool ctl_confirmed(const ctl_opts *o, char *question)
{
	bool yes = ctl_confirm(o, question);
	free(question);
	if (!yes)
		ctl_printf(stderr, "tandemctl: not confirmed; nothing done\n");
	return yes;
}

int ctl_start(const ctl_opts *o, const char *command, bool ask, ctl_conn *c, dcs_view *v)
{
	int rc = ask ? ctl_need_terminal(o, command) : CTL_EXIT_OK;
	return rc != CTL_EXIT_OK ? rc : ctl_open(o, c, v);
}

bool ctl_confirm(const ctl_opts *o, const char *question)
{
	if (o->force)
		return true;
	ctl_printf(stderr, "%s [y/N] ", question);
	fflush(stderr);
	char line[64];
	if (!fgets(line, sizeof line, stdin))
		return false;
	char *p = line;
	while (isspace((unsigned char)*p))
		p++;
	size_t n = strcspn(p, " \t\r\n");
	p[n] = '\0';
	return strcasecmp(p, "y") == 0 || strcasecmp(p, "yes") == 0;
}

static bool is_leader(const dcs_view *v, const char *name)
{
	return v->leader && strcmp(v->leader, name) == 0;
}

static int post(const ctl_opts *o, const ctl_conn *c, const dcs_member *m, const char *path,
                const char *body, json_t *results)
{
	return ctl_member_request(o, c, m, "POST", path, body, results);
}

ctl_http_auth ctl_member_auth(const ctl_conn *c, const dcs_member *m, const char *url)
{
	ctl_http_auth auth = ctl_conn_rest_auth(c);
	const char *why = NULL;
	/* An https peer's certificate is verified unless --insecure (ctl.insecure) says not. */
	if (c->rest_username && !cred_trust_url(url, &c->rest_trusted, !c->rest_insecure, &why)) {
		ctl_printf(
		    stderr,
		    "tandemctl: warning: not sending the REST credentials to member %s at %s: "
		    "%s\n",
		    m->name, url, why);
		auth.username = NULL;
		auth.password = NULL;
	}
	return auth;
}

int ctl_member_request(const ctl_opts *o, const ctl_conn *c, const dcs_member *m,
                       const char *method, const char *path, const char *body, json_t *results)
{
	char *url = m->api_url ? ctl_url_with_path(m->api_url, path) : NULL;
	if (!url) {
		ctl_printf(stderr, "tandemctl: %s: no usable api_url in its member key\n", m->name);
		if (results) {
			json_t *r = json_object();
			json_object_set_new(r, "member", json_string(m->name));
			json_object_set_new(r, "ok", json_false());
			json_object_set_new(r, "error", json_string("no api_url"));
			json_array_append_new(results, r);
		}
		return CTL_EXIT_FAILED;
	}
	ctl_http_auth auth = ctl_member_auth(c, m, url);
	ctl_http_answer a;
	char *err = NULL;
	int rc;
	json_t *r = json_object();
	json_object_set_new(r, "member", json_string(m->name));
	json_object_set_new(r, "url", json_string(url));
	if (ctl_http_request(method, url, body, &auth, o->timeout_ms, &a, &err) < 0) {
		ctl_printf(stderr, "tandemctl: %s: %s\n", m->name, err ? err : "no answer");
		json_object_set_new(r, "ok", json_false());
		json_object_set_new(r, "error", json_string(err ? err : "no answer"));
		rc = CTL_EXIT_UNREACHABLE;
	} else {
		bool ok = a.status >= 200 && a.status < 300;
		size_t n = strlen(a.body);
		while (n && isspace((unsigned char)a.body[n - 1]))
			a.body[--n] = '\0';
		if (!o->json)
			ctl_printf(ok ? stdout : stderr, "%s%s: %s (HTTP %ld): %s\n",
			           ok ? "" : "tandemctl: ", m->name, ok ? "done" : "failed",
			           a.status, *a.body ? a.body : "(no answer text)");
		json_object_set_new(r, "ok", json_boolean(ok));
		json_object_set_new(r, "status", json_integer(a.status));
		json_t *parsed = json_loads(a.body, JSON_DECODE_ANY, NULL);
		json_object_set_new(r, "answer", parsed ? parsed : json_string(a.body));
		rc = ok ? CTL_EXIT_OK : CTL_EXIT_FAILED;
		ctl_http_answer_free(&a);
	}
	if (results)
		json_array_append_new(results, r);
	else
		json_decref(r);
	free(err);
	free(url);
	return rc;
}

static int worse(int a, int b)
{
	return a > b ? a : b;
}

/* ---- failover ---- */

int ctl_cmd_failover(const ctl_opts *o)
{
	if (o->nargs > 0) {
		ctl_printf(stderr,
		           "tandemctl: failover takes no member argument; name the new leader "
		           "with --candidate NAME\n");
		return CTL_EXIT_USAGE;
	}
	int rc = ctl_need_terminal(o, "failover");
	if (rc != CTL_EXIT_OK)
		return rc;
	ctl_conn c;
	dcs_view v;
	rc = ctl_open(o, &c, &v);
	if (rc != CTL_EXIT_OK)
		return rc;
	const dcs_member *cand = NULL;
	const dcs_member *leader = v.leader ? dcs_view_member(&v, v.leader) : NULL;
	char *why = o->candidate ? ctl_candidate_problem(&v, c.scope, o->candidate, &cand) : NULL;
	const char *refusal = why;
	if (!refusal && !cand && !v.leader)
		refusal = "the cluster has no leader: name the member to promote with --candidate";
	else if (!refusal && !cand && v.nmembers < 2)
		refusal = "there is no other member to fail over to";
	/* The request goes to the leader; with none, to the candidate. */
	const dcs_member *target = leader && leader->api_url ? leader : cand;
	if (!refusal && (!target || !target->api_url))
		refusal = "neither the leader nor the candidate has an api_url to ask";
	if (refusal) {
		ctl_printf(stderr, "tandemctl: failover refused: %s\n", refusal);
		rc = CTL_EXIT_FAILED;
		goto out;
	}
	char *question = xasprintf(
	    "Fail over cluster '%s' from %s to %s? Clients of the primary will be cut off.",
	    c.scope, v.leader ? v.leader : "(no leader)",
	    cand ? cand->name : "the best replica (the leader's choice)");
	bool yes = ctl_confirm(o, question);
	free(question);
	if (!yes) {
		ctl_printf(stderr, "tandemctl: not confirmed; nothing done\n");
		rc = CTL_EXIT_FAILED;
		goto out;
	}
	json_t *body = json_object();
	if (v.leader)
		json_object_set_new(body, "leader", json_string(v.leader));
	if (cand)
		json_object_set_new(body, "candidate", json_string(cand->name));
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	json_t *results = o->json ? json_array() : NULL;
	rc = post(o, &c, target, "/failover", text, results);
	free(text);
	if (results)
		ctl_print_json(results);
out:
	free(why);
	dcs_view_free(&v);
	ctl_conn_free(&c);
	return rc;
}

/* ---- restart, reload, reinit ---- */

typedef struct action {
	const char *command; /* "restart" */
	const char *path;    /* "/restart" */
	const char *verb;    /* for the question: "Restart PostgreSQL on" */
	const char *consequence;
	bool destructive;    /* asks for confirmation */
	bool all_by_default; /* no member named: every member */
	bool refuse_leader;  /* the leader may not be the target */
} action;

static int run_action(const ctl_opts *o, const action *act)
{
	if (o->nargs == 0 && !o->all && !act->all_by_default && !o->pending) {
		ctl_printf(stderr, "tandemctl: %s: name the member(s)%s\n", act->command,
		           act->refuse_leader ? "" : ", or give --all");
		return CTL_EXIT_USAGE;
	}
	if (o->nargs > 0 && o->all) {
		ctl_printf(stderr, "tandemctl: %s: give member names or --all, not both\n",
		           act->command);
		return CTL_EXIT_USAGE;
	}
	int rc = act->destructive ? ctl_need_terminal(o, act->command) : CTL_EXIT_OK;
	if (rc != CTL_EXIT_OK)
		return rc;
	ctl_conn c;
	dcs_view v;
	rc = ctl_open(o, &c, &v);
	if (rc != CTL_EXIT_OK)
		return rc;
	const dcs_member **targets = xcalloc(v.nmembers + (size_t)o->nargs + 1, sizeof *targets);
	size_t n = 0;
	if (o->nargs == 0) {
		for (size_t i = 0; i < v.nmembers; i++)
			targets[n++] = &v.members[i];
		if (n == 0) {
			ctl_printf(stderr, "tandemctl: %s: cluster '%s' has no members\n",
			           act->command, c.scope);
			rc = CTL_EXIT_FAILED;
		}
	}
	for (int i = 0; i < o->nargs && rc == CTL_EXIT_OK; i++) {
		const dcs_member *m = dcs_view_member(&v, o->args[i]);
		if (!m) {
			ctl_printf(stderr,
			           "tandemctl: %s refused: cluster '%s' has no member named '%s'\n",
			           act->command, c.scope, o->args[i]);
			rc = CTL_EXIT_FAILED;
		} else if (act->refuse_leader && is_leader(&v, m->name)) {
			ctl_printf(
			    stderr,
			    "tandemctl: %s refused: %s is the leader; fail over first (tandemctl "
			    "failover --candidate OTHER)\n",
			    act->command, m->name);
			rc = CTL_EXIT_FAILED;
		} else {
			bool dup = false;
			for (size_t k = 0; k < n; k++)
				dup = dup || targets[k] == m;
			if (!dup)
				targets[n++] = m;
		}
	}
	if (rc == CTL_EXIT_OK && o->pending) {
		/* --pending: only the members that report a pending restart */
		size_t kept = 0;
		for (size_t i = 0; i < n; i++)
			if (targets[i]->pending_restart)
				targets[kept++] = targets[i];
			else if (!o->json)
				ctl_printf(stderr, "%s: no restart pending; left alone\n",
				           targets[i]->name);
		n = kept;
		if (n == 0) {
			if (o->json)
				ctl_print_json(json_array());
			else
				ctl_printf(stdout,
				           "No member of cluster '%s' has a restart pending\n",
				           c.scope);
			goto done;
		}
	}
	if (rc == CTL_EXIT_OK && act->destructive) {
		strbuf names = STRBUF_INIT;
		for (size_t i = 0; i < n; i++)
			sb_printf(&names, "%s%s", i ? ", " : "", targets[i]->name);
		char *question = xasprintf("%s %s of cluster '%s'? %s", act->verb, names.data,
		                           c.scope, act->consequence);
		sb_free(&names);
		if (!ctl_confirm(o, question)) {
			ctl_printf(stderr, "tandemctl: not confirmed; nothing done\n");
			rc = CTL_EXIT_FAILED;
		}
		free(question);
	}
	if (rc == CTL_EXIT_OK) {
		json_t *results = o->json ? json_array() : NULL;
		for (size_t i = 0; i < n; i++)
			rc = worse(rc, post(o, &c, targets[i], act->path, "{}", results));
		if (results)
			ctl_print_json(results);
	}
done:
	free(targets);
	dcs_view_free(&v);
	ctl_conn_free(&c);
	return rc;
}

int ctl_cmd_restart(const ctl_opts *o)
{
	if (o->rolling)
		return ctl_rolling_restart(o);
	if (o->dry_run || o->member_timeout_ms) {
		ctl_printf(stderr, "tandemctl: restart: --dry-run and --member-timeout go with "
		                   "--rolling\n");
		return CTL_EXIT_USAGE;
	}
	static const action a = {
	    "restart", "/restart", "Restart PostgreSQL on", "Their clients will be cut off.", true,
	    false,     false};
	return run_action(o, &a);
}

int ctl_cmd_reload(const ctl_opts *o)
{
	static const action a = {"reload", "/reload", "Reload the configuration of", "", false,
	                         true,     false};
	return run_action(o, &a);
}

int ctl_cmd_reinit(const ctl_opts *o)
{
	if (o->all) {
		ctl_printf(stderr,
		           "tandemctl: reinit: name the member(s); --all is not accepted\n");
		return CTL_EXIT_USAGE;
	}
	static const action a = {"reinit",
	                         "/reinitialize",
	                         "Rebuild the data directory of",
	                         "Their data will be replaced by a new copy of the leader's.",
	                         true,
	                         false,
	                         true};
	return run_action(o, &a);
}
