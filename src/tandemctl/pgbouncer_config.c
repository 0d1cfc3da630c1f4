/* pgbouncer.ini for one site (pgbouncer_config.h). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgbouncer_config.h"
#include "strbuf.h"

/* Letters, digits and what host names, IPv6 addresses, socket directories and file names use:
 * nothing that ends a line, starts a comment or quotes in an ini file or a libpq string. */
static bool plain(const char *v)
{
	if (!v || !*v)
		return false;
	for (const char *p = v; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("._-/:[]%@+", *p)))
			return false;
	return true;
}

static bool port(const char *v)
{
	if (!v || !*v || strlen(v) > 5)
		return false;
	for (const char *p = v; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	long n = strtol(v, NULL, 10);
	return n >= 1 && n <= 65535;
}

static int check(const pgbouncer_config_input *in, char **err)
{
	const struct {
		const char *name, *value;
		bool is_port;
	} f[] = {{"scope", in->scope, false},
	         {"listen address", in->listen_host, false},
	         {"listen port", in->listen_port, true},
	         {"route host", in->route_host, false},
	         {"route port", in->route_port, true},
	         {"admin user", in->admin_user, false},
	         {"auth file", in->auth_file, false}};
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
		if (f[i].is_port ? !port(f[i].value) : !plain(f[i].value)) {
			err_set(err, "%s '%s': %s", f[i].name, f[i].value ? f[i].value : "",
			        f[i].is_port ? "a port is a number from 1 to 65535"
			                     : "letters, digits and . _ - / : [ ] % @ + only");
			return -1;
		}
	if (!in->pool_mode ||
	    (strcmp(in->pool_mode, "session") != 0 && strcmp(in->pool_mode, "transaction") != 0 &&
	     strcmp(in->pool_mode, "statement") != 0)) {
		err_set(err, "pool mode '%s': session, transaction or statement",
		        in->pool_mode ? in->pool_mode : "");
		return -1;
	}
	if (in->max_client_conn < 1 || in->default_pool_size < 1) {
		err_set(err, "max_client_conn and default_pool_size are at least 1");
		return -1;
	}
	return 0;
}

/* An IPv6 address in brackets, as ADDR:PORT shows it, goes to PgBouncer without them. */
static void bare_host(strbuf *b, const char *key, const char *h)
{
	size_t n = strlen(h);
	if (n > 2 && h[0] == '[' && h[n - 1] == ']')
		sb_printf(b, "%s%.*s", key, (int)(n - 2), h + 1);
	else
		sb_printf(b, "%s%s", key, h);
}

char *pgbouncer_config_render(const pgbouncer_config_input *in, char **err)
{
	if (check(in, err) != 0)
		return NULL;
	strbuf b = STRBUF_INIT;
	sb_printf(&b,
	          "# PgBouncer for tandem cluster '%s' (tandemctl pgbouncer-config; "
	          "docs/pooler.md).\n"
	          "# Every database goes to the primary through %s:%s, which follows the "
	          "leader.\n"
	          "# tandemd pauses this PgBouncer before a planned switchover and resumes it "
	          "once\n"
	          "# the new primary answers there: list its admin console in pgbouncer.admin.\n\n"
	          "[databases]\n",
	          in->scope, in->route_host, in->route_port);
	bare_host(&b, "* = host=", in->route_host);
	sb_printf(&b, " port=%s\n\n[pgbouncer]\n", in->route_port);
	bare_host(&b, "listen_addr = ", in->listen_host);
	sb_printf(&b,
	          "\nlisten_port = %s\n"
	          "auth_type = scram-sha-256\n"
	          "auth_file = %s\n"
	          "admin_users = %s\n"
	          "pool_mode = %s\n"
	          "max_client_conn = %u\n"
	          "default_pool_size = %u\n"
	          "# clients of JDBC and pgbench send it; PgBouncer would refuse them\n"
	          "ignore_startup_parameters = extra_float_digits\n"
	          "# a failed login to the primary (during a failover) is retried after 1 s, not\n"
	          "# PgBouncer's default 15 s, during which new clients are refused\n"
	          "server_login_retry = 1\n"
	          "server_connect_timeout = 3\n"
	          "# held queries (a pause lasts at most %u s) wait longer than that\n"
	          "query_wait_timeout = %u\n"
	          "server_check_delay = 1\n",
	          in->listen_port, in->auth_file, in->admin_user, in->pool_mode,
	          in->max_client_conn, in->default_pool_size, in->pause_timeout_s,
	          in->pause_timeout_s * 3 + 30);
	return sb_steal(&b);
}
