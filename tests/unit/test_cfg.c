/* Unit tests for src/lib/cfg.h and src/lib/cfg_yaml.h: the parsers of values, cfg_set_text,
 * cfg_find, cfg_format, cfg_differs, the help text, and cfg_yaml_parse on its own. Loading is
 * tested in test_cfg_load.c, maps and the other table features in test_cfg_map.c. */
#include "cfg_fixture.h"
#include "cfg_yaml.h"

/* ---- cfg_yaml_parse on its own ---- */

static void test_yaml_entries(void **state)
{
	(void)state;
	static const char text[] = "a: 1\n"
	                           "b:\n"
	                           "  c: x y\n"
	                           "  d: [p, q]\n"
	                           "  e:\n"
	                           "    f: deep\n"
	                           "g:\n"
	                           "h:\n"
	                           "  - one\n"
	                           "  -\n"
	                           "i: ~\n"
	                           "j: null\n"
	                           "k: \"~\"\n";
	cfg_doc doc;
	char *err = NULL;
	assert_int_equal(cfg_yaml_parse(text, strlen(text), "t.yaml", &doc, &err), 0);
	assert_null(err);
	assert_int_equal(doc.n, 9);
	static const struct {
		const char *key;
		int line;
		bool seq;
		size_t n;
		const char *v0, *v1;
	} want[] = {
	    {"a", 1, false, 1, "1", NULL},   {"b.c", 3, false, 1, "x y", NULL},
	    {"b.d", 4, true, 2, "p", "q"},   {"b.e.f", 6, false, 1, "deep", NULL},
	    {"g", 7, false, 1, NULL, NULL},  {"h", 8, true, 2, "one", ""},
	    {"i", 11, false, 1, NULL, NULL}, {"j", 12, false, 1, NULL, NULL},
	    {"k", 13, false, 1, "~", NULL},
	};
	for (size_t i = 0; i < doc.n; i++) {
		const cfg_entry *e = &doc.entries[i];
		assert_string_equal(e->key, want[i].key);
		assert_int_equal(e->line, want[i].line);
		assert_int_equal(e->is_sequence, want[i].seq);
		assert_int_equal(e->nvalues, want[i].n);
		if (want[i].v0)
			assert_string_equal(e->values[0], want[i].v0);
		else
			assert_null(e->values[0]);
		if (want[i].n > 1)
			assert_string_equal(e->values[1], want[i].v1);
	}
	cfg_doc_free(&doc);
	assert_int_equal(doc.n, 0);
	assert_null(doc.entries);
}

static void yaml_fails(const char *text, const char *part1, const char *part2)
{
	cfg_doc doc;
	char *err = NULL;
	if (cfg_yaml_parse(text, strlen(text), "t.yaml", &doc, &err) == 0) {
		print_error("accepted: %s\n", text);
		cfg_doc_free(&doc);
		fail();
	}
	assert_non_null(err);
	assert_contains(err, part1);
	if (part2)
		assert_contains(err, part2);
	free(err);
	/* Nothing is left behind. */
	assert_int_equal(doc.n, 0);
	assert_null(doc.entries);
}

static void test_yaml_errors(void **state)
{
	(void)state;
	yaml_fails("a: 1\nb: 2\na: 3\n", "t.yaml:3:", "key 'a' appears twice (first on line 1)");
	yaml_fails("x:\n  y: 1\nx.y: 2\n", "t.yaml:3:", "'x.y' appears twice");
	yaml_fails("a: [1, 2\nb: 3\n", "t.yaml:", "invalid YAML");
	yaml_fails("a: b: c\n", "t.yaml:1:", "invalid YAML");
	yaml_fails("a: 1\n\"b: 2\n", "t.yaml:", "invalid YAML");
	yaml_fails("- a\n", "t.yaml:1:", "must be a mapping");
	yaml_fails("just text\n", "t.yaml:1:", "must be a mapping");
	yaml_fails("a: 1\n---\nb: 2\n", "t.yaml:2:", "only one YAML document");
	yaml_fails("a: &x 1\nb: *x\n", "t.yaml:2:", "aliases");
	yaml_fails("a:\n  - [1]\n", "t.yaml:2:", "list items must be plain values");
	yaml_fails("a:\n  - {b: 1}\n", "t.yaml:2:", "list items must be plain values");
	yaml_fails("? [a]\n: 1\n", "t.yaml:1:", "keys must be plain names");
	yaml_fails("'': 1\n", "t.yaml:1:", "keys must be plain names");

	/* Too deep. */
	char deep[2048] = "";
	size_t len = 0;
	for (int i = 0; i < 20; i++) {
		for (int j = 0; j < i * 2; j++)
			deep[len++] = ' ';
		len += (size_t)snprintf(deep + len, sizeof deep - len, "k%d:\n", i);
	}
	yaml_fails(deep, "t.yaml", "nesting deeper");
}

static void test_yaml_read_file(void **state)
{
	(void)state;
	cfg_doc doc;
	char *err = NULL;
	assert_int_equal(cfg_yaml_read_file("/nonexistent/x.yaml", &doc, &err), -1);
	assert_contains(err, "/nonexistent/x.yaml: cannot open");
	free(err);
	err = NULL;

	char *path = tu_temp_file("a: 1\nb:\n  c: 2\n");
	assert_int_equal(cfg_yaml_read_file(path, &doc, &err), 0);
	assert_int_equal(doc.n, 2);
	assert_string_equal(doc.entries[1].key, "b.c");
	assert_string_equal(doc.entries[1].values[0], "2");
	assert_int_equal(doc.entries[1].line, 3);
	cfg_doc_free(&doc);
	tu_remove_file(path);

	path = tu_temp_file("a: [1\n");
	assert_int_equal(cfg_yaml_read_file(path, &doc, &err), -1);
	assert_contains(err, path);
	free(err);
	tu_remove_file(path);
}

/* ---- parsers ---- */

static void test_parse_duration(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		long long ms;
	} ok[] = {
	    {"250ms", 250},   {"10s", 10000},  {"2m", 120000},
	    {"2min", 120000}, {"1h", 3600000}, {"5", 5000},
	    {"0", 0},         {"0ms", 0},      {"9223372036854775807ms", 9223372036854775807LL},
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		long long v = -42;
		if (cfg_parse_duration_ms(ok[i].s, &v) != 0) {
			print_error("duration '%s' rejected\n", ok[i].s);
			fail();
		}
		assert_true(v == ok[i].ms);
	}
	static const char *const bad[] = {
	    "",
	    "-1",
	    "10x",
	    "ms",
	    "1.5s",
	    " 1s",
	    "1s ",
	    "1 s",
	    "+1s",
	    "1S",
	    "1H",
	    "1sec",
	    "1hh",
	    "s1",
	    "1ms1",
	    "0x10",
	    "9223372036854775807",
	    "99999999999999999999ms",
	    "9223372036854775807s",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		long long v = -42;
		if (cfg_parse_duration_ms(bad[i], &v) == 0) {
			print_error("duration '%s' accepted as %lld\n", bad[i], v);
			fail();
		}
		assert_true(v == -42); /* untouched */
	}
}

static void test_parse_size(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		long long b;
	} ok[] = {
	    {"512", 512},     {"0", 0},          {"4k", 4096},   {"4K", 4096},
	    {"4KB", 4096},    {"4kB", 4096},     {"4KiB", 4096}, {"1M", 1048576},
	    {"1MB", 1048576}, {"1MiB", 1048576}, {"16k", 16384},
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		long long v = -42;
		if (cfg_parse_size(ok[i].s, &v) != 0) {
			print_error("size '%s' rejected\n", ok[i].s);
			fail();
		}
		assert_true(v == ok[i].b);
	}
	static const char *const bad[] = {"KiB", "",  "-1",   "4q",  "4 k", " 4k",
	                                  "4k ", "k", "1.5M", "+4k", "4kk", "9223372036854775807k"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		long long v = -42;
		if (cfg_parse_size(bad[i], &v) == 0) {
			print_error("size '%s' accepted as %lld\n", bad[i], v);
			fail();
		}
		assert_true(v == -42);
	}
}

static void test_parse_bool(void **state)
{
	(void)state;
	static const char *const yes[] = {"true", "yes", "on", "1", "TRUE", "Yes", "ON"};
	static const char *const no[] = {"false", "no", "off", "0", "FALSE", "No", "oFF"};
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		bool b = false;
		assert_int_equal(cfg_parse_bool(yes[i], &b), 0);
		assert_true(b);
		b = true;
		assert_int_equal(cfg_parse_bool(no[i], &b), 0);
		assert_false(b);
	}
	static const char *const bad[] = {"", "2", "truee", "y", "n", " true", "true ", "of"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		bool b = true;
		assert_int_equal(cfg_parse_bool(bad[i], &b), -1);
	}
}

/* ---- cfg_set_text, cfg_find, cfg_format, cfg_differs, help ---- */

static void test_set_text(void **state)
{
	(void)state;
	tset s;
	memset(&s, 0, sizeof s);
	char *err = NULL;
	const cfg_option *count = cfg_find(&table, "count");
	assert_non_null(count);
	assert_int_equal(cfg_set_text(count, &s, "4", "somewhere", &err), 0);
	assert_int_equal(s.count, 4);
	assert_int_equal(cfg_set_text(count, &s, "x", "somewhere", &err), -1);
	assert_string_equal(err, "somewhere: count: 'x' is not a whole number");
	assert_int_equal(s.count, 4); /* unchanged on error */
	free(err);
	err = NULL;
	assert_int_equal(cfg_set_text(count, &s, "11", "somewhere", &err), -1);
	assert_int_equal(s.count, 4);
	free(err);
	err = NULL;

	const cfg_option *name = cfg_find(&table, "name");
	assert_int_equal(cfg_set_text(name, &s, "one", "here", &err), 0);
	assert_int_equal(cfg_set_text(name, &s, "two", "here", &err), 0); /* frees "one" */
	assert_string_equal(s.name, "two");
	assert_int_equal(cfg_set_text(name, &s, "forbidden", "here", &err), -1);
	assert_contains(err, "here: name");
	assert_string_equal(s.name, "two");
	free(err);
	err = NULL;
	assert_int_equal(cfg_set_text(name, &s, NULL, "here", &err), 0);
	assert_null(s.name);

	const cfg_option *tags = cfg_find(&table, "tags");
	assert_int_equal(cfg_set_text(tags, &s, "a,b", "here", &err), 0);
	assert_int_equal(cfg_set_text(tags, &s, "c", "here", &err), 0); /* replaces */
	ASSERT_LIST(&s.tags, "c");
	assert_int_equal(cfg_set_text(tags, &s, "bad", "here", &err), -1);
	ASSERT_LIST(&s.tags, "c");
	free(err);
	cfg_free(&table, &s);
}

static void test_find(void **state)
{
	(void)state;
	assert_ptr_equal(cfg_find(&table, "count"), &options[3]);
	assert_ptr_equal(cfg_find(&table, "db.port"), &options[10]);
	assert_ptr_equal(cfg_find(&table, "opt-in"), &options[11]);
	assert_null(cfg_find(&table, "nosuch"));
	assert_null(cfg_find(&table, ""));
	assert_null(cfg_find(&table, "db"));
	assert_null(cfg_find(&table, "COUNT"));
}

static char *format(const char *opt, const tset *s)
{
	const cfg_option *o = cfg_find(&table, opt);
	assert_non_null(o);
	return cfg_format(o, s);
}

static void assert_format(const char *opt, const tset *s, const char *want)
{
	char *got = format(opt, s);
	assert_string_equal(got, want);
	free(got);
}

static void test_format_values(void **state)
{
	(void)state;
	tset s;
	load_ok(&s, NOARGS, NOENV);
	assert_format("name", &s, "anon");
	assert_format("tags", &s, "a,b");
	assert_format("count", &s, "3");
	assert_format("timeout", &s, "10s");
	assert_format("size", &s, "4096");
	assert_format("verbose", &s, "false");
	assert_format("opt-in", &s, "");
	assert_format("interval", &s, "0s");

	static const struct {
		long long ms;
		const char *text;
	} durations[] = {
	    {250, "250ms"}, {1000, "1s"},    {1500, "1500ms"}, {10000, "10s"},    {90000, "90s"},
	    {120000, "2m"}, {3600000, "1h"}, {5400000, "90m"}, {86400000, "24h"}, {1, "1ms"},
	};
	for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
		s.interval = durations[i].ms;
		assert_format("interval", &s, durations[i].text);
	}
	cfg_free(&table, &s);
}

static void test_format_round_trip(void **state)
{
	(void)state;
	tfile f = yaml_file(full_yaml());
	tset a;
	load_ok(&a, ARGV(f.flag, "--offset=-17", "--interval=1500ms", "--tags=p,q,r"), NOENV);
	tset b;
	load_ok(&b, NOARGS, NOENV);
	for (size_t i = 0; i < table.n; i++) {
		const cfg_option *o = &options[i];
		char *text = cfg_format(o, &a);
		char *err = NULL;
		if (cfg_set_text(o, &b, text, "round trip", &err) != 0) {
			print_error("%s: '%s' does not parse back: %s\n", o->name, text, err);
			fail();
		}
		if (cfg_differs(o, &a, &b)) {
			print_error("%s: '%s' does not round-trip\n", o->name, text);
			fail();
		}
		free(text);
	}
	assert_int_equal(b.count, 7);
	assert_true(b.offset == -17);
	assert_int_equal(b.interval, 1500);
	assert_int_equal(b.timeout, 250);
	assert_int_equal(b.size, 1048576);
	assert_true(b.verbose);
	ASSERT_LIST(&b.tags, "p", "q", "r");
	assert_string_equal(b.db_host, "db.example");
	cfg_free(&table, &a);
	cfg_free(&table, &b);
	tu_remove_file(f.path);
}

/* Every type's value moves whole between two structs, and back. */
static void test_swap_value(void **state)
{
	(void)state;
	tfile f = yaml_file(full_yaml());
	tset a;
	load_ok(&a, ARGV(f.flag, "--offset=-17", "--interval=1500ms", "--tags=p,q,r"), NOENV);
	tset b;
	load_ok(&b, NOARGS, NOENV);
	for (size_t i = 0; i < table.n; i++) {
		const cfg_option *o = &options[i];
		char *before_a = cfg_format(o, &a), *before_b = cfg_format(o, &b);
		cfg_swap_value(o, &a, &b);
		char *after_a = cfg_format(o, &a), *after_b = cfg_format(o, &b);
		assert_string_equal(after_a, before_b);
		assert_string_equal(after_b, before_a);
		free(before_a);
		free(before_b);
		free(after_a);
		free(after_b);
	}
	assert_int_equal(b.interval, 1500);
	ASSERT_LIST(&b.tags, "p", "q", "r");
	cfg_free(&table, &a);
	cfg_free(&table, &b);
	tu_remove_file(f.path);
}

static void test_differs(void **state)
{
	(void)state;
	tset a, b;
	load_ok(&a, NOARGS, NOENV);
	load_ok(&b, NOARGS, NOENV);
	for (size_t i = 0; i < table.n; i++)
		assert_false(cfg_differs(&options[i], &a, &b));
	b.count = 4;
	b.verbose = true;
	assert_true(cfg_differs(cfg_find(&table, "count"), &a, &b));
	assert_true(cfg_differs(cfg_find(&table, "verbose"), &a, &b));
	assert_false(cfg_differs(cfg_find(&table, "size"), &a, &b));
	cfg_free(&table, &b);
	load_ok(&b, ARGV("--tags=a,b,c", "--name=x"), NOENV);
	assert_true(cfg_differs(cfg_find(&table, "tags"), &a, &b));
	assert_true(cfg_differs(cfg_find(&table, "name"), &a, &b));
	cfg_free(&table, &a);
	cfg_free(&table, &b);
}

static void test_help(void **state)
{
	(void)state;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	cfg_print_help(&table, f);
	assert_int_equal(fclose(f), 0);
	assert_contains(text, "--count N");
	assert_contains(text, "a bounded number");
	assert_contains(text, "env TEST_COUNT; default 3; needs a restart to change)");
	assert_contains(text, "env TEST_DB_PORT; default 5432)");
	assert_contains(text, "env TEST_OPT_IN)");
	assert_contains(text, "--db.host HOST");
	assert_contains(text, "env TEST_CONFIG; needs a restart to change)");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_yaml_entries),   cmocka_unit_test(test_yaml_errors),
	    cmocka_unit_test(test_yaml_read_file), cmocka_unit_test(test_parse_duration),
	    cmocka_unit_test(test_parse_size),     cmocka_unit_test(test_parse_bool),
	    cmocka_unit_test(test_set_text),       cmocka_unit_test(test_find),
	    cmocka_unit_test(test_format_values),  cmocka_unit_test(test_format_round_trip),
	    cmocka_unit_test(test_differs),        cmocka_unit_test(test_swap_value),
	    cmocka_unit_test(test_help),
	};
	return cmocka_run_group_tests_name("cfg", tests, NULL, NULL);
}
