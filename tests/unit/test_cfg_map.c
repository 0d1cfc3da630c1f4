/* Unit tests for src/lib/cfg.h with a second table: maps, secrets, a positional configuration
 * file, unsupported keys, and the YAML shapes they come in. */
#include "cfg_fixture.h"
#include "cfg_yaml.h"

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
	    cmocka_unit_test(test_map_defaults_and_file),
	    cmocka_unit_test(test_map_flags_and_env),
	    cmocka_unit_test(test_map_errors),
	    cmocka_unit_test(test_unsupported_keys),
	    cmocka_unit_test(test_positional_config),
	    cmocka_unit_test(test_secret_masked),
	    cmocka_unit_test(test_yaml_sections),
	    cmocka_unit_test(test_yaml_list_pairs),
	};
	return cmocka_run_group_tests_name("cfg_map", tests, NULL, NULL);
}
