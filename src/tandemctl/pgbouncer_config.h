/* The PgBouncer configuration `tandemctl pgbouncer-config` prints (docs/pooler.md): one PgBouncer
 * per site in front of the cluster, every database routed to the primary through `route` (usually
 * the site's HAProxy read-write port, which follows the leader), an admin console for tandemd to
 * PAUSE and RESUME around a planned switchover, and settings that keep a failover short for its
 * clients (a failed server login retried after a second, not fifteen). A pure function of its
 * input: no I/O, no clock. */
#ifndef TANDEM_PGBOUNCER_CONFIG_H
#define TANDEM_PGBOUNCER_CONFIG_H

#include "err.h"

typedef struct pgbouncer_config_input {
	const char *scope;       /* for the comments */
	const char *listen_host; /* PgBouncer's listen_addr */
	const char *listen_port;
	const char *route_host; /* where the primary is reached: host, IP or socket directory */
	const char *route_port;
	const char *admin_user; /* admin_users: the role tandemd pauses and resumes with */
	const char *auth_file;  /* userlist.txt (SCRAM secrets or md5) */
	const char *pool_mode;  /* session, transaction or statement */
	unsigned max_client_conn;
	unsigned default_pool_size;
	unsigned pause_timeout_s; /* pgbouncer.pause_timeout: clients wait at most this long */
} pgbouncer_config_input;

/* pgbouncer.ini's text (caller frees), or NULL with *err naming the bad field (a value that would
 * break the file: a newline, a quote, a port that is not a number, an unknown pool mode). */
char *pgbouncer_config_render(const pgbouncer_config_input *in, char **err) TND_MUST_CHECK;

#endif
