/* The fixture of cfg's unit tests (test_cfg.c, test_cfg_load.c, test_cfg_map.c): a small option
 * table of every type, loading helpers and temporary YAML files. Header-only: the helpers are
 * static inline (as testutil.h). */
#ifndef TANDEM_TEST_CFG_FIXTURE_H
#define TANDEM_TEST_CFG_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>

#include "cfg.h"
#include "testutil.h"

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

static inline int load(tset *s, char **argv, char **envp, char **err)
{
	memset(s, 0, sizeof *s);
	return cfg_load(&table, s, tu_argc(argv), argv, envp, err);
}

/* Loads, which must succeed. */
static inline void load_ok(tset *s, char **argv, char **envp)
{
	char *err = NULL;
	int rc = load(s, argv, envp, &err);
	if (rc != 0)
		cfg_free(&table, s);
	tu_expect_ok("cfg_load", rc, err);
}

/* Loads, which must fail with a message holding `part1` and `part2` (when not NULL). */
static inline void load_fails(char **argv, char **envp, const char *part1, const char *part2)
{
	tset s;
	char *err = NULL;
	int rc = load(&s, argv, envp, &err);
	cfg_free(&table, &s);
	tu_expect_error("cfg_load", rc, err, part1, part2);
}

static inline void assert_list(const cfg_list *l, const char *const *want, size_t n)
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

static inline tfile yaml_file(const char *text)
{
	tfile f;
	f.path = tu_temp_file(text);
	snprintf(f.flag, sizeof f.flag, "--config=%s", f.path);
	return f;
}

/* "PATH:LINE" of a file, for error messages. */
static inline const char *at(const tfile *f, int line)
{
	static char buf[160];
	snprintf(buf, sizeof buf, "%s:%d:", f->path, line);
	return buf;
}

/* A file that sets every option of the table. */
static inline const char *full_yaml(void)
{
	return "# every type\n"
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
}

#endif
