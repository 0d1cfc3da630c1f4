/* `tandemctl restart --rolling`: PostgreSQL restarted member by member with the cluster
 * serving throughout. The replicas one at a time (POST /restart), each back to streaming from the
 * leader with a new postmaster and a small lag before the next; then a switchover to a restarted
 * replica (a synchronous standby, one in the leader's site, by preference); then the old leader,
 * which the switchover restarted as a replica, back to streaming (restarted once more only if
 * its postmaster is still the old one). A member that does not come back within
 * --member-timeout stops the roll, reported; the cluster is never left without a leader on
 * purpose. The plan itself is pure: ctl_rolling_plan.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "ctl_commands.h"
#include "ctl_rolling_plan.h"
#include "ctl_table.h"
#include "strbuf.h"

enum {
	POLL_MS = 500,
	/* a member is back when it replays within this of the leader's position */
	MAX_LAG_BYTES = 16 * 1024 * 1024,
	/* --member-timeout's default */
	DEFAULT_MEMBER_TIMEOUT_MS = 300 * 1000,
};

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

json_t *ctl_member_get_json(const ctl_opts *o, const ctl_conn *c, const dcs_member *m,
                            const char *path, long timeout_ms)
{
	char *url = m->api_url ? ctl_url_with_path(m->api_url, path) : NULL;
	if (!url)
		return NULL;
	ctl_http_auth auth = ctl_member_auth(c, m, url);
	ctl_http_answer a;
	char *err = NULL;
	json_t *j = NULL;
	long t = o->timeout_ms < timeout_ms ? o->timeout_ms : timeout_ms;
	if (ctl_http_request("GET", url, NULL, &auth, t, &a, &err) == 0) {
		j = json_loads(a.body, 0, NULL);
		if (!json_is_object(j)) {
			json_decref(j);
			j = NULL;
		}
		ctl_http_answer_free(&a);
	}
	free(err);
	free(url);
	return j;
}

static const char *jstr(const json_t *j, const char *key)
{
	const char *s = json_string_value(json_object_get(j, key));
	return s ? s : "";
}

/* The member's postmaster start time as its /patroni says (heap; "" when it does not answer). */
static char *start_time(const ctl_opts *o, const ctl_conn *c, const dcs_member *m)
{
	json_t *j = ctl_member_get_json(o, c, m, "/patroni", 3000);
	char *s = xstrdup(j ? jstr(j, "postmaster_start_time") : "");
	json_decref(j);
	return s;
}

static uint64_t xlog(const json_t *j, const char *key)
{
	json_int_t n = json_integer_value(json_object_get(json_object_get(j, "xlog"), key));
	return n > 0 ? (uint64_t)n : 0;
}

/* Whether `m` is back: a replica with a postmaster other than `old_start`, running, streaming,
 * within MAX_LAG_BYTES of `leader`'s position. `seen` gets what it looked like. */
static bool member_back(const ctl_opts *o, const ctl_conn *c, const dcs_member *m,
                        const dcs_member *leader, const char *old_start, strbuf *seen)
{
	json_t *j = ctl_member_get_json(o, c, m, "/patroni", 3000);
	sb_reset(seen);
	if (!j) {
		sb_puts(seen, "its REST API does not answer");
		return false;
	}
	const char *start = jstr(j, "postmaster_start_time");
	bool restarted = *start && strcmp(start, old_start) != 0;
	bool ok = restarted && !strcmp(jstr(j, "state"), "running") &&
	          !strcmp(jstr(j, "role"), "replica") &&
	          !strcmp(jstr(j, "replication_state"), "streaming");
	sb_printf(seen, "state %s, role %s, replication %s, postmaster %s",
	          *jstr(j, "state") ? jstr(j, "state") : "-",
	          *jstr(j, "role") ? jstr(j, "role") : "-",
	          *jstr(j, "replication_state") ? jstr(j, "replication_state") : "-",
	          restarted ? "restarted" : "not restarted yet");
	if (ok) {
		json_t *l = ctl_member_get_json(o, c, leader, "/patroni", 3000);
		uint64_t at = l ? xlog(l, "location") : 0, replayed = xlog(j, "replayed_location");
		ok = l && at > 0 && (replayed >= at || at - replayed <= MAX_LAG_BYTES);
		if (!ok)
			sb_printf(seen, ", %s",
			          l ? "behind the leader" : "the leader does not answer");
		json_decref(l);
	}
	json_decref(j);
	return ok;
}

/* Waits until `m` is back (member_back); false, reported, on the member deadline. */
static bool wait_back(const ctl_opts *o, const ctl_conn *c, const dcs_member *m,
                      const dcs_member *leader, const char *old_start, uint64_t t0)
{
	strbuf seen = STRBUF_INIT;
	uint64_t deadline = t0 + (uint64_t)o->member_timeout_ms;
	bool ok;
	while (!(ok = member_back(o, c, m, leader, old_start, &seen)) && clock_mono_ms() < deadline)
		sleep_ms(POLL_MS);
	if (ok && !o->json)
		ctl_printf(stdout, "%s: back, streaming from %s (%.1f s)\n", m->name, leader->name,
		           (double)(clock_mono_ms() - t0) / 1000);
	else if (!ok)
		ctl_printf(stderr,
		           "tandemctl: %s did not come back within %.0f s (%s); the rolling "
		           "restart stops here\n",
		           m->name, (double)o->member_timeout_ms / 1000, seen.data);
	sb_free(&seen);
	return ok;
}

/* Restarts replica `m` and waits for it. */
static bool restart_replica(const ctl_opts *o, const ctl_conn *c, const dcs_member *m,
                            const dcs_member *leader)
{
	char *old = start_time(o, c, m);
	uint64_t t0 = clock_mono_ms();
	char *answer = NULL;
	long status = 0;
	if (!o->json)
		ctl_printf(stdout, "%s: restarting PostgreSQL\n", m->name);
	bool ok = ctl_member_call(o, c, m, "POST", "/restart", "{}", "restart", &answer, &status) ==
	              CTL_EXIT_OK &&
	          wait_back(o, c, m, leader, old, t0);
	free(answer);
	free(old);
	return ok;
}

/* The leader key names `want`, and `want` says it is the primary. */
static bool wait_leader(const ctl_opts *o, const ctl_conn *c, const dcs_member *want)
{
	uint64_t deadline = clock_mono_ms() + (uint64_t)o->member_timeout_ms;
	while (clock_mono_ms() < deadline) {
		dcs_view v;
		char *err = NULL;
		bool keyed = ctl_cluster_read(c, 3000, &v, &err) == 0 && v.leader &&
		             !strcmp(v.leader, want->name);
		free(err);
		dcs_view_free(&v);
		json_t *j = keyed ? ctl_member_get_json(o, c, want, "/patroni", 3000) : NULL;
		bool primary = j && !strcmp(jstr(j, "role"), "primary") &&
		               !strcmp(jstr(j, "state"), "running");
		json_decref(j);
		if (primary)
			return true;
		sleep_ms(POLL_MS / 2);
	}
	return false;
}

/* The switchover to the best restarted replica, and the old leader back as a replica. */
static bool roll_leader(const ctl_opts *o, const ctl_conn *c, const char *old_leader,
                        char **new_leader)
{
	dcs_view v;
	char *err = NULL;
	if (ctl_cluster_read(c, (uint64_t)o->timeout_ms, &v, &err) != 0) {
		ctl_printf(stderr, "tandemctl: reading the cluster: %s\n", err);
		free(err);
		return false;
	}
	bool ok = false;
	char *why = NULL;
	const dcs_member *leader = v.leader ? dcs_view_member(&v, v.leader) : NULL;
	const dcs_member *cand = rolling_candidate(&v, &why);
	if (!leader || strcmp(leader->name, old_leader) != 0 || !cand) {
		ctl_printf(stderr, "tandemctl: no switchover: %s; the leader is left as it is\n",
		           !leader || strcmp(leader->name, old_leader) != 0
		               ? "the leader changed during the roll"
		               : why);
		goto out;
	}
	char *old = start_time(o, c, leader);
	if (!o->json)
		ctl_printf(stdout, "%s: switching over to %s\n", leader->name, cand->name);
	char *body =
	    xasprintf("{\"leader\":\"%s\",\"candidate\":\"%s\"}", leader->name, cand->name);
	char *answer = NULL;
	long status = 0;
	uint64_t t0 = clock_mono_ms();
	ok = ctl_member_call(o, c, leader, "POST", "/switchover", body, "switchover", &answer,
	                     &status) == CTL_EXIT_OK;
	free(body);
	free(answer);
	if (ok && !(ok = wait_leader(o, c, cand)))
		ctl_printf(stderr,
		           "tandemctl: %s did not take over within %.0f s; the rolling restart "
		           "stops here (see tandemctl list)\n",
		           cand->name, (double)o->member_timeout_ms / 1000);
	if (ok) {
		*new_leader = xstrdup(cand->name);
		if (!o->json)
			ctl_printf(stdout, "%s: leader (%.1f s)\n", cand->name,
			           (double)(clock_mono_ms() - t0) / 1000);
		/* The demotion restarted the old leader's postmaster: wait for it as a replica;
		 * restart it once more only when it still runs the old postmaster. */
		strbuf seen = STRBUF_INIT;
		ok = wait_back(o, c, leader, cand, "", t0);
		if (ok && !member_back(o, c, leader, cand, old, &seen))
			ok = restart_replica(o, c, leader, cand);
		sb_free(&seen);
	}
	free(old);
out:
	free(why);
	dcs_view_free(&v);
	return ok;
}

static const char *role_of(const dcs_view *v, const dcs_member *m)
{
	for (size_t i = 0; i < v->nsync_standby; i++)
		if (v->sync_standby[i] && !strcmp(v->sync_standby[i], m->name))
			return "synchronous standby";
	return "replica";
}

/* The plan, for people (numbered steps) or as JSON ({"replicas", "leader", "candidate"}). */
static void print_plan(const ctl_opts *o, const ctl_conn *c, const dcs_view *v,
                       const rolling_plan *p)
{
	char *why = NULL;
	const dcs_member *cand = p->leader ? rolling_candidate(v, &why) : NULL;
	free(why);
	if (o->json) {
		if (!o->dry_run)
			return;
		json_t *j = json_object(), *r = json_array();
		for (size_t i = 0; i < p->nreplicas; i++)
			json_array_append_new(r, json_string(p->replicas[i]->name));
		json_object_set_new(j, "replicas", r);
		json_object_set_new(j, "leader",
		                    p->leader ? json_string(p->leader->name) : json_null());
		json_object_set_new(j, "candidate", cand ? json_string(cand->name) : json_null());
		ctl_print_json(j);
		return;
	}
	ctl_printf(stdout, "Rolling restart of cluster '%s'%s:\n", c->scope,
	           o->pending ? " (members with a restart pending)" : "");
	int step = 1;
	for (size_t i = 0; i < p->nreplicas; i++)
		ctl_printf(stdout, "  %d. restart %s (%s), wait until it streams again\n", step++,
		           p->replicas[i]->name, role_of(v, p->replicas[i]));
	if (p->leader) {
		ctl_printf(stdout,
		           "  %d. switch over from %s to %s (chosen again then: a synchronous "
		           "standby, then the leader's site, then the furthest ahead)\n",
		           step++, p->leader->name, cand ? cand->name : "?");
		ctl_printf(stdout, "  %d. %s comes back as a replica, restarted\n", step,
		           p->leader->name);
	}
}

/* The JSON summary: {"ok", "restarted": [...], "leader_before", "leader_after"}. */
static void print_result(const ctl_opts *o, bool ok, json_t *done, const char *before,
                         const char *after)
{
	if (!o->json) {
		if (ok)
			ctl_printf(stdout, "Rolling restart done: %zu member(s) restarted%s%s\n",
			           json_array_size(done), after ? "; the leader is now " : "",
			           after ? after : "");
		json_decref(done);
		return;
	}
	json_t *j = json_object();
	json_object_set_new(j, "ok", json_boolean(ok));
	json_object_set_new(j, "restarted", done);
	json_object_set_new(j, "leader_before", json_string(before));
	json_object_set_new(j, "leader_after", json_string(after ? after : before));
	ctl_print_json(j);
}

static int carry_out(const ctl_opts *o, const ctl_conn *c, const dcs_view *v, const rolling_plan *p)
{
	json_t *done = json_array();
	const dcs_member *leader = dcs_view_member(v, v->leader);
	bool ok = true;
	for (size_t i = 0; ok && i < p->nreplicas; i++) {
		ok = restart_replica(o, c, p->replicas[i], leader);
		if (ok)
			json_array_append_new(done, json_string(p->replicas[i]->name));
	}
	char *new_leader = NULL;
	if (ok && p->leader) {
		ok = roll_leader(o, c, leader->name, &new_leader);
		if (ok)
			json_array_append_new(done, json_string(leader->name));
	}
	if (!ok && !o->json) {
		strbuf names = STRBUF_INIT;
		for (size_t k = 0; k < json_array_size(done); k++)
			sb_printf(&names, "%s%s", k ? ", " : "",
			          json_string_value(json_array_get(done, k)));
		ctl_printf(stderr, "tandemctl: restarted before it stopped: %s\n",
		           names.len ? names.data : "none");
		sb_free(&names);
	}
	print_result(o, ok, done, leader->name, new_leader);
	free(new_leader);
	return ok ? CTL_EXIT_OK : CTL_EXIT_FAILED;
}

int ctl_rolling_restart(const ctl_opts *given)
{
	ctl_opts opts = *given;
	const ctl_opts *o = &opts;
	if (!opts.member_timeout_ms)
		opts.member_timeout_ms = DEFAULT_MEMBER_TIMEOUT_MS;
	if (o->nargs > 0 || o->all) {
		ctl_printf(stderr, "tandemctl: restart --rolling takes no member names and no "
		                   "--all: it restarts every member (with --pending, those with a "
		                   "restart pending)\n");
		return CTL_EXIT_USAGE;
	}
	ctl_conn c;
	dcs_view v;
	int rc = ctl_start(o, "restart --rolling", !o->dry_run, &c, &v);
	if (rc != CTL_EXIT_OK)
		return rc;
	rolling_plan p;
	rolling_plan_make(&v, o->pending, &p);
	if (p.problem) {
		ctl_printf(stderr, "tandemctl: rolling restart refused: %s\n", p.problem);
		rc = CTL_EXIT_FAILED;
	} else if (p.nreplicas == 0 && !p.leader) {
		if (o->json)
			print_result(o, true, json_array(), v.leader, NULL);
		else
			ctl_printf(stdout, "No member of cluster '%s' has a restart pending\n",
			           c.scope);
	} else {
		print_plan(o, &c, &v, &p);
		if (o->dry_run) {
			if (!o->json)
				ctl_printf(stdout, "(dry run: nothing done)\n");
		} else if (!ctl_confirmed(o, xstrdup("Go ahead with the rolling restart?"))) {
			rc = CTL_EXIT_FAILED;
		} else {
			rc = carry_out(o, &c, &v, &p);
		}
	}
	rolling_plan_free(&p);
	dcs_view_free(&v);
	ctl_conn_free(&c);
	return rc;
}
