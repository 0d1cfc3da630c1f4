/* Unit tests for src/lib/log.h's log file: lines go to it, it is rotated by size keeping
 * `keep` older files, and a symbolic link planted at its name is not followed. */
#include "testutil.h"

#include <errno.h>
#include <sys/stat.h>

#include <jansson.h>

#include "log.h"

static char *dir_new(void)
{
	char tmpl[] = "/tmp/tandem-test-log-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	return xstrdup(tmpl);
}

static long long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *buf = calloc(1, 1 << 16);
	size_t n = fread(buf, 1, (1 << 16) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* The number after the last "line " in `text`. */
static int last_number(const char *text)
{
	const char *last = NULL;
	for (const char *p = strstr(text, "line "); p; p = strstr(p + 1, "line "))
		last = p;
	assert_non_null(last);
	return atoi(last + 5);
}

static void rm_all(const char *dir, int keep)
{
	for (int i = 0; i <= keep + 1; i++) {
		char *p = i ? xasprintf("%s/t.log.%d", dir, i) : xasprintf("%s/t.log", dir);
		unlink(p);
		free(p);
	}
}

static void test_rotation(void **state)
{
	(void)state;
	char *dir = dir_new();
	char *path = xasprintf("%s/t.log", dir);
	char *err = NULL;
	assert_int_equal(log_to_file(path, 1000, 2, &err), 0);
	log_set_context("rot");
	/* Each line is about 100 bytes: 60 of them fill the file and two rotated ones many times.
	 */
	for (int i = 0; i < 60; i++)
		log_info("line %03d %s", i,
		         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	log_to_stderr();
	char *p1 = xasprintf("%s.1", path), *p2 = xasprintf("%s.2", path),
	     *p3 = xasprintf("%s.3", path);
	assert_true(file_size(path) > 0 && file_size(path) <= 1000);
	assert_true(file_size(p1) > 900 && file_size(p1) <= 1000);
	assert_true(file_size(p2) > 900 && file_size(p2) <= 1000);
	assert_int_equal(file_size(p3), -1); /* only `keep` old files */
	char *cur = slurp(path), *old1 = slurp(p1), *old2 = slurp(p2);
	assert_contains(cur, "line 059");
	assert_contains(cur, "info [rot] line");
	assert_not_contains(cur, "line 000");
	/* The newest lines in the file, older ones in .1, older still in .2, in order. */
	int last_in_2 = last_number(old2);
	int first_in_1 = atoi(strstr(old1, "line ") + 5);
	int first_in_cur = atoi(strstr(cur, "line ") + 5);
	assert_true(last_in_2 < first_in_1 && first_in_1 < first_in_cur);
	free(cur);
	free(old1);
	free(old2);
	rm_all(dir, 2);
	free(p1);
	free(p2);
	free(p3);
	free(path);
	rmdir(dir);
	free(dir);
}

/* keep 0: a full file starts afresh; nothing is kept beside it. */
static void test_keep_none(void **state)
{
	(void)state;
	char *dir = dir_new();
	char *path = xasprintf("%s/t.log", dir);
	char *err = NULL;
	assert_int_equal(log_to_file(path, 500, 0, &err), 0);
	for (int i = 0; i < 30; i++)
		log_warning("again %02d ................................................", i);
	log_to_stderr();
	char *p1 = xasprintf("%s.1", path);
	assert_true(file_size(path) <= 500);
	assert_int_equal(file_size(p1), -1);
	char *cur = slurp(path);
	assert_contains(cur, "again 29");
	free(cur);
	rm_all(dir, 1);
	free(p1);
	free(path);
	rmdir(dir);
	free(dir);
}

static void test_symlink_refused(void **state)
{
	(void)state;
	char *dir = dir_new();
	char *path = xasprintf("%s/t.log", dir);
	char *target = xasprintf("%s/elsewhere", dir);
	assert_int_equal(symlink(target, path), 0);
	char *err = NULL;
	assert_int_equal(log_to_file(path, 0, 1, &err), -1);
	assert_contains(err, path);
	free(err);
	assert_int_equal(file_size(target), -1);
	unlink(path);
	free(target);
	free(path);
	rmdir(dir);
	free(dir);
}

/* The JSON line of one event, parsed (the test fails when it is not one object on one line). */
static json_t *json_line(const char *ctx, const char *msg)
{
	strbuf out = STRBUF_INIT;
	log_format_json(&out, "2026-01-02T03:04:05.678Z", "warning", ctx, msg);
	assert_true(out.len > 0 && out.data[out.len - 1] == '\n');
	assert_null(memchr(out.data, '\n', out.len - 1));
	json_error_t je;
	json_t *j = json_loadb(out.data, out.len - 1, 0, &je);
	if (!json_is_object(j))
		fail_msg("not a JSON object (%s): %s", je.text, out.data);
	sb_free(&out);
	return j;
}

static const char *jget(json_t *j, const char *key)
{
	return json_string_value(json_object_get(j, key));
}

static void test_json_fields_and_escaping(void **state)
{
	(void)state;
	const char *msg = "peer \"10.0.0.1\" said a\\b\nforged line\r\x01\t caf\xc3\xa9";
	json_t *j = json_line("pg1", msg);
	assert_string_equal(jget(j, "time"), "2026-01-02T03:04:05.678Z");
	assert_string_equal(jget(j, "level"), "warning");
	assert_string_equal(jget(j, "context"), "pg1");
	assert_string_equal(jget(j, "message"), msg); /* exactly, newline included */
	assert_int_equal(json_object_size(j), 4);
	json_decref(j);

	/* Bytes that are not UTF-8 (a lone continuation, an overlong form, a surrogate, a cut
	 * sequence) become U+FFFD, and the line stays valid JSON. */
	j = json_line("pg1", "a\x80"
	                     "b\xc0\xaf"
	                     "c\xed\xa0\x80"
	                     "d\xe2\x82");
	assert_string_equal(jget(j, "message"), "a\xef\xbf\xbd"
	                                        "b\xef\xbf\xbd\xef\xbf\xbd"
	                                        "c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	                                        "d\xef\xbf\xbd\xef\xbf\xbd");
	json_decref(j);
}

static void test_json_context_keys(void **state)
{
	(void)state;
	json_t *j = json_line("hellod worker=1", "ready");
	assert_string_equal(jget(j, "context"), "hellod");
	assert_string_equal(jget(j, "worker"), "1");
	json_decref(j);
	/* A context word cannot replace a fixed key; an empty context is "main". */
	j = json_line("level=error x=\"y\"", "m");
	assert_string_equal(jget(j, "level"), "warning");
	assert_string_equal(jget(j, "context"), "level=error");
	assert_string_equal(jget(j, "x"), "\"y\"");
	json_decref(j);
	j = json_line("", "m");
	assert_string_equal(jget(j, "context"), "main");
	json_decref(j);
}

/* log_set_json switches every line of the process; plain lines stay the default. */
static void test_json_lines_written(void **state)
{
	(void)state;
	char *dir = dir_new();
	char *path = xasprintf("%s/t.log", dir);
	char *err = NULL;
	assert_int_equal(log_to_file(path, 0, 0, &err), 0);
	log_set_context("pg9");
	log_warning("plain one");
	log_set_json(true);
	log_warning("json \"two\"");
	log_set_json(false);
	log_to_stderr();
	log_set_context(NULL);
	char *text = slurp(path);
	char *second = strchr(text, '\n');
	assert_non_null(second);
	*second++ = '\0';
	assert_contains(text, " warning [pg9] plain one");
	json_error_t je;
	json_t *j = json_loads(second, 0, &je);
	assert_true(json_is_object(j));
	assert_string_equal(jget(j, "message"), "json \"two\"");
	assert_string_equal(jget(j, "context"), "pg9");
	assert_string_equal(jget(j, "level"), "warning");
	json_decref(j);
	free(text);
	rm_all(dir, 0);
	free(path);
	rmdir(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rotation),
	    cmocka_unit_test(test_keep_none),
	    cmocka_unit_test(test_symlink_refused),
	    cmocka_unit_test(test_json_fields_and_escaping),
	    cmocka_unit_test(test_json_context_keys),
	    cmocka_unit_test(test_json_lines_written),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
