/* pgBackRest's TLS server as a supervised child of tandemd (backup.tls_server.*, docs/backup.md
 * "Backups from a replica on another host"): every member with the keys runs `pgbackrest server`
 * with the configuration tandemd writes (SPOOL/server.conf, 0600), restarted with a back-off
 * when it exits, killed with its process group when tandemd stops (and under setpriv --pdeathsig
 * when tandemd is killed outright). Any member may become the primary, whose server a replica's
 * backup reaches; the leader publishes its host and port in the `backup` key. */
#ifndef TANDEMD_AGENT_PGBR_SERVER_H
#define TANDEMD_AGENT_PGBR_SERVER_H

#include "agent_priv.h"

/* NULL when backup.tls_server.* is not set. */
agent_pgbr_server *agent_pgbr_server_new(agent *a);
void agent_pgbr_server_start(agent *a);
void agent_pgbr_server_stop(agent *a);
void agent_pgbr_server_free(agent *a);

/* The port of backup.tls_server.address (caller frees); NULL when there is no server. */
char *agent_pgbr_server_port(const agent *a);

#endif
