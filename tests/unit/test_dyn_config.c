/* Unit tests for the PostgreSQL parameters the cluster configuration (the DCS `config` key) may
 * not set (dyn_config_param_refused), and for dyn_config_check applying that one rule. */
#include <stdbool.h>

#include "testutil.h"

#include "dyn_config.h"

static const struct {
	const char *name;
	const char *why; /* NULL: allowed */
} table[] = {
    /* tandemd's own */
    {"listen_addresses", "managed by tandemd"},
    {"port", "managed by tandemd"},
    {"primary_conninfo", "managed by tandemd"},
    {"primary_slot_name", "managed by tandemd"},
    {"hot_standby", "managed by tandemd"},
    {"wal_level", "managed by tandemd"},
    /* programs */
    {"archive_command", "runs a program"},
    {"restore_command", "runs a program"},
    {"archive_cleanup_command", "runs a program"},
    {"recovery_end_command", "runs a program"},
    {"ssl_passphrase_command", "runs a program"},
    {"ARCHIVE_Command", "runs a program"},
    /* code */
    {"shared_preload_libraries", "loads code"},
    {"session_preload_libraries", "loads code"},
    {"local_preload_libraries", "loads code"},
    {"archive_library", "loads code"},
    {"dynamic_library_path", "loads code"},
    {"jit_provider", "loads code"},
    /* other files */
    {"include", "other files"},
    {"include_dir", "other files"},
    {"include_if_exists", "other files"},
    {"data_directory", "other files"},
    {"config_file", "other files"},
    {"hba_file", "other files"},
    {"ident_file", "other files"},
    {"external_pid_file", "other files"},
    {"log_directory", "other files"},
    {"log_filename", "other files"},
    {"ssl_key_file", "other files"},
    {"ssl_ca_file", "other files"},
    {"Hba_File", "other files"},
    /* what a cluster configuration is for */
    {"max_connections", NULL},
    {"shared_buffers", NULL},
    {"wal_keep_size", NULL},
    {"archive_mode", NULL},
    {"archive_timeout", NULL},
    {"ssl", NULL},
    {"log_min_duration_statement", NULL},
    {"synchronous_commit", NULL},
    {"commander", NULL},
    {"pg_stat_statements.max", NULL},
    /* what postgresql.conf would not take */
    {"work mem", "not a parameter name"},
    {"a\nb", "not a parameter name"},
    {"x'y", "not a parameter name"},
    {"", "not a parameter name"},
};

static void test_refused_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		const char *why = dyn_config_param_refused(table[i].name);
		if (!table[i].why) {
			if (why)
				print_error("%s: refused (%s)\n", table[i].name, why);
			assert_null(why);
		} else {
			if (!why)
				print_error("%s: allowed\n", table[i].name);
			assert_contains(why, table[i].why);
		}
	}
}

/* The REST API's PATCH and PUT /config check with dyn_config_check: the same rule. */
static void test_check_applies_the_rule(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		json_t *c =
		    json_pack("{s:{s:{s:s}}}", "postgresql", "parameters", table[i].name, "x");
		char *why = dyn_config_check(c, NULL);
		if (table[i].why) {
			assert_contains(why, table[i].name);
			assert_contains(why, table[i].why);
		} else {
			assert_null(why);
		}
		free(why);
		json_decref(c);
	}
}

/* A refused parameter a configuration already holds (written by Patroni, or straight into etcd)
 * may stay while other keys change; it cannot be set anew or changed. */
static void test_check_change(void **state)
{
	(void)state;
	json_t *before = json_pack("{s:{s:{s:s,s:i}}}", "postgresql", "parameters",
	                           "archive_command", "cp %p /a/%f", "max_connections", 100);
	json_t *pause = json_pack("{s:b}", "pause", 1);
	json_t *paused = dyn_config_merge(before, pause);
	json_decref(pause);
	char *why = dyn_config_check_change(before, paused, NULL);
	assert_null(why);
	why = dyn_config_check(paused, NULL);
	assert_contains(why, "archive_command");
	free(why);
	json_t *changed = json_pack("{s:{s:{s:s}}}", "postgresql", "parameters", "archive_command",
	                            "touch /tmp/x");
	why = dyn_config_check_change(before, changed, NULL);
	assert_contains(why, "runs a program");
	free(why);
	json_t *added =
	    json_pack("{s:{s:{s:s,s:s}}}", "postgresql", "parameters", "archive_command",
	              "cp %p /a/%f", "shared_preload_libraries", "x");
	why = dyn_config_check_change(before, added, NULL);
	assert_contains(why, "shared_preload_libraries");
	free(why);
	json_decref(before);
	json_decref(paused);
	json_decref(changed);
	json_decref(added);
}

/* A value postgresql.conf cannot hold on one line would stop every member from writing it. */
static void test_param_values(void **state)
{
	(void)state;
	json_t *v = json_string("8MB");
	assert_null(dyn_config_param_check("work_mem", v));
	json_decref(v);
	v = json_string("a\nrestore_command = 'touch /tmp/x'");
	assert_contains(dyn_config_param_check("work_mem", v), "control character");
	json_decref(v);
	v = json_pack("[i]", 1);
	assert_contains(dyn_config_param_check("work_mem", v), "a string, a number or a boolean");
	json_decref(v);
	v = json_integer(5);
	assert_contains(dyn_config_param_check("archive_command", v), "runs a program");
	json_decref(v);
	json_t *c = json_pack("{s:{s:{s:s}}}", "postgresql", "parameters", "work_mem", "1\r2");
	char *why = dyn_config_check(c, NULL);
	assert_contains(why, "control character");
	free(why);
	json_decref(c);
}

/* synchronous_site_policy: one of the five names, or absent. */
static void test_site_policy(void **state)
{
	(void)state;
	static const struct {
		const char *json;
		bool ok;
	} rows[] = {
	    {"{}", true},
	    {"{\"synchronous_site_policy\": null}", true},
	    {"{\"synchronous_site_policy\": \"local_only\"}", true},
	    {"{\"synchronous_site_policy\": \"prefer_local\"}", true},
	    {"{\"synchronous_site_policy\": \"remote_only\"}", true},
	    {"{\"synchronous_site_policy\": \"prefer_remote\"}", true},
	    {"{\"synchronous_site_policy\": \"balanced\"}", true},
	    {"{\"synchronous_site_policy\": \"remote\"}", false},
	    {"{\"synchronous_site_policy\": 1}", false},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		json_t *c = json_loads(rows[i].json, 0, NULL);
		char *why = dyn_config_check(c, NULL);
		if (rows[i].ok != (why == NULL))
			fail_msg("%s: %s", rows[i].json, why ? why : "accepted");
		if (why)
			assert_contains(why, "synchronous_site_policy");
		free(why);
		json_decref(c);
	}
	assert_int_equal(dyn_config_site_policy(NULL), 0);
	assert_int_equal(dyn_config_site_policy("balanced"), 5);
	assert_int_equal(dyn_config_site_policy("x"), -1);
	assert_string_equal(dyn_config_site_policy_name(3), "remote_only");
	assert_null(dyn_config_site_policy_name(6));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_refused_table), cmocka_unit_test(test_check_applies_the_rule),
	    cmocka_unit_test(test_check_change),  cmocka_unit_test(test_param_values),
	    cmocka_unit_test(test_site_policy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
