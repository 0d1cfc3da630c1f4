/* Test helper: prints haproxy_config_render's output for the cluster given on the command line.
 *
 *   haproxy_config_render_cli [--scope S] --rw ADDR --ro ADDR [--stats ADDR] [--maxconn N]
 *                             [--no-fallback] [--ca-file FILE] [--verify-none]
 *                             [--site LABEL] NAME,PG_ADDR,REST_ADDR...
 *                             [--site LABEL NAME,PG_ADDR,REST_ADDR...]...
 * (REST_ADDR written https://host:port: the member's checks go over TLS; --site LABEL: the
 * members after it are of that site, the first site given is HAProxy's own, the others remote)
 *
 * Exits 0 with the configuration on stdout, 2 with the error on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "haproxy_config.h"

static int haproxy_cli_usage(void)
{
	fprintf(stderr, "usage: haproxy_config_render_cli [--scope S] --rw ADDR --ro ADDR "
	                "[--stats ADDR] [--maxconn N] [--no-fallback] [--ca-file FILE] "
	                "[--verify-none] [--site LABEL] NAME,PG_ADDR,[https://]REST_ADDR...\n");
	return 2;
}

int main(int argc, char **argv)
{
	haproxy_config_input in;
	haproxy_config_input_defaults(&in);
	in.scope = "tandem";
	haproxy_member *members = xcalloc((size_t)argc, sizeof *members);
	char **copies = xcalloc((size_t)argc, sizeof *copies);
	size_t n = 0;
	int rc = 2;
	const char *site = NULL, *first_site = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has_value = i + 1 < argc;
		if (strcmp(a, "--scope") == 0 && has_value) {
			in.scope = argv[++i];
		} else if (strcmp(a, "--rw") == 0 && has_value) {
			in.rw_listen = argv[++i];
		} else if (strcmp(a, "--ro") == 0 && has_value) {
			in.ro_listen = argv[++i];
		} else if (strcmp(a, "--stats") == 0 && has_value) {
			in.stats_listen = argv[++i];
		} else if (strcmp(a, "--maxconn") == 0 && has_value) {
			in.maxconn = (unsigned)strtoul(argv[++i], NULL, 10);
		} else if (strcmp(a, "--no-fallback") == 0) {
			in.ro_fallback_primary = false;
		} else if (strcmp(a, "--ca-file") == 0 && has_value) {
			in.check_ca_file = argv[++i];
		} else if (strcmp(a, "--site") == 0 && has_value) {
			site = argv[++i];
			if (!first_site)
				first_site = site;
		} else if (strcmp(a, "--verify-none") == 0) {
			in.check_verify_none = true;
		} else if (a[0] == '-') {
			rc = haproxy_cli_usage();
			goto out;
		} else {
			char *c = xstrdup(a);
			copies[n] = c;
			char *p1 = strchr(c, ',');
			char *p2 = p1 ? strchr(p1 + 1, ',') : NULL;
			if (!p2) {
				fprintf(stderr, "member '%s': expected NAME,PG_ADDR,REST_ADDR\n",
				        a);
				n++;
				goto out;
			}
			*p1 = '\0';
			*p2 = '\0';
			members[n].name = c;
			members[n].pg_addr = p1 + 1;
			members[n].rest_addr = p2 + 1;
			members[n].site = site;
			members[n].remote = site && strcmp(site, first_site) != 0;
			/* REST_ADDR written https://host:port: checks over TLS */
			if (strncmp(p2 + 1, "https://", 8) == 0) {
				members[n].rest_addr = p2 + 9;
				members[n].rest_tls = true;
			}
			n++;
		}
	}
	in.members = members;
	in.n_members = n;
	char *err = NULL;
	char *text = haproxy_config_render(&in, &err);
	if (!text) {
		fprintf(stderr, "haproxy_config_render_cli: %s\n", err ? err : "error");
		free(err);
		goto out;
	}
	fputs(text, stdout);
	free(text);
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(copies[i]);
	free(copies);
	free(members);
	return rc;
}
