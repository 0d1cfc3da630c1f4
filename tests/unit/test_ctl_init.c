/* Unit tests for src/tandemctl/ctl_init_render.h: the answers checked, the configuration that
 * tandemctl init writes loaded back by tandemd's own loader (the values where they belong, no
 * secret in the YAML), and the secrets file written and read back. */
#include "testutil.h"

#include "ctl_init_render.h"
#include "options.h"

static ctl_init_spec good(void)
{
	return (ctl_init_spec){.cluster = "15-main",
	                       .scope = "orders",
	                       .name = "pg-a1",
	                       .site = "a",
	                       .etcd = "10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379",
	                       .connect_address = "10.0.0.11",
	                       .listen = "0.0.0.0",
	                       .pg_port = 5432,
	                       .rest_port = 8008,
	                       .allow = "10.0.0.0/24, 2001:db8::5"};
}

/* One bad answer at a time, and the flag the refusal must name. */
static const struct {
	size_t field; /* offsetof a const char * in ctl_init_spec */
	const char *value;
	const char *flag;
} bad_answers[] = {
    {offsetof(ctl_init_spec, cluster), "main", "--cluster"},
    {offsetof(ctl_init_spec, cluster), "15-", "--cluster"},
    {offsetof(ctl_init_spec, name), "a b", "--name"},
    {offsetof(ctl_init_spec, scope), "x'y", "--scope"},
    {offsetof(ctl_init_spec, site), "", "--site"},
    {offsetof(ctl_init_spec, etcd), "host:notaport", "--etcd"},
    {offsetof(ctl_init_spec, etcd), "10.0.0.1:2379,,:x", "--etcd"},
    {offsetof(ctl_init_spec, allow), "10.0.0.0/99", "--allow"},
    {offsetof(ctl_init_spec, data_dir), "relative/dir", "--data-dir"},
    {offsetof(ctl_init_spec, namespace_), "service", "--namespace"},
};

static void test_check(void **state)
{
	(void)state;
	char *err = NULL;
	ctl_init_spec s = good();
	assert_int_equal(ctl_init_check(&s, &err), 0);
	for (size_t i = 0; i < sizeof bad_answers / sizeof bad_answers[0]; i++) {
		s = good();
		unsigned char *slot = (unsigned char *)&s + bad_answers[i].field;
		memcpy(slot, &bad_answers[i].value, sizeof bad_answers[i].value);
		assert_int_equal(ctl_init_check(&s, &err), -1);
		assert_contains(err, bad_answers[i].flag);
		free(err);
		err = NULL;
	}
	s = good();
	s.rest_port = s.pg_port;
	assert_int_equal(ctl_init_check(&s, &err), -1);
	assert_contains(err, "--rest-port");
	free(err);
}

/* The YAML loads with tandemd's loader, with the secrets given as systemd gives them. */
static void test_yaml_loads(void **state)
{
	(void)state;
	ctl_init_spec spec = good();
	char *yml = ctl_init_yaml(&spec);
	assert_not_contains(yml, "password");
	char path[] = "/tmp/test_ctl_init_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, yml, strlen(yml)), (ssize_t)strlen(yml));
	close(fd);
	char *env[] = {"PATRONI_SUPERUSER_PASSWORD=su-secret", "PATRONI_REPLICATION_PASSWORD=r",
	               "PATRONI_RESTAPI_USERNAME=tandem", "PATRONI_RESTAPI_PASSWORD=rest", NULL};
	char *argv[] = {"tandemd", path, NULL};
	tandemd_settings s;
	char *err = NULL;
	int rc = tandemd_settings_load(&s, 2, argv, env, &err);
	if (rc != 0)
		print_error("%s\n%s\n", err, yml);
	assert_int_equal(rc, 0);
	assert_string_equal(s.scope, "orders");
	assert_string_equal(s.name, "pg-a1");
	assert_string_equal(s.pg_listen, "0.0.0.0:5432");
	assert_string_equal(s.pg_connect_address, "10.0.0.11:5432");
	assert_string_equal(s.restapi_connect_address, "10.0.0.11:8008");
	assert_string_equal(s.data_dir, "/var/lib/postgresql/15/main");
	assert_string_equal(s.bin_dir, "/usr/lib/postgresql/15/bin");
	assert_string_equal(s.superuser_password, "su-secret");
	assert_string_equal(s.restapi_password, "rest");
	assert_int_equal(s.etcd3_hosts.n, 3);
	assert_string_equal(cfg_map_get(&s.tags, "site"), "a");
	bool v4 = false, v6 = false;
	for (size_t i = 0; i < s.pg_hba.n; i++) {
		v4 |=
		    !strcmp(s.pg_hba.v[i], "host replication replicator 10.0.0.0/24 scram-sha-256");
		v6 |= !strcmp(s.pg_hba.v[i], "host all all 2001:db8::5/128 scram-sha-256");
	}
	assert_true(v4);
	assert_true(v6);
	tandemd_settings_free(&s);
	unlink(path);
	free(yml);
}

static void test_env_round_trip(void **state)
{
	(void)state;
	char *err = NULL;
	ctl_init_secrets x = {0};
	x.superuser_password = ctl_init_password(24, &err);
	x.replication_password = ctl_init_password(24, &err);
	x.rest_password = ctl_init_password(24, &err);
	assert_non_null(x.rest_password);
	assert_int_equal(strlen(x.rest_password), 32); /* 24 bytes, base64 without padding */
	assert_null(strpbrk(x.rest_password, "+/=\n"));
	assert_string_not_equal(x.superuser_password, x.replication_password);
	char *text = ctl_init_env(&x);
	ctl_init_secrets y;
	assert_int_equal(ctl_init_env_parse(text, &y, &err), 0);
	assert_string_equal(y.superuser_password, x.superuser_password);
	assert_string_equal(y.replication_password, x.replication_password);
	assert_string_equal(y.rest_password, x.rest_password);
	ctl_init_secrets_free(&y);
	assert_int_equal(ctl_init_env_parse("PATRONI_SUPERUSER_PASSWORD=a\n", &y, &err), -1);
	assert_contains(err, "PATRONI_REPLICATION_PASSWORD");
	free(err);
	free(text);
	ctl_init_secrets_free(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check),
	    cmocka_unit_test(test_yaml_loads),
	    cmocka_unit_test(test_env_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
