/* Unit tests for src/lib/cidr.h: parsing CIDR blocks and lists, matching socket addresses. */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include "cidr.h"

/* Parses `s`, which must succeed, and checks family, prefix and the (cleared) address. */
static void check_parse(const char *s, int family, unsigned prefix, const char *addr_text)
{
	cidr c;
	char *err = NULL;
	memset(&c, 0x5a, sizeof c);
	if (cidr_parse(s, &c, &err) != 0) {
		print_error("'%s' rejected: %s\n", s, err ? err : "(no message)");
		free(err);
		fail();
	}
	assert_null(err);
	assert_int_equal(c.family, family);
	assert_int_equal(c.prefix, prefix);
	uint8_t want[16] = {0};
	assert_int_equal(inet_pton(family, addr_text, want), 1);
	char got_text[INET6_ADDRSTRLEN];
	assert_non_null(inet_ntop(family, c.addr, got_text, sizeof got_text));
	if (memcmp(c.addr, want, family == AF_INET ? 4 : 16) != 0) {
		print_error("'%s' parsed as %s, expected %s\n", s, got_text, addr_text);
		fail();
	}
	if (family == AF_INET) {
		/* The bytes past an IPv4 address stay zero. */
		static const uint8_t zero[12] = {0};
		assert_memory_equal(c.addr + 4, zero, sizeof zero);
	}
}

static void check_parse_fails(const char *s, const char *message_part)
{
	cidr c;
	char *err = NULL;
	if (cidr_parse(s, &c, &err) == 0) {
		print_error("'%s' was accepted (prefix %u)\n", s, c.prefix);
		fail();
	}
	assert_non_null(err);
	if (message_part)
		assert_contains(err, message_part);
	free(err);
	/* A NULL err is allowed. */
	assert_int_equal(cidr_parse(s, &c, NULL), -1);
}

static void test_parse_ipv4(void **state)
{
	(void)state;
	check_parse("10.0.0.0/8", AF_INET, 8, "10.0.0.0");
	check_parse("10.1.2.3/8", AF_INET, 8, "10.0.0.0");
	check_parse("192.168.1.77/26", AF_INET, 26, "192.168.1.64");
	check_parse("192.168.1.77/25", AF_INET, 25, "192.168.1.0");
	check_parse("172.31.255.255/12", AF_INET, 12, "172.16.0.0");
	check_parse("127.0.0.1", AF_INET, 32, "127.0.0.1");
	check_parse("127.0.0.1/32", AF_INET, 32, "127.0.0.1");
	check_parse("255.255.255.255/31", AF_INET, 31, "255.255.255.254");
	check_parse("1.2.3.4/0", AF_INET, 0, "0.0.0.0");
	check_parse("0.0.0.0/0", AF_INET, 0, "0.0.0.0");
}

static void test_parse_ipv6(void **state)
{
	(void)state;
	check_parse("::1", AF_INET6, 128, "::1");
	check_parse("::1/128", AF_INET6, 128, "::1");
	check_parse("2001:db8::/32", AF_INET6, 32, "2001:db8::");
	check_parse("2001:db8:abcd::1/33", AF_INET6, 33, "2001:db8:8000::");
	check_parse("2001:db8:abcd::1/48", AF_INET6, 48, "2001:db8:abcd::");
	check_parse("fe80::1:2:3:4/64", AF_INET6, 64, "fe80::");
	check_parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/127", AF_INET6, 127,
	            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
	check_parse("::/0", AF_INET6, 0, "::");
	check_parse("2001:db8::1/0", AF_INET6, 0, "::");
	/* IPv4-mapped blocks become IPv4 blocks, since IPv4 peers are matched as IPv4. */
	check_parse("::ffff:10.1.2.3/120", AF_INET, 24, "10.1.2.0");
	check_parse("::ffff:127.0.0.1", AF_INET, 32, "127.0.0.1");
	check_parse("::ffff:0:0/96", AF_INET, 0, "0.0.0.0");
	check_parse("::ff00:0:0/96", AF_INET6, 96, "::ff00:0:0");
}

static void test_mapped_block_matches_ipv4_peers(void **state)
{
	(void)state;
	cidr_list l;
	assert_int_equal(cidr_list_parse("::ffff:10.0.0.0/104", &l, NULL), 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	inet_pton(AF_INET, "10.9.8.7", &a.sin_addr);
	assert_true(cidr_list_match(&l, (struct sockaddr *)&a));
	inet_pton(AF_INET, "11.0.0.1", &a.sin_addr);
	assert_false(cidr_list_match(&l, (struct sockaddr *)&a));
	cidr_list_free(&l);
}

static void test_parse_bad(void **state)
{
	(void)state;
	check_parse_fails("10.0.0.0/33", "0 to 32");
	check_parse_fails("::/129", "0 to 128");
	check_parse_fails("10.0.0.0/-1", "10.0.0.0/-1");
	check_parse_fails("10.0.0.0/abc", "10.0.0.0/abc");
	check_parse_fails("10.0.0.0/", "10.0.0.0/");
	check_parse_fails("10.0.0.0/8/8", NULL);
	check_parse_fails("10.0.0.0/8x", NULL);
	check_parse_fails("10.0.0.0/ 8", NULL);
	check_parse_fails("10.0.0.0/8 ", NULL);
	check_parse_fails("10.0.0.0/+8", NULL);
	check_parse_fails("10.0.0.0/1000", NULL);
	check_parse_fails("10.0.0.0/99999999999999999999", NULL);
	check_parse_fails("::1/1280", NULL);
	check_parse_fails("", NULL);
	check_parse_fails("/8", NULL);
	check_parse_fails("garbage", "garbage");
	check_parse_fails("10.0.0.256", NULL);
	check_parse_fails("10.0.0", NULL);
	check_parse_fails("10.0.0.0.0", NULL);
	check_parse_fails(" 10.0.0.0", NULL);
	check_parse_fails("10.0.0.0 ", NULL);
	check_parse_fails("localhost", NULL);
	check_parse_fails("::g", NULL);
	check_parse_fails("1::2::3", NULL);
	check_parse_fails("[::1]", NULL);
	check_parse_fails("10.0.0.0,10.0.0.1", NULL);
	/* Longer than any address. */
	check_parse_fails("1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb/64", NULL);
}

/* ---- lists ---- */

static void test_list_parse(void **state)
{
	(void)state;
	cidr_list l;
	char *err = NULL;
	assert_int_equal(cidr_list_parse("10.0.0.0/8", &l, &err), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].family, AF_INET);
	cidr_list_free(&l);
	assert_int_equal(l.n, 0);
	assert_null(l.items);

	assert_int_equal(cidr_list_parse(" 10.0.0.0/8 ,\t::1 , 192.168.0.0/16\n", &l, &err), 0);
	assert_null(err);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.items[0].family, AF_INET);
	assert_int_equal(l.items[0].prefix, 8);
	assert_int_equal(l.items[1].family, AF_INET6);
	assert_int_equal(l.items[1].prefix, 128);
	assert_int_equal(l.items[2].family, AF_INET);
	assert_int_equal(l.items[2].prefix, 16);
	cidr_list_free(&l);
	cidr_list_free(&l); /* twice is safe */
}

static void check_list_fails(const char *csv, const char *message_part)
{
	cidr_list l = {99, (cidr *)&l};
	char *err = NULL;
	if (cidr_list_parse(csv, &l, &err) == 0) {
		print_error("list '%s' was accepted with %zu items\n", csv, l.n);
		cidr_list_free(&l);
		fail();
	}
	assert_non_null(err);
	if (message_part)
		assert_contains(err, message_part);
	free(err);
	/* Nothing is left to free. */
	assert_int_equal(l.n, 0);
	assert_null(l.items);
}

static void test_list_bad(void **state)
{
	(void)state;
	check_list_fails("", "empty entry");
	check_list_fails("   ", "empty entry");
	check_list_fails(",", "empty entry");
	check_list_fails("10.0.0.0/8,", "empty entry");
	check_list_fails(",10.0.0.0/8", "empty entry");
	check_list_fails("10.0.0.0/8,,::1", "empty entry");
	check_list_fails("10.0.0.0/8, ,::1", "empty entry");
	check_list_fails("10.0.0.0/8,bogus", "bogus");
	check_list_fails("10.0.0.0/8,::1,10.0.0.0/40", "0 to 32");
	check_list_fails("10.0.0.0/8;::1", NULL);
}

/* ---- matching ---- */

static struct sockaddr_in v4(const char *text)
{
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons(40000);
	assert_int_equal(inet_pton(AF_INET, text, &sa.sin_addr), 1);
	return sa;
}

static struct sockaddr_in6 v6(const char *text)
{
	struct sockaddr_in6 sa;
	memset(&sa, 0, sizeof sa);
	sa.sin6_family = AF_INET6;
	sa.sin6_port = htons(40000);
	assert_int_equal(inet_pton(AF_INET6, text, &sa.sin6_addr), 1);
	return sa;
}

static bool match4(const cidr_list *l, const char *text)
{
	struct sockaddr_in sa = v4(text);
	return cidr_list_match(l, (const struct sockaddr *)&sa);
}

static bool match6(const cidr_list *l, const char *text)
{
	struct sockaddr_in6 sa = v6(text);
	return cidr_list_match(l, (const struct sockaddr *)&sa);
}

static cidr_list list(const char *csv)
{
	cidr_list l;
	char *err = NULL;
	if (cidr_list_parse(csv, &l, &err) != 0) {
		print_error("list '%s': %s\n", csv, err);
		free(err);
		fail();
	}
	return l;
}

static void test_match_basic(void **state)
{
	(void)state;
	cidr_list l = list("127.0.0.0/8,::1/128,2001:db8::/32");
	assert_true(match4(&l, "127.0.0.1"));
	assert_true(match4(&l, "127.0.0.2"));
	assert_true(match4(&l, "127.255.255.255"));
	assert_false(match4(&l, "128.0.0.1"));
	assert_false(match4(&l, "126.255.255.255"));
	assert_false(match4(&l, "10.0.0.1"));
	assert_true(match6(&l, "::1"));
	assert_false(match6(&l, "::2"));
	assert_false(match6(&l, "::"));
	assert_true(match6(&l, "2001:db8::1"));
	assert_true(match6(&l, "2001:db8:ffff:ffff::1"));
	assert_false(match6(&l, "2001:db9::1"));
	assert_false(match6(&l, "2001:db7:ffff::1"));
	cidr_list_free(&l);
}

static void test_match_ipv4_mapped(void **state)
{
	(void)state;
	cidr_list l = list("127.0.0.0/8,::1");
	/* An IPv4 peer on a dual-stack socket. */
	assert_true(match6(&l, "::ffff:127.0.0.2"));
	assert_true(match6(&l, "::ffff:127.255.0.1"));
	assert_false(match6(&l, "::ffff:10.0.0.1"));
	assert_false(match6(&l, "::ffff:128.0.0.1"));
	/* IPv4-compatible (not mapped) addresses are plain IPv6. */
	assert_false(match6(&l, "::127.0.0.2"));
	/* The mapped form of ::1 is not ::1. */
	assert_false(match6(&l, "::ffff:0.0.0.1"));
	cidr_list_free(&l);
}

static void test_match_prefix_edges(void **state)
{
	(void)state;
	cidr_list l = list("192.168.1.64/26,10.0.0.0/9,2001:db8:8000::/33");
	assert_false(match4(&l, "192.168.1.63"));
	assert_true(match4(&l, "192.168.1.64"));
	assert_true(match4(&l, "192.168.1.127"));
	assert_false(match4(&l, "192.168.1.128"));
	assert_true(match4(&l, "10.0.0.0"));
	assert_true(match4(&l, "10.127.255.255"));
	assert_false(match4(&l, "10.128.0.0"));
	assert_false(match4(&l, "11.0.0.0"));
	assert_true(match6(&l, "2001:db8:8000::"));
	assert_true(match6(&l, "2001:db8:ffff:ffff::"));
	assert_false(match6(&l, "2001:db8:7fff:ffff::"));
	cidr_list_free(&l);

	/* Host entries match exactly one address. */
	l = list("10.1.2.3,2001:db8::5");
	assert_true(match4(&l, "10.1.2.3"));
	assert_false(match4(&l, "10.1.2.2"));
	assert_false(match4(&l, "10.1.2.4"));
	assert_true(match6(&l, "2001:db8::5"));
	assert_false(match6(&l, "2001:db8::4"));
	assert_false(match6(&l, "2001:db8::6"));
	cidr_list_free(&l);
}

static void test_match_everything(void **state)
{
	(void)state;
	cidr_list l = list("0.0.0.0/0");
	assert_true(match4(&l, "0.0.0.0"));
	assert_true(match4(&l, "1.2.3.4"));
	assert_true(match4(&l, "255.255.255.255"));
	assert_true(match6(&l, "::ffff:8.8.8.8"));
	/* IPv4 blocks say nothing about IPv6 peers. */
	assert_false(match6(&l, "::1"));
	assert_false(match6(&l, "2001:db8::1"));
	cidr_list_free(&l);

	l = list("::/0");
	assert_true(match6(&l, "::1"));
	assert_true(match6(&l, "2001:db8::1"));
	assert_true(match6(&l, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	assert_false(match4(&l, "1.2.3.4"));
	assert_false(match4(&l, "127.0.0.1"));
	/* An IPv4 peer through a dual-stack socket is an IPv4 peer. */
	assert_false(match6(&l, "::ffff:1.2.3.4"));
	cidr_list_free(&l);
}

static void test_match_other_families(void **state)
{
	(void)state;
	cidr_list l = list("0.0.0.0/0,::/0");
	struct sockaddr_un un;
	memset(&un, 0, sizeof un);
	un.sun_family = AF_UNIX;
	assert_false(cidr_list_match(&l, (const struct sockaddr *)&un));
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	ss.ss_family = AF_UNSPEC;
	assert_false(cidr_list_match(&l, (const struct sockaddr *)&ss));
	cidr_list_free(&l);

	/* An empty list matches nothing. */
	cidr_list empty = {0, NULL};
	assert_false(match4(&empty, "127.0.0.1"));
	assert_false(match6(&empty, "::1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_ipv4),
	    cmocka_unit_test(test_parse_ipv6),
	    cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_mapped_block_matches_ipv4_peers),
	    cmocka_unit_test(test_list_parse),
	    cmocka_unit_test(test_list_bad),
	    cmocka_unit_test(test_match_basic),
	    cmocka_unit_test(test_match_ipv4_mapped),
	    cmocka_unit_test(test_match_prefix_edges),
	    cmocka_unit_test(test_match_everything),
	    cmocka_unit_test(test_match_other_families),
	};
	return cmocka_run_group_tests_name("cidr", tests, NULL, NULL);
}
