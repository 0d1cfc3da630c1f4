/* Unit tests for core/lag.h: replication lag in seconds that an idle primary does not inflate. */
#include "testutil.h"

#include "lag.h"

static void test_idle_primary_is_not_lag(void **state)
{
	(void)state;
	lag_history h;
	memset(&h, 0, sizeof h);
	lag_record(&h, 1000, 500);
	/* An hour of silence: the primary stays at 500, the replica has replayed 500. */
	for (int64_t t = 2000; t <= 3600000; t += 10000)
		lag_record(&h, t, 500);
	assert_int_equal(h.n, 1);
	assert_true(lag_seconds(&h, 3600000, 500, 500) == 0);
	/* A replica ahead of what we saw (the sample is older than its replay) is not behind. */
	assert_true(lag_seconds(&h, 3600000, 500, 600) == 0);
}

static void test_lag_from_first_position_past_replay(void **state)
{
	(void)state;
	lag_history h;
	memset(&h, 0, sizeof h);
	lag_record(&h, 10000, 100);
	lag_record(&h, 20000, 200);
	lag_record(&h, 30000, 300);
	lag_record(&h, 40000, 300); /* idle again: not a new sample */
	assert_int_equal(h.n, 3);
	/* Replayed 150: the primary passed it when 200 was first seen, at 20 s. */
	assert_true(lag_seconds(&h, 50000, 300, 150) == 30.0);
	/* Replayed 200: behind since 300 was first seen, at 30 s. */
	assert_true(lag_seconds(&h, 50000, 300, 200) == 20.0);
	/* Replayed 50: before the first sample, measured from it. */
	assert_true(lag_seconds(&h, 50000, 300, 50) == 40.0);
	/* Caught up. */
	assert_true(lag_seconds(&h, 50000, 300, 300) == 0);
}

static void test_ring_keeps_the_newest(void **state)
{
	(void)state;
	lag_history h;
	memset(&h, 0, sizeof h);
	for (int i = 1; i <= LAG_SAMPLES + 10; i++)
		lag_record(&h, (int64_t)i * 1000, (uint64_t)i * 10);
	assert_int_equal(h.n, LAG_SAMPLES);
	int64_t now = (int64_t)(LAG_SAMPLES + 10) * 1000;
	uint64_t src = (uint64_t)(LAG_SAMPLES + 10) * 10;
	/* Replayed 0: older than the oldest kept sample (11 s): a lower bound from it. */
	assert_true(lag_seconds(&h, now, src, 0) == (double)(now - 11000) / 1000.0);
	/* Replayed one sample behind, a second after the newest was seen: one second. */
	assert_true(lag_seconds(&h, now + 1000, src, src - 10) == 1.0);
}

static void test_new_source_starts_afresh(void **state)
{
	(void)state;
	lag_history h;
	memset(&h, 0, sizeof h);
	lag_record(&h, 1000, 1000);
	lag_record(&h, 2000, 2000);
	lag_record(&h, 3000, 100); /* went back: another source */
	assert_int_equal(h.n, 1);
	assert_true(lag_seconds(&h, 5000, 100, 50) == 2.0);
	/* No history yet, or a clock that went back: never negative. */
	lag_history empty;
	memset(&empty, 0, sizeof empty);
	assert_true(lag_seconds(&empty, 5000, 100, 50) == 0);
	assert_true(lag_seconds(&h, 1000, 100, 50) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_idle_primary_is_not_lag),
	    cmocka_unit_test(test_lag_from_first_position_past_replay),
	    cmocka_unit_test(test_ring_keeps_the_newest),
	    cmocka_unit_test(test_new_source_starts_afresh),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
