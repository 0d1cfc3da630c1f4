/* hellod's metrics: one struct per worker thread (written only by it), summed when /metrics is
 * rendered. */
#ifndef HELLOD_HMETRICS_H
#define HELLOD_HMETRICS_H

#include "api.h"
#include "metrics.h"
#include "strbuf.h"

enum { HM_STATUS_COUNT = 13 };

typedef struct hellod_metrics {
	metrics_counter requests[ROUTE_COUNT][HM_STATUS_COUNT];
	metrics_histogram latency[ROUTE_COUNT];
	metrics_counter refused_peers;
	metrics_counter db_timeouts;
	metrics_counter db_errors;
	/* Pool state, published by the worker a few times a second. */
	metrics_counter pool_connections, pool_ready, pool_connecting, pool_waiting, pool_inflight;
	metrics_counter db_retries, db_connects, db_connect_failures;
	/* GETs of read-from local (reads.c). */
	metrics_counter reads_local, reads_primary, reads_after_wait, stale_reads_prevented;
	metrics_counter reads_waiting, read_pool_ready; /* gauges */
	metrics_histogram read_wait;
} hellod_metrics;

void hmetrics_request(hellod_metrics *m, api_route route, unsigned status, uint64_t latency_us);
/* Renders the sum over `n` workers, in Prometheus text format. */
void hmetrics_render(strbuf *out, hellod_metrics *const *workers, size_t n);

#endif
