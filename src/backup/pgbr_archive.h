/* Archiving through pgBackRest as tandemd sets it up, the pure parts: PostgreSQL's
 * archive_command and restore_command, what `pgbackrest info --output=json` says about a stanza,
 * the files that prove archive continuity after a promotion, and what pgBackRest's logs say about
 * WAL it dropped. docs/backup.md, "Archiving". */
#ifndef TANDEM_PGBR_ARCHIVE_H
#define TANDEM_PGBR_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "pgbr_info.h"

/* The file, in the member's spool directory, where archive_command appends the name of a WAL
 * file that archive-push refused with exit code 45 (already in the repository with another
 * checksum: two primaries wrote one timeline). */
#define PGBR_CONFLICT_FILE "archive-push-045"
enum { PGBR_EXIT_DUPLICATE = 45 };

/* 'text' for sh, with PostgreSQL's '%' escaped as "%%" (caller frees). */
char *pgbr_shell_quote(const char *text);

/* archive_command: `COMMAND --config=CONFIG --stanza=STANZA archive-push "%p"`, and when it
 * exits 45, the WAL file's name appended to CONFLICT; the exit status is archive-push's
 * (caller frees). */
char *pgbr_archive_command(const char *command, const char *config, const char *stanza,
                           const char *conflict);
/* restore_command: `COMMAND --config=CONFIG --stanza=STANZA archive-get %f "%p"`. */
char *pgbr_restore_command(const char *command, const char *config, const char *stanza);

/* `command` (a restore_command) kept from serving what a site wrote after its history forked
 * from the other site's at `fork_lsn` on timeline `parent`: no WAL segment at or after the one
 * holding the fork (whatever its timeline: this site's own later timelines may carry the other
 * site's numbers), and no history file of a timeline after `parent`. PostgreSQL then asks the next
 * source (pg_wal, streaming from the other site) for those. A heap string for sh -c, with no % of
 * its own (PostgreSQL's placeholders %f and %p only). */
char *pgbr_restore_command_before(const char *command, int64_t parent, uint64_t fork_lsn,
                                  uint64_t seg_size);

/* A WAL file name from a timeline and a segment number (`out` holds 25 bytes). */
void pgbr_wal_name(int64_t timeline, uint64_t segno, uint64_t seg_size, char out[25]);

/* The files in the repository that show the archive continues across the switch into timeline
 * `timeline`, from its history file's text: the history file itself, the last segment of the
 * parent timeline (full, or ".partial" when the switch was inside it), and the last complete
 * segment before it when the parent timeline had it. */
typedef struct pgbr_continuity {
	char history[32];  /* "00000003.history" */
	char last[25];     /* the parent's last segment */
	bool last_partial; /* ...which may be archived as "<last>.partial" */
	char before[25];   /* the complete segment before it; "" when none is expected */
	int64_t parent;    /* the parent timeline */
	uint64_t switch_lsn;
} pgbr_continuity;

/* 0, or -1 with *err when the history text names no switch. */
int pgbr_continuity_files(const char *history, int64_t timeline, uint64_t seg_size,
                          pgbr_continuity *out, char **err) TND_MUST_CHECK;

/* Whether the listing of the repository's archive (`pgbackrest repo-ls --recurse`, one path a
 * line) holds each file `c` names; `missing` (when not NULL) gets what is not there, for a log
 * line (caller frees; NULL when nothing is). */
bool pgbr_continuity_check(const pgbr_continuity *c, const char *listing, char **missing);

/* The complete segment of the parent timeline that `c` names and the listing lacks, into `out`
 * (25 bytes); false when there is none. The new primary holds it whole in its pg_wal (it
 * replayed past its end: the switch is at or after that end) and may push it itself: a primary
 * killed before archiving its last full segment leaves it nowhere else, and PostgreSQL archives
 * only a ".partial" of a segment the switch is inside. */
bool pgbr_continuity_own_segment(const pgbr_continuity *c, const char *listing, char out[25]);

/* A regular expression that matches the files `c` names (for repo-ls --filter; caller frees). */
char *pgbr_continuity_filter(const pgbr_continuity *c);

/* How many lines of pgBackRest's log text say it dropped WAL (archive-push-queue-max). */
size_t pgbr_count_dropped(const char *log_text, size_t len);

/* postgresql.auto.conf without the recovery settings `pgbackrest restore` wrote into it (tandemd
 * writes restore_command itself); caller frees. */
char *pgbr_strip_recovery(const char *auto_conf);

#endif
