#include "metrics.h"

static const double bounds_s[METRICS_LATENCY_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

void metrics_observe_us(metrics_histogram *h, uint64_t us)
{
	double s = (double)us / 1e6;
	for (int i = 0; i < METRICS_LATENCY_BUCKETS; i++) {
		if (s <= bounds_s[i]) {
			metrics_inc(&h->buckets[i], 1);
			break;
		}
	}
	metrics_inc(&h->count, 1);
	metrics_inc(&h->sum_us, us);
}

void metrics_family(strbuf *out, const char *name, const char *type, const char *help)
{
	sb_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_sample(strbuf *out, const char *name, const char *labels, double value)
{
	if (labels && *labels)
		sb_printf(out, "%s{%s} %.17g\n", name, labels, value);
	else
		sb_printf(out, "%s %.17g\n", name, value);
}

void metrics_single(strbuf *out, const char *name, const char *type, const char *help,
                    const char *labels, double value)
{
	metrics_family(out, name, type, help);
	metrics_sample(out, name, labels, value);
}

void metrics_histogram_write(strbuf *out, const char *name, const char *labels,
                             const metrics_histogram *const *parts, size_t n)
{
	const char *sep = labels && *labels ? "," : "";
	const char *lab = labels ? labels : "";
	uint64_t cumulative = 0, count = 0, sum_us = 0;
	for (int b = 0; b < METRICS_LATENCY_BUCKETS; b++) {
		for (size_t i = 0; i < n; i++)
			cumulative += metrics_get(&parts[i]->buckets[b]);
		sb_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, lab, sep, bounds_s[b],
		          (unsigned long long)cumulative);
	}
	for (size_t i = 0; i < n; i++) {
		count += metrics_get(&parts[i]->count);
		sum_us += metrics_get(&parts[i]->sum_us);
	}
	sb_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, lab, sep,
	          (unsigned long long)count);
	if (*lab) {
		sb_printf(out, "%s_sum{%s} %.6f\n", name, lab, (double)sum_us / 1e6);
		sb_printf(out, "%s_count{%s} %llu\n", name, lab, (unsigned long long)count);
	} else {
		sb_printf(out, "%s_sum %.6f\n%s_count %llu\n", name, (double)sum_us / 1e6, name,
		          (unsigned long long)count);
	}
}
