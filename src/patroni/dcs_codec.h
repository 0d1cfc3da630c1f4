/* The values Patroni 3.x keeps in etcd v3 under /<namespace>/<scope>/, decoded into one cluster
 * view and encoded back in Patroni's shapes, so that patronictl can read a tandem cluster and
 * tandem can read one Patroni wrote. Pure: no I/O.
 *
 * Keys (after the prefix) and their values, as Patroni writes them:
 *   initialize        the system identifier, a decimal string
 *   config            JSON object: ttl, loop_wait, retry_timeout, maximum_lag_on_failover,
 *                     synchronous_mode, synchronous_mode_strict, pause, postgresql{parameters,
 *                     use_pg_rewind, ...}; the whole text is kept, so unknown keys survive
 *   leader            the leader's member name, plain text (its lease is the leader's session)
 *   members/<name>    JSON object: conn_url, api_url, state, role, version, xlog_location,
 *                     replication_state, timeline, tags{nofailover, noloadbalance, clonefrom,
 *                     nosync, ...}, pending_restart, ...; tandem adds replay_lag_ms (a
 *                     replica: how far its replay is behind its upstream's last activity)
 *   status            JSON {"optime": N, "slots": {"name": N}, "retain_slots": ["name"]}, and
 *                     "current_site": the leader's site tag (as Patroni's site-aware branch)
 *                     (a bare integer is the legacy optime)
 *   history           JSON [[timeline, lsn, reason, timestamp, new_leader], ...]
 *   sync              JSON {"leader": name, "sync_standby": "a,b" or null}
 *   failover          JSON {"leader": ..., "member": ..., "scheduled_at": ...} (also the legacy
 *                     "leader:candidate" text)
 *   failsafe          JSON {"name": "api_url", ...}: the members the leader last saw, which
 *                     must all confirm it while the DCS cannot be reached (failsafe mode)
 * and tandem's own (Patroni ignores them), kept as text for their owners:
 *   backup            JSON: the backups asked for, running and done (src/backup/backup_state.h)
 *   backup/runner     the member that runs backups, plain text, on that member's lease
 *   shutdown_checkpoint  JSON: where the leader stopped when the site was demoted (dcs_ckpt.h)
 *
 * Hostile values never crash: a value that cannot be read leaves the field as Patroni would
 * (a member with unreadable JSON is still a member, with its fields unknown; unreadable config,
 * status or history keep the previous value; unreadable sync or failover become empty), and
 * dcs_view_apply reports it through `err`.
 *
 * Whoever can write to etcd (or sits between tandemd and a plain-HTTP etcd) chooses these values,
 * so every list is bounded and every number kept to its range; what goes beyond is refused, the
 * rest applied, and `err` names the key and the bound (one log line):
 *   a value longer than DCS_MAX_VALUE bytes is not read at all;
 *   at most DCS_MAX_MEMBERS member keys; a member name is 1 to DCS_MAX_NAME bytes without
 *     control characters (other member keys are ignored);
 *   `sync` reads at most DCS_MAX_NAMES names, each once, none empty or with a control character;
 *   `failsafe`, status `slots` and `retain_slots` (each once) at most DCS_MAX_NAMES entries;
 *   `history` keeps its last DCS_MAX_HISTORY entries; a timeline (history or member) is
 *     1..DCS_MAX_TIMELINE (PostgreSQL's TimeLineID), others are left out (member: 0, unknown);
 *   config ttl, loop_wait and retry_timeout are 1..DCS_MAX_SECONDS, others count as absent;
 *   a member's tags.site and status current_site are dcs_site_ok, otherwise unknown (NULL)
 *     and reported; replay_lag_ms is 0..DCS_MAX_LAG_MS, otherwise unknown. */
#ifndef PATRONI_DCS_CODEC_H
#define PATRONI_DCS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum {
	DCS_MAX_VALUE = 1 << 20, /* bytes; etcd's own limit on a request is 1.5 MiB */
	DCS_MAX_MEMBERS = 512,
	DCS_MAX_NAME = 255,
	DCS_MAX_NAMES = 512,
	DCS_MAX_HISTORY = 4096,
	DCS_MAX_SECONDS = 24 * 3600,
	DCS_MAX_SITE = 63, /* bytes of a member's `site` tag */
};
#define DCS_MAX_TIMELINE INT64_C(0xFFFFFFFF)
#define DCS_MAX_LAG_MS   INT64_C(3153600000000) /* 100 years */

typedef struct dcs_tags {
	bool nofailover;
	bool noloadbalance;
	bool clonefrom;
	bool nosync;
} dcs_tags;

typedef struct dcs_member {
	char *name;
	bool valid; /* the value was a readable JSON object */
	char *conn_url, *api_url, *state, *role, *version, *replication_state; /* NULL: absent */
	bool has_lsn;
	uint64_t xlog_location;
	int64_t timeline; /* 0: absent */
	dcs_tags tags;
	char *site;      /* tags.site (dcs_site_ok); NULL: none, or refused */
	char *tags_json; /* the whole "tags" object as text, NULL when absent */
	bool pending_restart;
	bool has_replay_lag;    /* replay_lag_ms was present and in range */
	uint64_t replay_lag_ms; /* 0: replayed everything its upstream had */
	int64_t mod_revision, lease;
} dcs_member;

/* The config's standby_cluster (dcs_standby.c). */
typedef struct dcs_standby {
	bool present; /* not absent or null: a standby cluster */
	bool valid;   /* every value usable, and a source named (host or restore_command) */
	char *host;   /* "h1,h2" */
	char *port;   /* "5432" or one per host; NULL: 5432 */
	char *primary_slot_name;
	char *restore_command; /* used only when the member's own YAML gives the same text */
	char *recovery_min_apply_delay; /* "300000ms", "5min" */
} dcs_standby;

typedef struct dcs_dyn_config {
	bool valid;
	int64_t ttl, loop_wait, retry_timeout; /* seconds; 0 when absent */
	bool has_maximum_lag_on_failover;
	uint64_t maximum_lag_on_failover;
	bool synchronous_mode, synchronous_mode_strict, pause, use_pg_rewind, failsafe_mode;
	char *parameters_json; /* postgresql.parameters as JSON text, NULL when absent */
	dcs_standby standby;
	char *raw; /* the whole value: every key, known or not */
	int64_t mod_revision;
} dcs_dyn_config;

typedef struct dcs_history_entry {
	int64_t timeline;
	uint64_t lsn;
	char *reason, *timestamp, *new_leader; /* NULL when absent */
} dcs_history_entry;

typedef struct dcs_slot_lsn {
	char *name;
	uint64_t lsn;
} dcs_slot_lsn;

typedef struct dcs_view {
	char *prefix; /* "/service/scope/" */
	int64_t revision;

	bool initialized;
	char *sysid;
	int64_t initialize_lease; /* the lease its bootstrapper races with; 0 once initialized */

	char *leader; /* NULL: no leader key */
	int64_t leader_mod_revision, leader_lease;

	bool has_config;
	dcs_dyn_config config;

	dcs_member *members;
	size_t nmembers;

	bool has_status;
	uint64_t optime;
	char *current_site; /* status current_site (dcs_site_ok); NULL: none */
	dcs_slot_lsn *slots;
	size_t nslots;
	char **retain_slots;
	size_t nretain_slots;

	bool has_sync;
	char *sync_leader;
	char **sync_standby;
	size_t nsync_standby;

	bool has_failover;
	char *failover_leader, *failover_candidate, *failover_scheduled_at;

	bool has_history;
	dcs_history_entry *history;
	size_t nhistory;

	/* failsafe: NULL when absent; the members with their REST API URLs (NULL when the value
	 * was not a string) */
	char *failsafe; /* the value as compact JSON text */
	char **failsafe_names;
	char **failsafe_urls;
	size_t nfailsafe;

	/* tandem's backup keys: NULL when absent */
	char *backup; /* the value as text */
	int64_t backup_mod_revision;
	char *backup_runner; /* a member name */
	int64_t backup_runner_lease;
	/* drill: the last restore drill's result as JSON text (dcs_drill.h decodes it); NULL when
	 * absent */
	char *drill;
	/* shutdown_checkpoint: where the leader stopped when the site was demoted, as JSON text
	 * (dcs_ckpt.h decodes it), and its mod_revision; NULL when absent */
	char *shutdown_checkpoint;
	int64_t shutdown_checkpoint_revision;
} dcs_view;

/* The prefix "/<namespace>/<scope>/" (namespace NULL: "/service"); a heap string. */
char *dcs_prefix(const char *namespace_, const char *scope);

void dcs_view_init(dcs_view *v, const char *namespace_, const char *scope);
/* Frees everything but keeps the prefix. */
void dcs_view_clear(dcs_view *v);
void dcs_view_free(dcs_view *v);

/* One key-value (from a range or a PUT event). `key` is the full key; keys outside the prefix or
 * unknown to Patroni are ignored. Returns -1 (with *err) when the value could not be read, or
 * when part of it was refused (a bound above); the view stays consistent either way. */
int dcs_view_apply(dcs_view *v, const char *key, size_t key_len, const char *value,
                   size_t value_len, int64_t mod_revision, int64_t lease, char **err);
/* A DELETE event. */
void dcs_view_delete(dcs_view *v, const char *key, size_t key_len);

const dcs_member *dcs_view_member(const dcs_view *v, const char *name);

/* A site name as tandem accepts it (the `site` tag, in the YAML and from the DCS): 1 to
 * DCS_MAX_SITE bytes of printable ASCII, no space. */
bool dcs_site_ok(const char *s);

/* ---- encoding (heap strings, compact JSON in Patroni's key order) ---- */

/* The name of member `member`'s physical replication slot on the leader, as Patroni names it:
 * lower case, every character but [a-z0-9_] replaced by '_'. */
char *dcs_slot_name(const char *member);

typedef struct dcs_member_info {
	const char *conn_url, *api_url, *state, *role, *version; /* NULL: left out */
	bool has_lsn;
	uint64_t xlog_location;
	const char *replication_state; /* NULL: left out */
	int64_t timeline;              /* 0: left out */
	dcs_tags tags;                 /* only true tags are written; none: no "tags" */
	const char *site;              /* tags.site; NULL: left out */
	bool pending_restart;
	bool has_replay_lag; /* false: replay_lag_ms left out */
	uint64_t replay_lag_ms;
} dcs_member_info;

char *dcs_encode_member(const dcs_member_info *m);
char *dcs_encode_status(uint64_t optime, const dcs_slot_lsn *slots, size_t nslots,
                        const char *const *retain_slots, size_t nretain);
/* The leader's status: its optime and its site (NULL: left out). */
char *dcs_encode_leader_status(uint64_t optime, const char *current_site);
/* sync_standby: NULL or empty list gives null; otherwise joined with ",". */
char *dcs_encode_sync(const char *leader, const char *const *sync_standby, size_t n);
char *dcs_encode_history(const dcs_history_entry *entries, size_t n);
/* {"name": "api_url", ...} in the given order. */
char *dcs_encode_failsafe(const char *const *names, const char *const *api_urls, size_t n);
/* leader or candidate may be NULL; scheduled_at NULL: left out. */
char *dcs_encode_failover(const char *leader, const char *candidate, const char *scheduled_at);

#endif
