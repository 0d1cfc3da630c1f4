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

/* A standby's backup through the primary's TLS server: pg1 local, pg2 with the host lines. */
static void test_render_tls(void **state)
{
	(void)state;
	char *keys[] = {"repo1-path"};
	char *values[] = {"/srv/backup"};
	cfg_map global = {1, keys, values};
	pgbr_pg pg[] = {{.path = "/d/n2", .port = "5434", .socket_path = "/run/n2"},
	                {.path = "/d/n1",
	                 .port = "5433",
	                 .socket_path = "/run/n1",
	                 .host = "db1.example.net",
	                 .host_type = "tls",
	                 .host_port = "8432",
	                 .host_cert_file = "/etc/c.crt",
	                 .host_key_file = "/etc/c.key",
	                 .host_ca_file = "/etc/ca.crt"}};
	pgbr_conf_in in = {.stanza = "batman",
	                   .global = &global,
	                   .spool_path = "/d/n2.pgbackrest",
	                   .process_max = 2,
	                   .pg = pg,
	                   .npg = 2};
	char *t = pgbr_conf_render(&in);
	const char *want = "\n[batman]\n"
	                   "pg1-path=/d/n2\npg1-port=5434\npg1-socket-path=/run/n2\n"
	                   "pg2-path=/d/n1\npg2-port=5433\npg2-socket-path=/run/n1\n"
	                   "pg2-host=db1.example.net\npg2-host-type=tls\npg2-host-port=8432\n"
	                   "pg2-host-cert-file=/etc/c.crt\npg2-host-key-file=/etc/c.key\n"
	                   "pg2-host-ca-file=/etc/ca.crt\n";
	assert_non_null(strstr(t, want));
	assert_null(strstr(t, "pg1-host"));
	free(t);
}

/* The TLS server's own file: where it listens, its certificate, one auth line per client CN. */
static void test_server_conf(void **state)
{
	(void)state;
	const char *auth[] = {"pg1", "pg2"};
	pgbr_server_in in = {.stanza = "batman",
	                     .address = "127.0.0.1",
	                     .port = "29432",
	                     .cert_file = "/etc/s.crt",
	                     .key_file = "/etc/s.key",
	                     .ca_file = "/etc/ca.crt",
	                     .auth = auth,
	                     .nauth = 2,
	                     .spool_path = "/d/n1.pgbackrest"};
	char *t = pgbr_server_conf_render(&in);
	const char *want = "[global]\n"
	                   "tls-server-address=127.0.0.1\ntls-server-port=29432\n"
	                   "tls-server-cert-file=/etc/s.crt\ntls-server-key-file=/etc/s.key\n"
	                   "tls-server-ca-file=/etc/ca.crt\n"
	                   "tls-server-auth=pg1=batman\ntls-server-auth=pg2=batman\n"
	                   "lock-path=/d/n1.pgbackrest/lock\nlog-path=/d/n1.pgbackrest/log\n";
	assert_non_null(strstr(t, want));
	free(t);
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
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render), cmocka_unit_test(test_render_tls),
	    cmocka_unit_test(test_server_conf), cmocka_unit_test(test_argv)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
