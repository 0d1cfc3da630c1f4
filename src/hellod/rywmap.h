/* What a hellod instance remembers of its own writes, shared by its workers: the primary's
 * latest known position, and the position of each user's last write, in a fixed table.
 *
 * The table has `slots` entries, each a user's 64-bit name hash and position. A user whose slot
 * another user takes is forgotten, and the floor rises to the forgotten position: every user
 * without an entry needs at least the floor. So the bound costs freshness (a read may wait for a
 * later position than it needs), never correctness. Two names with the same hash share an entry,
 * the later of their positions, which is as safe. Positions are kept for one timeline, the
 * newest seen: a newer one empties the table, and its first position becomes the floor. */
#ifndef HELLOD_RYWMAP_H
#define HELLOD_RYWMAP_H

#include <stddef.h>

#include "ryw.h"

typedef struct rywmap rywmap;

rywmap *rywmap_new(size_t slots);
void rywmap_free(rywmap *m);
/* A position of the primary (a commit, or a poll): raises the primary's known position. */
void rywmap_observe(rywmap *m, ryw_pos pos);
/* A write of `user` committed at `pos` (observes it too). */
void rywmap_note(rywmap *m, const char *user, ryw_pos pos);
/* A write committed at a position nobody knows (the answer after its commit was unreadable,
 * which PostgreSQL's fixed formats make an unexpected server): no position is known from now
 * on, so every read goes to the primary until the instance restarts. */
void rywmap_lost(rywmap *m);
/* The position a read of `user` must see (tli 0: nothing is known yet). */
ryw_pos rywmap_need(rywmap *m, const char *user);
ryw_pos rywmap_primary(rywmap *m);

#endif
