/* Unit tests for src/tandemctl/ctl_table.h: table rendering (widths, alignment, titles, hostile
 * cells) and the text conversions tandemctl's commands use (URLs, lag, LSNs, JSON as YAML). */
#include "testutil.h"

#include "ctl_table.h"

static void expect_render(const ctl_table *t, const char *title, const char *want)
{
	char *got = ctl_table_render(t, title);
	if (strcmp(got, want) != 0) {
		print_error("got:\n%s\nwant:\n%s\n", got, want);
		free(got);
		fail();
	}
	free(got);
}

static void test_table_basic(void **state)
{
	(void)state;
	const char *h[] = {"Member", "TL", "Lag in MB"};
	ctl_table *t = ctl_table_new(3, h);
	ctl_table_align(t, 1, CTL_ALIGN_RIGHT);
	ctl_table_align(t, 2, CTL_ALIGN_RIGHT);
	const char *r1[] = {"pg1", "1", ""};
	const char *r2[] = {"postgresql-long", "12", "0"};
	ctl_table_add_row(t, r1);
	ctl_table_add_row(t, r2);
	assert_int_equal(ctl_table_rows(t), 2);
	expect_render(t, NULL,
	              "+-----------------+----+-----------+\n"
	              "| Member          | TL | Lag in MB |\n"
	              "+-----------------+----+-----------+\n"
	              "| pg1             |  1 |           |\n"
	              "| postgresql-long | 12 |         0 |\n"
	              "+-----------------+----+-----------+\n");
	expect_render(t, "Cluster: b (7)",
	              "+ Cluster: b (7) -+----+-----------+\n"
	              "| Member          | TL | Lag in MB |\n"
	              "+-----------------+----+-----------+\n"
	              "| pg1             |  1 |           |\n"
	              "| postgresql-long | 12 |         0 |\n"
	              "+-----------------+----+-----------+\n");
	ctl_table_free(t);
}

static void test_table_long_title_and_empty(void **state)
{
	(void)state;
	const char *h[] = {"A", "B"};
	ctl_table *t = ctl_table_new(2, h);
	/* No rows: header only, no closing border after the header's. */
	expect_render(t, NULL, "+---+---+\n| A | B |\n+---+---+\n");
	/* A title longer than the table widens the last column. */
	char *got = ctl_table_render(t, "Cluster: a-very-long-name (123)");
	assert_string_equal(got, "+ Cluster: a-very-long-name (123) +\n"
	                         "| A | B                           |\n"
	                         "+---+-----------------------------+\n");
	free(got);
	ctl_table_free(t);
}

static void test_safe_text(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		bool multiline;
		const char *want;
	} cases[] = {
	    {"plain text", false, "plain text"},
	    {NULL, false, ""},
	    {"Zürich é ✓ 😀", false, "Zürich é ✓ 😀"},
	    {"\x1b]0;owned\x07title", false, "?]0;owned?title"},     /* OSC: set the title */
	    {"a\x1b[2Jb\rc\bd\x7f", false, "a?[2Jb?c?d?"},           /* CSI, CR, BS, DEL */
	    {"line1\nline2\tx", false, "line1?line2?x"},             /* a cell is one line */
	    {"line1\nline2\tx\x1b[1m", true, "line1\nline2\tx?[1m"}, /* a message keeps lines */
	    {"x\xc2\x9b"
	     "31mred",
	     true, "x?31mred"}, /* C1 CSI, as UTF-8 */
	    {"x\x9b"
	     "31mred",
	     true, "x?31mred"},                             /* a lone 0x9b byte */
	    {"\xc3(\xe2\x82\xf0\x9f\x98", true, "?(?????"}, /* one ? a byte */
	    {"\xc2\xa0nbsp", true, "\xc2\xa0nbsp"},         /* U+00A0 is text */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *got = ctl_safe_text(cases[i].in, cases[i].multiline);
		assert_string_equal(got, cases[i].want);
		free(got);
	}
}

static void test_printf_is_safe(void **state)
{
	(void)state;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	ctl_printf(f, "tandemctl: %s: %s\n", "pg\x1b[31m1", "refused\x1b]52;c;AAAA\x07");
	fclose(f);
	assert_string_equal(buf, "tandemctl: pg?[31m1: refused?]52;c;AAAA?\n");
	free(buf);
}

static void test_table_hostile_and_utf8(void **state)
{
	(void)state;
	const char *h[] = {"Name", "X"};
	ctl_table *t = ctl_table_new(2, h);
	const char *r1[] = {"a\nb\x1b[2J", NULL};
	const char *r2[] = {"Zürich", "é"};
	ctl_table_add_row(t, r1);
	ctl_table_add_row(t, r2);
	char *got = ctl_table_render(t, NULL);
	assert_not_contains(got, "\x1b");
	assert_contains(got, "| a?b?[2J |   |\n");
	/* Six characters, eight bytes: padded by characters. */
	assert_contains(got, "| Zürich  | é |\n");
	free(got);
	got = ctl_table_render(t, "Cluster: \x1b[2Jx\xc2\x9b");
	assert_not_contains(got, "\x1b");
	assert_not_contains(got, "\xc2\x9b");
	assert_contains(got, "+ Cluster: ?[2Jx? ");
	free(got);
	ctl_table_free(t);
}

static void expect_host(const char *url, const char *want)
{
	char *got = ctl_url_host_port(url);
	if (want == NULL) {
		if (got) {
			print_error("%s: got '%s', want NULL\n", url ? url : "(null)", got);
			free(got);
			fail();
		}
		return;
	}
	if (!got || strcmp(got, want) != 0) {
		print_error("%s: got '%s', want '%s'\n", url ? url : "(null)", got ? got : "(null)",
		            want);
		free(got);
		fail();
	}
	free(got);
}

static void test_url_host_port(void **state)
{
	(void)state;
	expect_host("postgres://10.0.0.1:5432/postgres", "10.0.0.1:5432");
	expect_host("postgres://replicator:secret@10.0.0.1:5433/postgres", "10.0.0.1:5433");
	expect_host("postgresql://[fd00::1]:5434/db", "[fd00::1]:5434");
	expect_host("postgres://db.example.com/postgres", "db.example.com:5432");
	expect_host("http://127.0.0.1:8008/patroni", "127.0.0.1:8008");
	expect_host("https://api.example.com/patroni", "api.example.com:443");
	expect_host("http://h", "h:80");
	expect_host("ftp://h/x", NULL);
	expect_host("not a url", NULL);
	expect_host("http://:8008/", NULL);
	expect_host("http://h:80x/", NULL);
	expect_host("http://[::1/", NULL);
	expect_host("http://h:123456/", NULL);
	expect_host(NULL, NULL);
}

static void test_url_with_path(void **state)
{
	(void)state;
	char *u = ctl_url_with_path("http://127.0.0.1:8008/patroni", "/failover");
	assert_string_equal(u, "http://127.0.0.1:8008/failover");
	free(u);
	u = ctl_url_with_path("https://user:pw@[::1]/patroni?x=1", "/restart");
	assert_string_equal(u, "https://[::1]/restart");
	free(u);
	assert_null(ctl_url_with_path("127.0.0.1:8008", "/restart"));
}

static void test_lag_and_lsn(void **state)
{
	(void)state;
	assert_int_equal(ctl_lag_mb(0), 0);
	assert_int_equal(ctl_lag_mb(524287), 0);
	assert_int_equal(ctl_lag_mb(524288), 1);
	assert_int_equal(ctl_lag_mb(3 * 1048576ull), 3);
	char *l = ctl_lsn_text(0x16B374D848ull);
	assert_string_equal(l, "16/B374D848");
	free(l);
	l = ctl_lsn_text(0);
	assert_string_equal(l, "0/0");
	free(l);
}

static void expect_yaml(const char *json, const char *want)
{
	char *err = NULL;
	char *got = ctl_json_to_yaml(json, &err);
	if (!got || strcmp(got, want) != 0) {
		print_error("%s:\ngot:\n%s\nwant:\n%s\n", json, got ? got : err, want);
		free(got);
		free(err);
		fail();
	}
	free(got);
}

static void test_json_to_yaml(void **state)
{
	(void)state;
	expect_yaml("{\"ttl\":30,\"loop_wait\":10,\"postgresql\":{\"use_pg_rewind\":true,"
	            "\"parameters\":{\"max_connections\":100,\"wal_level\":\"replica\","
	            "\"shared_buffers\":\"128MB\"}},\"pause\":false,\"x\":null,\"e\":{},"
	            "\"l\":[1,\"a\",{\"k\":\"v\",\"j\":2},[]]}",
	            "e: {}\n"
	            "l:\n"
	            "  - 1\n"
	            "  - a\n"
	            "  - j: 2\n"
	            "    k: v\n"
	            "  - []\n"
	            "loop_wait: 10\n"
	            "pause: false\n"
	            "postgresql:\n"
	            "  parameters:\n"
	            "    max_connections: 100\n"
	            "    shared_buffers: \"128MB\"\n"
	            "    wal_level: replica\n"
	            "  use_pg_rewind: true\n"
	            "ttl: 30\n"
	            "x: null\n");
	/* Strings YAML would read as something else are quoted. */
	expect_yaml("{\"a\":\"true\",\"b\":\"10\",\"c\":\"\",\"d\":\"x: y\",\"f\":\"#c\","
	            "\"g\":\"line\\nbreak\",\"h\":\"off\"}",
	            "a: \"true\"\nb: \"10\"\nc: \"\"\nd: \"x: y\"\nf: \"#c\"\n"
	            "g: \"line\\nbreak\"\nh: \"off\"\n");
	expect_yaml("42", "42\n");
	char *err = NULL;
	assert_null(ctl_json_to_yaml("{nope", &err));
	assert_non_null(err);
	free(err);
}

static void test_tags_line(void **state)
{
	(void)state;
	char *s = ctl_tags_line("{\"nofailover\":true,\"clonefrom\":true,\"zone\":\"a\"}");
	assert_string_equal(s, "clonefrom: true, nofailover: true, zone: a");
	free(s);
	s = ctl_tags_line(NULL);
	assert_string_equal(s, "");
	free(s);
	s = ctl_tags_line("[1,2]");
	assert_string_equal(s, "");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table_basic),
	    cmocka_unit_test(test_table_long_title_and_empty),
	    cmocka_unit_test(test_table_hostile_and_utf8),
	    cmocka_unit_test(test_url_host_port),
	    cmocka_unit_test(test_url_with_path),
	    cmocka_unit_test(test_safe_text),
	    cmocka_unit_test(test_printf_is_safe),
	    cmocka_unit_test(test_lag_and_lsn),
	    cmocka_unit_test(test_json_to_yaml),
	    cmocka_unit_test(test_tags_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
