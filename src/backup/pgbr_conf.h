/* pgBackRest's configuration as tandem writes it: the operator's options passed through under
 * pgBackRest's own names, then what tandem owns (spool, locks and logs per member, async
 * archiving, parallelism, retention), then the stanza with the PostgreSQL servers. Pure: the text,
 * and the argv of a pgbackrest command (no secret ever goes in argv: they live in the file, 0600,
 * or in the environment). */
#ifndef TANDEM_PGBR_CONF_H
#define TANDEM_PGBR_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "cfg.h"
#include "err.h"

/* One PostgreSQL server of the stanza (pg1, pg2, ...). */
typedef struct pgbr_pg {
	const char *path;        /* its data directory */
	const char *port;        /* NULL: 5432 */
	const char *socket_path; /* its Unix socket directory; NULL: none */
	const char *user;        /* the role pgBackRest connects as; NULL: pgBackRest's default */
	const char *host;        /* NULL: on this host; else reached through `host_type` */
	const char *host_type;   /* "tls" or "ssh" (pgBackRest's pgN-host-type) */
	/* for host_type "tls": the server's port (NULL: pgBackRest's 8432), this member's client
	 * certificate and key, and the CA the server's certificate is checked against */
	const char *host_port, *host_cert_file, *host_key_file, *host_ca_file;
} pgbr_pg;

typedef struct pgbr_conf_in {
	const char *stanza;
	const cfg_map *global;  /* the pass-through options (backup.pgbackrest); may be NULL */
	const char *spool_path; /* spool-path; lock-path and log-path below it */
	bool archive_async;
	long long process_max;
	long long archive_push_queue_max; /* bytes; 0: none */
	long long retention_full;         /* for every repository that sets none; 0: none */
	const pgbr_pg *pg;
	size_t npg;
} pgbr_conf_in;

/* pgbackrest.conf's text (caller frees). */
char *pgbr_conf_render(const pgbr_conf_in *in);

/* Writes it to `path`: a temporary file, mode 0600, fsync, rename. */
int pgbr_conf_write(const char *path, const pgbr_conf_in *in, char **err) TND_MUST_CHECK;

/* The TLS server's configuration (`pgbackrest server`): where it listens, its certificate, the
 * clients it lets in for `stanza`, and its log and lock directories below `spool_path`. */
typedef struct pgbr_server_in {
	const char *stanza;
	const char *address, *port; /* tls-server-address, tls-server-port */
	const char *cert_file, *key_file, *ca_file;
	const char *const *auth; /* client certificate CNs */
	size_t nauth;
	const char *spool_path;
} pgbr_server_in;

/* Its text (caller frees). */
char *pgbr_server_conf_render(const pgbr_server_in *in);

/* `command --config=CONFIG --stanza=STANZA VERB args...`,
 * NULL-terminated, every string the caller's to free with pgbr_argv_free. */
char **pgbr_argv(const char *command, const char *config, const char *stanza, const char *verb,
                 const char *const *args, size_t nargs);
void pgbr_argv_free(char **argv);

/* The repositories the options name (N of repoN-path or repoN-type), ascending, into `out`
 * (up to `cap`); returns how many. */
size_t pgbr_repos(const cfg_map *global, int *out, size_t cap);

#endif
