/* See lag.h. */
#include "lag.h"

#include <string.h>

void lag_record(lag_history *h, int64_t now_ms, uint64_t lsn)
{
	if (h->n > 0) {
		size_t last = (h->next + LAG_SAMPLES - 1) % LAG_SAMPLES;
		if (lsn == h->lsn[last])
			return;
		if (lsn < h->lsn[last])
			memset(h, 0, sizeof *h);
	}
	h->lsn[h->next] = lsn;
	h->at_ms[h->next] = now_ms;
	h->next = (h->next + 1) % LAG_SAMPLES;
	if (h->n < LAG_SAMPLES)
		h->n++;
}

double lag_seconds(const lag_history *h, int64_t now_ms, uint64_t source_lsn, uint64_t replayed)
{
	if (replayed >= source_lsn || h->n == 0)
		return 0;
	size_t oldest = (h->next + LAG_SAMPLES - h->n) % LAG_SAMPLES;
	for (size_t k = 0; k < h->n; k++) {
		size_t i = (oldest + k) % LAG_SAMPLES;
		if (h->lsn[i] > replayed) {
			int64_t d = now_ms - h->at_ms[i];
			return d > 0 ? (double)d / 1000.0 : 0;
		}
	}
	return 0;
}
