/* Read-your-writes for local reads: the consistency token a PUT answers with, and the decision
 * where a GET is served (the local replica now, after a wait, or the primary). Pure functions,
 * no I/O and no clock: every input is an argument, so every rule is table-tested.
 *
 * A position is a timeline and an LSN. The token is "<timeline>:<LSN>" with the timeline in
 * decimal (1 to 4294967295) and the LSN as PostgreSQL prints it, two hexadecimal halves of 1 to 8
 * digits separated by '/': "1:0/16B3748". At most RYW_TOKEN_MAX - 1 bytes. */
#ifndef HELLOD_RYW_H
#define HELLOD_RYW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum { RYW_TOKEN_MAX = 32 }; /* "4294967295:FFFFFFFF/FFFFFFFF" and a NUL fit */

#define RYW_TOKEN_HEADER "Tandem-Consistency-Token"

typedef struct ryw_pos {
	uint32_t tli; /* 0: no position */
	uint64_t lsn;
} ryw_pos;

/* Parses a token (exactly the form above, nothing around it). */
int ryw_token_parse(const char *s, ryw_pos *out) TND_MUST_CHECK;
/* Writes the token of a position with tli > 0. */
void ryw_token_format(ryw_pos pos, char out[RYW_TOKEN_MAX]);
/* An LSN as PostgreSQL's pg_lsn prints it ("16/B374D848"). */
int ryw_lsn_parse(const char *s, uint64_t *out) TND_MUST_CHECK;

/* The timeline of a WAL file name (24 hexadecimal digits, the first 8 the timeline), as
 * pg_walfile_name() returns it. */
int ryw_walfile_tli(const char *name, uint32_t *out) TND_MUST_CHECK;

/* What a replica said, just before the read it carried. */
typedef struct ryw_replica {
	bool standby; /* pg_last_wal_replay_lsn() was not NULL: the server is in recovery */
	uint32_t tli; /* the timeline it receives on; 0: unknown (no WAL receiver, no privilege) */
	uint64_t lsn; /* replayed up to here */
} ryw_replica;

typedef struct ryw_input {
	ryw_pos token;   /* presented by the client (tli 0: none) */
	ryw_pos own;     /* this instance's last write for the user, or its floor (tli 0: none) */
	ryw_pos primary; /* the primary's latest known position (tli 0: unknown yet) */
	const ryw_replica *replica; /* NULL: not asked yet */
	uint64_t waited_ms;         /* since the first answer of the replica */
	uint64_t wait_max_ms;       /* read-wait */
	uint64_t max_lag;           /* read-max-lag, bytes */
} ryw_input;

typedef enum ryw_verdict {
	RYW_ASK,     /* ask the replica (only when input.replica is NULL) */
	RYW_LOCAL,   /* the replica's answer may be served */
	RYW_WAIT,    /* ask the replica again shortly */
	RYW_PRIMARY, /* read from the primary */
} ryw_verdict;

typedef enum ryw_reason {
	RYW_OK,
	RYW_PRIMARY_UNKNOWN,  /* this instance does not know the primary's position yet */
	RYW_TOKEN_TIMELINE,   /* the token's timeline is not the primary's */
	RYW_OWN_TIMELINE,     /* this instance's write was on another timeline than the token's */
	RYW_NOT_STANDBY,      /* the read server is not in recovery */
	RYW_REPLICA_TIMELINE, /* the replica's timeline is unknown or not the one needed */
	RYW_LAGGING,          /* the replica is more than max_lag behind the primary */
	RYW_BEHIND,           /* not replayed up to the position needed */
	RYW_REASON_COUNT
} ryw_reason;

/* The rules, in order (docs/hellod.md, "Local reads"). */
ryw_verdict ryw_decide(const ryw_input *in, ryw_reason *why);
const char *ryw_reason_text(ryw_reason r);

#endif
