/* Unit tests for rest_guard.h: the exposure rule (loopback, authentication or the opt-in), the
 * allowlist, the throttle of failed authentications and the audit line. */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "rest_guard.h"

static struct sockaddr_storage peer(const char *text)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(40000);
	} else {
		assert_int_equal(inet_pton(AF_INET6, text, &v6->sin6_addr), 1);
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(40001);
	}
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static void test_loopback(void **state)
{
	(void)state;
	assert_true(rest_listen_is_loopback("127.0.0.1:8008"));
	assert_true(rest_listen_is_loopback("127.1.2.3:8008"));
	assert_true(rest_listen_is_loopback("localhost:8008"));
	assert_true(rest_listen_is_loopback("[::1]:8008"));
	assert_true(rest_listen_is_loopback("[::ffff:127.0.0.1]:8008"));
	assert_false(rest_listen_is_loopback("0.0.0.0:8008"));
	assert_false(rest_listen_is_loopback("[::]:8008"));
	assert_false(rest_listen_is_loopback("10.0.0.5:8008"));
	assert_false(rest_listen_is_loopback("128.0.0.1:8008"));
	assert_false(rest_listen_is_loopback(NULL));
	assert_false(rest_listen_is_loopback("nowhere"));
}

/* The rule as a table: listen address x credentials x opt-in. */
static void test_exposure_rule(void **state)
{
	(void)state;
	static const struct {
		const char *listen;
		const char *user;
		bool opt_in;
		rest_exposure want;
	} rows[] = {
	    {"127.0.0.1:8008", NULL, false, REST_EXPOSURE_LOOPBACK},
	    {"[::1]:8008", NULL, false, REST_EXPOSURE_LOOPBACK},
	    {"localhost:8008", NULL, true, REST_EXPOSURE_LOOPBACK},
	    {"127.0.0.1:8008", "admin", false, REST_EXPOSURE_AUTHENTICATED},
	    {"0.0.0.0:8008", "admin", false, REST_EXPOSURE_AUTHENTICATED},
	    {"10.0.0.5:8008", "admin", true, REST_EXPOSURE_AUTHENTICATED},
	    {"0.0.0.0:8008", NULL, false, REST_EXPOSURE_REFUSED},
	    {"[::]:8008", NULL, false, REST_EXPOSURE_REFUSED},
	    {"10.0.0.5:8008", NULL, false, REST_EXPOSURE_REFUSED},
	    {"10.0.0.5:8008", "", false, REST_EXPOSURE_REFUSED},
	    {"0.0.0.0:8008", NULL, true, REST_EXPOSURE_OPTED_IN},
	    {"10.0.0.5:8008", NULL, true, REST_EXPOSURE_OPTED_IN},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		tandemd_settings s;
		memset(&s, 0, sizeof s);
		s.restapi_listen = (char *)rows[i].listen;
		s.restapi_username = (char *)rows[i].user;
		s.restapi_password = rows[i].user ? "pw" : NULL;
		s.restapi_allow_unauthenticated_changes = rows[i].opt_in;
		char *err = NULL;
		rest_exposure got = rest_exposure_check(&s, &err);
		if (got != rows[i].want)
			print_error("row %zu: %s user %s opt-in %d\n", i, rows[i].listen,
			            rows[i].user ? rows[i].user : "(none)", rows[i].opt_in);
		assert_int_equal(got, rows[i].want);
		if (got == REST_EXPOSURE_REFUSED) {
			assert_contains(err, rows[i].listen);
			assert_contains(err, "restapi.authentication");
			assert_contains(err, "restapi.allow_unauthenticated_changes");
		} else {
			assert_null(err);
		}
		free(err);
	}
}

/* Client certificates (restapi.verify_client optional or required, over TLS with a CA) guard the
 * changing endpoints as a password does. */
static void test_exposure_client_certificates(void **state)
{
	(void)state;
	static const struct {
		const char *verify;
		bool tls;
		rest_exposure want;
	} rows[] = {
	    {"optional", true, REST_EXPOSURE_AUTHENTICATED},
	    {"required", true, REST_EXPOSURE_AUTHENTICATED},
	    {"none", true, REST_EXPOSURE_REFUSED},
	    {NULL, true, REST_EXPOSURE_REFUSED},
	    {"required", false, REST_EXPOSURE_REFUSED},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		tandemd_settings s;
		memset(&s, 0, sizeof s);
		s.restapi_listen = "10.0.0.5:8008";
		s.restapi_verify_client = (char *)(uintptr_t)rows[i].verify;
		if (rows[i].tls) {
			s.restapi_certfile = "/r.crt";
			s.restapi_keyfile = "/r.key";
			s.restapi_cafile = "/ca.crt";
		}
		char *err = NULL;
		assert_int_equal(rest_exposure_check(&s, &err), rows[i].want);
		if (rows[i].want == REST_EXPOSURE_REFUSED)
			assert_contains(err, "restapi.verify_client");
		free(err);
	}
}

static void test_allowlist(void **state)
{
	(void)state;
	cidr_list allow = {0, NULL};
	char *err = NULL;
	struct sockaddr_storage in = peer("10.0.0.7"), out = peer("10.0.1.7"),
	                        mapped = peer("::ffff:10.0.0.9"), v6 = peer("2001:db8::1");

	/* An empty allowlist admits everyone, everywhere. */
	assert_true(rest_allowlist_admits(&allow, NULL, false, true, SA(out)));
	assert_true(rest_allowlist_admits(&allow, NULL, true, false, SA(out)));

	assert_int_equal(cidr_list_parse("10.0.0.0/24, 2001:db8::/32", &allow, &err), 0);
	/* Changing endpoints: only the listed peers. */
	assert_true(rest_allowlist_admits(&allow, NULL, false, true, SA(in)));
	assert_true(rest_allowlist_admits(&allow, NULL, false, true, SA(mapped)));
	assert_true(rest_allowlist_admits(&allow, NULL, false, true, SA(v6)));
	assert_false(rest_allowlist_admits(&allow, NULL, false, true, SA(out)));
	assert_false(rest_allowlist_admits(&allow, NULL, false, true, NULL));
	/* Health checks: everyone, unless allowlist_all. */
	assert_true(rest_allowlist_admits(&allow, NULL, false, false, SA(out)));
	assert_false(rest_allowlist_admits(&allow, NULL, true, false, SA(out)));
	assert_true(rest_allowlist_admits(&allow, NULL, true, false, SA(in)));
	cidr_list_free(&allow);
}

/* restapi.allowlist_include_members: the hosts of the members' api_url, numeric ones only. */
static void test_allowlist_include_members(void **state)
{
	(void)state;
	dcs_member members[] = {
	    {.name = "m1", .api_url = "http://10.0.2.1:8008/patroni"},
	    {.name = "m2", .api_url = "http://[2001:db8::2]:8008/patroni"},
	    {.name = "m3", .api_url = "http://db3.example.com:8008/patroni"},
	    {.name = "m4", .api_url = NULL},
	    {.name = "m5", .api_url = "not a url"},
	};
	dcs_view view = {.members = members, .nmembers = sizeof members / sizeof members[0]};
	struct sockaddr_storage m1 = peer("10.0.2.1"), m1_mapped = peer("::ffff:10.0.2.1"),
	                        m2 = peer("2001:db8::2"), other = peer("10.0.2.9"),
	                        listed = peer("192.0.2.7");
	assert_true(rest_peer_is_member(&view, SA(m1)));
	assert_true(rest_peer_is_member(&view, SA(m1_mapped)));
	assert_true(rest_peer_is_member(&view, SA(m2)));
	assert_false(rest_peer_is_member(&view, SA(other)));
	assert_false(rest_peer_is_member(NULL, SA(m1)));

	/* Members alone restrict the changing endpoints... */
	cidr_list none = {0, NULL};
	assert_true(rest_allowlist_admits(&none, &view, false, true, SA(m1)));
	assert_false(rest_allowlist_admits(&none, &view, false, true, SA(other)));
	assert_true(rest_allowlist_admits(&none, &view, false, false, SA(other)));
	/* ...and add to an allowlist. */
	cidr_list allow = {0, NULL};
	char *err = NULL;
	assert_int_equal(cidr_list_parse("192.0.2.0/24", &allow, &err), 0);
	assert_true(rest_allowlist_admits(&allow, &view, false, true, SA(listed)));
	assert_true(rest_allowlist_admits(&allow, &view, true, false, SA(m2)));
	assert_false(rest_allowlist_admits(&allow, &view, true, false, SA(other)));
	assert_false(rest_allowlist_admits(&allow, NULL, false, true, SA(m1)));
	cidr_list_free(&allow);
}

static void test_throttle_blocks_after_five_failures(void **state)
{
	(void)state;
	rest_throttle *t = xcalloc(1, sizeof *t);
	struct sockaddr_storage a = peer("10.0.0.7"), a_mapped = peer("::ffff:10.0.0.7"),
	                        b = peer("10.0.0.8");
	uint64_t now = 1000000;
	unsigned retry = 0;
	for (int i = 0; i < REST_THROTTLE_FAILURES - 1; i++) {
		assert_false(rest_throttle_failed(t, SA(a), now + (uint64_t)i * 1000));
		assert_false(rest_throttle_blocked(t, SA(a), now + (uint64_t)i * 1000, NULL));
	}
	/* The fifth within the window starts the block, for the peer whatever its port or form. */
	assert_true(rest_throttle_failed(t, SA(a_mapped), now + 4000));
	assert_true(rest_throttle_blocked(t, SA(a), now + 4000, &retry));
	assert_int_equal(retry, REST_THROTTLE_BLOCK_MS / 1000);
	assert_true(
	    rest_throttle_blocked(t, SA(a), now + 4000 + REST_THROTTLE_BLOCK_MS - 1, &retry));
	assert_int_equal(retry, 1);
	assert_false(rest_throttle_blocked(t, SA(b), now + 4000, NULL));
	/* It ends after the block. */
	assert_false(rest_throttle_blocked(t, SA(a), now + 4000 + REST_THROTTLE_BLOCK_MS, NULL));
	assert_false(rest_throttle_failed(t, SA(a), now + 4000 + REST_THROTTLE_BLOCK_MS));
	free(t);
}

static void test_throttle_window_and_success(void **state)
{
	(void)state;
	rest_throttle *t = xcalloc(1, sizeof *t);
	struct sockaddr_storage a = peer("2001:db8::7");
	uint64_t now = 5000;
	/* Failures spread wider than the window never block. */
	for (int i = 0; i < 20; i++)
		assert_false(rest_throttle_failed(
		    t, SA(a), now + (uint64_t)i * (REST_THROTTLE_WINDOW_MS / 4 + 1)));
	/* A success forgets the failures before it. */
	now += 1000000;
	for (int i = 0; i < REST_THROTTLE_FAILURES - 1; i++)
		assert_false(rest_throttle_failed(t, SA(a), now));
	rest_throttle_succeeded(t, SA(a));
	assert_false(rest_throttle_failed(t, SA(a), now));
	assert_false(rest_throttle_blocked(t, SA(a), now, NULL));
	free(t);
}

/* A full table makes room by forgetting the peer that failed longest ago; it never grows. */
static void test_throttle_table_is_bounded(void **state)
{
	(void)state;
	rest_throttle *t = xcalloc(1, sizeof *t);
	struct sockaddr_storage first = peer("10.1.0.0");
	for (int i = 0; i < REST_THROTTLE_FAILURES; i++)
		(void)rest_throttle_failed(t, SA(first), 100);
	assert_true(rest_throttle_blocked(t, SA(first), 101, NULL));
	/* Many more peers than slots, each failing once, later. */
	for (int i = 1; i <= 4 * REST_THROTTLE_SLOTS; i++) {
		char text[32];
		snprintf(text, sizeof text, "10.1.%d.%d", i / 256, i % 256);
		struct sockaddr_storage p = peer(text);
		assert_false(rest_throttle_failed(t, SA(p), 200 + (uint64_t)i));
	}
	/* The first peer's entry was the oldest: evicted. */
	assert_false(rest_throttle_blocked(t, SA(first), 300, NULL));
	size_t used = 0;
	for (size_t i = 0; i < REST_THROTTLE_SLOTS; i++)
		used += t->slot[i].used;
	assert_int_equal(used, REST_THROTTLE_SLOTS);
	free(t);
}

static void test_audit_line(void **state)
{
	(void)state;
	char *l = rest_audit_line("admin", "10.0.0.7:40000", "POST", "/switchover", 202,
	                          "switchover to m2 started");
	assert_string_equal(
	    l, "audit: user=admin peer=10.0.0.7:40000 POST /switchover accepted (202): switchover "
	       "to m2 started");
	free(l);
	l = rest_audit_line(NULL, "10.0.0.8:1", "PATCH", "/config", 401, "authentication failed");
	assert_string_equal(l, "audit: user=- peer=10.0.0.8:1 PATCH /config refused (401): "
	                       "authentication failed");
	free(l);
	l = rest_audit_line("", NULL, "POST", "/restart", 403, "a\nb\x01");
	assert_string_equal(l, "audit: user=- peer=- POST /restart refused (403): a?b?");
	free(l);
	char *big = xcalloc(1, 3001);
	memset(big, 'x', 3000);
	l = rest_audit_line("u", "p", "PUT", "/config", 200, big);
	assert_contains(l, "... (3000 bytes in all)");
	assert_true(strlen(l) < 1200);
	free(l);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_loopback),
	    cmocka_unit_test(test_exposure_rule),
	    cmocka_unit_test(test_exposure_client_certificates),
	    cmocka_unit_test(test_allowlist),
	    cmocka_unit_test(test_allowlist_include_members),
	    cmocka_unit_test(test_throttle_blocks_after_five_failures),
	    cmocka_unit_test(test_throttle_window_and_success),
	    cmocka_unit_test(test_throttle_table_is_bounded),
	    cmocka_unit_test(test_audit_line),
	};
	return cmocka_run_group_tests_name("rest_guard", tests, NULL, NULL);
}
