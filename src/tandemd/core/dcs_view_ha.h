/* tandemd's bridge from the DCS view (dcs_codec.h) to the HA decision's input (ha.h). */
#ifndef TANDEMD_DCS_VIEW_HA_H
#define TANDEMD_DCS_VIEW_HA_H

#include <stddef.h>

#include "dcs_codec.h"
#include "ha.h"
#include "plan.h"

/* The HA decision's view of the cluster (ha.h): fills `out` from `v` with the members other than
 * `self` in `members` (room for `cap`; more are left out). Pointers go into `v`: valid until it
 * changes. `dcs_ok` is set true and every member unreachable: the agent knows better. */
void dcs_view_to_ha(const dcs_view *v, const char *self, ha_member *members, size_t cap,
                    ha_cluster *out);

/* The member's key says running, with a position: it may be followed, or may lead. */
bool dcs_member_running(const dcs_member *m);

/* The leader's timeline as the DCS tells it: its member key's, or one past the newest history
 * entry (the member key may lag a promotion by a pass); 0 when unknown. */
int64_t dcs_view_leader_timeline(const dcs_view *v);

/* The plan's inputs (plan.h) from the DCS view, around what the agent knows locally: `in` holds
 * cfg (the YAML's, cfg.name this member), lo, the clocks and expiries, forked, was_primary,
 * unfinished_data, streaming, timeline, sync_settling, requests, cl.dcs_ok and
 * cl.failsafe_leader; the rest is filled from `v`: the DCS config's timings applied to cfg when
 * they keep the timing rule (loop_wait, retry_timeout, maximum_lag_on_failover), the cluster
 * (the other members into `members`, room for v->nmembers, reachable when their key says
 * running), the failover key, others_running, config_rev and leader_timeline. Pointers go into
 * `v`. Pure: tandemd's pass (agent_inputs.c) and the fuzzer of the plan both come here. */
void ha_inputs_from_view(const dcs_view *v, ha_member *members, ha_inputs *in);

#endif
