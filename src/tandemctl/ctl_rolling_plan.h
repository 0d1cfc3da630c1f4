/* The pure part of `tandemctl restart --rolling`: from what the DCS says, which members are
 * restarted and in which order (the replicas one by one, the leader last through a switchover),
 * whether the cluster is healthy enough to start, and which replica takes over from the leader.
 * No I/O: tandemctl's ctl_rolling.c carries the plan out. */
#ifndef TANDEMCTL_CTL_ROLLING_PLAN_H
#define TANDEMCTL_CTL_ROLLING_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "dcs_codec.h"

typedef struct rolling_plan {
	/* The replicas to restart, in order: asynchronous ones first, then the synchronous
	 * standbys, by name within each group (pointers into the view). */
	const dcs_member **replicas;
	size_t nreplicas;
	/* The leader, when it is restarted too (through a switchover); NULL when it is not (with
	 * --pending, when it has no restart pending). */
	const dcs_member *leader;
	/* Why the roll may not start (heap), NULL when it may. */
	char *problem;
} rolling_plan;

/* Plans the roll of cluster `v`; `pending_only`: only the members whose key reports
 * pending_restart. A cluster without a leader, with a member that is not running, a replica
 * that is not streaming, or (when the leader is in the plan) no replica that may take over,
 * gets a `problem`: the roll starts only from a healthy cluster and never leaves it without a
 * leader on purpose. Free with rolling_plan_free. */
void rolling_plan_make(const dcs_view *v, bool pending_only, rolling_plan *p);
void rolling_plan_free(rolling_plan *p);

/* The replica that should take over from the leader: not the leader, running and streaming
 * with a WAL position, not tagged nofailover, and in synchronous mode a synchronous standby
 * (the leader refuses any other). Among those: a synchronous standby first, then one in the
 * leader's site (tags.site), then the furthest ahead, then by name. NULL with *why (heap) when
 * there is none. */
const dcs_member *rolling_candidate(const dcs_view *v, char **why);

#endif
