/* See cred_trust.h. */
#include "cred_trust.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"

/* Fills `ss` from a numeric IPv4 or IPv6 address; false for anything else (names, zones). */
static bool numeric(const char *host, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *v4 = (struct sockaddr_in *)(void *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)(void *)ss;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		return true;
	}
	return false;
}

static bool host_trusted(const char *host, const cidr_list *trusted, const char **why)
{
	if (!strcasecmp(host, "localhost") || !strcmp(host, "127.0.0.1") || !strcmp(host, "::1"))
		return true;
	struct sockaddr_storage ss;
	if (!numeric(host, &ss)) {
		*why =
		    "its host is a name, not an address in restapi.allowlist, and the URL is not "
		    "https with a verified certificate";
		return false;
	}
	if (trusted && cidr_list_match(trusted, (const struct sockaddr *)&ss))
		return true;
	*why = "its address is not in restapi.allowlist (nor 127.0.0.1 or ::1), and the URL is not "
	       "https with a verified certificate";
	return false;
}

bool cred_trust_url(const char *url, const cidr_list *trusted, bool https_verified,
                    const char **why)
{
	const char *unused;
	if (!why)
		why = &unused;
	addr a;
	char *err = NULL;
	if (!url || addr_parse_url(url, 0, &a, &err) < 0) {
		free(err);
		*why = "it is not a usable URL";
		return false;
	}
	bool ok;
	const char *authority = strstr(url, "://") + 3;
	if (memchr(authority, '@', strcspn(authority, "/?#"))) {
		/* Never in an api_url tandem or Patroni writes; parsers disagree about it. */
		*why = "it carries a user part (user@host)";
		ok = false;
	} else if (!strcmp(a.scheme, "https") && https_verified)
		ok = true;
	else if (strcmp(a.scheme, "http") != 0 && strcmp(a.scheme, "https") != 0) {
		*why = "it is neither http nor https";
		ok = false;
	} else {
		ok = host_trusted(a.host, trusted, why);
	}
	addr_clear(&a);
	return ok;
}
