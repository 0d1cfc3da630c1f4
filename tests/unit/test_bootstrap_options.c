/* bootstrap.method (src/patroni/bootstrap_options.h): initdb by default; pgbackrest with a source
 * stanza other than the cluster's own, in a repository backup.pgbackrest names; recovery_conf's
 * one target, promote only, ISO 8601 times; Patroni's custom command methods refused. */
#include "testutil.h"

#include "bootstrap_options.h"
#include "options.h"

#define ARGV(...) ((char *[]){"tandemd", __VA_ARGS__, NULL})
#define ENV(...)  ((char *[]){__VA_ARGS__, NULL})

static const char minimal_yml[] = "scope: batman\n"
                                  "name: pg0\n"
                                  "etcd3:\n"
                                  "  host: 127.0.0.1:2379\n"
                                  "backup:\n"
                                  "  pgbackrest:\n"
                                  "    repo1-path: /srv/backup\n";

#define DATA_DIR_ENV "PATRONI_POSTGRESQL_DATA_DIR=/var/lib/postgresql/15/main"

static int load(tandemd_settings *s, const char *text, char **err)
{
	char *yml = xasprintf("%s%s", minimal_yml, text);
	char *path = tu_temp_file(yml);
	int rc = tandemd_settings_load(s, 2, ARGV(path), ENV(DATA_DIR_ENV), err);
	tu_remove_file(path);
	free(yml);
	return rc;
}

static void ok(tandemd_settings *s, const char *text)
{
	char *err = NULL;
	int rc = load(s, text, &err);
	tu_expect_ok("tandemd_settings_load", rc, err);
}

static void fails(const char *text, const char *what)
{
	tandemd_settings s;
	char *err = NULL;
	int rc = load(&s, text, &err);
	tandemd_settings_free(&s);
	tu_expect_error("tandemd_settings_load", rc, err, what, "");
}

static void test_method(void **state)
{
	(void)state;
	tandemd_settings s;
	ok(&s, "");
	assert_string_equal(s.bootstrap_method, "initdb");
	assert_false(tandemd_bootstrap_from_backup(&s));
	tandemd_settings_free(&s);

	ok(&s, "bootstrap:\n  method: pgbackrest\n  pgbackrest:\n    stanza: old\n"
	       "    command: /usr/local/bin/restore.sh\n    keep_existing_recovery_conf: true\n"
	       "    recovery_conf:\n      recovery_target_time: '2030-01-01T10:00:00+01:00'\n"
	       "      recovery_target_action: promote\n      recovery_target_timeline: latest\n");
	assert_true(tandemd_bootstrap_from_backup(&s));
	assert_string_equal(s.bootstrap_pgbackrest_stanza, "old");
	bootstrap_target t;
	char *err = NULL;
	assert_int_equal(bootstrap_recovery_target(&s.bootstrap_pgbackrest_recovery_conf, &t, &err),
	                 0);
	assert_string_equal(t.type, "time");
	assert_string_equal(t.target, "2030-01-01T10:00:00+01:00");
	assert_string_equal(t.timeline, "latest");
	assert_false(t.exclusive);
	tandemd_settings_free(&s);

	fails("bootstrap:\n  method: wal_e\n", "not a bootstrap method tandem has");
	fails("bootstrap:\n  method: pgbackrest\n", "needs bootstrap.pgbackrest.stanza");
	fails("bootstrap:\n  method: pgbackrest\n  pgbackrest:\n    stanza: batman\n",
	      "archives into its own new stanza");
	fails("bootstrap:\n  pgbackrest:\n    stanza: old\n", "bootstrap.method is not pgbackrest");
}

static void test_no_repository(void **state)
{
	(void)state;
	tandemd_settings s;
	char *err = NULL;
	char *yml = xasprintf("scope: b\nname: n\netcd3:\n  host: h:1\nbootstrap:\n  method: "
	                      "pgbackrest\n  pgbackrest:\n    stanza: old\n");
	char *path = tu_temp_file(yml);
	int rc = tandemd_settings_load(&s, 2, ARGV(path), ENV(DATA_DIR_ENV), &err);
	tandemd_settings_free(&s);
	tu_remove_file(path);
	free(yml);
	tu_expect_error("tandemd_settings_load", rc, err, "names none", "");
}

static void target_is(const char *key, const char *value, const char *type, const char *target)
{
	char *k[] = {(char *)key}, *v[] = {(char *)value};
	cfg_map m = {1, k, v};
	bootstrap_target t;
	char *err = NULL;
	tu_expect_ok("bootstrap_recovery_target", bootstrap_recovery_target(&m, &t, &err), err);
	assert_string_equal(t.type, type);
	if (target)
		assert_string_equal(t.target, target);
	else
		assert_null(t.target);
}

static void recovery_conf_fails(const char *text, const char *what)
{
	char *yml = xasprintf("bootstrap:\n  method: pgbackrest\n  pgbackrest:\n    stanza: old\n"
	                      "    recovery_conf:\n%s",
	                      text);
	fails(yml, what);
	free(yml);
}

static void test_recovery_conf(void **state)
{
	(void)state;
	target_is("recovery_target_lsn", "0/3000060", "lsn", "0/3000060");
	target_is("recovery_target_name", "before-upgrade", "name", "before-upgrade");
	target_is("recovery_target", "immediate", "immediate", NULL);
	target_is("recovery_target_timeline", "latest", "default", NULL);
	recovery_conf_fails("      recovery_target_time: '2030-01-01 10:00'\n", "not an ISO 8601");
	recovery_conf_fails("      recovery_target_lsn: 3000060\n", "not an LSN");
	recovery_conf_fails("      recovery_target_action: pause\n", "promote only");
	recovery_conf_fails("      restore_command: cp %f %p\n",
	                    "pgBackRest writes restore_command");
	recovery_conf_fails("      recovery_target_name: a\n      recovery_target_lsn: 0/1\n",
	                    "names two targets");
	recovery_conf_fails("      recovery_target_timeline: soon\n",
	                    "latest, current or a number");
	recovery_conf_fails("      recovery_target_inclusive: maybe\n", "not true or false");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_method),
	    cmocka_unit_test(test_no_repository),
	    cmocka_unit_test(test_recovery_conf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
