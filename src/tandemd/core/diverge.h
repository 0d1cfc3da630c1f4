/* Has a stopped data directory forked from the leader's history? Pure: judged from the data
 * directory's control data (pg_controldata) and the DCS history key. */
#ifndef TANDEM_DIVERGE_H
#define TANDEM_DIVERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dcs_codec.h"
#include "pgctl.h"

/* The timeline the data directory is on. A replica's minimum recovery point may be on a newer
 * timeline than its latest checkpoint: it replayed a timeline switch and has not had a
 * restartpoint since, or pg_rewind set it to the source's position. */
int64_t diverge_timeline(const pgctl_control *c);

/* True when the data directory holds WAL that the leader's timeline `leader_tl` does not: it
 * went on past the point where its timeline ended in the leader's history. False when it is on
 * the leader's timeline or a newer one. True when the history does not say where its timeline
 * ended (pg_rewind then finds out, and does nothing if nothing forked). */
bool diverge_check(const pgctl_control *c, int64_t leader_tl, const dcs_history_entry *history,
                   size_t nhistory);

#endif
