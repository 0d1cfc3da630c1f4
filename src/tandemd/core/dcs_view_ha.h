/* tandemd's bridge from the DCS view (dcs_codec.h) to the HA decision's input (ha.h). */
#ifndef TANDEMD_DCS_VIEW_HA_H
#define TANDEMD_DCS_VIEW_HA_H

#include <stddef.h>

#include "dcs_codec.h"
#include "ha.h"

/* The HA decision's view of the cluster (ha.h): fills `out` from `v` with the members other than
 * `self` in `members` (room for `cap`; more are left out). Pointers go into `v`: valid until it
 * changes. `dcs_ok` is set true and every member unreachable: the agent knows better. */
void dcs_view_to_ha(const dcs_view *v, const char *self, ha_member *members, size_t cap,
                    ha_cluster *out);

#endif
