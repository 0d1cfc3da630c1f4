/* The DCS client of one tandemd member: Patroni-compatible keys in etcd v3 (see dcs_codec.h),
 * on a libuv loop, on top of the etcd client (etcd.h).
 *
 * dcs_start() reads the whole prefix /<namespace>/<scope>/ once into a dcs_view, then watches it
 * from the next revision; every change (and every re-read after a broken watch) is reported
 * through on_change(view) at once. A broken watch is followed by a new range and a new watch
 * (retried every second while etcd does not answer).
 *
 * The leader key is never written blindly: every operation on it is one etcd transaction
 * conditional on who holds it:
 *   acquire  = if version(leader) == 0 then put leader=<name> with our lease
 *   renew    = keep-alive our lease, then if value(leader) == <name> then put leader=<name>
 *              with our lease (a touch; a key this member's previous process left on its old
 *              lease moves onto the new one)
 *   release  = if value(leader) == <name> then delete leader
 *   initialize = if version(initialize) == 0 then put initialize=<sysid>
 * Every call has a deadline (retry_timeout) and ends in exactly one callback, with DCS_OK,
 * DCS_LOST (etcd answered: the condition did not hold, or our lease is gone) or DCS_FAILED (no
 * answer in time, or an error). Callbacks are not called after dcs_free(). */
#ifndef TANDEMD_DCS_H
#define TANDEMD_DCS_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "dcs_codec.h"
#include "dcs_view_ha.h" /* the agent turns the view into the HA decision's input */
#include "err.h"
#include "etcd.h"

typedef struct dcs dcs;

typedef enum dcs_result {
	DCS_OK,
	DCS_LOST,   /* lost the race: the compare failed, or our lease is gone */
	DCS_FAILED, /* etcd did not answer in time, or answered with an error */
} dcs_result;

typedef struct dcs_config {
	etcd *etcd;             /* not owned; must outlive the dcs */
	const char *namespace_; /* NULL: "/service" */
	const char *scope;
	const char *name; /* this member */
	int64_t ttl_s;    /* the lease TTL */
	uint64_t retry_timeout_ms;
	/* Called after the first read and after every change of the view. */
	void (*on_change)(const dcs_view *view, void *ud);
	void *ud;
} dcs_config;

/* `error` is NULL for DCS_OK. */
typedef void (*dcs_cb)(dcs_result r, const char *error, void *ud);
/* `sent_ms`: clock_mono_ms() when the successful keep-alive request was sent (the lease
 * cannot expire before sent_ms + ttl_ms); `ttl_s` the TTL etcd reported. */
typedef void (*dcs_keepalive_cb)(dcs_result r, const char *error, uint64_t sent_ms, int64_t ttl_s,
                                 void *ud);

dcs *dcs_new(uv_loop_t *loop, const dcs_config *cfg, char **err) TND_MUST_CHECK;
void dcs_free(dcs *d);

/* Starts the first read and the watch. */
void dcs_start(dcs *d);
/* The current view (valid until the next return to the loop), and whether it has been read. */
const dcs_view *dcs_get_view(const dcs *d);
bool dcs_view_ready(const dcs *d);

/* The lease: grant (replacing any previous one), keep-alive, revoke. */
void dcs_lease_grant(dcs *d, dcs_cb cb, void *ud);
void dcs_lease_keepalive(dcs *d, dcs_keepalive_cb cb, void *ud);
void dcs_lease_revoke(dcs *d, dcs_cb cb, void *ud);
int64_t dcs_lease_id(const dcs *d); /* 0: none */

void dcs_acquire_leader(dcs *d, dcs_cb cb, void *ud);
/* The keep-alive's send time is passed on, as for dcs_lease_keepalive. */
void dcs_renew_leader(dcs *d, dcs_keepalive_cb cb, void *ud);
void dcs_release_leader(dcs *d, dcs_cb cb, void *ud);
/* An empty sysid (a bootstrap's race) is written on our lease; a system identifier, with none. */
void dcs_take_initialize(dcs *d, const char *sysid, dcs_cb cb, void *ud);

/* members/<name> with our lease (DCS_LOST without a lease). */
void dcs_touch_member(dcs *d, const char *value, dcs_cb cb, void *ud);
/* Plain puts (no lease) of status, sync, history, failover, config; and delete of failover. */
void dcs_put_key(dcs *d, const char *relkey, const char *value, dcs_cb cb, void *ud);
void dcs_delete_key(dcs *d, const char *relkey, dcs_cb cb, void *ud);
/* Put only if the key was last modified at `mod_revision` (0: only if absent); DCS_LOST when it
 * changed meanwhile. */
void dcs_put_key_if(dcs *d, const char *relkey, const char *value, int64_t mod_revision, dcs_cb cb,
                    void *ud);

/* tandem's own lease-bound keys (the backup runner): `relkey` = our name with our lease, only
 * if absent (DCS_LOST when held, or without a lease); release deletes it only while it names us.
 */
void dcs_acquire_key(dcs *d, const char *relkey, dcs_cb cb, void *ud);
void dcs_release_key(dcs *d, const char *relkey, dcs_cb cb, void *ud);

const char *dcs_result_name(dcs_result r);

#endif
