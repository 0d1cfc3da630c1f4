/* What the agent knows of archiving through pgBackRest, for /metrics (agent_status.archive):
 * filled by agent_backup.c, rendered by rest_render_archive.c. docs/backup.md, "Archiving". */
#ifndef TANDEMD_ARCHIVE_STATUS_H
#define TANDEMD_ARCHIVE_STATUS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct agent_archive_status {
	bool stanza_ok;           /* the leader verified the stanza (ours, `check` passed) */
	bool continuity_ok;       /* false: the last promotion's check found a gap */
	bool conflict;            /* archive-push exited 45 and the record is still there */
	uint64_t conflicts;       /* exit-45 records seen since tandemd started */
	uint64_t dropped;         /* WAL files pgBackRest dropped (archive-push-queue-max) */
	bool archiver_known;      /* pg_stat_archiver answered */
	int64_t archived, failed; /* its archived_count and failed_count */
	int64_t last_archived_unix_s, last_failed_unix_s; /* 0: never */
	int64_t ready; /* WAL files waiting to be archived (pg_wal/archive_status/ *.ready) */
	uint64_t restores, restore_failures; /* replicas created from the repository */
} agent_archive_status;

#endif
