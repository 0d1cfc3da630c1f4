/* Whether HTTP credentials may be sent to a URL that others can write: a member's api_url comes
 * from the DCS, so whoever can write a member key could point it at a listener of theirs and
 * collect the passwords sent to it. Credentials go only where the operator said they may:
 *
 *  - an https URL when the peer's certificate is verified (the caller says whether it is), or
 *  - a URL whose host is a numeric address in the trusted blocks (tandemd and tandemctl pass
 *    restapi.allowlist), or the loopback addresses 127.0.0.1 and ::1, or the name localhost.
 *
 * Host names other than localhost are never trusted over plain http: tandem resolves nothing, and
 * a name's address is whatever DNS says at the time. The rule is pure; see docs/security.md. */
#ifndef TANDEM_CRED_TRUST_H
#define TANDEM_CRED_TRUST_H

#include <stdbool.h>

#include "cidr.h"

/* True when credentials may go to `url`; otherwise false with *why (a static string) saying
 * why. `trusted` may be NULL (no blocks); `https_verified` is true when an https URL's
 * certificate will be verified against trusted CAs (libcurl's default, unless switched off). */
bool cred_trust_url(const char *url, const cidr_list *trusted, bool https_verified,
                    const char **why);

#endif
