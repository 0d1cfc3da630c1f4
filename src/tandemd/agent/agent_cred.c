/* The credentials the agent holds for PostgreSQL and etcd.
 *
 *  - The passfile (postgresql.pgpass, or DATA_DIR.pgpass) has lines only for the hosts in use:
 *    the local server (its Unix socket directory and localhost, on its port) as the superuser,
 *    and the last two remote members it connected to (the upstream of primary_conninfo, the
 *    source of a clone or pg_rewind) as the replication and rewind users. A new upstream is
 *    added before primary_conninfo names it, so that following a new leader after a failover
 *    finds its line; the older of the two then stays for a tool that may still run against it.
 *  - A reload (SIGHUP) that changes a role's password: the leader runs ALTER ROLE for it, then
 *    rewrites the passfile (its own connections go on with the old password until the role has
 *    the new one); a replica rewrites its passfile at once, so that its walreceiver reconnects
 *    with the new password once the leader has altered the role. A member that took a new
 *    password while not leading alters the role itself if it leads later (a reload during a
 *    failover; altering to the same password again is harmless). New etcd credentials go to the
 *    etcd client, which authenticates again. See docs/security.md, "Rotating credentials". */
#include <stdlib.h>
#include <string.h>

#include "agent_priv.h"
#include "clock.h"
#include "log.h"
#include "strbuf.h"

enum { REMOTES = 2 };
enum { ROLE_SU, ROLE_REPL, ROLE_REWIND, ROLES };

/* This part of the agent; no other file looks inside. */
struct agent_cred {
	char *host[REMOTES], *port[REMOTES]; /* the remotes in the passfile, newest first */
	char *applied[ROLES];                /* the passwords the passfile holds */
	char *altering[ROLES];               /* the leader's ALTER ROLE in flight: the new ones */
	bool in_flight;
	bool unaltered[ROLES]; /* taken while not leading: to alter if we lead */
	uint64_t retry_ms;     /* after a failed ALTER ROLE as leader, not before then */
};

agent_cred *agent_cred_new(const tandemd_settings *s)
{
	agent_cred *c = xcalloc(1, sizeof *c);
	const char *pw[ROLES] = {s->superuser_password, s->replication_password,
	                         s->rewind_password};
	for (int i = 0; i < ROLES; i++)
		c->applied[i] = pw[i] ? xstrdup(pw[i]) : NULL;
	return c;
}

static void secret_free(char **p)
{
	if (*p)
		memset(*p, 0, strlen(*p));
	free(*p);
	*p = NULL;
}

void agent_cred_free(agent *a)
{
	agent_cred *c = a->cred;
	if (!c)
		return;
	for (int i = 0; i < REMOTES; i++) {
		free(c->host[i]);
		free(c->port[i]);
	}
	for (int i = 0; i < ROLES; i++) {
		secret_free(&c->applied[i]);
		secret_free(&c->altering[i]);
	}
	free(c);
	a->cred = NULL;
}

/* The rewind user's password: its own, or the superuser's when pg_rewind connects as it. */
static const char *rewind_password(const agent *a, char *const *pw)
{
	return a->s->rewind_username ? pw[ROLE_REWIND] : pw[ROLE_SU];
}

int agent_write_passfile(agent *a, char **err)
{
	agent_cred *c = a->cred;
	char *const *pw = c->applied;
	pgctl_pass_entry e[2 + 2 * REMOTES + 2 * AGENT_SITE_MAX_HOSTS];
	size_t n = 0;
	if (pw[ROLE_SU]) {
		/* libpq matches a socket directory by its path, and its default one as localhost.
		 */
		e[n++] = (pgctl_pass_entry){a->sockdir, a->port, NULL, a->su_user, pw[ROLE_SU]};
		e[n++] = (pgctl_pass_entry){"localhost", a->port, NULL, a->su_user, pw[ROLE_SU]};
	}
	const char *rw = rewind_password(a, pw);
	for (int i = 0; i < REMOTES && c->host[i]; i++) {
		if (pw[ROLE_REPL])
			e[n++] = (pgctl_pass_entry){c->host[i], c->port[i], NULL, a->repl_user,
			                            pw[ROLE_REPL]};
		if (rw && strcmp(a->rewind_user, a->repl_user) != 0)
			e[n++] =
			    (pgctl_pass_entry){c->host[i], c->port[i], NULL, a->rewind_user, rw};
	}
	/* A standby cluster: the primary site's hosts, as the replication user. */
	char *site[2 * AGENT_SITE_MAX_HOSTS];
	size_t nsite = 0;
	if (pw[ROLE_REPL])
		nsite = agent_site_hosts(a, site, AGENT_SITE_MAX_HOSTS);
	for (size_t i = 0; i < nsite; i++) {
		e[n++] = (pgctl_pass_entry){site[2 * i], site[2 * i + 1], NULL, a->repl_user,
		                            pw[ROLE_REPL]};
		if (rw && strcmp(a->rewind_user, a->repl_user) != 0) /* failback: pg_rewind */
			e[n++] = (pgctl_pass_entry){site[2 * i], site[2 * i + 1], NULL,
			                            a->rewind_user, rw};
	}
	int rc = pgctl_write_passfile(a->passfile, e, n, err);
	for (size_t i = 0; i < 2 * nsite; i++)
		free(site[i]);
	return rc;
}

int agent_pass_remote(agent *a, const char *host, const char *port, char **err)
{
	agent_cred *c = a->cred;
	if (c->host[0] && !strcmp(c->host[0], host) && !strcmp(c->port[0], port))
		return 0;
	if (c->host[1] && !strcmp(c->host[1], host) && !strcmp(c->port[1], port)) {
		char *h = c->host[1], *p = c->port[1];
		c->host[1] = c->host[0];
		c->port[1] = c->port[0];
		c->host[0] = h;
		c->port[0] = p;
	} else {
		free(c->host[1]);
		free(c->port[1]);
		c->host[1] = c->host[0];
		c->port[1] = c->port[0];
		c->host[0] = xstrdup(host);
		c->port[0] = xstrdup(port);
	}
	if (c->host[1])
		log_info("passfile: lines for %s:%s and %s:%s", host, port, c->host[1], c->port[1]);
	else
		log_info("passfile: lines for %s:%s", host, port);
	return agent_write_passfile(a, err);
}

/* ---- a reload that changes credentials ---- */

static bool differs(const char *x, const char *y)
{
	return !(x == y || (x && y && !strcmp(x, y)));
}

static void take_new(agent_cred *c, int i, const char *pw)
{
	secret_free(&c->applied[i]);
	c->applied[i] = pw ? xstrdup(pw) : NULL;
}

static void rewrite(agent *a, const char *what)
{
	char *err = NULL;
	if (agent_write_passfile(a, &err) != 0) {
		log_error("reload: %s, but the passfile could not be rewritten: %s", what, err);
		free(err);
		return;
	}
	log_info("reload: %s; passfile rewritten", what);
}

static void roles_altered(const char *const *row, int ncols, const char *err, void *ud)
{
	(void)row;
	(void)ncols;
	agent *a = ud;
	agent_cred *c = a->cred;
	c->in_flight = false;
	if (err) {
		log_error(
		    "reload: changing the roles' passwords failed (the passfile keeps the old "
		    "ones; reload again to retry): %s",
		    err);
		for (int i = 0; i < ROLES; i++)
			secret_free(&c->altering[i]);
		c->retry_ms = clock_mono_ms() + 10000;
		return;
	}
	for (int i = 0; i < ROLES; i++) {
		if (!c->altering[i])
			continue;
		c->unaltered[i] = false;
		secret_free(&c->applied[i]);
		c->applied[i] = c->altering[i];
		c->altering[i] = NULL;
	}
	rewrite(a, "the roles' passwords were changed");
}

/* ALTER ROLE for each distinct role whose password changed to a new one (an unset password is
 * only dropped from the passfile). */
static void alter_roles(agent *a, const char *const *pw, const bool *changed)
{
	agent_cred *c = a->cred;
	const char *users[ROLES] = {a->su_user, a->repl_user, a->rewind_user};
	strbuf sb = STRBUF_INIT;
	sb_puts(&sb, "SET log_statement = 'none';");
	for (int i = 0; i < ROLES; i++) {
		if (!changed[i])
			continue;
		bool own_role = i == ROLE_SU || (i == ROLE_REPL && strcmp(users[i], a->su_user)) ||
		                (i == ROLE_REWIND && a->s->rewind_username &&
		                 strcmp(users[i], a->su_user) && strcmp(users[i], a->repl_user));
		if (pw[i] && own_role) {
			sb_puts(&sb, " ALTER ROLE ");
			sb_sql_ident(&sb, users[i]);
			sb_puts(&sb, " PASSWORD ");
			sb_sql_literal(&sb, pw[i]);
			sb_puts(&sb, ";");
		}
		c->altering[i] = pw[i] ? xstrdup(pw[i]) : NULL;
		if (!pw[i]) /* nothing to alter: only the passfile changes */
			take_new(c, i, NULL);
	}
	sb_puts(&sb, " SELECT 1");
	c->in_flight = true;
	log_info("reload: changing the passwords of the roles whose password changed");
	pgctl_query(a->loop, a->local_conninfo, sb.data, a->hc.retry_timeout_ms, roles_altered, a);
	memset(sb.data, 0, sb.len);
	sb_free(&sb);
}

void agent_credentials_changed(agent *a)
{
	const tandemd_settings *s = a->s;
	agent_cred *c = a->cred;
	char *err = NULL;
	if (a->etcd && etcd_set_credentials(a->etcd, s->etcd3_username, s->etcd3_password, &err)) {
		log_error("reload: keeping the etcd credentials: %s", err);
		free(err);
	}
	const char *pw[ROLES] = {s->superuser_password, s->replication_password,
	                         s->rewind_password};
	bool changed[ROLES], any = false;
	for (int i = 0; i < ROLES; i++) {
		changed[i] = differs(pw[i], c->applied[i]);
		any = any || changed[i];
	}
	if (!any)
		return;
	if (c->in_flight) {
		log_warning("reload: the last password change is still being made; reload again "
		            "once it is done");
		return;
	}
	if (agent_pg_state(a) == HA_PG_PRIMARY && agent_holds_key(a)) {
		alter_roles(a, pw, changed);
		return;
	}
	for (int i = 0; i < ROLES; i++) {
		if (!changed[i])
			continue;
		take_new(c, i, pw[i]);
		c->unaltered[i] = pw[i] != NULL;
	}
	rewrite(a, "new role passwords (the leader changes the roles)");
}

void agent_cred_leader_housekeeping(agent *a)
{
	agent_cred *c = a->cred;
	bool any = false;
	for (int i = 0; i < ROLES; i++)
		any = any || c->unaltered[i];
	if (!any || c->in_flight || clock_mono_ms() < c->retry_ms ||
	    agent_pg_state(a) != HA_PG_PRIMARY)
		return;
	const char *pw[ROLES] = {c->applied[ROLE_SU], c->applied[ROLE_REPL],
	                         c->applied[ROLE_REWIND]};
	log_info("leading now with role passwords taken by a reload while not leading: setting "
	         "them");
	alter_roles(a, pw, c->unaltered);
}
