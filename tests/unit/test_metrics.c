/* Unit tests for src/lib/metrics.h (histogram buckets, Prometheus text) and src/lib/strbuf.h. */
#include "testutil.h"

#include "metrics.h"
#include "strbuf.h"

static const char *const bounds[METRICS_LATENCY_BUCKETS] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1",    "0.25",  "0.5",    "1",     "2.5",  "5",     "10",
};

/* The bucket one observation lands in, or -1 for none (above 10 s). */
static int bucket_of(uint64_t us)
{
	metrics_histogram h;
	memset(&h, 0, sizeof h);
	metrics_observe_us(&h, us);
	assert_int_equal(metrics_get(&h.count), 1);
	assert_int_equal(metrics_get(&h.sum_us), us);
	int found = -1;
	for (int i = 0; i < METRICS_LATENCY_BUCKETS; i++) {
		uint64_t v = metrics_get(&h.buckets[i]);
		assert_true(v <= 1);
		if (v) {
			assert_int_equal(found, -1);
			found = i;
		}
	}
	return found;
}

static void test_observe_buckets(void **state)
{
	(void)state;
	assert_int_equal(bucket_of(0), 0);
	assert_int_equal(bucket_of(1), 0);
	assert_int_equal(bucket_of(500), 0); /* le="0.0005" includes 0.5 ms */
	assert_int_equal(bucket_of(501), 1);
	assert_int_equal(bucket_of(1000), 1);
	assert_int_equal(bucket_of(1001), 2);
	assert_int_equal(bucket_of(2500), 2);
	assert_int_equal(bucket_of(2501), 3);
	assert_int_equal(bucket_of(5000), 3);
	assert_int_equal(bucket_of(10000), 4);
	assert_int_equal(bucket_of(25000), 5);
	assert_int_equal(bucket_of(50000), 6);
	assert_int_equal(bucket_of(100000), 7);
	assert_int_equal(bucket_of(250000), 8);
	assert_int_equal(bucket_of(500000), 9);
	assert_int_equal(bucket_of(999999), 10);
	assert_int_equal(bucket_of(1000000), 10);
	assert_int_equal(bucket_of(1000001), 11);
	assert_int_equal(bucket_of(2500000), 11);
	assert_int_equal(bucket_of(5000000), 12);
	assert_int_equal(bucket_of(10000000), 13);
	assert_int_equal(bucket_of(10000001), -1); /* only in +Inf */
	assert_int_equal(bucket_of(3600000000u), -1);
}

static void test_observe_accumulates(void **state)
{
	(void)state;
	metrics_histogram h;
	memset(&h, 0, sizeof h);
	for (int i = 0; i < 1000; i++)
		metrics_observe_us(&h, 700);
	metrics_observe_us(&h, 20000000);
	assert_int_equal(metrics_get(&h.buckets[1]), 1000);
	assert_int_equal(metrics_get(&h.count), 1001);
	assert_int_equal(metrics_get(&h.sum_us), 700000 + 20000000);
}

/* Builds the expected exposition of a histogram from cumulative counts. */
static char *expected_histogram(const char *name, const char *labels, const uint64_t *cumulative,
                                uint64_t count, const char *sum)
{
	strbuf sb = STRBUF_INIT;
	const char *sep = labels ? "," : "";
	const char *lab = labels ? labels : "";
	for (int i = 0; i < METRICS_LATENCY_BUCKETS; i++)
		sb_printf(&sb, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, lab, sep, bounds[i],
		          (unsigned long long)cumulative[i]);
	sb_printf(&sb, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, lab, sep,
	          (unsigned long long)count);
	if (labels)
		sb_printf(&sb, "%s_sum{%s} %s\n%s_count{%s} %llu\n", name, lab, sum, name, lab,
		          (unsigned long long)count);
	else
		sb_printf(&sb, "%s_sum %s\n%s_count %llu\n", name, sum, name,
		          (unsigned long long)count);
	return sb_steal(&sb);
}

static void test_histogram_write_two_parts(void **state)
{
	(void)state;
	metrics_histogram a, b;
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	metrics_observe_us(&a, 100);      /* bucket 0 */
	metrics_observe_us(&a, 2000);     /* bucket 2 */
	metrics_observe_us(&a, 20000000); /* +Inf only */
	metrics_observe_us(&b, 600);      /* bucket 1 */
	metrics_observe_us(&b, 2000);     /* bucket 2 */
	metrics_observe_us(&b, 7000000);  /* bucket 13 */
	const metrics_histogram *parts[] = {&a, &b};

	/* Cumulative: 1, 2, 4, 4, ... 4, 5; six observations in all. */
	uint64_t cum[METRICS_LATENCY_BUCKETS];
	for (int i = 0; i < METRICS_LATENCY_BUCKETS; i++)
		cum[i] = i == 0 ? 1 : i == 1 ? 2 : i < 13 ? 4 : 5;

	strbuf out = STRBUF_INIT;
	metrics_histogram_write(&out, "req_seconds", "route=\"hello\"", parts, 2);
	char *want = expected_histogram("req_seconds", "route=\"hello\"", cum, 6, "27.004700");
	assert_string_equal(out.data, want);
	free(want);
	sb_free(&out);

	metrics_histogram_write(&out, "req_seconds", NULL, parts, 2);
	want = expected_histogram("req_seconds", NULL, cum, 6, "27.004700");
	assert_string_equal(out.data, want);
	free(want);
	sb_reset(&out);

	/* Empty labels are the same as none. */
	metrics_histogram_write(&out, "req_seconds", "", parts, 2);
	want = expected_histogram("req_seconds", NULL, cum, 6, "27.004700");
	assert_string_equal(out.data, want);
	free(want);
	sb_reset(&out);

	/* Only the first part. */
	uint64_t cum_a[METRICS_LATENCY_BUCKETS];
	for (int i = 0; i < METRICS_LATENCY_BUCKETS; i++)
		cum_a[i] = i < 2 ? 1 : 2;
	metrics_histogram_write(&out, "x", NULL, parts, 1);
	want = expected_histogram("x", NULL, cum_a, 3, "20.002100");
	assert_string_equal(out.data, want);
	free(want);
	sb_free(&out);
}

static void test_histogram_write_empty(void **state)
{
	(void)state;
	metrics_histogram h;
	memset(&h, 0, sizeof h);
	const metrics_histogram *parts[] = {&h};
	uint64_t zero[METRICS_LATENCY_BUCKETS] = {0};
	strbuf out = STRBUF_INIT;
	metrics_histogram_write(&out, "h", "a=\"1\",b=\"2\"", parts, 1);
	char *want = expected_histogram("h", "a=\"1\",b=\"2\"", zero, 0, "0.000000");
	assert_string_equal(out.data, want);
	free(want);
	sb_reset(&out);
	metrics_histogram_write(&out, "h", NULL, NULL, 0);
	want = expected_histogram("h", NULL, zero, 0, "0.000000");
	assert_string_equal(out.data, want);
	free(want);
	sb_free(&out);
}

static void test_family_and_sample(void **state)
{
	(void)state;
	strbuf out = STRBUF_INIT;
	metrics_family(&out, "hellod_requests_total", "counter", "Requests answered.");
	metrics_sample(&out, "hellod_requests_total", "code=\"200\"", 42);
	metrics_sample(&out, "hellod_up", NULL, 1);
	metrics_sample(&out, "hellod_up", "", 0);
	metrics_sample(&out, "g", NULL, 0.5);
	metrics_sample(&out, "g", NULL, 12345678901234.0);
	assert_string_equal(out.data, "# HELP hellod_requests_total Requests answered.\n"
	                              "# TYPE hellod_requests_total counter\n"
	                              "hellod_requests_total{code=\"200\"} 42\n"
	                              "hellod_up 1\n"
	                              "hellod_up 0\n"
	                              "g 0.5\n"
	                              "g 12345678901234\n");
	sb_free(&out);
}

/* ---- strbuf ---- */

static void test_strbuf_append_grows(void **state)
{
	(void)state;
	strbuf sb = STRBUF_INIT;
	assert_null(sb.data);
	char expect[10000];
	for (size_t i = 0; i < sizeof expect; i++) {
		char c = (char)('a' + i % 26);
		expect[i] = c;
		sb_append(&sb, &c, 1);
		assert_int_equal(sb.len, i + 1);
		assert_true(sb.cap > sb.len);
		assert_int_equal(sb.data[sb.len], '\0');
	}
	assert_memory_equal(sb.data, expect, sizeof expect);
	/* One big append past the capacity. */
	size_t before = sb.len;
	static char big[100000];
	memset(big, 'Z', sizeof big);
	sb_append(&sb, big, sizeof big);
	assert_int_equal(sb.len, before + sizeof big);
	assert_true(sb.cap > sb.len);
	assert_memory_equal(sb.data, expect, sizeof expect);
	assert_memory_equal(sb.data + before, big, sizeof big);
	assert_int_equal(sb.data[sb.len], '\0');
	sb_free(&sb);
	assert_null(sb.data);
	assert_int_equal(sb.len, 0);
	assert_int_equal(sb.cap, 0);
}

static void test_strbuf_binary_and_empty(void **state)
{
	(void)state;
	strbuf sb = STRBUF_INIT;
	sb_append(&sb, "", 0);
	assert_non_null(sb.data);
	assert_string_equal(sb.data, "");
	sb_append(&sb, "a\0b", 3);
	assert_int_equal(sb.len, 3);
	assert_memory_equal(sb.data, "a\0b", 4);
	sb_puts(&sb, "cd");
	assert_int_equal(sb.len, 5);
	assert_memory_equal(sb.data, "a\0bcd", 6);
	sb_reset(&sb);
	assert_int_equal(sb.len, 0);
	assert_string_equal(sb.data, "");
	sb_puts(&sb, "again");
	assert_string_equal(sb.data, "again");
	sb_free(&sb);
	sb_reset(&sb); /* on an empty buffer */
	assert_null(sb.data);
}

static void test_strbuf_printf(void **state)
{
	(void)state;
	strbuf sb = STRBUF_INIT;
	sb_printf(&sb, "%s", "");
	assert_non_null(sb.data);
	assert_string_equal(sb.data, "");
	assert_int_equal(sb.len, 0);
	sb_printf(&sb, "%d-%s", 42, "x");
	assert_string_equal(sb.data, "42-x");
	assert_int_equal(sb.len, 4);
	/* Longer than the current capacity, several times over. */
	char long_text[5000];
	memset(long_text, 'q', sizeof long_text - 1);
	long_text[sizeof long_text - 1] = '\0';
	for (int i = 0; i < 3; i++)
		sb_printf(&sb, "[%s]", long_text);
	assert_int_equal(sb.len, 4 + 3 * (sizeof long_text + 1));
	assert_int_equal(strlen(sb.data), sb.len);
	assert_true(sb.cap > sb.len);
	assert_memory_equal(sb.data, "42-x[qqq", 8);
	assert_memory_equal(sb.data + sb.len - 4, "qqq]", 5);
	/* Exactly filling: many small pieces keep the count right. */
	sb_reset(&sb);
	for (int i = 0; i < 1000; i++)
		sb_printf(&sb, "%03d,", i);
	assert_int_equal(sb.len, 4000);
	assert_memory_equal(sb.data, "000,001,002,", 12);
	assert_memory_equal(sb.data + 3992, "998,999,", 9);
	sb_free(&sb);
}

static void test_strbuf_steal(void **state)
{
	(void)state;
	strbuf sb = STRBUF_INIT;
	char *s = sb_steal(&sb);
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
	sb_puts(&sb, "hello");
	s = sb_steal(&sb);
	assert_string_equal(s, "hello");
	assert_null(sb.data);
	assert_int_equal(sb.len, 0);
	assert_int_equal(sb.cap, 0);
	/* The buffer is usable again and does not share memory with the stolen string. */
	sb_puts(&sb, "world");
	assert_string_equal(s, "hello");
	assert_string_equal(sb.data, "world");
	free(s);
	sb_free(&sb);
}

/* A file is read whole, or refused when over the limit: never cut short. */
static void test_strbuf_read_file(void **state)
{
	(void)state;
	char *path = tu_temp_file("0123456789");
	strbuf sb = STRBUF_INIT;
	sb_puts(&sb, ">");
	char *err = NULL;
	assert_int_equal(sb_read_file(&sb, path, 10, &err), 0);
	assert_null(err);
	assert_string_equal(sb.data, ">0123456789");
	sb_reset(&sb);
	assert_int_equal(sb_read_file(&sb, path, 9, &err), -1);
	assert_contains(err, "larger than 9 bytes");
	free(err);
	err = NULL;
	assert_int_equal(sb_read_file(&sb, "/nonexistent/tandem-unit", 100, &err), -1);
	assert_contains(err, "cannot open");
	free(err);
	sb_free(&sb);
	tu_remove_file(path);
}

/* SQL quoting doubles the quote character (a single quote in a password must not end the
 * literal). */
static void test_sql_quoting(void **state)
{
	(void)state;
	strbuf sb = STRBUF_INIT;
	sb_sql_literal(&sb, "it's");
	sb_puts(&sb, " ");
	sb_sql_ident(&sb, "we\"ird");
	sb_puts(&sb, " ");
	sb_sql_literal(&sb, "");
	assert_string_equal(sb.data, "'it''s' \"we\"\"ird\" ''");
	sb_free(&sb);
}

static void test_single(void **state)
{
	(void)state;
	strbuf out = STRBUF_INIT;
	metrics_single(&out, "x_total", "counter", "Things.", "a=\"b\"", 3);
	metrics_single(&out, "y", "gauge", "Level.", NULL, 0.5);
	assert_string_equal(out.data, "# HELP x_total Things.\n# TYPE x_total counter\n"
	                              "x_total{a=\"b\"} 3\n"
	                              "# HELP y Level.\n# TYPE y gauge\ny 0.5\n");
	sb_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_single),
	    cmocka_unit_test(test_sql_quoting),
	    cmocka_unit_test(test_observe_buckets),
	    cmocka_unit_test(test_observe_accumulates),
	    cmocka_unit_test(test_histogram_write_two_parts),
	    cmocka_unit_test(test_histogram_write_empty),
	    cmocka_unit_test(test_family_and_sample),
	    cmocka_unit_test(test_strbuf_append_grows),
	    cmocka_unit_test(test_strbuf_binary_and_empty),
	    cmocka_unit_test(test_strbuf_printf),
	    cmocka_unit_test(test_strbuf_steal),
	    cmocka_unit_test(test_strbuf_read_file),
	};
	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
