/* What a loaded configuration means for the rest of tandemd (options.h): the watchdog's timeout,
 * the REST client's TLS files, the verify mode, tags and the site. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "options.h"

int tandemd_watchdog_timeout_s(const tandemd_settings *s)
{
	long long ttl = s->ttl / 1000;
	long long t = s->watchdog_safety_margin < 0 ? ttl / 2 : ttl - s->watchdog_safety_margin;
	return t < 1 ? 0 : t > 3600 ? 3600 : (int)t;
}

bool tandemd_watchdog_off(const tandemd_settings *s)
{
	return !s->watchdog_mode || !strcasecmp(s->watchdog_mode, "off") ||
	       !strcasecmp(s->watchdog_mode, "false");
}

tandem_rest_client tandemd_rest_client(const tandemd_settings *s)
{
	tandem_rest_client c = {
	    .cacert = s->ctl_cacert ? s->ctl_cacert : s->restapi_cafile,
	    .certfile = s->ctl_certfile ? s->ctl_certfile : s->restapi_certfile,
	    .keyfile = s->ctl_certfile ? s->ctl_keyfile : s->restapi_keyfile,
	    .keyfile_password =
	        s->ctl_certfile ? s->ctl_keyfile_password : s->restapi_keyfile_password,
	    .insecure = s->ctl_insecure,
	};
	return c;
}

tandemd_verify tandemd_verify_client(const tandemd_settings *s)
{
	const char *v = s->restapi_verify_client;
	return !v || !strcmp(v, "none") ? TANDEMD_VERIFY_NONE
	       : !strcmp(v, "optional") ? TANDEMD_VERIFY_OPTIONAL
	                                : TANDEMD_VERIFY_REQUIRED;
}

bool tandemd_tag(const tandemd_settings *s, const char *name)
{
	const char *v = cfg_map_get(&s->tags, name);
	bool b = false;
	return v && cfg_parse_bool(v, &b) == 0 && b;
}

const char *tandemd_site(const tandemd_settings *s)
{
	return cfg_map_get(&s->tags, "site");
}
