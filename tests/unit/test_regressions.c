/* Regression tests: one per bug found in src/ and fixed, each stating the correct behaviour. */
#include "testutil.h"

#include "cfg_yaml.h"
#include "options.h"

static int load_file(hellod_settings *s, const char *yaml, char **err)
{
	char *path = tu_temp_file(yaml);
	char flag[160];
	snprintf(flag, sizeof flag, "--config=%s", path);
	char *argv[] = {"hellod", flag, NULL};
	char *envp[] = {NULL};
	int rc = hellod_settings_load(s, 2, argv, envp, err);
	tu_remove_file(path);
	return rc;
}

/* Regression (fixed): options.c check_timezone() only checks that /usr/share/zoneinfo/NAME is
 * readable, so a directory ("Europe", "America", ".") or a data file that is not a zone
 * ("zone.tab", "iso3166.tab") passes; hellod then starts with TZ=Europe, which glibc silently
 * treats as UTC. */
static void test_timezone_rejects_non_zones(void **state)
{
	(void)state;
	static const char *const bad[] = {"Europe",  "America",  ".",
	                                  "Europe/", "zone.tab", "iso3166.tab"};
	int accepted = 0;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char arg[64];
		snprintf(arg, sizeof arg, "--timezone=%s", bad[i]);
		char *argv[] = {"hellod", arg, NULL};
		char *envp[] = {NULL};
		hellod_settings s;
		char *err = NULL;
		int rc = hellod_settings_load(&s, 2, argv, envp, &err);
		hellod_settings_free(&s);
		free(err);
		if (rc == 0) {
			print_error("--timezone=%s was accepted\n", bad[i]);
			accepted++;
		}
	}
	assert_int_equal(accepted, 0);
}

/* Regression (fixed): a YAML null (`key:`, `key: ~`, `key: null`) sets a CFG_STRING option to NULL
 * without running its check, so hellod_settings_load() succeeds with timezone, log_level or
 * database NULL; main.c then crashes in setenv("TZ", NULL) / log_level_parse(NULL) (reproduce: a
 * file holding "log-level:" and `hellod --config FILE` exits with SIGSEGV). The load should fail,
 * or keep a checked value. */
static void check_null_rejected(const char *yaml, size_t offset)
{
	hellod_settings s;
	char *err = NULL;
	int rc = load_file(&s, yaml, &err);
	const char *value = *(char **)((char *)&s + offset);
	bool bad = rc == 0 && value == NULL;
	hellod_settings_free(&s);
	free(err);
	if (bad) {
		print_error("'%s' loaded with the value NULL\n", yaml);
		fail();
	}
}

static void test_yaml_null_timezone(void **state)
{
	(void)state;
	check_null_rejected("timezone:\n", offsetof(hellod_settings, timezone));
}

static void test_yaml_null_log_level(void **state)
{
	(void)state;
	check_null_rejected("log-level: ~\n", offsetof(hellod_settings, log_level));
}

static void test_yaml_null_database(void **state)
{
	(void)state;
	check_null_rejected("database: null\n", offsetof(hellod_settings, database));
}

/* Regression (fixed): hellod_redact_conninfo() hides only the keyword "password"; libpq's
 * "sslpassword" (the passphrase of the client key) is logged in clear at startup. */
static void test_redact_sslpassword(void **state)
{
	(void)state;
	char *r = hellod_redact_conninfo("host=db sslkey=/k.pem sslpassword=topsecret");
	bool leaked = strstr(r, "topsecret") != NULL;
	if (leaked)
		print_error("redacted to '%s'\n", r);
	free(r);
	assert_false(leaked);
}

/* Regression (fixed): cfg_yaml.c detects a repeated scalar key but not a repeated mapping key: the
 * two mappings are merged silently, although YAML forbids duplicate keys and a scalar key repeated
 * the same way is an error ("key 'x' appears twice"). */
static void test_yaml_duplicate_mapping_key(void **state)
{
	(void)state;
	static const char *const texts[] = {
	    "db:\n  host: a\ndb:\n  port: 1\n",
	    "a: 1\na:\n  b: 2\n",
	};
	int accepted = 0;
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		cfg_doc doc;
		char *err = NULL;
		int rc = cfg_yaml_parse(texts[i], strlen(texts[i]), "t.yaml", &doc, &err);
		if (rc == 0)
			cfg_doc_free(&doc);
		free(err);
		if (rc == 0) {
			print_error("accepted duplicate keys:\n%s", texts[i]);
			accepted++;
		}
	}
	assert_int_equal(accepted, 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_timezone_rejects_non_zones),
	    cmocka_unit_test(test_yaml_null_timezone),
	    cmocka_unit_test(test_yaml_null_log_level),
	    cmocka_unit_test(test_yaml_null_database),
	    cmocka_unit_test(test_redact_sslpassword),
	    cmocka_unit_test(test_yaml_duplicate_mapping_key),
	};
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("regressions", tests, NULL, NULL);
}
