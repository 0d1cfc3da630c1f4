#include "pgbr_archive.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

char *pgbr_shell_quote(const char *text)
{
	strbuf sb = STRBUF_INIT;
	sb_puts(&sb, "'");
	for (const char *p = text; *p; p++) {
		if (*p == '\'')
			sb_puts(&sb, "'\\''");
		else if (*p == '%')
			sb_puts(&sb, "%%");
		else
			sb_append(&sb, p, 1);
	}
	sb_puts(&sb, "'");
	return sb_steal(&sb);
}

static void head(strbuf *sb, const char *command, const char *config, const char *stanza)
{
	char *cmd = pgbr_shell_quote(command);
	char *opt_config = xasprintf("--config=%s", config);
	char *opt_stanza = xasprintf("--stanza=%s", stanza);
	char *qc = pgbr_shell_quote(opt_config);
	char *qs = pgbr_shell_quote(opt_stanza);
	sb_printf(sb, "%s %s %s", cmd, qc, qs);
	free(cmd);
	free(opt_config);
	free(opt_stanza);
	free(qc);
	free(qs);
}

char *pgbr_archive_command(const char *command, const char *config, const char *stanza,
                           const char *conflict)
{
	strbuf sb = STRBUF_INIT;
	head(&sb, command, config, stanza);
	char *qf = pgbr_shell_quote(conflict);
	/* PostgreSQL runs it with sh -c; %p and %f are its own. */
	sb_printf(&sb, " archive-push \"%%p\"; r=$?; [ $r -ne %d ] || echo \"%%f\" >>%s; exit $r",
	          PGBR_EXIT_DUPLICATE, qf);
	free(qf);
	return sb_steal(&sb);
}

char *pgbr_restore_command(const char *command, const char *config, const char *stanza)
{
	strbuf sb = STRBUF_INIT;
	head(&sb, command, config, stanza);
	sb_puts(&sb, " archive-get %f \"%p\"");
	return sb_steal(&sb);
}

/* ---- pgbackrest info ---- */

static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

/* ---- continuity ---- */

void pgbr_wal_name(int64_t timeline, uint64_t segno, uint64_t seg_size, char out[25])
{
	uint64_t per_id = UINT64_C(0x100000000) / seg_size;
	snprintf(out, 25, "%08" PRIX32 "%08" PRIX32 "%08" PRIX32, (uint32_t)timeline,
	         (uint32_t)(segno / per_id), (uint32_t)(segno % per_id));
}

char *pgbr_restore_command_before(const char *command, int64_t parent, uint64_t fork_lsn,
                                  uint64_t seg_size)
{
	char seg[25], any[25];
	pgbr_wal_name(parent, fork_lsn / seg_size, seg_size, seg);
	memset(any, '?', 24); /* a shell pattern: any WAL segment's name */
	any[24] = '\0';
	/* A segment's name past its 8 timeline digits orders it; a history file's 8 digits are its
	 * timeline. Anything else (.partial, .backup) PostgreSQL does not ask for: passed on. */
	return xasprintf("f=%%f; case $f in %s) [ $((0x${f#%.8s})) -lt $((0x%s)) ];; %.8s.history) "
	                 "[ $((0x$(echo $f | cut -c1-8))) -le %" PRId64 " ];; esac && %s",
	                 any, any, seg + 8, any, parent, command);
}

int pgbr_continuity_files(const char *history, int64_t timeline, uint64_t seg_size,
                          pgbr_continuity *out, char **err)
{
	memset(out, 0, sizeof *out);
	/* Lines "<timeline>\t<switch lsn>\t<reason>": the last is the parent's end, the one before
	 * it the parent's start. */
	uint64_t start = 0, end = 0;
	long long parent = 0;
	bool found = false;
	const char *l = history;
	while (l && *l) {
		size_t n = strcspn(l, "\n");
		char line[256], lsn[64];
		long long tl;
		copy_str(line, sizeof line < n + 1 ? sizeof line : n + 1, l);
		uint64_t v;
		if (line[0] != '#' && sscanf(line, "%lld %63s", &tl, lsn) == 2 &&
		    pgbr_lsn_parse(lsn, &v) == 0) {
			if (found)
				start = end;
			parent = tl;
			end = v;
			found = true;
		}
		l += n;
		if (*l == '\n')
			l++;
	}
	if (!found || parent <= 0 || parent >= timeline || end == 0) {
		err_set(err, "timeline %" PRId64 "'s history names no switch", timeline);
		return -1;
	}
	out->parent = parent;
	out->switch_lsn = end;
	snprintf(out->history, sizeof out->history, "%08" PRIX32 ".history", (uint32_t)timeline);
	uint64_t seg = end / seg_size;
	uint64_t first = start / seg_size; /* the parent's first segment */
	if (end % seg_size) {
		pgbr_wal_name(parent, seg, seg_size, out->last);
		out->last_partial = true;
		if (seg > first)
			pgbr_wal_name(parent, seg - 1, seg_size, out->before);
	} else {
		pgbr_wal_name(parent, seg - 1, seg_size, out->last);
	}
	return 0;
}

/* Whether a line of the listing ends in a file named `name` followed by one of `suffixes`. */
static bool listed(const char *listing, const char *name, const char *const *suffixes)
{
	size_t n = strlen(name);
	for (const char *p = listing; p && (p = strstr(p, name)); p += n) {
		if (p != listing && p[-1] != '/' && p[-1] != '\n')
			continue;
		for (const char *const *s = suffixes; *s; s++)
			if (strncmp(p + n, *s, strlen(*s)) == 0)
				return true;
	}
	return false;
}

bool pgbr_continuity_check(const pgbr_continuity *c, const char *listing, char **missing)
{
	static const char *const full[] = {"-", NULL};
	static const char *const partial[] = {"-", ".partial-", NULL};
	strbuf sb = STRBUF_INIT;
	bool hist = false;
	for (const char *p = listing; p && (p = strstr(p, c->history)); p++) {
		const char *after = p + strlen(c->history);
		if ((p == listing || p[-1] == '/' || p[-1] == '\n') && (*after == '\n' || !*after))
			hist = true;
	}
	if (!hist)
		sb_printf(&sb, "%s", c->history);
	if (!listed(listing, c->last, c->last_partial ? partial : full))
		sb_printf(&sb, "%s%s%s", sb.len ? ", " : "", c->last,
		          c->last_partial ? " (or .partial)" : "");
	if (c->before[0] && !listed(listing, c->before, full))
		sb_printf(&sb, "%s%s", sb.len ? ", " : "", c->before);
	bool ok = sb.len == 0;
	if (missing)
		*missing = ok ? NULL : sb_steal(&sb);
	sb_free(&sb);
	return ok;
}

bool pgbr_continuity_own_segment(const pgbr_continuity *c, const char *listing, char out[25])
{
	static const char *const full[] = {"-", NULL};
	const char *seg = !c->last_partial ? c->last : c->before;
	if (!seg[0] || listed(listing, seg, full))
		return false;
	memcpy(out, seg, 25);
	return true;
}

char *pgbr_continuity_filter(const pgbr_continuity *c)
{
	strbuf sb = STRBUF_INIT;
	sb_puts(&sb, "(");
	for (const char *p = c->history; *p; p++) {
		if (*p == '.')
			sb_puts(&sb, "\\");
		sb_append(&sb, p, 1);
	}
	sb_printf(&sb, "|%s", c->last);
	if (c->before[0])
		sb_printf(&sb, "|%s", c->before);
	sb_puts(&sb, ")");
	return sb_steal(&sb);
}

/* ---- logs and files ---- */

size_t pgbr_count_dropped(const char *text, size_t len)
{
	static const char mark[] = "dropped WAL file";
	size_t n = 0, m = sizeof mark - 1;
	for (size_t i = 0; i + m <= len; i++)
		if (memcmp(text + i, mark, m) == 0) {
			n++;
			i += m - 1;
		}
	return n;
}

char *pgbr_strip_recovery(const char *auto_conf)
{
	static const char mark[] = "# Recovery settings generated by pgBackRest restore";
	strbuf sb = STRBUF_INIT;
	bool skipping = false;
	for (const char *l = auto_conf; *l;) {
		size_t n = strcspn(l, "\n");
		size_t with_nl = n + (l[n] == '\n');
		if (strncmp(l, mark, sizeof mark - 1) == 0)
			skipping = true;
		else if (skipping && n == 0)
			skipping = false;
		if (!skipping)
			sb_append(&sb, l, with_nl);
		l += with_nl;
	}
	sb_puts(&sb, "");
	return sb_steal(&sb);
}
