/* Unit tests for src/lib/cfg.h and src/lib/cfg_yaml.h, with a small option table of every type:
 * defaults, YAML files, environment, flags, their precedence and the error messages. */
#include "testutil.h"

#include <stdbool.h>
#include <stddef.h>

#include "cfg.h"
#include "cfg_yaml.h"

typedef struct tset {
	char *config;
	char *name;
	cfg_list tags;
	long long count;
	long long offset;
	long long timeout;
	long long interval;
	long long size;
	bool verbose;
	char *db_host;
	long long db_port;
	char *opt_in;
} tset;

static int check_name(const void *v, char **err)
{
	if (strcmp(v, "forbidden") == 0) {
		err_set(err, "the name 'forbidden' is reserved");
		return -1;
	}
	return 0;
}

static int check_tags(const void *v, char **err)
{
	const cfg_list *l = v;
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->v[i], "bad") == 0) {
			err_set(err, "tag 'bad' is not allowed");
			return -1;
		}
	}
	return 0;
}

#define OFF(f) offsetof(tset, f)

static const cfg_option options[] = {
    {"config", CFG_STRING, NULL, 0, 0, false, OFF(config), "FILE", "the YAML file", NULL},
    {"name", CFG_STRING, "anon", 0, 0, true, OFF(name), "NAME", "a name", check_name},
    {"tags", CFG_LIST, "a,b", 0, 0, true, OFF(tags), "TAG,...", "some tags", check_tags},
    {"count", CFG_INT, "3", 1, 10, false, OFF(count), "N", "a bounded number", NULL},
    {"offset", CFG_INT, "0", 0, 0, true, OFF(offset), "N", "an unbounded number", NULL},
    {"timeout", CFG_DURATION, "10s", 100, 600000, true, OFF(timeout), "DURATION", "a duration",
     NULL},
    {"interval", CFG_DURATION, NULL, 0, 0, true, OFF(interval), "DURATION", "unbounded", NULL},
    {"size", CFG_SIZE, "4k", 64, 1048576, true, OFF(size), "SIZE", "a size", NULL},
    {"verbose", CFG_BOOL, "false", 0, 0, true, OFF(verbose), "BOOL", "a switch", NULL},
    {"db.host", CFG_STRING, "localhost", 0, 0, true, OFF(db_host), "HOST", "nested", NULL},
    {"db.port", CFG_INT, "5432", 1, 65535, true, OFF(db_port), "PORT", "nested number", NULL},
    {"opt-in", CFG_STRING, NULL, 0, 0, true, OFF(opt_in), "X", "a dashed name", NULL},
};

static const cfg_table table = {
    .options = options,
    .n = sizeof options / sizeof options[0],
    .env_prefix = "TEST",
    .config_flag = "config",
};

#define ARGV(...) ((char *[]){"prog", __VA_ARGS__, NULL})
#define NOARGS    ((char *[]){"prog", NULL})
#define ENV(...)  ((char *[]){__VA_ARGS__, NULL})
#define NOENV     ((char *[]){NULL})

static int load(tset *s, char **argv, char **envp, char **err)
{
	memset(s, 0, sizeof *s);
	return cfg_load(&table, s, tu_argc(argv), argv, envp, err);
}

/* Loads, which must succeed. */
static void load_ok(tset *s, char **argv, char **envp)
{
	char *err = NULL;
	int rc = load(s, argv, envp, &err);
	if (rc != 0)
		cfg_free(&table, s);
	tu_expect_ok("cfg_load", rc, err);
}

/* Loads, which must fail with a message holding `part1` and `part2` (when not NULL). */
static void load_fails(char **argv, char **envp, const char *part1, const char *part2)
{
	tset s;
	char *err = NULL;
	int rc = load(&s, argv, envp, &err);
	cfg_free(&table, &s);
	tu_expect_error("cfg_load", rc, err, part1, part2);
}

static void assert_list(const cfg_list *l, const char *const *want, size_t n)
{
	if (l->n != n) {
		print_error("list has %zu items, expected %zu\n", l->n, n);
		fail();
	}
	for (size_t i = 0; i < n; i++)
		assert_string_equal(l->v[i], want[i]);
}

#define ASSERT_LIST(l, ...)                                                                        \
	do {                                                                                       \
		static const char *const want_[] = {__VA_ARGS__};                                  \
		assert_list((l), want_, sizeof want_ / sizeof want_[0]);                           \
	} while (0)

/* A temporary YAML file and a "--config=PATH" flag for it. */
typedef struct tfile {
	char *path;
	char flag[128];
} tfile;

static tfile yaml_file(const char *text)
{
	tfile f;
	f.path = tu_temp_file(text);
	snprintf(f.flag, sizeof f.flag, "--config=%s", f.path);
	return f;
}

/* "PATH:LINE" of a file, for error messages. */
static const char *at(const tfile *f, int line)
{
	static char buf[160];
	snprintf(buf, sizeof buf, "%s:%d:", f->path, line);
	return buf;
}

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

static const char full_yaml[] = "# every type\n"
                                "name: alice\n"
                                "tags: [x, y]\n"
                                "count: 7\n"
                                "timeout: 250ms\n"
                                "size: 1M\n"
                                "verbose: yes\n"
                                "db:\n"
                                "  host: db.example\n"
                                "  port: 6543\n"
                                "opt-in: \"quoted: value\"\n";

static void test_file_values(void **state)
{
	(void)state;
	tfile f = yaml_file(full_yaml);
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
	tfile f = yaml_file(full_yaml);
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

/* ---- maps, secrets, a positional file, unsupported keys (a second table) ---- */

typedef struct mset {
	char *config;
	char *user;
	char *password;
	cfg_map params;
	cfg_map labels;
	char *pg_port;
} mset;

static int check_labels(const void *v, char **err)
{
	const cfg_map *m = v;
	const char *b = cfg_map_get(m, "flag");
	bool ok;
	if (b && cfg_parse_bool(b, &ok) < 0) {
		err_set(err, "flag: '%s' is not true or false", b);
		return -1;
	}
	return 0;
}

#define MOFF(f) offsetof(mset, f)

static const cfg_option moptions[] = {
    {"config", CFG_STRING, NULL, 0, 0, false, MOFF(config), "FILE", "the YAML file", NULL},
    {"user", CFG_STRING, NULL, 0, 0, true, MOFF(user), "NAME", "a user", NULL},
    {"password", CFG_SECRET, NULL, 0, 0, true, MOFF(password), "TEXT", "a secret", NULL},
    {"pg.parameters", CFG_MAP, "a=1,b=2", 0, 0, true, MOFF(params), "NAME=VALUE,...",
     "free-form settings", NULL},
    {"pg.port", CFG_STRING, NULL, 0, 0, true, MOFF(pg_port), "PORT", "a sibling", NULL},
    {"labels", CFG_MAP, NULL, 0, 0, true, MOFF(labels), "NAME=VALUE,...", "labels", check_labels},
};

static const char *const munsupported[] = {"consul", "pg.callbacks", NULL};

static const cfg_table mtable = {
    .options = moptions,
    .n = sizeof moptions / sizeof moptions[0],
    .env_prefix = "MT",
    .config_flag = "config",
    .config_positional = true,
    .unsupported = munsupported,
};

static int mload(mset *s, char **argv, char **envp, char **err)
{
	memset(s, 0, sizeof *s);
	return cfg_load(&mtable, s, tu_argc(argv), argv, envp, err);
}

static void mload_ok(mset *s, char **argv, char **envp)
{
	char *err = NULL;
	int rc = mload(s, argv, envp, &err);
	if (rc != 0)
		cfg_free(&mtable, s);
	tu_expect_ok("cfg_load", rc, err);
}

/* Loads, which must fail with a message holding `part1` and `part2` (when not NULL). */
static void mload_fails(char **argv, char **envp, const char *part1, const char *part2)
{
	mset s;
	char *err = NULL;
	int rc = mload(&s, argv, envp, &err);
	cfg_free(&mtable, &s);
	tu_expect_error("cfg_load", rc, err, part1, part2);
}

static void test_map_defaults_and_file(void **state)
{
	(void)state;
	mset s;
	mload_ok(&s, NOARGS, NOENV);
	assert_int_equal(s.params.n, 2);
	assert_string_equal(cfg_map_get(&s.params, "a"), "1");
	assert_string_equal(cfg_map_get(&s.params, "b"), "2");
	assert_null(cfg_map_get(&s.params, "c"));
	assert_int_equal(s.labels.n, 0);
	cfg_free(&mtable, &s);

	tfile f = yaml_file("pg:\n"
	                    "  port: '5433'\n"
	                    "  parameters:\n"
	                    "    max_connections: 100\n"
	                    "    b: 'two'\n"
	                    "    auto_explain.log_min_duration: 10s\n"
	                    "    empty:\n"
	                    "labels:\n"
	                    "  flag: true\n"
	                    "  zone: eu-1\n");
	mload_ok(&s, ARGV(f.flag), NOENV);
	assert_string_equal(s.pg_port, "5433");
	assert_int_equal(s.params.n, 5);
	/* Defaults first, file keys after in file order; a key seen again keeps its place. */
	assert_string_equal(s.params.keys[0], "a");
	assert_string_equal(s.params.keys[1], "b");
	assert_string_equal(s.params.values[1], "two");
	assert_string_equal(s.params.keys[2], "max_connections");
	assert_string_equal(s.params.values[2], "100");
	assert_string_equal(s.params.keys[3], "auto_explain.log_min_duration");
	assert_string_equal(s.params.values[3], "10s");
	assert_string_equal(s.params.keys[4], "empty");
	assert_string_equal(s.params.values[4], "");
	assert_string_equal(cfg_map_get(&s.labels, "flag"), "true");
	assert_string_equal(cfg_map_get(&s.labels, "zone"), "eu-1");
	char *text = cfg_format(cfg_find(&mtable, "labels"), &s);
	assert_string_equal(text, "flag=true,zone=eu-1");
	free(text);
	cfg_free(&mtable, &s);
	tu_remove_file(f.path);

	/* Flow mappings, an empty mapping and a null all work. */
	f = yaml_file("labels: {x: 1, y: two}\npg:\n  parameters: {}\n");
	mload_ok(&s, ARGV(f.flag), NOENV);
	assert_int_equal(s.labels.n, 2);
	assert_string_equal(cfg_map_get(&s.labels, "y"), "two");
	assert_int_equal(s.params.n, 2);
	cfg_free(&mtable, &s);
	tu_remove_file(f.path);
	f = yaml_file("labels:\n");
	mload_ok(&s, ARGV(f.flag), NOENV);
	assert_int_equal(s.labels.n, 0);
	cfg_free(&mtable, &s);
	tu_remove_file(f.path);
}

static void test_map_flags_and_env(void **state)
{
	(void)state;
	mset s;
	mload_ok(&s, ARGV("--labels", "k=v, k2=v2"), NOENV);
	assert_int_equal(s.labels.n, 2);
	assert_string_equal(cfg_map_get(&s.labels, "k2"), "v2");
	cfg_free(&mtable, &s);
	/* Maps are not read from the environment. */
	mload_ok(&s, NOARGS, ENV("MT_LABELS=k=v", "MT_PG_PARAMETERS=z=1"));
	assert_int_equal(s.labels.n, 0);
	assert_int_equal(s.params.n, 2);
	cfg_free(&mtable, &s);
	mload_fails(ARGV("--labels", "novalue"), NOENV, "option --labels",
	            "'novalue' is not a list of name=value");
	mload_fails(ARGV("--labels", "flag=maybe"), NOENV, "option --labels",
	            "'maybe' is not true or false");
}

static void test_map_errors(void **state)
{
	(void)state;
	tfile f = yaml_file("user: u\nlabels:\n  a: 1\n  b:\n    c: 2\n");
	mload_fails(ARGV(f.flag), NOENV, at(&f, 4),
	            "labels: 'b' must be a plain value, not a mapping");
	tu_remove_file(f.path);
	f = yaml_file("labels:\n  a: 1\n  b: [1, 2]\n");
	mload_fails(ARGV(f.flag), NOENV, at(&f, 3),
	            "labels: 'b' must be a plain value, not a list");
	tu_remove_file(f.path);
	f = yaml_file("labels:\n  b:\n    - 1\n");
	mload_fails(ARGV(f.flag), NOENV, at(&f, 2), "not a list");
	tu_remove_file(f.path);
	f = yaml_file("labels: text\n");
	mload_fails(ARGV(f.flag), NOENV, at(&f, 1),
	            "labels: a mapping of names to values is expected");
	tu_remove_file(f.path);
	f = yaml_file("labels: [a, b]\n");
	mload_fails(ARGV(f.flag), NOENV, at(&f, 1), "a mapping of names to values is expected");
	tu_remove_file(f.path);
	f = yaml_file("labels:\n  zone: a\n  flag: maybe\n");
	mload_fails(ARGV(f.flag), NOENV, at(&f, 3), "flag: 'maybe' is not true or false");
	tu_remove_file(f.path);
	f = yaml_file("labels:\n  a: 1\n  a: 2\n");
	mload_fails(ARGV(f.flag), NOENV, at(&f, 3), "appears twice");
	tu_remove_file(f.path);
	/* A sibling of a map is still checked. */
	f = yaml_file("pg:\n  nosuch: 1\n");
	mload_fails(ARGV(f.flag), NOENV, at(&f, 2), "unknown key 'pg.nosuch'");
	tu_remove_file(f.path);
}

static void test_unsupported_keys(void **state)
{
	(void)state;
	tfile f = yaml_file("user: u\nconsul:\n  host: x\n");
	mload_fails(ARGV(f.flag), NOENV, at(&f, 2), "'consul' is not supported by tandem (yet)");
	tu_remove_file(f.path);
	f = yaml_file("consul: {}\n");
	mload_fails(ARGV(f.flag), NOENV, at(&f, 1), "'consul' is not supported by tandem (yet)");
	tu_remove_file(f.path);
	f = yaml_file("consul:\n");
	mload_fails(ARGV(f.flag), NOENV, at(&f, 1), "'consul' is not supported by tandem (yet)");
	tu_remove_file(f.path);
	f = yaml_file("pg:\n  port: '1'\n  callbacks:\n    on_start: /bin/true\n");
	mload_fails(ARGV(f.flag), NOENV, at(&f, 3),
	            "'pg.callbacks' is not supported by tandem (yet)");
	tu_remove_file(f.path);
	/* A prefix of a word is not a match: that is simply unknown. */
	f = yaml_file("consulate: 1\n");
	mload_fails(ARGV(f.flag), NOENV, at(&f, 1), "unknown key 'consulate'");
	tu_remove_file(f.path);
}

static void test_positional_config(void **state)
{
	(void)state;
	tfile f = yaml_file("user: fromfile\n");
	mset s;
	mload_ok(&s, ARGV(f.path), NOENV);
	assert_string_equal(s.user, "fromfile");
	assert_string_equal(s.config, f.path);
	cfg_free(&mtable, &s);
	/* Flags around it, with separate values, still work and win over the file. */
	mload_ok(&s, ARGV("--user", "flag", f.path, "--password", "pw"), NOENV);
	assert_string_equal(s.user, "flag");
	assert_string_equal(s.password, "pw");
	cfg_free(&mtable, &s);
	mload_ok(&s, ARGV(f.flag), NOENV);
	assert_string_equal(s.user, "fromfile");
	cfg_free(&mtable, &s);
	mload_fails(ARGV(f.path, "other.yml"), NOENV, "unexpected argument 'other.yml'",
	            "only one configuration file");
	mload_fails(ARGV(f.path, f.flag), NOENV, "the configuration file is given twice", NULL);
	mload_fails(ARGV("/nonexistent/tandem.yml"), NOENV, "/nonexistent/tandem.yml",
	            "cannot open");
	tu_remove_file(f.path);
	/* Without config_positional, an argument is still an error. */
	load_fails(ARGV("file.yml"), NOENV, "unexpected argument 'file.yml'", NULL);
}

static void test_secret_masked(void **state)
{
	(void)state;
	tfile f = yaml_file("user: u\npassword: s3cr3t\n");
	mset s;
	mload_ok(&s, ARGV(f.path), NOENV);
	assert_string_equal(s.password, "s3cr3t");
	const cfg_option *o = cfg_find(&mtable, "password");
	char *text = cfg_format(o, &s);
	assert_string_equal(text, "********");
	free(text);
	for (size_t i = 0; i < mtable.n; i++) {
		text = cfg_format(&mtable.options[i], &s);
		assert_not_contains(text, "s3cr3t");
		free(text);
	}
	cfg_free(&mtable, &s);
	/* Unset shows empty; the environment works as for strings. */
	mload_ok(&s, NOARGS, ENV("MT_PASSWORD=envpw"));
	assert_string_equal(s.password, "envpw");
	cfg_free(&mtable, &s);
	mload_ok(&s, NOARGS, NOENV);
	text = cfg_format(o, &s);
	assert_string_equal(text, "");
	free(text);
	cfg_free(&mtable, &s);
	/* A changed secret is a change, though both print the same. */
	mset a, b;
	mload_ok(&a, NOARGS, ENV("MT_PASSWORD=one"));
	mload_ok(&b, NOARGS, ENV("MT_PASSWORD=two"));
	assert_true(cfg_differs(o, &a, &b));
	assert_false(cfg_differs(o, &a, &a));
	cfg_free(&mtable, &b);
	mload_ok(&b, NOARGS, NOENV);
	assert_true(cfg_differs(o, &a, &b));
	cfg_free(&mtable, &a);
	cfg_free(&mtable, &b);
	tu_remove_file(f.path);
}

static void test_yaml_sections(void **state)
{
	(void)state;
	cfg_doc doc;
	char *err = NULL;
	const char *text = "a:\n  b: {}\n  c:\n    d: 1\ne: 2\n";
	assert_int_equal(cfg_yaml_parse(text, strlen(text), "t", &doc, &err), 0);
	assert_int_equal(doc.n, 2);
	assert_int_equal(doc.nsections, 3);
	assert_string_equal(doc.sections[0].key, "a");
	assert_int_equal(doc.sections[0].line, 1);
	assert_string_equal(doc.sections[1].key, "a.b");
	assert_string_equal(doc.sections[2].key, "a.c");
	assert_int_equal(doc.sections[2].line, 3);
	cfg_doc_free(&doc);
	assert_int_equal(doc.nsections, 0);
}

static void test_yaml_list_pairs(void **state)
{
	(void)state;
	cfg_doc doc;
	char *err = NULL;
	const char *text = "initdb:\n  - encoding: UTF8\n  - data-checksums\n  - {locale: C}\n";
	assert_int_equal(cfg_yaml_parse_ex(text, strlen(text), "t", true, &doc, &err), 0);
	assert_int_equal(doc.n, 1);
	assert_int_equal(doc.entries[0].nvalues, 3);
	assert_string_equal(doc.entries[0].values[0], "encoding=UTF8");
	assert_string_equal(doc.entries[0].values[1], "data-checksums");
	assert_string_equal(doc.entries[0].values[2], "locale=C");
	cfg_doc_free(&doc);
	/* Without pairs, as before: an error. */
	assert_int_equal(cfg_yaml_parse_ex(text, strlen(text), "t", false, &doc, &err), -1);
	assert_contains(err, "t:2: key 'initdb': list items must be plain values");
	free(err);
	err = NULL;
	const char *const bad[] = {"a:\n  - {x: 1, y: 2}\n", "a:\n  - x: [1]\n",
	                           "a:\n  - x:\n      y: 1\n"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(cfg_yaml_parse_ex(bad[i], strlen(bad[i]), "t", true, &doc, &err),
		                 -1);
		assert_contains(err, "t:2: key 'a': a mapping in a list must hold exactly one");
		free(err);
		err = NULL;
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
	    cmocka_unit_test(test_yaml_entries),
	    cmocka_unit_test(test_yaml_errors),
	    cmocka_unit_test(test_yaml_read_file),
	    cmocka_unit_test(test_parse_duration),
	    cmocka_unit_test(test_parse_size),
	    cmocka_unit_test(test_parse_bool),
	    cmocka_unit_test(test_set_text),
	    cmocka_unit_test(test_find),
	    cmocka_unit_test(test_format_values),
	    cmocka_unit_test(test_format_round_trip),
	    cmocka_unit_test(test_differs),
	    cmocka_unit_test(test_help),
	    cmocka_unit_test(test_map_defaults_and_file),
	    cmocka_unit_test(test_map_flags_and_env),
	    cmocka_unit_test(test_map_errors),
	    cmocka_unit_test(test_unsupported_keys),
	    cmocka_unit_test(test_positional_config),
	    cmocka_unit_test(test_secret_masked),
	    cmocka_unit_test(test_yaml_sections),
	    cmocka_unit_test(test_yaml_list_pairs),
	};
	return cmocka_run_group_tests_name("cfg", tests, NULL, NULL);
}
