/* The watchdog's state, pure (fence.c, table-tested): the last deadline the agent sent and what a
 * line of its input means. tandemd-fence (fence_main.c) does the I/O. */
#ifndef TANDEMD_FENCE_H
#define TANDEMD_FENCE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct fence_state {
	uint64_t deadline_ms; /* CLOCK_MONOTONIC ms; 0: disarmed */
	/* When the lease itself ends (a replica may take over after it); 0: not given, the
	 * deadline then counts as the end. */
	uint64_t lease_end_ms;
} fence_state;

typedef enum fence_cmd {
	FENCE_CMD_DEADLINE, /* "DEADLINE" or "DEADLINE LEASE_END": a new deadline (or 0: disarm) */
	FENCE_CMD_EXIT,     /* the agent stops the watchdog on purpose */
	FENCE_CMD_BAD,      /* not understood: ignored, the old deadline stands */
} fence_cmd;

/* tandemd-fence watchdog's exit status after it fenced PostgreSQL (0: told to exit; 2: usage). */
enum { FENCE_EXIT_FENCED = 3 };

void fence_init(fence_state *st);
/* One input line, without its newline. */
fence_cmd fence_feed(fence_state *st, const char *line);
/* Milliseconds poll() may wait: -1 when disarmed (forever), 0 when the deadline has passed. */
int fence_poll_timeout(const fence_state *st, uint64_t now_ms);

/* A hardware watchdog pinged at `now_ms` resets the machine at now_ms + timeout_ms unless pinged
 * again. It may be pinged only while armed and while that reset would come no later than the
 * lease's end: then even a fence process that freezes (with the whole machine, say) cannot leave
 * a primary running after a replica may have taken over. */
bool fence_hw_may_ping(const fence_state *st, uint64_t now_ms, uint64_t timeout_ms);

#endif
