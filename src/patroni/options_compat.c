/* Patroni's keys that tandem accepts with a meaning of its own, or none: log.level's CRITICAL,
 * the log file under log.dir, and one warning at start for each key whose Patroni meaning tandem
 * does not carry out (see options.h, docs/tandemd.md "Patroni's keys"). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "options.h"
#include "strbuf.h"

log_level tandemd_log_level(const tandemd_settings *s)
{
	log_level l = LOG_INFO;
	if (s->log_level && !strcasecmp(s->log_level, "critical"))
		return LOG_ERROR;
	if (s->log_level && log_level_parse(s->log_level, &l) == 0)
		return l;
	return LOG_INFO;
}

char *tandemd_log_path(const tandemd_settings *s)
{
	if (!s->log_dir || !*s->log_dir)
		return NULL;
	size_t n = strlen(s->log_dir);
	while (n > 1 && s->log_dir[n - 1] == '/')
		n--;
	return xasprintf("%.*s/tandemd.log", (int)n, s->log_dir);
}

static void warn_ignored(strbuf *sb, const char *key, const char *what)
{
	sb_printf(sb, "%s is set: %s; tandem ignores it\n", key, what);
}

/* Patroni deletes the data directory when the key is true, and leaves the member stopped when it
 * is false; tandem does neither. */
static void warn_remove_key(strbuf *sb, const char *key, const char *value, const char *when)
{
	bool b = false;
	if (!value || cfg_parse_bool(value, &b) < 0)
		return;
	if (b)
		sb_printf(
		    sb,
		    "postgresql.%s: true: tandem never deletes a data directory; %s, it moves "
		    "it aside (renamed DATA_DIR.moved-aside-TIME, kept) and clones afresh\n",
		    key, when);
	else
		sb_printf(
		    sb,
		    "postgresql.%s: false: %s, tandem still moves the data directory aside "
		    "(renamed, never deleted) and clones afresh, rather than leave the member "
		    "stopped as Patroni would\n",
		    key, when);
}

char *tandemd_settings_unmapped(const tandemd_settings *s)
{
	strbuf out = STRBUF_INIT;
	strbuf *sb = &out;
	if (s->log_format.n)
		warn_ignored(sb, "log.format",
		             "Python's logging format has no meaning for tandem, whose "
		             "lines are 'TIME LEVEL [MEMBER] MESSAGE'");
	if (s->log_dateformat)
		warn_ignored(sb, "log.dateformat", "tandem writes ISO 8601 UTC timestamps");
	if (s->log_loggers.n)
		warn_ignored(sb, "log.loggers",
		             "Python's per-module loggers do not exist in tandem");
	if (s->log_traceback_level)
		warn_ignored(sb, "log.traceback_level", "tandem has no Python tracebacks");
	if (s->log_max_queue_size)
		warn_ignored(sb, "log.max_queue_size", "tandem writes each line at once, unqueued");
	warn_remove_key(sb, "remove_data_directory_on_rewind_failure",
	                s->remove_data_directory_on_rewind_failure, "when pg_rewind fails");
	warn_remove_key(sb, "remove_data_directory_on_diverged_timelines",
	                s->remove_data_directory_on_diverged_timelines,
	                "when the timelines diverged and pg_rewind cannot be used");
	if (!out.len) {
		sb_free(&out);
		return NULL;
	}
	return sb_steal(&out);
}
