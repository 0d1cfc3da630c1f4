/* tandemctl restore: point-in-time recovery into a new cluster. From the source cluster's tandemd
 * configuration (-c), it checks everything that can be checked before anything is written (the
 * new name is not in the DCS, the source stanza has a backup before the target, the new stanza is
 * empty, the repository exists, the data directory is empty), writes the configuration of the new
 * cluster's first member (bootstrap.method pgbackrest: tandemd restores, recovers to the target
 * and is promoted) and starts its tandemd, then waits until it leads its own scope. With
 * --print-config it prints that configuration instead, to start tandemd on another host. */
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "backup_options.h"
#include "bootstrap_options.h"
#include "ctl_commands.h"
#include "ctl_restore.h"
#include "ctl_table.h"
#include "log.h"
#include "pgbr_restore.h"

typedef struct restore_args {
	ctl_conn_args conn;
	long timeout_ms;
	const char *to, *cluster, *data_dir, *listen, *from_stanza;
	bool force, print_config;
} restore_args;

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: tandemctl -c SOURCE.yml restore --to TIME|LSN|NAME|latest --new-cluster NAME\n"
	    "                 --data-dir DIR --listen HOST:PORT [--from-stanza S] [--force]\n"
	    "                 [--print-config]\n\n"
	    "Point-in-time recovery into a new cluster: restores the source cluster's backup\n"
	    "(pgBackRest) into DIR on this host and starts the new cluster's first member, a\n"
	    "tandemd with scope NAME on the same etcd, which recovers to exactly that point, is\n"
	    "promoted and archives into its own new stanza (NAME). -c is the source cluster's\n"
	    "tandemd configuration: its etcd, credentials, PostgreSQL settings and repository\n"
	    "are used. Run it as the PostgreSQL OS user.\n\n"
	    "  --to TARGET        an ISO 8601 time with a zone (2030-01-01T10:00:00+00:00), an\n"
	    "                     LSN (0/3000060), a restore point's name (tandemctl\n"
	    "                     restore-point), or latest (the end of the archived WAL)\n"
	    "  --new-cluster NAME the new cluster's scope, and its stanza\n"
	    "  --data-dir DIR     the new member's data directory (absolute; absent or empty)\n"
	    "  --listen HOST:PORT the new PostgreSQL's address; the REST API listens on HOST\n"
	    "                     at a free port, reported\n"
	    "  --from-stanza S    the stanza restored from (default: the source's backup.stanza)\n"
	    "  --force            move a non-empty DIR aside (DIR.moved-aside-TIME) instead of\n"
	    "                     refusing; nothing else is forced: a new stanza that holds\n"
	    "                     backups or WAL, or a name already in the DCS, is always refused\n"
	    "  --print-config     print the new member's configuration instead of starting it\n"
	    "                     (the checks of DIR are left to tandemd on that host)\n"
	    "  --timeout SECONDS  deadline of the etcd reads (default 30)\n\n"
	    "Writes DIR.tandemd.yml (0600) and DIR.tandemd.log. Exit status: 0 the new cluster\n"
	    "leads, 1 refused or failed (the reason printed), 2 usage, 3 etcd unreachable.\n");
}

static int usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "tandemctl restore: %s%s%s\nSee 'tandemctl restore --help'.\n", what,
	        arg ? ": " : "", arg ? arg : "");
	return CTL_EXIT_USAGE;
}

enum { L_TIMEOUT = 256, L_TO, L_NEW, L_DIR, L_LISTEN, L_FROM, L_FORCE, L_PRINT };

static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                         {"timeout", required_argument, NULL, L_TIMEOUT},
                                         {"to", required_argument, NULL, L_TO},
                                         {"new-cluster", required_argument, NULL, L_NEW},
                                         {"data-dir", required_argument, NULL, L_DIR},
                                         {"listen", required_argument, NULL, L_LISTEN},
                                         {"from-stanza", required_argument, NULL, L_FROM},
                                         {"force", no_argument, NULL, L_FORCE},
                                         {"print-config", no_argument, NULL, L_PRINT},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};

static int take(int c, char **argv, restore_args *r)
{
	switch (c) {
	case 'c':
		r->conn.config = optarg;
		break;
	case L_TIMEOUT: {
		char *end;
		double s = strtod(optarg, &end);
		if (*end || !(s > 0 && s <= 3600))
			return usage_error("--timeout: give seconds, more than 0 and at most 3600",
			                   optarg);
		r->timeout_ms = (long)(s * 1000 + 0.5);
		break;
	}
	case L_TO:
		r->to = optarg;
		break;
	case L_NEW:
		r->cluster = optarg;
		break;
	case L_DIR:
		r->data_dir = optarg;
		break;
	case L_LISTEN:
		r->listen = optarg;
		break;
	case L_FROM:
		r->from_stanza = optarg;
		break;
	case L_FORCE:
		r->force = true;
		break;
	case L_PRINT:
		r->print_config = true;
		break;
	case 'h':
		usage(stdout);
		return -1;
	case ':':
		return usage_error("this option needs a value", argv[optind - 1]);
	default:
		return usage_error("unknown option", argv[optind - 1]);
	}
	return CTL_EXIT_OK;
}

static int parse(int argc, char **argv, restore_args *r)
{
	opterr = 0;
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
		int rc = take(c, argv, r);
		if (rc != CTL_EXIT_OK)
			return rc < 0 ? -1 : rc;
	}
	for (int i = optind; i < argc; i++)
		if (strcmp(argv[i], "restore") != 0)
			return usage_error("restore takes no arguments", argv[i]);
	if (!r->conn.config)
		return usage_error("restore needs the source cluster's tandemd configuration (-c "
		                   "FILE or TANDEMCTL_CONFIG)",
		                   NULL);
	if (!r->to || !r->cluster || !r->data_dir || !r->listen)
		return usage_error("--to, --new-cluster, --data-dir and --listen are required",
		                   NULL);
	if (r->data_dir[0] != '/')
		return usage_error("--data-dir must be an absolute path", r->data_dir);
	if (!*r->cluster || strspn(r->cluster, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV"
	                                       "WXYZ0123456789-_.") != strlen(r->cluster))
		return usage_error("--new-cluster: letters, digits, '-', '_' and '.' only (it is "
		                   "the scope and the stanza)",
		                   r->cluster);
	char *e = NULL;
	addr a;
	if (addr_parse(r->listen, 0, 0, &a, &e) != 0) {
		int rc = usage_error("--listen", e);
		free(e);
		return rc;
	}
	addr_clear(&a);
	return CTL_EXIT_OK;
}

/* --to as recovery_conf's key and value (NULL key: latest); -1 when it is malformed. */
static int parse_target(const char *to, const char **key, bootstrap_target *t)
{
	*key = NULL;
	if (strcmp(to, "latest") == 0)
		*key = NULL;
	else if (strchr(to, '/') && strspn(to, "0123456789abcdefABCDEF/") == strlen(to))
		*key = "recovery_target_lsn";
	else if (strlen(to) >= 10 && to[4] == '-' && to[7] == '-' && strspn(to, "0123456789") == 4)
		*key = "recovery_target_time";
	else
		*key = "recovery_target_name";
	char *k[] = {(char *)(*key ? *key : "recovery_target_timeline")};
	char *v[] = {(char *)(*key ? to : "latest")};
	cfg_map m = {1, k, v};
	char *e = NULL;
	if (bootstrap_recovery_target(&m, t, &e) != 0) {
		usage_error("--to", e);
		free(e);
		return -1;
	}
	return 0;
}

static int load_source(const restore_args *r, tandemd_settings *s)
{
	const char *argv[] = {"tandemctl", r->conn.config, NULL};
	char *e = NULL;
	if (tandemd_settings_load(s, 2, (char **)argv, NULL, &e) != 0) {
		ctl_printf(stderr, "tandemctl restore: %s\n", e ? e : "bad configuration");
		free(e);
		return CTL_EXIT_USAGE;
	}
	if (!tandemd_backup_on(s)) {
		ctl_printf(stderr,
		           "tandemctl restore: %s names no repository (backup.pgbackrest: "
		           "repo1-path): there is no backup to restore\n",
		           r->conn.config);
		return CTL_EXIT_USAGE;
	}
	return CTL_EXIT_OK;
}

static int run(const restore_args *r, tandemd_settings *src)
{
	const char *key;
	bootstrap_target t;
	if (parse_target(r->to, &key, &t) != 0)
		return CTL_EXIT_USAGE;
	const char *from = r->from_stanza ? r->from_stanza : tandemd_backup_stanza(src);
	if (strcmp(from, r->cluster) == 0) {
		ctl_printf(stderr,
		           "tandemctl restore: the new cluster '%s' would archive into the stanza "
		           "it is restored from: give it another name\n",
		           r->cluster);
		return CTL_EXIT_FAILED;
	}
	int rc = ctl_restore_check_dcs(r->conn, r->cluster, r->timeout_ms);
	if (rc == CTL_EXIT_OK)
		rc = ctl_restore_check_repo(src, from, r->cluster, &t);
	if (rc == CTL_EXIT_OK && !r->print_config)
		rc = ctl_restore_check_dir(r->data_dir, r->force);
	if (rc != CTL_EXIT_OK)
		return rc;
	char *member = xasprintf("%s-1", r->cluster);
	char *rest = ctl_restore_free_port(r->listen);
	restore_plan p = {.src = src,
	                  .cluster = r->cluster,
	                  .member = member,
	                  .data_dir = r->data_dir,
	                  .listen = r->listen,
	                  .rest_listen = rest,
	                  .from_stanza = from,
	                  .target_key = key,
	                  .target_value = r->to};
	char *yml = ctl_restore_config(&p);
	if (r->print_config) {
		fputs(yml, stdout);
		fprintf(stderr,
		        "tandemctl restore: the configuration holds passwords; restapi.listen is a "
		        "free port on this host: check it on the host that runs it\n");
	} else
		rc = ctl_restore_start(&p, yml, r->conn, r->timeout_ms);
	free(yml);
	free(rest);
	free(member);
	return rc;
}

int ctl_restore_main(int argc, char **argv)
{
	restore_args r = {.timeout_ms = 30000};
	const char *e = getenv("TANDEMCTL_CONFIG");
	r.conn.config = e && *e ? e : NULL;
	int rc = parse(argc, argv, &r);
	if (rc != CTL_EXIT_OK)
		return rc < 0 ? CTL_EXIT_OK : rc;
	log_set_level(getenv("TANDEMCTL_DEBUG") ? LOG_DEBUG : LOG_ERROR);
	if (geteuid() == 0 && !r.print_config) {
		fprintf(stderr,
		        "tandemctl restore: run it as the PostgreSQL OS user (postgres): it "
		        "starts tandemd and PostgreSQL, which refuses root\n");
		return CTL_EXIT_USAGE;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "tandemctl: cannot initialise libcurl\n");
		return CTL_EXIT_FAILED;
	}
	tandemd_settings src;
	rc = load_source(&r, &src);
	if (rc == CTL_EXIT_OK)
		rc = run(&r, &src);
	tandemd_settings_free(&src);
	curl_global_cleanup();
	return rc;
}
