/* Unit tests for cfg_load (src/lib/cfg.h) with a small option table of every type: defaults,
 * YAML files, environment, flags, their precedence and the error messages. */
#include "cfg_fixture.h"

/* ---- defaults and sources ---- */

static void test_defaults(void **state)
{
	(void)state;
	tset s;
	load_ok(&s, NOARGS, NOENV);
	assert_null(s.config);
	assert_string_equal(s.name, "anon");
	ASSERT_LIST(&s.tags, "a", "b");
	assert_int_equal(s.count, 3);
	assert_int_equal(s.offset, 0);
	assert_int_equal(s.timeout, 10000);
	assert_int_equal(s.interval, 0);
	assert_int_equal(s.size, 4096);
	assert_false(s.verbose);
	assert_string_equal(s.db_host, "localhost");
	assert_int_equal(s.db_port, 5432);
	assert_null(s.opt_in);
	cfg_free(&table, &s);
	/* cfg_free leaves an empty struct and can be called again. */
	assert_null(s.name);
	assert_null(s.db_host);
	assert_int_equal(s.tags.n, 0);
	assert_null(s.tags.v);
	cfg_free(&table, &s);
}

static void test_file_values(void **state)
{
	(void)state;
	tfile f = yaml_file(full_yaml());
	tset s;
	load_ok(&s, ARGV(f.flag), NOENV);
	assert_string_equal(s.config, f.path);
	assert_string_equal(s.name, "alice");
	ASSERT_LIST(&s.tags, "x", "y");
	assert_int_equal(s.count, 7);
	assert_int_equal(s.timeout, 250);
	assert_int_equal(s.size, 1048576);
	assert_true(s.verbose);
	assert_string_equal(s.db_host, "db.example");
	assert_int_equal(s.db_port, 6543);
	assert_string_equal(s.opt_in, "quoted: value");
	/* Options the file does not name keep their defaults. */
	assert_int_equal(s.offset, 0);
	cfg_free(&table, &s);

	/* "--config PATH" as two arguments. */
	load_ok(&s, ARGV("--config", f.path), NOENV);
	assert_string_equal(s.config, f.path);
	assert_int_equal(s.count, 7);
	cfg_free(&table, &s);

	/* The file named by the environment. */
	char env[160];
	snprintf(env, sizeof env, "TEST_CONFIG=%s", f.path);
	load_ok(&s, NOARGS, ENV(env));
	assert_string_equal(s.config, f.path);
	assert_int_equal(s.count, 7);
	cfg_free(&table, &s);
	tu_remove_file(f.path);
}

static void test_file_block_sequence_and_nulls(void **state)
{
	(void)state;
	tfile f = yaml_file("tags:\n"
	                    "  - one\n"
	                    "  - two, three\n"
	                    "name: \"\"\n"
	                    "opt-in: 'null'\n"
	                    "db:\n"
	                    "  host:\n");
	tset s;
	load_ok(&s, ARGV(f.flag), NOENV);
	/* Sequence items are taken whole, commas and all. */
	ASSERT_LIST(&s.tags, "one", "two, three");
	assert_string_equal(s.name, "");
	assert_string_equal(s.opt_in, "null");       /* quoted: text, not YAML's null */
	assert_string_equal(s.db_host, "localhost"); /* `key:` (null) means the default */
	cfg_free(&table, &s);
	tu_remove_file(f.path);

	f = yaml_file("tags: []\n");
	load_ok(&s, ARGV(f.flag), NOENV);
	assert_int_equal(s.tags.n, 0);
	cfg_free(&table, &s);
	tu_remove_file(f.path);

	f = yaml_file("tags:\n"); /* null: the default list, unlike [] */
	load_ok(&s, ARGV(f.flag), NOENV);
	assert_int_equal(s.tags.n, 2);
	cfg_free(&table, &s);
	tu_remove_file(f.path);
}

static void test_config_flag_beats_config_env(void **state)
{
	(void)state;
	tfile a = yaml_file("count: 4\n");
	tfile b = yaml_file("count: 6\n");
	char env[160];
	snprintf(env, sizeof env, "TEST_CONFIG=%s", a.path);
	tset s;
	load_ok(&s, ARGV(b.flag), ENV(env));
	assert_int_equal(s.count, 6);
	assert_string_equal(s.config, b.path);
	cfg_free(&table, &s);
	/* The last --config wins. */
	load_ok(&s, ARGV(a.flag, b.flag), NOENV);
	assert_int_equal(s.count, 6);
	cfg_free(&table, &s);
	tu_remove_file(a.path);
	tu_remove_file(b.path);
}

static void test_precedence(void **state)
{
	(void)state;
	tfile f = yaml_file("count: 7\nname: file\ntimeout: 1s\n");
	tset s;
	load_ok(&s, ARGV(f.flag), NOENV);
	assert_int_equal(s.count, 7);
	cfg_free(&table, &s);

	/* The environment beats the file. */
	load_ok(&s, ARGV(f.flag), ENV("TEST_COUNT=8", "TEST_NAME=env"));
	assert_int_equal(s.count, 8);
	assert_string_equal(s.name, "env");
	assert_int_equal(s.timeout, 1000); /* from the file */
	cfg_free(&table, &s);

	/* Flags beat the environment, whatever their place in argv. */
	load_ok(&s, ARGV("--count", "9", f.flag), ENV("TEST_COUNT=8", "TEST_NAME=env"));
	assert_int_equal(s.count, 9);
	assert_string_equal(s.name, "env");
	cfg_free(&table, &s);

	load_ok(&s, ARGV(f.flag, "--name=flag"), ENV("TEST_NAME=env"));
	assert_string_equal(s.name, "flag");
	assert_int_equal(s.count, 7);
	cfg_free(&table, &s);

	/* The last flag wins. */
	load_ok(&s, ARGV("--count=2", "--count", "5"), NOENV);
	assert_int_equal(s.count, 5);
	cfg_free(&table, &s);
	tu_remove_file(f.path);
}

static void test_env_names(void **state)
{
	(void)state;
	tset s;
	load_ok(&s, NOARGS,
	        ENV("TEST_DB_HOST=envhost", "TEST_DB_PORT=15432", "TEST_OPT_IN=yes please",
	            "TEST_TAGS= p , ,q,", "TEST_VERBOSE=on", "TEST_SIZE=2KiB", "TEST_INTERVAL=2m"));
	assert_string_equal(s.db_host, "envhost");
	assert_int_equal(s.db_port, 15432);
	assert_string_equal(s.opt_in, "yes please");
	ASSERT_LIST(&s.tags, "p", "q");
	assert_true(s.verbose);
	assert_int_equal(s.size, 2048);
	assert_int_equal(s.interval, 120000);
	cfg_free(&table, &s);

	/* Only exact, upper-case names count. */
	load_ok(&s, NOARGS,
	        ENV("test_count=9", "TEST_COUNTX=9", "TEST_COUN=9", "XTEST_COUNT=9", "TEST_COUNT",
	            "OTHER=1"));
	assert_int_equal(s.count, 3);
	cfg_free(&table, &s);

	/* An empty value is a value. */
	load_ok(&s, NOARGS, ENV("TEST_NAME="));
	assert_string_equal(s.name, "");
	cfg_free(&table, &s);
}

static void test_process_environment(void **state)
{
	(void)state;
	assert_int_equal(setenv("TEST_COUNT", "6", 1), 0);
	tset s;
	load_ok(&s, NOARGS, NULL);
	assert_int_equal(s.count, 6);
	cfg_free(&table, &s);
	/* An explicit envp replaces the process environment. */
	load_ok(&s, NOARGS, NOENV);
	assert_int_equal(s.count, 3);
	cfg_free(&table, &s);
	unsetenv("TEST_COUNT");
}

/* ---- flags ---- */

static void test_flag_forms(void **state)
{
	(void)state;
	tset s;
	load_ok(&s, ARGV("--count=5", "--name", "bob", "--db.port", "1", "--opt-in=a=b"), NOENV);
	assert_int_equal(s.count, 5);
	assert_string_equal(s.name, "bob");
	assert_int_equal(s.db_port, 1);
	assert_string_equal(s.opt_in, "a=b");
	cfg_free(&table, &s);

	load_ok(&s, ARGV("--name="), NOENV);
	assert_string_equal(s.name, "");
	cfg_free(&table, &s);

	/* Negative numbers as separate values. */
	load_ok(&s, ARGV("--offset", "-5"), NOENV);
	assert_true(s.offset == -5);
	cfg_free(&table, &s);
	load_ok(&s, ARGV("--offset=-9223372036854775808"), NOENV);
	assert_true(s.offset == (-9223372036854775807LL - 1));
	cfg_free(&table, &s);
}

static void test_bool_flags(void **state)
{
	(void)state;
	tset s;
	load_ok(&s, ARGV("--verbose"), NOENV);
	assert_true(s.verbose);
	cfg_free(&table, &s);
	load_ok(&s, ARGV("--verbose", "--count", "2"), NOENV);
	assert_true(s.verbose);
	assert_int_equal(s.count, 2);
	cfg_free(&table, &s);
	load_ok(&s, ARGV("--verbose", "false"), ENV("TEST_VERBOSE=true"));
	assert_false(s.verbose);
	cfg_free(&table, &s);
	load_ok(&s, ARGV("--verbose=no"), ENV("TEST_VERBOSE=true"));
	assert_false(s.verbose);
	cfg_free(&table, &s);
	load_ok(&s, ARGV("--verbose=ON"), NOENV);
	assert_true(s.verbose);
	cfg_free(&table, &s);
}

static void test_list_flags_accumulate(void **state)
{
	(void)state;
	tfile f = yaml_file("tags: [x, y]\n");
	tset s;
	/* The first flag replaces the file's list, later ones add to it. */
	load_ok(&s, ARGV(f.flag, "--tags", "p", "--tags", "q, r", "--tags=s"), NOENV);
	ASSERT_LIST(&s.tags, "p", "q", "r", "s");
	cfg_free(&table, &s);
	/* ... and the environment's. */
	load_ok(&s, ARGV("--tags=p"), ENV("TEST_TAGS=e1,e2"));
	ASSERT_LIST(&s.tags, "p");
	cfg_free(&table, &s);
	/* Without flags the environment replaces the file. */
	load_ok(&s, ARGV(f.flag), ENV("TEST_TAGS=e1,e2"));
	ASSERT_LIST(&s.tags, "e1", "e2");
	cfg_free(&table, &s);
	/* Other options in between do not reset the accumulation. */
	load_ok(&s, ARGV("--tags=p", "--count=4", "--tags=q"), NOENV);
	ASSERT_LIST(&s.tags, "p", "q");
	assert_int_equal(s.count, 4);
	cfg_free(&table, &s);
	tu_remove_file(f.path);
}

static void test_flag_errors(void **state)
{
	(void)state;
	load_fails(ARGV("--nosuch", "1"), NOENV, "unknown option '--nosuch'", NULL);
	load_fails(ARGV("--nosuch=1"), NOENV, "unknown option '--nosuch'", NULL);
	load_fails(ARGV("positional"), NOENV, "unexpected argument 'positional'", NULL);
	load_fails(ARGV("-c", "5"), NOENV, "unexpected argument '-c'", NULL);
	load_fails(ARGV("--"), NOENV, "unexpected argument '--'", NULL);
	load_fails(ARGV("--count"), NOENV, "'--count' needs a value", NULL);
	load_fails(ARGV("--count", "5", "--name"), NOENV, "'--name' needs a value", NULL);
	/* Option names are exact. */
	load_fails(ARGV("--Count=5"), NOENV, "unknown option '--Count'", NULL);
	load_fails(ARGV("--db_port=5"), NOENV, "unknown option '--db_port'", NULL);
	/* An error after a good flag still fails, and frees cleanly. */
	load_fails(ARGV("--name=x", "--tags=a", "--bogus"), NOENV, "'--bogus'", NULL);
}

/* ---- bad values, and where they came from ---- */

static void test_bad_values_name_origin(void **state)
{
	(void)state;
	tset s;
	char *err = NULL;
	assert_int_equal(load(&s, ARGV("--count", "abc"), NOENV, &err), -1);
	assert_string_equal(err, "option --count: count: 'abc' is not a whole number");
	free(err);
	cfg_free(&table, &s);

	load_fails(NOARGS, ENV("TEST_TIMEOUT=10x"), "environment TEST_TIMEOUT: timeout: '10x'",
	           "not a duration");
	load_fails(ARGV("--size", "4q"), NOENV, "option --size: size: '4q'", "not a size");
	load_fails(ARGV("--verbose=maybe"), NOENV, "option --verbose: verbose: 'maybe'",
	           "true or false");
	load_fails(ARGV("--verbose", "maybe"), NOENV, "'maybe' is not true or false", NULL);
	load_fails(NOARGS, ENV("TEST_DB_PORT=http"), "environment TEST_DB_PORT: db.port: 'http'",
	           NULL);

	tfile f = yaml_file("name: ok\nverbose: maybe\n");
	load_fails(ARGV(f.flag), NOENV, at(&f, 2), "verbose: 'maybe' is not true or false");
	tu_remove_file(f.path);
	f = yaml_file("\n\ntimeout: soon\n");
	load_fails(ARGV(f.flag), NOENV, at(&f, 3), "timeout: 'soon'");
	tu_remove_file(f.path);
	f = yaml_file("db:\n  port: 54x\n");
	load_fails(ARGV(f.flag), NOENV, at(&f, 2), "db.port: '54x' is not a whole number");
	tu_remove_file(f.path);
}

/* `key:` (YAML null) puts the option back to its default, which is checked like any value. */
static void test_yaml_null_means_default(void **state)
{
	(void)state;
	tfile f = yaml_file("count: 7\n");
	tset s;
	load_ok(&s, ARGV(f.flag), NOENV);
	assert_int_equal(s.count, 7);
	cfg_free(&table, &s);
	tu_remove_file(f.path);
	f = yaml_file("count:\n");
	load_ok(&s, ARGV(f.flag), NOENV);
	assert_int_equal(s.count, 3);
	cfg_free(&table, &s);
	tu_remove_file(f.path);
}

static void test_bad_ints(void **state)
{
	(void)state;
	static const char *const bad[] = {"",
	                                  " 5",
	                                  "5 ",
	                                  "3.5",
	                                  "0x5",
	                                  "5k",
	                                  "--5",
	                                  "-",
	                                  "+",
	                                  "99999999999999999999",
	                                  "-99999999999999999999"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char arg[64];
		snprintf(arg, sizeof arg, "--offset=%s", bad[i]);
		load_fails(ARGV(arg), NOENV, "option --offset: offset:", "not a whole number");
	}
}

static void test_bounds(void **state)
{
	(void)state;
	load_fails(ARGV("--count=11"), NOENV,
	           "option --count: count: '11' is out of range (1 to 10)", NULL);
	load_fails(ARGV("--count=0"), NOENV, "out of range (1 to 10)", NULL);
	load_fails(ARGV("--count=-1"), NOENV, "out of range (1 to 10)", NULL);
	load_fails(ARGV("--timeout=99ms"), NOENV, "'99ms' is out of range (100 ms to 600000 ms)",
	           NULL);
	load_fails(ARGV("--timeout=11m"), NOENV, "out of range", NULL);
	load_fails(ARGV("--size=63"), NOENV, "'63' is out of range (64 bytes to 1048576 bytes)",
	           NULL);
	load_fails(ARGV("--size=1025k"), NOENV, "out of range", NULL);
	load_fails(NOARGS, ENV("TEST_DB_PORT=65536"), "environment TEST_DB_PORT", "out of range");

	tset s;
	load_ok(&s, ARGV("--count=1", "--timeout=100ms", "--size=64"), NOENV);
	assert_int_equal(s.count, 1);
	assert_int_equal(s.timeout, 100);
	assert_int_equal(s.size, 64);
	cfg_free(&table, &s);
	load_ok(&s, ARGV("--count=10", "--timeout=10m", "--size=1M", "--db.port=65535"), NOENV);
	assert_int_equal(s.count, 10);
	assert_int_equal(s.timeout, 600000);
	assert_int_equal(s.size, 1048576);
	assert_int_equal(s.db_port, 65535);
	cfg_free(&table, &s);
	/* Unbounded (min = max = 0) takes anything. */
	load_ok(&s, ARGV("--offset=-1000000", "--interval=1000h"), NOENV);
	assert_true(s.offset == -1000000);
	assert_int_equal(s.interval, 3600000000LL);
	cfg_free(&table, &s);
}

static void test_check_callbacks(void **state)
{
	(void)state;
	load_fails(ARGV("--name", "forbidden"), NOENV, "option --name", "'forbidden' is reserved");
	load_fails(NOARGS, ENV("TEST_NAME=forbidden"), "environment TEST_NAME", "reserved");
	load_fails(NOARGS, ENV("TEST_TAGS=ok,bad"), "environment TEST_TAGS", "not allowed");
	load_fails(ARGV("--tags=bad"), NOENV, "option --tags", "not allowed");
	/* A repeated list flag checks the whole list. */
	load_fails(ARGV("--tags=ok", "--tags", "bad"), NOENV, "option --tags", "not allowed");

	tfile f = yaml_file("count: 2\ntags:\n  - fine\n  - bad\n");
	load_fails(ARGV(f.flag), NOENV, at(&f, 2), "not allowed");
	tu_remove_file(f.path);
	f = yaml_file("tags: good, bad\n");
	load_fails(ARGV(f.flag), NOENV, at(&f, 1), "not allowed");
	tu_remove_file(f.path);
	f = yaml_file("name: forbidden\n");
	load_fails(ARGV(f.flag), NOENV, at(&f, 1), "reserved");
	tu_remove_file(f.path);
}

/* ---- file errors ---- */

static void test_file_errors(void **state)
{
	(void)state;
	tfile f = yaml_file("name: x\ncount: 2\nnosuch: 1\n");
	load_fails(ARGV(f.flag), NOENV, at(&f, 3), "unknown key 'nosuch'");
	tu_remove_file(f.path);

	f = yaml_file("db:\n  host: h\n  nosuch: 1\n");
	load_fails(ARGV(f.flag), NOENV, at(&f, 3), "unknown key 'db.nosuch'");
	tu_remove_file(f.path);

	/* The config option cannot name another file from inside a file. */
	f = yaml_file("config: /etc/passwd\n");
	load_fails(ARGV(f.flag), NOENV, at(&f, 1), "unknown key 'config'");
	tu_remove_file(f.path);

	f = yaml_file("name: x\ncount: [1, 2]\n");
	load_fails(ARGV(f.flag), NOENV, at(&f, 2), "count: a single value is expected, not a list");
	tu_remove_file(f.path);

	f = yaml_file("name:\n  - a\n  - b\n");
	load_fails(ARGV(f.flag), NOENV, at(&f, 1), "a single value is expected");
	tu_remove_file(f.path);

	f = yaml_file("count: 1\nname: x\ncount: 2\n");
	load_fails(ARGV(f.flag), NOENV, at(&f, 3), "'count' appears twice (first on line 1)");
	tu_remove_file(f.path);

	/* Nested and dotted spellings of the same key. */
	f = yaml_file("db.port: 1\ndb:\n  port: 2\n");
	load_fails(ARGV(f.flag), NOENV, at(&f, 3), "'db.port' appears twice");
	tu_remove_file(f.path);

	f = yaml_file("name: alice\ncount: 1: 2\n");
	load_fails(ARGV(f.flag), NOENV, at(&f, 2), "invalid YAML");
	tu_remove_file(f.path);

	f = yaml_file("name: alice\n\tcount: 1\n");
	load_fails(ARGV(f.flag), NOENV, at(&f, 2), "invalid YAML");
	tu_remove_file(f.path);

	f = yaml_file("- name\n- count\n");
	load_fails(ARGV(f.flag), NOENV, at(&f, 1), "must be a mapping");
	tu_remove_file(f.path);

	load_fails(ARGV("--config=/nonexistent/tandem-unit.yaml"), NOENV,
	           "/nonexistent/tandem-unit.yaml", "cannot open");
	load_fails(NOARGS, ENV("TEST_CONFIG=/nonexistent/tandem-unit.yaml"),
	           "/nonexistent/tandem-unit.yaml", "cannot open");
}

static void test_empty_files(void **state)
{
	(void)state;
	static const char *const texts[] = {"", "\n\n", "# only a comment\n", "---\n",
	                                    "---\n...\n"};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		tfile f = yaml_file(texts[i]);
		tset s;
		load_ok(&s, ARGV(f.flag), NOENV);
		assert_string_equal(s.name, "anon");
		assert_int_equal(s.count, 3);
		cfg_free(&table, &s);
		tu_remove_file(f.path);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_file_values),
	    cmocka_unit_test(test_file_block_sequence_and_nulls),
	    cmocka_unit_test(test_config_flag_beats_config_env),
	    cmocka_unit_test(test_precedence),
	    cmocka_unit_test(test_env_names),
	    cmocka_unit_test(test_process_environment),
	    cmocka_unit_test(test_flag_forms),
	    cmocka_unit_test(test_bool_flags),
	    cmocka_unit_test(test_list_flags_accumulate),
	    cmocka_unit_test(test_flag_errors),
	    cmocka_unit_test(test_bad_values_name_origin),
	    cmocka_unit_test(test_yaml_null_means_default),
	    cmocka_unit_test(test_bad_ints),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_check_callbacks),
	    cmocka_unit_test(test_file_errors),
	    cmocka_unit_test(test_empty_files),
	};
	return cmocka_run_group_tests_name("cfg_load", tests, NULL, NULL);
}
