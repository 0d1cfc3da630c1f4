/* Addresses as text: parsing, checking and writing back (see addr.h). */
#include "addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A text cut at its port: host (without brackets) and port (NULL when none). */
typedef struct parts {
	const char *host;
	size_t hlen;
	const char *port;
	size_t plen;
	bool bracketed;
} parts;

/* Splits s[0..len). Returns NULL, or what is wrong with the text's shape. */
static const char *split(const char *s, size_t len, parts *p)
{
	memset(p, 0, sizeof *p);
	if (len && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (!close)
			return "'[' without ']' (IPv6 is written [::1] or [::1]:port)";
		p->bracketed = true;
		p->host = s + 1;
		p->hlen = (size_t)(close - s - 1);
		size_t rest = len - (size_t)(close + 1 - s);
		if (rest == 0)
			return NULL;
		if (close[1] != ':')
			return "only ':port' may follow ']'";
		p->port = close + 2;
		p->plen = rest - 1;
		return NULL;
	}
	const char *colon = NULL;
	size_t colons = 0;
	for (size_t i = 0; i < len; i++)
		if (s[i] == ':') {
			colon = s + i;
			colons++;
		}
	if (colons > 1)
		return "an IPv6 address goes in brackets ([::1] or [::1]:port)";
	p->host = s;
	p->hlen = colon ? (size_t)(colon - s) : len;
	if (colon) {
		p->port = colon + 1;
		p->plen = len - p->hlen - 1;
	}
	return NULL;
}

/* Like split, for texts checked before: a text of the wrong shape is all host. */
static void split_loose(const char *text, parts *p)
{
	size_t len = strlen(text);
	if (split(text, len, p) != NULL) {
		memset(p, 0, sizeof *p);
		p->host = text;
		p->hlen = len;
	}
}

static bool name_ok(const char *h, size_t n)
{
	if (n == 0 || n > ADDR_HOST_MAX || h[0] == '-' || h[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)h[i]) && h[i] != '-' && h[i] != '_' && h[i] != '.')
			return false;
	return true;
}

/* "::1", "fe80::1%eth0". */
static bool v6_ok(const char *h, size_t n)
{
	const char *pct = memchr(h, '%', n);
	size_t an = pct ? (size_t)(pct - h) : n;
	char buf[INET6_ADDRSTRLEN];
	struct in6_addr a6;
	if (an == 0 || an >= sizeof buf)
		return false;
	memcpy(buf, h, an);
	buf[an] = '\0';
	if (inet_pton(AF_INET6, buf, &a6) != 1)
		return false;
	if (!pct)
		return true;
	size_t zn = n - an - 1;
	return zn >= 1 && zn < IF_NAMESIZE && name_ok(pct + 1, zn);
}

/* One host of the text `whole` (for messages): a name, IPv4 or, with `wildcard`, '*'. */
static int check_name(const char *whole, const char *h, size_t n, bool wildcard, char **err)
{
	if (n == 1 && h[0] == '*' && wildcard)
		return 0;
	if (n == 0) {
		err_set(err, "'%s': the host is missing", whole);
		return -1;
	}
	if (!name_ok(h, n)) {
		err_set(err, "'%s': '%.*s' is not a host name or IPv4 address", whole, (int)n, h);
		return -1;
	}
	return 0;
}

/* Each item of a comma-separated host list; blanks around items and empty items are allowed. */
static int check_list(const char *whole, const char *h, size_t n, bool wildcard, char **err)
{
	size_t items = 0;
	while (n > 0) {
		size_t len = 0;
		while (len < n && h[len] != ',')
			len++;
		const char *item = h;
		size_t ilen = len;
		while (ilen && isspace((unsigned char)*item)) {
			item++;
			ilen--;
		}
		while (ilen && isspace((unsigned char)item[ilen - 1]))
			ilen--;
		if (ilen && check_name(whole, item, ilen, wildcard, err) < 0)
			return -1;
		items += ilen > 0;
		size_t skip = len < n ? len + 1 : len;
		h += skip;
		n -= skip;
	}
	return items ? 0 : check_name(whole, h, 0, wildcard, err);
}

static int parse_port(const char *whole, const char *s, size_t n, bool zero_ok, int *port,
                      char **err)
{
	long v = 0;
	bool ok = n >= 1 && n <= 5;
	for (size_t i = 0; ok && i < n; i++) {
		ok = isdigit((unsigned char)s[i]);
		v = v * 10 + (s[i] - '0');
	}
	if (!ok || v > 65535 || (v == 0 && !zero_ok)) {
		err_set(err, "'%s': the port '%.*s' is not a number from %d to 65535", whole,
		        (int)n, s, zero_ok ? 0 : 1);
		return -1;
	}
	*port = (int)v;
	return 0;
}

int addr_parse_port(const char *text, int *port, char **err)
{
	return parse_port(text, text, strlen(text), false, port, err);
}

/* s[0..len) of the text `whole` (messages name the whole). */
static int parse_slice(const char *whole, const char *s, size_t len, int default_port,
                       unsigned flags, addr *out, char **err)
{
	memset(out, 0, sizeof *out);
	parts p;
	const char *problem = split(s, len, &p);
	if (problem) {
		err_set(err, "'%s': %s", whole, problem);
		return -1;
	}
	bool wildcard = flags & ADDR_WILDCARD;
	int rc;
	if (p.bracketed) {
		rc = v6_ok(p.host, p.hlen) ? 0 : -1;
		if (rc < 0)
			err_set(err, "'%s': '%.*s' is not an IPv6 address", whole, (int)p.hlen,
			        p.host);
	} else if (flags & ADDR_HOST_LIST) {
		rc = check_list(whole, p.host, p.hlen, wildcard, err);
	} else {
		rc = check_name(whole, p.host, p.hlen, wildcard, err);
	}
	if (rc < 0)
		return -1;
	int port = 0;
	if (p.port) {
		if (parse_port(whole, p.port, p.plen, flags & ADDR_PORT_ZERO, &port, err) < 0)
			return -1;
	} else if (default_port > 0) {
		port = default_port;
	} else if (!(flags & ADDR_PORT_OPTIONAL)) {
		err_set(err,
		        "'%s' is not address:port: the port is missing (IPv6 as [address]:port)",
		        whole);
		return -1;
	}
	out->host = xstrndup(p.host, p.hlen);
	out->port = port;
	return 0;
}

int addr_parse(const char *text, int default_port, unsigned flags, addr *out, char **err)
{
	if (!text || !*text) {
		memset(out, 0, sizeof *out);
		err_set(err, "the address is empty");
		return -1;
	}
	return parse_slice(text, text, strlen(text), default_port, flags, out, err);
}

static bool scheme_ok(const char *s, size_t n)
{
	if (n == 0 || !isalpha((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("+-.", s[i]))
			return false;
	return true;
}

int addr_parse_url(const char *text, int default_port, addr *out, char **err)
{
	memset(out, 0, sizeof *out);
	const char *sep = text ? strstr(text, "://") : NULL;
	if (!sep || !scheme_ok(text, (size_t)(sep - text))) {
		err_set(err, "'%s' is not a URL (scheme://host[:port][/path])", text ? text : "");
		return -1;
	}
	const char *auth = sep + 3;
	size_t alen = strcspn(auth, "/?#");
	for (size_t i = alen; i > 0; i--)
		if (auth[i - 1] == '@') {
			alen -= i;
			auth += i;
			break;
		}
	if (parse_slice(text, auth, alen, default_port, ADDR_PORT_OPTIONAL, out, err) < 0)
		return -1;
	out->scheme = xstrndup(text, (size_t)(sep - text));
	for (char *c = out->scheme; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	out->path = xstrdup(auth + alen);
	return 0;
}

void addr_clear(addr *a)
{
	free(a->scheme);
	free(a->host);
	free(a->path);
	memset(a, 0, sizeof *a);
}

static char *format(const char *scheme, const char *host, int port, const char *path)
{
	bool brackets = strchr(host, ':') && (port > 0 || scheme);
	char port_text[16] = "";
	if (port > 0)
		snprintf(port_text, sizeof port_text, ":%d", port);
	return xasprintf("%s%s%s%s%s%s%s", scheme ? scheme : "", scheme ? "://" : "",
	                 brackets ? "[" : "", host, brackets ? "]" : "", port_text,
	                 path ? path : "");
}

char *addr_format(const addr *a)
{
	return format(a->scheme, a->host, a->port, a->path);
}

char *addr_join(const char *host, int port)
{
	return format(NULL, host, port, NULL);
}

/* One endpoint as a base URL (see addr_base_urls). */
static char *base_url(const char *item, const char *scheme, int default_port, char **err)
{
	addr a;
	bool url = strstr(item, "://") != NULL;
	if ((url ? addr_parse_url(item, 0, &a, err) : addr_parse(item, default_port, 0, &a, err)) <
	    0)
		return NULL;
	if (url && strcmp(a.scheme, "http") != 0 && strcmp(a.scheme, "https") != 0) {
		err_set(err, "'%s': only http:// and https:// are spoken", item);
		addr_clear(&a);
		return NULL;
	}
	char *s = format(url ? a.scheme : scheme, a.host, a.port, a.path);
	addr_clear(&a);
	return s;
}

int addr_base_urls(const char *const *items, size_t n, const char *scheme, int default_port,
                   const char *key, char ***urls, char **err)
{
	*urls = NULL;
	if (n == 0) {
		err_set(err, "%s: no endpoint", key);
		return -1;
	}
	char **v = xcalloc(n + 1, sizeof *v);
	for (size_t i = 0; i < n; i++) {
		v[i] = base_url(items[i], scheme, default_port, err);
		if (!v[i]) {
			err_prefix(err, "%s", key);
			addr_urls_free(v);
			return -1;
		}
	}
	*urls = v;
	return (int)n;
}

void addr_urls_free(char **urls)
{
	for (size_t i = 0; urls && urls[i]; i++)
		free(urls[i]);
	free(urls);
}

char *addr_host_text(const char *text, const char *none)
{
	if (!text)
		return xstrdup(none);
	parts p;
	split_loose(text, &p);
	return xstrndup(p.host, p.hlen);
}

char *addr_port_text(const char *text, const char *none)
{
	parts p;
	if (text)
		split_loose(text, &p);
	if (text && p.port && p.plen)
		return xstrndup(p.port, p.plen);
	return none ? xstrdup(none) : NULL;
}

char *addr_connect_host(const char *text)
{
	char *h = addr_host_text(text, "");
	h[strcspn(h, ",")] = '\0';
	if (!*h || strcmp(h, "*") == 0 || strcmp(h, "0.0.0.0") == 0) {
		free(h);
		return xstrdup("127.0.0.1");
	}
	return h;
}

int addr_url_host_port(const char *url, int default_port, char **host, char **port, char **err)
{
	addr a;
	if (addr_parse_url(url, default_port, &a, err) < 0)
		return -1;
	if (a.port == 0) {
		err_set(err, "'%s': the port is missing", url);
		addr_clear(&a);
		return -1;
	}
	*host = a.host;
	a.host = NULL;
	*port = xasprintf("%d", a.port);
	addr_clear(&a);
	return 0;
}
