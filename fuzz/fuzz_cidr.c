/* Fuzzes address allow-lists: cidr_list_parse on arbitrary text (a NUL-terminated copy), then
 * cidr_list_match against fixed peers.
 *
 * Invariants: a parsed list has at least one block, each IPv4 or IPv6 with a prefix in range and
 * its host bits cleared; each block's own network address matches the list (except IPv4-mapped
 * IPv6 blocks, which match nothing: a finding, see is_v4_mapped); an IPv4 peer
 * matches exactly when the same address seen through a dual-stack socket (::ffff:a.b.c.d) does;
 * a failure has a message and leaves the list empty. The whole text is also given to cidr_parse,
 * which must agree with a one-item list. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cidr.h"
#include "fuzz_util.h"

static struct sockaddr_in v4(const uint8_t a[4])
{
	struct sockaddr_in s;
	memset(&s, 0, sizeof s);
	s.sin_family = AF_INET;
	s.sin_port = htons(40000);
	memcpy(&s.sin_addr, a, 4);
	return s;
}

static struct sockaddr_in6 v6(const uint8_t a[16])
{
	struct sockaddr_in6 s;
	memset(&s, 0, sizeof s);
	s.sin6_family = AF_INET6;
	s.sin6_port = htons(40000);
	memcpy(&s.sin6_addr, a, 16);
	return s;
}

static struct sockaddr_in6 v4_mapped(const uint8_t a[4])
{
	uint8_t m[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	memcpy(m + 12, a, 4);
	return v6(m);
}

static bool match4(const cidr_list *l, const uint8_t a[4])
{
	struct sockaddr_in s = v4(a);
	struct sockaddr_in6 m = v4_mapped(a);
	bool plain = cidr_list_match(l, (const struct sockaddr *)&s);
	bool mapped = cidr_list_match(l, (const struct sockaddr *)&m);
	FUZZ_CHECK(plain == mapped, "%u.%u.%u.%u: IPv4 %d, IPv4-mapped IPv6 %d", a[0], a[1], a[2],
	           a[3], plain, mapped);
	return plain;
}

static bool match6(const cidr_list *l, const uint8_t a[16])
{
	struct sockaddr_in6 s = v6(a);
	return cidr_list_match(l, (const struct sockaddr *)&s);
}

/* A peer at ::ffff:a.b.c.d is matched as the IPv4 address a.b.c.d (see cidr.h), so an IPv6 block
 * whose own address is IPv4-mapped never matches its own network address: not checked here. */
static bool is_v4_mapped(const uint8_t a[16])
{
	static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	return memcmp(a, prefix, sizeof prefix) == 0;
}

static void check_block(const cidr *c)
{
	unsigned max = c->family == AF_INET ? 32 : 128;
	FUZZ_CHECK(c->family == AF_INET || c->family == AF_INET6, "family %d", c->family);
	FUZZ_CHECK(c->prefix <= max, "prefix %u", c->prefix);
	for (unsigned bit = c->prefix; bit < 128; bit++)
		FUZZ_CHECK(!(c->addr[bit / 8] & (0x80 >> (bit % 8))), "host bit %u set (/%u)", bit,
		           c->prefix);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_strndup(data, size);
	cidr_list l = {0, NULL};
	char *err = NULL;
	if (cidr_list_parse(text, &l, &err) == 0) {
		FUZZ_CHECK(err == NULL, "success with a message: %s", err);
		FUZZ_CHECK(l.n >= 1 && l.items, "empty list accepted");
		for (size_t i = 0; i < l.n; i++) {
			const cidr *c = &l.items[i];
			check_block(c);
			if (c->family == AF_INET)
				FUZZ_CHECK(match4(&l, c->addr), "block %zu does not match itself",
				           i);
			else if (!is_v4_mapped(c->addr))
				FUZZ_CHECK(match6(&l, c->addr), "block %zu does not match itself",
				           i);
		}
		static const uint8_t loop4[4] = {127, 0, 0, 1}, ten[4] = {10, 1, 2, 3},
		                     any4[4] = {0, 0, 0, 0}, bcast[4] = {255, 255, 255, 255};
		static const uint8_t loop6[16] = {[15] = 1},
		                     doc6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x42};
		(void)match4(&l, loop4);
		(void)match4(&l, ten);
		(void)match4(&l, any4);
		(void)match4(&l, bcast);
		(void)match6(&l, loop6);
		(void)match6(&l, doc6);
		struct sockaddr unix_peer = {.sa_family = AF_UNIX};
		FUZZ_CHECK(!cidr_list_match(&l, &unix_peer), "a Unix socket peer matched");
		cidr_list_free(&l);
		FUZZ_CHECK(l.n == 0 && l.items == NULL, "cidr_list_free left items");
	} else {
		FUZZ_CHECK(err != NULL, "failure without a message");
		FUZZ_CHECK(l.n == 0 && l.items == NULL, "failure left %zu items", l.n);
		free(err);
	}

	/* A single block parses the same through cidr_parse as through a one-item list. */
	if (!strchr(text, ',')) {
		cidr c;
		char *e1 = NULL, *e2 = NULL;
		int one = cidr_parse(text, &c, &e1);
		bool blank = strlen(text) != strcspn(text, " \t\n\v\f\r");
		cidr_list l1 = {0, NULL};
		int list = cidr_list_parse(text, &l1, &e2);
		if (one == 0) {
			check_block(&c);
			FUZZ_CHECK(list == 0 && l1.n == 1 &&
			               memcmp(&l1.items[0], &c, sizeof c) == 0,
			           "'%s' parses alone but not as a list", text);
		} else if (!blank) {
			FUZZ_CHECK(list < 0, "'%s' parses as a list but not alone", text);
		}
		cidr_list_free(&l1);
		free(e1);
		free(e2);
	}
	free(text);
	return 0;
}
