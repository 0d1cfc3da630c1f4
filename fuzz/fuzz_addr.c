/* Fuzzes network addresses as text (src/lib/addr.c): addr_parse under each flag, addr_parse_url,
 * addr_base_urls and the helpers for checked texts, on arbitrary text (a NUL-terminated copy).
 *
 * Invariants: a success has no message and a host; a failure has a message and leaves the addr
 * empty; what is written back parses again to the same host and port (and scheme and path for a
 * URL), except an IPv6 host without a port, which is written bare by design; a base URL is an
 * http or https URL. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "fuzz_util.h"

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_parse(const char *text, unsigned flags, int default_port)
{
	addr a;
	char *err = NULL;
	if (addr_parse(text, default_port, flags, &a, &err) != 0) {
		FUZZ_CHECK(err != NULL, "failure without a message");
		FUZZ_CHECK(!a.host && !a.scheme && !a.path, "failure left a host");
		free(err);
		return;
	}
	FUZZ_CHECK(err == NULL, "success with a message: %s", err);
	FUZZ_CHECK(a.host && !a.scheme && !a.path, "'%s': no host", text);
	FUZZ_CHECK(a.port >= 0 && a.port <= 65535, "port %d", a.port);
	FUZZ_CHECK(a.port > 0 || (flags & (ADDR_PORT_ZERO | ADDR_PORT_OPTIONAL)), "port 0");
	char *s = addr_format(&a);
	if (a.port > 0 || !strchr(a.host, ':')) {
		addr b;
		unsigned again = flags | ADDR_PORT_OPTIONAL | (a.port ? 0 : ADDR_PORT_ZERO);
		FUZZ_CHECK(addr_parse(s, 0, again, &b, &err) == 0, "'%s' -> '%s': %s", text, s,
		           err);
		FUZZ_CHECK(same(a.host, b.host) && a.port == b.port, "'%s' -> '%s' -> %s %d", text,
		           s, b.host, b.port);
		addr_clear(&b);
	}
	free(s);
	addr_clear(&a);
}

static void check_url(const char *text)
{
	addr a;
	char *err = NULL;
	if (addr_parse_url(text, 0, &a, &err) != 0) {
		FUZZ_CHECK(err != NULL, "failure without a message");
		FUZZ_CHECK(!a.host && !a.scheme && !a.path, "failure left a host");
		free(err);
		return;
	}
	FUZZ_CHECK(err == NULL, "success with a message: %s", err);
	FUZZ_CHECK(a.host && a.scheme && a.path, "'%s': a part is missing", text);
	for (const char *c = a.scheme; *c; c++)
		FUZZ_CHECK(!(*c >= 'A' && *c <= 'Z'), "scheme '%s' is not lower case", a.scheme);
	char *s = addr_format(&a);
	addr b;
	FUZZ_CHECK(addr_parse_url(s, 0, &b, &err) == 0, "'%s' -> '%s': %s", text, s, err);
	FUZZ_CHECK(same(a.scheme, b.scheme) && same(a.host, b.host) && a.port == b.port &&
	               same(a.path, b.path),
	           "'%s' -> '%s' does not parse the same", text, s);
	addr_clear(&b);
	free(s);
	addr_clear(&a);
}

static void check_base_url(const char *text)
{
	char **urls = NULL;
	char *err = NULL;
	const char *items[1] = {text};
	int n = addr_base_urls(items, 1, "https", 2379, "etcd3.hosts", &urls, &err);
	if (n < 0) {
		FUZZ_CHECK(err != NULL && urls == NULL, "failure without a message");
		free(err);
		return;
	}
	FUZZ_CHECK(n == 1 && urls && urls[0] && !urls[1], "%d URLs for one item", n);
	addr a;
	FUZZ_CHECK(addr_parse_url(urls[0], 0, &a, &err) == 0, "'%s' -> '%s': %s", text, urls[0],
	           err);
	FUZZ_CHECK(!strcmp(a.scheme, "http") || !strcmp(a.scheme, "https"), "'%s' -> '%s'", text,
	           urls[0]);
	addr_clear(&a);
	addr_urls_free(urls);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_strndup(data, size);
	check_parse(text, 0, 0);
	check_parse(text, 0, 2379);
	check_parse(text, ADDR_PORT_OPTIONAL, 0);
	check_parse(text, ADDR_PORT_ZERO | ADDR_WILDCARD, 0);
	check_parse(text, ADDR_HOST_LIST | ADDR_WILDCARD, 0);
	check_url(text);
	check_base_url(text);

	char *h = addr_host_text(text, "none");
	char *p = addr_port_text(text, NULL);
	char *c = addr_connect_host(text);
	FUZZ_CHECK(h && c && *c, "a helper returned nothing");
	free(h);
	free(p);
	free(c);
	char *host = NULL, *port = NULL, *err = NULL;
	if (addr_url_host_port(text, 5432, &host, &port, &err) == 0) {
		FUZZ_CHECK(host && port && !err, "success without a host and port");
		free(host);
		free(port);
	} else {
		FUZZ_CHECK(err && !host && !port, "failure without a message");
		free(err);
	}
	free(text);
	return 0;
}
