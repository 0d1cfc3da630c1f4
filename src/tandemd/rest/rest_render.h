/* The pure half of tandemd's REST API: the JSON bodies Patroni's REST API answers with, rendered
 * from a snapshot of the agent (agent_status) and its cluster view, and the Prometheus text of
 * /metrics (what a client sends is read by rest_request.h). No I/O and no call into the agent:
 * the server glue (rest.c) takes a snapshot, calls these and writes the answer.
 *
 * Shapes follow Patroni 3.x (field names and types, so that patronictl, HAProxy checks and
 * monitoring written for Patroni read them), with these choices:
 *   - /patroni "role" is the agent's word ("primary", "replica", "uninitialized").
 *   - /cluster "lag" is measured against the leader's xlog_location in its member key (or, when
 *     the leader publishes none, the optime of the status key); "unknown" when the member
 *     publishes no position.
 *   - /config with no config key in the DCS: 502 and "{}" (Patroni answers 502 too).
 *
 * Every string returned is a heap string the caller frees. */
#ifndef TANDEMD_REST_RENDER_H
#define TANDEMD_REST_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "agent.h"
#include "health.h"
#include "strbuf.h"

/* ---- bodies of the GET endpoints ---- */

/* GET /patroni, and the body of a GET on a health endpoint. */
char *rest_render_patroni(const agent_status *st);
/* GET /cluster. */
char *rest_render_cluster(const agent_status *st);
/* GET /history: [[timeline, lsn, reason, timestamp, new_leader], ...], [] when none. */
char *rest_render_history(const agent_status *st);
/* GET /config: the status code (200, or 502 when the DCS holds no config) and the body. */
unsigned rest_render_config(const agent_status *st, char **body);
/* GET /failsafe: 200 and the `failsafe` key ({"name": "api_url"}), or 502 when failsafe mode is
 * off or the key does not exist yet. */
unsigned rest_render_failsafe(const agent_status *st, char **body);
/* GET /metrics: appends the tandem_* families to `out`. */
void rest_render_metrics(strbuf *out, const agent_status *st, const agent_counters *c);
/* rest_metrics_patroni.c: the 26 patroni_* families of Patroni 4's /metrics, same names, types
 * and meanings; `labels` is the inside of the braces ({scope,name}). */
void rest_render_metrics_patroni(strbuf *out, const char *labels, const agent_status *st);
/* rest_metrics_tandem.c: the tandem_* families of the monitoring kit (HA pass, failovers, lag per
 * replica, site, sync, fence, etcd round trips, members, disk); `c` may be NULL. */
void rest_render_metrics_tandem(strbuf *out, const char *labels, const agent_status *st,
                                const agent_counters *c);
/* A Prometheus label value: backslash, double quote and newline escaped. */
void rest_label_value(strbuf *out, const char *s);
/* The archiving families (rest_render_archive.c); nothing when `a` is NULL (backups off). */
void rest_render_archive_metrics(strbuf *out, const char *labels, const agent_archive_status *a);
/* rest_drill.c: the restore drill families, from the DCS `drill` key (every member shows the
 * cluster's last drill) and this member's running drill; `labels` as for every sample. */
void rest_render_drill_metrics(strbuf *out, const char *labels, const agent_status *st);

/* "postgres://host:port/db" (or postgresql://, user@ and [v6] allowed): the host (heap string,
 * NULL when none) and the port (0 when none or not a number in 1..65535). */
void rest_conn_url_host_port(const char *conn_url, char **host, int *port);

#endif
