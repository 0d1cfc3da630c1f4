/* The `shutdown_checkpoint` key: where a site's leader stopped cleanly when its cluster became a
 * standby cluster (demote-cluster, site-switchover), written by that leader right after the stop
 * and read by tandemctl, which promotes the other site as soon as it has replayed exactly that
 * far instead of waiting for the old leader to come back as a standby. Pure: no I/O.
 *
 *   {"sysid": "7123456789012345678", "timeline": 3, "lsn": 50331688, "end": 50331802}
 *
 * `lsn` is where the shutdown checkpoint record starts (pg_controldata's "Latest checkpoint
 * location"), `end` where it ends: what pg_last_wal_replay_lsn() says on a standby that has
 * replayed it. Which switch it belongs to is told by its etcd mod_revision (later than the
 * config change that demoted the site), not by a clock. */
#ifndef PATRONI_DCS_CKPT_H
#define PATRONI_DCS_CKPT_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

typedef struct dcs_ckpt {
	char sysid[32];
	int64_t timeline;  /* 1..DCS_MAX_TIMELINE */
	uint64_t lsn, end; /* lsn < end */
} dcs_ckpt;

/* Compact JSON (caller frees). */
char *dcs_ckpt_encode(const dcs_ckpt *c);
/* 0, or -1 with *err (not an object, a field missing, of the wrong type or out of range). */
int dcs_ckpt_decode(const char *text, dcs_ckpt *out, char **err) TND_MUST_CHECK;

/* The end of a WAL record of `tot_len` bytes starting at `start` (8 KiB pages, each with a
 * 24-byte header, 40 bytes at the start of a `seg_size` segment; the end MAXALIGNed), as
 * PostgreSQL's reader computes EndRecPtr. 0 when the arguments are not those of a record. */
uint64_t dcs_ckpt_record_end(uint64_t start, uint32_t tot_len, uint64_t seg_size);

/* From pg_waldump's line for the record at the checkpoint ("rmgr: XLOG len (rec/tot): 114/
 * 114, ... desc: CHECKPOINT_SHUTDOWN ..."): its total length; 0 when the output holds no
 * shutdown checkpoint record. */
uint32_t dcs_ckpt_waldump_len(const char *out);

#endif
