/* Unit tests for src/patroni/options.h: a Patroni configuration for etcd3 loads as it is; keys
 * tandem does not support yet, unknown keys, bad timing and missing keys are refused with the
 * file and line; Patroni's environment variables; passwords never shown. */
#include <jansson.h>

#include "testutil.h"

#include "backup_options.h"
#include "options.h"
#include "strbuf.h"

#define ARGV(...) ((char *[]){"tandemd", __VA_ARGS__, NULL})
#define NOARGS    ((char *[]){"tandemd", NULL})
#define ENV(...)  ((char *[]){__VA_ARGS__, NULL})
#define NOENV     ((char *[]){NULL})

/* Like Patroni's postgres0.yml sample, with etcd3. */
static const char patroni_yml[] =
    "scope: batman\n"
    "namespace: /service/\n"
    "name: postgresql0\n"
    "\n"
    "restapi:\n"
    "  listen: 127.0.0.1:8008\n"
    "  connect_address: 127.0.0.1:8008\n"
    "  authentication:\n"
    "    username: patroni\n"
    "    password: rest-s3cret\n"
    "\n"
    "etcd3:\n"
    "  hosts:\n"
    "    - 10.0.0.11:2379\n"
    "    - 10.0.0.12:2379\n"
    "    - etcd3.example.com:2379\n"
    "  protocol: https\n"
    "  username: patroni\n"
    "  password: etcd-s3cret\n"
    "  cacert: /etc/etcd/ca.crt\n"
    "  cert: /etc/etcd/client.crt\n"
    "  key: /etc/etcd/client.key\n"
    "\n"
    "bootstrap:\n"
    "  # this section will be written into Etcd:/<namespace>/<scope>/config after\n"
    "  # initializing new cluster\n"
    "  dcs:\n"
    "    ttl: 30\n"
    "    loop_wait: 10\n"
    "    retry_timeout: 10\n"
    "    maximum_lag_on_failover: 1048576\n"
    "    synchronous_mode: false\n"
    "    synchronous_mode_strict: false\n"
    "    synchronous_node_count: 2\n"
    "    postgresql:\n"
    "      use_pg_rewind: true\n"
    "      use_slots: true\n"
    "      parameters:\n"
    "        wal_level: hot_standby\n"
    "        hot_standby: \"on\"\n"
    "        max_connections: 100\n"
    "        max_worker_processes: 8\n"
    "        wal_keep_size: 128MB\n"
    "        max_wal_senders: 10\n"
    "        max_replication_slots: 10\n"
    "        max_prepared_transactions: 0\n"
    "        max_locks_per_transaction: 64\n"
    "        wal_log_hints: \"on\"\n"
    "        track_commit_timestamp: \"off\"\n"
    "        archive_mode: \"on\"\n"
    "        archive_timeout: 1800s\n"
    "        archive_command: mkdir -p ../wal_archive && test ! -f ../wal_archive/%f && cp "
    "%p ../wal_archive/%f\n"
    "\n"
    "  # some desired options for 'initdb'\n"
    "  initdb:  # Note: It needs to be a list (some options need values, others are switches)\n"
    "  - encoding: UTF8\n"
    "  - data-checksums\n"
    "\n"
    "postgresql:\n"
    "  listen: 127.0.0.1:5432\n"
    "  connect_address: 127.0.0.1:5432\n"
    "  data_dir: data/postgresql0\n"
    "  bin_dir: /usr/lib/postgresql/15/bin\n"
    "  pgpass: /tmp/pgpass0\n"
    "  authentication:\n"
    "    replication:\n"
    "      username: replicator\n"
    "      password: rep-pass\n"
    "    superuser:\n"
    "      username: postgres\n"
    "      password: zalando\n"
    "    rewind:  # Has no effect on postgres 10 and lower\n"
    "      username: rewind_user\n"
    "      password: rewind_password\n"
    "  parameters:\n"
    "    unix_socket_directories: '..'  # parent directory of data_dir\n"
    "  pg_hba:\n"
    "  - host replication replicator 127.0.0.1/32 md5\n"
    "  - host all all 0.0.0.0/0 md5\n"
    "\n"
    "tags:\n"
    "    nofailover: false\n"
    "    noloadbalance: false\n"
    "    clonefrom: false\n"
    "    nosync: false\n"
    "\n"
    "log:\n"
    "  level: INFO\n";

/* The least a member needs (3 lines), for the error tests to add to. */
static const char minimal_yml[] = "scope: batman\n"
                                  "name: pg0\n"
                                  "etcd3:\n"
                                  "  host: 127.0.0.1:2379\n";
enum { MINIMAL_LINES = 4 };

#define DATA_DIR_ENV "PATRONI_POSTGRESQL_DATA_DIR=/var/lib/postgresql/15/main"

static void load_ok(tandemd_settings *s, char **argv, char **envp)
{
	char *err = NULL;
	int rc = tandemd_settings_load(s, tu_argc(argv), argv, envp, &err);
	if (rc != 0)
		tandemd_settings_free(s);
	tu_expect_ok("tandemd_settings_load", rc, err);
}

static void load_fails(char **argv, char **envp, const char *part1, const char *part2)
{
	tandemd_settings s;
	char *err = NULL;
	int rc = tandemd_settings_load(&s, tu_argc(argv), argv, envp, &err);
	tandemd_settings_free(&s);
	tu_expect_error("tandemd_settings_load", rc, err, part1, part2);
}

/* Writes `text` after the minimal configuration; fails unless loading reports `what` at the line
 * `line` of the added text (1-based). */
static void extra_fails(const char *text, int line, const char *what)
{
	char *yml = xasprintf("%s%s", minimal_yml, text);
	char *path = tu_temp_file(yml);
	char *where = xasprintf("%s:%d:", path, MINIMAL_LINES + line);
	load_fails(ARGV(path), ENV(DATA_DIR_ENV), where, what);
	free(where);
	free(yml);
	tu_remove_file(path);
}

/* Loads the minimal configuration followed by `text`; fails the test on an error. */
static void extra_ok(tandemd_settings *s, const char *text)
{
	char *yml = xasprintf("%s%s", minimal_yml, text);
	char *path = tu_temp_file(yml);
	load_ok(s, ARGV(path), ENV(DATA_DIR_ENV));
	tu_remove_file(path);
	free(yml);
}

static void test_patroni_yml_loads(void **state)
{
	(void)state;
	char *path = tu_temp_file(patroni_yml);
	tandemd_settings s;
	load_ok(&s, ARGV(path), NOENV);
	assert_string_equal(s.config, path);
	assert_string_equal(s.scope, "batman");
	assert_string_equal(s.dcs_namespace, "/service/");
	assert_string_equal(s.name, "postgresql0");
	assert_string_equal(s.restapi_listen, "127.0.0.1:8008");
	assert_string_equal(s.restapi_connect_address, "127.0.0.1:8008");
	assert_string_equal(s.restapi_username, "patroni");
	assert_string_equal(s.restapi_password, "rest-s3cret");
	assert_null(s.etcd3_host);
	assert_int_equal(s.etcd3_hosts.n, 3);
	assert_string_equal(s.etcd3_hosts.v[2], "etcd3.example.com:2379");
	assert_string_equal(s.etcd3_protocol, "https");
	assert_string_equal(s.etcd3_password, "etcd-s3cret");
	assert_string_equal(s.etcd3_cacert, "/etc/etcd/ca.crt");
	assert_string_equal(s.etcd3_key, "/etc/etcd/client.key");
	assert_int_equal(s.ttl, 30000);
	assert_int_equal(s.loop_wait, 10000);
	assert_int_equal(s.retry_timeout, 10000);
	assert_int_equal(s.maximum_lag_on_failover, 1048576);
	assert_false(s.synchronous_mode);
	assert_false(s.synchronous_mode_strict);
	assert_int_equal(s.synchronous_node_count, 2);
	assert_true(s.use_pg_rewind);
	assert_true(s.use_slots);
	assert_int_equal(s.bootstrap_parameters.n, 14);
	assert_string_equal(s.bootstrap_parameters.keys[0], "wal_level");
	assert_string_equal(cfg_map_get(&s.bootstrap_parameters, "hot_standby"), "on");
	assert_string_equal(cfg_map_get(&s.bootstrap_parameters, "max_connections"), "100");
	assert_string_equal(cfg_map_get(&s.bootstrap_parameters, "archive_command"),
	                    "mkdir -p ../wal_archive && test ! -f ../wal_archive/%f && cp %p "
	                    "../wal_archive/%f");
	assert_int_equal(s.initdb.n, 2);
	assert_string_equal(s.initdb.v[0], "encoding=UTF8");
	assert_string_equal(s.initdb.v[1], "data-checksums");
	assert_string_equal(s.pg_listen, "127.0.0.1:5432");
	assert_string_equal(s.data_dir, "data/postgresql0");
	assert_string_equal(s.bin_dir, "/usr/lib/postgresql/15/bin");
	assert_string_equal(s.pgpass, "/tmp/pgpass0");
	assert_string_equal(s.superuser_username, "postgres");
	assert_string_equal(s.superuser_password, "zalando");
	assert_string_equal(s.replication_username, "replicator");
	assert_string_equal(s.replication_password, "rep-pass");
	assert_string_equal(s.rewind_username, "rewind_user");
	assert_string_equal(s.rewind_password, "rewind_password");
	assert_int_equal(s.parameters.n, 1);
	assert_string_equal(cfg_map_get(&s.parameters, "unix_socket_directories"), "..");
	assert_int_equal(s.pg_hba.n, 2);
	assert_string_equal(s.pg_hba.v[1], "host all all 0.0.0.0/0 md5");
	assert_int_equal(s.tags.n, 4);
	assert_false(tandemd_tag(&s, "nofailover"));
	assert_false(tandemd_tag(&s, "nosync"));
	assert_false(tandemd_tag(&s, "unknown"));
	assert_string_equal(s.log_level, "INFO");
	tandemd_settings_free(&s);

	/* --config works as well as the argument. */
	char *flag = xasprintf("--config=%s", path);
	load_ok(&s, ARGV(flag), NOENV);
	assert_string_equal(s.scope, "batman");
	tandemd_settings_free(&s);
	free(flag);
	tu_remove_file(path);
}

static void test_defaults(void **state)
{
	(void)state;
	char *path = tu_temp_file(minimal_yml);
	tandemd_settings s;
	load_ok(&s, ARGV(path), ENV(DATA_DIR_ENV));
	assert_string_equal(s.dcs_namespace, "/service/");
	assert_string_equal(s.etcd3_host, "127.0.0.1:2379");
	assert_string_equal(s.etcd3_protocol, "http");
	/* tandem's defaults (not Patroni's 30/10/10): a failover within about 4 s. */
	assert_int_equal(s.ttl, 4000);
	assert_int_equal(s.loop_wait, 1000);
	assert_int_equal(s.retry_timeout, 1000);
	assert_int_equal(s.maximum_lag_on_failover, 1048576);
	assert_false(s.synchronous_mode);
	assert_false(s.use_pg_rewind);
	assert_string_equal(s.bin_dir, "/usr/lib/postgresql/15/bin");
	assert_string_equal(s.data_dir, "/var/lib/postgresql/15/main");
	assert_null(s.superuser_password);
	assert_int_equal(s.tags.n, 0);
	assert_int_equal(s.parameters.n, 0);
	assert_int_equal(s.initdb.n, 0);
	tandemd_settings_free(&s);
	tu_remove_file(path);
}

static void test_watchdog(void **state)
{
	(void)state;
	tandemd_settings s;
	char *path = tu_temp_file(minimal_yml);
	load_ok(&s, ARGV(path), ENV(DATA_DIR_ENV));
	assert_string_equal(s.watchdog_mode, "automatic");
	assert_string_equal(s.watchdog_device, "/dev/watchdog");
	assert_false(tandemd_watchdog_off(&s));
	assert_int_equal(tandemd_watchdog_timeout_s(&s), 2); /* half the default ttl of 4 s */
	tandemd_settings_free(&s);
	tu_remove_file(path);

	char *yml = xasprintf("%s%s", minimal_yml,
	                      "watchdog:\n  mode: 'off'\n  device: /dev/watchdog1\n"
	                      "  safety_margin: 1\n");
	path = tu_temp_file(yml);
	load_ok(&s, ARGV(path), ENV(DATA_DIR_ENV));
	assert_true(tandemd_watchdog_off(&s));
	assert_string_equal(s.watchdog_device, "/dev/watchdog1");
	assert_int_equal(tandemd_watchdog_timeout_s(&s), 3);
	tandemd_settings_free(&s);
	tu_remove_file(path);
	free(yml);

	extra_fails("watchdog:\n  mode: sometimes\n", 2, "not one of off, automatic, required");
	load_fails(ARGV(path = tu_temp_file(minimal_yml), "--watchdog.safety_margin", "4"),
	           ENV(DATA_DIR_ENV), "safety_margin", "less than the ttl");
	tu_remove_file(path);
}

/* kubernetes: the Pod's role label; Patroni's Kubernetes DCS keys stay refused. */
static void test_kubernetes_keys(void **state)
{
	(void)state;
	tandemd_settings s;
	extra_ok(&s, "kubernetes:\n  role_label: tandem.example.org/role\n  namespace: prod\n");
	assert_string_equal(s.k8s_role_label, "tandem.example.org/role");
	assert_string_equal(s.k8s_namespace, "prod");
	assert_string_equal(s.k8s_leader_value, "primary");
	assert_string_equal(s.k8s_follower_value, "replica");
	assert_string_equal(s.k8s_standby_leader_value, "standby-leader");
	assert_string_equal(s.k8s_token_file,
	                    "/var/run/secrets/kubernetes.io/serviceaccount/token");
	tandemd_settings_free(&s);
	extra_ok(&s, "");
	assert_null(s.k8s_role_label);
	tandemd_settings_free(&s);
	extra_fails("kubernetes:\n  role_label: 'bad key'\n", 2, "not a Kubernetes label key");
	extra_fails("kubernetes:\n  leader_label_value: a/b\n", 2, "not a Kubernetes label value");
	extra_fails("kubernetes:\n  pod_name: Pod_0\n", 2, "not a Kubernetes name");
	extra_fails("kubernetes:\n  pod_ip: 10.0.0.1\n", 2,
	            "'kubernetes.pod_ip' is not supported by tandem (yet)");
}

static void test_unsupported_keys(void **state)
{
	(void)state;
	extra_fails("consul:\n  host: 127.0.0.1:8500\n", 1,
	            "'consul' is not supported by tandem (yet)");
	extra_fails("zookeeper:\n  hosts: ['zk1:2181']\n", 1,
	            "'zookeeper' is not supported by tandem (yet)");
	extra_fails("kubernetes:\n  use_endpoints: true\n", 2,
	            "'kubernetes.use_endpoints' is not supported by tandem (yet)");
	extra_fails("etcd:\n  host: 127.0.0.1:2379\n", 1,
	            "'etcd' is not supported by tandem (yet)");
	extra_fails("\npostgresql:\n  data_dir: /d\n  callbacks:\n    on_start: /bin/true\n", 4,
	            "'postgresql.callbacks' is not supported by tandem (yet)");
	extra_fails("bootstrap:\n  users:\n    admin:\n      password: admin\n", 2,
	            "'bootstrap.users' is not supported by tandem (yet)");
	extra_fails("bootstrap:\n  post_bootstrap: /usr/local/bin/setup.sh\n", 2,
	            "'bootstrap.post_bootstrap' is not supported by tandem (yet)");
	extra_fails("restapi:\n  ciphers: HIGH\n", 2,
	            "'restapi.ciphers' is not supported by tandem (yet)");
	extra_fails("restapi:\n  https_extra_headers: {}\n", 2,
	            "'restapi.https_extra_headers' is not supported by tandem (yet)");
	extra_fails("bootstrap:\n  dcs:\n    standby_cluster:\n      archive_cleanup_command: x\n",
	            4, "not supported by tandem");
}

/* A cross-key error (no file line): loading the minimal configuration and `text` names `what`. */
static void extra_fails_settings(const char *text, const char *what)
{
	char *yml = xasprintf("%s%s", minimal_yml, text);
	char *path = tu_temp_file(yml);
	load_fails(ARGV(path), ENV(DATA_DIR_ENV), what, "");
	free(yml);
	tu_remove_file(path);
}

/* backup: off by default; pgBackRest's options pass through under their names, except those
 * tandemd sets itself; a repository must be named; the replica methods are Patroni's two. */
static void test_backup(void **state)
{
	(void)state;
	tandemd_settings s;
	extra_ok(&s, "");
	assert_false(tandemd_backup_on(&s));
	assert_string_equal(tandemd_backup_stanza(&s), "batman");
	assert_true(tandemd_replica_method(&s, "basebackup"));
	assert_false(tandemd_replica_method(&s, "pgbackrest"));
	assert_int_equal(s.backup_archive_timeout, 60000);
	assert_int_equal(s.backup_archive_push_queue_max, 1073741824LL);
	assert_true(s.backup_archive_async);
	tandemd_settings_free(&s);

	extra_ok(&s,
	         "backup:\n  stanza: main\n  archive_timeout: 30\n  pgbackrest:\n"
	         "    repo1-path: /srv/backup\n    compress-type: zst\n"
	         "postgresql:\n  create_replica_methods: [pgbackrest, basebackup]\n"
	         "  pgbackrest:\n    command: /usr/bin/pgbackrest --stanza=main --delta restore\n"
	         "    keep_data: true\n    no_params: true\n");
	assert_true(tandemd_backup_on(&s));
	assert_string_equal(tandemd_backup_stanza(&s), "main");
	assert_string_equal(cfg_map_get(&s.backup_pgbackrest, "compress-type"), "zst");
	assert_true(tandemd_replica_method(&s, "pgbackrest"));
	assert_int_equal(s.backup_archive_timeout, 30000);
	tandemd_settings_free(&s);

	extra_fails("backup:\n  pgbackrest:\n    stanza: other\n", 3, "use backup.stanza");
	extra_fails("backup:\n  pgbackrest:\n    pg1-path: /x\n", 3, "set by tandemd");
	extra_fails("backup:\n  pgbackrest:\n    spool-path: /x\n", 3, "backup.spool_path");
	extra_fails("backup:\n  pgbackrest:\n    Repo1_Path: /x\n", 3, "not a pgBackRest option");
	extra_fails("postgresql:\n  create_replica_methods: [wal_e]\n", 2, "not a replica method");
	extra_fails("backup:\n  archive_push_queue_max: 1M\n", 2, "out of range");
	extra_fails_settings("backup:\n  pgbackrest:\n    compress-type: zst\n",
	                     "names no repository");
	extra_fails_settings("postgresql:\n  create_replica_methods: [pgbackrest]\n",
	                     "names no repository");
	extra_fails_settings("backup:\n  stanza: 'a b'\n  pgbackrest:\n    repo1-path: /r\n",
	                     "not a pgBackRest stanza name");
}

/* bootstrap.dcs.standby_cluster: checked as the DCS value is (dcs_standby.c); a source needed. */
static void test_standby_cluster(void **state)
{
	(void)state;
	tandemd_settings s;
	extra_ok(&s, "bootstrap:\n  dcs:\n    standby_cluster:\n      host: a1,a2\n"
	             "      port: 5432,5433\n      primary_slot_name: site_b\n");
	assert_string_equal(s.standby_host, "a1,a2");
	json_t *j = tandemd_standby_json(&s);
	assert_string_equal(json_string_value(json_object_get(j, "port")), "5432,5433");
	json_decref(j);
	tandemd_settings_free(&s);
	extra_ok(&s, "");
	assert_null(tandemd_standby_json(&s));
	tandemd_settings_free(&s);
	extra_fails_settings("bootstrap:\n  dcs:\n    standby_cluster:\n      port: 5432\n",
	                     "neither host nor restore_command");
	extra_fails_settings("bootstrap:\n  dcs:\n    standby_cluster:\n      host: a1\n"
	                     "      port: 5432,5433\n",
	                     "port is not a port");
	extra_fails_settings("bootstrap:\n  dcs:\n    standby_cluster:\n      host: 'a1;rm'\n",
	                     "host is not a list");
}

/* TLS of the REST API (Patroni's keys): what goes together, verify_client's values, the ctl
 * section and its fallback to restapi's files. */
static void test_restapi_tls(void **state)
{
	(void)state;
	tandemd_settings s;
	extra_ok(&s, "restapi:\n  certfile: /etc/tandem/rest.crt\n  keyfile: /etc/tandem/rest.key\n"
	             "  cafile: /etc/tandem/ca.crt\n  verify_client: optional\n");
	assert_string_equal(s.restapi_certfile, "/etc/tandem/rest.crt");
	assert_string_equal(s.restapi_keyfile, "/etc/tandem/rest.key");
	assert_int_equal(tandemd_verify_client(&s), TANDEMD_VERIFY_OPTIONAL);
	tandem_rest_client c = tandemd_rest_client(&s);
	assert_string_equal(c.cacert, "/etc/tandem/ca.crt");
	assert_string_equal(c.certfile, "/etc/tandem/rest.crt");
	assert_string_equal(c.keyfile, "/etc/tandem/rest.key");
	assert_false(c.insecure);
	tandemd_settings_free(&s);

	extra_ok(&s, "restapi:\n  certfile: /r.crt\n  keyfile: /r.key\n  cafile: /ca\n"
	             "  keyfile_password: rest-pw\n  verify_client: required\n"
	             "ctl:\n  cacert: /ctl-ca\n  certfile: /c.crt\n  keyfile: /c.key\n"
	             "  keyfile_password: ctl-pw\n  insecure: true\n");
	assert_int_equal(tandemd_verify_client(&s), TANDEMD_VERIFY_REQUIRED);
	c = tandemd_rest_client(&s);
	assert_string_equal(c.cacert, "/ctl-ca");
	assert_string_equal(c.certfile, "/c.crt");
	assert_string_equal(c.keyfile, "/c.key");
	assert_string_equal(c.keyfile_password, "ctl-pw");
	assert_true(c.insecure);
	char *dump = tandemd_settings_dump(&s);
	assert_null(strstr(dump, "rest-pw"));
	assert_null(strstr(dump, "ctl-pw"));
	free(dump);
	tandemd_settings_free(&s);
	/* without ctl's pair, restapi's key and its password */
	extra_ok(&s, "restapi:\n  certfile: /r.crt\n  keyfile: /r.key\n  keyfile_password: pw\n");
	c = tandemd_rest_client(&s);
	assert_string_equal(c.keyfile, "/r.key");
	assert_string_equal(c.keyfile_password, "pw");
	tandemd_settings_free(&s);
	load_fails(ARGV("--restapi.keyfile_password", "pw"),
	           ENV(DATA_DIR_ENV, "TANDEMD_SCOPE=a", "TANDEMD_NAME=b", "TANDEMD_ETCD3_HOST=h:1"),
	           "restapi.keyfile_password is set without the key file", NULL);
	load_fails(ARGV("--ctl.keyfile_password", "pw"),
	           ENV(DATA_DIR_ENV, "TANDEMD_SCOPE=a", "TANDEMD_NAME=b", "TANDEMD_ETCD3_HOST=h:1"),
	           "ctl.keyfile_password is set without the key file", NULL);

	extra_ok(&s, "");
	assert_null(s.restapi_certfile);
	assert_int_equal(tandemd_verify_client(&s), TANDEMD_VERIFY_NONE);
	c = tandemd_rest_client(&s);
	assert_null(c.cacert);
	assert_null(c.certfile);
	tandemd_settings_free(&s);

	load_fails(ARGV("--restapi.certfile", "/r.crt"),
	           ENV(DATA_DIR_ENV, "TANDEMD_SCOPE=a", "TANDEMD_NAME=b", "TANDEMD_ETCD3_HOST=h:1"),
	           "restapi.certfile and restapi.keyfile go together", NULL);
	load_fails(ARGV("--restapi.keyfile", "/r.key"),
	           ENV(DATA_DIR_ENV, "TANDEMD_SCOPE=a", "TANDEMD_NAME=b", "TANDEMD_ETCD3_HOST=h:1"),
	           "restapi.certfile and restapi.keyfile go together", NULL);
	extra_fails("restapi:\n  verify_client: sometimes\n", 2,
	            "'sometimes' is not one of none, optional, required");
	load_fails(ARGV("--restapi.verify_client", "required", "--restapi.cafile", "/ca"),
	           ENV(DATA_DIR_ENV, "TANDEMD_SCOPE=a", "TANDEMD_NAME=b", "TANDEMD_ETCD3_HOST=h:1"),
	           "restapi.verify_client: required needs TLS", NULL);
	load_fails(ARGV("--restapi.verify_client", "optional", "--restapi.certfile", "/c",
	                "--restapi.keyfile", "/k"),
	           ENV(DATA_DIR_ENV, "TANDEMD_SCOPE=a", "TANDEMD_NAME=b", "TANDEMD_ETCD3_HOST=h:1"),
	           "restapi.verify_client: optional needs restapi.cafile", NULL);
	load_fails(ARGV("--ctl.certfile", "/c"),
	           ENV(DATA_DIR_ENV, "TANDEMD_SCOPE=a", "TANDEMD_NAME=b", "TANDEMD_ETCD3_HOST=h:1"),
	           "ctl.certfile and ctl.keyfile go together", NULL);
	extra_fails("ctl:\n  cacert_file: /x\n", 2, "ctl.cacert_file");
	/* Patroni's variables */
	load_ok(&s, NOARGS,
	        ENV(DATA_DIR_ENV, "PATRONI_SCOPE=a", "PATRONI_NAME=b", "PATRONI_ETCD3_HOST=h:1",
	            "PATRONI_RESTAPI_CERTFILE=/e.crt", "PATRONI_RESTAPI_KEYFILE=/e.key",
	            "PATRONI_RESTAPI_CAFILE=/e.ca", "PATRONI_RESTAPI_VERIFY_CLIENT=required",
	            "PATRONI_CTL_CACERT=/ctl.ca"));
	assert_string_equal(s.restapi_certfile, "/e.crt");
	assert_int_equal(tandemd_verify_client(&s), TANDEMD_VERIFY_REQUIRED);
	assert_string_equal(s.ctl_cacert, "/ctl.ca");
	tandemd_settings_free(&s);
}

/* backup.schedule.*: cron in backup.time_zone; defaults weekly full on Sunday 01:00, a diff on
 * the other days, no incremental, a daily drill; a bad schedule or zone is refused at load. */
static void test_backup_schedule(void **state)
{
	(void)state;
	tandemd_settings s;
	extra_ok(&s, "backup:\n  time_zone: Europe/Berlin\n");
	int64_t n;
	/* Sat 2026-12-05 09:40Z: the full at Sun 01:00 CET, the diff Mon 01:00 CET. */
	assert_int_equal(tandemd_backup_next(&s, BACKUP_SCHEDULE_FULL, 1796463600, &n), 0);
	assert_int_equal(n, 1796515200);
	assert_int_equal(tandemd_backup_next(&s, BACKUP_SCHEDULE_DIFF, 1796463600, &n), 0);
	assert_int_equal(n, 1796515200 + 86400);
	assert_int_equal(tandemd_backup_next(&s, BACKUP_SCHEDULE_INCR, 1796463600, &n), 1);
	assert_int_equal(tandemd_backup_next(&s, BACKUP_SCHEDULE_DRILL, 1796463600, &n), 0);
	assert_int_equal(n, 1796515200 + 2 * 3600);
	tandemd_settings_free(&s);

	extra_ok(&s, "backup:\n  schedule:\n    incr: '*/15 * * * *'\n    full: none\n");
	assert_int_equal(tandemd_backup_next(&s, BACKUP_SCHEDULE_FULL, 1796463600, &n), 1);
	assert_int_equal(tandemd_backup_next(&s, BACKUP_SCHEDULE_INCR, 1796463600, &n), 0);
	assert_int_equal(n % 900, 0);
	tandemd_settings_free(&s);

	extra_fails("backup:\n  schedule:\n    full: '0 1 * *'\n", 3, "5 fields");
	extra_fails("backup:\n  schedule:\n    diff: '0 0 31 2 *'\n", 3, "never fires");
	extra_fails("backup:\n  time_zone: Europe/Berlim\n", 2, "not a time zone");
}

/* pgbouncer: the consoles paused around a switchover need the route that tells when to resume. */
static void test_pgbouncer(void **state)
{
	(void)state;
	tandemd_settings s;
	extra_ok(&s, "pgbouncer:\n  admin:\n    - host=10.0.0.7 port=6432 dbname=pgbouncer\n"
	             "  route: host=10.0.0.7 port=5000\n  pause_timeout: 4\n");
	assert_int_equal(s.pgbouncer_admin.n, 1);
	assert_string_equal(s.pgbouncer_route, "host=10.0.0.7 port=5000");
	assert_int_equal(s.pgbouncer_pause_timeout, 4000);
	tandemd_settings_free(&s);
	extra_ok(&s, "");
	assert_int_equal(s.pgbouncer_admin.n, 0);
	assert_int_equal(s.pgbouncer_pause_timeout, 10000);
	tandemd_settings_free(&s);
	char *path;
	load_fails(ARGV(path = tu_temp_file(minimal_yml), "--pgbouncer.admin", "host=x"),
	           ENV(DATA_DIR_ENV), "pgbouncer.admin", "needs pgbouncer.route");
	tu_remove_file(path);
	extra_fails("pgbouncer:\n  pause_timeout: 0\n", 2, "pgbouncer.pause_timeout");
	/* Connection strings libpq would refuse: refused when the file is read. */
	extra_fails_settings("pgbouncer:\n  admin:\n    - host=x port\n  route: host=y\n",
	                     "pgbouncer.admin: entry 1: invalid connection string");
	extra_fails_settings("pgbouncer:\n  admin:\n    - host=x\n  route: host='y\n",
	                     "pgbouncer.route: invalid connection string");
	extra_fails_settings("pgbouncer:\n  admin:\n    - host=x\n  route: nosuchkey=1\n",
	                     "pgbouncer.route: invalid connection string");
}

/* restapi's access keys: the allowlist is Patroni's (now supported), the opt-in and
 * allowlist_all are tandem's; empty credentials and an allowlist_all without a list are errors. */
static void test_restapi_access(void **state)
{
	(void)state;
	tandemd_settings s;
	extra_ok(&s, "restapi:\n  listen: 10.0.0.5:8008\n  allowlist:\n    - 10.0.0.0/24\n"
	             "    - '::1'\n  allowlist_all: true\n  allow_unauthenticated_changes: true\n");
	assert_int_equal(s.restapi_allowlist.n, 2);
	assert_string_equal(s.restapi_allowlist.v[0], "10.0.0.0/24");
	assert_true(s.restapi_allowlist_all);
	assert_true(s.restapi_allow_unauthenticated_changes);
	tandemd_settings_free(&s);

	extra_ok(&s, "");
	assert_int_equal(s.restapi_allowlist.n, 0);
	assert_false(s.restapi_allowlist_all);
	assert_false(s.restapi_allow_unauthenticated_changes);
	tandemd_settings_free(&s);

	char *path;

	extra_fails("restapi:\n  allowlist: [10.0.0.0/33]\n", 2, "prefix");
	extra_fails("restapi:\n  allowlist: [db1.example.com]\n", 2, "restapi.allowlist");
	load_fails(ARGV(path = tu_temp_file(minimal_yml), "--restapi.allowlist_all", "true"),
	           ENV(DATA_DIR_ENV), "restapi.allowlist_all", "restapi.allowlist is empty");
	tu_remove_file(path);
	extra_ok(&s, "restapi:\n  allowlist_include_members: true\n  allowlist_all: true\n");
	assert_true(s.restapi_allowlist_include_members);
	tandemd_settings_free(&s);
	load_fails(ARGV(path = tu_temp_file(minimal_yml), "--restapi.authentication.username", "",
	                "--restapi.authentication.password", "pw"),
	           ENV(DATA_DIR_ENV), "restapi.authentication.username", "is empty");
	tu_remove_file(path);
	load_fails(ARGV(path = tu_temp_file(minimal_yml), "--restapi.authentication.username", "u",
	                "--restapi.authentication.password", ""),
	           ENV(DATA_DIR_ENV), "restapi.authentication.password", "is empty");
	tu_remove_file(path);
}

static void test_unknown_keys(void **state)
{
	(void)state;
	extra_fails("scop: typo\n", 1, "unknown key 'scop'");
	extra_fails("postgresql:\n  data_dirr: /d\n", 2, "unknown key 'postgresql.data_dirr'");
	extra_fails("bootstrap:\n  dcs:\n    tll: 30\n", 3, "unknown key 'bootstrap.dcs.tll'");
	extra_fails("restapi:\n  authentication:\n    user: u\n", 3,
	            "unknown key 'restapi.authentication.user'");
	/* Maps take any name, but only plain values. */
	extra_fails("postgresql:\n  parameters:\n    shared_buffers:\n      x: 1\n", 3,
	            "'shared_buffers' must be a plain value, not a mapping");
	extra_fails("tags:\n  nofailover: maybe\n", 2, "nofailover: 'maybe' is not true or false");
	extra_fails("tags:\n  custom: [1, 2]\n", 2, "'custom' must be a plain value, not a list");
	/* The site: 1 to 63 printable characters, no space. */
	extra_fails("tags:\n  site: 'a b'\n", 2, "site: 'a b' is not 1 to 63 printable");
	extra_fails("tags:\n  site: ''\n", 2, "site: '' is not 1 to 63 printable");
	extra_fails("tags:\n  site: "
	            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	            2, "is not 1 to 63 printable");
}

static void test_bad_values(void **state)
{
	(void)state;
	extra_fails("restapi:\n  listen: nowhere\n", 2, "restapi.listen");
	extra_fails("restapi:\n  connect_address: 'host name:80'\n", 2, "restapi.connect_address");
	extra_fails("postgresql:\n  listen: '*:99999'\n", 2, "postgresql.listen");
	extra_fails("etcd3:\n  protocol: gopher\n", 1, "key 'etcd3' appears twice");
	load_fails(NOARGS,
	           ENV("PATRONI_SCOPE=s", "PATRONI_NAME=n", DATA_DIR_ENV, "PATRONI_ETCD3_HOST=h",
	               "PATRONI_ETCD3_PROTOCOL=gopher"),
	           "environment TANDEMD_ETCD3_PROTOCOL", "'gopher' is not http or https");
	extra_fails("namespace: service\n", 1, "must start with '/'");
	extra_fails("log:\n  level: LOUD\n", 2, "'LOUD' is not one of DEBUG");
	extra_fails("log:\n  type: xml\n", 2, "log.type is plain or json");

	/* Patroni's listen forms and host names for connect addresses are fine. */
	char *yml = xasprintf("%s%s", minimal_yml,
	                      "restapi:\n  listen: 0.0.0.0:8008\n  connect_address: "
	                      "node1.example.com:8008\npostgresql:\n  listen: "
	                      "'*:5432'\n  connect_address: '[fe80::1]:5432'\n");
	char *path = tu_temp_file(yml);
	tandemd_settings s;
	load_ok(&s, ARGV(path), ENV(DATA_DIR_ENV));
	tandemd_settings_free(&s);
	tu_remove_file(path);
	free(yml);
	yml = xasprintf("%s%s", minimal_yml, "postgresql:\n  listen: 127.0.0.1,10.0.0.5:5432\n");
	path = tu_temp_file(yml);
	load_ok(&s, ARGV(path), ENV(DATA_DIR_ENV));
	tandemd_settings_free(&s);
	tu_remove_file(path);
	free(yml);
}

/* Loads the minimal configuration with its etcd3 section replaced by `etcd3` and checks the
 * base URLs built from it (`want`, NULL-terminated). */
static void check_endpoints(const char *etcd3, const char *const *want)
{
	char *yml = xasprintf("scope: batman\nname: pg0\netcd3:\n%s", etcd3);
	char *path = tu_temp_file(yml);
	tandemd_settings s;
	load_ok(&s, ARGV(path), ENV(DATA_DIR_ENV));
	size_t n = 0;
	for (; want[n]; n++) {
		assert_true(n < s.etcd3_nendpoints);
		assert_string_equal(s.etcd3_endpoints[n], want[n]);
	}
	assert_int_equal(s.etcd3_nendpoints, n);
	assert_null(s.etcd3_endpoints[n]);
	tandemd_settings_free(&s);
	tu_remove_file(path);
	free(yml);
}

static void test_etcd_endpoints(void **state)
{
	(void)state;
	/* An IPv6 host, with or without its port, is etcd's port 2379 (not http's 80). */
	check_endpoints("  host: '[::1]:2379'\n", (const char *[]){"http://[::1]:2379", NULL});
	check_endpoints("  host: '[::1]'\n", (const char *[]){"http://[::1]:2379", NULL});
	check_endpoints("  host: db1\n  protocol: https\n",
	                (const char *[]){"https://db1:2379", NULL});
	/* etcd3.hosts wins over etcd3.host, as in Patroni. */
	check_endpoints("  host: ignored:1\n  hosts: ['[fd00::1]', '10.0.0.2:2380', db3]\n",
	                (const char *[]){"http://[fd00::1]:2379", "http://10.0.0.2:2380",
	                                 "http://db3:2379", NULL});

	/* As many hosts as are given (there was once a silent cap of 16). */
	strbuf sb = STRBUF_INIT;
	const char *want[41];
	char urls[40][32];
	sb_puts(&sb, "  hosts:\n");
	for (int i = 0; i < 40; i++) {
		sb_printf(&sb, "    - e%d:%d\n", i, 2000 + i);
		snprintf(urls[i], sizeof urls[i], "http://e%d:%d", i, 2000 + i);
		want[i] = urls[i];
	}
	want[40] = NULL;
	check_endpoints(sb.data, want);
	sb_free(&sb);

	extra_fails("  hosts: ['::1']\n", 1, "goes in brackets");
	extra_fails("  hosts: ['[::1']\n", 1, "'[' without ']'");
	extra_fails("  hosts: ['db1:0']\n", 1, "etcd3.hosts");
}

static void test_timing(void **state)
{
	(void)state;
	char *yml =
	    xasprintf("%s%s", minimal_yml,
	              "bootstrap:\n  dcs:\n    ttl: 1\n    loop_wait: 1\n    retry_timeout: 1\n");
	char *short_ttl = tu_temp_file(yml);
	load_fails(ARGV(short_ttl), ENV(DATA_DIR_ENV), "bootstrap.dcs.ttl: 1000ms is too short",
	           "at least 2");
	tu_remove_file(short_ttl);
	free(yml);
	load_fails(ARGV("--bootstrap.dcs.ttl", "1500ms"),
	           ENV("PATRONI_SCOPE=s", "PATRONI_NAME=n", "PATRONI_ETCD3_HOST=h", DATA_DIR_ENV),
	           "etcd raises leases", NULL);
	char *path = tu_temp_file(minimal_yml);
	load_fails(
	    ARGV(path, "--bootstrap.dcs.ttl", "3", "--bootstrap.dcs.retry_timeout", "1500ms"),
	    ENV(DATA_DIR_ENV), "loop_wait (1s) + 2 * retry_timeout (1.5s) = 4s exceeds ttl (3s)",
	    NULL);
	load_fails(ARGV(path), ENV(DATA_DIR_ENV, "TANDEMD_BOOTSTRAP_DCS_RETRY_TIMEOUT=2"),
	           "loop_wait (1s) + 2 * retry_timeout (2s) = 5s exceeds ttl (4s)", NULL);
	/* Exactly at the limit is fine. */
	tandemd_settings s;
	load_ok(&s,
	        ARGV(path, "--bootstrap.dcs.ttl=3", "--bootstrap.dcs.loop_wait=1",
	             "--bootstrap.dcs.retry_timeout=1"),
	        ENV(DATA_DIR_ENV));
	assert_int_equal(s.ttl, 3000);
	tandemd_settings_free(&s);
	tu_remove_file(path);
	extra_fails("bootstrap:\n  dcs:\n    loop_wait: 0\n", 3, "out of range");
}

static void test_required(void **state)
{
	(void)state;
	char *path = tu_temp_file("name: pg0\netcd3:\n  host: 127.0.0.1:2379\n");
	load_fails(ARGV(path), ENV(DATA_DIR_ENV), "scope is required", "PATRONI_SCOPE");
	tu_remove_file(path);
	path = tu_temp_file("scope: s\netcd3:\n  host: 127.0.0.1:2379\n");
	load_fails(ARGV(path), ENV(DATA_DIR_ENV), "name is required", NULL);
	tu_remove_file(path);
	path = tu_temp_file(minimal_yml);
	load_fails(ARGV(path), NOENV, "postgresql.data_dir is required", NULL);
	tu_remove_file(path);
	path = tu_temp_file("scope: s\nname: n\n");
	load_fails(ARGV(path), ENV(DATA_DIR_ENV), "no DCS", "etcd3.hosts");
	tu_remove_file(path);
	path = tu_temp_file("scope: ''\nname: n\netcd3:\n  host: h\n");
	load_fails(ARGV(path), ENV(DATA_DIR_ENV), "scope is required", NULL);
	tu_remove_file(path);
	load_fails(NOARGS, NOENV, "scope is required", NULL);
	load_fails(ARGV("/nonexistent/patroni.yml"), NOENV, "/nonexistent/patroni.yml",
	           "cannot open");
	load_fails(ARGV("a.yml", "b.yml"), NOENV, "unexpected argument 'b.yml'", NULL);
	path = tu_temp_file("scope: s\nname: n\netcd3:\n  host: h\n  cert: /c\n");
	load_fails(ARGV(path), ENV(DATA_DIR_ENV), "etcd3.cert and etcd3.key go together", NULL);
	tu_remove_file(path);
}

static void test_environment(void **state)
{
	(void)state;
	tandemd_settings s;
	/* Everything from Patroni's variables, no file at all. */
	load_ok(&s, NOARGS,
	        ENV("PATRONI_SCOPE=envscope", "PATRONI_NAME=envname", DATA_DIR_ENV,
	            "PATRONI_ETCD3_HOSTS='10.0.0.1:2379','10.0.0.2:2379'",
	            "PATRONI_RESTAPI_LISTEN=0.0.0.0:8008", "PATRONI_SUPERUSER_USERNAME=su",
	            "PATRONI_SUPERUSER_PASSWORD=supw", "PATRONI_REPLICATION_USERNAME=rep",
	            "PATRONI_LOG_LEVEL=DEBUG"));
	assert_string_equal(s.scope, "envscope");
	assert_string_equal(s.name, "envname");
	assert_int_equal(s.etcd3_hosts.n, 2);
	assert_string_equal(s.etcd3_hosts.v[0], "10.0.0.1:2379");
	assert_string_equal(s.etcd3_hosts.v[1], "10.0.0.2:2379");
	assert_string_equal(s.restapi_listen, "0.0.0.0:8008");
	assert_string_equal(s.superuser_username, "su");
	assert_string_equal(s.superuser_password, "supw");
	assert_string_equal(s.replication_username, "rep");
	assert_string_equal(s.log_level, "DEBUG");
	tandemd_settings_free(&s);

	/* The environment beats the file; TANDEMD_ beats PATRONI_; flags beat both. */
	char *path = tu_temp_file(patroni_yml);
	load_ok(&s, ARGV(path), ENV("PATRONI_NAME=fromenv", "PATRONI_SCOPE=p", "TANDEMD_SCOPE=t"));
	assert_string_equal(s.name, "fromenv");
	assert_string_equal(s.scope, "t");
	tandemd_settings_free(&s);
	load_ok(&s, ARGV(path, "--name", "fromflag"), ENV("PATRONI_NAME=fromenv"));
	assert_string_equal(s.name, "fromflag");
	tandemd_settings_free(&s);
	load_fails(ARGV(path), ENV("PATRONI_RESTAPI_LISTEN=bogus"),
	           "environment TANDEMD_RESTAPI_LISTEN", "is set from PATRONI_RESTAPI_LISTEN");
	load_fails(ARGV(path), ENV("TANDEMD_RESTAPI_LISTEN=bogus"), "'bogus' is not address:port",
	           NULL);
	load_fails(ARGV(path), ENV("TANDEMD_BOOTSTRAP_DCS_TTL=abc"),
	           "environment TANDEMD_BOOTSTRAP_DCS_TTL", NULL);
	tu_remove_file(path);
}

static void test_secrets_masked(void **state)
{
	(void)state;
	char *path = tu_temp_file(patroni_yml);
	tandemd_settings s;
	load_ok(&s, ARGV(path), NOENV);
	char *dump = tandemd_settings_dump(&s);
	assert_contains(dump, "scope: batman\n");
	assert_contains(dump, "postgresql.authentication.superuser.username: postgres\n");
	assert_contains(dump, "postgresql.authentication.superuser.password: ********\n");
	assert_contains(dump, "restapi.authentication.password: ********\n");
	assert_contains(dump, "etcd3.password: ********\n");
	assert_contains(dump, "tags: nofailover=false,noloadbalance=false,clonefrom=false,"
	                      "nosync=false\n");
	assert_not_contains(dump, "zalando");
	assert_not_contains(dump, "rep-pass");
	assert_not_contains(dump, "rewind_password");
	assert_not_contains(dump, "rest-s3cret");
	assert_not_contains(dump, "etcd-s3cret");
	free(dump);
	for (size_t i = 0; i < tandemd_options.n; i++) {
		char *v = cfg_format(&tandemd_options.options[i], &s);
		assert_not_contains(v, "zalando");
		free(v);
	}
	tandemd_settings_free(&s);
	tu_remove_file(path);
}

static void test_help(void **state)
{
	(void)state;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	cfg_print_help(&tandemd_options, f);
	assert_int_equal(fclose(f), 0);
	assert_contains(text, "--bootstrap.dcs.ttl SECONDS");
	assert_contains(text, "env TANDEMD_POSTGRESQL_DATA_DIR");
	assert_contains(text, "file only, NAME: VALUE under tags");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_patroni_yml_loads),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_unsupported_keys),
	    cmocka_unit_test(test_kubernetes_keys),
	    cmocka_unit_test(test_unknown_keys),
	    cmocka_unit_test(test_bad_values),
	    cmocka_unit_test(test_timing),
	    cmocka_unit_test(test_required),
	    cmocka_unit_test(test_environment),
	    cmocka_unit_test(test_secrets_masked),
	    cmocka_unit_test(test_help),
	    cmocka_unit_test(test_watchdog),
	    cmocka_unit_test(test_etcd_endpoints),
	    cmocka_unit_test(test_restapi_access),
	    cmocka_unit_test(test_pgbouncer),
	    cmocka_unit_test(test_restapi_tls),
	    cmocka_unit_test(test_backup),
	    cmocka_unit_test(test_standby_cluster),
	    cmocka_unit_test(test_backup_schedule),
	};
	return cmocka_run_group_tests_name("tandemd_options", tests, NULL, NULL);
}
