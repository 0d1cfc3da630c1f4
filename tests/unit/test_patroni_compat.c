/* Unit tests for the Patroni keys tandem accepts with a meaning of its own (options.h,
 * options_compat.c): the log section (level, the log file, and warnings for what has no meaning),
 * remove_data_directory_on_* mapped to moving aside, and the libpq TLS keys of
 * postgresql.authentication. */
#include "testutil.h"

#include "options.h"

#define DATA_DIR_ENV "PATRONI_POSTGRESQL_DATA_DIR=/var/lib/postgresql/15/main"

static const char minimal_yml[] = "scope: batman\n"
                                  "name: pg0\n"
                                  "etcd3:\n"
                                  "  host: 127.0.0.1:2379\n";
enum { MINIMAL_LINES = 4 };

static int load(tandemd_settings *s, const char *text, char **err)
{
	char *yml = xasprintf("%s%s", minimal_yml, text);
	char *path = tu_temp_file(yml);
	char *argv[] = {"tandemd", path, NULL};
	char *envp[] = {DATA_DIR_ENV, NULL};
	int rc = tandemd_settings_load(s, 2, argv, envp, err);
	tu_remove_file(path);
	free(yml);
	return rc;
}

static void load_ok(tandemd_settings *s, const char *text)
{
	char *err = NULL;
	int rc = load(s, text, &err);
	if (rc != 0)
		tandemd_settings_free(s);
	tu_expect_ok("tandemd_settings_load", rc, err);
}

static void load_fails(const char *text, const char *part1, const char *part2)
{
	tandemd_settings s;
	char *err = NULL;
	int rc = load(&s, text, &err);
	tandemd_settings_free(&s);
	tu_expect_error("tandemd_settings_load", rc, err, part1, part2);
}

/* Patroni's documented log section, every key. */
static const char patroni_log[] = "log:\n"
                                  "  type: plain\n"
                                  "  level: CRITICAL\n"
                                  "  traceback_level: ERROR\n"
                                  "  format: '%(asctime)s %(levelname)s: %(message)s'\n"
                                  "  dateformat: '%Y-%m-%d %H:%M:%S'\n"
                                  "  max_queue_size: 1000\n"
                                  "  dir: /var/log/patroni/\n"
                                  "  file_num: 10\n"
                                  "  file_size: 1048576\n"
                                  "  loggers:\n"
                                  "    patroni.postmaster: WARNING\n"
                                  "    urllib3: WARNING\n";

static void test_log_section(void **state)
{
	(void)state;
	tandemd_settings s;
	load_ok(&s, patroni_log);
	assert_int_equal(tandemd_log_level(&s), LOG_ERROR); /* CRITICAL */
	char *path = tandemd_log_path(&s);
	assert_string_equal(path, "/var/log/patroni/tandemd.log");
	free(path);
	assert_int_equal(s.log_file_num, 10);
	assert_int_equal(s.log_file_size, 1048576);
	char *w = tandemd_settings_unmapped(&s);
	assert_contains(w, "log.format is set: Python's logging format");
	assert_contains(w, "log.dateformat is set");
	assert_contains(w, "log.loggers is set");
	assert_contains(w, "log.traceback_level is set");
	assert_contains(w, "log.max_queue_size is set");
	assert_not_contains(w, "log.dir");
	assert_not_contains(w, "log.level");
	assert_not_contains(w, "remove_data_directory");
	free(w);
	tandemd_settings_free(&s);
}

static void test_log_defaults(void **state)
{
	(void)state;
	tandemd_settings s;
	load_ok(&s, "");
	assert_int_equal(tandemd_log_level(&s), LOG_INFO);
	assert_null(tandemd_log_path(&s));
	assert_int_equal(s.log_file_num, 4);
	assert_int_equal(s.log_file_size, 25000000);
	assert_null(tandemd_settings_unmapped(&s)); /* nothing to warn about */
	tandemd_settings_free(&s);
	const char *levels[][2] = {{"DEBUG", "debug"},
	                           {"INFO", "info"},
	                           {"WARNING", "warning"},
	                           {"warning", "warning"},
	                           {"ERROR", "error"}};
	for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
		char *yml = xasprintf("log:\n  level: %s\n", levels[i][0]);
		load_ok(&s, yml);
		assert_string_equal(log_level_name(tandemd_log_level(&s)), levels[i][1]);
		tandemd_settings_free(&s);
		free(yml);
	}
	load_ok(&s, "log:\n  format:\n    - asctime\n    - message\n  dir: /tmp/x//\n");
	char *path = tandemd_log_path(&s);
	assert_string_equal(path, "/tmp/x/tandemd.log");
	free(path);
	tandemd_settings_free(&s);
}

static void test_log_refusals(void **state)
{
	(void)state;
	load_fails("log:\n  type: xml\n", ":6:", "log.type is plain or json");
	/* Patroni's json is JSON lines (docs/monitoring.md, "Logs"). */
	tandemd_settings s;
	load_ok(&s, "log:\n  type: json\n");
	assert_string_equal(s.log_type, "json");
	tandemd_settings_free(&s);
	load_fails("log:\n  level: LOUD\n", ":6:", "DEBUG, INFO, WARNING, ERROR, CRITICAL");
	load_fails("log:\n  file_size: 10\n", ":6:", "log.file_size");
	load_fails("log:\n  file_num: -1\n", ":6:", "log.file_num");
}

static void test_remove_data_directory(void **state)
{
	(void)state;
	tandemd_settings s;
	load_ok(&s, "postgresql:\n  remove_data_directory_on_rewind_failure: true\n"
	            "  remove_data_directory_on_diverged_timelines: false\n");
	char *w = tandemd_settings_unmapped(&s);
	assert_contains(w,
	                "postgresql.remove_data_directory_on_rewind_failure: true: tandem "
	                "never deletes a data directory; when pg_rewind fails, it moves it aside");
	assert_contains(w, "postgresql.remove_data_directory_on_diverged_timelines: false: when "
	                   "the timelines diverged");
	assert_contains(w, "rather than leave the member stopped as Patroni would");
	free(w);
	tandemd_settings_free(&s);
	load_fails("postgresql:\n  remove_data_directory_on_rewind_failure: maybe\n",
	           ":6:", "'maybe' is not true or false");
}

static void test_ssl_keys(void **state)
{
	(void)state;
	tandemd_settings s;
	load_ok(&s, "postgresql:\n  authentication:\n    replication:\n      username: r\n"
	            "      password: p\n      sslmode: verify-full\n"
	            "      sslrootcert: /etc/pg/root.crt\n      sslcert: /etc/pg/r.crt\n"
	            "      sslkey: /etc/pg/r.key\n      sslcrl: /etc/pg/crl.pem\n"
	            "      sslcrldir: /etc/pg/crl\n      gssencmode: disable\n"
	            "      channel_binding: require\n"
	            "    rewind:\n      sslmode: require\n"
	            "    superuser:\n      sslmode: verify-ca\n");
	assert_string_equal(s.replication_ssl.sslmode, "verify-full");
	assert_string_equal(s.replication_ssl.sslrootcert, "/etc/pg/root.crt");
	assert_string_equal(s.replication_ssl.sslcert, "/etc/pg/r.crt");
	assert_string_equal(s.replication_ssl.sslkey, "/etc/pg/r.key");
	assert_string_equal(s.replication_ssl.sslcrl, "/etc/pg/crl.pem");
	assert_string_equal(s.replication_ssl.sslcrldir, "/etc/pg/crl");
	assert_string_equal(s.replication_ssl.gssencmode, "disable");
	assert_string_equal(s.replication_ssl.channel_binding, "require");
	assert_string_equal(s.rewind_ssl.sslmode, "require");
	assert_null(s.rewind_ssl.channel_binding);
	assert_string_equal(s.superuser_ssl.sslmode, "verify-ca");
	tandemd_settings_free(&s);
	load_fails(
	    "postgresql:\n  authentication:\n    replication:\n      sslmode: verify\n", ":8:",
	    "'verify' is not one of disable, allow, prefer, require, verify-ca, verify-full");
	load_fails("postgresql:\n  authentication:\n    rewind:\n      channel_binding: yes\n",
	           ":8:", "is not one of disable, prefer, require");
	load_fails("postgresql:\n  authentication:\n    replication:\n      sslpassword: x\n",
	           ":8:", "'postgresql.authentication.replication.sslpassword' is not supported");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_log_section),  cmocka_unit_test(test_log_defaults),
	    cmocka_unit_test(test_log_refusals), cmocka_unit_test(test_remove_data_directory),
	    cmocka_unit_test(test_ssl_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
