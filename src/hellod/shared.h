/* What the supervisor thread shares with the worker threads: the configuration snapshot in force,
 * today's date, the listening sockets, the TLS material, and every worker's metrics. */
#ifndef HELLOD_SHARED_H
#define HELLOD_SHARED_H

#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "birthday.h"
#include "cidr.h"
#include "hmetrics.h"
#include "options.h"
#include "rywmap.h"

/* An immutable configuration, reference-counted: a reload builds a new one and each worker swaps
 * it in at a loop boundary. */
typedef struct hellod_snapshot {
	atomic_int refs;
	hellod_settings s;
	cidr_list allow;
} hellod_snapshot;

typedef struct hellod_shared {
	uv_mutex_t lock; /* guards `current` */
	hellod_snapshot *current;
	atomic_llong today; /* days since 1970-01-01 in the configured time zone */
	const int *fds;
	size_t nfds;
	char *tls_cert_pem, *tls_key_pem;
	hellod_metrics *metrics; /* one per worker, written by that worker only */
	rywmap *ryw;             /* this instance's writes, for read-your-writes */
	size_t nworkers;
	uv_async_t *worker_exited; /* on the supervisor's loop */
} hellod_shared;

/* Takes ownership of *s (which is zeroed). */
hellod_snapshot *snapshot_new(hellod_settings *s);
hellod_snapshot *snapshot_acquire(hellod_shared *sh);
void snapshot_release(hellod_snapshot *snap);
/* Makes `snap` current; the shared state takes over the caller's reference. */
void snapshot_publish(hellod_shared *sh, hellod_snapshot *snap);

bd_date shared_today(const hellod_shared *sh);

#endif
