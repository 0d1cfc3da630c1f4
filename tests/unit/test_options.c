/* Unit tests for src/hellod/options.h: hellod's option table, its checks and the conninfo
 * redaction, driven through hellod_settings_load() with explicit argv and envp. */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "options.h"

#define ARGV(...) ((char *[]){"hellod", __VA_ARGS__, NULL})
#define NOARGS    ((char *[]){"hellod", NULL})
#define ENV(...)  ((char *[]){__VA_ARGS__, NULL})
#define NOENV     ((char *[]){NULL})

static void load_ok(hellod_settings *s, char **argv, char **envp)
{
	char *err = NULL;
	int rc = hellod_settings_load(s, tu_argc(argv), argv, envp, &err);
	if (rc != 0)
		hellod_settings_free(s);
	tu_expect_ok("hellod_settings_load", rc, err);
}

static void load_fails(char **argv, char **envp, const char *part1, const char *part2)
{
	hellod_settings s;
	char *err = NULL;
	int rc = hellod_settings_load(&s, tu_argc(argv), argv, envp, &err);
	hellod_settings_free(&s);
	tu_expect_error("hellod_settings_load", rc, err, part1, part2);
}

static void test_defaults(void **state)
{
	(void)state;
	hellod_settings s;
	load_ok(&s, NOARGS, NOENV);
	assert_null(s.config);
	assert_int_equal(s.listen.n, 1);
	assert_string_equal(s.listen.v[0], "127.0.0.1:8080");
	assert_string_equal(s.database, "");
	assert_int_equal(s.allow.n, 2);
	assert_string_equal(s.allow.v[0], "127.0.0.0/8");
	assert_string_equal(s.allow.v[1], "::1/128");
	assert_null(s.tls_cert);
	assert_null(s.tls_key);
	assert_string_equal(s.timezone, "UTC");
	assert_int_equal(s.request_deadline, 10000);
	assert_int_equal(s.workers, 0);
	assert_int_equal(s.db_pool_size, 4);
	assert_int_equal(s.max_body, 4096);
	assert_int_equal(s.max_header, 16384);
	assert_int_equal(s.idle_timeout, 30000);
	assert_int_equal(s.max_connections, 4096);
	assert_int_equal(s.drain_timeout, 30000);
	assert_false(s.access_log);
	assert_string_equal(s.log_level, "info");
	assert_string_equal(s.log_format, "plain");
	assert_string_equal(s.read_from, "primary");
	assert_false(hellod_reads_local(&s));
	assert_string_equal(s.read_database, "");
	assert_int_equal(s.read_wait, 50);
	assert_int_equal(s.read_max_lag, 16 * 1024 * 1024);
	assert_int_equal(s.read_track_users, 65536);
	hellod_settings_free(&s);
	assert_null(s.timezone);
	assert_int_equal(s.listen.n, 0);
}

static void test_env_and_flags(void **state)
{
	(void)state;
	hellod_settings s;
	load_ok(&s, NOARGS, ENV("HELLOD_REQUEST_DEADLINE=2s"));
	assert_int_equal(s.request_deadline, 2000);
	hellod_settings_free(&s);

	/* Flags win over the environment. */
	load_ok(&s, ARGV("--request-deadline", "500ms"), ENV("HELLOD_REQUEST_DEADLINE=2s"));
	assert_int_equal(s.request_deadline, 500);
	hellod_settings_free(&s);

	load_ok(&s,
	        ARGV("--listen", "[::1]:9090", "--listen=0.0.0.0:80", "--workers=4",
	             "--max-body=1M", "--access-log", "--log-level=DEBUG"),
	        ENV("HELLOD_LISTEN=10.0.0.1:1", "HELLOD_DB_POOL_SIZE=8", "HELLOD_IDLE_TIMEOUT=1m",
	            "HELLOD_ALLOW=10.0.0.0/8, ::1", "HELLOD_TIMEZONE=Europe/Paris",
	            "HELLOD_DATABASE=host=db dbname=app", "HELLOD_LOG_FORMAT=json"));
	assert_int_equal(s.listen.n, 2);
	assert_string_equal(s.listen.v[0], "[::1]:9090");
	assert_string_equal(s.listen.v[1], "0.0.0.0:80");
	assert_int_equal(s.workers, 4);
	assert_int_equal(s.max_body, 1048576);
	assert_true(s.access_log);
	assert_string_equal(s.log_level, "DEBUG");
	assert_string_equal(s.log_format, "json");
	assert_int_equal(s.db_pool_size, 8);
	assert_int_equal(s.idle_timeout, 60000);
	assert_int_equal(s.allow.n, 2);
	assert_string_equal(s.timezone, "Europe/Paris");
	assert_string_equal(s.database, "host=db dbname=app");
	hellod_settings_free(&s);
}

static void test_config_file(void **state)
{
	(void)state;
	char *path = tu_temp_file("listen:\n"
	                          "  - 127.0.0.1:8081\n"
	                          "  - \"[::1]:8081\"\n"
	                          "allow: [10.0.0.0/8]\n"
	                          "request-deadline: 3s\n"
	                          "log-level: warning\n");
	char flag[128];
	snprintf(flag, sizeof flag, "--config=%s", path);
	hellod_settings s;
	load_ok(&s, ARGV(flag), NOENV);
	assert_string_equal(s.config, path);
	assert_int_equal(s.listen.n, 2);
	assert_string_equal(s.listen.v[1], "[::1]:8081");
	assert_int_equal(s.allow.n, 1);
	assert_int_equal(s.request_deadline, 3000);
	assert_string_equal(s.log_level, "warning");
	hellod_settings_free(&s);

	char env[160];
	snprintf(env, sizeof env, "HELLOD_CONFIG=%s", path);
	load_ok(&s, NOARGS, ENV(env, "HELLOD_REQUEST_DEADLINE=4s"));
	assert_int_equal(s.request_deadline, 4000);
	assert_int_equal(s.listen.n, 2);
	hellod_settings_free(&s);
	tu_remove_file(path);

	path = tu_temp_file("listen: 127.0.0.1:1\nbogus: 1\n");
	snprintf(flag, sizeof flag, "--config=%s", path);
	char where[160];
	snprintf(where, sizeof where, "%s:2:", path);
	load_fails(ARGV(flag), NOENV, where, "unknown key 'bogus'");
	tu_remove_file(path);

	path = tu_temp_file("allow: [10.0.0.0/8, 300.0.0.0/8]\n");
	snprintf(flag, sizeof flag, "--config=%s", path);
	snprintf(where, sizeof where, "%s:1:", path);
	load_fails(ARGV(flag), NOENV, where, "300.0.0.0/8");
	tu_remove_file(path);
}

static void test_tls_pair(void **state)
{
	(void)state;
	char *cert = tu_temp_file("-----BEGIN CERTIFICATE-----\n");
	char *key = tu_temp_file("-----BEGIN PRIVATE KEY-----\n");
	char cflag[128], kflag[128];
	snprintf(cflag, sizeof cflag, "--tls-cert=%s", cert);
	snprintf(kflag, sizeof kflag, "--tls-key=%s", key);

	load_fails(ARGV(cflag), NOENV, "tls-cert and tls-key go together", NULL);
	load_fails(ARGV("--log-format=xml"), NOENV, "log-format",
	           "'xml' is not one of plain, json");
	load_fails(ARGV(kflag), NOENV, "tls-cert and tls-key go together", NULL);
	char env[160];
	snprintf(env, sizeof env, "HELLOD_TLS_KEY=%s", key);
	hellod_settings s;
	load_ok(&s, ARGV(cflag), ENV(env));
	assert_string_equal(s.tls_cert, cert);
	assert_string_equal(s.tls_key, key);
	hellod_settings_free(&s);
	load_ok(&s, ARGV(cflag, kflag), NOENV);
	hellod_settings_free(&s);

	load_fails(ARGV("--tls-cert=/nonexistent/cert.pem", kflag), NOENV, "tls-cert",
	           "/nonexistent/cert.pem");
	load_fails(ARGV(cflag, "--tls-key=/nonexistent/key.pem"), NOENV, "tls-key",
	           "/nonexistent/key.pem");
	tu_remove_file(cert);
	tu_remove_file(key);
}

static void test_bad_listen(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "nonsense",       "127.0.0.1",    "127.0.0.1:", "127.0.0.1:99999",
	    "127.0.0.1:http", ":8080",        "::1:8080",   "[::1]8080",
	    "[::1",           "300.1.1.1:80", "host:80",    "127.0.0.1:-1",
	    "[zzz]:80",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char arg[128];
		snprintf(arg, sizeof arg, "--listen=%s", bad[i]);
		load_fails(ARGV(arg), NOENV, "option --listen: listen:", NULL);
	}
	load_fails(ARGV("--listen="), NOENV, "option --listen", "at least one");
	load_fails(NOARGS, ENV("HELLOD_LISTEN=nonsense"), "environment HELLOD_LISTEN", "nonsense");
	/* One bad address among good ones. */
	load_fails(ARGV("--listen=127.0.0.1:80", "--listen=bogus"), NOENV, "option --listen",
	           "bogus");

	hellod_settings s;
	load_ok(&s, ARGV("--listen=localhost:8080,[::]:0,0.0.0.0:65535"), NOENV);
	assert_int_equal(s.listen.n, 3);
	hellod_settings_free(&s);
}

static void test_bad_allow(void **state)
{
	(void)state;
	load_fails(ARGV("--allow=10.0.0.0/33"), NOENV, "option --allow: allow:", "10.0.0.0/33");
	load_fails(ARGV("--allow=bogus"), NOENV, "option --allow", "bogus");
	load_fails(ARGV("--allow="), NOENV, "option --allow", "empty");
	load_fails(ARGV("--allow= , "), NOENV, "option --allow", "empty");
	load_fails(NOARGS, ENV("HELLOD_ALLOW=::1/129"), "environment HELLOD_ALLOW", NULL);
}

static void test_allow_list(void **state)
{
	(void)state;
	hellod_settings s;
	load_ok(&s, ARGV("--allow=10.0.0.0/8", "--allow", " 2001:db8::/32 "), NOENV);
	cidr_list l;
	hellod_settings_allow(&s, &l);
	assert_int_equal(l.n, 2);
	struct sockaddr_in in4;
	memset(&in4, 0, sizeof in4);
	in4.sin_family = AF_INET;
	inet_pton(AF_INET, "10.9.8.7", &in4.sin_addr);
	assert_true(cidr_list_match(&l, (struct sockaddr *)&in4));
	inet_pton(AF_INET, "127.0.0.1", &in4.sin_addr);
	assert_false(cidr_list_match(&l, (struct sockaddr *)&in4));
	struct sockaddr_in6 in6;
	memset(&in6, 0, sizeof in6);
	in6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::1", &in6.sin6_addr);
	assert_true(cidr_list_match(&l, (struct sockaddr *)&in6));
	cidr_list_free(&l);
	hellod_settings_free(&s);

	/* The default: loopback only. */
	load_ok(&s, NOARGS, NOENV);
	hellod_settings_allow(&s, &l);
	assert_int_equal(l.n, 2);
	inet_pton(AF_INET, "127.0.0.1", &in4.sin_addr);
	assert_true(cidr_list_match(&l, (struct sockaddr *)&in4));
	inet_pton(AF_INET, "192.168.0.1", &in4.sin_addr);
	assert_false(cidr_list_match(&l, (struct sockaddr *)&in4));
	inet_pton(AF_INET6, "::1", &in6.sin6_addr);
	assert_true(cidr_list_match(&l, (struct sockaddr *)&in6));
	cidr_list_free(&l);
	hellod_settings_free(&s);
}

static void test_timezone(void **state)
{
	(void)state;
	static const char *const bad[] = {"Mars/Olympus",
	                                  "../etc",
	                                  "../../../etc/passwd",
	                                  "/etc/passwd",
	                                  "Europe/../../../../etc/passwd",
	                                  "Europe/Nowhere"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char arg[128];
		snprintf(arg, sizeof arg, "--timezone=%s", bad[i]);
		load_fails(ARGV(arg), NOENV, "option --timezone: timezone:", "not a time zone");
	}
	load_fails(ARGV("--timezone="), NOENV, "option --timezone", NULL);
	load_fails(NOARGS, ENV("HELLOD_TIMEZONE=Mars/Olympus"), "environment HELLOD_TIMEZONE",
	           "Mars/Olympus");

	hellod_settings s;
	load_ok(&s, ARGV("--timezone", "Europe/Paris"), NOENV);
	assert_string_equal(s.timezone, "Europe/Paris");
	hellod_settings_free(&s);
	load_ok(&s, ARGV("--timezone", "America/New_York"), NOENV);
	hellod_settings_free(&s);
}

static void test_database(void **state)
{
	(void)state;
	hellod_settings s;
	static const char *const good[] = {
	    "",
	    "host=",
	    "host=localhost port=5432 dbname=app",
	    "postgresql://bob:secret@db1,db2:5433/app?target_session_attrs=read-write",
	    "host=a password='s e c'",
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		char arg[160];
		snprintf(arg, sizeof arg, "--database=%s", good[i]);
		load_ok(&s, ARGV(arg), NOENV);
		assert_string_equal(s.database, good[i]);
		hellod_settings_free(&s);
	}
	/* What libpq's PQconninfoParse rejects. */
	load_fails(ARGV("--database=nonsense"), NOENV,
	           "option --database: database:", "missing \"=\" after \"nonsense\"");
	load_fails(ARGV("--database", "foo=bar"), NOENV, "option --database", "\"foo\"");
	load_fails(ARGV("--database", "host='unterminated"), NOENV, "option --database",
	           "unterminated");
	load_fails(ARGV("--database", "postgres://["), NOENV, "option --database", NULL);
	load_fails(NOARGS, ENV("HELLOD_DATABASE=nonsense"), "environment HELLOD_DATABASE", NULL);
}

static void test_log_level(void **state)
{
	(void)state;
	load_fails(ARGV("--log-level=verbose"), NOENV, "option --log-level: log-level:",
	           "'verbose' is not one of debug, info, warning, error");
	load_fails(ARGV("--log-level="), NOENV, "option --log-level", NULL);
	load_fails(NOARGS, ENV("HELLOD_LOG_LEVEL=trace"), "environment HELLOD_LOG_LEVEL", "trace");
	static const char *const good[] = {"debug", "info", "warning", "error", "ERROR"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		hellod_settings s;
		char arg[64];
		snprintf(arg, sizeof arg, "--log-level=%s", good[i]);
		load_ok(&s, ARGV(arg), NOENV);
		assert_string_equal(s.log_level, good[i]);
		hellod_settings_free(&s);
	}
}

static void test_numeric_bounds(void **state)
{
	(void)state;
	load_fails(ARGV("--request-deadline=50ms"), NOENV, "option --request-deadline",
	           "out of range (100 ms to 600000 ms)");
	load_fails(ARGV("--request-deadline=11m"), NOENV, "out of range", NULL);
	load_fails(ARGV("--workers=65"), NOENV, "option --workers", "out of range (0 to 64)");
	load_fails(ARGV("--workers=-1"), NOENV, "option --workers", "out of range");
	load_fails(ARGV("--db-pool-size=0"), NOENV, "option --db-pool-size", "out of range");
	load_fails(ARGV("--max-body=63"), NOENV, "option --max-body", "out of range");
	load_fails(ARGV("--max-body=2M"), NOENV, "option --max-body", "out of range");
	load_fails(ARGV("--max-header=1k"), NOENV, "option --max-header", "out of range");
	load_fails(ARGV("--idle-timeout=999ms"), NOENV, "option --idle-timeout", "out of range");
	load_fails(ARGV("--max-connections=0"), NOENV, "option --max-connections", "out of range");
	load_fails(ARGV("--drain-timeout=2h"), NOENV, "option --drain-timeout", "out of range");
	load_fails(ARGV("--access-log=sometimes"), NOENV, "option --access-log", "true or false");
	load_fails(NOARGS, ENV("HELLOD_WORKERS=many"), "environment HELLOD_WORKERS", "many");
	load_fails(ARGV("--no-such-option"), NOENV, "unknown option '--no-such-option'", NULL);

	hellod_settings s;
	load_ok(&s, ARGV("--drain-timeout=0", "--workers=64", "--max-header=2k"), NOENV);
	assert_int_equal(s.drain_timeout, 0);
	assert_int_equal(s.workers, 64);
	assert_int_equal(s.max_header, 2048);
	hellod_settings_free(&s);
}

static void test_redact_conninfo(void **state)
{
	(void)state;
	char *r = hellod_redact_conninfo("host=db password=secret user=bob");
	assert_not_contains(r, "secret");
	assert_contains(r, "password=********");
	assert_contains(r, "host=db");
	assert_contains(r, "user=bob");
	free(r);

	r = hellod_redact_conninfo("postgresql://bob:hunter2@db.example:5433/app?sslmode=require");
	assert_not_contains(r, "hunter2");
	assert_contains(r, "password=********");
	assert_contains(r, "user=bob");
	assert_contains(r, "host=db.example");
	assert_contains(r, "port=5433");
	assert_contains(r, "dbname=app");
	assert_contains(r, "sslmode=require");
	free(r);

	r = hellod_redact_conninfo("postgresql://db/app?password=topsecret");
	assert_not_contains(r, "topsecret");
	assert_contains(r, "password=********");
	free(r);

	r = hellod_redact_conninfo("host=a password='s e c r e t'");
	assert_not_contains(r, "s e c");
	assert_contains(r, "password=********");
	free(r);

	/* Nothing to hide. */
	r = hellod_redact_conninfo("host=db dbname=app");
	assert_not_contains(r, "password");
	assert_contains(r, "host=db");
	assert_contains(r, "dbname=app");
	free(r);

	r = hellod_redact_conninfo("");
	assert_string_equal(r, "");
	free(r);

	/* Unparsable strings are never echoed: they may hold a password. */
	r = hellod_redact_conninfo("password=secret nonsense");
	assert_string_equal(r, "(invalid)");
	free(r);
}

static void test_read_options(void **state)
{
	(void)state;
	hellod_settings s;
	load_ok(
	    &s,
	    ARGV("--read-from=local", "--read-database=host=/tmp port=5433", "--read-wait=20ms"),
	    NOENV);
	assert_true(hellod_reads_local(&s));
	assert_string_equal(s.read_database, "host=/tmp port=5433");
	assert_int_equal(s.read_wait, 20);
	hellod_settings_free(&s);
	load_fails(ARGV("--read-from=replica"), NOENV, "option --read-from", "primary, local");
	load_fails(ARGV("--read-from=local"), NOENV, "read-from local needs read-database", NULL);
	load_fails(ARGV("--read-from=local", "--read-database=host='"), NOENV,
	           "option --read-database", "invalid connection string");
	load_fails(ARGV("--read-wait=11s"), NOENV, "option --read-wait", NULL);
	load_fails(ARGV("--read-track-users=0"), NOENV, "option --read-track-users", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),        cmocka_unit_test(test_read_options),
	    cmocka_unit_test(test_env_and_flags),   cmocka_unit_test(test_config_file),
	    cmocka_unit_test(test_tls_pair),        cmocka_unit_test(test_bad_listen),
	    cmocka_unit_test(test_bad_allow),       cmocka_unit_test(test_allow_list),
	    cmocka_unit_test(test_timezone),        cmocka_unit_test(test_database),
	    cmocka_unit_test(test_log_level),       cmocka_unit_test(test_numeric_bounds),
	    cmocka_unit_test(test_redact_conninfo),
	};
	return cmocka_run_group_tests_name("options", tests, NULL, NULL);
}
