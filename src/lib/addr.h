/* Network addresses written as text, parsed one way for every program: a host (a name, IPv4, or
 * IPv6 in brackets), "host:port", and URLs "scheme://[user@]host[:port][/path]"; and written
 * back, IPv6 in brackets whenever a port or a scheme goes with it. The text comes from files,
 * the environment, the command line and the DCS: nothing here trusts it.
 *
 * Host names are letters, digits, '-', '_' and '.', not starting with '-' or '.', at most
 * ADDR_HOST_MAX long. IPv6 is accepted only in brackets ("[::1]", "[::1]:2379"), since "::1:2379"
 * cannot be split; a zone ("[fe80::1%eth0]") is allowed. A port is 1 to 65535. */
#ifndef TANDEM_ADDR_H
#define TANDEM_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

enum { ADDR_HOST_MAX = 255 };

/* Flags of addr_parse. */
enum {
	ADDR_PORT_OPTIONAL = 1 << 0, /* without a port and a default, port is 0 */
	ADDR_PORT_ZERO = 1 << 1,     /* port 0 (any free port, to listen on) is accepted */
	ADDR_WILDCARD = 1 << 2,      /* host '*' (every interface, to listen on) is accepted */
	/* The host may be several, comma-separated ("10.0.0.5, db1:5432", as PostgreSQL's
	 * listen_addresses); empty items are skipped; host holds the list as written. */
	ADDR_HOST_LIST = 1 << 3,
};

/* A parsed address. The caller owns it and empties it with addr_clear. */
typedef struct addr {
	char *scheme; /* a URL's scheme in lower case ("http"); NULL for host:port */
	char *host;   /* without brackets: "db1", "10.0.0.5", "::1" */
	int port;     /* 0: none written and no default */
	char
	    *path; /* a URL's path, query and fragment as written ("/v3", ""); NULL for host:port */
} addr;

/* "5432" -> 5432; digits only, 1 to 65535. */
int addr_parse_port(const char *text, int *port, char **err) TND_MUST_CHECK;

/* "host", "host:port", "[v6]", "[v6]:port". Without a port, `default_port` (when > 0) is used;
 * without either, the text is refused unless `flags` has ADDR_PORT_OPTIONAL. On failure `out`
 * is empty. */
int addr_parse(const char *text, int default_port, unsigned flags, addr *out,
               char **err) TND_MUST_CHECK;

/* "scheme://[user[:password]@]host[:port][/path]": any scheme (letters, digits, '+', '-', '.');
 * the user part is skipped. Without a port, `default_port` (0: none). */
int addr_parse_url(const char *text, int default_port, addr *out, char **err) TND_MUST_CHECK;

void addr_clear(addr *a);

/* "db1", "db1:5432", "[::1]:5432", "http://[::1]:2379/v3" (caller frees). */
char *addr_format(const addr *a);
/* "host:port" with IPv6 in brackets ("[::1]:5432"); `port` 0 writes the host alone. */
char *addr_join(const char *host, int port);

/* Base URLs of endpoints: each item is a URL (`scheme` must be http or https) or host[:port],
 * completed with `scheme` and `default_port` ("[::1]" -> "http://[::1]:2379"). `key` names the
 * setting in messages. Returns the count (at least 1), with a NULL-terminated heap array in
 * *urls (addr_urls_free), or -1 with *err. */
int addr_base_urls(const char *const *items, size_t n, const char *scheme, int default_port,
                   const char *key, char ***urls, char **err) TND_MUST_CHECK;
void addr_urls_free(char **urls);

/* For texts checked when the settings were loaded (a listen or connect address; the results
 * are unspecified for others). Each returns a heap string. */
/* The host part without brackets, as written ("*", "a,b"); `none` when text is NULL. */
char *addr_host_text(const char *text, const char *none);
/* The port part; a copy of `none` (NULL for NULL) when text is NULL or has no port. */
char *addr_port_text(const char *text, const char *none);
/* The host a client connects to for it: the first of a list, without brackets; 127.0.0.1 for a
 * wildcard ("*", "0.0.0.0", none) or NULL text. */
char *addr_connect_host(const char *text);
/* A URL's host and port as text ("postgres://u@[::1]/db" -> "::1", "5432" with default 5432);
 * -1 with *err when it is not a URL or has no port and no default. */
int addr_url_host_port(const char *url, int default_port, char **host, char **port,
                       char **err) TND_MUST_CHECK;

#endif
