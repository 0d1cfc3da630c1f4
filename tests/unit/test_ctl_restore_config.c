/* Unit tests for src/tandemctl/ctl_restore_config.h: the configuration tandemctl restore gives
 * the new cluster's first member carries every key of the source's that the option table has,
 * as tandemd loads it back, except the plan's own values and the keys it names as not carried.
 * The source fixtures set every option of the table to a value other than its default: an option
 * added to the table without a line here fails test_fixtures_cover_the_table, so that whoever
 * adds it decides whether a restored cluster should have it (ctl_restore_config.c `dropped`). */
#include "testutil.h"

#include "ctl_restore_config.h"
#include "options.h"
#include "strbuf.h"

#define ARGV(...) ((char *[]){"tandemd", __VA_ARGS__, NULL})
#define NOENV     ((char *[]){NULL})

/* Every option but etcd3.host (fixture_b), each unlike its default; in three parts, as C11 only
 * promises string literals of 4095 characters. */
static const char fixture_a1[] = "scope: orders\n"
                                 "namespace: /tandem/\n"
                                 "name: orders-a1\n"
                                 "restapi:\n"
                                 "  listen: 10.0.0.1:8008\n"
                                 "  connect_address: 10.0.0.1:8008\n"
                                 "  authentication: {username: api, password: api-s3cret}\n"
                                 "  allow_unauthenticated_changes: true\n"
                                 "  allowlist: [10.0.0.0/24, 127.0.0.1]\n"
                                 "  allowlist_include_members: true\n"
                                 "  allowlist_all: true\n"
                                 "  certfile: /etc/tandem/rest.crt\n"
                                 "  keyfile: /etc/tandem/rest.key\n"
                                 "  keyfile_password: key-s3cret\n"
                                 "  cafile: /etc/tandem/ca.crt\n"
                                 "  verify_client: required\n"
                                 "ctl:\n"
                                 "  cacert: /etc/tandem/ctl-ca.crt\n"
                                 "  certfile: /etc/tandem/ctl.crt\n"
                                 "  keyfile: /etc/tandem/ctl.key\n"
                                 "  keyfile_password: ctl-s3cret\n"
                                 "  insecure: true\n"
                                 "etcd3:\n"
                                 "  hosts: [10.0.0.11:2379, 10.0.0.12:2379]\n"
                                 "  protocol: https\n"
                                 "  username: etcd-user\n"
                                 "  password: etcd-s3cret\n"
                                 "  cacert: /etc/etcd/ca.crt\n"
                                 "  cert: /etc/etcd/client.crt\n"
                                 "  key: /etc/etcd/client.key\n"
                                 "bootstrap:\n"
                                 "  dcs:\n"
                                 "    ttl: 30\n"
                                 "    loop_wait: 10\n"
                                 "    retry_timeout: 2500ms\n"
                                 "    maximum_lag_on_failover: 2MiB\n"
                                 "    synchronous_mode: true\n"
                                 "    synchronous_mode_strict: true\n"
                                 "    failsafe_mode: true\n"
                                 "    synchronous_node_count: 2\n"
                                 "    postgresql:\n"
                                 "      use_pg_rewind: true\n"
                                 "      use_slots: false\n"
                                 "      parameters:\n"
                                 "        max_connections: 200\n"
                                 "        archive_command: /bin/true\n"
                                 "    standby_cluster:\n"
                                 "      host: 10.0.1.1\n"
                                 "      port: 5433\n"
                                 "      primary_slot_name: site_a\n"
                                 "      restore_command: cp /a/%f %p\n"
                                 "      recovery_min_apply_delay: 5min\n"
                                 "  initdb: [data-checksums, {encoding: UTF8}]\n"
                                 "  method: pgbackrest\n"
                                 "  pgbackrest:\n"
                                 "    stanza: older\n"
                                 "    recovery_conf: {recovery_target_name: before-upgrade}\n"
                                 "    keep_existing_recovery_conf: true\n"
                                 "    command: /usr/bin/pgbackrest restore\n";
static const char fixture_a2[] =
    "postgresql:\n"
    "  listen: 10.0.0.1:5432\n"
    "  connect_address: 10.0.0.1:5432\n"
    "  data_dir: /var/lib/postgresql/15/orders\n"
    "  bin_dir: /opt/pg/bin\n"
    "  pgpass: /var/lib/postgresql/orders.pgpass\n"
    "  authentication:\n"
    "    superuser:\n"
    "      username: postgres\n"
    "      password: su-s3cret\n"
    "      sslmode: verify-full\n"
    "      sslcert: /etc/tandem/su.crt\n"
    "      sslkey: /etc/tandem/su.key\n"
    "      sslrootcert: /etc/tandem/pg-ca.crt\n"
    "      sslcrl: /etc/tandem/pg.crl\n"
    "      sslcrldir: /etc/tandem/crl\n"
    "      gssencmode: disable\n"
    "      channel_binding: require\n"
    "    replication:\n"
    "      username: replicator\n"
    "      password: rep-s3cret\n"
    "      sslmode: verify-ca\n"
    "      sslcert: /etc/tandem/rep.crt\n"
    "      sslkey: /etc/tandem/rep.key\n"
    "      sslrootcert: /etc/tandem/pg-ca.crt\n"
    "      sslcrl: /etc/tandem/pg.crl\n"
    "      sslcrldir: /etc/tandem/crl\n"
    "      gssencmode: disable\n"
    "      channel_binding: require\n"
    "    rewind:\n"
    "      username: rewinder\n"
    "      password: rew-s3cret\n"
    "      sslmode: require\n"
    "      sslcert: /etc/tandem/rew.crt\n"
    "      sslkey: /etc/tandem/rew.key\n"
    "      sslrootcert: /etc/tandem/pg-ca.crt\n"
    "      sslcrl: /etc/tandem/pg.crl\n"
    "      sslcrldir: /etc/tandem/crl\n"
    "      gssencmode: disable\n"
    "      channel_binding: require\n"
    "  remove_data_directory_on_rewind_failure: true\n"
    "  remove_data_directory_on_diverged_timelines: true\n"
    "  parameters:\n"
    "    shared_buffers: 1GB\n"
    "    archive_command: pgbackrest --stanza=orders archive-push %p\n"
    "    restore_command: pgbackrest --stanza=orders archive-get %f %p\n"
    "    application_name: \"with \\\"quotes\\\" and: colon\"\n"
    "  pg_hba:\n"
    "    - host all all 10.0.0.0/24 scram-sha-256\n"
    "    - hostssl replication replicator 10.0.0.0/24 cert\n"
    "  create_replica_methods: [pgbackrest, basebackup]\n"
    "  pgbackrest:\n"
    "    keep_data: false\n"
    "    no_leader: false\n"
    "    no_params: false\n"
    "    command: /usr/bin/pgbackrest --delta restore\n";
static const char fixture_a3[] = "watchdog:\n"
                                 "  mode: required\n"
                                 "  device: /dev/watchdog1\n"
                                 "  safety_margin: 5\n"
                                 "tags:\n"
                                 "  nofailover: true\n"
                                 "  site: east\n"
                                 "log:\n"
                                 "  level: DEBUG\n"
                                 "  dir: /var/log/tandem\n"
                                 "  file_num: 9\n"
                                 "  file_size: 10MiB\n"
                                 "  type: plain\n"
                                 "  format: ['%(asctime)s', '%(message)s']\n"
                                 "  dateformat: '%Y-%m-%d'\n"
                                 "  loggers: {patroni.postmaster: WARNING}\n"
                                 "  traceback_level: DEBUG\n"
                                 "  max_queue_size: 2000\n"
                                 "backup:\n"
                                 "  pgbackrest:\n"
                                 "    repo1-path: /srv/backup\n"
                                 "    compress-type: zst\n"
                                 "    repo1-retention-diff: 3\n"
                                 "  stanza: orders-main\n"
                                 "  command: /usr/local/bin/pgbackrest\n"
                                 "  config: /etc/pgbackrest/orders.conf\n"
                                 "  archive_timeout: 30\n"
                                 "  archive_async: false\n"
                                 "  spool_path: /var/spool/pgbackrest\n"
                                 "  archive_push_queue_max: 4GiB\n"
                                 "  process_max: 4\n"
                                 "  retention_full: 3\n"
                                 "  schedule:\n"
                                 "    full: 30 2 * * sun\n"
                                 "    diff: 30 2 * * mon-sat\n"
                                 "    incr: 0 */4 * * *\n"
                                 "    drill: 15 5 * * *\n"
                                 "  time_zone: Europe/Berlin\n"
                                 "  from_standby: false\n"
                                 "  timeout: 7200\n"
                                 "  drill_path: /srv/drill\n"
                                 "  drill_timeout: 1800\n"
                                 "  tls_server:\n"
                                 "    address: 10.0.0.1:8432\n"
                                 "    host: db1.example.net\n"
                                 "    cert_file: /etc/tandem/pgbr-server.crt\n"
                                 "    key_file: /etc/tandem/pgbr-server.key\n"
                                 "    ca_file: /etc/tandem/ca.crt\n"
                                 "    auth: [tandem-backup]\n"
                                 "  tls_client:\n"
                                 "    cert_file: /etc/tandem/pgbr-client.crt\n"
                                 "    key_file: /etc/tandem/pgbr-client.key\n"
                                 "    ca_file: /etc/tandem/ca.crt\n"
                                 "pgbouncer:\n"
                                 "  admin: ['host=10.0.0.5 port=6432 dbname=pgbouncer']\n"
                                 "  route: host=10.0.0.5 port=5000\n"
                                 "  pause_timeout: 4\n"
                                 "kubernetes:\n"
                                 "  role_label: tandem-role\n"
                                 "  leader_label_value: leader\n"
                                 "  follower_label_value: follower\n"
                                 "  standby_leader_label_value: standby\n"
                                 "  namespace: db\n"
                                 "  pod_name: orders-0\n"
                                 "  cacert: /run/k8s/ca.crt\n"
                                 "  token_file: /run/k8s/token\n";

/* What fixture_a cannot set beside the rest: etcd3.host instead of etcd3.hosts (and a
 * repository: a restore needs one). */
static const char fixture_b[] = "scope: orders\n"
                                "name: orders-b1\n"
                                "etcd3:\n"
                                "  host: 10.0.0.11:2379\n"
                                "postgresql:\n"
                                "  data_dir: /var/lib/postgresql/15/orders\n"
                                "backup:\n"
                                "  pgbackrest: {repo1-path: /srv/backup}\n";

static char *fixture_a(void)
{
	return xasprintf("%s%s%s", fixture_a1, fixture_a2, fixture_a3);
}

static void load(tandemd_settings *s, const char *yml)
{
	char *path = tu_temp_file(yml);
	char *err = NULL;
	int rc = tandemd_settings_load(s, 2, ARGV(path), NOENV, &err);
	if (rc != 0)
		print_error("%s\n", yml);
	tu_expect_ok("tandemd_settings_load", rc, err);
	tu_remove_file(path);
}

static void load_defaults(tandemd_settings *d)
{
	memset(d, 0, sizeof *d);
	for (size_t i = 0; i < tandemd_options.n; i++) {
		const cfg_option *o = &tandemd_options.options[i];
		char *err = NULL;
		int rc = o->def ? cfg_set_text(o, d, o->def, "default", &err) : 0;
		tu_expect_ok(o->name, rc, err);
	}
}

static restore_plan plan_of(const tandemd_settings *src)
{
	return (restore_plan){.src = src,
	                      .cluster = "orders_pitr",
	                      .member = "orders_pitr-1",
	                      .data_dir = "/var/lib/postgresql/15/orders_pitr",
	                      .listen = "10.0.0.2:5440",
	                      .rest_listen = "10.0.0.2:8010",
	                      .from_stanza = "orders-main",
	                      .target_key = "recovery_target_time",
	                      .target_value = "2030-01-01T10:00:00+00:00"};
}

static void expect_text(const tandemd_settings *s, const char *name, const char *want)
{
	const cfg_option *o = cfg_find(&tandemd_options, name);
	assert_non_null(o);
	char *v = cfg_format(o, s);
	if (strcmp(v, want) != 0)
		print_error("%s: '%s', expected '%s'\n", name, v, want);
	assert_string_equal(v, want);
	free(v);
}

/* Rendering the source's configuration with the plan and loading it back gives each key its
 * plan value, its default (not carried) or the source's value. */
static void round_trip(const char *fixture)
{
	tandemd_settings src, dst, def;
	load(&src, fixture);
	load_defaults(&def);
	restore_plan p = plan_of(&src);
	char *yml = ctl_restore_config(&p);
	load(&dst, yml);
	static const char *const planned[] = {"config",
	                                      "scope",
	                                      "name",
	                                      "restapi.listen",
	                                      "restapi.connect_address",
	                                      "postgresql.listen",
	                                      "postgresql.connect_address",
	                                      "postgresql.data_dir",
	                                      "backup.stanza",
	                                      "bootstrap.method",
	                                      "bootstrap.pgbackrest.stanza",
	                                      "bootstrap.pgbackrest.recovery_conf",
	                                      "postgresql.parameters",
	                                      "bootstrap.dcs.postgresql.parameters"};
	for (size_t i = 0; i < tandemd_options.n; i++) {
		const cfg_option *o = &tandemd_options.options[i];
		bool plan = false;
		for (size_t k = 0; k < sizeof planned / sizeof planned[0]; k++)
			plan |= strcmp(o->name, planned[k]) == 0;
		if (plan)
			continue;
		const tandemd_settings *want = ctl_restore_not_carried(o->name) ? &def : &src;
		if (cfg_differs(o, want, &dst)) {
			char *a = cfg_format(o, want), *b = cfg_format(o, &dst);
			print_error(
			    "%s: '%s' in the new member's configuration, expected '%s' (%s)\n%s",
			    o->name, b, a, want == &def ? "its default" : "the source's", yml);
			fail();
		}
	}
	expect_text(&dst, "scope", "orders_pitr");
	expect_text(&dst, "name", "orders_pitr-1");
	expect_text(&dst, "restapi.listen", "10.0.0.2:8010");
	expect_text(&dst, "restapi.connect_address", "10.0.0.2:8010");
	expect_text(&dst, "postgresql.listen", "10.0.0.2:5440");
	expect_text(&dst, "postgresql.connect_address", "10.0.0.2:5440");
	expect_text(&dst, "postgresql.data_dir", "/var/lib/postgresql/15/orders_pitr");
	expect_text(&dst, "backup.stanza", "orders_pitr");
	expect_text(&dst, "bootstrap.method", "pgbackrest");
	expect_text(&dst, "bootstrap.pgbackrest.stanza", "orders-main");
	expect_text(&dst, "bootstrap.pgbackrest.recovery_conf",
	            "recovery_target_time=2030-01-01T10:00:00+00:00,recovery_target_action=promote,"
	            "recovery_target_timeline=latest");
	/* The PostgreSQL parameters, without the two that name the source's stanza. */
	static const char *const maps[] = {"postgresql.parameters",
	                                   "bootstrap.dcs.postgresql.parameters"};
	for (size_t i = 0; i < 2; i++) {
		const cfg_option *o = cfg_find(&tandemd_options, maps[i]);
		const cfg_map *s = (const void *)((const char *)&src + o->offset);
		const cfg_map *d = (const void *)((const char *)&dst + o->offset);
		for (size_t k = 0; k < s->n; k++) {
			char *full = xasprintf("%s.%s", maps[i], s->keys[k]);
			const char *v = cfg_map_get(d, s->keys[k]);
			if (ctl_restore_not_carried(full))
				assert_null(v);
			else {
				assert_non_null(v);
				assert_string_equal(v, s->values[k]);
			}
			free(full);
		}
	}
	free(yml);
	tandemd_settings_free(&src);
	tandemd_settings_free(&dst);
	cfg_free(&tandemd_options, &def);
}

static void test_round_trip_a(void **state)
{
	(void)state;
	char *a = fixture_a();
	round_trip(a);
	free(a);
}

static void test_round_trip_b(void **state)
{
	(void)state;
	round_trip(fixture_b);
}

/* Every option of the table differs from its default in one of the fixtures. */
static void test_fixtures_cover_the_table(void **state)
{
	(void)state;
	tandemd_settings a, b, def;
	char *text = fixture_a();
	load(&a, text);
	free(text);
	load(&b, fixture_b);
	load_defaults(&def);
	for (size_t i = 0; i < tandemd_options.n; i++) {
		const cfg_option *o = &tandemd_options.options[i];
		if (!cfg_differs(o, &a, &def) && !cfg_differs(o, &b, &def)) {
			print_error("option %s is in no fixture of this test: add it with a value "
			            "other than its default, and decide whether a restored cluster "
			            "carries it (ctl_restore_config.c)\n",
			            o->name);
			fail();
		}
	}
	tandemd_settings_free(&a);
	tandemd_settings_free(&b);
	cfg_free(&tandemd_options, &def);
}

/* The operator sees what was left out, and why; no secret is in the comment. */
static void test_what_is_not_carried_is_said(void **state)
{
	(void)state;
	tandemd_settings src;
	char *text = fixture_a();
	load(&src, text);
	free(text);
	restore_plan p = plan_of(&src);
	char *yml = ctl_restore_config(&p);
	assert_contains(yml, "# Not carried from the source's configuration:\n");
	assert_contains(yml, "#   log.dir: the source member writes tandemd.log there");
	assert_contains(yml, "#   tags: tags describe the source member");
	assert_contains(yml, "#   pgbouncer.admin: the PgBouncers in front of the source cluster");
	assert_not_contains(yml, "6432");
	assert_contains(yml, "#   kubernetes.role_label: the source member's Pod");
	assert_not_contains(yml, "orders-0");
	assert_contains(yml, "#   backup.tls_server.address: the source member's pgBackRest TLS");
	assert_contains(yml, "#   backup.tls_client.cert_file: it goes with backup.tls_server.*");
	assert_not_contains(yml, "db1.example.net");
	assert_contains(yml, "#   postgresql.parameters.archive_command: it names the source's");
	assert_contains(yml, "#   bootstrap.dcs.standby_cluster.host: the new cluster is promoted");
	assert_not_contains(yml, "archive-push");
	assert_not_contains(yml, "/var/log/tandem");
	/* the TLS and ssl keys the issue found missing are there, with the log section */
	assert_contains(yml, "  certfile: \"/etc/tandem/rest.crt\"\n");
	assert_contains(yml, "  verify_client: \"required\"\n");
	assert_contains(yml, "      sslmode: \"verify-ca\"\n");
	assert_contains(yml, "    drill: \"15 5 * * *\"\n");
	assert_contains(yml, "  time_zone: \"Europe/Berlin\"\n");
	assert_contains(yml, "log:\n  level: \"DEBUG\"\n");
	free(yml);
	tandemd_settings_free(&src);
}

/* A source that sets little gives a short configuration: defaults are not repeated. */
static void test_defaults_are_not_repeated(void **state)
{
	(void)state;
	tandemd_settings src;
	load(&src, fixture_b);
	restore_plan p = plan_of(&src);
	p.target_key = NULL;
	char *yml = ctl_restore_config(&p);
	assert_not_contains(yml, "namespace:");
	assert_not_contains(yml, "schedule:");
	assert_not_contains(yml, "Not carried");
	assert_contains(yml, "    recovery_conf:\n      recovery_target_timeline: \"latest\"\n");
	assert_not_contains(yml, "recovery_target_action");
	free(yml);
	tandemd_settings_free(&src);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fixtures_cover_the_table),
	    cmocka_unit_test(test_round_trip_a),
	    cmocka_unit_test(test_round_trip_b),
	    cmocka_unit_test(test_what_is_not_carried_is_said),
	    cmocka_unit_test(test_defaults_are_not_repeated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
