#include "cidr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static void clear_host_bits(uint8_t *addr, unsigned bytes, unsigned prefix)
{
	for (unsigned i = 0; i < bytes; i++) {
		unsigned bit = i * 8;
		if (bit >= prefix)
			addr[i] = 0;
		else if (prefix - bit < 8)
			addr[i] &= (uint8_t)(0xff << (8 - (prefix - bit)));
	}
}

int cidr_parse(const char *s, cidr *out, char **err)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
	if (hlen == 0 || hlen >= sizeof host) {
		err_set(err, "'%s' is not an IPv4 or IPv6 address or CIDR block", s);
		return -1;
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';

	memset(out, 0, sizeof *out);
	unsigned max;
	if (inet_pton(AF_INET, host, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		err_set(err, "'%s' is not an IPv4 or IPv6 address or CIDR block", s);
		return -1;
	}

	out->prefix = max;
	if (slash) {
		const char *p = slash + 1;
		if (!isdigit((unsigned char)*p) || strlen(p) > 3) {
			err_set(err, "'%s': the prefix length after '/' must be a number", s);
			return -1;
		}
		char *end;
		errno = 0;
		unsigned long v = strtoul(p, &end, 10);
		if (*end != '\0' || errno || v > max) {
			err_set(err, "'%s': the prefix length must be 0 to %u", s, max);
			return -1;
		}
		out->prefix = (unsigned)v;
	}
	clear_host_bits(out->addr, max / 8, out->prefix);
	/* ::ffff:a.b.c.d/n is the IPv4 block a.b.c.d/(n-96): IPv4 peers are matched as IPv4. */
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (out->family == AF_INET6 && out->prefix >= 96 && memcmp(out->addr, mapped, 12) == 0) {
		memmove(out->addr, out->addr + 12, 4);
		memset(out->addr + 4, 0, 12);
		out->family = AF_INET;
		out->prefix -= 96;
	}
	return 0;
}

int cidr_list_parse(const char *csv, cidr_list *out, char **err)
{
	out->n = 0;
	out->items = NULL;
	const char *p = csv;
	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		while (len > 0 && isspace((unsigned char)p[len - 1]))
			len--;
		if (len == 0) {
			err_set(err, "empty entry in address list '%s'", csv);
			cidr_list_free(out);
			return -1;
		}
		char *item = xstrndup(p, len);
		int rc = cidr_list_add(out, item, err);
		free(item);
		if (rc < 0) {
			cidr_list_free(out);
			return -1;
		}
		if (!end)
			break;
		p = end + 1;
	}
	return 0;
}

int cidr_list_add(cidr_list *list, const char *s, char **err)
{
	cidr c;
	if (cidr_parse(s, &c, err) < 0)
		return -1;
	list->items = xrealloc(list->items, (list->n + 1) * sizeof *list->items);
	list->items[list->n++] = c;
	return 0;
}

static bool block_contains(const cidr *c, const uint8_t *addr)
{
	unsigned full = c->prefix / 8, rest = c->prefix % 8;
	if (memcmp(c->addr, addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (addr[full] & mask) == c->addr[full];
}

bool cidr_list_match(const cidr_list *list, const struct sockaddr *sa)
{
	uint8_t addr[16];
	int family;
	if (sa->sa_family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		family = AF_INET;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 =
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			memcpy(addr, &a6->s6_addr[12], 4);
			family = AF_INET;
		} else {
			memcpy(addr, a6->s6_addr, 16);
			family = AF_INET6;
		}
	} else {
		return false;
	}
	for (size_t i = 0; i < list->n; i++)
		if (list->items[i].family == family && block_contains(&list->items[i], addr))
			return true;
	return false;
}

void cidr_list_free(cidr_list *list)
{
	free(list->items);
	list->items = NULL;
	list->n = 0;
}
