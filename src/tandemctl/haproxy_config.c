/* Rendering of the HAProxy configuration for a tandem cluster (see haproxy_config.h). */
#include "haproxy_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "err.h"
#include "strbuf.h"

#define HAPROXY_NAME_MAX 64

void haproxy_timing_defaults(haproxy_timing *t)
{
	t->inter_ms = HAPROXY_DEFAULT_INTER_MS;
	t->fastinter_ms = HAPROXY_DEFAULT_FASTINTER_MS;
	t->downinter_ms = HAPROXY_DEFAULT_DOWNINTER_MS;
	t->fall = HAPROXY_DEFAULT_FALL;
	t->rise = HAPROXY_DEFAULT_RISE;
	t->check_timeout_ms = 1000;
	t->connect_timeout_ms = 2000;
	t->client_timeout_ms = 30 * 60 * 1000;
	t->server_timeout_ms = 30 * 60 * 1000;
}

void haproxy_config_input_defaults(haproxy_config_input *in)
{
	memset(in, 0, sizeof *in);
	haproxy_timing_defaults(&in->timing);
	in->maxconn = HAPROXY_DEFAULT_MAXCONN;
	in->ro_fallback_primary = true;
}

static bool haproxy_name_ok(const char *s)
{
	if (!s || !*s || strlen(s) > HAPROXY_NAME_MAX)
		return false;
	for (const char *p = s; *p; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
		if (!ok)
			return false;
	}
	return true;
}

/* host:port, [v6]:port; with `listen`, also *:port. */
static bool haproxy_addr_ok(const char *s, bool listen)
{
	addr a;
	if (!s || addr_parse(s, 0, listen ? ADDR_WILDCARD : 0, &a, NULL) < 0)
		return false;
	addr_clear(&a);
	return true;
}

/* A path HAProxy reads as one word: absolute, no spaces, quotes, '#' or control bytes. */
static bool haproxy_path_ok(const char *s)
{
	if (!s || s[0] != '/' || strlen(s) > 4096)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= 0x20 || *p == 0x7f || *p == '#' || *p == '"' || *p == '\'' || *p == '\\')
			return false;
	return true;
}

/* The checks of https REST APIs: a CA to verify them with, or an explicit verify none. */
static int validate_tls(const haproxy_config_input *in, char **err)
{
	if (in->check_ca_file && !haproxy_path_ok(in->check_ca_file)) {
		err_set(err,
		        "check_ca_file: '%s' is not an absolute path without spaces, quotes or '#'",
		        in->check_ca_file);
		return -1;
	}
	for (size_t i = 0; i < in->n_members; i++) {
		const char *ca = in->members[i].ca_file;
		if (ca && !haproxy_path_ok(ca)) {
			err_set(
			    err,
			    "members[%zu].ca_file: '%s' is not an absolute path without spaces, "
			    "quotes or '#'",
			    i, ca);
			return -1;
		}
	}
	if (in->check_ca_file || in->check_verify_none)
		return 0;
	for (size_t i = 0; i < in->n_members; i++)
		if (in->members[i].rest_tls && !in->members[i].ca_file) {
			err_set(err,
			        "members[%zu] (%s): its REST API is https, and there is no CA to "
			        "check its certificate with (tandemctl: --cacert FILE, ctl.cacert "
			        "or restapi.cafile; or --insecure for 'verify none')",
			        i, in->members[i].name ? in->members[i].name : "");
			return -1;
		}
	return 0;
}

/* The members: valid names, none twice, valid addresses. */
static int validate_members(const haproxy_config_input *in, char **err)
{
	for (size_t i = 0; i < in->n_members; i++) {
		const haproxy_member *m = &in->members[i];
		if (!haproxy_name_ok(m->name)) {
			err_set(err,
			        "members[%zu].name: '%s' is not a valid name (1-%d letters, "
			        "digits, '-', "
			        "'_', '.')",
			        i, m->name ? m->name : "", HAPROXY_NAME_MAX);
			return -1;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(in->members[j].name, m->name) == 0) {
				err_set(
				    err, "members[%zu].name: '%s' is a duplicate of members[%zu]%s",
				    i, m->name, j,
				    m->site ? " (member names must be unique across sites)" : "");
				return -1;
			}
		}
		if (m->site && !haproxy_name_ok(m->site)) {
			err_set(err, "members[%zu].site: '%s' is not a valid name", i, m->site);
			return -1;
		}
		if (!haproxy_addr_ok(m->pg_addr, false)) {
			err_set(err, "members[%zu].pg_addr: '%s' is not host:port or [v6]:port", i,
			        m->pg_addr ? m->pg_addr : "");
			return -1;
		}
		if (!haproxy_addr_ok(m->rest_addr, false)) {
			err_set(err, "members[%zu].rest_addr: '%s' is not host:port or [v6]:port",
			        i, m->rest_addr ? m->rest_addr : "");
			return -1;
		}
	}
	return 0;
}

/* The listening addresses: valid, and no two the same. */
static int validate_listen(const haproxy_config_input *in, char **err)
{
	if (!haproxy_addr_ok(in->rw_listen, true)) {
		err_set(err, "rw_listen: '%s' is not host:port, [v6]:port or *:port",
		        in->rw_listen ? in->rw_listen : "");
		return -1;
	}
	if (!haproxy_addr_ok(in->ro_listen, true)) {
		err_set(err, "ro_listen: '%s' is not host:port, [v6]:port or *:port",
		        in->ro_listen ? in->ro_listen : "");
		return -1;
	}
	if (strcmp(in->rw_listen, in->ro_listen) == 0) {
		err_set(err, "ro_listen: '%s' is the same as rw_listen", in->ro_listen);
		return -1;
	}
	if (in->stats_listen) {
		if (!haproxy_addr_ok(in->stats_listen, true)) {
			err_set(err, "stats_listen: '%s' is not host:port, [v6]:port or *:port",
			        in->stats_listen);
			return -1;
		}
		if (strcmp(in->stats_listen, in->rw_listen) == 0 ||
		    strcmp(in->stats_listen, in->ro_listen) == 0) {
			err_set(err, "stats_listen: '%s' is already used by another port",
			        in->stats_listen);
			return -1;
		}
	}
	return 0;
}

/* The check timings and maxconn: in their bounds. */
static int validate_timing(const haproxy_config_input *in, char **err)
{
	const haproxy_timing *t = &in->timing;
	struct {
		const char *name;
		unsigned v;
	} knobs[] = {
	    {"timing.inter_ms", t->inter_ms},
	    {"timing.fastinter_ms", t->fastinter_ms},
	    {"timing.downinter_ms", t->downinter_ms},
	    {"timing.fall", t->fall},
	    {"timing.rise", t->rise},
	    {"timing.check_timeout_ms", t->check_timeout_ms},
	    {"timing.connect_timeout_ms", t->connect_timeout_ms},
	    {"timing.client_timeout_ms", t->client_timeout_ms},
	    {"timing.server_timeout_ms", t->server_timeout_ms},
	    {"maxconn", in->maxconn},
	};
	for (size_t i = 0; i < sizeof knobs / sizeof knobs[0]; i++) {
		if (knobs[i].v == 0) {
			err_set(err, "%s: must be greater than 0", knobs[i].name);
			return -1;
		}
	}
	if (t->fall > 100 || t->rise > 100) {
		err_set(err, "%s: must be at most 100",
		        t->fall > 100 ? "timing.fall" : "timing.rise");
		return -1;
	}
	if (in->maxconn > 1000000) {
		err_set(err, "maxconn: %u is more than 1000000", in->maxconn);
		return -1;
	}
	return 0;
}

int haproxy_config_validate(const haproxy_config_input *in, char **err)
{
	if (!in) {
		err_set(err, "no input");
		return -1;
	}
	if (!haproxy_name_ok(in->scope)) {
		err_set(err,
		        "scope: '%s' is not a valid name (1-%d letters, digits, '-', '_', '.')",
		        in->scope ? in->scope : "", HAPROXY_NAME_MAX);
		return -1;
	}
	if (in->n_members == 0 || !in->members) {
		err_set(err, "members: at least one member is needed");
		return -1;
	}
	if (validate_members(in, err) < 0 || validate_listen(in, err) < 0 ||
	    validate_timing(in, err) < 0 || validate_tls(in, err) < 0)
		return -1;
	return 0;
}

/* One server line: traffic to PostgreSQL, checks to the REST API (its port, and its address when
 * it differs); a `backup` server takes traffic only while no other server is up. */
static void haproxy_server(strbuf *sb, const haproxy_config_input *in, const haproxy_member *m,
                           bool backup)
{
	char *pg_host = addr_host_text(m->pg_addr, "");
	char *rest_host = addr_host_text(m->rest_addr, "");
	char *rest_port = addr_port_text(m->rest_addr, "");
	sb_printf(sb, "\tserver %s %s check port %s", m->name, m->pg_addr, rest_port);
	if (strcmp(pg_host, rest_host) != 0)
		sb_printf(sb, " addr %s", rest_host);
	const char *ca = m->ca_file ? m->ca_file : in->check_ca_file;
	if (m->rest_tls && ca)
		sb_printf(sb, " check-ssl verify required ca-file %s", ca);
	else if (m->rest_tls)
		sb_puts(sb, " check-ssl verify none");
	sb_puts(sb, backup ? " backup\n" : "\n");
	free(pg_host);
	free(rest_host);
	free(rest_port);
}

static void haproxy_check_block(strbuf *sb, const char *uri)
{
	sb_printf(sb, "\toption httpchk GET %s\n", uri);
	sb_puts(sb, "\thttp-check expect status 200\n");
}

/* The comment at the top: what the routing is and why the check timings are these. */
static void render_header(strbuf *sb, const haproxy_config_input *in)
{
	const haproxy_timing *t = &in->timing;
	sb_printf(sb, "# HAProxy configuration for the tandem cluster '%s', generated by\n",
	          in->scope);
	sb_puts(sb, "# `tandemctl haproxy-config` (tandem " TANDEM_VERSION "). Do not edit: "
	            "regenerate.\n");
	sb_puts(
	    sb,
	    "#\n"
	    "# Routing: the read-write port goes to the member whose REST API answers 200 on\n"
	    "# /primary; the read-only port is balanced over the members answering 200 on\n"
	    "# /replica. tandemd's endpoints answer for what PostgreSQL can actually do: /primary\n"
	    "# is 200 only while this member holds the leader key, runs as the primary AND its\n"
	    "# PostgreSQL accepts connections, so HAProxy does not keep sending clients to a dead\n"
	    "# port (Patroni answers 200 there until its leader lock expires).\n"
	    "#\n"
	    "# Check timings: the ones Patroni documents (inter 3s fall 3 rise 2) were\n"
	    "# measured to add 3-6 s to every failover and switchover. These are tighter:\n");
	sb_printf(
	    sb,
	    "#   inter %ums fastinter %ums downinter %ums fall %u rise %u\n"
	    "# An old primary is marked down after %u failed checks (at most about %u ms once\n"
	    "# its /primary stops answering 200), a new one up after %u good check(s) (within\n"
	    "# about %u ms of its /primary answering 200). A single good check is enough\n"
	    "# because /primary is only 200 on the member that holds the leader key, and a\n"
	    "# wrongly routed write is refused by a PostgreSQL that is not the primary.\n"
	    "# on-marked-down shutdown-sessions closes the clients' sessions to a server as soon\n"
	    "# as it is marked down, so they reconnect to the new primary. The checks cost one\n"
	    "# small HTTP request per member and backend every %u ms (every %u ms for a member\n"
	    "# marked down: the replicas in the read-write backend, which is how a newly\n"
	    "# promoted one is seen quickly).\n",
	    t->inter_ms, t->fastinter_ms, t->downinter_ms, t->fall, t->rise, t->fall,
	    t->inter_ms + (t->fall > 1 ? (t->fall - 1) * t->fastinter_ms : 0), t->rise,
	    t->downinter_ms + (t->rise > 1 ? (t->rise - 1) * t->fastinter_ms : 0), t->inter_ms,
	    t->downinter_ms);
	if (in->check_verify_none)
		sb_puts(sb,
		        "#\n# check-ssl verify none: the members' REST API certificates are NOT "
		        "verified\n# (tandemctl haproxy-config --insecure).\n");
}

/* Several sites: which members are in which, and how writes find the primary site. */
static void render_sites(strbuf *sb, const haproxy_config_input *in)
{
	bool any = false;
	for (size_t i = 0; i < in->n_members; i++)
		any = any || in->members[i].site;
	if (!any)
		return;
	sb_puts(sb, "#\n# Sites (docs/sites.md):\n");
	for (size_t i = 0; i < in->n_members; i++) {
		const char *site = in->members[i].site ? in->members[i].site : "";
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(in->members[j].site ? in->members[j].site : "", site) == 0;
		if (seen)
			continue;
		sb_printf(sb, "#   %s%s:", site,
		          in->members[i].remote ? "" : " (this HAProxy's site)");
		for (size_t j = i; j < in->n_members; j++)
			if (strcmp(in->members[j].site ? in->members[j].site : "", site) == 0)
				sb_printf(sb, " %s", in->members[j].name);
		sb_puts(sb, "\n");
	}
	sb_puts(sb,
	        "# Every member of every site is in the read-write backend: only the leader of\n"
	        "# the primary site answers 200 on /primary (a standby cluster's leader answers\n"
	        "# 503), so writes go to whichever site is primary, and follow a site switchover\n"
	        "# or a promotion without a new configuration. Reads stay in this site while one\n"
	        "# of its replicas is up (the other sites' replicas are backup servers).\n");
}

/* The global and defaults sections, and the stats page. */
static void render_defaults(strbuf *sb, const haproxy_config_input *in)
{
	const haproxy_timing *t = &in->timing;
	unsigned long global_maxconn =
	    (unsigned long)in->maxconn * (unsigned long)in->n_members * 2;
	if (global_maxconn < 256)
		global_maxconn = 256;
	sb_puts(sb, "\nglobal\n");
	sb_printf(sb, "\tmaxconn %lu\n", global_maxconn);
	/* retries 0: HAProxy waits up to a second before retrying a refused connection (measured:
	 * a switchover's write gap was 1.1 s, 1 s of it this wait). Refused at once, the client
	 * retries and reaches the new primary as soon as its check passes. */
	sb_puts(sb, "\ndefaults\n"
	            "\tmode tcp\n"
	            "\t# no retry here: a refused connection is reported at once and the client\n"
	            "\t# retries (HAProxy would wait up to 1 s before its own retry)\n"
	            "\tretries 0\n");
	sb_printf(sb,
	          "\ttimeout connect %ums\n"
	          "\ttimeout client %ums\n"
	          "\ttimeout server %ums\n"
	          "\ttimeout check %ums\n",
	          t->connect_timeout_ms, t->client_timeout_ms, t->server_timeout_ms,
	          t->check_timeout_ms);

	if (in->stats_listen) {
		sb_printf(sb,
		          "\nlisten %s_stats\n"
		          "\tmode http\n"
		          "\tbind %s\n"
		          "\tstats enable\n"
		          "\tstats uri /\n",
		          in->scope, in->stats_listen);
	}
}

/* The read-write frontend and its backend. */
static void render_rw(strbuf *sb, const haproxy_config_input *in, const char *default_server)
{
	sb_printf(sb,
	          "\n# Read-write: the primary only.\n"
	          "frontend %s_rw\n"
	          "\tbind %s\n"
	          "\tdefault_backend %s_primary\n",
	          in->scope, in->rw_listen, in->scope);
	sb_printf(sb, "\nbackend %s_primary\n", in->scope);
	haproxy_check_block(sb, "/primary");
	sb_puts(sb, default_server);
	for (size_t i = 0; i < in->n_members; i++)
		haproxy_server(sb, in, &in->members[i], false);
}

/* The read-only frontend and its backend (with the primary as a backup, if asked). */
static void render_ro(strbuf *sb, const haproxy_config_input *in, const char *default_server)
{
	bool remote = false;
	for (size_t i = 0; i < in->n_members; i++)
		remote = remote || in->members[i].remote;
	sb_printf(sb, "\n# Read-only: %s, balanced%s.\n",
	          remote ? "this site's replicas" : "the replicas",
	          in->ro_fallback_primary ? "; the primary when no replica is up" : "");
	if (remote)
		sb_puts(sb,
		        "# The other sites' replicas are backup servers, before the primary: used "
		        "while\n# no replica of this site is up.\n");
	sb_printf(sb,
	          "frontend %s_ro\n"
	          "\tbind %s\n"
	          "\tdefault_backend %s_replicas\n",
	          in->scope, in->ro_listen, in->scope);
	sb_printf(sb, "\nbackend %s_replicas\n", in->scope);
	sb_puts(sb, "\tbalance roundrobin\n");
	haproxy_check_block(sb, "/replica");
	sb_puts(sb, default_server);
	for (size_t i = 0; i < in->n_members; i++)
		if (!in->members[i].remote)
			haproxy_server(sb, in, &in->members[i], false);
	/* The other sites' replicas: backups, in the order given (HAProxy uses the first one up),
	 * before the primary. */
	for (size_t i = 0; i < in->n_members; i++)
		if (in->members[i].remote)
			haproxy_server(sb, in, &in->members[i], true);
	if (in->ro_fallback_primary) {
		/* Backups that follow the read-write backend's checks ("track"): each member again,
		 * up only while it is the primary. */
		for (size_t i = 0; i < in->n_members; i++) {
			const haproxy_member *m = &in->members[i];
			sb_printf(sb, "\tserver %s_primary %s track %s_primary/%s backup\n",
			          m->name, m->pg_addr, in->scope, m->name);
		}
	}
}

char *haproxy_config_render(const haproxy_config_input *in, char **err)
{
	if (haproxy_config_validate(in, err) != 0)
		return NULL;
	const haproxy_timing *t = &in->timing;
	strbuf sb = STRBUF_INIT;
	render_header(&sb, in);
	render_sites(&sb, in);
	render_defaults(&sb, in);
	char default_server[256];
	snprintf(default_server, sizeof default_server,
	         "\tdefault-server inter %ums fastinter %ums downinter %ums fall %u rise %u "
	         "on-marked-down shutdown-sessions maxconn %u\n",
	         t->inter_ms, t->fastinter_ms, t->downinter_ms, t->fall, t->rise, in->maxconn);
	render_rw(&sb, in, default_server);
	render_ro(&sb, in, default_server);
	return sb_steal(&sb);
}
