/* The archiving families of /metrics (agent_status.archive; docs/backup.md, "Archiving"), only
 * when backups are on. */
#include "rest_render.h"

#include "metrics.h"

static void fam(strbuf *out, const char *labels, const char *name, const char *type,
                const char *help, double v)
{
	metrics_family(out, name, type, help);
	metrics_sample(out, name, labels, v);
}

void rest_render_archive_metrics(strbuf *out, const char *labels, const agent_archive_status *a)
{
	if (!a)
		return;
	fam(out, labels, "tandem_backup_stanza_ok", "gauge",
	    "Whether this member, as leader, verified the pgBackRest stanza (ours, check passed).",
	    a->stanza_ok ? 1 : 0);
	fam(out, labels, "tandem_archive_continuity_ok", "gauge",
	    "0 when the last promotion's check did not find the new timeline's history file and "
	    "the previous timeline's last segments in the repository within 60 s.",
	    a->continuity_ok ? 1 : 0);
	fam(out, labels, "tandem_archive_conflict", "gauge",
	    "1 while a record of archive-push exit code 45 (a WAL file in the repository with "
	    "another checksum: two primaries) is in the spool directory.",
	    a->conflict ? 1 : 0);
	fam(out, labels, "tandem_archive_conflicts_total", "counter",
	    "archive-push exit code 45 records seen since tandemd started.", (double)a->conflicts);
	fam(out, labels, "tandem_archive_wal_dropped_total", "counter",
	    "WAL files pgBackRest dropped because the archive queue exceeded "
	    "archive-push-queue-max (seen in its log since tandemd started).",
	    (double)a->dropped);
	fam(out, labels, "tandem_archive_ready_segments", "gauge",
	    "WAL files waiting for archive_command (pg_wal/archive_status/*.ready).",
	    (double)a->ready);
	if (a->archiver_known) {
		fam(out, labels, "tandem_archive_archived_total", "counter",
		    "WAL files archived (pg_stat_archiver.archived_count).", (double)a->archived);
		fam(out, labels, "tandem_archive_failures_total", "counter",
		    "Failed archive_command runs (pg_stat_archiver.failed_count).",
		    (double)a->failed);
		fam(out, labels, "tandem_archive_last_success_timestamp_seconds", "gauge",
		    "When the last WAL file was archived (0: never).",
		    (double)a->last_archived_unix_s);
		fam(out, labels, "tandem_archive_last_failure_timestamp_seconds", "gauge",
		    "When archive_command last failed (0: never).", (double)a->last_failed_unix_s);
	}
	fam(out, labels, "tandem_replica_restores_total", "counter",
	    "Replicas created from the repository (pgbackrest restore) by this member.",
	    (double)a->restores);
	fam(out, labels, "tandem_replica_restore_failures_total", "counter",
	    "pgbackrest restores that failed on this member.", (double)a->restore_failures);
}
