/* The HAProxy configuration `tandemctl haproxy-config` prints: a read-write port routed to the
 * member whose REST API answers 200 on /primary, a read-only port balanced over the members that
 * answer 200 on /replica (optionally falling back to the primary), health-checked through each
 * member's REST API. A pure function of its input: no I/O, no clock.
 *
 * Two sites (docs/sites.md): the members of several clusters in one configuration. Every member
 * of every site is in the read-write backend (only the leader of the primary site answers 200 on
 * /primary; a standby leader answers 503), so writes follow a site switchover or a promotion
 * without a new configuration. In the read-only backend the members of the other sites
 * (`remote`) are backup servers: used only while no replica of HAProxy's own site is up. */
#ifndef TANDEM_HAPROXY_CONFIG_H
#define TANDEM_HAPROXY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

typedef struct haproxy_member {
	const char *name;      /* a HAProxy identifier: letters, digits, '-', '_', '.' */
	const char *pg_addr;   /* PostgreSQL, host:port or [v6]:port */
	const char *rest_addr; /* tandemd's REST API, host:port or [v6]:port */
	bool rest_tls;         /* the REST API speaks https: checks with check-ssl */
	const char *site;      /* the member's site (cluster), for the comments; NULL: one site */
	bool remote;           /* of another site than HAProxy's: a backup server for reads */
	const char *ca_file;   /* rest_tls: the CA for this member, over check_ca_file */
} haproxy_member;

/* Health-check timings and proxy timeouts, in milliseconds (fall/rise are counts). */
typedef struct haproxy_timing {
	unsigned inter_ms;     /* between checks of a server in a stable state */
	unsigned fastinter_ms; /* between checks while a server is changing state */
	unsigned downinter_ms; /* between checks of a server that is down */
	unsigned fall;         /* failed checks before a server is marked down */
	unsigned rise;         /* successful checks before a server is marked up */
	unsigned check_timeout_ms;
	unsigned connect_timeout_ms;
	unsigned client_timeout_ms;
	unsigned server_timeout_ms;
} haproxy_timing;

typedef struct haproxy_config_input {
	const char *scope; /* the cluster's scope name, used in section names */
	const haproxy_member *members;
	size_t n_members;
	const char *rw_listen;    /* read-write port, host:port ('*' or empty host: all) */
	const char *ro_listen;    /* read-only port */
	const char *stats_listen; /* HAProxy's stats page, or NULL for none */
	haproxy_timing timing;
	unsigned maxconn;         /* per server, and the global limit derived from it */
	bool ro_fallback_primary; /* the read-only port also lists every member as a backup
	                           * checked on /primary */
	/* Members with rest_tls: their certificates are verified against this CA file (an
	 * absolute path), or not at all with check_verify_none; one of the two is needed. */
	const char *check_ca_file;
	bool check_verify_none;
} haproxy_config_input;

/* The tight defaults (see the comment haproxy_config_render writes into the file). */
#define HAPROXY_DEFAULT_INTER_MS     500u
#define HAPROXY_DEFAULT_FASTINTER_MS 250u
#define HAPROXY_DEFAULT_DOWNINTER_MS 200u
#define HAPROXY_DEFAULT_FALL         2u
#define HAPROXY_DEFAULT_RISE         1u
#define HAPROXY_DEFAULT_MAXCONN      100u

/* Fills `t` with the tight defaults. */
void haproxy_timing_defaults(haproxy_timing *t);

/* Zeroes `in`, then sets the default timings, maxconn and the read-only fallback (on). */
void haproxy_config_input_defaults(haproxy_config_input *in);

/* Checks `in`; on error returns -1 and a message naming the bad field. */
int haproxy_config_validate(const haproxy_config_input *in, char **err);

/* Renders the configuration (a heap string for the caller to free), or NULL with *err set when
 * the input is invalid; nothing is emitted from bad input. */
char *haproxy_config_render(const haproxy_config_input *in, char **err);

#endif
