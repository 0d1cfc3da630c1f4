/* pgbr_conf: the pass-through options first and unchanged, retention per repository unless
 * given, what tandem owns, the stanza's servers; the argv of a command. */
#include "testutil.h"

#include "pgbr_conf.h"

static void test_render(void **state)
{
	(void)state;
	char *keys[] = {"repo1-path", "compress-type", "repo2-type", "repo2-retention-full"};
	char *values[] = {"/srv/backup", "zst", "s3", "7"};
	cfg_map global = {4, keys, values};
	pgbr_pg pg[] = {
	    {.path = "/d/n1", .port = "5433", .socket_path = "/run/n1", .user = "postgres"},
	    {.path = "/d/n2", .port = "5434", .host = "10.0.0.2", .host_type = "tls"}};
	pgbr_conf_in in = {.stanza = "batman",
	                   .global = &global,
	                   .spool_path = "/d/n1.pgbackrest",
	                   .archive_async = true,
	                   .process_max = 2,
	                   .archive_push_queue_max = 1073741824LL,
	                   .retention_full = 2,
	                   .pg = pg,
	                   .npg = 2};
	char *t = pgbr_conf_render(&in);
	const char *want =
	    "[global]\n"
	    "repo1-path=/srv/backup\n"
	    "compress-type=zst\n"
	    "repo2-type=s3\n"
	    "repo2-retention-full=7\n"
	    "repo1-retention-full=2\n"
	    "archive-async=y\n"
	    "spool-path=/d/n1.pgbackrest\n"
	    "lock-path=/d/n1.pgbackrest/lock\n"
	    "log-path=/d/n1.pgbackrest/log\n"
	    "process-max=2\n"
	    "archive-push-queue-max=1073741824\n"
	    "\n[batman]\n"
	    "pg1-path=/d/n1\npg1-port=5433\npg1-socket-path=/run/n1\npg1-user=postgres\n"
	    "pg2-path=/d/n2\npg2-port=5434\npg2-host=10.0.0.2\npg2-host-type=tls\n";
	assert_non_null(strstr(t, want));
	free(t);

	int repos[4];
	assert_int_equal(pgbr_repos(&global, repos, 4), 2);
	assert_int_equal(repos[0], 1);
	assert_int_equal(repos[1], 2);
}

static void test_argv(void **state)
{
	(void)state;
	const char *args[] = {"--type=full"};
	char **v = pgbr_argv("pgbackrest", "/d/n1.pgbackrest.conf", "batman", "backup", args, 1);
	assert_string_equal(v[0], "pgbackrest");
	assert_string_equal(v[1], "--config=/d/n1.pgbackrest.conf");
	assert_string_equal(v[2], "--stanza=batman");
	assert_string_equal(v[3], "backup");
	assert_string_equal(v[4], "--type=full");
	assert_null(v[5]);
	pgbr_argv_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_render),
	                                   cmocka_unit_test(test_argv)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
