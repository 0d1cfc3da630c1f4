/* Two sites: tandemctl promote-cluster, demote-cluster and site-switchover (docs/sites.md).
 *
 * A site is a tandem cluster with its own etcd; the standby site's DCS config holds Patroni's
 * `standby_cluster`. promote-cluster removes it (the standby leader is promoted), demote-cluster
 * adds it (the leader stops cleanly, keeps the key and follows the other site). site-switchover
 * does both in the order that loses nothing and needs no pg_rewind:
 *
 *   1. the primary site becomes a standby cluster of the other (its leader writes a shutdown
 *      checkpoint and stops accepting writes); the step is recorded in its config
 *      (`site_switchover`), so that a second run knows where the first one stopped;
 *   2. the other site's standby leader must replay exactly up to that checkpoint: same system
 *      identifier, same timeline, replay position equal (more: refuse; less: wait);
 *   3. the other site is promoted; the old primary site follows its new timeline.
 *
 * Every step is a PATCH of a cluster's config through its leader's REST API (checked, audited);
 * a run killed midway leaves a state the same command completes: both sites standby with the
 * marker -> wait and promote; the target already primary -> done. If the target cannot reach
 * the checkpoint in time, the old primary site is promoted back (never two writable sites, never
 * none for longer than the switch). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "clock.h"
#include "ctl_commands.h"
#include "ctl_table.h"
#include "dcs_ckpt.h"
#include "dyn_config.h"
#include "strbuf.h"

typedef struct site {
	const char *file;
	ctl_conn conn;
	dcs_view view;
	bool loaded, read;
} site;

typedef struct site_opts {
	ctl_opts o;
	const char *from, *to;      /* site-switchover */
	const char *host, *port;    /* demote-cluster */
	const char *slot, *restore; /* demote-cluster */
	long wait_ms;               /* how long a step may take */
} site_opts;

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

static int site_open(site *s, const char *file, long timeout_ms)
{
	memset(s, 0, sizeof *s);
	s->file = file;
	ctl_conn_args a = {.config = file};
	char *err = NULL;
	if (ctl_conn_load(&s->conn, &a, &err) != 0) {
		ctl_printf(stderr, "tandemctl: %s\n", err); /* it names the file */
		free(err);
		return CTL_EXIT_USAGE;
	}
	s->loaded = true;
	if (ctl_cluster_read(&s->conn, (uint64_t)timeout_ms, &s->view, &err) != 0) {
		ctl_printf(stderr, "tandemctl: %s: %s\n", file, err);
		free(err);
		return CTL_EXIT_UNREACHABLE;
	}
	s->read = true;
	return CTL_EXIT_OK;
}

static int site_reread(site *s, long timeout_ms)
{
	if (s->read)
		dcs_view_free(&s->view);
	s->read = false;
	char *err = NULL;
	if (ctl_cluster_read(&s->conn, (uint64_t)timeout_ms, &s->view, &err) != 0) {
		free(err);
		return -1;
	}
	s->read = true;
	return 0;
}

static void site_close(site *s)
{
	if (s->read)
		dcs_view_free(&s->view);
	if (s->loaded)
		ctl_conn_free(&s->conn);
}

static bool is_standby(const site *s)
{
	return s->view.has_config && s->view.config.standby.present;
}

/* The leader's /patroni, or NULL. */
static json_t *leader_status(const site_opts *so, const site *s)
{
	const dcs_member *m = s->view.leader ? dcs_view_member(&s->view, s->view.leader) : NULL;
	if (!m || !m->api_url)
		return NULL;
	char *url = ctl_url_with_path(m->api_url, "/patroni");
	if (!url)
		return NULL;
	ctl_http_auth auth = ctl_conn_rest_auth(&s->conn);
	auth.username = auth.password = NULL; /* a read: no credentials */
	ctl_http_answer a;
	char *err = NULL;
	json_t *j = NULL;
	long t = so->o.timeout_ms < 5000 ? so->o.timeout_ms : 5000;
	if (ctl_http_request("GET", url, NULL, &auth, t, &a, &err) == 0) {
		if (a.status == 200)
			j = json_loads(a.body, 0, NULL);
		ctl_http_answer_free(&a);
	}
	free(err);
	free(url);
	return j;
}

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* The leader's replay (standby) or write (primary) position, its timeline and role. */
typedef struct leader_pos {
	bool known;
	const char *role_text;
	char role[32];
	uint64_t lsn;
	int64_t timeline;
	bool in_recovery;
	bool streaming; /* replication_state "streaming" */
} leader_pos;

static leader_pos leader_position(const site_opts *so, const site *s)
{
	leader_pos p = {0};
	json_t *j = leader_status(so, s);
	if (!j)
		return p;
	const char *role = jstr(j, "role");
	snprintf(p.role, sizeof p.role, "%s", role ? role : "?");
	const json_t *x = json_object_get(j, "xlog");
	const json_t *loc = json_object_get(x, "location");
	const json_t *rep = json_object_get(x, "replayed_location");
	p.in_recovery = rep != NULL;
	p.lsn = (uint64_t)json_integer_value(rep ? rep : loc);
	p.timeline = json_integer_value(json_object_get(j, "timeline"));
	const char *rs = jstr(j, "replication_state");
	p.streaming = rs && !strcmp(rs, "streaming");
	p.known = (rep || loc) && !strcmp(jstr(j, "state") ? jstr(j, "state") : "", "running");
	json_decref(j);
	return p;
}

/* No member runs (a site coming back after a disaster, before its agents start): the change is
 * merged into the config key and written to etcd directly, checked as the REST API checks it. */
static int patch_offline(const site_opts *so, const site *s, json_t *body, const char *what)
{
	json_t *before = s->view.has_config ? json_loads(s->view.config.raw, 0, NULL) : NULL;
	json_t *after = dyn_config_merge(before, body);
	char *why = dyn_config_check_change(before, after, NULL);
	int rc = CTL_EXIT_FAILED;
	if (why) {
		ctl_printf(stderr, "tandemctl: %s refused: %s\n", what, why);
		free(why);
	} else {
		char *text = json_dumps(after, JSON_COMPACT);
		char *err = NULL;
		if (ctl_cluster_put(&s->conn, "config", text, (uint64_t)so->o.timeout_ms, &err) ==
		    0) {
			ctl_printf(stderr,
			           "%s: no member runs: the configuration was written to etcd\n",
			           s->conn.scope);
			rc = CTL_EXIT_OK;
		} else {
			ctl_printf(stderr, "tandemctl: %s: %s\n", what, err);
			free(err);
			rc = CTL_EXIT_UNREACHABLE;
		}
		free(text);
	}
	json_decref(before);
	json_decref(after);
	json_decref(body);
	return rc;
}

/* PATCH the site's config through its leader (any member when it has none; etcd directly when
 * no member runs). */
static int patch(const site_opts *so, const site *s, json_t *body, const char *what)
{
	const dcs_member *m = ctl_target_member(&s->view, true);
	if (!m)
		return patch_offline(so, s, body, what);
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	char *answer = NULL;
	long status = 0;
	int rc =
	    ctl_member_call(&so->o, &s->conn, m, "PATCH", "/config", text, what, &answer, &status);
	free(answer);
	free(text);
	return rc;
}

/* standby_cluster naming `s`'s members (their conn_url hosts and ports). */
static json_t *standby_of(const site *s)
{
	strbuf hosts = STRBUF_INIT, ports = STRBUF_INIT;
	for (size_t i = 0; i < s->view.nmembers; i++) {
		char *h = NULL, *p = NULL;
		const dcs_member *m = &s->view.members[i];
		if (!m->conn_url || addr_url_host_port(m->conn_url, 5432, &h, &p, NULL) != 0)
			continue;
		sb_printf(&hosts, "%s%s", hosts.len ? "," : "", h);
		sb_printf(&ports, "%s%s", ports.len ? "," : "", p);
		free(h);
		free(p);
	}
	json_t *o = json_object();
	if (hosts.len) {
		json_object_set_new(o, "host", json_string(hosts.data));
		json_object_set_new(o, "port", json_string(ports.data));
	}
	sb_free(&hosts);
	sb_free(&ports);
	return o;
}

typedef bool (*site_pred)(const site_opts *so, site *s, void *ud);

static bool wait_for(const site_opts *so, site *s, site_pred pred, void *ud, long limit_ms)
{
	uint64_t deadline = clock_mono_ms() + (uint64_t)limit_ms;
	for (;;) {
		if (site_reread(s, 3000) == 0 && pred(so, s, ud))
			return true;
		if (clock_mono_ms() >= deadline)
			return false;
		sleep_ms(50);
	}
}

static bool pred_primary(const site_opts *so, site *s, void *ud)
{
	(void)ud;
	leader_pos p = leader_position(so, s);
	return !is_standby(s) && p.known && !p.in_recovery && !strcmp(p.role, "primary");
}

static bool pred_standby_leader(const site_opts *so, site *s, void *ud)
{
	(void)ud;
	leader_pos p = leader_position(so, s);
	return is_standby(s) && p.known && p.in_recovery && !strcmp(p.role, "standby_leader");
}

/* ---- promote-cluster, demote-cluster ---- */

static int promote(const site_opts *so, site *s)
{
	leader_pos p = leader_position(so, s);
	if (!is_standby(s)) {
		ctl_printf(stderr, "tandemctl: %s is not a standby cluster (no standby_cluster)\n",
		           s->conn.scope);
		return CTL_EXIT_FAILED;
	}
	char *lsn = ctl_lsn_text(p.lsn);
	ctl_printf(stderr,
	           "%s: standby leader %s has replayed up to %s on timeline %" PRId64
	           ". Whatever the primary site wrote after that is not in this site: promoting "
	           "makes this site writable on a new timeline.\n",
	           s->conn.scope, s->view.leader ? s->view.leader : "(none)",
	           p.known ? lsn : "(unknown)", p.timeline);
	free(lsn);
	if (!ctl_confirm(&so->o, "Promote this site?"))
		return CTL_EXIT_FAILED;
	uint64_t t0 = clock_mono_ms();
	json_t *body = json_pack("{s:n, s:n}", "standby_cluster", "site_switchover");
	int rc = patch(so, s, body, "promote-cluster");
	if (rc != CTL_EXIT_OK)
		return rc;
	if (!wait_for(so, s, pred_primary, NULL, so->wait_ms)) {
		ctl_printf(stderr, "tandemctl: %s: no writable leader after %ld s\n", s->conn.scope,
		           so->wait_ms / 1000);
		return CTL_EXIT_FAILED;
	}
	ctl_printf(stderr, "%s: promoted, %s writable after %.2f s\n", s->conn.scope,
	           s->view.leader, (double)(clock_mono_ms() - t0) / 1000.0);
	return CTL_EXIT_OK;
}

static int demote(const site_opts *so, site *s)
{
	if (!so->host) {
		ctl_printf(stderr, "tandemctl: demote-cluster needs --host (the primary site's "
		                   "members, comma-separated) and --port\n");
		return CTL_EXIT_USAGE;
	}
	json_t *sb = json_object();
	json_object_set_new(sb, "host", json_string(so->host));
	if (so->port)
		json_object_set_new(sb, "port", json_string(so->port));
	if (so->slot)
		json_object_set_new(sb, "primary_slot_name", json_string(so->slot));
	if (so->restore)
		json_object_set_new(sb, "restore_command", json_string(so->restore));
	ctl_printf(stderr,
	           "%s: the leader stops accepting writes, stops cleanly and follows %s; the site "
	           "becomes a standby cluster.\n",
	           s->conn.scope, so->host);
	if (!ctl_confirm(&so->o, "Demote this site?")) {
		json_decref(sb);
		return CTL_EXIT_FAILED;
	}
	json_t *body = json_object();
	json_object_set_new(body, "standby_cluster", sb);
	bool offline = !ctl_target_member(&s->view, true);
	int rc = patch(so, s, body, "demote-cluster");
	if (rc != CTL_EXIT_OK || offline)
		return rc; /* offline: its members start as a standby cluster */
	if (!wait_for(so, s, pred_standby_leader, NULL, so->wait_ms)) {
		ctl_printf(stderr,
		           "tandemctl: %s: the leader is not a standby leader after %ld s\n",
		           s->conn.scope, so->wait_ms / 1000);
		return CTL_EXIT_FAILED;
	}
	ctl_printf(stderr, "%s: a standby cluster, %s its standby leader\n", s->conn.scope,
	           s->view.leader);
	return CTL_EXIT_OK;
}

/* ---- site-switchover ---- */

typedef struct replay_goal {
	uint64_t lsn;
	int64_t timeline;
	bool beyond;            /* the target replayed past it: refuse */
	bool published;         /* from the shutdown_checkpoint key */
	struct pg_conn *pg;     /* to the target's standby leader, kept between polls */
	int64_t agent_timeline; /* its agent's timeline (0: not asked yet; -1: unknown) */
} replay_goal;

/* The standby leader's replay position and timeline straight from its PostgreSQL (its REST
 * API reports them once a loop_wait); false when it cannot be asked. */
static bool replay_direct(site *s, replay_goal *g, leader_pos *p)
{
	const dcs_member *m = s->view.leader ? dcs_view_member(&s->view, s->view.leader) : NULL;
	if (!m || !ctl_site_replay(m->conn_url, s->file, &g->pg, &p->lsn, &p->timeline))
		return false;
	p->known = true;
	return true;
}

static bool pred_replayed(const site_opts *so, site *s, void *ud)
{
	replay_goal *g = ud;
	leader_pos p = {0};
	if (replay_direct(s, g, &p)) {
		/* Over SQL the timeline is the WAL receiver's, or the last restartpoint's once the
		 * receiver has gone (an older one when none ran since a new timeline): the agent's,
		 * which never goes back, is asked once. */
		if (!g->agent_timeline) {
			leader_pos r = leader_position(so, s);
			g->agent_timeline = r.known ? r.timeline : -1;
		}
		if (g->agent_timeline > p.timeline)
			p.timeline = g->agent_timeline;
	} else {
		p = leader_position(so, s);
	}
	if (!p.known || p.timeline != g->timeline)
		return false;
	g->beyond = p.lsn > g->lsn;
	return p.lsn >= g->lsn;
}

/* The old primary site back to primary: the target never reached its checkpoint. */
static int roll_back(const site_opts *so, site *from, const char *why)
{
	ctl_printf(stderr, "tandemctl: %s; promoting %s again\n", why, from->conn.scope);
	json_t *body = json_pack("{s:n, s:n}", "standby_cluster", "site_switchover");
	if (patch(so, from, body, "site-switchover (roll back)") != CTL_EXIT_OK ||
	    !wait_for(so, from, pred_primary, NULL, so->wait_ms))
		ctl_printf(stderr,
		           "tandemctl: %s did not become writable again: run tandemctl -c %s "
		           "promote-cluster\n",
		           from->conn.scope, from->file);
	return CTL_EXIT_FAILED;
}

/* Where the old primary site stopped: the shutdown checkpoint its leader published after the
 * demotion (a shutdown_checkpoint key written after the config change that demoted it, of the
 * same database), or else its standby leader's replay position once it runs again. */
static bool pred_stopped(const site_opts *so, site *s, void *ud)
{
	replay_goal *g = ud;
	const dcs_view *v = &s->view;
	dcs_ckpt c;
	char *err = NULL;
	if (is_standby(s) && v->shutdown_checkpoint &&
	    v->shutdown_checkpoint_revision > v->config.mod_revision &&
	    dcs_ckpt_decode(v->shutdown_checkpoint, &c, &err) == 0 && v->sysid &&
	    !strcmp(c.sysid, v->sysid)) {
		g->lsn = c.end;
		g->timeline = c.timeline;
		g->published = true;
		return true;
	}
	free(err);
	if (!pred_standby_leader(so, s, NULL))
		return false;
	leader_pos fp = leader_position(so, s);
	g->lsn = fp.lsn;
	g->timeline = fp.timeline;
	return fp.known;
}

/* `g`: what is already known of the target (its SQL connection, its agent's timeline), or
 * zeroes. */
static int finish_switch(const site_opts *so, site *from, site *to, uint64_t t0, replay_goal g)
{
	if (!wait_for(so, from, pred_stopped, &g, so->wait_ms)) {
		ctl_site_replay_close(&g.pg);
		return roll_back(so, from, "the old primary site did not stop cleanly in time");
	}
	char *goal = ctl_lsn_text(g.lsn);
	ctl_printf(stderr,
	           "%s stopped cleanly at %s (timeline %" PRId64 ", %s); waiting for %s to "
	           "replay exactly up to it\n",
	           from->conn.scope, goal, g.timeline,
	           g.published ? "its published shutdown checkpoint"
	                       : "its standby leader's position",
	           to->conn.scope);
	free(goal);
	bool replayed = wait_for(so, to, pred_replayed, &g, so->wait_ms);
	ctl_site_replay_close(&g.pg);
	if (!replayed)
		return roll_back(so, from,
		                 "the target site did not replay the old primary's "
		                 "last record in time");
	if (g.beyond)
		return roll_back(so, from,
		                 "the target site replayed beyond the old primary's "
		                 "shutdown checkpoint: the sites are not what they seem");
	uint64_t t1 = clock_mono_ms();
	json_t *body = json_pack("{s:n, s:n}", "standby_cluster", "site_switchover");
	int rc = patch(so, to, body, "site-switchover (promote)");
	if (rc != CTL_EXIT_OK)
		return roll_back(so, from, "the target site refused its promotion");
	if (!wait_for(so, to, pred_primary, NULL, so->wait_ms)) {
		ctl_printf(stderr,
		           "tandemctl: %s was promoted but has no writable leader yet; run "
		           "the same command again\n",
		           to->conn.scope);
		return CTL_EXIT_FAILED;
	}
	uint64_t t2 = clock_mono_ms();
	json_t *done = json_pack("{s:n}", "site_switchover");
	patch(so, from, done, "site-switchover (done)");
	ctl_printf(stderr,
	           "%s is the primary site (%s writable); %s follows it. No write was acknowledged "
	           "between the demotion and the promotion: %.2f s without a writable site (%.2f "
	           "s promoting)\n",
	           to->conn.scope, to->view.leader, from->conn.scope, (double)(t2 - t0) / 1000.0,
	           (double)(t2 - t1) / 1000.0);
	return CTL_EXIT_OK;
}

static int switchover(const site_opts *so, site *from, site *to)
{
	char *dup = ctl_site_shared_names(&from->view, &to->view);
	if (dup) {
		ctl_printf(stderr,
		           "tandemctl: member name(s) %s used in both %s and %s: names must be "
		           "unique across the sites (a standby with a primary-site member's "
		           "application_name could count as its synchronous standby); rename the "
		           "members of one site (their `name`) before switching\n",
		           dup, from->conn.scope, to->conn.scope);
		free(dup);
		return CTL_EXIT_FAILED;
	}
	bool fs = is_standby(from), ts = is_standby(to);
	if (!from->view.sysid || !to->view.sysid || strcmp(from->view.sysid, to->view.sysid)) {
		ctl_printf(stderr,
		           "tandemctl: %s and %s are not copies of one database (system "
		           "identifiers %s and %s)\n",
		           from->conn.scope, to->conn.scope,
		           from->view.sysid ? from->view.sysid : "?",
		           to->view.sysid ? to->view.sysid : "?");
		return CTL_EXIT_FAILED;
	}
	if (!fs && !ts) {
		ctl_printf(stderr,
		           "tandemctl: both %s and %s are primary sites: stop one of them "
		           "(demote-cluster) before anything else\n",
		           from->conn.scope, to->conn.scope);
		return CTL_EXIT_FAILED;
	}
	if (fs && !ts) {
		ctl_printf(stderr,
		           "%s is already the primary site and %s its standby: nothing to do\n",
		           to->conn.scope, from->conn.scope);
		json_t *done = json_pack("{s:n}", "site_switchover");
		patch(so, from, done, "site-switchover (done)");
		return CTL_EXIT_OK;
	}
	uint64_t t0 = clock_mono_ms();
	if (fs && ts) {
		/* A run stopped after the demotion: both standby. Only when the marker says so. */
		const char *raw = from->view.has_config ? from->view.config.raw : NULL;
		json_t *cfg = raw ? json_loads(raw, 0, NULL) : NULL;
		const char *marked = jstr(json_object_get(cfg, "site_switchover"), "to");
		bool ours = marked && !strcmp(marked, to->conn.scope);
		json_decref(cfg);
		if (!ours) {
			ctl_printf(stderr,
			           "tandemctl: both sites are standby clusters and %s's config "
			           "does not say it is switching to %s: promote the right one "
			           "with promote-cluster\n",
			           from->conn.scope, to->conn.scope);
			return CTL_EXIT_FAILED;
		}
		ctl_printf(stderr, "resuming the switch from %s to %s\n", from->conn.scope,
		           to->conn.scope);
		/* The run before may have stopped right after the demotion: its leader may still
		 * be stopping, its position not yet that of the shutdown checkpoint (finish_switch
		 * waits for it). */
		return finish_switch(so, from, to, t0, (replay_goal){0});
	}
	/* Fresh: the target must be a healthy standby of the primary site. */
	leader_pos tp = leader_position(so, to);
	if (!tp.known || strcmp(tp.role, "standby_leader") || !tp.streaming) {
		ctl_printf(stderr,
		           "tandemctl: %s has no standby leader streaming from %s: it could not "
		           "receive the last record; not switching\n",
		           to->conn.scope, from->conn.scope);
		return CTL_EXIT_FAILED;
	}
	ctl_printf(stderr,
	           "%s stops accepting writes and follows %s; %s is promoted once it has replayed "
	           "%s's last record.\n",
	           from->conn.scope, to->conn.scope, to->conn.scope, from->conn.scope);
	if (!ctl_confirm(&so->o, "Switch the primary site?"))
		return CTL_EXIT_FAILED;
	/* Connected to the target's standby leader before the demotion: from then on every
	 * moment counts. */
	replay_goal g = {.agent_timeline = tp.timeline};
	leader_pos warm;
	replay_direct(to, &g, &warm);
	t0 = clock_mono_ms();
	json_t *body = json_object();
	json_object_set_new(body, "standby_cluster", standby_of(to));
	json_object_set_new(body, "site_switchover",
	                    json_pack("{s:s, s:I}", "to", to->conn.scope, "started_unix_ms",
	                              (json_int_t)clock_unix_ms()));
	int rc = patch(so, from, body, "site-switchover (demote)");
	if (rc != CTL_EXIT_OK) {
		ctl_site_replay_close(&g.pg);
		return rc;
	}
	return finish_switch(so, from, to, t0, g);
}

/* ---- the command line ---- */

static const char usage[] =
    "usage: tandemctl -c SITE.yml promote-cluster [--force] [--timeout S]\n"
    "       tandemctl -c SITE.yml demote-cluster --host HOST[,HOST...] [--port PORT[,PORT...]]\n"
    "                 [--primary-slot-name NAME] [--restore-command CMD] [--force]\n"
    "       tandemctl site-switchover --from A.yml --to B.yml [--force] [--timeout S]\n"
    "\n"
    "promote-cluster: the standby site becomes writable (its standby_cluster is removed); it\n"
    "  prints how far it had replayed first. For a disaster: the primary site is gone.\n"
    "demote-cluster: the site becomes a standby cluster of HOSTs (its leader stops cleanly and\n"
    "  follows them).\n"
    "site-switchover: the planned switch: FROM stops cleanly, TO is promoted once it has\n"
    "  replayed FROM's shutdown checkpoint exactly; nothing acknowledged is lost and FROM\n"
    "  follows TO without pg_rewind. Run again after an interruption: it completes the switch,\n"
    "  or promotes FROM back when TO cannot reach the checkpoint.\n"
    "--timeout S: how long each step may take (default 60).\n";

int ctl_site_main(int argc, char **argv)
{
	site_opts so;
	memset(&so, 0, sizeof so);
	so.o.timeout_ms = 10000;
	so.wait_ms = 60000;
	const char *config = getenv("TANDEMCTL_CONFIG");
	static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
	                                     {"from", required_argument, NULL, 'f'},
	                                     {"to", required_argument, NULL, 't'},
	                                     {"host", required_argument, NULL, 'H'},
	                                     {"port", required_argument, NULL, 'p'},
	                                     {"primary-slot-name", required_argument, NULL, 's'},
	                                     {"restore-command", required_argument, NULL, 'r'},
	                                     {"force", no_argument, NULL, 'F'},
	                                     {"timeout", required_argument, NULL, 'T'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'f':
			so.from = optarg;
			break;
		case 't':
			so.to = optarg;
			break;
		case 'H':
			so.host = optarg;
			break;
		case 'p':
			so.port = optarg;
			break;
		case 's':
			so.slot = optarg;
			break;
		case 'r':
			so.restore = optarg;
			break;
		case 'F':
			so.o.force = true;
			break;
		case 'T': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > 86400) {
				fprintf(stderr,
				        "tandemctl: --timeout: whole seconds, 1 to 86400\n");
				return CTL_EXIT_USAGE;
			}
			so.wait_ms = v * 1000;
			break;
		}
		case 'h':
			fputs(usage, stdout);
			return CTL_EXIT_OK;
		default:
			fputs(usage, stderr);
			return CTL_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fputs(usage, stderr);
		return CTL_EXIT_USAGE;
	}
	const char *cmd = argv[optind];
	int rc;
	if (!so.o.force && (rc = ctl_need_terminal(&so.o, cmd)) != CTL_EXIT_OK)
		return rc;
	if (!strcmp(cmd, "site-switchover")) {
		if (!so.from || !so.to) {
			fputs("tandemctl: site-switchover needs --from FILE and --to FILE\n",
			      stderr);
			return CTL_EXIT_USAGE;
		}
		site from, to;
		rc = site_open(&from, so.from, so.o.timeout_ms);
		if (rc == CTL_EXIT_OK)
			rc = site_open(&to, so.to, so.o.timeout_ms);
		else
			memset(&to, 0, sizeof to);
		if (rc == CTL_EXIT_OK)
			rc = switchover(&so, &from, &to);
		site_close(&from);
		site_close(&to);
		return rc;
	}
	if (!config) {
		fprintf(stderr, "tandemctl: %s needs -c SITE.yml\n", cmd);
		return CTL_EXIT_USAGE;
	}
	site s;
	rc = site_open(&s, config, so.o.timeout_ms);
	if (rc == CTL_EXIT_OK)
		rc = !strcmp(cmd, "promote-cluster") ? promote(&so, &s) : demote(&so, &s);
	site_close(&s);
	return rc;
}
