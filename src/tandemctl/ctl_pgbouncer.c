/* tandemctl pgbouncer-config: the PgBouncer configuration for this member's site, from the
 * `pgbouncer:` section of its tandemd configuration (pgbouncer.route: where PgBouncer sends every
 * database; pgbouncer.admin: its console, whose host and port it listens on and whose user is
 * its admin), rendered by pgbouncer_config.c. docs/pooler.md. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "ctl_commands.h"
#include "options.h"
#include "pgbouncer_config.h"
#include "pgpool.h"
#include "pooler_options.h"

static const char usage[] =
    "usage: tandemctl -c FILE pgbouncer-config [--listen ADDR] [--auth-file FILE]\n"
    "                 [--pool-mode session|transaction|statement] [--max-client-conn N]\n"
    "                 [--pool-size N]\n"
    "Prints pgbouncer.ini for this member's site: every database to the primary through\n"
    "pgbouncer.route (e.g. HAProxy's read-write port), listening where pgbouncer.admin's first\n"
    "console is (--listen ADDR otherwise), its user as admin_users. tandemd pauses the\n"
    "PgBouncers of pgbouncer.admin before a planned switchover and resumes them after it.\n"
    "  --auth-file FILE   userlist.txt with the roles' secrets (default\n"
    "                     /etc/pgbouncer/userlist.txt)\n"
    "  --pool-mode MODE   default transaction\n"
    "  --max-client-conn N, --pool-size N   defaults 1000 and 20\n";

typedef struct pb_args {
	const char *config, *listen, *auth_file, *pool_mode;
	unsigned max_client_conn, pool_size;
} pb_args;

static int parse_count(const char *flag, const char *v, unsigned *out)
{
	char *end;
	long n = strtol(v, &end, 10);
	if (*end || n < 1 || n > 100000) {
		fprintf(stderr, "tandemctl pgbouncer-config: %s: a number from 1 to 100000\n",
		        flag);
		return -1;
	}
	*out = (unsigned)n;
	return 0;
}

enum { HELP_SHOWN = -2 };

/* CTL_EXIT_OK to go on, HELP_SHOWN, or an exit status. */
static int parse_args(int argc, char **argv, pb_args *a)
{
	static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
	                                     {"listen", required_argument, NULL, 'l'},
	                                     {"auth-file", required_argument, NULL, 'a'},
	                                     {"pool-mode", required_argument, NULL, 'm'},
	                                     {"max-client-conn", required_argument, NULL, 'M'},
	                                     {"pool-size", required_argument, NULL, 'P'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			a->config = optarg;
			break;
		case 'l':
			a->listen = optarg;
			break;
		case 'a':
			a->auth_file = optarg;
			break;
		case 'm':
			a->pool_mode = optarg;
			break;
		case 'M':
			if (parse_count("--max-client-conn", optarg, &a->max_client_conn) != 0)
				return CTL_EXIT_USAGE;
			break;
		case 'P':
			if (parse_count("--pool-size", optarg, &a->pool_size) != 0)
				return CTL_EXIT_USAGE;
			break;
		case 'h':
			fputs(usage, stdout);
			return HELP_SHOWN;
		default:
			fputs(usage, stderr);
			return CTL_EXIT_USAGE;
		}
	}
	if (optind != argc - 1 || !a->config) {
		fputs(a->config ? usage
		                : "tandemctl pgbouncer-config: give the member's "
		                  "configuration (-c FILE or TANDEMCTL_CONFIG)\n",
		      stderr);
		return CTL_EXIT_USAGE;
	}
	return CTL_EXIT_OK;
}

/* The listen address: --listen, else the first console's host and port. */
static int listen_addr(const pb_args *a, const tandemd_settings *s, char **host, char **port)
{
	if (a->listen) {
		*host = addr_host_text(a->listen, "");
		*port = addr_port_text(a->listen, NULL);
	} else if (tandemd_pooler_on(s)) {
		*host = pgpool_conninfo_value(s->pgbouncer_admin.v[0], "host");
		*port = pgpool_conninfo_value(s->pgbouncer_admin.v[0], "port");
	}
	if (*host && *port)
		return 0;
	fprintf(stderr,
	        "tandemctl pgbouncer-config: %s: give --listen HOST:PORT (or a host and a "
	        "port in pgbouncer.admin's first console)\n",
	        a->listen ? a->listen : "no listen address");
	return -1;
}

static int render(const pb_args *a, const tandemd_settings *s)
{
	if (!s->pgbouncer_route) {
		fprintf(stderr,
		        "tandemctl pgbouncer-config: %s has no pgbouncer.route (how PgBouncer "
		        "reaches the primary, e.g. \"host=127.0.0.1 port=5000\")\n",
		        a->config);
		return CTL_EXIT_USAGE;
	}
	char *lhost = NULL, *lport = NULL;
	char *rhost = pgpool_conninfo_value(s->pgbouncer_route, "host");
	char *rport = pgpool_conninfo_value(s->pgbouncer_route, "port");
	char *admin =
	    tandemd_pooler_on(s) ? pgpool_conninfo_value(s->pgbouncer_admin.v[0], "user") : NULL;
	int rc = CTL_EXIT_USAGE;
	if (listen_addr(a, s, &lhost, &lport) == 0) {
		pgbouncer_config_input in = {
		    .scope = s->scope,
		    .listen_host = lhost,
		    .listen_port = lport,
		    .route_host = rhost ? rhost : "localhost",
		    .route_port = rport ? rport : "5432",
		    .admin_user = admin ? admin : "pgbouncer",
		    .auth_file = a->auth_file ? a->auth_file : "/etc/pgbouncer/userlist.txt",
		    .pool_mode = a->pool_mode ? a->pool_mode : "transaction",
		    .max_client_conn = a->max_client_conn ? a->max_client_conn : 1000,
		    .default_pool_size = a->pool_size ? a->pool_size : 20,
		    .pause_timeout_s = (unsigned)(s->pgbouncer_pause_timeout / 1000)};
		char *err = NULL;
		char *text = pgbouncer_config_render(&in, &err);
		if (text) {
			fputs(text, stdout);
			rc = CTL_EXIT_OK;
		} else {
			fprintf(stderr, "tandemctl pgbouncer-config: %s\n", err);
		}
		free(text);
		free(err);
	}
	free(lhost);
	free(lport);
	free(rhost);
	free(rport);
	free(admin);
	return rc;
}

int ctl_pgbouncer_main(int argc, char **argv)
{
	pb_args a = {.config = getenv("TANDEMCTL_CONFIG")};
	int rc = parse_args(argc, argv, &a);
	if (rc != CTL_EXIT_OK)
		return rc == HELP_SHOWN ? CTL_EXIT_OK : rc;
	const char *largv[] = {"tandemctl", a.config, NULL};
	tandemd_settings s;
	char *err = NULL;
	if (tandemd_settings_load(&s, 2, (char **)largv, NULL, &err) != 0) {
		fprintf(stderr, "tandemctl pgbouncer-config: %s\n",
		        err ? err : "bad configuration");
		free(err);
		tandemd_settings_free(&s);
		return CTL_EXIT_USAGE;
	}
	rc = render(&a, &s);
	tandemd_settings_free(&s);
	return rc;
}
