/* Fuzzes cron schedules (backup.schedule.*): cron_parse on arbitrary text, then cron_next from
 * an instant and in a zone the input chose (a fixed offset, or one that moves by up to a day at
 * an instant of its own).
 *
 * Invariants: a failure has a message; a parsed schedule either never fires within the horizon
 * or fires strictly after the instant, on a minute, within the horizon; the wall clock at the
 * fire time matches the schedule unless it came right after a gap (clocks moved forward); and a
 * second cron_next from the fire time is later still. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"
#include "fuzz_util.h"

typedef struct zone {
	int64_t at;
	int32_t before, after;
} zone;

static int offset(int64_t t, void *ud, int32_t *o)
{
	const zone *z = ud;
	*o = t < z->at ? z->before : z->after;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 12)
		return 0;
	zone z;
	uint32_t after32;
	int16_t b, a;
	memcpy(&after32, data, 4);
	memcpy(&b, data + 4, 2);
	memcpy(&a, data + 6, 2);
	uint32_t at32;
	memcpy(&at32, data + 8, 4);
	z.before = (int32_t)(b % 1440) * 60;
	z.after = (int32_t)(a % 1440) * 60;
	z.at = (int64_t)at32;
	char *text = fuzz_strndup(data + 12, size - 12);
	cron_spec s;
	char *err = NULL;
	if (cron_parse(text, &s, &err) != 0) {
		FUZZ_CHECK(err != NULL, "a failure without a message: '%s'", text);
		free(err);
		free(text);
		return 0;
	}
	int64_t after = (int64_t)after32 + 86400, next = 0;
	int rc = cron_next(&s, after, offset, &z, &next);
	FUZZ_CHECK(rc == 0 || rc == 1, "rc %d with a zone that always answers", rc);
	if (rc == 0) {
		FUZZ_CHECK(next > after && next % 60 == 0 &&
		               next <= after + 60 + (int64_t)CRON_HORIZON_DAYS * 86400,
		           "%s: %lld after %lld", text, (long long)next, (long long)after);
		int32_t o, op;
		offset(next, &z, &o);
		offset(next - 60, &z, &op);
		int64_t w = (next + o) / 60, wp = (next - 60 + op) / 60; /* both positive */
		if (wp + 1 == w) /* no gap just before: the wall clock itself matches */
			FUZZ_CHECK((s.minute >> (w % 60) & 1) && (s.hour >> (w % 1440 / 60) & 1),
			           "%s fired at wall minute %lld", text, (long long)w);
		int64_t again;
		FUZZ_CHECK(cron_next(&s, next, offset, &z, &again) != 0 || again > next,
		           "%s: not later", text);
	}
	free(text);
	return 0;
}
