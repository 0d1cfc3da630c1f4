/* Replication lag in seconds that an idle primary does not inflate (docs/monitoring.md,
 * "Metrics"). PostgreSQL's pg_last_xact_replay_timestamp() grows on a replica that has replayed
 * everything when nothing is written; instead the source's WAL position is sampled over time
 * (lag_record: the moment each new position was first seen), and a replica's lag is the time
 * since the source first passed the position the replica has replayed: 0 when it has replayed
 * everything the source has, however long the source has been idle.
 *
 * Pure: the caller passes the clock; no allocation. */
#ifndef TANDEMD_LAG_H
#define TANDEMD_LAG_H

#include <stddef.h>
#include <stdint.h>

enum { LAG_SAMPLES = 256 };

typedef struct lag_history {
	uint64_t lsn[LAG_SAMPLES];
	int64_t at_ms[LAG_SAMPLES]; /* when lsn[i] was first seen (Unix ms) */
	size_t n;                   /* samples kept (at most LAG_SAMPLES) */
	size_t next;                /* where the next one goes (a ring) */
} lag_history;

/* The source's position `lsn` seen at `now_ms`; kept only when it is past the last one kept
 * (so each sample is the first moment a position was seen). A position that goes back (a new
 * source after a failover) starts the history afresh. */
void lag_record(lag_history *h, int64_t now_ms, uint64_t lsn);

/* Seconds the position `replayed` is behind the source whose position is now `source_lsn`:
 * 0 when replayed >= source_lsn; otherwise now_ms minus the first sample past `replayed` (the
 * oldest sample when the history does not reach back that far: a lower bound); 0 when no sample
 * is past it yet. Never negative. */
double lag_seconds(const lag_history *h, int64_t now_ms, uint64_t source_lsn, uint64_t replayed);

#endif
