/* backup.tls_server.* and backup.tls_client.* (src/patroni/backup_tls.c): off by default; all or
 * nothing; a DNS name for the published host (pgBackRest 2.45 never matches an IP address);
 * HOST:PORT to listen on; client CNs that fit tls-server-auth=CN=STANZA. */
#include "testutil.h"

#include "backup_options.h"
#include "options.h"
#include "strbuf.h"

#define ARGV(...) ((char *[]){"tandemd", __VA_ARGS__, NULL})
#define ENV(...)  ((char *[]){__VA_ARGS__, NULL})

static const char base_yml[] = "scope: batman\n"
                               "name: pg0\n"
                               "etcd3:\n"
                               "  host: 127.0.0.1:2379\n"
                               "backup:\n"
                               "  pgbackrest:\n"
                               "    repo1-path: /srv/backup\n";

#define DATA_DIR_ENV "PATRONI_POSTGRESQL_DATA_DIR=/var/lib/postgresql/15/main"

/* Every key; `key` ("tls_server.host") given `value` instead, or left out when it is NULL. */
static char *tls_yml(const char *key, const char *value)
{
	const char *lines[] = {
	    "tls_server.address: 127.0.0.1:29432",
	    "tls_server.host: db1.example.net",
	    "tls_server.cert_file: /etc/tandem/server.crt",
	    "tls_server.key_file: /etc/tandem/server.key",
	    "tls_server.ca_file: /etc/tandem/ca.crt",
	    "tls_server.auth: [pg0, pg1]",
	    "tls_client.cert_file: /etc/tandem/client.crt",
	    "tls_client.key_file: /etc/tandem/client.key",
	    "tls_client.ca_file: /etc/tandem/ca.crt",
	};
	strbuf sb = STRBUF_INIT;
	sb_puts(&sb, base_yml);
	const char *section = "";
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		const char *dot = strchr(lines[i], '.'), *colon = strchr(lines[i], ':');
		if (strncmp(section, lines[i], (size_t)(dot - lines[i])) != 0) {
			section = lines[i];
			sb_printf(&sb, "  %.*s:\n", (int)(dot - lines[i]), lines[i]);
		}
		bool hit = key && strncmp(key, lines[i], (size_t)(colon - lines[i])) == 0 &&
		           key[colon - lines[i]] == '\0';
		if (hit && !value)
			continue;
		if (hit)
			sb_printf(&sb, "    %.*s: %s\n", (int)(colon - dot - 1), dot + 1, value);
		else
			sb_printf(&sb, "    %s\n", dot + 1);
	}
	return sb_steal(&sb);
}

static int load(tandemd_settings *s, const char *yml, char **err)
{
	char *path = tu_temp_file(yml);
	int rc = tandemd_settings_load(s, 2, ARGV(path), ENV(DATA_DIR_ENV), err);
	tu_remove_file(path);
	return rc;
}

static void fails(char *yml, const char *what)
{
	tandemd_settings s;
	char *err = NULL;
	int rc = load(&s, yml, &err);
	tandemd_settings_free(&s);
	free(yml);
	tu_expect_error("tandemd_settings_load", rc, err, what, "");
}

static void test_off_by_default(void **state)
{
	(void)state;
	tandemd_settings s;
	char *err = NULL;
	tu_expect_ok("tandemd_settings_load", load(&s, base_yml, &err), err);
	assert_false(tandemd_backup_tls(&s));
	assert_null(s.backup_tls_server_address);
	assert_null(s.backup_tls_client_cert_file);
	tandemd_settings_free(&s);
}

static void test_all_keys(void **state)
{
	(void)state;
	tandemd_settings s;
	char *err = NULL, *yml = tls_yml(NULL, NULL);
	tu_expect_ok("tandemd_settings_load", load(&s, yml, &err), err);
	free(yml);
	assert_true(tandemd_backup_tls(&s));
	assert_string_equal(s.backup_tls_server_address, "127.0.0.1:29432");
	assert_string_equal(s.backup_tls_server_host, "db1.example.net");
	assert_string_equal(s.backup_tls_server_ca_file, "/etc/tandem/ca.crt");
	assert_int_equal(s.backup_tls_server_auth.n, 2);
	assert_string_equal(s.backup_tls_server_auth.v[1], "pg1");
	assert_string_equal(s.backup_tls_client_key_file, "/etc/tandem/client.key");
	tandemd_settings_free(&s);
}

/* Each key missing alone is named. */
static void test_all_or_nothing(void **state)
{
	(void)state;
	const char *keys[] = {"tls_server.address",   "tls_server.host",     "tls_server.cert_file",
	                      "tls_server.key_file",  "tls_server.ca_file",  "tls_server.auth",
	                      "tls_client.cert_file", "tls_client.key_file", "tls_client.ca_file"};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		char *want = xasprintf("backup.%s is missing", keys[i]);
		fails(tls_yml(keys[i], NULL), want);
		free(want);
	}
	/* one key alone */
	char *yml = xasprintf("%s  tls_client:\n    cert_file: /c\n", base_yml);
	fails(yml, "backup.tls_server.address is missing");
}

static void test_bad_values(void **state)
{
	(void)state;
	fails(tls_yml("tls_server.host", "127.0.0.1"), "must be a DNS name");
	fails(tls_yml("tls_server.host", "'db 1'"), "must be a DNS name");
	fails(tls_yml("tls_server.address", "127.0.0.1"), "backup.tls_server.address");
	fails(tls_yml("tls_server.address", "'h:99999'"), "backup.tls_server.address");
	fails(tls_yml("tls_server.auth", "['a=b']"), "not a certificate common name");
	/* without a repository */
	char *yml = tls_yml(NULL, NULL);
	char *norepo = xasprintf("scope: batman\nname: pg0\netcd3:\n  host: 127.0.0.1:2379\n"
	                         "backup:\n%s",
	                         strstr(yml, "  tls_server:"));
	free(yml);
	fails(norepo, "names no repository");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_off_by_default), cmocka_unit_test(test_all_keys),
	    cmocka_unit_test(test_all_or_nothing), cmocka_unit_test(test_bad_values)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
