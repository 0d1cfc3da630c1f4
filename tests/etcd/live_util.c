#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "live.h"

uv_loop_t *live_loop;
int live_failures;

uint64_t now_ms(void)
{
	return clock_mono_ms();
}

const char *status_name(etcd_status s)
{
	switch (s) {
	case ETCD_OK:
		return "OK";
	case ETCD_UNAVAILABLE:
		return "UNAVAILABLE";
	case ETCD_REJECTED:
		return "REJECTED";
	case ETCD_BAD_ANSWER:
		return "BAD_ANSWER";
	}
	return "?";
}

static char *dup_bytes(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (!d)
		abort();
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static void copy_kv(live_kv *d, const etcd_kv *s)
{
	d->key = dup_bytes(s->key, s->key_len);
	d->value = dup_bytes(s->value, s->value_len);
	d->value_len = s->value_len;
	d->create_revision = s->create_revision;
	d->mod_revision = s->mod_revision;
	d->version = s->version;
	d->lease = s->lease;
}

answer *answer_new(void)
{
	answer *a = calloc(1, sizeof *a);
	if (!a)
		abort();
	a->started_ms = now_ms();
	return a;
}

void answer_free(answer *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nkvs; i++) {
		free(a->kvs[i].key);
		free(a->kvs[i].value);
	}
	free(a->kvs);
	free(a->error);
	free(a);
}

void on_answer(const etcd_result *r, void *ud)
{
	answer *a = ud;
	a->calls++;
	uv_stop(live_loop); /* run_until looks at the result at once */
	if (a->done)
		return;
	a->done = true;
	a->elapsed_ms = now_ms() - a->started_ms;
	a->status = r->status;
	a->error = r->error ? strdup(r->error) : NULL;
	a->revision = r->revision;
	a->lease_id = r->lease_id;
	a->lease_ttl = r->lease_ttl;
	a->succeeded = r->succeeded;
	a->nkvs = r->nkvs;
	a->kvs = calloc(r->nkvs ? r->nkvs : 1, sizeof *a->kvs);
	if (!a->kvs)
		abort();
	for (size_t i = 0; i < r->nkvs; i++)
		copy_kv(&a->kvs[i], &r->kvs[i]);
}

static void on_guard(uv_timer_t *t)
{
	*(bool *)t->data = true;
	uv_stop(live_loop);
}

/* Runs the loop until pred(arg) or the timeout; returns pred(arg). */
static bool run_until(bool (*pred)(void *), void *arg, uint64_t timeout_ms)
{
	bool expired = false;
	uv_timer_t guard;
	uv_timer_init(live_loop, &guard);
	guard.data = &expired;
	uv_timer_start(&guard, on_guard, timeout_ms, 0);
	/* The callbacks call uv_stop: a callback run from a timer would otherwise leave uv_run
	 * blocked in its poll phase until the next event. */
	while (!pred(arg) && !expired)
		uv_run(live_loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&guard, NULL);
	uv_run(live_loop, UV_RUN_NOWAIT); /* lets the guard close */
	return pred(arg);
}

static bool answer_done(void *arg)
{
	return ((answer *)arg)->done;
}

bool wait_answer(answer *a, uint64_t timeout_ms)
{
	return run_until(answer_done, a, timeout_ms);
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

void run_for(uint64_t ms)
{
	(void)run_until(never, NULL, ms);
}

void drain_loop(void)
{
	uv_run(live_loop, UV_RUN_DEFAULT);
}

static void on_events(const etcd_event *ev, size_t n, int64_t revision, void *ud)
{
	watcher *wt = ud;
	uv_stop(live_loop);
	wt->batches++;
	wt->events = realloc(wt->events, (wt->nevents + n) * sizeof *wt->events);
	if (!wt->events)
		abort();
	for (size_t i = 0; i < n; i++) {
		live_kv *d = &wt->events[wt->nevents++];
		copy_kv(d, &ev[i].kv);
		d->type = ev[i].type;
		if (ev[i].kv.mod_revision <= wt->last_revision)
			wt->order_ok = false;
		wt->last_revision = ev[i].kv.mod_revision;
	}
	if (revision < wt->last_revision)
		wt->order_ok = false;
	if (wt->stop_in_callback) {
		etcd_watch_stop(wt->e, wt->w);
		etcd_watch_stop(wt->e, wt->w); /* twice: still harmless inside the callback */
		wt->w = NULL;
	}
}

static void on_broken(etcd_status status, const char *why, int64_t compact_revision, void *ud)
{
	watcher *wt = ud;
	uv_stop(live_loop);
	CHECK(!wt->broken, "on_broken called twice");
	wt->broken = true;
	wt->broken_ms = now_ms();
	wt->broken_status = status;
	wt->broken_why = strdup(why ? why : "(null)");
	wt->compact_revision = compact_revision;
	etcd_watch_stop(wt->e, wt->w); /* allowed and a no-op inside on_broken */
	wt->w = NULL;
}

void watcher_start(watcher *wt, etcd *e, const char *prefix, int64_t start_revision)
{
	memset(wt, 0, sizeof *wt);
	wt->e = e;
	wt->order_ok = true;
	wt->started_ms = now_ms();
	etcd_watch_handlers h = {on_events, on_broken, wt};
	wt->w = etcd_watch_start(e, prefix, start_revision, &h);
}

void watcher_stop(watcher *wt)
{
	if (wt->w)
		etcd_watch_stop(wt->e, wt->w);
	wt->w = NULL;
}

void watcher_clear(watcher *wt)
{
	watcher_stop(wt);
	for (size_t i = 0; i < wt->nevents; i++) {
		free(wt->events[i].key);
		free(wt->events[i].value);
	}
	free(wt->events);
	free(wt->broken_why);
	memset(wt, 0, sizeof *wt);
}

typedef struct nwait {
	watcher *wt;
	size_t n;
} nwait;

static bool enough_events(void *arg)
{
	nwait *nw = arg;
	return nw->wt->nevents >= nw->n || nw->wt->broken;
}

bool wait_events(watcher *wt, size_t n, uint64_t timeout_ms)
{
	nwait nw = {wt, n};
	run_until(enough_events, &nw, timeout_ms);
	return wt->nevents >= n;
}

static bool is_broken(void *arg)
{
	return ((watcher *)arg)->broken;
}

bool wait_broken(watcher *wt, uint64_t timeout_ms)
{
	return run_until(is_broken, wt, timeout_ms);
}

static answer *finish(answer *a, uint64_t timeout_ms)
{
	if (!wait_answer(a, timeout_ms)) {
		CHECK(false, "no callback within %llu ms", (unsigned long long)timeout_ms);
		a->status = ETCD_UNAVAILABLE;
	}
	return a;
}

answer *sync_range(etcd *e, const char *key, bool prefix, uint64_t timeout_ms)
{
	answer *a = answer_new();
	etcd_range(e, key, prefix, timeout_ms, on_answer, a);
	return finish(a, timeout_ms + 5000);
}

answer *sync_put(etcd *e, const char *key, const char *value, int64_t lease)
{
	answer *a = answer_new();
	etcd_put(e, key, value, lease, 5000, on_answer, a);
	return finish(a, 10000);
}

answer *sync_delete(etcd *e, const char *key, bool prefix)
{
	answer *a = answer_new();
	etcd_delete(e, key, prefix, 5000, on_answer, a);
	return finish(a, 10000);
}

answer *sync_txn(etcd *e, const etcd_compare *cmp, size_t ncmp, const etcd_op *ok, size_t nok,
                 const etcd_op *ko, size_t nko)
{
	answer *a = answer_new();
	etcd_txn(e, cmp, ncmp, ok, nok, ko, nko, 5000, on_answer, a);
	return finish(a, 10000);
}

bool expect_status(answer *a, etcd_status want, const char *what)
{
	bool ok = a->status == want;
	CHECK(ok, "%s: status %s (%s), expected %s", what, status_name(a->status),
	      a->error ? a->error : "", status_name(want));
	CHECK(a->calls == 1, "%s: callback ran %d times", what, a->calls);
	answer_free(a);
	return ok;
}
