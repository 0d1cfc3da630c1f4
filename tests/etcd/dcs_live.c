/* The live test of tandemd's DCS layer (src/tandemd/dcs/dcs.h) against a real etcd, run by
 * tests/integration/test_dcs.py.
 *
 *   dcs_live race ENDPOINT DEAD SCOPE   two members m1 and m2 race for the keys (prints "ok STEP")
 *   dcs_live write ENDPOINT SCOPE TTL   leaves a Patroni-shaped cluster (leader m1, members m1
 *                                       and m2) in etcd and prints m2's view as one JSON line
 *                                       "VIEW {...}" for the test to compare with etcdctl
 *   dcs_live read ENDPOINT SCOPE        prints the view of what is there (e.g. written by
 *                                       patronictl) as "VIEW {...}"
 *   dcs_live outage ENDPOINT SCOPE      prints "READY" after the first read, then waits (60 s at
 *                                       most) for the leader key to read "a" then "b" while the
 *                                       test restarts etcd: the broken watch must be followed
 *                                       by a new range and a new watch
 *
 * Exits 0 only if every check passed. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "dcs.h"
#include "live.h"
#include "log.h"

typedef struct member {
	const char *name;
	etcd *e;
	dcs *d;
	int changes;
} member;

typedef struct done {
	bool done;
	dcs_result r;
	char *error;
	uint64_t sent_ms;
	int64_t ttl_s;
} done;

static void on_done(dcs_result r, const char *error, void *ud)
{
	done *x = ud;
	x->done = true;
	x->r = r;
	free(x->error);
	x->error = error ? strdup(error) : NULL;
}

static void on_ka(dcs_result r, const char *error, uint64_t sent_ms, int64_t ttl_s, void *ud)
{
	done *x = ud;
	on_done(r, error, ud);
	x->sent_ms = sent_ms;
	x->ttl_s = ttl_s;
}

static void on_change(const dcs_view *v, void *ud)
{
	(void)v;
	member *m = ud;
	m->changes++;
}

static void noop(uv_timer_t *t)
{
	(void)t;
}

/* Runs the loop until pred(arg) or `ms` passed. */
static bool wait_for(bool (*pred)(void *), void *arg, uint64_t ms)
{
	uint64_t end = now_ms() + ms;
	uv_timer_t t;
	uv_timer_init(live_loop, &t);
	while (!pred(arg) && now_ms() < end) {
		uv_timer_start(&t, noop, 10, 0);
		uv_run(live_loop, UV_RUN_ONCE);
	}
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(live_loop, UV_RUN_NOWAIT);
	return pred(arg);
}

static bool is_done(void *arg)
{
	return ((done *)arg)->done;
}

static bool both_done(void *arg)
{
	done *x = arg;
	return x[0].done && x[1].done;
}

static bool wait_done(done *x, uint64_t ms)
{
	return wait_for(is_done, x, ms);
}

static void reset(done *x)
{
	free(x->error);
	memset(x, 0, sizeof(*x));
}

static bool ready(void *arg)
{
	return dcs_view_ready(((member *)arg)->d);
}

typedef struct leader_is {
	member *m;
	const char *name; /* NULL: no leader */
} leader_is;

static bool leader_matches(void *arg)
{
	leader_is *l = arg;
	const char *cur = dcs_get_view(l->m->d)->leader;
	if (!l->name)
		return cur == NULL;
	return cur && !strcmp(cur, l->name);
}

static bool wait_leader(member *m, const char *name, uint64_t ms)
{
	leader_is l = {m, name};
	return wait_for(leader_matches, &l, ms);
}

static void member_open(member *m, const char *name, const char *endpoint, const char *scope,
                        int64_t ttl, uint64_t timeout_ms)
{
	memset(m, 0, sizeof(*m));
	m->name = name;
	const char *eps[] = {endpoint};
	etcd_config ec = {.endpoints = eps, .nendpoints = 1, .connect_timeout_ms = 1000};
	char *err = NULL;
	m->e = etcd_new(live_loop, &ec, &err);
	if (!m->e) {
		printf("FAIL etcd_new: %s\n", err);
		exit(1);
	}
	dcs_config dc = {.etcd = m->e,
	                 .namespace_ = NULL,
	                 .scope = scope,
	                 .name = name,
	                 .ttl_s = ttl,
	                 .retry_timeout_ms = timeout_ms,
	                 .on_change = on_change,
	                 .ud = m};
	m->d = dcs_new(live_loop, &dc, &err);
	if (!m->d) {
		printf("FAIL dcs_new: %s\n", err);
		exit(1);
	}
	dcs_start(m->d);
}

static void member_close(member *m)
{
	dcs_free(m->d);
	etcd_free(m->e);
}

static dcs_result sync_op(member *m, void (*fn)(dcs *, dcs_cb, void *), const char *what)
{
	done x = {0};
	fn(m->d, on_done, &x);
	CHECK(wait_done(&x, 10000), "%s %s: no answer", m->name, what);
	dcs_result r = x.r;
	reset(&x);
	return r;
}

static void touch(member *m, const char *role, uint64_t lsn)
{
	char *url = xasprintf("postgres://127.0.0.1:54%02d/postgres", m->name[1] - '0');
	char *api = xasprintf("http://127.0.0.1:80%02d/patroni", m->name[1] - '0');
	dcs_member_info mi = {.conn_url = url,
	                      .api_url = api,
	                      .state = "running",
	                      .role = role,
	                      .version = "3.2.2",
	                      .has_lsn = true,
	                      .xlog_location = lsn,
	                      .timeline = 1};
	if (!strcmp(role, "replica"))
		mi.replication_state = "streaming";
	char *v = dcs_encode_member(&mi);
	done x = {0};
	dcs_touch_member(m->d, v, on_done, &x);
	CHECK(wait_done(&x, 10000) && x.r == DCS_OK, "touch %s: %s", m->name,
	      x.error ? x.error : "");
	reset(&x);
	free(v);
	free(url);
	free(api);
}

static void step(const char *name)
{
	static int failures_before;
	if (live_failures == failures_before)
		printf("ok %s\n", name);
	failures_before = live_failures;
}

static int suite_race(const char *endpoint, const char *dead, const char *scope)
{
	member ms[2];
	member_open(&ms[0], "m1", endpoint, scope, 5, 3000);
	member_open(&ms[1], "m2", endpoint, scope, 5, 3000);
	CHECK(wait_for(ready, &ms[0], 5000) && wait_for(ready, &ms[1], 5000), "first read");
	CHECK(ms[0].changes >= 1, "on_change after the first read");
	step("start");

	done g[2] = {{0}, {0}};
	dcs_lease_grant(ms[0].d, on_done, &g[0]);
	dcs_lease_grant(ms[1].d, on_done, &g[1]);
	CHECK(wait_for(both_done, g, 5000) && g[0].r == DCS_OK && g[1].r == DCS_OK, "grant");
	CHECK(dcs_lease_id(ms[0].d) != 0 && dcs_lease_id(ms[1].d) != 0 &&
	          dcs_lease_id(ms[0].d) != dcs_lease_id(ms[1].d),
	      "lease ids");
	reset(&g[0]);
	reset(&g[1]);
	touch(&ms[0], "replica", 100);
	touch(&ms[1], "replica", 100);
	step("lease_and_members");

	/* both race for the leader key at once */
	done a[2] = {{0}, {0}};
	dcs_acquire_leader(ms[0].d, on_done, &a[0]);
	dcs_acquire_leader(ms[1].d, on_done, &a[1]);
	CHECK(wait_for(both_done, a, 5000), "acquire answers");
	int winners = (a[0].r == DCS_OK) + (a[1].r == DCS_OK);
	int losers = (a[0].r == DCS_LOST) + (a[1].r == DCS_LOST);
	CHECK(winners == 1 && losers == 1, "exactly one winner: %s/%s", dcs_result_name(a[0].r),
	      dcs_result_name(a[1].r));
	member *w = a[0].r == DCS_OK ? &ms[0] : &ms[1];
	member *l = w == &ms[0] ? &ms[1] : &ms[0];
	reset(&a[0]);
	reset(&a[1]);
	uint64_t t0 = now_ms();
	CHECK(wait_leader(l, w->name, 1000), "the loser sees the leader within a second");
	CHECK(wait_leader(w, w->name, 1000), "the winner sees itself");
	printf("leader %s seen by %s after %llu ms\n", w->name, l->name,
	       (unsigned long long)(now_ms() - t0));
	CHECK(dcs_get_view(l->d)->leader_lease == dcs_lease_id(w->d), "leader lease in the view");
	step("acquire_race");

	/* renew by the holder */
	done k = {0};
	uint64_t before = clock_mono_ms();
	int64_t rev0 = dcs_get_view(l->d)->leader_mod_revision;
	dcs_renew_leader(w->d, on_ka, &k);
	CHECK(wait_done(&k, 5000) && k.r == DCS_OK, "renew by holder: %s", k.error ? k.error : "");
	CHECK(k.sent_ms >= before && k.sent_ms <= clock_mono_ms(), "sent_ms in range");
	CHECK(k.ttl_s > 0 && k.ttl_s <= 5, "ttl %lld", (long long)k.ttl_s);
	reset(&k);
	run_for(300);
	CHECK(dcs_get_view(l->d)->leader_mod_revision > rev0, "renew touched the key");
	step("renew_holder");

	/* renew and release by the non-holder fail and change nothing */
	int64_t rev1 = dcs_get_view(l->d)->leader_mod_revision;
	dcs_renew_leader(l->d, on_ka, &k);
	CHECK(wait_done(&k, 5000) && k.r == DCS_LOST, "renew by non-holder: %s",
	      dcs_result_name(k.r));
	reset(&k);
	CHECK(sync_op(l, dcs_release_leader, "release") == DCS_LOST, "release by non-holder");
	CHECK(sync_op(l, dcs_acquire_leader, "acquire") == DCS_LOST, "acquire while held");
	run_for(300);
	CHECK(dcs_get_view(l->d)->leader && !strcmp(dcs_get_view(l->d)->leader, w->name) &&
	          dcs_get_view(l->d)->leader_mod_revision == rev1,
	      "leader unchanged");
	CHECK(dcs_get_view(w->d)->leader_mod_revision == rev1, "leader unchanged for the holder");
	step("non_holder_refused");

	/* The holder restarts (a new process, a new lease) while its key still lives on the old
	 * lease: its first renewal moves the key onto the new lease. */
	{
		member again;
		member_open(&again, w->name, endpoint, scope, 5, 3000);
		CHECK(wait_leader(&again, w->name, 2000), "the restarted holder sees its key");
		CHECK(sync_op(&again, dcs_lease_grant, "grant") == DCS_OK, "grant after restart");
		dcs_renew_leader(again.d, on_ka, &k);
		CHECK(wait_done(&k, 5000) && k.r == DCS_OK, "renew adopts the key: %s",
		      k.error ? k.error : "");
		reset(&k);
		run_for(300);
		CHECK(dcs_get_view(l->d)->leader_lease == dcs_lease_id(again.d),
		      "the key is on the new lease");
		member_close(&again);
		/* ...and back, so that the steps below find it where they expect it */
		dcs_renew_leader(w->d, on_ka, &k);
		CHECK(wait_done(&k, 5000) && k.r == DCS_OK, "renew by the first holder");
		reset(&k);
		run_for(300);
		CHECK(dcs_get_view(l->d)->leader_lease == dcs_lease_id(w->d), "back on its lease");
	}
	step("restarted_holder_adopts");

	/* initialize: create-if-absent */
	done in[2] = {{0}, {0}};
	dcs_take_initialize(ms[0].d, "7301312345678901234", on_done, &in[0]);
	dcs_take_initialize(ms[1].d, "7301312345678909999", on_done, &in[1]);
	CHECK(wait_for(both_done, in, 5000), "initialize answers");
	CHECK((in[0].r == DCS_OK) + (in[1].r == DCS_OK) == 1 &&
	          (in[0].r == DCS_LOST) + (in[1].r == DCS_LOST) == 1,
	      "one initialize");
	const char *want = in[0].r == DCS_OK ? "7301312345678901234" : "7301312345678909999";
	reset(&in[0]);
	reset(&in[1]);
	run_for(300);
	CHECK(dcs_get_view(ms[0].d)->initialized && dcs_get_view(ms[1].d)->sysid &&
	          !strcmp(dcs_get_view(ms[1].d)->sysid, want),
	      "initialize seen");
	step("initialize_race");

	/* the holder's lease is revoked: the key goes, the other sees no leader */
	t0 = now_ms();
	CHECK(sync_op(w, dcs_lease_revoke, "revoke") == DCS_OK, "revoke");
	CHECK(dcs_lease_id(w->d) == 0, "lease forgotten");
	CHECK(wait_leader(l, NULL, 2000), "no leader after revoke");
	CHECK(dcs_get_view(l->d)->nmembers == 1, "the holder's member key went with its lease");
	printf("no leader seen by %s after %llu ms\n", l->name,
	       (unsigned long long)(now_ms() - t0));
	dcs_lease_keepalive(w->d, on_ka, &k);
	CHECK(wait_done(&k, 5000) && k.r == DCS_LOST, "keepalive without a lease");
	reset(&k);
	CHECK(sync_op(w, dcs_acquire_leader, "acquire") == DCS_FAILED, "acquire without a lease");
	step("revoke");

	/* the other takes over, releases */
	CHECK(sync_op(l, dcs_acquire_leader, "acquire") == DCS_OK, "takeover");
	CHECK(wait_leader(w, l->name, 1000), "new leader seen");
	dcs_lease_keepalive(l->d, on_ka, &k);
	CHECK(wait_done(&k, 5000) && k.r == DCS_OK && k.ttl_s > 0, "keepalive");
	reset(&k);
	CHECK(sync_op(l, dcs_release_leader, "release") == DCS_OK, "release by holder");
	CHECK(wait_leader(w, NULL, 1000), "released");
	step("takeover_release");

	/* other keys, seen through the watch */
	char *st = dcs_encode_status(4242, NULL, 0, NULL, 0);
	const char *sb[] = {"m2"};
	char *sy = dcs_encode_sync("m1", sb, 1);
	char *fo = dcs_encode_failover("m1", "m2", NULL);
	done p = {0};
	dcs_put_key(l->d, "status", st, on_done, &p);
	CHECK(wait_done(&p, 5000) && p.r == DCS_OK, "put status");
	reset(&p);
	dcs_put_key(l->d, "sync", sy, on_done, &p);
	CHECK(wait_done(&p, 5000) && p.r == DCS_OK, "put sync");
	reset(&p);
	dcs_put_key(l->d, "failover", fo, on_done, &p);
	CHECK(wait_done(&p, 5000) && p.r == DCS_OK, "put failover");
	reset(&p);
	run_for(300);
	const dcs_view *v = dcs_get_view(w->d);
	CHECK(v->optime == 4242, "status seen");
	CHECK(v->nsync_standby == 1 && !strcmp(v->sync_standby[0], "m2"), "sync seen");
	CHECK(v->failover_candidate && !strcmp(v->failover_candidate, "m2"), "failover seen");
	dcs_delete_key(l->d, "failover", on_done, &p);
	CHECK(wait_done(&p, 5000) && p.r == DCS_OK, "delete failover");
	reset(&p);
	run_for(300);
	CHECK(!dcs_get_view(w->d)->has_failover, "failover deleted");
	free(st);
	free(sy);
	free(fo);
	step("other_keys");

	member_close(&ms[0]);
	member_close(&ms[1]);

	/* deadline: a dead endpoint fails within retry_timeout */
	member dm;
	member_open(&dm, "m3", dead, scope, 5, 500);
	t0 = now_ms();
	CHECK(sync_op(&dm, dcs_lease_grant, "grant") == DCS_FAILED, "grant on a dead endpoint");
	CHECK(now_ms() - t0 < 2000, "deadline kept: %llu ms", (unsigned long long)(now_ms() - t0));
	dcs_free(dm.d);
	/* freeing with calls outstanding: their callbacks are not called */
	dm.d = NULL;
	{
		char *err = NULL;
		dcs_config dc = {.etcd = dm.e,
		                 .scope = scope,
		                 .name = "m3",
		                 .ttl_s = 5,
		                 .retry_timeout_ms = 500};
		dcs *d3 = dcs_new(live_loop, &dc, &err);
		CHECK(d3 != NULL, "dcs_new");
		done never = {0};
		dcs_start(d3);
		dcs_lease_grant(d3, on_done, &never);
		dcs_free(d3);
		run_for(700);
		CHECK(!never.done, "no callback after dcs_free");
		dcs_config bad = {.etcd = dm.e,
		                  .scope = "a/b",
		                  .name = "m3",
		                  .ttl_s = 5,
		                  .retry_timeout_ms = 500};
		CHECK(dcs_new(live_loop, &bad, &err) == NULL && err, "bad scope refused");
		free(err);
	}
	etcd_free(dm.e);
	step("deadline_and_free");
	return 0;
}

static json_t *view_json(const dcs_view *v)
{
	json_t *o = json_object();
	json_object_set_new(o, "initialize", v->sysid ? json_string(v->sysid) : json_null());
	json_object_set_new(o, "leader", v->leader ? json_string(v->leader) : json_null());
	json_object_set_new(o, "leader_lease", json_integer(v->leader_lease));
	json_t *mem = json_object();
	for (size_t i = 0; i < v->nmembers; i++) {
		const dcs_member *m = &v->members[i];
		json_t *x = json_object();
		json_object_set_new(x, "role", m->role ? json_string(m->role) : json_null());
		json_object_set_new(x, "state", m->state ? json_string(m->state) : json_null());
		json_object_set_new(x, "conn_url",
		                    m->conn_url ? json_string(m->conn_url) : json_null());
		json_object_set_new(x, "xlog_location", json_integer((json_int_t)m->xlog_location));
		json_object_set_new(x, "lease", json_integer(m->lease));
		json_object_set_new(mem, m->name, x);
	}
	json_object_set_new(o, "members", mem);
	json_object_set_new(o, "ttl", json_integer(v->config.ttl));
	json_object_set_new(o, "loop_wait", json_integer(v->config.loop_wait));
	json_object_set_new(o, "pause", json_boolean(v->config.pause));
	json_object_set_new(o, "use_pg_rewind", json_boolean(v->config.use_pg_rewind));
	json_object_set_new(o, "parameters",
	                    v->config.parameters_json ? json_string(v->config.parameters_json)
	                                              : json_null());
	json_object_set_new(o, "config_raw",
	                    v->config.raw ? json_string(v->config.raw) : json_null());
	json_object_set_new(o, "optime", json_integer((json_int_t)v->optime));
	json_object_set_new(o, "sync_leader",
	                    v->sync_leader ? json_string(v->sync_leader) : json_null());
	json_object_set_new(o, "nhistory", json_integer((json_int_t)v->nhistory));
	json_object_set_new(o, "revision", json_integer(v->revision));
	return o;
}

static bool has_all(void *arg)
{
	const dcs_view *v = dcs_get_view(((member *)arg)->d);
	return v->leader && v->nmembers == 2 && v->has_config && v->has_status && v->has_sync &&
	       v->has_history && v->initialized;
}

static int suite_write(const char *endpoint, const char *scope, int64_t ttl)
{
	member ms[2];
	member_open(&ms[0], "m1", endpoint, scope, ttl, 3000);
	member_open(&ms[1], "m2", endpoint, scope, ttl, 3000);
	CHECK(wait_for(ready, &ms[0], 5000) && wait_for(ready, &ms[1], 5000), "first read");
	for (int i = 0; i < 2; i++)
		CHECK(sync_op(&ms[i], dcs_lease_grant, "grant") == DCS_OK, "grant");
	done x = {0};
	dcs_take_initialize(ms[0].d, "7301312345678901234", on_done, &x);
	CHECK(wait_done(&x, 5000) && x.r == DCS_OK, "initialize");
	reset(&x);
	dcs_put_key(ms[0].d, "config",
	            "{\"ttl\":30,\"loop_wait\":10,\"retry_timeout\":10,\"maximum_lag_on_failover\":"
	            "1048576,\"postgresql\":{\"use_pg_rewind\":true,\"parameters\":{}}}",
	            on_done, &x);
	CHECK(wait_done(&x, 5000) && x.r == DCS_OK, "config");
	reset(&x);
	CHECK(sync_op(&ms[0], dcs_acquire_leader, "acquire") == DCS_OK, "acquire");
	touch(&ms[0], "primary", 67108960);
	touch(&ms[1], "replica", 67108000);
	char *st = dcs_encode_status(67108960, (dcs_slot_lsn[]){{.name = "m2", .lsn = 67108000}}, 1,
	                             (const char *[]){"m1", "m2"}, 2);
	const char *sb[] = {"m2"};
	char *sy = dcs_encode_sync("m1", sb, 1);
	dcs_history_entry h = {.timeline = 1,
	                       .lsn = 25165984,
	                       .reason = "no recovery target specified",
	                       .timestamp = "2024-01-15T10:11:12.123456+00:00",
	                       .new_leader = "m1"};
	char *hi = dcs_encode_history(&h, 1);
	const char *keys[] = {"status", "sync", "history"};
	char *vals[] = {st, sy, hi};
	for (int i = 0; i < 3; i++) {
		dcs_put_key(ms[0].d, keys[i], vals[i], on_done, &x);
		CHECK(wait_done(&x, 5000) && x.r == DCS_OK, "put %s", keys[i]);
		reset(&x);
		free(vals[i]);
	}
	CHECK(wait_for(has_all, &ms[1], 3000), "m2 sees everything");
	json_t *j = view_json(dcs_get_view(ms[1].d));
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	printf("VIEW %s\n", s);
	free(s);
	json_decref(j);
	/* leave the keys (and the leases, alive for `ttl`) for the test to read */
	member_close(&ms[0]);
	member_close(&ms[1]);
	step("write");
	return 0;
}

static int suite_read(const char *endpoint, const char *scope)
{
	member m;
	member_open(&m, "reader", endpoint, scope, 5, 3000);
	CHECK(wait_for(ready, &m, 5000), "first read");
	json_t *j = view_json(dcs_get_view(m.d));
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	printf("VIEW %s\n", s);
	free(s);
	json_decref(j);
	member_close(&m);
	step("read");
	return 0;
}

static int suite_watch_outage(const char *endpoint, const char *scope)
{
	member m;
	member_open(&m, "watcher", endpoint, scope, 5, 1000);
	CHECK(wait_for(ready, &m, 5000), "first read");
	printf("READY\n");
	CHECK(wait_leader(&m, "a", 60000), "leader a after the restart");
	printf("SEEN a\n");
	CHECK(wait_leader(&m, "b", 20000), "leader b through the new watch");
	printf("SEEN b\n");
	member_close(&m);
	step("outage");
	return 0;
}

int main(int argc, char **argv)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	live_loop = &loop;
	log_set_level(LOG_WARNING);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 5 && !strcmp(argv[1], "race")) {
		suite_race(argv[2], argv[3], argv[4]);
	} else if (argc == 4 && !strcmp(argv[1], "read")) {
		suite_read(argv[2], argv[3]);
	} else if (argc == 4 && !strcmp(argv[1], "outage")) {
		suite_watch_outage(argv[2], argv[3]);
	} else if (argc == 5 && !strcmp(argv[1], "write")) {
		suite_write(argv[2], argv[3], atoll(argv[4]));
	} else {
		fprintf(
		    stderr,
		    "usage: %s race ENDPOINT DEAD SCOPE | write ENDPOINT SCOPE TTL | read ENDPOINT "
		    "SCOPE | outage ENDPOINT SCOPE\n",
		    argv[0]);
		return 2;
	}
	drain_loop();
	int rc = uv_loop_close(&loop);
	CHECK(rc == 0, "handles left open on the loop: %s", uv_strerror(rc));
	printf("%s: %d failures\n", live_failures ? "FAILED" : "PASSED", live_failures);
	return live_failures ? 1 : 0;
}
