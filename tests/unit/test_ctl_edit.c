/* Unit tests for src/tandemctl/ctl_edit.h: dotted assignments into a patch, merging, the patch
 * between two configurations, YAML read as PyYAML reads it, and unified diffs. */
#include "testutil.h"

#include "ctl_edit.h"
#include "ctl_table.h"
#include "dyn_config.h"

static json_t *jparse(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
	if (!j)
		print_error("not JSON: %s: %s\n", je.text, text);
	assert_non_null(j);
	return j;
}

static void expect_json(json_t *got, const char *want)
{
	json_t *w = jparse(want);
	if (!json_equal(got, w)) {
		char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
		print_error("got  %s\nwant %s\n", g, want);
		free(g);
		fail();
	}
	json_decref(w);
}

static void test_assign(void **state)
{
	(void)state;
	json_t *p = json_object();
	char *err = NULL;
	assert_int_equal(ctl_patch_assign(p, NULL, "ttl=6", &err), 0);
	assert_int_equal(ctl_patch_assign(p, NULL, "postgresql.parameters.work_mem=8MB", &err), 0);
	assert_int_equal(ctl_patch_assign(p, "postgresql.parameters", "max_connections=200", &err),
	                 0);
	assert_int_equal(ctl_patch_assign(p, NULL, "pause=true", &err), 0);
	assert_int_equal(ctl_patch_assign(p, NULL, "maximum_lag_on_failover=null", &err), 0);
	assert_int_equal(ctl_patch_assign(p, NULL, "tags={\"a\":[1,2]}", &err), 0);
	assert_int_equal(ctl_patch_assign(p, NULL, "s=\"42\"", &err), 0);
	assert_int_equal(ctl_patch_assign(p, NULL, "empty=", &err), 0);
	assert_int_equal(ctl_patch_assign(p, NULL, "eq=a=b", &err), 0);
	assert_int_equal(ctl_patch_assign(p, NULL, "ratio=0.5", &err), 0);
	expect_json(p, "{\"ttl\":6,\"pause\":true,\"maximum_lag_on_failover\":null,"
	               "\"postgresql\":{\"parameters\":{\"work_mem\":\"8MB\","
	               "\"max_connections\":200}},\"tags\":{\"a\":[1,2]},\"s\":\"42\","
	               "\"empty\":\"\",\"eq\":\"a=b\",\"ratio\":0.5}");
	/* a later assignment wins, also over a scalar in the way */
	assert_int_equal(ctl_patch_assign(p, NULL, "ttl=7", &err), 0);
	assert_int_equal(ctl_patch_assign(p, NULL, "pause.deep=1", &err), 0);
	assert_int_equal(json_integer_value(json_object_get(p, "ttl")), 7);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(p, "pause"), "deep")),
	                 1);
	json_decref(p);

	static const struct {
		const char *prefix, *text, *says;
	} bad[] = {
	    {NULL, "ttl", "KEY=VALUE"},
	    {NULL, "=5", "empty part"},
	    {NULL, ".a=5", "empty part"},
	    {NULL, "a..b=5", "empty part"},
	    {NULL, "a.=5", "empty part"},
	    {"postgresql.parameters", "a.b=1", "no dots"},
	    {"postgresql.parameters", "work_mem", "KEY=VALUE"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		p = json_object();
		assert_int_equal(ctl_patch_assign(p, bad[i].prefix, bad[i].text, &err), -1);
		assert_non_null(err);
		if (!strstr(err, bad[i].says))
			print_error("%s: %s\n", bad[i].text, err);
		assert_non_null(strstr(err, bad[i].says));
		free(err);
		err = NULL;
		json_decref(p);
	}
}

static void test_merge_and_between(void **state)
{
	(void)state;
	json_t *base = jparse("{\"ttl\":30,\"loop_wait\":10,\"postgresql\":{\"use_pg_rewind\":true,"
	                      "\"parameters\":{\"work_mem\":\"4MB\",\"max_connections\":100}},"
	                      "\"x\":1}");
	json_t *patch =
	    jparse("{\"ttl\":20,\"x\":null,\"nothere\":null,\"postgresql\":"
	           "{\"parameters\":{\"work_mem\":\"8MB\",\"max_connections\":null,"
	           "\"shared_buffers\":\"1GB\"}},\"new\":{\"a\":{\"b\":null,\"c\":1}}}");
	json_t *m = dyn_config_merge(base, patch);
	expect_json(m, "{\"ttl\":20,\"loop_wait\":10,\"postgresql\":{\"use_pg_rewind\":true,"
	               "\"parameters\":{\"work_mem\":\"8MB\",\"shared_buffers\":\"1GB\"}},"
	               "\"new\":{\"a\":{\"c\":1}}}");
	/* base untouched */
	assert_int_equal(json_integer_value(json_object_get(base, "ttl")), 30);

	/* the patch between base and m turns base into m */
	json_t *between = ctl_config_patch_between(base, m);
	json_t *again = dyn_config_merge(base, between);
	assert_true(json_equal(again, m));
	expect_json(between, "{\"ttl\":20,\"x\":null,\"postgresql\":{\"parameters\":"
	                     "{\"work_mem\":\"8MB\",\"max_connections\":null,"
	                     "\"shared_buffers\":\"1GB\"}},\"new\":{\"a\":{\"c\":1}}}");
	json_decref(again);
	json_decref(between);
	/* equal: empty patch */
	between = ctl_config_patch_between(m, m);
	assert_int_equal(json_object_size(between), 0);
	json_decref(between);
	/* scalar to object and back */
	json_t *a = jparse("{\"k\":1}"), *b = jparse("{\"k\":{\"z\":2}}");
	between = ctl_config_patch_between(a, b);
	again = dyn_config_merge(a, between);
	assert_true(json_equal(again, b));
	json_decref(again);
	json_decref(between);
	between = ctl_config_patch_between(b, a);
	again = dyn_config_merge(b, between);
	assert_true(json_equal(again, a));
	json_decref(again);
	json_decref(between);
	json_decref(a);
	json_decref(b);
	json_decref(m);
	json_decref(patch);
	json_decref(base);
}

static void test_yaml(void **state)
{
	(void)state;
	static const char doc[] = "ttl: 30\n"
	                          "pause: on\n"
	                          "ratio: 1.5\n"
	                          "neg: -3\n"
	                          "name: '007'\n"
	                          "plain: 8MB\n"
	                          "none: ~\n"
	                          "empty:\n"
	                          "quoted_true: \"true\"\n"
	                          "oct: 010x\n"
	                          "postgresql:\n"
	                          "  parameters:\n"
	                          "    work_mem: 8MB\n"
	                          "    wal_log_hints: 'on'\n"
	                          "  pg_hba:\n"
	                          "  - host all all 0.0.0.0/0 md5\n"
	                          "  - local all all trust\n"
	                          "flow: {a: 1, b: [x, 2]}\n";
	char *err = NULL;
	json_t *j = ctl_yaml_to_json(doc, strlen(doc), "f.yml", &err);
	assert_non_null(j);
	expect_json(j, "{\"ttl\":30,\"pause\":true,\"ratio\":1.5,\"neg\":-3,\"name\":\"007\","
	               "\"plain\":\"8MB\",\"none\":null,\"empty\":null,\"quoted_true\":\"true\","
	               "\"oct\":\"010x\",\"postgresql\":{\"parameters\":{\"work_mem\":\"8MB\","
	               "\"wal_log_hints\":\"on\"},\"pg_hba\":[\"host all all 0.0.0.0/0 md5\","
	               "\"local all all trust\"]},\"flow\":{\"a\":1,\"b\":[\"x\",2]}}");
	/* JSON is YAML */
	json_t *k = ctl_yaml_to_json("{\"ttl\": 30, \"a\": [1, \"2\"]}", 26, "j", &err);
	assert_non_null(k);
	expect_json(k, "{\"ttl\":30,\"a\":[1,\"2\"]}");
	json_decref(k);
	/* the YAML tandemctl shows reads back as the same JSON */
	char *text = json_dumps(j, JSON_COMPACT);
	char *yaml = ctl_json_to_yaml(text, &err);
	assert_non_null(yaml);
	k = ctl_yaml_to_json(yaml, strlen(yaml), "shown", &err);
	if (!k || !json_equal(j, k))
		print_error("round trip of\n%s\n", yaml);
	assert_true(k && json_equal(j, k));
	json_decref(k);
	free(yaml);
	free(text);
	json_decref(j);

	static const struct {
		const char *text, *says;
	} bad[] = {
	    {"a: [1, 2\n", "f.yml:"},
	    {"a: 1\na: 2\n", "f.yml:2: key 'a' given twice"},
	    {"", "empty"},
	    {"a: 1\n---\nb: 2\n", "more than one document"},
	    {"? [1]\n: 2\n", "plain value"},
	    {"a: b: c\n", "f.yml:1"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		j = ctl_yaml_to_json(bad[i].text, strlen(bad[i].text), "f.yml", &err);
		if (j || !err || !strstr(err, bad[i].says))
			print_error("case %zu: %s\n", i, err ? err : "(accepted)");
		assert_null(j);
		assert_non_null(err);
		assert_non_null(strstr(err, bad[i].says));
		free(err);
		err = NULL;
	}
}

static void expect_diff(const char *a, const char *b, const char *want)
{
	char *got = ctl_unified_diff(a, b, "old", "new");
	if (strcmp(got, want) != 0)
		print_error("got:\n%s\nwant:\n%s\n", got, want);
	assert_string_equal(got, want);
	free(got);
}

static void test_diff(void **state)
{
	(void)state;
	expect_diff("a\nb\n", "a\nb\n", "");
	expect_diff("", "", "");
	expect_diff("a\nb\nc\n", "a\nB\nc\n",
	            "--- old\n+++ new\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
	expect_diff("", "x\ny\n", "--- old\n+++ new\n@@ -0,0 +1,2 @@\n+x\n+y\n");
	expect_diff("x\n", "", "--- old\n+++ new\n@@ -1 +0,0 @@\n-x\n");
	/* context of 3; far-apart changes make two hunks, near ones one */
	expect_diff("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n",
	            "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n",
	            "--- old\n+++ new\n@@ -10,3 +10,4 @@\n 10\n 11\n 12\n+13\n");
	expect_diff(
	    "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n",
	    "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\nX\n",
	    "--- old\n+++ new\n@@ -1,3 +1,4 @@\n+0\n 1\n 2\n 3\n@@ -13,4 +14,4 @@\n 13\n 14\n 15\n"
	    "-16\n+X\n");
	expect_diff("1\n2\n3\n4\n5\n6\n7\n8\n", "1\nA\n3\n4\n5\n6\n7\nB\n",
	            "--- old\n+++ new\n@@ -1,8 +1,8 @@\n 1\n-2\n+A\n 3\n 4\n 5\n 6\n 7\n-8\n+B\n");
	/* a line inserted in a config's YAML */
	expect_diff(
	    "loop_wait: 10\npostgresql:\n  parameters:\n    max_connections: 100\nttl: 30\n",
	    "loop_wait: 10\npostgresql:\n  parameters:\n    max_connections: 100\n"
	    "    work_mem: 8MB\nttl: 30\n",
	    "--- old\n+++ new\n@@ -2,4 +2,5 @@\n postgresql:\n   parameters:\n"
	    "     max_connections: 100\n+    work_mem: 8MB\n ttl: 30\n");
	/* no final newline */
	expect_diff("a", "b", "--- old\n+++ new\n@@ -1 +1 @@\n-a\n+b\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_assign),
	    cmocka_unit_test(test_merge_and_between),
	    cmocka_unit_test(test_yaml),
	    cmocka_unit_test(test_diff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
