/* The etcd client against a real etcd 3.4 (driven by tests/integration/test_etcd_client.py).
 *
 *   etcd_live basic ENDPOINT DEAD_ENDPOINT HANGING_ENDPOINT
 *   etcd_live auth ENDPOINT USER PASSWORD      (etcd with authentication enabled)
 *   etcd_live fake ENDPOINT                    (a fake gateway with broken answers)
 *   etcd_live outage ENDPOINT                  (the driver stops, kills and restarts etcd)
 *   etcd_live tls ENDPOINT CACERT CERT KEY     (etcd on https with client certificates)
 *
 * Prints "ok NAME" for each passed step and "FAIL ..." for each failed check; exits 0 only when
 * everything passed. Every wait has a deadline. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "live.h"
#include "log.h"

static char prefix[64];

static const char *K(const char *suffix)
{
	static char buf[8][256];
	static int slot;
	char *b = buf[slot++ % 8];
	snprintf(b, sizeof buf[0], "%s%s", prefix, suffix);
	return b;
}

static etcd *client(const char *const *endpoints, size_t n, uint64_t connect_timeout_ms)
{
	etcd_config cfg = {
	    .endpoints = endpoints, .nendpoints = n, .connect_timeout_ms = connect_timeout_ms};
	char *err = NULL;
	etcd *e = etcd_new(live_loop, &cfg, &err);
	if (!e) {
		printf("FAIL etcd_new: %s\n", err);
		exit(1);
	}
	return e;
}

static void step(const char *name, int failures_before)
{
	if (live_failures == failures_before)
		printf("ok %s\n", name);
	fflush(stdout);
}

static void test_kv(etcd *e)
{
	int f = live_failures;
	answer *a = sync_put(e, K("a"), "1", 0);
	int64_t rev = a->revision;
	CHECK(a->status == ETCD_OK && rev > 0, "put: %s rev %lld", status_name(a->status),
	      (long long)rev);
	answer_free(a);
	a = sync_range(e, K("a"), false, 5000);
	CHECK(a->status == ETCD_OK && a->nkvs == 1, "range: %s %zu", status_name(a->status),
	      a->nkvs);
	if (a->nkvs == 1) {
		CHECK(strcmp(a->kvs[0].key, K("a")) == 0, "key %s", a->kvs[0].key);
		CHECK(strcmp(a->kvs[0].value, "1") == 0, "value %s", a->kvs[0].value);
		CHECK(a->kvs[0].mod_revision == rev, "mod %lld", (long long)a->kvs[0].mod_revision);
		CHECK(a->kvs[0].version == 1, "version %lld", (long long)a->kvs[0].version);
	}
	CHECK(a->revision >= rev, "revision");
	answer_free(a);
	expect_status(sync_put(e, K("a"), "h\xc3\xa9llo \"quoted\" \\ / {}", 0), ETCD_OK, "put 2");
	a = sync_range(e, K("a"), false, 5000);
	CHECK(a->nkvs == 1 && a->kvs[0].version == 2 &&
	          strcmp(a->kvs[0].value, "h\xc3\xa9llo \"quoted\" \\ / {}") == 0,
	      "second value");
	answer_free(a);
	a = sync_range(e, K("missing"), false, 5000);
	CHECK(a->status == ETCD_OK && a->nkvs == 0, "missing key: %zu", a->nkvs);
	answer_free(a);
	step("kv_put_range", f);

	f = live_failures;
	const char *names[] = {"p/1", "p/2", "p/3", "q", "p"};
	for (size_t i = 0; i < 5; i++)
		expect_status(sync_put(e, K(names[i]), names[i], 0), ETCD_OK, "put");
	a = sync_range(e, K("p/"), true, 5000);
	CHECK(a->nkvs == 3, "prefix range: %zu keys", a->nkvs);
	for (size_t i = 0; i < a->nkvs && i < 3; i++)
		CHECK(strcmp(a->kvs[i].value, names[i]) == 0, "key %zu: %s", i, a->kvs[i].value);
	answer_free(a);
	a = sync_range(e, K("p/"), false, 5000);
	CHECK(a->nkvs == 0, "exact range on the prefix: %zu", a->nkvs);
	answer_free(a);
	step("prefix_range", f);

	f = live_failures;
	expect_status(sync_delete(e, K("p/1"), false), ETCD_OK, "delete one");
	a = sync_range(e, K("p/"), true, 5000);
	CHECK(a->nkvs == 2, "after deleting one: %zu", a->nkvs);
	answer_free(a);
	expect_status(sync_delete(e, K("p/"), true), ETCD_OK, "delete prefix");
	a = sync_range(e, K("p"), true, 5000);
	CHECK(a->nkvs == 1 && strcmp(a->kvs[0].value, "p") == 0, "after prefix delete: %zu",
	      a->nkvs);
	answer_free(a);
	expect_status(sync_delete(e, K("nothing"), false), ETCD_OK, "delete nothing");
	step("delete", f);
}

static void test_txn(etcd *e)
{
	int f = live_failures;
	/* Two contenders for the same key at the same time. */
	etcd_compare absent = {.key = K("leader"), .target = ETCD_CMP_VERSION, .number = 0};
	etcd_op get = {.kind = ETCD_OP_GET, .key = K("leader")};
	etcd_op put_a = {.kind = ETCD_OP_PUT, .key = K("leader"), .value = "alice"};
	etcd_op put_b = {.kind = ETCD_OP_PUT, .key = K("leader"), .value = "bob"};
	answer *a = answer_new(), *b = answer_new();
	etcd_txn(e, &absent, 1, &put_a, 1, &get, 1, 5000, on_answer, a);
	etcd_txn(e, &absent, 1, &put_b, 1, &get, 1, 5000, on_answer, b);
	CHECK(wait_answer(a, 10000) && wait_answer(b, 10000), "both answers");
	CHECK(a->status == ETCD_OK && b->status == ETCD_OK, "statuses %s %s",
	      status_name(a->status), status_name(b->status));
	CHECK(a->succeeded != b->succeeded, "exactly one wins: %d %d", a->succeeded, b->succeeded);
	answer *loser = a->succeeded ? b : a;
	const char *winner = a->succeeded ? "alice" : "bob";
	CHECK(loser->nkvs == 1 && strcmp(loser->kvs[0].value, winner) == 0,
	      "the loser reads the winner");
	answer_free(a);
	answer_free(b);
	a = sync_range(e, K("leader"), false, 5000);
	CHECK(a->nkvs == 1 && strcmp(a->kvs[0].value, winner) == 0, "leader value");
	int64_t mod = a->nkvs ? a->kvs[0].mod_revision : 0;
	int64_t create = a->nkvs ? a->kvs[0].create_revision : 0;
	answer_free(a);
	step("txn_create_if_absent", f);

	f = live_failures;
	etcd_compare on_value = {.key = K("leader"), .target = ETCD_CMP_VALUE, .value = winner};
	etcd_compare wrong_value = {.key = K("leader"), .target = ETCD_CMP_VALUE, .value = "eve"};
	etcd_op put_c = {.kind = ETCD_OP_PUT, .key = K("leader"), .value = "carol"};
	a = sync_txn(e, &wrong_value, 1, &put_c, 1, NULL, 0);
	CHECK(a->status == ETCD_OK && !a->succeeded, "compare on a wrong value");
	answer_free(a);
	a = sync_txn(e, &on_value, 1, &put_c, 1, NULL, 0);
	CHECK(a->status == ETCD_OK && a->succeeded, "compare on the value");
	answer_free(a);
	/* Compare-and-swap on the mod revision: the old one fails now, the new one works. */
	etcd_compare old_mod = {.key = K("leader"), .target = ETCD_CMP_MOD, .number = mod};
	a = sync_txn(e, &old_mod, 1, &put_a, 1, &get, 1);
	CHECK(a->status == ETCD_OK && !a->succeeded, "compare on an old mod revision");
	int64_t new_mod = a->nkvs == 1 ? a->kvs[0].mod_revision : 0;
	CHECK(new_mod > mod, "new mod revision %lld", (long long)new_mod);
	answer_free(a);
	etcd_compare cur_mod = {.key = K("leader"), .target = ETCD_CMP_MOD, .number = new_mod};
	etcd_compare same_create = {
	    .key = K("leader"), .target = ETCD_CMP_CREATE, .number = create};
	etcd_compare both[] = {cur_mod, same_create};
	etcd_op del = {.kind = ETCD_OP_DELETE, .key = K("leader")};
	a = sync_txn(e, both, 2, &del, 1, NULL, 0);
	CHECK(a->status == ETCD_OK && a->succeeded, "compare on mod and create revision");
	answer_free(a);
	a = sync_range(e, K("leader"), false, 5000);
	CHECK(a->nkvs == 0, "deleted by the transaction");
	answer_free(a);
	step("txn_compare", f);
}

static void test_lease(etcd *e)
{
	int f = live_failures;
	answer *a = answer_new();
	etcd_lease_grant(e, 30, 5000, on_answer, a);
	wait_answer(a, 10000);
	int64_t id = a->lease_id;
	CHECK(a->status == ETCD_OK && id != 0 && a->lease_ttl == 30, "grant: %s id %lld ttl %lld",
	      status_name(a->status), (long long)id, (long long)a->lease_ttl);
	answer_free(a);
	expect_status(sync_put(e, K("owned"), "x", id), ETCD_OK, "put with lease");
	a = sync_range(e, K("owned"), false, 5000);
	CHECK(a->nkvs == 1 && a->kvs[0].lease == id, "key attached to the lease");
	answer_free(a);
	a = answer_new();
	etcd_lease_keepalive(e, id, 5000, on_answer, a);
	wait_answer(a, 10000);
	CHECK(a->status == ETCD_OK && a->lease_id == id && a->lease_ttl > 0 && a->lease_ttl <= 30,
	      "keepalive: %s ttl %lld", status_name(a->status), (long long)a->lease_ttl);
	answer_free(a);
	etcd_compare held = {.key = K("owned"), .target = ETCD_CMP_LEASE, .number = id};
	a = sync_txn(e, &held, 1, NULL, 0, NULL, 0);
	CHECK(a->status == ETCD_OK && a->succeeded, "compare on the lease");
	answer_free(a);
	a = answer_new();
	etcd_lease_revoke(e, id, 5000, on_answer, a);
	wait_answer(a, 10000);
	expect_status(a, ETCD_OK, "revoke");
	a = sync_range(e, K("owned"), false, 5000);
	CHECK(a->status == ETCD_OK && a->nkvs == 0, "the key went with the lease: %zu", a->nkvs);
	answer_free(a);
	a = answer_new();
	etcd_lease_keepalive(e, id, 5000, on_answer, a);
	wait_answer(a, 10000);
	CHECK(a->status == ETCD_OK && a->lease_ttl <= 0, "keepalive of a revoked lease: %s %lld",
	      status_name(a->status), (long long)a->lease_ttl);
	answer_free(a);
	a = answer_new();
	etcd_lease_revoke(e, id, 5000, on_answer, a);
	wait_answer(a, 10000);
	CHECK(a->status == ETCD_REJECTED && a->error && strstr(a->error, "lease not found"),
	      "second revoke: %s %s", status_name(a->status), a->error ? a->error : "");
	answer_free(a);
	step("lease", f);
}

static void test_watch(etcd *e)
{
	int f = live_failures;
	answer *a = sync_range(e, K("w/"), true, 5000);
	int64_t rev = a->revision;
	answer_free(a);
	watcher wt;
	watcher_start(&wt, e, K("w/"), rev + 1);
	run_for(300); /* let the watch be created before the changes */
	expect_status(sync_put(e, K("w/x"), "1", 0), ETCD_OK, "put w/x");
	expect_status(sync_put(e, K("w/y"), "", 0), ETCD_OK, "put w/y");
	expect_status(sync_put(e, K("elsewhere"), "1", 0), ETCD_OK, "put elsewhere");
	expect_status(sync_delete(e, K("w/x"), false), ETCD_OK, "delete w/x");
	CHECK(wait_events(&wt, 3, 10000), "3 events, got %zu (%s)", wt.nevents,
	      wt.broken_why ? wt.broken_why : "");
	if (wt.nevents >= 3) {
		CHECK(wt.events[0].type == ETCD_EVENT_PUT &&
		          strcmp(wt.events[0].key, K("w/x")) == 0 &&
		          strcmp(wt.events[0].value, "1") == 0,
		      "event 0");
		CHECK(wt.events[1].type == ETCD_EVENT_PUT &&
		          strcmp(wt.events[1].key, K("w/y")) == 0 && wt.events[1].value_len == 0,
		      "event 1");
		CHECK(wt.events[2].type == ETCD_EVENT_DELETE &&
		          strcmp(wt.events[2].key, K("w/x")) == 0,
		      "event 2");
	}
	CHECK(wt.order_ok, "events in revision order");
	CHECK(!wt.broken, "not broken");
	int64_t first = wt.nevents ? wt.events[0].mod_revision : 0;
	watcher_stop(&wt);
	size_t seen = wt.nevents;
	expect_status(sync_put(e, K("w/z"), "after stop", 0), ETCD_OK, "put after stop");
	run_for(300);
	CHECK(wt.nevents == seen && !wt.broken, "nothing after stop");
	watcher_clear(&wt);
	step("watch_put_delete", f);

	/* From an old revision: the history comes at once. */
	f = live_failures;
	watcher_start(&wt, e, K("w/"), first);
	CHECK(wait_events(&wt, 4, 10000), "history: %zu events", wt.nevents);
	CHECK(wt.nevents == 4 && wt.events[0].mod_revision == first, "history from %lld",
	      (long long)first);
	watcher_clear(&wt);
	/* Stopping from inside on_events. */
	watcher_start(&wt, e, K("w/"), first);
	wt.stop_in_callback = true;
	CHECK(wait_events(&wt, 1, 10000), "first batch");
	seen = wt.nevents;
	expect_status(sync_put(e, K("w/z"), "again", 0), ETCD_OK, "put");
	run_for(300);
	CHECK(wt.nevents == seen && wt.batches == 1 && !wt.broken, "stopped in the callback");
	watcher_clear(&wt);
	step("watch_history_and_stop", f);
}

static void test_many(etcd *e)
{
	int f = live_failures;
	enum { N = 40 };
	answer *as[N];
	for (int i = 0; i < N; i++) {
		char k[32];
		snprintf(k, sizeof k, "many/%02d", i);
		as[i] = answer_new();
		etcd_put(e, K(k), k, 0, 10000, on_answer, as[i]);
	}
	for (int i = 0; i < N; i++) {
		wait_answer(as[i], 20000);
		expect_status(as[i], ETCD_OK, "parallel put");
	}
	answer *a = sync_range(e, K("many/"), true, 5000);
	CHECK(a->nkvs == N, "%zu keys", a->nkvs);
	answer_free(a);
	/* A large value (base64 makes it a third larger on the wire). */
	size_t big = 700 * 1024;
	char *v = malloc(big + 1);
	for (size_t i = 0; i < big; i++)
		v[i] = (char)('a' + i % 26);
	v[big] = '\0';
	expect_status(sync_put(e, K("big"), v, 0), ETCD_OK, "big put");
	a = sync_range(e, K("big"), false, 5000);
	CHECK(a->nkvs == 1 && a->kvs[0].value_len == big && memcmp(a->kvs[0].value, v, big) == 0,
	      "big value back");
	answer_free(a);
	free(v);
	step("parallel_and_large", f);
}

static void test_cancel_and_free(const char *ep)
{
	int f = live_failures;
	const char *eps[] = {ep};
	etcd *e = client(eps, 1, 2000);
	answer *a = answer_new(), *b = answer_new();
	etcd_call *c = etcd_range(e, K("a"), false, 5000, on_answer, a);
	etcd_range(e, K("a"), false, 5000, on_answer, b);
	etcd_cancel(e, c);
	CHECK(wait_answer(b, 10000), "the other call");
	run_for(200);
	CHECK(!a->done, "a cancelled call's callback ran");
	answer_free(a);
	expect_status(b, ETCD_OK, "the other call");
	/* etcd_free with calls and a watch outstanding: no callbacks. */
	a = answer_new();
	etcd_put(e, K("x"), "1", 0, 5000, on_answer, a);
	watcher wt;
	watcher_start(&wt, e, K("w/"), 0);
	etcd_free(e);
	wt.w = NULL;
	run_for(300);
	CHECK(!a->done && !wt.broken, "callbacks after etcd_free");
	answer_free(a);
	watcher_clear(&wt);
	step("cancel_and_free", f);
}

static void test_failover(const char *ep, const char *dead)
{
	int f = live_failures;
	const char *eps[] = {dead, ep};
	etcd *e = client(eps, 2, 2000);
	answer *a = sync_range(e, K("a"), false, 3000);
	CHECK(a->status == ETCD_UNAVAILABLE, "first call: %s", status_name(a->status));
	printf("# dead endpoint: %s\n", a->error ? a->error : "");
	answer_free(a);
	CHECK(strcmp(etcd_endpoint(e), ep) == 0, "moved to %s", etcd_endpoint(e));
	a = sync_range(e, K("a"), false, 3000);
	CHECK(a->status == ETCD_OK && a->nkvs == 1, "after failover: %s", status_name(a->status));
	answer_free(a);
	etcd_free(e);

	/* A watch that starts on the dead endpoint breaks; the next one works. */
	e = client(eps, 2, 2000);
	watcher wt;
	watcher_start(&wt, e, K("fw/"), 0);
	CHECK(wait_broken(&wt, 5000) && wt.broken_status == ETCD_UNAVAILABLE,
	      "watch on a dead endpoint: %s", status_name(wt.broken_status));
	watcher_clear(&wt);
	CHECK(strcmp(etcd_endpoint(e), ep) == 0, "watch moved to %s", etcd_endpoint(e));
	watcher_start(&wt, e, K("fw/"), 0);
	run_for(300);
	expect_status(sync_put(e, K("fw/1"), "1", 0), ETCD_OK, "put");
	CHECK(wait_events(&wt, 1, 5000), "event after failover");
	watcher_clear(&wt);
	etcd_free(e);
	step("failover", f);
}

static void test_deadline(const char *hang)
{
	int f = live_failures;
	const char *eps[] = {hang};
	etcd *e = client(eps, 1, 1000);
	answer *a = sync_range(e, K("a"), false, 700);
	CHECK(a->status == ETCD_UNAVAILABLE, "status %s", status_name(a->status));
	CHECK(a->elapsed_ms >= 600 && a->elapsed_ms < 2500, "failed after %llu ms",
	      (unsigned long long)a->elapsed_ms);
	printf("# hanging endpoint: %s after %llu ms\n", a->error ? a->error : "",
	       (unsigned long long)a->elapsed_ms);
	answer_free(a);
	watcher wt;
	watcher_start(&wt, e, K("w/"), 0);
	CHECK(wait_broken(&wt, 10000) && wt.broken_status == ETCD_UNAVAILABLE,
	      "watch on a hanging endpoint: %s", status_name(wt.broken_status));
	CHECK(wt.broken_ms - wt.started_ms < 6000, "watch broken after %llu ms",
	      (unsigned long long)(wt.broken_ms - wt.started_ms));
	watcher_clear(&wt);
	etcd_free(e);
	step("deadline", f);
}

static int suite_basic(const char *ep, const char *dead, const char *hang)
{
	const char *eps[] = {ep};
	etcd *e = client(eps, 1, 2000);
	CHECK(strcmp(etcd_endpoint(e), ep) == 0, "endpoint");
	test_kv(e);
	test_txn(e);
	test_lease(e);
	test_watch(e);
	test_many(e);
	etcd_free(e);
	test_cancel_and_free(ep);
	test_failover(ep, dead);
	test_deadline(hang);

	/* Bad configurations. */
	int f = live_failures;
	char *err = NULL;
	etcd_config none = {.endpoints = eps, .nendpoints = 0};
	CHECK(!etcd_new(live_loop, &none, &err) && err, "no endpoints");
	free(err);
	err = NULL;
	const char *bad[] = {"127.0.0.1:2379"};
	etcd_config nos = {.endpoints = bad, .nendpoints = 1};
	CHECK(!etcd_new(live_loop, &nos, &err) && err, "no scheme");
	free(err);
	err = NULL;
	etcd_config utf = {.endpoints = eps, .nendpoints = 1, .username = "\xff", .password = "x"};
	CHECK(!etcd_new(live_loop, &utf, &err) && err, "user not UTF-8");
	free(err);
	step("bad_config", f);
	return 0;
}

int main(int argc, char **argv)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	live_loop = &loop;
	log_set_level(LOG_DEBUG);
	snprintf(prefix, sizeof prefix, "/etcd-live-%ld/", (long)getpid());
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (argc == 5 && strcmp(argv[1], "basic") == 0)
		suite_basic(argv[2], argv[3], argv[4]);
	else if (argc == 5 && strcmp(argv[1], "auth") == 0)
		suite_auth(argv[2], argv[3], argv[4]);
	else if (argc == 3 && strcmp(argv[1], "fake") == 0)
		suite_fake(argv[2]);
	else if (argc == 3 && strcmp(argv[1], "outage") == 0)
		suite_outage(argv[2]);
	else if (argc == 6 && strcmp(argv[1], "tls") == 0)
		suite_tls(argv[2], argv[3], argv[4], argv[5]);
	else {
		fprintf(stderr,
		        "usage: %s basic ENDPOINT DEAD HANGING | auth ENDPOINT USER PASSWORD "
		        "| fake ENDPOINT | outage ENDPOINT | tls ENDPOINT CACERT CERT KEY\n",
		        argv[0]);
		return 2;
	}
	drain_loop();
	int rc = uv_loop_close(&loop);
	CHECK(rc == 0, "handles left open on the loop: %s", uv_strerror(rc));
	printf("%s: %d failures\n", live_failures ? "FAILED" : "PASSED", live_failures);
	return live_failures ? 1 : 0;
}
