/* Fuzzes the etcd client's parsers: the same bytes (in a buffer of exactly their size) go to
 * etcd_parse_answer and etcd_parse_watch_msg, as an answer or a watch message from the gateway.
 *
 * Invariants: -1 exactly when the status is ETCD_BAD_ANSWER; an error message exactly when the
 * status is not ETCD_OK (and for every canceled watch message); no keys or events with a failure;
 * every key and value is readable over its length and NUL-terminated after it; event types and
 * statuses are in range. The bytes also go through base64: encoding then decoding gives them
 * back, and when they decode as base64 the result encodes and decodes to itself. And the end of
 * the prefix range is above every key with that prefix. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "etcd.h"
#include "etcd_internal.h"
#include "fuzz_util.h"

static volatile unsigned char sink;

static void touch(const char *s, size_t len, const char *what)
{
	FUZZ_CHECK(s != NULL, "%s is NULL", what);
	unsigned char acc = 0;
	for (size_t i = 0; i < len; i++)
		acc ^= (unsigned char)s[i];
	sink = acc;
	FUZZ_CHECK(s[len] == '\0', "%s is not NUL-terminated", what);
}

static void check_kv(const etcd_kv *kv)
{
	touch(kv->key, kv->key_len, "key");
	touch(kv->value, kv->value_len, "value");
}

static void check_answer(const char *body, size_t len)
{
	etcd_result res;
	etcd_arena *a = NULL;
	int rc = etcd_parse_answer(body, len, &res, &a);
	FUZZ_CHECK(a != NULL, "no arena");
	FUZZ_CHECK(res.status == ETCD_OK || res.status == ETCD_UNAVAILABLE ||
	               res.status == ETCD_REJECTED || res.status == ETCD_BAD_ANSWER,
	           "status %d", (int)res.status);
	FUZZ_CHECK((rc == -1) == (res.status == ETCD_BAD_ANSWER), "rc %d with status %d", rc,
	           (int)res.status);
	FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
	if (res.status == ETCD_OK) {
		FUZZ_CHECK(res.error == NULL, "success with a message: %s", res.error);
		FUZZ_CHECK(res.nkvs == 0 || res.kvs != NULL, "%zu keys without an array", res.nkvs);
		for (size_t i = 0; i < res.nkvs; i++)
			check_kv(&res.kvs[i]);
	} else {
		FUZZ_CHECK(res.error != NULL, "failure %d without a message", (int)res.status);
		touch(res.error, strlen(res.error), "error");
		FUZZ_CHECK(res.nkvs == 0, "failure with %zu keys", res.nkvs);
		FUZZ_CHECK(!res.succeeded, "failure that succeeded");
	}
	etcd_arena_free(a);
}

static void check_watch(const char *body, size_t len)
{
	etcd_watch_msg msg;
	etcd_arena *a = NULL;
	etcd_status st;
	int rc = etcd_parse_watch_msg_status(body, len, &msg, &a, &st);
	FUZZ_CHECK(a != NULL, "no arena");
	FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
	FUZZ_CHECK((rc == -1) == (st == ETCD_BAD_ANSWER), "rc %d with status %d", rc, (int)st);
	if (rc < 0) {
		FUZZ_CHECK(msg.error != NULL, "failure without a message");
		FUZZ_CHECK(msg.nevents == 0 && !msg.created && !msg.canceled,
		           "failure with content");
	} else if (msg.canceled) {
		FUZZ_CHECK(msg.error != NULL, "canceled without a reason");
		FUZZ_CHECK(st == ETCD_UNAVAILABLE || st == ETCD_REJECTED, "canceled with status %d",
		           (int)st);
	} else {
		FUZZ_CHECK(msg.error == NULL && st == ETCD_OK, "message with an error: %s",
		           msg.error);
		FUZZ_CHECK(msg.compact_revision <= 0, "compaction without cancel");
	}
	if (msg.error)
		touch(msg.error, strlen(msg.error), "error");
	FUZZ_CHECK(msg.nevents == 0 || msg.events != NULL, "%zu events without an array",
	           msg.nevents);
	for (size_t i = 0; i < msg.nevents; i++) {
		FUZZ_CHECK(msg.events[i].type == ETCD_EVENT_PUT ||
		               msg.events[i].type == ETCD_EVENT_DELETE,
		           "event type %d", (int)msg.events[i].type);
		check_kv(&msg.events[i].kv);
	}
	/* The public entry point agrees. */
	etcd_watch_msg m2;
	etcd_arena *a2 = NULL;
	FUZZ_CHECK(etcd_parse_watch_msg(body, len, &m2, &a2) == rc, "public parser disagrees");
	FUZZ_CHECK(m2.nevents == msg.nevents && m2.canceled == msg.canceled,
	           "public parser disagrees");
	etcd_arena_free(a2);
	etcd_arena_free(a);
}

static void check_base64(const char *data, size_t len)
{
	char *enc = b64_encode(data, len);
	size_t elen = strlen(enc), n = 0;
	unsigned char *dec = malloc(b64_decoded_max(elen));
	FUZZ_CHECK(dec != NULL, "malloc");
	FUZZ_CHECK(b64_decode(enc, elen, dec, &n) == 0, "own encoding rejected");
	FUZZ_CHECK(n == len && (len == 0 || memcmp(dec, data, len) == 0), "round trip lost bytes");
	free(dec);
	free(enc);

	dec = malloc(b64_decoded_max(len));
	FUZZ_CHECK(dec != NULL, "malloc");
	if (b64_decode(data, len, dec, &n) == 0) {
		FUZZ_CHECK(n <= b64_decoded_max(len) && n <= len, "decoded %zu from %zu", n, len);
		char *again = b64_encode(dec, n);
		size_t alen = strlen(again), m = 0;
		unsigned char *back = malloc(b64_decoded_max(alen));
		FUZZ_CHECK(back != NULL, "malloc");
		FUZZ_CHECK(b64_decode(again, alen, back, &m) == 0 && m == n &&
		               (n == 0 || memcmp(back, dec, n) == 0),
		           "decoded bytes do not survive a round trip");
		free(back);
		free(again);
	}
	free(dec);
}

static int compare_bytes(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n ? memcmp(a, b, n) : 0;
	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static void check_prefix_end(const char *data, size_t len)
{
	size_t n;
	unsigned char *end = etcd_prefix_end(data, len, &n);
	bool all_ff = true;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)data[i] != 0xff)
			all_ff = false;
	if (all_ff) {
		FUZZ_CHECK(n == 1 && end[0] == 0, "no end expected for an all-0xff prefix");
	} else {
		/* Above the prefix and every extension of it ("prefix\xff\xff..." included). */
		FUZZ_CHECK(compare_bytes((const unsigned char *)data, len, end, n) < 0,
		           "range end not above the prefix");
		FUZZ_CHECK(n <= len && memcmp(end, data, n - 1) == 0, "range end shape");
		FUZZ_CHECK(end[n - 1] == (unsigned char)data[n - 1] + 1,
		           "last byte not incremented");
	}
	free(end);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = fuzz_memdup(data, size);
	check_answer(body, size);
	check_watch(body, size);
	check_base64(body, size);
	check_prefix_end(body, size);
	free(body);
	return 0;
}
