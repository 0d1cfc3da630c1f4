/* Unit tests for pgctl_conninfo (src/tandemd/pg/pgctl.h): the libpq connection string of a
 * connection to another member, TLS parameters included, quoted, with no password. */
#include "testutil.h"

#include "pgctl.h"

static void test_plain(void **state)
{
	(void)state;
	pgctl_upstream u = {.host = "10.0.0.5",
	                    .port = "5432",
	                    .user = "replicator",
	                    .dbname = "postgres",
	                    .passfile = "/var/lib/pg/data.pgpass",
	                    .application_name = "pg-a2"};
	char *err = NULL;
	char *ci = pgctl_conninfo(&u, &err);
	assert_string_equal(ci, "host='10.0.0.5' port='5432' user='replicator' dbname='postgres' "
	                        "passfile='/var/lib/pg/data.pgpass' application_name='pg-a2'");
	free(ci);
}

static void test_tls_parameters(void **state)
{
	(void)state;
	pgctl_upstream u = {.host = "db1.example.com",
	                    .port = "5433",
	                    .user = "replicator",
	                    .ssl = {.sslmode = "verify-full",
	                            .sslcert = "/etc/pg/client.crt",
	                            .sslkey = "/etc/pg/client.key",
	                            .sslrootcert = "/etc/pg/it's ca.crt",
	                            .sslcrl = "/etc/pg/crl.pem",
	                            .sslcrldir = "/etc/pg/crl\\d",
	                            .gssencmode = "disable",
	                            .channel_binding = "require"}};
	char *err = NULL;
	char *ci = pgctl_conninfo(&u, &err);
	assert_string_equal(ci, "host='db1.example.com' port='5433' user='replicator' "
	                        "sslmode='verify-full' sslcert='/etc/pg/client.crt' "
	                        "sslkey='/etc/pg/client.key' sslrootcert='/etc/pg/it\\'s ca.crt' "
	                        "sslcrl='/etc/pg/crl.pem' sslcrldir='/etc/pg/crl\\\\d' "
	                        "gssencmode='disable' channel_binding='require'");
	assert_not_contains(ci, "password");
	free(ci);
}

/* A line break in any parameter would let a value add settings to postgresql.conf. */
static void test_control_characters_refused(void **state)
{
	(void)state;
	pgctl_upstream u = {.host = "10.0.0.5", .ssl = {.sslrootcert = "/a\nprimary_slot_name=x"}};
	char *err = NULL;
	assert_null(pgctl_conninfo(&u, &err));
	assert_contains(err, "control character");
	free(err);
	err = NULL;
	u.ssl = (pgctl_ssl){.channel_binding = "require\r"};
	assert_null(pgctl_conninfo(&u, &err));
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain),
	    cmocka_unit_test(test_tls_parameters),
	    cmocka_unit_test(test_control_characters_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
