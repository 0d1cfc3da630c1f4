#include "options.h"
#include "options_priv.h"

#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "backup_options.h"
#include "bootstrap_options.h"
#include "cidr.h"
#include "dcs_codec.h"
#include "listener.h"
#include "log.h"
#include "options_kubernetes.h"
#include "pooler_options.h"
#include "strbuf.h"

/* "host:port" or "[v6]:port"; with `default_port`, the port may be left out. */
static int check_host_port(const char *text, int default_port, char **err)
{
	addr a;
	if (addr_parse(text, default_port, 0, &a, err) < 0)
		return -1;
	addr_clear(&a);
	return 0;
}

static int check_listen(const void *v, char **err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	return listener_parse(v, &ss, &len, err);
}

static int check_connect_address(const void *v, char **err)
{
	return check_host_port(v, 0, err);
}

/* Patroni's postgresql.listen: "host:port", where host may be '*' or several, comma-separated
 * ("127.0.0.1,10.0.0.5:5432"). */
static int check_pg_listen(const void *v, char **err)
{
	addr a;
	if (addr_parse(v, 0, ADDR_WILDCARD | ADDR_HOST_LIST, &a, err) < 0)
		return -1;
	addr_clear(&a);
	return 0;
}

static int check_allowlist(const void *v, char **err)
{
	const cfg_list *l = v;
	for (size_t i = 0; i < l->n; i++) {
		cidr c;
		if (cidr_parse(l->v[i], &c, err) < 0)
			return -1;
	}
	return 0;
}

static int check_etcd_hosts(const void *v, char **err)
{
	const cfg_list *l = v;
	for (size_t i = 0; i < l->n; i++)
		if (check_host_port(l->v[i], TANDEMD_ETCD_PORT, err) < 0)
			return -1;
	return 0;
}

static int check_etcd_host(const void *v, char **err)
{
	return *(const char *)v ? check_host_port(v, TANDEMD_ETCD_PORT, err) : 0;
}

static int check_protocol(const void *v, char **err)
{
	if (strcmp(v, "http") != 0 && strcmp(v, "https") != 0) {
		err_set(err, "'%s' is not http or https", (const char *)v);
		return -1;
	}
	return 0;
}

static int check_namespace(const void *v, char **err)
{
	const char *s = v;
	if (*s != '/') {
		err_set(err, "'%s' must start with '/' (e.g. /service/)", s);
		return -1;
	}
	return 0;
}

static int check_log_level(const void *v, char **err)
{
	log_level l;
	if (strcasecmp(v, "critical") != 0 && log_level_parse(v, &l) < 0) {
		err_set(err, "'%s' is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
		        (const char *)v);
		return -1;
	}
	return 0;
}

static int check_watchdog_mode(const void *v, char **err)
{
	static const char *const modes[] = {"off", "false", "automatic", "required"};
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
		if (!strcasecmp(v, modes[i]))
			return 0;
	err_set(err, "'%s' is not one of off, automatic, required", (const char *)v);
	return -1;
}

static int check_verify_client(const void *v, char **err)
{
	if (strcmp(v, "none") != 0 && strcmp(v, "optional") != 0 && strcmp(v, "required") != 0) {
		err_set(err, "'%s' is not one of none, optional, required", (const char *)v);
		return -1;
	}
	return 0;
}

static const char *const known_tags[] = {"nofailover", "noloadbalance", "clonefrom", "nosync"};

static int check_tags(const void *v, char **err)
{
	const cfg_map *m = v;
	for (size_t i = 0; i < sizeof known_tags / sizeof known_tags[0]; i++) {
		const char *t = cfg_map_get(m, known_tags[i]);
		bool b;
		if (t && cfg_parse_bool(t, &b) < 0) {
			err_set(err, "%s: '%s' is not true or false", known_tags[i], t);
			return -1;
		}
	}
	const char *site = cfg_map_get(m, "site");
	if (site && !dcs_site_ok(site)) {
		err_set(err, "site: '%s' is not 1 to %d printable characters without a space", site,
		        DCS_MAX_SITE);
		return -1;
	}
	return 0;
}

static int check_one_of(const char *v, const char *const *allowed, size_t n, char **err)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v, allowed[i]))
			return 0;
	strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < n; i++)
		sb_printf(&sb, "%s%s", i ? ", " : "", allowed[i]);
	err_set(err, "'%s' is not one of %s", v, sb.data);
	sb_free(&sb);
	return -1;
}

static int check_sslmode(const void *v, char **err)
{
	static const char *const m[] = {"disable", "allow",     "prefer",
	                                "require", "verify-ca", "verify-full"};
	return check_one_of(v, m, sizeof m / sizeof m[0], err);
}

/* gssencmode and channel_binding take the same three words. */
static int check_dpr(const void *v, char **err)
{
	static const char *const m[] = {"disable", "prefer", "require"};
	return check_one_of(v, m, sizeof m / sizeof m[0], err);
}

static int check_bool_text(const void *v, char **err)
{
	bool b;
	if (cfg_parse_bool(v, &b) < 0) {
		err_set(err, "'%s' is not true or false", (const char *)v);
		return -1;
	}
	return 0;
}

/* Patroni's log.type: plain (the default) or json (JSON lines, log.h). */
static int check_log_type(const void *v, char **err)
{
	if (strcasecmp(v, "plain") != 0 && strcasecmp(v, "json") != 0) {
		err_set(err, "'%s': log.type is plain or json", (const char *)v);
		return -1;
	}
	return 0;
}

#define OPT(field) offsetof(tandemd_settings, field)

/* The libpq connection parameters of one role (tandemd_pg_ssl), as Patroni names them. */
// clang-format off
#define SSL_OPT(role, key, meta, help, check)                                                      \
	{"postgresql.authentication." #role "." #key, CFG_STRING, NULL, 0, 0, false,               \
	 OPT(role##_ssl.key), meta, help, check}
#define PG_SSL_OPTS(role)                                                                          \
	SSL_OPT(role, sslmode, "MODE", "libpq sslmode of " #role " connections to other members",  \
	        check_sslmode),                                                                    \
	SSL_OPT(role, sslcert, "FILE", "libpq sslcert (client certificate)", NULL),                \
	SSL_OPT(role, sslkey, "FILE", "libpq sslkey (client key, not encrypted)", NULL),           \
	SSL_OPT(role, sslrootcert, "FILE", "libpq sslrootcert (CAs to verify the server)", NULL),  \
	SSL_OPT(role, sslcrl, "FILE", "libpq sslcrl", NULL),                                       \
	SSL_OPT(role, sslcrldir, "DIR", "libpq sslcrldir", NULL),                                  \
	SSL_OPT(role, gssencmode, "MODE", "libpq gssencmode", check_dpr),                          \
	SSL_OPT(role, channel_binding, "MODE",                                                     \
	        "libpq channel_binding (require: SCRAM bound to the TLS channel)", check_dpr)
// clang-format on

static const cfg_option options[] = {
    {"config", CFG_STRING, NULL, 0, 0, false, OPT(config), "FILE",
     "the YAML configuration file (usually given as the only argument: tandemd CONFIG.yml)", NULL},
    {"scope", CFG_STRING, NULL, 0, 0, false, OPT(scope), "NAME",
     "the cluster's name, the same on every member (required)", NULL},
    {"namespace", CFG_STRING, "/service/", 0, 0, false, OPT(dcs_namespace), "PATH",
     "where in the DCS the clusters' keys live", check_namespace},
    {"name", CFG_STRING, NULL, 0, 0, false, OPT(name), "NAME",
     "this member's name, unique in the cluster (required)", NULL},

    {"restapi.listen", CFG_STRING, NULL, 0, 0, false, OPT(restapi_listen), "ADDR:PORT",
     "where the REST API (health checks, /patroni) listens", check_listen},
    {"restapi.connect_address", CFG_STRING, NULL, 0, 0, false, OPT(restapi_connect_address),
     "HOST:PORT", "the REST API address other members and clients are told to use",
     check_connect_address},
    {"restapi.authentication.username", CFG_STRING, NULL, 0, 0, true, OPT(restapi_username), "USER",
     "basic-auth user required by the REST API's unsafe (changing) endpoints", NULL},
    {"restapi.authentication.password", CFG_SECRET, NULL, 0, 0, true, OPT(restapi_password),
     "PASSWORD", "basic-auth password for the REST API's unsafe endpoints", NULL},
    {"restapi.allow_unauthenticated_changes", CFG_BOOL, "false", 0, 0, true,
     OPT(restapi_allow_unauthenticated_changes), "BOOL",
     "let the changing endpoints go without authentication on a REST API that listens beyond "
     "loopback (tandemd otherwise refuses to start so; a warning at every start)",
     NULL},
    {"restapi.allowlist", CFG_LIST, NULL, 0, 0, false, OPT(restapi_allowlist), "CIDR,...",
     "only these peers (addresses or CIDR blocks) may use the changing endpoints; empty: any",
     check_allowlist},
    {"restapi.allowlist_include_members", CFG_BOOL, "false", 0, 0, false,
     OPT(restapi_allowlist_include_members), "BOOL",
     "the members' api_url hosts (numeric addresses only) may use the changing endpoints too",
     NULL},
    {"restapi.allowlist_all", CFG_BOOL, "false", 0, 0, false, OPT(restapi_allowlist_all), "BOOL",
     "restapi.allowlist guards every endpoint, health checks and /metrics too", NULL},
    {"restapi.certfile", CFG_STRING, NULL, 0, 0, false, OPT(restapi_certfile), "FILE",
     "PEM certificate (chain) of the REST API: with restapi.keyfile, it speaks https only, and "
     "api_url is https",
     NULL},
    {"restapi.keyfile", CFG_STRING, NULL, 0, 0, false, OPT(restapi_keyfile), "FILE",
     "PEM private key of restapi.certfile (a private file: 0600, or 0640 owned by root)", NULL},
    {"restapi.keyfile_password", CFG_SECRET, NULL, 0, 0, false, OPT(restapi_keyfile_password),
     "PASSWORD", "the password restapi.keyfile is encrypted with (PKCS#8), if it is", NULL},
    {"restapi.cafile", CFG_STRING, NULL, 0, 0, false, OPT(restapi_cafile), "FILE",
     "PEM CA certificate(s) that client certificates (verify_client), and the other members' "
     "certificates (without ctl.cacert), must chain to",
     NULL},
    {"restapi.verify_client", CFG_STRING, "none", 0, 0, false, OPT(restapi_verify_client), "MODE",
     "client certificates: none; optional (the changing endpoints need one that verifies "
     "against restapi.cafile); required (every connection needs one)",
     check_verify_client},

    {"ctl.cacert", CFG_STRING, NULL, 0, 0, false, OPT(ctl_cacert), "FILE",
     "CA certificate(s) that the members' REST API certificates must chain to, for tandemctl "
     "and for tandemd calling the other members (default restapi.cafile, else the system's)",
     NULL},
    {"ctl.certfile", CFG_STRING, NULL, 0, 0, false, OPT(ctl_certfile), "FILE",
     "client certificate sent to the members' REST APIs (default restapi.certfile)", NULL},
    {"ctl.keyfile", CFG_STRING, NULL, 0, 0, false, OPT(ctl_keyfile), "FILE",
     "private key of ctl.certfile (default restapi.keyfile)", NULL},
    {"ctl.keyfile_password", CFG_SECRET, NULL, 0, 0, false, OPT(ctl_keyfile_password), "PASSWORD",
     "the password ctl.keyfile is encrypted with, if it is", NULL},
    {"ctl.insecure", CFG_BOOL, "false", 0, 0, false, OPT(ctl_insecure), "BOOL",
     "tandemctl does not verify the members' REST API certificates (warned about at each use)",
     NULL},

    {"etcd3.host", CFG_STRING, NULL, 0, 0, false, OPT(etcd3_host), "HOST:PORT",
     "one etcd endpoint (port 2379 when left out)", check_etcd_host},
    {"etcd3.hosts", CFG_LIST, NULL, 0, 0, false, OPT(etcd3_hosts), "HOST:PORT,...",
     "etcd endpoints, a YAML list or comma-separated (port 2379 when left out)", check_etcd_hosts},
    {"etcd3.protocol", CFG_STRING, "http", 0, 0, false, OPT(etcd3_protocol), "http|https",
     "how to talk to etcd", check_protocol},
    {"etcd3.username", CFG_STRING, NULL, 0, 0, true, OPT(etcd3_username), "USER",
     "etcd user, when etcd authentication is on (reloadable)", NULL},
    {"etcd3.password", CFG_SECRET, NULL, 0, 0, true, OPT(etcd3_password), "PASSWORD",
     "etcd user's password", NULL},
    {"etcd3.cacert", CFG_STRING, NULL, 0, 0, false, OPT(etcd3_cacert), "FILE",
     "PEM CA certificate(s) that etcd's certificate must chain to", NULL},
    {"etcd3.cert", CFG_STRING, NULL, 0, 0, false, OPT(etcd3_cert), "FILE",
     "PEM client certificate for etcd (with etcd3.key)", NULL},
    {"etcd3.key", CFG_STRING, NULL, 0, 0, false, OPT(etcd3_key), "FILE",
     "PEM private key of the client certificate", NULL},

    {"bootstrap.dcs.ttl", CFG_DURATION, "4", 0, 0, false, OPT(ttl), "SECONDS",
     "leader lease: without renewal for this long, the leader key expires and a failover "
     "starts (written to the DCS at bootstrap)",
     NULL},
    {"bootstrap.dcs.loop_wait", CFG_DURATION, "1", 1000, 3600000, false, OPT(loop_wait), "SECONDS",
     "seconds between two runs of the HA loop", NULL},
    {"bootstrap.dcs.retry_timeout", CFG_DURATION, "1", 1000, 3600000, false, OPT(retry_timeout),
     "SECONDS",
     "how long DCS and PostgreSQL operations are retried before the leader demotes itself", NULL},
    {"bootstrap.dcs.maximum_lag_on_failover", CFG_SIZE, "1048576", 0, 0, false,
     OPT(maximum_lag_on_failover), "BYTES",
     "a replica further behind the leader than this (WAL bytes) may not take over", NULL},
    {"bootstrap.dcs.synchronous_mode", CFG_BOOL, "false", 0, 0, false, OPT(synchronous_mode),
     "BOOL", "promote only a synchronous standby, so that no committed transaction is lost", NULL},
    {"bootstrap.dcs.synchronous_mode_strict", CFG_BOOL, "false", 0, 0, false,
     OPT(synchronous_mode_strict), "BOOL",
     "with no synchronous standby left, stop accepting writes rather than run alone", NULL},
    {"bootstrap.dcs.failsafe_mode", CFG_BOOL, "false", 0, 0, false, OPT(failsafe_mode), "BOOL",
     "while the DCS cannot be reached, keep the primary if every member confirms it", NULL},
    {"bootstrap.dcs.synchronous_node_count", CFG_INT, "1", 1, 16, false,
     OPT(synchronous_node_count), "N",
     "synchronous mode: how many synchronous standbys the leader keeps", NULL},
    {"bootstrap.dcs.postgresql.use_pg_rewind", CFG_BOOL, "false", 0, 0, false, OPT(use_pg_rewind),
     "BOOL", "rejoin a former leader with pg_rewind instead of a new copy", NULL},
    {"bootstrap.dcs.postgresql.use_slots", CFG_BOOL, "true", 0, 0, false, OPT(use_slots), "BOOL",
     "use replication slots for the members' streaming replication", NULL},
    {"bootstrap.dcs.postgresql.parameters", CFG_MAP, NULL, 0, 0, false, OPT(bootstrap_parameters),
     "NAME=VALUE,...",
     "PostgreSQL settings for the whole cluster (written to the DCS at bootstrap)", NULL},
    {"bootstrap.dcs.standby_cluster.host", CFG_STRING, NULL, 0, 0, false, OPT(standby_host),
     "HOST,...",
     "a standby cluster: the primary site's members (a list is followed with "
     "target_session_attrs=read-write)",
     NULL},
    {"bootstrap.dcs.standby_cluster.port", CFG_STRING, NULL, 0, 0, false, OPT(standby_port),
     "PORT,...", "their PostgreSQL port, or one per host", NULL},
    {"bootstrap.dcs.standby_cluster.primary_slot_name", CFG_STRING, NULL, 0, 0, false,
     OPT(standby_primary_slot_name), "NAME",
     "the replication slot on the primary site the standby leader uses", NULL},
    {"bootstrap.dcs.standby_cluster.restore_command", CFG_STRING, NULL, 0, 0, true,
     OPT(standby_restore_command), "COMMAND",
     "how a standby cluster reads the primary site's archive; the DCS may only repeat this "
     "text (a command from the DCS is never run)",
     NULL},
    {"bootstrap.dcs.standby_cluster.recovery_min_apply_delay", CFG_STRING, NULL, 0, 0, false,
     OPT(standby_recovery_min_apply_delay), "TIME", "a delayed standby cluster", NULL},
    {"bootstrap.initdb", CFG_LIST, NULL, 0, 0, false, OPT(initdb), "OPTION,...",
     "initdb options for a new cluster: 'data-checksums' or 'encoding: UTF8' items", NULL},

    {"postgresql.listen", CFG_STRING, NULL, 0, 0, false, OPT(pg_listen), "HOSTS:PORT",
     "PostgreSQL's listen_addresses and port ('*' or comma-separated hosts)", check_pg_listen},
    {"postgresql.connect_address", CFG_STRING, NULL, 0, 0, false, OPT(pg_connect_address),
     "HOST:PORT", "the address other members and clients use to reach this PostgreSQL",
     check_connect_address},
    {"postgresql.data_dir", CFG_STRING, NULL, 0, 0, false, OPT(data_dir), "DIR",
     "PostgreSQL's data directory (required)", NULL},
    {"postgresql.bin_dir", CFG_STRING, "/usr/lib/postgresql/15/bin", 0, 0, false, OPT(bin_dir),
     "DIR", "where pg_ctl, initdb, pg_basebackup and pg_rewind are", NULL},
    {"postgresql.pgpass", CFG_STRING, NULL, 0, 0, false, OPT(pgpass), "FILE",
     "the .pgpass file written for replication and pg_rewind connections", NULL},
    {"postgresql.authentication.superuser.username", CFG_STRING, NULL, 0, 0, false,
     OPT(superuser_username), "USER", "the superuser tandemd connects as", NULL},
    {"postgresql.authentication.superuser.password", CFG_SECRET, NULL, 0, 0, true,
     OPT(superuser_password), "PASSWORD", "the superuser's password", NULL},
    {"postgresql.authentication.replication.username", CFG_STRING, NULL, 0, 0, false,
     OPT(replication_username), "USER", "the user replicas stream WAL as", NULL},
    {"postgresql.authentication.replication.password", CFG_SECRET, NULL, 0, 0, true,
     OPT(replication_password), "PASSWORD", "the replication user's password", NULL},
    {"postgresql.authentication.rewind.username", CFG_STRING, NULL, 0, 0, false,
     OPT(rewind_username), "USER", "the user pg_rewind connects as (default: the superuser)", NULL},
    {"postgresql.authentication.rewind.password", CFG_SECRET, NULL, 0, 0, true,
     OPT(rewind_password), "PASSWORD", "the pg_rewind user's password", NULL},
    PG_SSL_OPTS(superuser),
    PG_SSL_OPTS(replication),
    PG_SSL_OPTS(rewind),
    {"postgresql.remove_data_directory_on_rewind_failure", CFG_STRING, NULL, 0, 0, true,
     OPT(remove_data_directory_on_rewind_failure), "BOOL",
     "Patroni's; tandem always moves the data directory aside (never deletes it) and clones "
     "afresh when pg_rewind fails (a warning at start)",
     check_bool_text},
    {"postgresql.remove_data_directory_on_diverged_timelines", CFG_STRING, NULL, 0, 0, true,
     OPT(remove_data_directory_on_diverged_timelines), "BOOL",
     "Patroni's; tandem always moves a diverged data directory aside (never deletes it) when "
     "it cannot rewind (a warning at start)",
     check_bool_text},
    {"postgresql.parameters", CFG_MAP, NULL, 0, 0, true, OPT(parameters), "NAME=VALUE,...",
     "PostgreSQL settings of this member, over the cluster's", NULL},
    {"postgresql.pg_hba", CFG_LIST, NULL, 0, 0, true, OPT(pg_hba), "LINE,...",
     "pg_hba.conf lines written by tandemd", NULL},

    {"watchdog.mode", CFG_STRING, "automatic", 0, 0, false, OPT(watchdog_mode), "MODE",
     "the hardware watchdog: off, automatic (used when the device can be opened) or required "
     "(tandemd does not start without it)",
     check_watchdog_mode},
    {"watchdog.device", CFG_STRING, "/dev/watchdog", 0, 0, false, OPT(watchdog_device), "PATH",
     "the Linux watchdog device", NULL},
    {"watchdog.safety_margin", CFG_INT, "-1", -1, 3600, false, OPT(watchdog_safety_margin),
     "SECONDS", "the watchdog's timeout is the ttl less this many seconds; -1: half the ttl", NULL},

    {"tags", CFG_MAP, NULL, 0, 0, true, OPT(tags), "NAME=VALUE,...",
     "member tags; nofailover, noloadbalance, clonefrom and nosync are true or false; site "
     "names the member's site (1 to 63 printable characters, no space): failover, switchover, "
     "clones and synchronous standbys take it into account",
     check_tags},
    {"log.level", CFG_STRING, "INFO", 0, 0, true, OPT(log_level), "LEVEL",
     "DEBUG, INFO, WARNING, ERROR or CRITICAL (as ERROR)", check_log_level},
    {"log.dir", CFG_STRING, NULL, 0, 0, false, OPT(log_dir), "DIR",
     "write the log to DIR/tandemd.log instead of standard error, rotated by size", NULL},
    {"log.file_num", CFG_INT, "4", 0, 1000, false, OPT(log_file_num), "N",
     "log.dir: how many rotated files (tandemd.log.1 ... .N) are kept", NULL},
    {"log.file_size", CFG_SIZE, "25000000", 4096, 1LL << 40, false, OPT(log_file_size), "BYTES",
     "log.dir: the file is rotated before it grows past this", NULL},
    {"log.type", CFG_STRING, NULL, 0, 0, true, OPT(log_type), "plain|json",
     "plain: 'TIME LEVEL [MEMBER] MESSAGE' lines (the default); json: one JSON object per "
     "line with time, level, context (the member) and message, for Loki or journald",
     check_log_type},
    {"log.format", CFG_LIST, NULL, 0, 0, true, OPT(log_format), "FORMAT",
     "Patroni's Python format: accepted and ignored (a warning at start)", NULL},
    {"log.dateformat", CFG_STRING, NULL, 0, 0, true, OPT(log_dateformat), "FORMAT",
     "Patroni's: accepted and ignored (a warning at start)", NULL},
    {"log.loggers", CFG_MAP, NULL, 0, 0, true, OPT(log_loggers), "NAME=LEVEL,...",
     "Patroni's Python loggers: accepted and ignored (a warning at start)", NULL},
    {"log.traceback_level", CFG_STRING, NULL, 0, 0, true, OPT(log_traceback_level), "LEVEL",
     "Patroni's: accepted and ignored (a warning at start)", NULL},
    {"log.max_queue_size", CFG_STRING, NULL, 0, 0, true, OPT(log_max_queue_size), "N",
     "Patroni's: accepted and ignored (a warning at start)", NULL},
    TANDEMD_BACKUP_OPTIONS TANDEMD_BOOTSTRAP_METHOD_OPTIONS TANDEMD_POOLER_OPTIONS
        TANDEMD_KUBERNETES_OPTIONS};

/* Patroni's keys that tandem knows of but does not support yet: refused by name. */
static const char *const unsupported[] = {
    /* other DCSs and features */
    "consul", "zookeeper", TANDEMD_KUBERNETES_UNSUPPORTED, "etcd", "exhibitor", "raft", "citus",
    "standby_cluster",
    /* restapi */
    "restapi.ciphers", "restapi.http_extra_headers", "restapi.https_extra_headers",
    "restapi.request_queue_size",
    /* etcd3 */
    "etcd3.url", "etcd3.proxy", "etcd3.srv", "etcd3.srv_suffix", "etcd3.use_proxies",
    "etcd3.cert_reqs", "etcd3.retry_timeout",
    /* bootstrap */
    "bootstrap.users", "bootstrap.post_bootstrap", "bootstrap.post_init", "bootstrap.pg_hba",
    "bootstrap.dcs.standby_cluster.create_replica_methods",
    "bootstrap.dcs.standby_cluster.archive_cleanup_command", "bootstrap.dcs.slots",
    "bootstrap.dcs.ignore_slots", "bootstrap.dcs.master_start_timeout",
    "bootstrap.dcs.primary_start_timeout", "bootstrap.dcs.primary_stop_timeout",
    "bootstrap.dcs.maximum_lag_on_syncnode", "bootstrap.dcs.max_timelines_history",
    "bootstrap.dcs.check_timeline", "bootstrap.dcs.member_slots_ttl",
    "bootstrap.dcs.postgresql.recovery_conf", "bootstrap.dcs.postgresql.pg_hba",
    "bootstrap.dcs.postgresql.pg_ident",
    /* postgresql */
    "postgresql.callbacks", "postgresql.recovery_conf", "postgresql.custom_conf",
    "postgresql.config_dir", "postgresql.pg_ident", "postgresql.pg_ctl_timeout",
    "postgresql.use_unix_socket", "postgresql.use_unix_socket_repl", "postgresql.basebackup",
    "postgresql.pre_promote", "postgresql.before_stop", "postgresql.proxy_address",
    "postgresql.use_pg_rewind", "postgresql.bin_name", "postgresql.wal_e", "postgresql.barman",
    /* an encrypted client key's password would have to be written into primary_conninfo */
    "postgresql.authentication.superuser.sslpassword",
    "postgresql.authentication.replication.sslpassword",
    "postgresql.authentication.rewind.sslpassword", NULL};

const cfg_table tandemd_options = {
    .options = options,
    .n = sizeof options / sizeof options[0],
    .env_prefix = "TANDEMD",
    .config_flag = "config",
    .config_positional = true,
    .unsupported = unsupported,
    .list_item_pairs = true,
};

static int require(const char *value, const char *key, const char *env, char **err)
{
	if (value && *value)
		return 0;
	err_set(err, "%s is required (file key '%s', or environment %s)", key, key, env);
	return -1;
}

/* 10000 -> "10s", 1500 -> "1.5s", 250 -> "0.25s" (buf: 32 bytes). */
static const char *seconds_text(long long ms, char *buf)
{
	if (ms % 1000 == 0)
		snprintf(buf, 32, "%llds", ms / 1000);
	else
		snprintf(buf, 32, "%gs", (double)ms / 1000.0);
	return buf;
}

/* The REST API's TLS keys and the ctl section: what goes together. */
static int check_tls(const tandemd_settings *s, char **err)
{
	if ((s->restapi_certfile == NULL) != (s->restapi_keyfile == NULL)) {
		err_set(err,
		        "restapi.certfile and restapi.keyfile go together: give both or neither "
		        "(the key in its own private file, or the same path twice when one "
		        "private file holds both)");
		return -1;
	}
	bool verify = tandemd_verify_client(s) != TANDEMD_VERIFY_NONE;
	if (!s->restapi_certfile && verify) {
		err_set(err,
		        "restapi.verify_client: %s needs TLS: set restapi.certfile and "
		        "restapi.keyfile",
		        s->restapi_verify_client);
		return -1;
	}
	if (verify && !s->restapi_cafile) {
		err_set(err,
		        "restapi.verify_client: %s needs restapi.cafile, the CA that client "
		        "certificates must chain to",
		        s->restapi_verify_client);
		return -1;
	}
	if ((s->ctl_certfile == NULL) != (s->ctl_keyfile == NULL)) {
		err_set(err, "ctl.certfile and ctl.keyfile go together: give both or neither");
		return -1;
	}
	if ((s->restapi_keyfile_password && !s->restapi_keyfile) ||
	    (s->ctl_keyfile_password && !s->ctl_keyfile)) {
		err_set(err, "%s is set without the key file it opens",
		        s->ctl_keyfile_password && !s->ctl_keyfile ? "ctl.keyfile_password"
		                                                   : "restapi.keyfile_password");
		return -1;
	}
	return 0;
}

static int check_settings(const tandemd_settings *s, char **err)
{
	if (require(s->scope, "scope", "PATRONI_SCOPE", err) < 0 ||
	    require(s->name, "name", "PATRONI_NAME", err) < 0 ||
	    require(s->data_dir, "postgresql.data_dir", "PATRONI_POSTGRESQL_DATA_DIR", err) < 0)
		return -1;
	if (s->ttl < 2000) {
		err_set(
		    err,
		    "bootstrap.dcs.ttl: %lldms is too short: etcd raises leases below 2 s, so ttl "
		    "must be at least 2 (seconds)",
		    s->ttl);
		return -1;
	}
	if (s->loop_wait + 2 * s->retry_timeout > s->ttl) {
		char lw[32], rt[32], sum[32], ttl[32];
		err_set(
		    err,
		    "bootstrap.dcs: loop_wait (%s) + 2 * retry_timeout (%s) = %s exceeds ttl (%s): "
		    "the leader could lose its lease while still retrying; raise ttl or lower "
		    "loop_wait or retry_timeout",
		    seconds_text(s->loop_wait, lw), seconds_text(s->retry_timeout, rt),
		    seconds_text(s->loop_wait + 2 * s->retry_timeout, sum),
		    seconds_text(s->ttl, ttl));
		return -1;
	}
	if (!(s->etcd3_host && *s->etcd3_host) && s->etcd3_hosts.n == 0) {
		err_set(err,
		        "no DCS: set etcd3.host or etcd3.hosts (environment PATRONI_ETCD3_HOSTS)");
		return -1;
	}
	if ((s->etcd3_cert == NULL) != (s->etcd3_key == NULL)) {
		err_set(err, "etcd3.cert and etcd3.key go together: give both or neither");
		return -1;
	}
	if ((s->etcd3_username == NULL) != (s->etcd3_password == NULL)) {
		err_set(err, "etcd3.username and etcd3.password go together: give both or neither");
		return -1;
	}
	if ((s->restapi_username == NULL) != (s->restapi_password == NULL)) {
		err_set(err, "restapi.authentication needs both username and password");
		return -1;
	}
	if (s->restapi_username && !*s->restapi_username) {
		err_set(err, "restapi.authentication.username is empty");
		return -1;
	}
	if (s->restapi_password && !*s->restapi_password) {
		err_set(err, "restapi.authentication.password is empty");
		return -1;
	}
	if (s->restapi_allowlist_all && s->restapi_allowlist.n == 0 &&
	    !s->restapi_allowlist_include_members) {
		err_set(err, "restapi.allowlist_all is true but restapi.allowlist is empty (and "
		             "restapi.allowlist_include_members is false)");
		return -1;
	}
	if (check_tls(s, err) < 0)
		return -1;
	if (s->synchronous_mode_strict && !s->synchronous_mode) {
		err_set(err, "bootstrap.dcs.synchronous_mode_strict needs synchronous_mode: true");
		return -1;
	}
	if (backup_check_settings(s, err) != 0 || bootstrap_check_settings(s, err) != 0 ||
	    tandemd_check_standby(s, err) != 0 || pooler_check_settings(s, err) != 0)
		return -1;
	if (tandemd_watchdog_timeout_s(s) < 1) {
		err_set(err,
		        "watchdog.safety_margin %lld leaves no watchdog timeout: it must be less "
		        "than the ttl (%lld s), or -1 for half of it",
		        s->watchdog_safety_margin, (s->ttl + 999) / 1000);
		return -1;
	}
	return 0;
}

/* etcd3.hosts, or else etcd3.host (Patroni's order), as base URLs (check_settings saw one). */
static int build_etcd_endpoints(tandemd_settings *s, char **err)
{
	bool list = s->etcd3_hosts.n > 0;
	const char *const *items =
	    list ? (const char *const *)s->etcd3_hosts.v : (const char *const *)&s->etcd3_host;
	int n =
	    addr_base_urls(items, list ? s->etcd3_hosts.n : 1, s->etcd3_protocol, TANDEMD_ETCD_PORT,
	                   list ? "etcd3.hosts" : "etcd3.host", &s->etcd3_endpoints, err);
	if (n < 0)
		return -1;
	s->etcd3_nendpoints = (size_t)n;
	return 0;
}

int tandemd_settings_load(tandemd_settings *s, int argc, char **argv, char **envp, char **err)
{
	extern char **environ;
	memset(s, 0, sizeof *s);
	cfg_list added = {0, NULL};
	char **env = tandemd_environment_with_patroni(envp ? envp : environ, &added);
	int rc = cfg_load(&tandemd_options, s, argc, argv, env, err);
	if (rc < 0 && err && *err)
		tandemd_name_patroni_variable(err, &added);
	if (rc == 0)
		rc = check_settings(s, err);
	if (rc == 0)
		rc = build_etcd_endpoints(s, err);
	free(env);
	for (size_t i = 0; i < added.n; i++)
		free(added.v[i]);
	free(added.v);
	return rc;
}

void tandemd_settings_free(tandemd_settings *s)
{
	addr_urls_free(s->etcd3_endpoints);
	s->etcd3_endpoints = NULL;
	s->etcd3_nendpoints = 0;
	cfg_free(&tandemd_options, s);
}

char *tandemd_settings_dump(const tandemd_settings *s)
{
	strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < tandemd_options.n; i++) {
		const cfg_option *o = &tandemd_options.options[i];
		char *v = cfg_format(o, s);
		sb_printf(&sb, "%s: %s\n", o->name, v);
		free(v);
	}
	return sb_steal(&sb);
}
