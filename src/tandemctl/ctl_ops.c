/* Planned operations: switchover (at once, or scheduled) and maintenance mode (pause, resume);
 * changes of the cluster-wide configuration (edit-config) are in ctl_edit_config.c. Each one goes
 * to the leader's REST API (POST /switchover, PATCH or PUT /config), which checks it and answers
 * with a reason when it refuses; tandemctl checks what it can first, shows what will change and
 * asks unless --force. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "ctl_commands.h"
#include "ctl_http.h"
#include "ctl_table.h"

enum { POLL_MS = 200 };

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

bool ctl_no_args(const ctl_opts *o, const char *command)
{
	if (o->nargs == 0)
		return true;
	ctl_printf(stderr, "tandemctl: %s takes no arguments ('%s' given)\n", command, o->args[0]);
	return false;
}

const dcs_member *ctl_target_member(const dcs_view *v, bool any_member)
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

int ctl_member_call(const ctl_opts *o, const ctl_conn *c, const dcs_member *m, const char *method,
                    const char *path, const char *body, const char *what, char **answer,
                    long *status)
{
	*answer = NULL;
	char *url = ctl_url_with_path(m->api_url, path);
	if (!url) {
		ctl_printf(stderr, "tandemctl: %s: no usable api_url in its member key\n", m->name);
		return CTL_EXIT_FAILED;
	}
	ctl_http_auth auth = ctl_member_auth(c, m, url);
	ctl_http_answer a;
	char *err = NULL;
	int rc;
	if (ctl_http_request(method, url, body, &auth, o->timeout_ms, &a, &err) < 0) {
		ctl_printf(stderr, "tandemctl: %s: %s\n", m->name, err ? err : "no answer");
		rc = CTL_EXIT_UNREACHABLE;
	} else {
		*status = a.status;
		if (a.status >= 200 && a.status < 300) {
			*answer = a.body;
			a.body = NULL;
			rc = CTL_EXIT_OK;
		} else {
			char *why = answer_reason(a.body);
			ctl_printf(stderr, "tandemctl: %s refused by %s (HTTP %ld): %s\n", what,
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
	else if (o->candidate && o->nsites)
		why = xstrdup("give --candidate or --site, not both");
	else if (o->nsites > 1)
		why = xstrdup("--site names one site");
	else if (o->candidate)
		why = ctl_candidate_problem(v, scope, o->candidate, cand);
	else if (o->nsites)
		*cand = ctl_site_candidate(v, o->sites[0], &why);
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
			ctl_printf(stdout, "Switched over: %s is the leader of cluster '%s'\n",
			           now_leader, c->scope);
		json_object_set_new(result, "new_leader", json_string(now_leader));
	} else {
		ctl_printf(stderr,
		           "tandemctl: the switchover was accepted, but %s did not take over "
		           "within %.1f s; see tandemctl list\n",
		           cand ? cand->name : "another member", (double)o->timeout_ms / 1000);
	}
	free(now_leader);
	return rc;
}

int ctl_cmd_switchover(const ctl_opts *o)
{
	if (!ctl_no_args(o, "switchover"))
		return CTL_EXIT_USAGE;
	const char *at = o->scheduled && strcmp(o->scheduled, "now") != 0 ? o->scheduled : NULL;
	int64_t at_ms = 0;
	if (at && clock_parse_iso8601(at, &at_ms) < 0) {
		ctl_printf(stderr,
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
	const dcs_member *leader = ctl_target_member(&v, false);
	char *why = switchover_problem(o, &v, c.scope, leader, &cand);
	if (why) {
		ctl_printf(stderr, "tandemctl: switchover refused: %s\n", why);
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
		ctl_printf(stderr, "tandemctl: not confirmed; nothing done\n");
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
	rc = ctl_member_call(o, &c, leader, "POST", "/switchover", text, "switchover", &answer,
	                     &status);
	free(text);
	if (rc != CTL_EXIT_OK)
		goto out;
	char *said = answer_reason(answer);
	free(answer);
	json_t *result = json_object();
	json_object_set_new(result, "leader", json_string(v.leader));
	json_object_set_new(result, "answer", json_string(said));
	if (!o->json)
		ctl_printf(stdout, "%s: %s\n", leader->name, said);
	free(said);
	if (at) {
		json_object_set_new(result, "scheduled_at", json_string(at));
		if (!o->json)
			ctl_printf(
			    stdout,
			    "The switchover will happen at %s (tandemctl list shows it until "
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
	json_t *j = ctl_member_get_json(o, c, m, "/patroni", 3000);
	int r = j ? (json_is_true(json_object_get(j, "pause")) ? 1 : 0) : -1;
	json_decref(j);
	return r;
}

static int set_pause(const ctl_opts *o, bool pause)
{
	const char *command = pause ? "pause" : "resume";
	if (!ctl_no_args(o, command))
		return CTL_EXIT_USAGE;
	ctl_conn c;
	dcs_view v;
	int rc = ctl_open(o, &c, &v);
	if (rc != CTL_EXIT_OK)
		return rc;
	const dcs_member *target = ctl_target_member(&v, true);
	bool paused = v.has_config && v.config.pause;
	if (v.nmembers == 0 && !v.has_config) {
		ctl_printf(stderr, "tandemctl: no cluster '%s' in etcd (nothing under %s)\n",
		           c.scope, v.prefix);
		rc = CTL_EXIT_FAILED;
		goto out;
	}
	if (paused == pause) {
		ctl_printf(stderr, "tandemctl: cluster '%s' is %s in maintenance mode\n", c.scope,
		           pause ? "already" : "not");
		rc = CTL_EXIT_FAILED;
		goto out;
	}
	if (!target) {
		ctl_printf(stderr, "tandemctl: %s: no member has an api_url to ask\n", command);
		rc = CTL_EXIT_FAILED;
		goto out;
	}
	char *answer = NULL;
	long status = 0;
	rc = ctl_member_call(o, &c, target, "PATCH", "/config",
	                     pause ? "{\"pause\":true}" : "{\"pause\":false}", command, &answer,
	                     &status);
	free(answer);
	if (rc != CTL_EXIT_OK)
		goto out;
	if (!o->json)
		ctl_printf(stdout, "%s: maintenance mode %s for cluster '%s'\n", target->name,
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
						ctl_printf(stdout, "%s: %s\n", v.members[i].name,
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
			ctl_printf(stderr, "tandemctl: %s did not report %s within %.1f s\n",
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
			ctl_printf(stdout, "Maintenance mode: %s\n", pause ? "on" : "off");
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
