/* The DCS client: see dcs.h. */
#include "dcs.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

enum { RETRY_MS = 1000 };

typedef enum op_kind {
	OP_PLAIN,     /* put/delete/grant/revoke: OK or FAILED */
	OP_TXN,       /* conditional: OK, LOST or FAILED */
	OP_GRANT,     /* remembers the lease */
	OP_REVOKE,    /* forgets the lease */
	OP_KEEPALIVE, /* keep-alive only */
	OP_RENEW,     /* keep-alive, then the conditional touch */
} op_kind;

typedef struct op {
	struct op *prev, *next;
	dcs *d;
	etcd_call *call;
	op_kind kind;
	dcs_cb cb;
	dcs_keepalive_cb kcb;
	void *ud;
	uint64_t sent_ms;
	int64_t ttl_s;
	int64_t lease;
} op;

struct dcs {
	uv_loop_t *loop;
	etcd *e;
	char *name, *prefix, *leader_key, *init_key, *member_key;
	int64_t ttl_s;
	uint64_t timeout_ms;
	void (*on_change)(const dcs_view *view, void *ud);
	void *ud;

	dcs_view view;
	bool ready;
	int64_t lease;

	bool started;
	etcd_call *range_call;
	etcd_watch *watch;
	uv_timer_t *retry; /* freed in its close callback, so that dcs_free needs no loop turn */
	op *ops;
};

const char *dcs_result_name(dcs_result r)
{
	switch (r) {
	case DCS_OK:
		return "ok";
	case DCS_LOST:
		return "lost";
	case DCS_FAILED:
		return "failed";
	}
	return "?";
}

/* ---- the view: range, then watch ---- */

static void start_range(dcs *d);

static void on_retry(uv_timer_t *t)
{
	dcs *d = t->data;
	start_range(d);
}

static void schedule_retry(dcs *d)
{
	uv_timer_start(d->retry, on_retry, RETRY_MS, 0);
}

static void on_watch_events(const etcd_event *ev, size_t n, int64_t revision, void *ud)
{
	dcs *d = ud;
	for (size_t i = 0; i < n; i++) {
		const etcd_kv *kv = &ev[i].kv;
		if (ev[i].type == ETCD_EVENT_DELETE) {
			dcs_view_delete(&d->view, kv->key, kv->key_len);
		} else {
			char *err = NULL;
			if (dcs_view_apply(&d->view, kv->key, kv->key_len, kv->value, kv->value_len,
			                   kv->mod_revision, kv->lease, &err) < 0) {
				log_warning("dcs: %s", err ? err : "unreadable value");
				free(err);
			}
		}
		if (kv->mod_revision > d->view.revision)
			d->view.revision = kv->mod_revision;
	}
	if (revision > d->view.revision)
		d->view.revision = revision;
	if (d->on_change)
		d->on_change(&d->view, d->ud);
}

static void on_watch_broken(etcd_status status, const char *why, int64_t compact_revision, void *ud)
{
	dcs *d = ud;
	(void)status;
	(void)compact_revision;
	d->watch = NULL;
	log_warning("dcs: watch broken (%s); reading %s again", why ? why : "?", d->prefix);
	start_range(d);
}

static void on_range(const etcd_result *res, void *ud)
{
	dcs *d = ud;
	d->range_call = NULL;
	if (res->status != ETCD_OK) {
		log_warning("dcs: reading %s: %s", d->prefix, res->error ? res->error : "?");
		schedule_retry(d);
		return;
	}
	dcs_view_clear(&d->view);
	for (size_t i = 0; i < res->nkvs; i++) {
		const etcd_kv *kv = &res->kvs[i];
		char *err = NULL;
		if (dcs_view_apply(&d->view, kv->key, kv->key_len, kv->value, kv->value_len,
		                   kv->mod_revision, kv->lease, &err) < 0) {
			log_warning("dcs: %s", err ? err : "unreadable value");
			free(err);
		}
	}
	d->view.revision = res->revision;
	etcd_watch_handlers h = {on_watch_events, on_watch_broken, d};
	d->watch = etcd_watch_start(d->e, d->prefix, res->revision + 1, &h);
	if (!d->watch)
		schedule_retry(d);
	d->ready = true;
	if (d->on_change)
		d->on_change(&d->view, d->ud);
}

static void start_range(dcs *d)
{
	if (d->range_call)
		return;
	d->range_call = etcd_range(d->e, d->prefix, true, d->timeout_ms, on_range, d);
	if (!d->range_call)
		schedule_retry(d);
}

void dcs_start(dcs *d)
{
	if (d->started)
		return;
	d->started = true;
	start_range(d);
}

const dcs_view *dcs_get_view(const dcs *d)
{
	return &d->view;
}

bool dcs_view_ready(const dcs *d)
{
	return d->ready;
}

/* ---- life ---- */

static char *key(const dcs *d, const char *rel)
{
	return xasprintf("%s%s", d->prefix, rel);
}

dcs *dcs_new(uv_loop_t *loop, const dcs_config *cfg, char **err)
{
	if (!cfg->etcd || !cfg->scope || !*cfg->scope || !cfg->name || !*cfg->name) {
		err_set(err, "dcs: etcd, scope and name are required");
		return NULL;
	}
	if (strchr(cfg->scope, '/') || strchr(cfg->name, '/')) {
		err_set(err, "dcs: scope and name must not contain '/'");
		return NULL;
	}
	if (cfg->ttl_s <= 0 || cfg->retry_timeout_ms == 0) {
		err_set(err, "dcs: ttl and retry_timeout must be positive");
		return NULL;
	}
	dcs *d = xcalloc(1, sizeof(*d));
	d->loop = loop;
	d->e = cfg->etcd;
	d->name = xstrdup(cfg->name);
	dcs_view_init(&d->view, cfg->namespace_, cfg->scope);
	d->prefix = xstrdup(d->view.prefix);
	d->leader_key = key(d, "leader");
	d->init_key = key(d, "initialize");
	char *rel = xasprintf("members/%s", cfg->name);
	d->member_key = key(d, rel);
	free(rel);
	d->ttl_s = cfg->ttl_s;
	d->timeout_ms = cfg->retry_timeout_ms;
	d->on_change = cfg->on_change;
	d->ud = cfg->ud;
	d->retry = xmalloc(sizeof(*d->retry));
	uv_timer_init(loop, d->retry);
	d->retry->data = d;
	return d;
}

static void on_timer_closed(uv_handle_t *h)
{
	free(h);
}

void dcs_free(dcs *d)
{
	if (!d)
		return;
	while (d->ops) {
		op *o = d->ops;
		d->ops = o->next;
		if (o->call)
			etcd_cancel(d->e, o->call);
		free(o);
	}
	if (d->range_call)
		etcd_cancel(d->e, d->range_call);
	if (d->watch)
		etcd_watch_stop(d->e, d->watch);
	uv_timer_stop(d->retry);
	d->retry->data = NULL;
	uv_close((uv_handle_t *)d->retry, on_timer_closed);
	dcs_view_free(&d->view);
	free(d->name);
	free(d->prefix);
	free(d->leader_key);
	free(d->init_key);
	free(d->member_key);
	free(d);
}

int64_t dcs_lease_id(const dcs *d)
{
	return d->lease;
}

/* ---- operations ---- */

static op *op_new(dcs *d, op_kind kind, dcs_cb cb, dcs_keepalive_cb kcb, void *ud)
{
	op *o = xcalloc(1, sizeof(*o));
	o->d = d;
	o->kind = kind;
	o->cb = cb;
	o->kcb = kcb;
	o->ud = ud;
	o->next = d->ops;
	if (d->ops)
		d->ops->prev = o;
	d->ops = o;
	return o;
}

static void op_unlink(op *o)
{
	dcs *d = o->d;
	if (o->prev)
		o->prev->next = o->next;
	else
		d->ops = o->next;
	if (o->next)
		o->next->prev = o->prev;
}

/* Ends `o` with one callback. The callback may free the dcs. */
static void op_finish(op *o, dcs_result r, const char *error)
{
	op_unlink(o);
	if (o->kcb)
		o->kcb(r, r == DCS_OK ? NULL : error, o->sent_ms, o->ttl_s, o->ud);
	else if (o->cb)
		o->cb(r, r == DCS_OK ? NULL : error, o->ud);
	free(o);
}

static void op_fail_now(op *o, dcs_result r, const char *error)
{
	op_finish(o, r, error);
}

static void on_done(const etcd_result *res, void *ud);

static void renew_touch(op *o)
{
	dcs *d = o->d;
	/* Only the value is compared: a key with our name on another lease is our own, left by
	 * this member's previous process (it kept its lease when it died), and is moved onto ours.
	 * Member names are unique in a cluster. */
	etcd_compare cmp = {.key = d->leader_key, .target = ETCD_CMP_VALUE, .value = d->name};
	etcd_op put = {
	    .kind = ETCD_OP_PUT, .key = d->leader_key, .value = d->name, .lease = o->lease};
	o->kind = OP_TXN;
	o->call = etcd_txn(d->e, &cmp, 1, &put, 1, NULL, 0, d->timeout_ms, on_done, o);
	if (!o->call)
		op_fail_now(o, DCS_FAILED, "could not start the request");
}

static void on_done(const etcd_result *res, void *ud)
{
	op *o = ud;
	dcs *d = o->d;
	o->call = NULL;
	if (res->status != ETCD_OK) {
		/* A keep-alive or a put with a lease etcd no longer knows: the lease is gone. */
		bool lease_gone = res->status == ETCD_REJECTED && res->error &&
		                  strstr(res->error, "lease not found");
		if (lease_gone && (o->kind == OP_KEEPALIVE || o->kind == OP_RENEW))
			d->lease = 0;
		op_finish(o, lease_gone ? DCS_LOST : DCS_FAILED, res->error ? res->error : "?");
		return;
	}
	switch (o->kind) {
	case OP_PLAIN:
		op_finish(o, DCS_OK, NULL);
		return;
	case OP_TXN:
		op_finish(o, res->succeeded ? DCS_OK : DCS_LOST, "the compare did not hold");
		return;
	case OP_GRANT:
		if (res->lease_id == 0 || res->lease_ttl <= 0) {
			op_finish(o, DCS_FAILED, "lease grant without an ID or a TTL");
			return;
		}
		d->lease = res->lease_id;
		o->ttl_s = res->lease_ttl;
		op_finish(o, DCS_OK, NULL);
		return;
	case OP_REVOKE:
		if (d->lease == o->lease)
			d->lease = 0;
		op_finish(o, DCS_OK, NULL);
		return;
	case OP_KEEPALIVE:
	case OP_RENEW:
		o->ttl_s = res->lease_ttl;
		if (res->lease_ttl <= 0) {
			if (d->lease == o->lease)
				d->lease = 0;
			op_finish(o, DCS_LOST, "the lease is gone");
			return;
		}
		if (o->kind == OP_KEEPALIVE)
			op_finish(o, DCS_OK, NULL);
		else
			renew_touch(o);
		return;
	}
}

/* Starts `call` for `o`, or ends `o` at once when the client refused to start it. */
static void op_started(op *o, etcd_call *call)
{
	o->call = call;
	if (!call)
		op_fail_now(o, DCS_FAILED, "could not start the request");
}

void dcs_lease_grant(dcs *d, dcs_cb cb, void *ud)
{
	op *o = op_new(d, OP_GRANT, cb, NULL, ud);
	op_started(o, etcd_lease_grant(d->e, d->ttl_s, d->timeout_ms, on_done, o));
}

/* A keep-alive of our lease, timed from its send (a plain one, or the leader's renewal). */
static void keepalive(dcs *d, op_kind kind, dcs_keepalive_cb cb, void *ud)
{
	op *o = op_new(d, kind, NULL, cb, ud);
	if (!d->lease) {
		op_fail_now(o, DCS_LOST, "no lease");
		return;
	}
	o->lease = d->lease;
	o->sent_ms = clock_mono_ms();
	op_started(o, etcd_lease_keepalive(d->e, d->lease, d->timeout_ms, on_done, o));
}

void dcs_lease_keepalive(dcs *d, dcs_keepalive_cb cb, void *ud)
{
	keepalive(d, OP_KEEPALIVE, cb, ud);
}

void dcs_lease_revoke(dcs *d, dcs_cb cb, void *ud)
{
	op *o = op_new(d, OP_REVOKE, cb, NULL, ud);
	if (!d->lease) {
		op_finish(o, DCS_OK, NULL);
		return;
	}
	o->lease = d->lease;
	op_started(o, etcd_lease_revoke(d->e, d->lease, d->timeout_ms, on_done, o));
}

void dcs_acquire_leader(dcs *d, dcs_cb cb, void *ud)
{
	op *o = op_new(d, OP_TXN, cb, NULL, ud);
	if (!d->lease) {
		op_fail_now(o, DCS_FAILED, "no lease");
		return;
	}
	etcd_compare cmp = {.key = d->leader_key, .target = ETCD_CMP_VERSION, .number = 0};
	etcd_op put = {
	    .kind = ETCD_OP_PUT, .key = d->leader_key, .value = d->name, .lease = d->lease};
	op_started(o, etcd_txn(d->e, &cmp, 1, &put, 1, NULL, 0, d->timeout_ms, on_done, o));
}

void dcs_renew_leader(dcs *d, dcs_keepalive_cb cb, void *ud)
{
	keepalive(d, OP_RENEW, cb, ud);
}

void dcs_release_leader(dcs *d, dcs_cb cb, void *ud)
{
	op *o = op_new(d, OP_TXN, cb, NULL, ud);
	etcd_compare cmp = {.key = d->leader_key, .target = ETCD_CMP_VALUE, .value = d->name};
	etcd_op del = {.kind = ETCD_OP_DELETE, .key = d->leader_key};
	op_started(o, etcd_txn(d->e, &cmp, 1, &del, 1, NULL, 0, d->timeout_ms, on_done, o));
}

void dcs_take_initialize(dcs *d, const char *sysid, dcs_cb cb, void *ud)
{
	op *o = op_new(d, OP_TXN, cb, NULL, ud);
	etcd_compare cmp = {.key = d->init_key, .target = ETCD_CMP_VERSION, .number = 0};
	/* The empty placeholder of a bootstrap race is on our lease: if we die first, the key goes
	 * with it; and an answer lost on the way back (the write done, a timeout seen) is known
	 * ours by its lease. A system identifier is for good (written again so after a race). */
	etcd_op put = {.kind = ETCD_OP_PUT,
	               .key = d->init_key,
	               .value = sysid,
	               .lease = sysid && *sysid ? 0 : d->lease};
	op_started(o, etcd_txn(d->e, &cmp, 1, &put, 1, NULL, 0, d->timeout_ms, on_done, o));
}

void dcs_touch_member(dcs *d, const char *value, dcs_cb cb, void *ud)
{
	op *o = op_new(d, OP_PLAIN, cb, NULL, ud);
	if (!d->lease) {
		op_fail_now(o, DCS_LOST, "no lease");
		return;
	}
	op_started(o, etcd_put(d->e, d->member_key, value, d->lease, d->timeout_ms, on_done, o));
}

void dcs_put_key(dcs *d, const char *relkey, const char *value, dcs_cb cb, void *ud)
{
	op *o = op_new(d, OP_PLAIN, cb, NULL, ud);
	char *k = key(d, relkey);
	op_started(o, etcd_put(d->e, k, value, 0, d->timeout_ms, on_done, o));
	free(k);
}

void dcs_put_key_if(dcs *d, const char *relkey, const char *value, int64_t mod_revision, dcs_cb cb,
                    void *ud)
{
	op *o = op_new(d, OP_TXN, cb, NULL, ud);
	char *k = key(d, relkey);
	etcd_compare cmp = {.key = k,
	                    .target = mod_revision ? ETCD_CMP_MOD : ETCD_CMP_VERSION,
	                    .number = mod_revision};
	etcd_op put = {.kind = ETCD_OP_PUT, .key = k, .value = value, .lease = 0};
	op_started(o, etcd_txn(d->e, &cmp, 1, &put, 1, NULL, 0, d->timeout_ms, on_done, o));
	free(k);
}

void dcs_delete_key(dcs *d, const char *relkey, dcs_cb cb, void *ud)
{
	op *o = op_new(d, OP_PLAIN, cb, NULL, ud);
	char *k = key(d, relkey);
	op_started(o, etcd_delete(d->e, k, false, d->timeout_ms, on_done, o));
	free(k);
}

void dcs_acquire_key(dcs *d, const char *relkey, dcs_cb cb, void *ud)
{
	op *o = op_new(d, OP_TXN, cb, NULL, ud);
	if (!d->lease) {
		op_fail_now(o, DCS_LOST, "no lease");
		return;
	}
	char *k = key(d, relkey);
	etcd_compare cmp = {.key = k, .target = ETCD_CMP_VERSION, .number = 0};
	etcd_op put = {.kind = ETCD_OP_PUT, .key = k, .value = d->name, .lease = d->lease};
	op_started(o, etcd_txn(d->e, &cmp, 1, &put, 1, NULL, 0, d->timeout_ms, on_done, o));
	free(k);
}

void dcs_release_key(dcs *d, const char *relkey, dcs_cb cb, void *ud)
{
	op *o = op_new(d, OP_TXN, cb, NULL, ud);
	char *k = key(d, relkey);
	etcd_compare cmp = {.key = k, .target = ETCD_CMP_VALUE, .value = d->name};
	etcd_op del = {.kind = ETCD_OP_DELETE, .key = k};
	op_started(o, etcd_txn(d->e, &cmp, 1, &del, 1, NULL, 0, d->timeout_ms, on_done, o));
	free(k);
}
