/* Site awareness: the synchronous standbys' site policy (site.h) as a table; and, over the role
 * decision (ha.h rule 4) and the whole plan, exhaustively, that preferring the last leader's
 * site never lets a member lead that could not without sites, changes nothing once a TTL has
 * passed without a leader, and never leaves a fit cluster without a leader beyond that bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dcs_codec.h"
#include "plan.h"
#include "site.h"

enum { NOW = 1000000, TTL = 30000, LOOP = 10000, RETRY = 10000 };

/* ---- the synchronous site policy ---- */

static const site_candidate cands[] = {
    {"a1", "A", 100, 0}, {"a2", "A", 90, 0},   {"b1", "B", 80, 0},
    {"b2", "B", 95, 0},  {"n1", NULL, 120, 0},
};

typedef struct pick_row {
	const char *policy; /* NULL: absent */
	const char *leader_site;
	size_t want;
	const char *current; /* one candidate already synchronous (in `sync`); NULL: none */
	const char *expect;  /* the names picked, in order, space-separated */
} pick_row;

static const pick_row pick_rows[] = {
    {NULL, "A", 1, NULL, "n1"},
    {NULL, "A", 2, NULL, "n1 a1"},
    {NULL, "A", 1, "b1", "b1"},
    {"local_only", "A", 1, NULL, "a1"},
    {"local_only", "A", 3, NULL, "a1 a2"},
    {"local_only", "A", 1, "b2", "a1"},
    {"remote_only", "A", 1, NULL, "b2"},
    {"remote_only", "A", 3, NULL, "b2 b1"},
    {"remote_only", "A", 1, "b1", "b1"},
    {"remote_only", "A", 1, "a1", "b2"},
    {"remote_only", "B", 2, NULL, "a1 a2"},
    {"remote_only", NULL, 2, NULL, ""},
    {"prefer_local", "A", 3, NULL, "a1 a2 b2"},
    {"prefer_local", "A", 5, NULL, "a1 a2 b2 b1 n1"},
    {"prefer_local", "C", 1, NULL, "a1"},
    {"prefer_remote", "A", 1, NULL, "b2"},
    {"prefer_remote", "A", 3, NULL, "b2 b1 a1"},
    {"prefer_remote", "A", 1, "a1", "b2"},
    {"prefer_remote", NULL, 1, NULL, "n1"},
    {"balanced", "A", 2, NULL, "b2 a1"},
    {"balanced", "A", 4, NULL, "b2 a1 b1 a2"},
    {"balanced", "A", 5, NULL, "b2 a1 b1 a2 n1"},
    {"balanced", "A", 2, "a2", "b2 a2"},
};

static void test_sync_pick_table(void **state)
{
	(void)state;
	enum { N = sizeof cands / sizeof cands[0] };
	for (size_t r = 0; r < sizeof pick_rows / sizeof pick_rows[0]; r++) {
		const pick_row *row = &pick_rows[r];
		site_candidate c[N];
		memcpy(c, cands, sizeof c);
		for (size_t i = 0; i < N; i++)
			if (row->current && !strcmp(c[i].name, row->current))
				c[i].current = 2;
		site_policy p;
		assert_int_equal(site_policy_parse(row->policy, &p), 0);
		size_t out[N];
		size_t k = site_sync_pick(p, row->leader_site, c, N, row->want, out);
		char got[64] = "";
		for (size_t i = 0; i < k; i++) {
			strcat(got, i ? " " : "");
			strcat(got, c[out[i]].name);
		}
		if (strcmp(got, row->expect) != 0)
			fail_msg("row %zu (%s, leader in %s, want %zu): picked '%s', want '%s'", r,
			         row->policy ? row->policy : "absent",
			         row->leader_site ? row->leader_site : "-", row->want, got,
			         row->expect);
	}
}

/* With a remote policy, whatever the candidates, every standby picked is in another site. */
static void test_remote_only_never_local(void **state)
{
	(void)state;
	const char *sites[] = {NULL, "A", "B"};
	for (unsigned combo = 0; combo < 3 * 3 * 3 * 3; combo++) {
		site_candidate c[4];
		unsigned x = combo;
		for (size_t i = 0; i < 4; i++, x /= 3)
			c[i] = (site_candidate){"m", sites[x % 3], 10 * i, (unsigned)(i % 3)};
		size_t out[4];
		size_t k = site_sync_pick(SITE_POLICY_REMOTE_ONLY, "A", c, 4, 4, out);
		size_t remote = 0;
		for (size_t i = 0; i < 4; i++)
			remote += c[i].site && !strcmp(c[i].site, "B");
		assert_int_equal(k, remote);
		for (size_t i = 0; i < k; i++)
			assert_string_equal(c[out[i]].site, "B");
		/* prefer_remote picks the same first, then the others */
		size_t out2[4];
		size_t k2 = site_sync_pick(SITE_POLICY_PREFER_REMOTE, "A", c, 4, 4, out2);
		assert_int_equal(k2, 4);
		for (size_t i = 0; i < k; i++)
			assert_string_equal(c[out2[i]].site, "B");
	}
}

static void test_policy_names(void **state)
{
	(void)state;
	/* Which members the *_only policies allow at all (strict mode waits for them by name). */
	assert_true(site_policy_allows(SITE_POLICY_REMOTE_ONLY, "A", "B"));
	assert_false(site_policy_allows(SITE_POLICY_REMOTE_ONLY, "A", "A"));
	assert_false(site_policy_allows(SITE_POLICY_REMOTE_ONLY, "A", NULL));
	assert_false(site_policy_allows(SITE_POLICY_REMOTE_ONLY, NULL, "B"));
	assert_true(site_policy_allows(SITE_POLICY_LOCAL_ONLY, "A", "A"));
	assert_false(site_policy_allows(SITE_POLICY_LOCAL_ONLY, "A", "B"));
	assert_true(site_policy_allows(SITE_POLICY_PREFER_REMOTE, "A", "A"));
	assert_true(site_policy_allows(SITE_POLICY_BALANCED, "A", NULL));
	assert_true(site_policy_allows(SITE_POLICY_ANY, NULL, NULL));
	site_policy p;
	for (int i = SITE_POLICY_ANY + 1; i <= SITE_POLICY_BALANCED; i++) {
		assert_int_equal(site_policy_parse(site_policy_name((site_policy)i), &p), 0);
		assert_int_equal(p, i);
	}
	assert_int_equal(site_policy_parse(NULL, &p), 0);
	assert_int_equal(p, SITE_POLICY_ANY);
	assert_int_equal(site_policy_parse("remote", &p), -1);
	assert_int_equal(site_policy_parse("", &p), -1);
	assert_string_equal(site_policy_name((site_policy)99), "?");
}

/* ---- the role decision, exhaustively: two running replicas and no leader ---- */

typedef struct model {
	const char *name, *site;
	uint64_t lsn;
	bool nofailover, in_sync;
} model;

typedef struct world {
	const char *leader_site;
	bool sync_mode;
	uint64_t last_lsn;
	uint64_t leaderless_ms;
	const char *failover_to;
} world;

static ha_decision decide_for(const model *self, const model *other, const world *w, bool sites)
{
	ha_config cfg = {.name = self->name,
	                 .nofailover = self->nofailover,
	                 .site = sites ? self->site : NULL,
	                 .ttl_ms = TTL,
	                 .loop_wait_ms = LOOP,
	                 .retry_timeout_ms = RETRY,
	                 .maximum_lag_on_failover = 1048576,
	                 .max_restarts = 3};
	ha_member m = {.name = other->name,
	               .nofailover = other->nofailover,
	               .reachable = true,
	               .lsn = other->lsn,
	               .site = sites ? other->site : NULL};
	const char *sync[2];
	size_t nsync = 0;
	if (self->in_sync)
		sync[nsync++] = self->name;
	if (other->in_sync)
		sync[nsync++] = other->name;
	ha_cluster cl = {.dcs_ok = true,
	                 .initialized = true,
	                 .leader_site = sites ? w->leader_site : NULL,
	                 .last_leader_lsn = w->last_lsn,
	                 .synchronous_mode = w->sync_mode,
	                 .sync = sync,
	                 .nsync = nsync,
	                 .failover_to = w->failover_to,
	                 .members = &m,
	                 .nmembers = 1};
	ha_local lo = {.pg = HA_PG_REPLICA, .lsn = self->lsn, .upstream = "gone"};
	ha_clock clk = {.now_ms = NOW,
	                .lease_expiry_ms = NOW + TTL,
	                .leaderless_ms = sites ? w->leaderless_ms : 0};
	return ha_decide(&cfg, &cl, &lo, &clk);
}

static bool takes(ha_decision d)
{
	return d.action == HA_TAKE_LEADER;
}

static void check_world(const model *x, const model *y, const world *w)
{
	ha_decision xs = decide_for(x, y, w, true), xn = decide_for(x, y, w, false);
	ha_decision ys = decide_for(y, x, w, true), yn = decide_for(y, x, w, false);
	const char *why = NULL;
	/* Sites only ever hold a member back: the safety rules hold as without them. */
	if ((takes(xs) && !takes(xn)) || (takes(ys) && !takes(yn)))
		why = "took the key only because of the sites";
	/* The bound: a TTL without a leader, and the sites change nothing. */
	else if (w->leaderless_ms >= TTL && (xs.action != xn.action || ys.action != yn.action))
		why = "the site wait outlived a TTL without a leader";
	/* Liveness: someone who would lead without sites still means someone leads. */
	else if ((takes(xn) || takes(yn)) && !takes(xs) && !takes(ys))
		why = "a fit cluster left without a leader";
	/* And the preference itself: both fit, only x in the last leader's site. */
	else if (takes(xn) && takes(yn) && w->leader_site && w->leaderless_ms < TTL && x->site &&
	         !strcmp(x->site, w->leader_site) &&
	         !(y->site && !strcmp(y->site, w->leader_site)) && (!takes(xs) || takes(ys)))
		why = "the last leader's site did not go first";
	if (why)
		fail_msg("%s: x %s@%s lsn %llu nf %d sync %d, y %s@%s lsn %llu nf %d sync %d, "
		         "leader site %s, sync mode %d, last %llu, leaderless %llu, failover %s: "
		         "x %s (%s), y %s (%s)",
		         why, x->name, x->site ? x->site : "-", (unsigned long long)x->lsn,
		         x->nofailover, x->in_sync, y->name, y->site ? y->site : "-",
		         (unsigned long long)y->lsn, y->nofailover, y->in_sync,
		         w->leader_site ? w->leader_site : "-", w->sync_mode,
		         (unsigned long long)w->last_lsn, (unsigned long long)w->leaderless_ms,
		         w->failover_to ? w->failover_to : "-", ha_action_name(xs.action),
		         xs.reason, ha_action_name(ys.action), ys.reason);
}

static void test_site_preference_exhaustive(void **state)
{
	(void)state;
	const char *sites[] = {NULL, "A", "B"};
	const uint64_t lsns[][2] = {{100, 100}, {100, 90}, {90, 100}};
	const uint64_t lasts[] = {0, 100 + 1048576 - 5};
	const uint64_t waits[] = {0, TTL / 2, TTL - 1, TTL, 3 * TTL};
	const char *failovers[] = {NULL, "x", "y"};
	for (unsigned i = 0; i < 3 * 3 * 3 * 3 * 32 * 2 * 5 * 3; i++) {
		unsigned v = i;
		const char *xsite = sites[v % 3], *ysite = sites[(v /= 3) % 3];
		const char *lsite = sites[(v /= 3) % 3];
		const uint64_t *lsn = lsns[(v /= 3) % 3];
		unsigned bits = (v /= 3) % 32;
		uint64_t last = lasts[(v /= 32) % 2], wait = waits[(v /= 2) % 5];
		const char *failover = failovers[(v /= 5) % 3];
		model x = {"x", xsite, lsn[0], bits & 1, bits & 2};
		model y = {"y", ysite, lsn[1], bits & 4, bits & 8};
		world w = {lsite, bits & 16, last, wait, failover};
		check_world(&x, &y, &w);
	}
}

/* ---- the whole plan over time: the leader a1 (site A) is gone ---- */

typedef struct agent_sim {
	const char *name, *site;
	bool acts; /* false: frozen, its member key still says running */
	ha_memory mem;
} agent_sim;

static ha_step pass(agent_sim *a, const agent_sim *other, const char *leader, uint64_t now)
{
	ha_inputs in;
	memset(&in, 0, sizeof in);
	in.cfg = (ha_config){.name = a->name,
	                     .site = a->site,
	                     .ttl_ms = TTL,
	                     .loop_wait_ms = LOOP,
	                     .retry_timeout_ms = RETRY,
	                     .maximum_lag_on_failover = 1048576,
	                     .max_restarts = 3};
	ha_member m[2] = {{.name = other->name, .reachable = true, .lsn = 100, .site = other->site},
	                  {.name = "a1", .reachable = leader != NULL, .lsn = 100, .site = "A"}};
	in.cl = (ha_cluster){.dcs_ok = true,
	                     .initialized = true,
	                     .leader = leader,
	                     .leader_site = leader ? "A" : NULL,
	                     .members = m,
	                     .nmembers = leader ? 2 : 1};
	in.lo = (ha_local){.pg = HA_PG_REPLICA, .lsn = 100, .upstream = "a1"};
	in.now_ms = now;
	in.lease_expiry_ms = now + TTL;
	in.streaming = leader != NULL;
	ha_memory next;
	ha_step s = ha_plan(&in, &a->mem, &next);
	a->mem = next;
	return s;
}

/* Runs passes every 100 ms from the leader's end at NOW; returns who took the key and when. */
static const char *race(agent_sim *ag, uint64_t *at)
{
	for (int i = 0; i < 2; i++)
		(void)pass(&ag[i], &ag[!i], "a1", NOW - 1000);
	for (uint64_t t = NOW; t < NOW + 4 * TTL; t += 100)
		for (int i = 0; i < 2; i++) {
			if (!ag[i].acts)
				continue;
			ha_step s = pass(&ag[i], &ag[!i], NULL, t);
			if (s.action == HA_TAKE_LEADER) {
				*at = t;
				return ag[i].name;
			}
			/* A waiting member looks again within the bound, without a beat. */
			if (s.action == HA_WAIT && (!s.recheck_in_ms || s.recheck_in_ms > TTL))
				fail_msg("%s waits without a recheck at %llu: %s", ag[i].name,
				         (unsigned long long)(t - NOW), s.reason);
		}
	return NULL;
}

static void test_plan_site_race(void **state)
{
	(void)state;
	uint64_t at = 0;
	/* Both act: the leader's site wins, at once (after publishing positions). */
	agent_sim both[2] = {{"b1", "B", true, {0}}, {"a2", "A", true, {0}}};
	const char *w = race(both, &at);
	assert_non_null(w);
	assert_string_equal(w, "a2");
	assert_true(at < NOW + 1000);
	assert_string_equal(both[0].mem.last_leader_site, "A");
	/* The member in A is frozen (its key says running): B takes over once a TTL is over. */
	agent_sim frozen[2] = {{"b1", "B", true, {0}}, {"a2", "A", false, {0}}};
	w = race(frozen, &at);
	assert_non_null(w);
	assert_string_equal(w, "b1");
	assert_true(at >= NOW + TTL && at <= NOW + TTL + 1000);
	/* No sites at all: the first to race wins, at once. */
	agent_sim none[2] = {{"b1", NULL, true, {0}}, {"a2", NULL, true, {0}}};
	w = race(none, &at);
	assert_non_null(w);
	assert_true(at < NOW + 1000);
}

/* The memory keeps the last leader's site after its key is gone, and since when. */
static void test_plan_remembers_leader_site(void **state)
{
	(void)state;
	agent_sim ag[2] = {{"b1", "B", true, {0}}, {"a2", "A", true, {0}}};
	(void)pass(&ag[0], &ag[1], "a1", NOW);
	assert_string_equal(ag[0].mem.last_leader_site, "A");
	assert_int_equal(ag[0].mem.leaderless_since_ms, 0);
	/* Waiting or racing, our position is published first (the one further ahead wins). */
	ha_step s = pass(&ag[0], &ag[1], NULL, NOW + 5);
	assert_int_equal(s.action, HA_PUBLISH_POSITION);
	assert_int_equal(ag[0].mem.leaderless_since_ms, NOW + 5);
	s = pass(&ag[0], &ag[1], NULL, NOW + 205);
	assert_int_equal(s.action, HA_WAIT);
	assert_int_equal(s.recheck_in_ms, TTL - 200);
	s = pass(&ag[0], &ag[1], NULL, NOW + 5 + TTL - 300);
	assert_int_equal(s.action, HA_WAIT);
	assert_int_equal(s.recheck_in_ms, 300);
	assert_string_equal(ag[0].mem.last_leader_site, "A");
	s = pass(&ag[0], &ag[1], NULL, NOW + 5 + TTL);
	assert_int_equal(s.action, HA_TAKE_LEADER);
	/* A leader again: the count restarts. */
	(void)pass(&ag[0], &ag[1], "a1", NOW + 2 * TTL);
	assert_int_equal(ag[0].mem.leaderless_since_ms, 0);
}

/* An operator's reinit (plan rule 8) copies a replica of our site before crossing the link. */
static void test_plan_reinit_from_the_own_site(void **state)
{
	(void)state;
	const char *sites[] = {"B", NULL, "A"};
	const char *want[] = {"b2", "a1", "a1"};
	for (size_t i = 0; i < 3; i++) {
		ha_inputs in;
		memset(&in, 0, sizeof in);
		in.cfg = (ha_config){.name = "b1",
		                     .site = sites[i],
		                     .ttl_ms = TTL,
		                     .loop_wait_ms = LOOP,
		                     .retry_timeout_ms = RETRY,
		                     .max_restarts = 3};
		ha_member m[2] = {{.name = "a1", .reachable = true, .lsn = 9, .site = "A"},
		                  {.name = "b2", .reachable = true, .lsn = 5, .site = "B"}};
		in.cl = (ha_cluster){.dcs_ok = true,
		                     .initialized = true,
		                     .leader = "a1",
		                     .leader_site = "A",
		                     .members = m,
		                     .nmembers = 2};
		in.lo = (ha_local){.pg = HA_PG_REPLICA, .lsn = 5, .upstream = "a1"};
		in.now_ms = NOW;
		in.lease_expiry_ms = NOW + TTL;
		in.streaming = true;
		in.requests = HA_REQ_REINIT;
		ha_memory mem = {0}, next;
		ha_step s = ha_plan(&in, &mem, &next);
		assert_int_equal(s.action, HA_REINIT);
		assert_string_equal(s.target, want[i]);
		assert_int_equal(s.requests_done, HA_REQ_REINIT);
	}
}

/* ---- a switchover without a candidate ---- */

static void put(dcs_view *v, const char *key, const char *value)
{
	char full[128];
	snprintf(full, sizeof full, "/service/batman/%s", key);
	char *err = NULL;
	int rc = dcs_view_apply(v, full, strlen(full), value, strlen(value), 1, 0, &err);
	if (rc != 0)
		fail_msg("%s: %s", key, err ? err : "?");
}

static const char *choice(const dcs_view *v, const char *site, const char *only)
{
	const dcs_member *m = site_switchover_candidate(v, "a1", site, only);
	return m ? m->name : "-";
}

static void test_switchover_candidate(void **state)
{
	(void)state;
	dcs_view v;
	dcs_view_init(&v, NULL, "batman");
	put(&v, "members/a1",
	    "{\"state\":\"running\",\"xlog_location\":500,\"tags\":{\"site\":\"A\"}}");
	put(&v, "members/a2",
	    "{\"state\":\"running\",\"xlog_location\":100,\"tags\":{\"site\":\"A\"}}");
	put(&v, "members/b1",
	    "{\"state\":\"running\",\"xlog_location\":200,\"tags\":{\"site\":\"B\"}}");
	put(&v, "members/b2",
	    "{\"state\":\"running\",\"xlog_location\":300,"
	    "\"tags\":{\"site\":\"B\",\"nofailover\":true}}");
	assert_string_equal(choice(&v, "A", NULL), "a2");  /* our site, though behind */
	assert_string_equal(choice(&v, "B", NULL), "b1");  /* b2 is nofailover */
	assert_string_equal(choice(&v, NULL, NULL), "b1"); /* no site: furthest ahead */
	assert_string_equal(choice(&v, "C", NULL), "b1");
	assert_string_equal(choice(&v, "A", "b1"), "b1"); /* named: that one */
	assert_string_equal(choice(&v, "A", "b2"), "-");
	assert_string_equal(choice(&v, "A", "a1"), "-"); /* never ourselves */
	/* synchronous mode: only a synchronous standby, whatever its site */
	put(&v, "config", "{\"synchronous_mode\":true}");
	put(&v, "sync", "{\"leader\":\"a1\",\"sync_standby\":\"b1\"}");
	assert_string_equal(choice(&v, "A", NULL), "b1");
	put(&v, "config", "{}");
	/* the member of our site stopped: the other site */
	put(&v, "members/a2",
	    "{\"state\":\"stopped\",\"xlog_location\":100,\"tags\":{\"site\":\"A\"}}");
	assert_string_equal(choice(&v, "A", NULL), "b1");
	dcs_view_free(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sync_pick_table),
	    cmocka_unit_test(test_remote_only_never_local),
	    cmocka_unit_test(test_policy_names),
	    cmocka_unit_test(test_site_preference_exhaustive),
	    cmocka_unit_test(test_plan_site_race),
	    cmocka_unit_test(test_plan_remembers_leader_site),
	    cmocka_unit_test(test_switchover_candidate),
	    cmocka_unit_test(test_plan_reinit_from_the_own_site),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
