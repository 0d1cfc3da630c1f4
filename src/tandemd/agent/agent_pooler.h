/* The site's PgBouncers around a planned switchover (agent_pooler.c, docs/pooler.md). */
#ifndef TANDEMD_AGENT_POOLER_H
#define TANDEMD_AGENT_POOLER_H

#include <stdbool.h>

typedef struct agent agent;

/* Before a handover stops PostgreSQL: PAUSE every PgBouncer of pgbouncer.admin, then `then`
 * (at once when there are none; after every PAUSE answered or gave up otherwise). */
void agent_pooler_pause(agent *a, void (*then)(agent *a));

/* The handover ended: `released` the leader key (resume once the new primary answers through
 * pgbouncer.route), or not (resume now). Nothing when nothing was paused. */
void agent_pooler_handed_over(agent *a, bool released);

/* At the agent's end: cancels what runs (a PgBouncer still paused is named in the log). */
void agent_pooler_free(agent *a);

#endif
