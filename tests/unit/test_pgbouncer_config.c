/* Unit tests for src/tandemctl/pgbouncer_config.h: what the rendered pgbouncer.ini says, and the
 * values it refuses because they would break the file. */
#include "testutil.h"

#include "pgbouncer_config.h"

static pgbouncer_config_input base(void)
{
	pgbouncer_config_input in = {.scope = "batman",
	                             .listen_host = "0.0.0.0",
	                             .listen_port = "6432",
	                             .route_host = "10.0.0.9",
	                             .route_port = "5000",
	                             .admin_user = "pgbadmin",
	                             .auth_file = "/etc/pgbouncer/userlist.txt",
	                             .pool_mode = "transaction",
	                             .max_client_conn = 1000,
	                             .default_pool_size = 20,
	                             .pause_timeout_s = 10};
	return in;
}

static void test_routes_every_database_to_the_route(void **state)
{
	(void)state;
	pgbouncer_config_input in = base();
	char *err = NULL;
	char *t = pgbouncer_config_render(&in, &err);
	assert_non_null(t);
	assert_non_null(strstr(t, "[databases]\n* = host=10.0.0.9 port=5000\n"));
	assert_non_null(strstr(t, "\nlisten_addr = 0.0.0.0\nlisten_port = 6432\n"));
	assert_non_null(strstr(t, "\nadmin_users = pgbadmin\n"));
	assert_non_null(strstr(t, "\npool_mode = transaction\n"));
	assert_non_null(strstr(t, "\nauth_type = scram-sha-256\n"));
	assert_non_null(strstr(t, "\nserver_login_retry = 1\n"));
	/* held queries outlast the longest pause */
	assert_non_null(strstr(t, "\nquery_wait_timeout = 60\n"));
	free(t);
}

static void test_ipv6_without_brackets(void **state)
{
	(void)state;
	pgbouncer_config_input in = base();
	in.route_host = "[fd00::9]";
	in.listen_host = "[::1]";
	char *err = NULL;
	char *t = pgbouncer_config_render(&in, &err);
	assert_non_null(t);
	assert_non_null(strstr(t, "* = host=fd00::9 port=5000\n"));
	assert_non_null(strstr(t, "listen_addr = ::1\n"));
	free(t);
}

static void refused(pgbouncer_config_input in, const char *want)
{
	char *err = NULL;
	char *t = pgbouncer_config_render(&in, &err);
	if (t)
		print_error("rendered although it should fail with '%s'\n", want);
	assert_null(t);
	assert_non_null(err);
	if (!strstr(err, want)) {
		print_error("error '%s' lacks '%s'\n", err, want);
		fail();
	}
	free(err);
}

static void test_refuses_what_breaks_the_file(void **state)
{
	(void)state;
	pgbouncer_config_input in = base();
	in.route_host = "10.0.0.9\nadmin_users = mallory";
	refused(in, "route host");
	in = base();
	in.route_host = "a b";
	refused(in, "route host");
	in = base();
	in.listen_port = "65536";
	refused(in, "listen port");
	in = base();
	in.route_port = "5x";
	refused(in, "route port");
	in = base();
	in.admin_user = "x;y";
	refused(in, "admin user");
	in = base();
	in.auth_file = "";
	refused(in, "auth file");
	in = base();
	in.pool_mode = "sessions";
	refused(in, "pool mode");
	in = base();
	in.default_pool_size = 0;
	refused(in, "default_pool_size");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_routes_every_database_to_the_route),
	    cmocka_unit_test(test_ipv6_without_brackets),
	    cmocka_unit_test(test_refuses_what_breaks_the_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
