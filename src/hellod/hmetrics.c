#include "hmetrics.h"

#include <stdio.h>

static const unsigned statuses[HM_STATUS_COUNT] = {200, 204, 400, 403, 404, 405, 408,
                                                   413, 415, 431, 500, 503, 0};

static int status_index(unsigned status)
{
	for (int i = 0; i < HM_STATUS_COUNT - 1; i++)
		if (statuses[i] == status)
			return i;
	return HM_STATUS_COUNT - 1; /* "other" */
}

void hmetrics_request(hellod_metrics *m, api_route route, unsigned status, uint64_t latency_us)
{
	metrics_inc(&m->requests[route][status_index(status)], 1);
	metrics_observe_us(&m->latency[route], latency_us);
}

static uint64_t sum(hellod_metrics *const *w, size_t n, size_t offset)
{
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += metrics_get(
		    (const metrics_counter *)(const void *)((const char *)w[i] + offset));
	return total;
}

#define SUM(field) sum(workers, n, offsetof(hellod_metrics, field))

void hmetrics_render(strbuf *out, hellod_metrics *const *workers, size_t n)
{
	char labels[96];
	metrics_family(out, "hellod_http_requests_total", "counter",
	               "HTTP requests answered, by route and status code.");
	for (int r = 0; r < ROUTE_COUNT; r++) {
		for (int s = 0; s < HM_STATUS_COUNT; s++) {
			uint64_t v = 0;
			for (size_t i = 0; i < n; i++)
				v += metrics_get(&workers[i]->requests[r][s]);
			if (!v)
				continue;
			if (statuses[s])
				snprintf(labels, sizeof labels, "route=\"%s\",code=\"%u\"",
				         api_route_name((api_route)r), statuses[s]);
			else
				snprintf(labels, sizeof labels, "route=\"%s\",code=\"other\"",
				         api_route_name((api_route)r));
			metrics_sample(out, "hellod_http_requests_total", labels, (double)v);
		}
	}
	metrics_family(out, "hellod_http_request_duration_seconds", "histogram",
	               "Time from a complete request to its answer, by route.");
	for (int r = 0; r < ROUTE_COUNT; r++) {
		const metrics_histogram *parts[64];
		size_t k = 0;
		for (size_t i = 0; i < n && k < 64; i++)
			parts[k++] = &workers[i]->latency[r];
		snprintf(labels, sizeof labels, "route=\"%s\"", api_route_name((api_route)r));
		metrics_histogram_write(out, "hellod_http_request_duration_seconds", labels, parts,
		                        k);
	}

	metrics_family(out, "hellod_reads_total", "counter",
	               "GETs of read-from local, by where they were answered.");
	metrics_sample(out, "hellod_reads_total", "served=\"local\"", (double)SUM(reads_local));
	metrics_sample(out, "hellod_reads_total", "served=\"primary\"", (double)SUM(reads_primary));
	metrics_family(out, "hellod_read_wait_seconds", "histogram",
	               "How long GETs waited for the replica to replay the position they need "
	               "(those that waited).");
	const metrics_histogram *waits[64];
	size_t k = 0;
	for (size_t i = 0; i < n && k < 64; i++)
		waits[k++] = &workers[i]->read_wait;
	metrics_histogram_write(out, "hellod_read_wait_seconds", NULL, waits, k);

	struct {
		const char *name, *type, *help;
		uint64_t v;
	} simple[] = {
	    {"hellod_refused_clients_total", "counter",
	     "Connections refused because the peer is not in the allow-list.", SUM(refused_peers)},
	    {"hellod_db_timeouts_total", "counter",
	     "Requests answered 503 because the database did not answer within the deadline.",
	     SUM(db_timeouts)},
	    {"hellod_db_errors_total", "counter", "Database errors no retry could cure (500).",
	     SUM(db_errors)},
	    {"hellod_db_retries_total", "counter",
	     "Queries sent again after a connection failed or the server refused them.",
	     SUM(db_retries)},
	    {"hellod_db_connects_total", "counter", "Database connection attempts.",
	     SUM(db_connects)},
	    {"hellod_db_connect_failures_total", "counter",
	     "Database connection attempts that failed.", SUM(db_connect_failures)},
	    {"hellod_db_pool_connections", "gauge", "Database connections configured.",
	     SUM(pool_connections)},
	    {"hellod_db_pool_ready", "gauge", "Database connections ready for queries.",
	     SUM(pool_ready)},
	    {"hellod_db_pool_connecting", "gauge", "Database connections being established.",
	     SUM(pool_connecting)},
	    {"hellod_db_pool_waiting", "gauge", "Queries waiting for a database connection.",
	     SUM(pool_waiting)},
	    {"hellod_db_pool_inflight", "gauge", "Queries sent and not yet answered.",
	     SUM(pool_inflight)},
	    {"hellod_reads_after_wait_total", "counter",
	     "GETs answered by the replica after waiting for it to replay their position.",
	     SUM(reads_after_wait)},
	    {"hellod_db_read_pool_ready", "gauge",
	     "Connections to the replicas (read-database) ready for queries.",
	     SUM(read_pool_ready)},
	    {"hellod_reads_waiting", "gauge",
	     "GETs waiting now for the replica to replay the position they need.",
	     SUM(reads_waiting)},
	    {"hellod_stale_reads_prevented_total", "counter",
	     "GETs the replica would have answered with data older than they must see.",
	     SUM(stale_reads_prevented)},
	};
	for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
		metrics_family(out, simple[i].name, simple[i].type, simple[i].help);
		metrics_sample(out, simple[i].name, NULL, (double)simple[i].v);
	}
}
