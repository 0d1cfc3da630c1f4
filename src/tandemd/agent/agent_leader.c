/* The leader's housekeeping while it keeps the lead: replication slots per member, the `status`
 * key, and after a promotion the `history` entry, the failover key removed and a checkpoint. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent_priv.h"
#include "clock.h"
#include "log.h"
#include "strbuf.h"

/* ---- the leader's housekeeping: slots, status, history after a promotion ---- */

static void on_put_quiet(dcs_result r, const char *error, void *ud)
{
	agent *a = ud;
	if (r != DCS_OK) {
		metrics_inc(&a->counters.dcs_errors, 1);
		log_warning("writing to the DCS: %s", error ? error : dcs_result_name(r));
	}
}

static void on_slots(const char *const *row, int ncols, const char *err, void *ud)
{
	(void)ud;
	(void)row;
	(void)ncols;
	if (err)
		log_warning("creating replication slots: %s", err);
}

static void ensure_slots(agent *a, const dcs_view *v)
{
	if (!a->s->use_slots)
		return;
	strbuf sb = STRBUF_INIT;
	sb_puts(&sb,
	        "SELECT count(pg_create_physical_replication_slot(n, true)) FROM unnest(ARRAY[");
	size_t n = 0;
	for (size_t i = 0; i < v->nmembers; i++) {
		if (!strcmp(v->members[i].name, a->s->name))
			continue;
		char *slot = agent_slot_name(v->members[i].name);
		sb_puts(&sb, n++ ? ", " : "");
		sb_sql_literal(&sb, slot);
		free(slot);
	}
	sb_puts(&sb, "]::text[]) n WHERE n NOT IN (SELECT slot_name FROM pg_replication_slots)");
	char *e = NULL;
	/* Every housekeeping pass: on the kept connection, not a new backend each time. */
	if (n && pgctl_ask(a->pc, a->local_conninfo, sb.data, a->hc.retry_timeout_ms, on_slots, a,
	                   &e) != 0) {
		log_warning("%s", e);
		free(e);
	}
	sb_free(&sb);
}

/* Appends the switch into our timeline to the DCS history, from pg_wal/<tl>.history. */
static void publish_history(agent *a, const dcs_view *v)
{
	int64_t tl = a->st.timeline;
	if (tl < 2)
		return;
	char *path = xasprintf("%s/pg_wal/%08" PRIX64 ".history", a->s->data_dir, (uint64_t)tl);
	strbuf f = STRBUF_INIT;
	char *e = NULL;
	if (sb_read_file(&f, path, 1 << 20, &e) != 0) {
		log_warning("reading the timeline history: %s", e);
		free(e);
		free(path);
		sb_free(&f);
		return;
	}
	free(path);
	/* The last line: "<parent tl>\t<switch lsn>\t<reason>" */
	char *last = NULL;
	for (char *save = NULL, *l = strtok_r(f.data, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save))
		if (*l && *l != '#')
			last = l;
	long long parent = 0;
	char lsn_text[64] = "", reason[256] = "";
	uint64_t lsn = 0;
	if (!last || sscanf(last, "%lld\t%63s\t%255[^\n]", &parent, lsn_text, reason) < 2 ||
	    pgctl_parse_lsn(lsn_text, &lsn) != 0) {
		sb_free(&f);
		return;
	}
	sb_free(&f);
	for (size_t i = 0; i < v->nhistory; i++)
		if (v->history[i].timeline == parent)
			return; /* already there */
	dcs_history_entry *h = xcalloc(v->nhistory + 1, sizeof *h);
	for (size_t i = 0; i < v->nhistory; i++)
		h[i] = v->history[i];
	char ts[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
	h[v->nhistory] = (dcs_history_entry){.timeline = parent,
	                                     .lsn = lsn,
	                                     .reason = reason[0] ? reason : NULL,
	                                     .timestamp = ts,
	                                     .new_leader = (char *)a->s->name};
	char *val = dcs_encode_history(h, v->nhistory + 1);
	free(h);
	dcs_put_key(a->dcs, "history", val, on_put_quiet, a);
	free(val);
}

static void on_checkpoint(const char *const *row, int ncols, const char *err, void *ud)
{
	(void)ud;
	(void)row;
	(void)ncols;
	/* CHECKPOINT returns no row: that is its success. */
	if (err && strcmp(err, "the query returned no row") != 0)
		log_warning("checkpoint after the promotion: %s", err);
}

/* Like Patroni: a checkpoint right after the promotion puts the new timeline in the control
 * file, which is what pg_rewind on a former primary compares with its own. */
static void checkpoint_after_promote(agent *a)
{
	pgctl_query(a->loop, a->local_conninfo, "CHECKPOINT", a->hc.retry_timeout_ms, on_checkpoint,
	            a);
}

/* The standby leader keeps slots for the members that cascade from it, and the optime. */
void agent_standby_leader_housekeeping(agent *a)
{
	const dcs_view *v = dcs_get_view(a->dcs);
	uint64_t now = clock_mono_ms();
	if (a->last_housekeeping_ms && now - a->last_housekeeping_ms < a->hc.loop_wait_ms / 2 &&
	    v->nmembers == a->housekeeping_members)
		return;
	a->last_housekeeping_ms = now;
	a->housekeeping_members = v->nmembers;
	ensure_slots(a, v);
	char *status = dcs_encode_leader_status(a->st.lsn, tandemd_site(a->s));
	dcs_put_key(a->dcs, "status", status, on_put_quiet, a);
	free(status);
}

void agent_leader_housekeeping(agent *a)
{
	const dcs_view *v = dcs_get_view(a->dcs);
	uint64_t now = clock_mono_ms();
	if (a->became_leader_pending) {
		a->became_leader_pending = false;
		a->mem.promote_until_ms = 0;
		char *e = NULL;
		if (agent_write_pg_files(a, false, NULL, &e) != 0) {
			log_warning("%s", e);
			free(e);
		}
		publish_history(a, v);
		agent_backup_promoted(a, a->st.timeline, a->site_promotion);
		a->site_promotion = false;
		checkpoint_after_promote(a);
		if (v->has_failover)
			dcs_delete_key(a->dcs, "failover", on_put_quiet, a);
		a->last_housekeeping_ms = 0;
		a->sync_settle_until_ms = now + a->hc.ttl_ms;
	}
	/* Synchronous mode settles in steps, one a pass (the sync key, then PostgreSQL, then the
	 * key again): right after a promotion they run on every pass, not every half loop_wait. */
	bool settling = now < a->sync_settle_until_ms && !agent_sync_settled(a);
	if (settling)
		agent_sync_housekeeping(a);
	if (a->last_housekeeping_ms && now - a->last_housekeeping_ms < a->hc.loop_wait_ms / 2 &&
	    v->nmembers == a->housekeeping_members)
		return;
	a->last_housekeeping_ms = now;
	a->housekeeping_members = v->nmembers;
	ensure_slots(a, v);
	if (!settling)
		agent_sync_housekeeping(a);
	agent_failsafe_housekeeping(a);
	agent_cred_leader_housekeeping(a);
	char *status = dcs_encode_leader_status(a->st.lsn, tandemd_site(a->s));
	dcs_put_key(a->dcs, "status", status, on_put_quiet, a);
	free(status);
}
