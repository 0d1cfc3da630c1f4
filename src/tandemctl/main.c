/* tandemctl: the operator's command line for a tandem (or Patroni) cluster. Global options,
 * the command table, help, and dispatch; the commands are in ctl_read.c and ctl_actions.c. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_commands.h"
#include "log.h"
#ifdef TANDEMCTL_HAVE_DEMO
#include "demo.h"
#endif

/* Which options a command accepts (the connection options and --json go with every command
 * that reads the cluster). */
enum {
	OPT_CONN = 1 << 0,
	OPT_JSON = 1 << 1,
	OPT_FORCE = 1 << 2,
	OPT_CANDIDATE = 1 << 3,
	OPT_ALL = 1 << 4,
	OPT_HAPROXY = 1 << 5,
	OPT_SWITCHOVER = 1 << 6, /* --leader, --scheduled */
	OPT_WAIT = 1 << 7,
	OPT_PENDING = 1 << 8,
	OPT_EDIT = 1 << 9,     /* --set, --pg, --apply */
	OPT_TYPE = 1 << 10,    /* --type (backup) */
	OPT_SITE = 1 << 11,    /* --site (haproxy-config: FILE, repeatable; switchover: NAME) */
	OPT_ROLLING = 1 << 12, /* --rolling, --dry-run, --member-timeout (restart) */
};

typedef struct command {
	const char *name;
	int (*run)(const ctl_opts *o);
	unsigned accepts;
	const char *usage;
	const char *summary;
} command;

static const command commands[] = {
    {"list", ctl_cmd_list, OPT_CONN | OPT_JSON, "list",
     "the members: role, state, timeline, lag behind the leader, tags"},
    {"failover", ctl_cmd_failover, OPT_CONN | OPT_JSON | OPT_FORCE | OPT_CANDIDATE,
     "failover [--candidate NAME] [--force]",
     "make another member the leader (the leader picks the best replica without --candidate)"},
    {"switchover", ctl_cmd_switchover,
     OPT_CONN | OPT_JSON | OPT_FORCE | OPT_CANDIDATE | OPT_SWITCHOVER | OPT_SITE,
     "switchover [--leader NAME] [--candidate NAME | --site SITE] [--scheduled TIME|now] "
     "[--force]",
     "hand leadership over to a healthy replica (by default one in the leader's site), now or "
     "at a given time"},
    {"restart", ctl_cmd_restart,
     OPT_CONN | OPT_JSON | OPT_FORCE | OPT_ALL | OPT_PENDING | OPT_ROLLING,
     "restart MEMBER...|--all|--pending [--force] | --rolling [--pending] [--dry-run] "
     "[--member-timeout S] [--force]",
     "restart PostgreSQL on members (--pending: only where a restart is pending; --rolling: "
     "one by one, the leader last through a switchover)"},
    {"remove", ctl_cmd_remove, OPT_CONN | OPT_JSON | OPT_FORCE, "remove MEMBER [--force]",
     "take a stopped member out of the cluster: its keys, its slot on the leader, its place "
     "in the sync set"},
    {"reload", ctl_cmd_reload, OPT_CONN | OPT_JSON | OPT_ALL, "reload [MEMBER...]",
     "make members re-read their configuration (all members by default)"},
    {"reinit", ctl_cmd_reinit, OPT_CONN | OPT_JSON | OPT_FORCE, "reinit MEMBER... [--force]",
     "rebuild a replica's data directory from the leader (never the leader's)"},
    {"pause", ctl_cmd_pause, OPT_CONN | OPT_JSON | OPT_WAIT, "pause [--wait]",
     "maintenance mode: the members keep reporting but take no automatic action"},
    {"resume", ctl_cmd_resume, OPT_CONN | OPT_JSON | OPT_WAIT, "resume [--wait]",
     "end maintenance mode"},
    {"backup", ctl_cmd_backup, OPT_CONN | OPT_JSON | OPT_WAIT | OPT_TYPE,
     "backup [--type full|diff|incr] [--wait]",
     "a pgBackRest backup now, by the cluster's backup runner (--wait: until it ends)"},
    {"drill", ctl_cmd_drill, OPT_CONN | OPT_JSON | OPT_WAIT, "drill [MEMBER] [--wait]",
     "restore the latest backup into a scratch copy on a replica and check it (a restore "
     "drill)"},
    {"show-config", ctl_cmd_show_config, OPT_CONN | OPT_JSON, "show-config",
     "the cluster-wide configuration stored in etcd (YAML, or JSON with --json)"},
    {"edit-config", ctl_cmd_edit_config, OPT_CONN | OPT_FORCE | OPT_EDIT,
     "edit-config [--set KEY=VALUE]... [--pg NAME=VALUE]... | --apply FILE|- [--force]",
     "change the cluster-wide configuration (shows a diff; $EDITOR with no option)"},
    {"history", ctl_cmd_history, OPT_CONN | OPT_JSON, "history",
     "the timeline history: every failover and switchover"},
    {"haproxy-config", ctl_cmd_haproxy_config, OPT_CONN | OPT_HAPROXY | OPT_SITE,
     "haproxy-config [--rw ADDR] [--ro ADDR] [--stats ADDR] [--maxconn N] [--no-fallback] "
     "[--site FILE]...",
     "print an HAProxy configuration for the cluster's members (and other sites')"},
    {"version", ctl_cmd_version, OPT_CONN | OPT_JSON, "version",
     "tandemctl's version, and each member's when a cluster is given"},
    {"restore-point", ctl_cmd_restore_point, OPT_CONN | OPT_JSON, "restore-point NAME",
     "create a named restore point on the leader and archive its WAL (see restore --to)"},
    {"restore", NULL, 0,
     "restore --to TIME|LSN|NAME|latest --new-cluster NAME --data-dir DIR --listen HOST:PORT "
     "[--from-stanza S] [--force] [--print-config]",
     "point-in-time recovery into a new cluster (see tandemctl restore --help)"},
    {"pgbouncer-config", NULL, 0,
     "pgbouncer-config [--listen ADDR] [--auth-file FILE] [--pool-mode MODE]",
     "print a PgBouncer configuration for this member's site (see tandemctl pgbouncer-config "
     "--help)"},
    {"promote-cluster", NULL, 0, "promote-cluster [--force]",
     "two sites: make this standby site writable (see tandemctl promote-cluster --help)"},
    {"demote-cluster", NULL, 0, "demote-cluster --host HOST[,HOST] [--port PORT[,PORT]]",
     "two sites: make this site a standby cluster of HOSTs"},
    {"site-switchover", NULL, 0, "site-switchover --from A.yml --to B.yml [--force]",
     "two sites: the planned switch of the primary site, nothing lost, no pg_rewind"},
    {"init", NULL, 0,
     "init --scope NAME --name NAME --etcd HOSTS --connect-address HOST --allow CIDR... "
     "[--secrets FILE] [--force]",
     "write this node's configuration and secrets file (see tandemctl init --help)"},
    {"demo", NULL, 0, "demo [ARGS...]",
     "run the embedded demonstration (see tandemctl demo --help)"},
};

static const command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void print_help(FILE *out)
{
	fprintf(out, "usage: tandemctl [CONNECTION] COMMAND [OPTIONS] [ARGS]\n\n"
	             "Looks at and acts on a tandem (or Patroni) cluster kept in etcd.\n\n"
	             "Commands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(out, "  %-15s %s\n", commands[i].name, commands[i].summary);
	fprintf(
	    out,
	    "\nConnection (options may come before or after the command):\n"
	    "  -c, --config FILE      a tandemd or Patroni YAML file: scope, namespace, etcd3.*,\n"
	    "                         restapi.authentication.*, ctl.* and restapi's TLS files\n"
	    "                         are used                             [TANDEMCTL_CONFIG]\n"
	    "      --etcd HOSTS       etcd endpoints, HOST:PORT or URL, comma-separated; over the\n"
	    "                         file's etcd3 settings                [TANDEMCTL_ETCD]\n"
	    "      --scope NAME       the cluster's name; over the file's  [TANDEMCTL_SCOPE]\n"
	    "      --namespace PATH   where the clusters live (default /service/)\n"
	    "                                                              [TANDEMCTL_NAMESPACE]\n"
	    "      --timeout SECONDS  deadline of every etcd read and REST call (default 30)\n"
	    "      --cacert FILE      CA the members' https REST APIs must chain to; over the\n"
	    "                         file's ctl.cacert and restapi.cafile (default: the\n"
	    "                         system's CAs). haproxy-config: the checks' ca-file\n"
	    "      --insecure         do not verify the members' REST API certificates (a\n"
	    "                         warning each time); haproxy-config: checks 'verify none'\n");
	fprintf(
	    out,
	    "\nOptions:\n"
	    "      --json             machine-readable output (JSON on stdout)\n"
	    "      --force            do not ask for confirmation (failover, switchover, restart,\n"
	    "                         reinit, remove, edit-config); required when stdin is not a\n"
	    "                         terminal\n"
	    "      --candidate NAME   failover, switchover: the member to promote\n"
	    "      --leader NAME      switchover: the current leader (refused if it is not)\n"
	    "      --scheduled TIME   switchover: when, ISO 8601 with a zone\n"
	    "                         (2030-01-01T10:00:00+00:00), or now (the default)\n"
	    "      --all              restart, reload: every member\n"
	    "      --pending          restart: only the members with a restart pending\n"
	    "      --rolling          restart: every member one by one, each back to streaming\n"
	    "                         before the next, the leader last through a switchover\n"
	    "      --dry-run          restart --rolling: print the plan, do nothing\n"
	    "      --member-timeout S restart --rolling: how long a member may take to come\n"
	    "                         back (default 300); the roll stops when one does not\n"
	    "      --wait             pause, resume: until every member reports the change;\n"
	    "                         backup: until the backup ends (exit 0 when it succeeded);\n"
	    "                         drill: until the drill ends, then its result\n"
	    "      --type TYPE        backup: full, diff or incr (default incr: pgBackRest makes\n"
	    "                         a full when the repository has none)\n"
	    "      --set KEY=VALUE    edit-config: set a key, dotted for nesting\n"
	    "                         (postgresql.parameters.work_mem=8MB, ttl=30); the value is\n"
	    "                         JSON when it reads as JSON, else a string; null removes\n"
	    "      --pg NAME=VALUE    edit-config: --set postgresql.parameters.NAME=VALUE\n"
	    "      --apply FILE|-     edit-config: replace the whole configuration (YAML or JSON)\n"
	    "      --rw ADDR          haproxy-config: read-write port (default *:5000)\n"
	    "      --ro ADDR          haproxy-config: read-only port (default *:5001)\n"
	    "      --stats ADDR       haproxy-config: HAProxy's stats page (default none)\n"
	    "      --maxconn N        haproxy-config: connections per server (default 100)\n"
	    "      --no-fallback      haproxy-config: the read-only port does not fall back to\n"
	    "                         the primary when no replica is up\n"
	    "      --site FILE        haproxy-config, repeatable: another site's cluster (its\n"
	    "                         tandemd YAML; its own etcd): every site's members in the\n"
	    "                         read-write backend, so writes go to whichever site is\n"
	    "                         primary; reads prefer the -c cluster's site, the other\n"
	    "                         sites' replicas are backup servers (docs/sites.md);\n"
	    "                         switchover: the new leader is the best member tagged\n"
	    "                         with this site (tags.site)\n"
	    "  -h, --help             this text (tandemctl COMMAND --help: the command's usage)\n");
	fprintf(out,
	        "\nExit status:\n"
	        "  0  done\n"
	        "  1  the operation failed or was refused: a member answered with an error, no\n"
	        "     such member or cluster, the leader named for reinit, not confirmed\n"
	        "  2  usage or configuration error, including a confirmation needed without a\n"
	        "     terminal (use --force)\n"
	        "  3  etcd, or a member's REST API, could not be reached\n"
	        "\nExamples:\n"
	        "  tandemctl -c /etc/tandem/tandemd.yml list\n"
	        "  tandemctl --etcd 10.0.0.1:2379 --scope batman list --json\n"
	        "  tandemctl -c tandemd.yml failover --candidate pg2 --force\n"
	        "  tandemctl -c tandemd.yml switchover --candidate pg2 --scheduled "
	        "2030-01-01T03:00:00+00:00\n"
	        "  tandemctl -c tandemd.yml edit-config --pg work_mem=8MB --set ttl=30\n"
	        "  tandemctl -c tandemd.yml pause --wait\n"
	        "  tandemctl -c tandemd.yml restart --rolling --dry-run\n"
	        "  tandemctl -c tandemd.yml remove pg3\n"
	        "  tandemctl -c siteA.yml haproxy-config --site siteB.yml --rw 127.0.0.1:5000\n"
	        "  tandemctl -c tandemd.yml restore-point before-upgrade\n"
	        "  tandemctl -c tandemd.yml restore --to before-upgrade --new-cluster orders2 \\\n"
	        "      --data-dir /var/lib/postgresql/15/orders2 --listen 10.0.0.11:5433\n"
	        "  tandemctl -c tandemd.yml backup --type full --wait\n"
	        "  tandemctl site-switchover --from siteA.yml --to siteB.yml\n"
	        "  tandemctl -c tandemd.yml drill --wait\n");
}

static int usage_error(const char *fmt, ...) TND_PRINTF(1, 2);

static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "tandemctl: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nSee 'tandemctl --help'.\n");
	return CTL_EXIT_USAGE;
}

enum {
	LONG_ETCD = 256,
	LONG_SCOPE,
	LONG_NAMESPACE,
	LONG_TIMEOUT,
	LONG_JSON,
	LONG_FORCE,
	LONG_CANDIDATE,
	LONG_ALL,
	LONG_RW,
	LONG_RO,
	LONG_STATS,
	LONG_MAXCONN,
	LONG_NO_FALLBACK,
	LONG_SITE,
	LONG_LEADER,
	LONG_SCHEDULED,
	LONG_WAIT,
	LONG_PENDING,
	LONG_SET,
	LONG_PG,
	LONG_APPLY,
	LONG_CACERT,
	LONG_INSECURE,
	LONG_TYPE,
	LONG_ROLLING,
	LONG_DRY_RUN,
	LONG_MEMBER_TIMEOUT,
};

static const struct option long_options[] = {
    {"config", required_argument, NULL, 'c'},
    {"etcd", required_argument, NULL, LONG_ETCD},
    {"scope", required_argument, NULL, LONG_SCOPE},
    {"namespace", required_argument, NULL, LONG_NAMESPACE},
    {"timeout", required_argument, NULL, LONG_TIMEOUT},
    {"cacert", required_argument, NULL, LONG_CACERT},
    {"insecure", no_argument, NULL, LONG_INSECURE},
    {"json", no_argument, NULL, LONG_JSON},
    {"force", no_argument, NULL, LONG_FORCE},
    {"candidate", required_argument, NULL, LONG_CANDIDATE},
    {"all", no_argument, NULL, LONG_ALL},
    {"rw", required_argument, NULL, LONG_RW},
    {"ro", required_argument, NULL, LONG_RO},
    {"stats", required_argument, NULL, LONG_STATS},
    {"maxconn", required_argument, NULL, LONG_MAXCONN},
    {"no-fallback", no_argument, NULL, LONG_NO_FALLBACK},
    {"site", required_argument, NULL, LONG_SITE},
    {"leader", required_argument, NULL, LONG_LEADER},
    {"scheduled", required_argument, NULL, LONG_SCHEDULED},
    {"wait", no_argument, NULL, LONG_WAIT},
    {"pending", no_argument, NULL, LONG_PENDING},
    {"set", required_argument, NULL, LONG_SET},
    {"pg", required_argument, NULL, LONG_PG},
    {"apply", required_argument, NULL, LONG_APPLY},
    {"type", required_argument, NULL, LONG_TYPE},
    {"rolling", no_argument, NULL, LONG_ROLLING},
    {"dry-run", no_argument, NULL, LONG_DRY_RUN},
    {"member-timeout", required_argument, NULL, LONG_MEMBER_TIMEOUT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The index of the command word: the first argument that is neither an option nor an option's
 * value; argc when there is none. */
static int command_index(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0)
			return i + 1 < argc ? i + 1 : argc;
		if (a[0] != '-' || a[1] == '\0')
			return i;
		if (strcmp(a, "-c") == 0) {
			i++;
			continue;
		}
		if (a[1] != '-')
			continue;
		for (const struct option *lo = long_options; lo->name; lo++)
			if (lo->has_arg == required_argument && strcmp(a + 2, lo->name) == 0)
				i++;
	}
	return argc;
}

static int demo(int argc, char **argv)
{
#ifdef TANDEMCTL_HAVE_DEMO
	return demo_main(argc, argv);
#else
	(void)argc;
	(void)argv;
	fprintf(stderr, "tandemctl: this build of tandemctl has no demo\n");
	return CTL_EXIT_USAGE;
#endif
}

static const char *env_or(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

/* --timeout SECONDS (and --member-timeout): more than 0 and at most an hour, in milliseconds
 * (at least 1). */
static int parse_seconds(const char *option, const char *arg, long *ms)
{
	char *end;
	errno = 0;
	double s = strtod(arg, &end);
	if (errno || end == arg || *end || !(s > 0 && s <= 3600))
		return usage_error("%s '%s': give seconds, more than 0 and at most 3600", option,
		                   arg);
	*ms = (long)(s * 1000 + 0.5);
	if (*ms < 1)
		*ms = 1;
	return CTL_EXIT_OK;
}

static int parse_maxconn(const char *arg, unsigned *maxconn)
{
	char *end;
	errno = 0;
	unsigned long n = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || n < 1 || n > 1000000)
		return usage_error("--maxconn '%s': give a number from 1 to 1000000", arg);
	*maxconn = (unsigned)n;
	return CTL_EXIT_OK;
}

/* The options of haproxy-config; false when `c` is not one of them. */
static bool take_haproxy_option(int c, const char *arg, ctl_opts *o, int *rc)
{
	switch (c) {
	case LONG_RW:
		o->rw_listen = arg;
		return true;
	case LONG_RO:
		o->ro_listen = arg;
		return true;
	case LONG_STATS:
		o->stats_listen = arg;
		return true;
	case LONG_MAXCONN:
		*rc = parse_maxconn(arg, &o->maxconn);
		return true;
	case LONG_NO_FALLBACK:
		o->no_fallback = true;
		return true;
	default:
		return false;
	}
}

/* The connection options; false when `c` is not one of them. */
static bool take_conn_option(int c, const char *arg, ctl_opts *o, int *rc)
{
	switch (c) {
	case 'c':
		o->conn.config = arg;
		return true;
	case LONG_ETCD:
		o->conn.etcd = arg;
		return true;
	case LONG_SCOPE:
		o->conn.scope = arg;
		return true;
	case LONG_NAMESPACE:
		o->conn.namespace_ = arg;
		return true;
	case LONG_TIMEOUT:
		*rc = parse_seconds("--timeout", arg, &o->timeout_ms);
		return true;
	case LONG_CACERT:
		o->conn.cacert = arg;
		return true;
	case LONG_INSECURE:
		o->conn.insecure = true;
		return true;
	default:
		return false;
	}
}

/* restart --rolling's options. */
static int take_rolling_option(int c, const char *arg, ctl_opts *o)
{
	if (c == LONG_ROLLING)
		o->rolling = true;
	else if (c == LONG_DRY_RUN)
		o->dry_run = true;
	else
		return parse_seconds("--member-timeout", arg, &o->member_timeout_ms);
	return CTL_EXIT_OK;
}

/* One option from getopt_long: fills `o`, notes its group (OPT_*) in `given`; CTL_EXIT_OK or
 * the usage error's status. */
static int take_option(int c, char **argv, ctl_opts *o, unsigned *given, bool *help)
{
	int rc = CTL_EXIT_OK;
	if (take_conn_option(c, optarg, o, &rc)) {
		*given |= OPT_CONN;
		return rc;
	}
	if (take_haproxy_option(c, optarg, o, &rc)) {
		*given |= OPT_HAPROXY;
		return rc;
	}
	switch (c) {
	case LONG_JSON:
		o->json = true;
		*given |= OPT_JSON;
		break;
	case LONG_FORCE:
		o->force = true;
		*given |= OPT_FORCE;
		break;
	case LONG_CANDIDATE:
		o->candidate = optarg;
		*given |= OPT_CANDIDATE;
		break;
	case LONG_SITE:
		o->sites[o->nsites++] = optarg;
		*given |= OPT_SITE;
		break;
	case LONG_ALL:
		o->all = true;
		*given |= OPT_ALL;
		break;
	case LONG_LEADER:
		o->leader = optarg;
		*given |= OPT_SWITCHOVER;
		break;
	case LONG_SCHEDULED:
		o->scheduled = optarg;
		*given |= OPT_SWITCHOVER;
		break;
	case LONG_WAIT:
		o->wait = true;
		*given |= OPT_WAIT;
		break;
	case LONG_PENDING:
		o->pending = true;
		*given |= OPT_PENDING;
		break;
	case LONG_SET:
		o->sets[o->nsets++] = optarg;
		*given |= OPT_EDIT;
		break;
	case LONG_PG:
		o->pgs[o->npgs++] = optarg;
		*given |= OPT_EDIT;
		break;
	case LONG_APPLY:
		if (o->apply)
			return usage_error("--apply may be given once");
		o->apply = optarg;
		*given |= OPT_EDIT;
		break;
	case LONG_TYPE:
		o->backup_type = optarg;
		*given |= OPT_TYPE;
		break;
	case LONG_ROLLING:
	case LONG_DRY_RUN:
	case LONG_MEMBER_TIMEOUT:
		*given |= OPT_ROLLING;
		return take_rolling_option(c, optarg, o);
	case 'h':
		*help = true;
		break;
	case ':':
		return usage_error("option '%s' needs a value", argv[optind - 1]);
	default:
		return usage_error("unknown option '%s'", argv[optind - 1]);
	}
	return CTL_EXIT_OK;
}

/* Whether `cmd` takes the options given and the arguments after it: CTL_EXIT_OK or
 * CTL_EXIT_USAGE (with the message written). */
static int check_usage(const command *cmd, unsigned given, const ctl_opts *o)
{
	unsigned extra = given & ~cmd->accepts;
	if (extra) {
		const char *what = extra & OPT_CANDIDATE    ? "--candidate"
		                   : extra & OPT_FORCE      ? "--force"
		                   : extra & OPT_ALL        ? "--all"
		                   : extra & OPT_JSON       ? "--json"
		                   : extra & OPT_HAPROXY    ? "the haproxy-config options"
		                   : extra & OPT_SWITCHOVER ? "--leader or --scheduled"
		                   : extra & OPT_WAIT       ? "--wait"
		                   : extra & OPT_PENDING    ? "--pending"
		                   : extra & OPT_EDIT       ? "--set, --pg or --apply"
		                   : extra & OPT_TYPE       ? "--type"
		                   : extra & OPT_SITE       ? "--site"
		                   : extra & OPT_ROLLING
		                       ? "--rolling, --dry-run or --member-timeout"
		                       : "that option";
		fprintf(stderr, "tandemctl: %s does not take %s\nusage: tandemctl %s\n", cmd->name,
		        what, cmd->usage);
		return CTL_EXIT_USAGE;
	}
	bool takes_members = cmd->run == ctl_cmd_restart || cmd->run == ctl_cmd_reload ||
	                     cmd->run == ctl_cmd_reinit || cmd->run == ctl_cmd_restore_point ||
	                     cmd->run == ctl_cmd_drill || cmd->run == ctl_cmd_remove;
	if (o->nargs > 0 && !takes_members && cmd->run != ctl_cmd_failover) {
		fprintf(stderr,
		        "tandemctl: %s takes no arguments ('%s' given)\nusage: tandemctl %s\n",
		        cmd->name, o->args[0], cmd->usage);
		return CTL_EXIT_USAGE;
	}
	return CTL_EXIT_OK;
}

static int run_command(const command *cmd, const ctl_opts *o)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "tandemctl: cannot initialise libcurl\n");
		return CTL_EXIT_FAILED;
	}
	/* The libraries' own log lines (an etcd endpoint failing over) are for daemons; tandemctl
	 * reports what went wrong itself. */
	log_set_level(getenv("TANDEMCTL_DEBUG") ? LOG_DEBUG : LOG_ERROR);
	int rc = cmd->run(o);
	curl_global_cleanup();
	return rc;
}

static int run(int argc, char **argv, ctl_opts *o)
{
	unsigned given = 0;
	bool help = false;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":c:h", long_options, NULL)) != -1) {
		int rc = take_option(c, argv, o, &given, &help);
		if (rc != CTL_EXIT_OK)
			return rc;
	}
	if (optind >= argc) {
		if (help) {
			print_help(stdout);
			return CTL_EXIT_OK;
		}
		print_help(stderr);
		return CTL_EXIT_USAGE;
	}
	const char *name = argv[optind];
	if (strcmp(name, "help") == 0) {
		const command *hc = optind + 1 < argc ? find_command(argv[optind + 1]) : NULL;
		if (hc)
			printf("usage: tandemctl [CONNECTION] %s\n  %s\n", hc->usage, hc->summary);
		else
			print_help(stdout);
		return CTL_EXIT_OK;
	}
	const command *cmd = find_command(name);
	if (!cmd)
		return usage_error("unknown command '%s'", name);
	if (!cmd->run)
		return strcmp(cmd->name, "restore") == 0 ? ctl_restore_main(argc, argv)
		       : strcmp(cmd->name, "init") == 0
		           ? ctl_init_main(argc - optind, argv + optind)
		       : strcmp(cmd->name, "demo") == 0 ? demo(argc - optind, argv + optind)
		       : strcmp(cmd->name, "pgbouncer-config") == 0 ? ctl_pgbouncer_main(argc, argv)
		                                                    : ctl_site_main(argc, argv);
	if (help) {
		printf("usage: tandemctl [CONNECTION] %s\n  %s\n(see tandemctl --help for the "
		       "options and exit status)\n",
		       cmd->usage, cmd->summary);
		return CTL_EXIT_OK;
	}
	o->args = argv + optind + 1;
	o->nargs = argc - optind - 1;
	int rc = check_usage(cmd, given, o);
	return rc != CTL_EXIT_OK ? rc : run_command(cmd, o);
}

int main(int argc, char **argv)
{
	int ci = command_index(argc, argv);
	if (ci < argc && strcmp(argv[ci], "demo") == 0)
		return demo(argc - ci, argv + ci);
	if (ci < argc && strcmp(argv[ci], "restore") == 0)
		return ctl_restore_main(argc, argv);
	if (ci < argc && strcmp(argv[ci], "pgbouncer-config") == 0)
		return ctl_pgbouncer_main(argc, argv);
	if (ci < argc && strcmp(argv[ci], "init") == 0)
		return ctl_init_main(argc - ci, argv + ci);
	if (ci < argc &&
	    (!strcmp(argv[ci], "promote-cluster") || !strcmp(argv[ci], "demote-cluster") ||
	     !strcmp(argv[ci], "site-switchover")))
		return ctl_site_main(argc, argv);

	ctl_opts o;
	memset(&o, 0, sizeof o);
	o.timeout_ms = 30000;
	o.conn.config = env_or("TANDEMCTL_CONFIG");
	o.conn.etcd = env_or("TANDEMCTL_ETCD");
	o.conn.scope = env_or("TANDEMCTL_SCOPE");
	o.conn.namespace_ = env_or("TANDEMCTL_NAMESPACE");
	/* the repeatable edit-config options: at most one per argument */
	const char **sets = xcalloc((size_t)argc + 1, sizeof *sets);
	const char **pgs = xcalloc((size_t)argc + 1, sizeof *pgs);
	const char **sites = xcalloc((size_t)argc + 1, sizeof *sites);
	o.sets = sets;
	o.pgs = pgs;
	o.sites = sites;
	int rc = run(argc, argv, &o);
	free(sets);
	free(pgs);
	free(sites);
	return rc;
}
