/* Prometheus text exposition. Counters and histograms are written by one thread (their owner)
 * and read by whichever thread renders /metrics, so they are relaxed atomics. */
#ifndef TANDEM_METRICS_H
#define TANDEM_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

typedef _Atomic uint64_t metrics_counter;

enum { METRICS_LATENCY_BUCKETS = 14 };

/* Latency in seconds, buckets from 0.5 ms to 10 s. */
typedef struct metrics_histogram {
	metrics_counter buckets[METRICS_LATENCY_BUCKETS]; /* non-cumulative counts */
	metrics_counter count;
	metrics_counter sum_us;
} metrics_histogram;

static inline void metrics_inc(metrics_counter *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline void metrics_set(metrics_counter *c, uint64_t v)
{
	atomic_store_explicit(c, v, memory_order_relaxed);
}

static inline uint64_t metrics_get(const metrics_counter *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

void metrics_observe_us(metrics_histogram *h, uint64_t us);

/* "# HELP name help\n# TYPE name type\n" */
void metrics_family(strbuf *out, const char *name, const char *type, const char *help);
/* name{labels} value; `labels` is the inside of the braces, or NULL. */
void metrics_sample(strbuf *out, const char *name, const char *labels, double value);
/* A family with its one sample: metrics_family, then metrics_sample. */
void metrics_single(strbuf *out, const char *name, const char *type, const char *help,
                    const char *labels, double value);
/* The sum of `n` histograms (one per thread) as one Prometheus histogram. */
void metrics_histogram_write(strbuf *out, const char *name, const char *labels,
                             const metrics_histogram *const *parts, size_t n);

#endif
