/* Unit tests for the etcd client's parsers (etcd_parse_answer, etcd_parse_watch_msg) on answers
 * shaped like those etcd 3.4's gateway sends, and on hostile ones; plus its base64, range ends,
 * request bodies and error classification (src/lib/etcd_internal.h). */
#include "testutil.h"

#include <jansson.h>

#include "base64.h"
#include "etcd.h"
#include "etcd_internal.h"

#define HDR(rev)                                                                                   \
	"\"header\":{\"cluster_id\":\"15118495548433857066\",\"member_id\":"                       \
	"\"13668033151171901709\",\"revision\":\"" rev "\",\"raft_term\":\"2\"}"

/* Parses `body` (copied to an exactly-sized buffer), expecting `want`. */
static etcd_arena *parse(const char *body, etcd_status want, etcd_result *res)
{
	size_t len = strlen(body);
	char *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, body, len);
	etcd_arena *a = NULL;
	int rc = etcd_parse_answer(copy, len, res, &a);
	free(copy);
	assert_non_null(a);
	if (res->status != want) {
		print_error("%s\n-> status %d (%s), expected %d\n", body, res->status,
		            res->error ? res->error : "", want);
		fail();
	}
	assert_int_equal(rc, want == ETCD_BAD_ANSWER ? -1 : 0);
	if (want == ETCD_OK) {
		assert_null(res->error);
	} else {
		assert_non_null(res->error);
		assert_true(strlen(res->error) > 0);
		assert_int_equal(res->nkvs, 0);
	}
	return a;
}

static void expect_bad(const char *body, const char *message_part)
{
	etcd_result res;
	etcd_arena *a = parse(body, ETCD_BAD_ANSWER, &res);
	if (message_part)
		assert_contains(res.error, message_part);
	etcd_arena_free(a);
}

static etcd_arena *watch(const char *body, int want_rc, etcd_watch_msg *msg, etcd_status *st)
{
	size_t len = strlen(body);
	char *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, body, len);
	etcd_arena *a = NULL;
	int rc = etcd_parse_watch_msg_status(copy, len, msg, &a, st);
	free(copy);
	assert_non_null(a);
	if (rc != want_rc) {
		print_error("%s\n-> %d (%s), expected %d\n", body, rc, msg->error ? msg->error : "",
		            want_rc);
		fail();
	}
	/* The public function agrees. */
	etcd_watch_msg m2;
	etcd_arena *a2 = NULL;
	assert_int_equal(etcd_parse_watch_msg(body, len, &m2, &a2), rc);
	assert_int_equal(m2.nevents, msg->nevents);
	etcd_arena_free(a2);
	return a;
}

static void expect_watch_bad(const char *body)
{
	etcd_watch_msg msg;
	etcd_status st;
	etcd_arena *a = watch(body, -1, &msg, &st);
	assert_int_equal(st, ETCD_BAD_ANSWER);
	assert_non_null(msg.error);
	assert_int_equal(msg.nevents, 0);
	etcd_arena_free(a);
}

static void test_range(void **state)
{
	(void)state;
	etcd_result res;
	etcd_arena *a =
	    parse("{" HDR("2") ",\"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":\"2\","
	                       "\"mod_revision\":\"3\",\"version\":\"1\",\"value\":\"YmFy\"},"
	                       "{\"key\":\"azE=\",\"create_revision\":\"4\",\"mod_revision\":\"4\","
	                       "\"version\":\"1\",\"value\":\"djE=\",\"lease\":"
	                       "\"4111120157215157006\"}],\"count\":\"2\"}",
	          ETCD_OK, &res);
	assert_int_equal(res.revision, 2);
	assert_int_equal(res.nkvs, 2);
	assert_int_equal(res.kvs[0].key_len, 3);
	assert_memory_equal(res.kvs[0].key, "foo", 4); /* NUL-terminated */
	assert_string_equal(res.kvs[0].value, "bar");
	assert_int_equal(res.kvs[0].value_len, 3);
	assert_int_equal(res.kvs[0].create_revision, 2);
	assert_int_equal(res.kvs[0].mod_revision, 3);
	assert_int_equal(res.kvs[0].version, 1);
	assert_int_equal(res.kvs[0].lease, 0);
	assert_string_equal(res.kvs[1].key, "k1");
	assert_string_equal(res.kvs[1].value, "v1");
	assert_true(res.kvs[1].lease == INT64_C(4111120157215157006));
	assert_false(res.succeeded);
	etcd_arena_free(a);

	/* No "kvs": no keys. Numbers as JSON numbers are accepted too. */
	a = parse("{" HDR("2") "}", ETCD_OK, &res);
	assert_int_equal(res.nkvs, 0);
	assert_null(res.kvs);
	assert_int_equal(res.revision, 2);
	etcd_arena_free(a);
	a = parse("{\"header\":{\"revision\":17},\"kvs\":[{\"key\":\"YQ\",\"version\":3}]}",
	          ETCD_OK, &res);
	assert_int_equal(res.revision, 17);
	assert_int_equal(res.nkvs, 1);
	assert_string_equal(res.kvs[0].key, "a"); /* unpadded base64 */
	assert_int_equal(res.kvs[0].value_len, 0);
	assert_string_equal(res.kvs[0].value, "");
	assert_int_equal(res.kvs[0].version, 3);
	etcd_arena_free(a);

	/* Binary keys and values keep their length. */
	a = parse("{\"header\":{},\"kvs\":[{\"key\":\"AAE=\",\"value\":\"/wA=\"}]}", ETCD_OK, &res);
	assert_int_equal(res.kvs[0].key_len, 2);
	assert_memory_equal(res.kvs[0].key, "\0\1", 2);
	assert_int_equal(res.kvs[0].value_len, 2);
	assert_memory_equal(res.kvs[0].value, "\xff\0", 2);
	assert_int_equal(res.revision, 0);
	etcd_arena_free(a);

	/* Put and delete answers; null means default. */
	a = parse("{" HDR("3") ",\"deleted\":\"1\"}", ETCD_OK, &res);
	assert_int_equal(res.revision, 3);
	etcd_arena_free(a);
	a = parse("{\"header\":{\"revision\":null},\"kvs\":null,\"succeeded\":null}", ETCD_OK,
	          &res);
	assert_int_equal(res.nkvs, 0);
	etcd_arena_free(a);
}

static void test_txn(void **state)
{
	(void)state;
	etcd_result res;
	etcd_arena *a = parse("{" HDR("6") ",\"succeeded\":true,\"responses\":[{\"response_put\":{"
	                                   "\"header\":{\"revision\":\"6\"}}}]}",
	                      ETCD_OK, &res);
	assert_true(res.succeeded);
	assert_int_equal(res.revision, 6);
	assert_int_equal(res.nkvs, 0);
	etcd_arena_free(a);

	/* Failed compare: "succeeded" is left out; the failure branch read the key. */
	a = parse(
	    "{" HDR("6") ",\"responses\":[{\"response_range\":{\"header\":{\"revision\":\"6\"},"
	                 "\"kvs\":[{\"key\":\"bGVhZA==\",\"create_revision\":\"6\",\"mod_"
	                 "revision\":\"6\","
	                 "\"version\":\"1\",\"value\":\"bWU=\"}],\"count\":\"1\"}}]}",
	    ETCD_OK, &res);
	assert_false(res.succeeded);
	assert_int_equal(res.nkvs, 1);
	assert_string_equal(res.kvs[0].key, "lead");
	assert_string_equal(res.kvs[0].value, "me");
	assert_int_equal(res.kvs[0].mod_revision, 6);
	etcd_arena_free(a);

	/* Several reads in one branch, mixed with other responses; an empty range. */
	a = parse("{\"header\":{\"revision\":\"9\"},\"succeeded\":true,\"responses\":["
	          "{\"response_range\":{\"kvs\":[{\"key\":\"YQ==\"},{\"key\":\"Yg==\"}]}},"
	          "{\"response_delete_range\":{\"deleted\":\"1\"}},{\"response_range\":{}},"
	          "{\"response_range\":{\"kvs\":[{\"key\":\"Yw==\"}]}}]}",
	          ETCD_OK, &res);
	assert_int_equal(res.nkvs, 3);
	assert_string_equal(res.kvs[0].key, "a");
	assert_string_equal(res.kvs[1].key, "b");
	assert_string_equal(res.kvs[2].key, "c");
	etcd_arena_free(a);

	/* Delete in a branch: no keys. */
	a = parse("{" HDR("7") ",\"succeeded\":true,\"responses\":[{\"response_delete_range\":{"
	                       "\"header\":{\"revision\":\"7\"},\"deleted\":\"1\"}}]}",
	          ETCD_OK, &res);
	assert_int_equal(res.nkvs, 0);
	etcd_arena_free(a);

	expect_bad("{\"header\":{},\"succeeded\":\"true\"}", "succeeded");
	expect_bad("{\"header\":{},\"responses\":{}}", "responses");
	expect_bad("{\"header\":{},\"responses\":[1]}", NULL);
	expect_bad("{\"header\":{},\"responses\":[{\"response_range\":[]}]}", "response_range");
	expect_bad("{\"header\":{},\"responses\":[{\"response_range\":{\"kvs\":{}}}]}", "kvs");
	expect_bad(
	    "{\"header\":{},\"responses\":[{\"response_range\":{\"kvs\":[{\"key\":\"*\"}]}}]}",
	    "base64");
}

static void test_lease(void **state)
{
	(void)state;
	etcd_result res;
	etcd_arena *a =
	    parse("{" HDR("3") ",\"ID\":\"4111120157215157002\",\"TTL\":\"10\"}", ETCD_OK, &res);
	assert_true(res.lease_id == INT64_C(4111120157215157002));
	assert_int_equal(res.lease_ttl, 10);
	etcd_arena_free(a);

	/* Keepalive: a stream message. */
	a = parse("{\"result\":{" HDR("3") ",\"ID\":\"4111120157215157006\",\"TTL\":\"10\"}}",
	          ETCD_OK, &res);
	assert_true(res.lease_id == INT64_C(4111120157215157006));
	assert_int_equal(res.lease_ttl, 10);
	assert_int_equal(res.revision, 3);
	etcd_arena_free(a);

	/* The lease is gone: TTL left out (0), or negative. */
	a = parse("{\"result\":{" HDR("3") ",\"ID\":\"123\"}}", ETCD_OK, &res);
	assert_int_equal(res.lease_id, 123);
	assert_int_equal(res.lease_ttl, 0);
	etcd_arena_free(a);
	a = parse("{\"result\":{" HDR("3") ",\"ID\":\"123\",\"TTL\":\"-1\"}}", ETCD_OK, &res);
	assert_int_equal(res.lease_ttl, -1);
	etcd_arena_free(a);

	/* Revoke. */
	a = parse("{" HDR("5") "}", ETCD_OK, &res);
	assert_int_equal(res.lease_id, 0);
	etcd_arena_free(a);

	/* LeaseGrantResponse has an "error" field of its own. */
	a = parse("{" HDR("3") ",\"ID\":\"1\",\"TTL\":\"5\",\"error\":\"lessor: no space\"}",
	          ETCD_REJECTED, &res);
	assert_string_equal(res.error, "lessor: no space");
	etcd_arena_free(a);
	a = parse("{" HDR("3") ",\"ID\":\"1\",\"TTL\":\"5\",\"error\":\"\"}", ETCD_OK, &res);
	etcd_arena_free(a);

	expect_bad("{\"result\":[]}", "result");
	expect_bad("{\"result\":{\"ID\":\"1\"}}", "header");
	expect_bad("{\"result\":{" HDR("3") ",\"TTL\":true}}", "TTL");
}

static void test_errors(void **state)
{
	(void)state;
	etcd_result res;
	etcd_arena *a = parse("{\"error\":\"etcdserver: requested lease not found\",\"message\":"
	                      "\"etcdserver: requested lease not found\",\"code\":5}",
	                      ETCD_REJECTED, &res);
	assert_string_equal(res.error, "etcdserver: requested lease not found");
	assert_int_equal(res.revision, 0);
	etcd_arena_free(a);

	a = parse("{\"error\":\"etcdserver: no leader\",\"message\":\"etcdserver: no leader\","
	          "\"code\":14}",
	          ETCD_UNAVAILABLE, &res);
	assert_string_equal(res.error, "etcdserver: no leader");
	etcd_arena_free(a);
	a = parse("{\"error\":\"etcdserver: request timed out\",\"code\":14}", ETCD_UNAVAILABLE,
	          &res);
	etcd_arena_free(a);
	/* Classified by the message even with an odd code, and by the code alone. */
	a = parse("{\"error\":\"rpc error: not leader\",\"code\":2}", ETCD_UNAVAILABLE, &res);
	etcd_arena_free(a);
	a = parse("{\"error\":\"something\",\"code\":\"14\"}", ETCD_UNAVAILABLE, &res);
	etcd_arena_free(a);
	a = parse("{\"error\":\"something\"}", ETCD_REJECTED, &res);
	etcd_arena_free(a);

	a = parse("{\"error\":\"etcdserver: invalid auth token\",\"message\":\"etcdserver: invalid "
	          "auth token\",\"code\":16}",
	          ETCD_REJECTED, &res);
	assert_true(etcd_is_token_error(res.error));
	etcd_arena_free(a);
	a = parse("{\"error\":\"etcdserver: authentication failed, invalid user ID or password\","
	          "\"code\":3}",
	          ETCD_REJECTED, &res);
	assert_false(etcd_is_token_error(res.error));
	etcd_arena_free(a);

	/* A stream's error, possibly inside the keepalive stream's result. */
	a = parse("{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"transport is "
	          "closing\",\"http_status\":\"Service Unavailable\"}}",
	          ETCD_UNAVAILABLE, &res);
	assert_string_equal(res.error, "transport is closing");
	etcd_arena_free(a);
	a = parse("{\"result\":{\"error\":\"etcdserver: requested lease not found\",\"code\":5}}",
	          ETCD_REJECTED, &res);
	etcd_arena_free(a);
	/* Newer gateways: {"code", "message"}. */
	a = parse("{\"code\":3,\"message\":\"bad key\",\"details\":[]}", ETCD_REJECTED, &res);
	assert_string_equal(res.error, "bad key");
	etcd_arena_free(a);
	/* Control characters in messages are replaced; no message at all still gives one. */
	a = parse("{\"error\":\"a\\nb\\u0001c\",\"code\":3}", ETCD_REJECTED, &res);
	assert_string_equal(res.error, "a?b?c");
	etcd_arena_free(a);
	a = parse("{\"error\":{\"grpc_code\":5}}", ETCD_REJECTED, &res);
	assert_contains(res.error, "without a message");
	etcd_arena_free(a);

	expect_bad("{\"error\":5}", "error");
	expect_bad("{\"error\":\"x\",\"code\":\"five\"}", "code");
	expect_bad("{\"error\":{\"grpc_code\":[]}}", "grpc_code");
}

static void test_hostile(void **state)
{
	(void)state;
	expect_bad("", "not JSON");
	expect_bad("not json", "not JSON");
	expect_bad("{\"header\":{}", "not JSON");
	expect_bad("{\"header\":{}} trailing", "not JSON");
	expect_bad("[]", "not a JSON object");
	expect_bad("{}", "header");
	expect_bad("{\"kvs\":[]}", "header");
	expect_bad("{\"header\":[]}", "header");
	expect_bad("{\"header\":\"x\"}", "header");
	expect_bad("{\"header\":{\"revision\":true}}", "revision");
	expect_bad("{\"header\":{\"revision\":1.5}}", "revision");
	expect_bad("{\"header\":{\"revision\":\"1.5\"}}", "revision");
	expect_bad("{\"header\":{\"revision\":\"12x\"}}", "revision");
	expect_bad("{\"header\":{\"revision\":\"\"}}", "revision");
	expect_bad("{\"header\":{\"revision\":\"-\"}}", "revision");
	expect_bad("{\"header\":{\"revision\":\" 1\"}}", "revision");
	expect_bad("{\"header\":{\"revision\":\"+1\"}}", "revision");
	expect_bad("{\"header\":{\"revision\":\"9223372036854775808\"}}", "revision");
	expect_bad("{\"header\":{\"revision\":\"-9223372036854775809\"}}", "revision");
	expect_bad("{\"header\":{\"revision\":\"99999999999999999999999999\"}}", "revision");
	expect_bad("{\"header\":{\"revision\":99999999999999999999999999}}", NULL);
	expect_bad("{\"header\":{\"revision\":1e30}}", "revision");
	expect_bad("{\"header\":{},\"kvs\":{}}", "kvs");
	expect_bad("{\"header\":{},\"kvs\":[1]}", "key-value");
	expect_bad("{\"header\":{},\"kvs\":[{\"key\":5}]}", "key");
	expect_bad("{\"header\":{},\"kvs\":[{\"key\":\"Zm9v\",\"value\":{}}]}", "value");
	expect_bad("{\"header\":{},\"kvs\":[{\"key\":\"!!!!\"}]}", "base64");
	expect_bad("{\"header\":{},\"kvs\":[{\"key\":\"Z\"}]}", "base64");
	expect_bad("{\"header\":{},\"kvs\":[{\"key\":\"Z===\"}]}", "base64");
	expect_bad("{\"header\":{},\"kvs\":[{\"key\":\"Zm=v\"}]}", "base64");
	expect_bad("{\"header\":{},\"kvs\":[{\"key\":\"Zm9v \"}]}", "base64");
	expect_bad("{\"header\":{},\"kvs\":[{\"key\":\"Zg=\"}]}", "base64");
	expect_bad("{\"header\":{},\"ID\":{}}", "ID");
	expect_bad("{\"header\":{},\"kvs\":[{\"key\":\"Zm9v\",\"mod_revision\":[1]}]}",
	           "mod_revision");
	expect_bad("{\"header\":{},\"x\":\"\xff\xfe\"}", "not JSON"); /* not UTF-8 */

	/* Limits of int64 are fine. */
	etcd_result res;
	etcd_arena *a = parse("{\"header\":{\"revision\":\"9223372036854775807\"},\"ID\":"
	                      "\"-9223372036854775808\"}",
	                      ETCD_OK, &res);
	assert_true(res.revision == INT64_MAX);
	assert_true(res.lease_id == INT64_MIN);
	etcd_arena_free(a);

	/* A NUL byte inside, and no body at all. */
	static const char with_nul[] = "{\"header\":{}}\0{}";
	etcd_arena *b = NULL;
	assert_int_equal(etcd_parse_answer(with_nul, sizeof with_nul - 1, &res, &b), -1);
	assert_int_equal(res.status, ETCD_BAD_ANSWER);
	etcd_arena_free(b);
	b = NULL;
	assert_int_equal(etcd_parse_answer(NULL, 0, &res, &b), -1);
	assert_int_equal(res.status, ETCD_BAD_ANSWER);
	etcd_arena_free(b);

	/* Deeply nested. */
	size_t depth = 100000;
	char *deep = malloc(depth * 2 + 32);
	assert_non_null(deep);
	size_t n = 0;
	n += (size_t)sprintf(deep, "{\"header\":{},\"x\":");
	for (size_t i = 0; i < depth; i++)
		deep[n++] = '[';
	for (size_t i = 0; i < depth; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	deep[n] = '\0';
	expect_bad(deep, NULL);
	etcd_watch_msg msg;
	b = NULL;
	assert_int_equal(etcd_parse_watch_msg(deep, n, &msg, &b), -1);
	etcd_arena_free(b);
	free(deep);

	/* Many keys and a long value. */
	size_t count = 20000;
	char *many = malloc(count * 20 + 64);
	assert_non_null(many);
	n = (size_t)sprintf(many, "{\"header\":{},\"kvs\":[");
	for (size_t i = 0; i < count; i++)
		n += (size_t)sprintf(many + n, "%s{\"key\":\"YQ==\"}", i ? "," : "");
	n += (size_t)sprintf(many + n, "]}");
	a = parse(many, ETCD_OK, &res);
	assert_int_equal(res.nkvs, count);
	assert_string_equal(res.kvs[count - 1].key, "a");
	etcd_arena_free(a);
	free(many);
}

static void test_watch(void **state)
{
	(void)state;
	etcd_watch_msg msg;
	etcd_status st;
	etcd_arena *a = watch("{\"result\":{" HDR("7") ",\"created\":true}}", 0, &msg, &st);
	assert_true(msg.created);
	assert_false(msg.canceled);
	assert_int_equal(msg.revision, 7);
	assert_int_equal(msg.nevents, 0);
	assert_null(msg.error);
	assert_int_equal(st, ETCD_OK);
	etcd_arena_free(a);

	/* A PUT (no "type"), a PUT with an empty value (no "value"), a DELETE. */
	a = watch("{\"result\":{" HDR(
	              "8") ",\"events\":[{\"kv\":{\"key\":\"dy9h\",\"create_revision\":"
	                   "\"8\",\"mod_revision\":\"8\",\"version\":\"1\",\"value\":\"MQ==\"}}]}}",
	          0, &msg, &st);
	assert_int_equal(msg.nevents, 1);
	assert_int_equal(msg.events[0].type, ETCD_EVENT_PUT);
	assert_string_equal(msg.events[0].kv.key, "w/a");
	assert_string_equal(msg.events[0].kv.value, "1");
	assert_int_equal(msg.events[0].kv.mod_revision, 8);
	assert_int_equal(msg.revision, 8);
	assert_false(msg.created);
	etcd_arena_free(a);
	a = watch(
	    "{\"result\":{" HDR("9") ",\"events\":[{\"kv\":{\"key\":\"dy9h\",\"create_revision\":"
	                             "\"8\",\"mod_revision\":\"9\",\"version\":\"2\"}}]}}",
	    0, &msg, &st);
	assert_int_equal(msg.events[0].type, ETCD_EVENT_PUT);
	assert_int_equal(msg.events[0].kv.value_len, 0);
	assert_int_equal(msg.events[0].kv.version, 2);
	etcd_arena_free(a);
	a = watch("{\"result\":{" HDR("10") ",\"events\":[{\"type\":\"DELETE\",\"kv\":{\"key\":"
	                                    "\"dy9h\",\"mod_revision\":\"10\"}}]}}",
	          0, &msg, &st);
	assert_int_equal(msg.events[0].type, ETCD_EVENT_DELETE);
	assert_string_equal(msg.events[0].kv.key, "w/a");
	assert_int_equal(msg.events[0].kv.mod_revision, 10);
	etcd_arena_free(a);

	/* Several events, numeric types, in order. */
	a = watch("{\"result\":{\"header\":{\"revision\":\"12\"},\"events\":[{\"type\":0,\"kv\":{"
	          "\"key\":\"YQ==\",\"mod_revision\":\"11\"}},{\"type\":1,\"kv\":{\"key\":\"Yg==\","
	          "\"mod_revision\":\"12\"}},{\"type\":\"PUT\",\"kv\":{\"key\":\"Yw==\"},"
	          "\"prev_kv\":{\"key\":\"Yw==\"}}]}}",
	          0, &msg, &st);
	assert_int_equal(msg.nevents, 3);
	assert_int_equal(msg.events[0].type, ETCD_EVENT_PUT);
	assert_int_equal(msg.events[1].type, ETCD_EVENT_DELETE);
	assert_int_equal(msg.events[2].type, ETCD_EVENT_PUT);
	assert_string_equal(msg.events[2].kv.key, "c");
	etcd_arena_free(a);

	/* Compacted: the header has no revision. */
	a = watch("{\"result\":{\"header\":{\"cluster_id\":\"15118495548433857066\",\"member_id\":"
	          "\"13668033151171901709\",\"raft_term\":\"2\"},\"canceled\":true,"
	          "\"compact_revision\":\"8\"}}",
	          0, &msg, &st);
	assert_true(msg.canceled);
	assert_int_equal(msg.compact_revision, 8);
	assert_int_equal(msg.revision, 0);
	assert_non_null(msg.error);
	assert_contains(msg.error, "compacted");
	assert_int_equal(st, ETCD_REJECTED);
	etcd_arena_free(a);

	/* Canceled for an expired token (created and canceled at once). */
	a = watch(
	    "{\"result\":{" HDR("10") ",\"watch_id\":\"-1\",\"created\":true,\"canceled\":true,"
	                              "\"cancel_reason\":\"rpc error: code = Unauthenticated desc "
	                              "= etcdserver: invalid "
	                              "auth token\"}}",
	    0, &msg, &st);
	assert_true(msg.canceled);
	assert_true(msg.created);
	assert_contains(msg.error, "invalid auth token");
	assert_int_equal(st, ETCD_UNAVAILABLE);
	etcd_arena_free(a);
	a = watch(
	    "{\"result\":{" HDR("10") ",\"canceled\":true,\"cancel_reason\":\"rpc error: code "
	                              "= PermissionDenied desc = etcdserver: permission denied\"}}",
	    0, &msg, &st);
	assert_int_equal(st, ETCD_REJECTED);
	etcd_arena_free(a);
	a = watch("{\"result\":{" HDR("10") ",\"canceled\":true}}", 0, &msg, &st);
	assert_contains(msg.error, "canceled");
	assert_int_equal(st, ETCD_REJECTED);
	etcd_arena_free(a);

	/* The stream broke. */
	a = watch("{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"etcdserver: no "
	          "leader\",\"http_status\":\"Service Unavailable\"}}",
	          0, &msg, &st);
	assert_true(msg.canceled);
	assert_string_equal(msg.error, "etcdserver: no leader");
	assert_int_equal(st, ETCD_UNAVAILABLE);
	etcd_arena_free(a);
	a = watch("{\"error\":{\"grpc_code\":1,\"message\":\"context canceled\"}}", 0, &msg, &st);
	assert_int_equal(st, ETCD_UNAVAILABLE);
	etcd_arena_free(a);
	a = watch("{\"error\":{\"grpc_code\":7,\"message\":\"permission denied\"}}", 0, &msg, &st);
	assert_int_equal(st, ETCD_REJECTED);
	etcd_arena_free(a);
	a = watch("{\"error\":\"illegal base64 data at input byte 0\",\"code\":2}", 0, &msg, &st);
	assert_true(msg.canceled);
	etcd_arena_free(a);

	expect_watch_bad("");
	expect_watch_bad("{\"result\":{\"created\":true}"); /* truncated */
	expect_watch_bad("{}");
	expect_watch_bad("{\"result\":5}");
	expect_watch_bad("{\"result\":{\"created\":true}}"); /* no header */
	expect_watch_bad("{\"result\":{\"header\":{},\"created\":\"yes\"}}");
	expect_watch_bad("{\"result\":{\"header\":{},\"canceled\":1}}");
	expect_watch_bad("{\"result\":{\"header\":{},\"compact_revision\":\"x\"}}");
	expect_watch_bad("{\"result\":{\"header\":{},\"cancel_reason\":7,\"canceled\":true}}");
	expect_watch_bad("{\"result\":{\"header\":{},\"events\":{}}}");
	expect_watch_bad("{\"result\":{\"header\":{},\"events\":[7]}}");
	expect_watch_bad("{\"result\":{\"header\":{},\"events\":[{}]}}"); /* no kv */
	expect_watch_bad("{\"result\":{\"header\":{},\"events\":[{\"type\":\"PUTT\",\"kv\":{}}]}}");
	expect_watch_bad("{\"result\":{\"header\":{},\"events\":[{\"type\":2,\"kv\":{}}]}}");
	expect_watch_bad("{\"result\":{\"header\":{},\"events\":[{\"type\":[],\"kv\":{}}]}}");
	expect_watch_bad("{\"result\":{\"header\":{},\"events\":[{\"kv\":{\"key\":\"%%\"}}]}}");
	expect_watch_bad("{\"result\":{\"header\":{},\"events\":[{\"kv\":[]}]}}");
	expect_watch_bad("{\"result\":{\"header\":{\"revision\":\"1e3\"}}}");
	expect_watch_bad("{\"result\":{\"header\":{}}}{\"result\":{\"header\":{}}}"); /* two */

	/* A compaction without "canceled" still ends the watch. */
	a = watch("{\"result\":{\"header\":{},\"compact_revision\":\"3\"}}", 0, &msg, &st);
	assert_true(msg.canceled);
	assert_int_equal(st, ETCD_REJECTED);
	etcd_arena_free(a);
}

static void test_base64(void **state)
{
	(void)state;
	unsigned char data[300], out[sizeof data + 3];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (unsigned char)(i * 37 + 11);
	for (size_t len = 0; len <= sizeof data; len++) {
		char *enc = b64_encode(data, len);
		size_t elen = strlen(enc);
		assert_int_equal(elen, (len + 2) / 3 * 4);
		assert_true(b64_decoded_max(elen) <= sizeof out);
		size_t olen = 9999;
		assert_int_equal(b64_decode(enc, elen, out, &olen), 0);
		assert_int_equal(olen, len);
		assert_memory_equal(out, data, len);
		/* Without padding too. */
		while (elen && enc[elen - 1] == '=')
			elen--;
		assert_int_equal(b64_decode(enc, elen, out, &olen), 0);
		assert_int_equal(olen, len);
		free(enc);
	}
	char *s = b64_encode("foo", 3);
	assert_string_equal(s, "Zm9v");
	free(s);
	s = b64_encode("\xff\xfe", 2);
	assert_string_equal(s, "//4=");
	free(s);
	size_t olen;
	assert_int_equal(b64_decode("Zm9v", 4, out, &olen), 0);
	assert_memory_equal(out, "foo", 3);
	assert_int_equal(b64_decode("Zm-v", 4, out, &olen), -1);
	assert_int_equal(b64_decode("Zm9vY", 5, out, &olen), -1);
	assert_int_equal(b64_decode("====", 4, out, &olen), -1);
	assert_int_equal(b64_decode("=", 1, out, &olen), -1);
	assert_int_equal(b64_decode("Zm9v\n", 5, out, &olen), -1);
	assert_int_equal(b64_decode("", 0, out, &olen), 0);
	assert_int_equal(olen, 0);
}

static void check_prefix_end(const char *prefix, size_t len, const char *want, size_t want_len)
{
	size_t n;
	unsigned char *end = etcd_prefix_end(prefix, len, &n);
	assert_int_equal(n, want_len);
	assert_memory_equal(end, want, n);
	free(end);
}

static void test_prefix_end(void **state)
{
	(void)state;
	check_prefix_end("a", 1, "b", 1);
	check_prefix_end("/tandem/", 8, "/tandem0", 8);
	check_prefix_end("a\xff", 2, "b", 1);
	check_prefix_end("a\xfe\xff\xff", 4, "a\xff", 2);
	check_prefix_end("\xff\xff", 2, "\0", 1);
	check_prefix_end("", 0, "\0", 1);
}

static json_t *load_json(char *s)
{
	json_t *j = json_loads(s, 0, NULL);
	free(s);
	assert_non_null(j);
	return j;
}

static void test_requests(void **state)
{
	(void)state;
	json_t *j = load_json(etcd_req_range("foo", true));
	assert_string_equal(json_string_value(json_object_get(j, "key")), "Zm9v");
	assert_string_equal(json_string_value(json_object_get(j, "range_end")), "Zm9w");
	json_decref(j);
	j = load_json(etcd_req_range("foo", false));
	assert_null(json_object_get(j, "range_end"));
	json_decref(j);
	j = load_json(etcd_req_delete("", true)); /* everything */
	assert_string_equal(json_string_value(json_object_get(j, "key")), "AA==");
	assert_string_equal(json_string_value(json_object_get(j, "range_end")), "AA==");
	json_decref(j);

	j = load_json(etcd_req_put("k", "v", 0));
	assert_null(json_object_get(j, "lease"));
	assert_string_equal(json_string_value(json_object_get(j, "value")), "dg==");
	json_decref(j);
	j = load_json(etcd_req_put("k", "", INT64_C(4111120157215157006)));
	assert_string_equal(json_string_value(json_object_get(j, "lease")), "4111120157215157006");
	assert_string_equal(json_string_value(json_object_get(j, "value")), "");
	json_decref(j);

	etcd_compare cmp[] = {
	    {.key = "lead", .target = ETCD_CMP_VERSION, .number = 0},
	    {.key = "lead", .target = ETCD_CMP_VALUE, .value = "me"},
	    {.key = "lead", .target = ETCD_CMP_MOD, .number = 42},
	    {.key = "lead", .target = ETCD_CMP_LEASE, .number = -7},
	    {.key = "lead", .target = ETCD_CMP_CREATE, .number = 3},
	};
	etcd_op ok[] = {{.kind = ETCD_OP_PUT, .key = "lead", .value = "me", .lease = 5},
	                {.kind = ETCD_OP_DELETE, .key = "x"}};
	etcd_op ko[] = {{.kind = ETCD_OP_GET, .key = "lead"}};
	j = load_json(etcd_req_txn(cmp, 5, ok, 2, ko, 1));
	json_t *c = json_object_get(j, "compare");
	assert_int_equal(json_array_size(c), 5);
	assert_string_equal(json_string_value(json_object_get(json_array_get(c, 0), "target")),
	                    "VERSION");
	assert_string_equal(json_string_value(json_object_get(json_array_get(c, 0), "version")),
	                    "0");
	assert_string_equal(json_string_value(json_object_get(json_array_get(c, 0), "result")),
	                    "EQUAL");
	assert_string_equal(json_string_value(json_object_get(json_array_get(c, 1), "value")),
	                    "bWU=");
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(c, 2), "mod_revision")), "42");
	assert_string_equal(json_string_value(json_object_get(json_array_get(c, 3), "lease")),
	                    "-7");
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(c, 4), "create_revision")), "3");
	json_t *s0 = json_array_get(json_object_get(j, "success"), 0);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(s0, "request_put"), "lease")), "5");
	assert_non_null(json_object_get(json_array_get(json_object_get(j, "success"), 1),
	                                "request_delete_range"));
	assert_non_null(
	    json_object_get(json_array_get(json_object_get(j, "failure"), 0), "request_range"));
	json_decref(j);

	j = load_json(etcd_req_txn(NULL, 0, NULL, 0, NULL, 0));
	assert_int_equal(json_array_size(json_object_get(j, "compare")), 0);
	json_decref(j);

	j = load_json(etcd_req_lease_grant(10));
	assert_string_equal(json_string_value(json_object_get(j, "TTL")), "10");
	json_decref(j);
	j = load_json(etcd_req_lease_id(INT64_MIN));
	assert_string_equal(json_string_value(json_object_get(j, "ID")), "-9223372036854775808");
	json_decref(j);

	j = load_json(etcd_req_auth("root", "p\"w\\"));
	assert_string_equal(json_string_value(json_object_get(j, "password")), "p\"w\\");
	json_decref(j);
	assert_null(etcd_req_auth("ro\xffot", "pw"));
	assert_null(etcd_req_auth("root", "\xc3"));

	j = load_json(etcd_req_watch("/t/", 12));
	json_t *cr = json_object_get(j, "create_request");
	assert_string_equal(json_string_value(json_object_get(cr, "key")), "L3Qv");
	assert_string_equal(json_string_value(json_object_get(cr, "range_end")), "L3Qw");
	assert_string_equal(json_string_value(json_object_get(cr, "start_revision")), "12");
	json_decref(j);
	j = load_json(etcd_req_watch("/t/", 0));
	assert_null(json_object_get(json_object_get(j, "create_request"), "start_revision"));
	json_decref(j);

	/* Auth tokens. */
	static const char tok[] = "{\"header\":{},\"token\":\"sGqQmjogsPmAHCHp.25\"}";
	char *t = etcd_parse_auth_token(tok, sizeof tok - 1);
	assert_string_equal(t, "sGqQmjogsPmAHCHp.25");
	free(t);
	static const char crlf[] = "{\"header\":{},\"token\":\"a\\r\\nX-Evil: 1\"}";
	assert_null(etcd_parse_auth_token(crlf, sizeof crlf - 1));
	assert_null(etcd_parse_auth_token("{\"token\":\"\"}", 12));
	assert_null(etcd_parse_auth_token("{\"token\":5}", 11));
	assert_null(etcd_parse_auth_token("nope", 4));
}

static void test_classify(void **state)
{
	(void)state;
	assert_int_equal(etcd_classify(14, "x", ETCD_REJECTED), ETCD_UNAVAILABLE);
	assert_int_equal(etcd_classify(4, NULL, ETCD_REJECTED), ETCD_UNAVAILABLE);
	assert_int_equal(
	    etcd_classify(5, "etcdserver: requested lease not found", ETCD_UNAVAILABLE),
	    ETCD_REJECTED);
	assert_int_equal(etcd_classify(-1, "etcdserver: leader changed", ETCD_REJECTED),
	                 ETCD_UNAVAILABLE);
	assert_int_equal(etcd_classify(-1,
	                               "etcdserver: request timed out, possibly due to "
	                               "previous leader failure",
	                               ETCD_REJECTED),
	                 ETCD_UNAVAILABLE);
	assert_int_equal(etcd_classify(2, "mystery", ETCD_REJECTED), ETCD_REJECTED);
	assert_int_equal(etcd_classify(2, "mystery", ETCD_UNAVAILABLE), ETCD_UNAVAILABLE);
	assert_true(etcd_is_token_error("etcdserver: revision of auth store is old"));
	assert_false(etcd_is_token_error(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_range),    cmocka_unit_test(test_txn),
	    cmocka_unit_test(test_lease),    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_hostile),  cmocka_unit_test(test_watch),
	    cmocka_unit_test(test_base64),   cmocka_unit_test(test_prefix_end),
	    cmocka_unit_test(test_requests), cmocka_unit_test(test_classify),
	};
	return cmocka_run_group_tests_name("etcd_parse", tests, NULL, NULL);
}
