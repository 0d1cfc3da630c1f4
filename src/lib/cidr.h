/* Address allow-lists: CIDR blocks for IPv4 and IPv6, matched against a peer's socket address.
 * An IPv4 peer seen through a dual-stack IPv6 socket (::ffff:a.b.c.d) matches IPv4 blocks. */
#ifndef TANDEM_CIDR_H
#define TANDEM_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "err.h"

typedef struct cidr {
	int family;       /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network byte order, host bits cleared */
	unsigned prefix;  /* 0..32 or 0..128 */
} cidr;

typedef struct cidr_list {
	size_t n;
	cidr *items;
} cidr_list;

/* "10.0.0.0/8", "::1", "2001:db8::/32"; an address without a prefix is a single host. */
int cidr_parse(const char *s, cidr *out, char **err) TND_MUST_CHECK;
/* A comma-separated list; blanks around items are ignored; an empty list is an error. */
int cidr_list_parse(const char *csv, cidr_list *out, char **err) TND_MUST_CHECK;
/* Appends one block ("10.0.0.0/8") to a list. */
int cidr_list_add(cidr_list *list, const char *s, char **err) TND_MUST_CHECK;
bool cidr_list_match(const cidr_list *list, const struct sockaddr *sa);
void cidr_list_free(cidr_list *list);

#endif
