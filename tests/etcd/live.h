/* Helpers of the live etcd client test (etcd_live): run the loop until an answer or event comes,
 * with a guard timeout, and keep copies of answers and watch events. */
#ifndef TANDEM_LIVE_H
#define TANDEM_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "etcd.h"

extern uv_loop_t *live_loop;
extern int live_failures;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                     \
			printf(__VA_ARGS__);                                                       \
			printf("\n");                                                              \
			fflush(stdout);                                                            \
			live_failures++;                                                           \
		}                                                                                  \
	} while (0)

typedef struct live_kv {
	char *key, *value;
	size_t value_len;
	int64_t create_revision, mod_revision, version, lease;
	etcd_event_type type; /* watch events */
} live_kv;

/* A copy of one call's result. */
typedef struct answer {
	bool done;
	int calls; /* how often the callback ran */
	etcd_status status;
	char *error;
	int64_t revision, lease_id, lease_ttl;
	bool succeeded;
	live_kv *kvs;
	size_t nkvs;
	uint64_t started_ms, elapsed_ms;
} answer;

answer *answer_new(void);
void answer_free(answer *a);
void on_answer(const etcd_result *r, void *ud);
/* Runs the loop until the answer is in (false after `timeout_ms`). */
bool wait_answer(answer *a, uint64_t timeout_ms);

/* A watch's events and end. */
typedef struct watcher {
	etcd *e;
	etcd_watch *w;
	live_kv *events;
	size_t nevents;
	int64_t last_revision;
	int batches;
	bool stop_in_callback;
	bool broken;
	etcd_status broken_status;
	char *broken_why;
	int64_t compact_revision;
	uint64_t started_ms, broken_ms;
	bool order_ok;
} watcher;

void watcher_start(watcher *wt, etcd *e, const char *prefix, int64_t start_revision);
void watcher_stop(watcher *wt);
void watcher_clear(watcher *wt);
bool wait_events(watcher *wt, size_t n, uint64_t timeout_ms);
bool wait_broken(watcher *wt, uint64_t timeout_ms);

/* Runs the loop for `ms` (events in the meantime are handled). */
void run_for(uint64_t ms);
uint64_t now_ms(void);
const char *status_name(etcd_status s);
/* Runs the loop until every handle is closed (after etcd_free). */
void drain_loop(void);

/* Synchronous shorthands. */
answer *sync_range(etcd *e, const char *key, bool prefix, uint64_t timeout_ms);
answer *sync_put(etcd *e, const char *key, const char *value, int64_t lease);
answer *sync_delete(etcd *e, const char *key, bool prefix);
answer *sync_txn(etcd *e, const etcd_compare *cmp, size_t ncmp, const etcd_op *ok, size_t nok,
                 const etcd_op *ko, size_t nko);
/* Expects `a` to have status `want`; frees it and returns whether it did. */
bool expect_status(answer *a, etcd_status want, const char *what);

/* The other suites (etcd_live_more.c). */
int suite_auth(const char *endpoint, const char *user, const char *password);
int suite_fake(const char *endpoint);
int suite_outage(const char *endpoint);
int suite_tls(const char *endpoint, const char *cacert, const char *cert, const char *key);

#endif
