/* Bootstrap: the winner of the `initialize` race runs initdb (or adopts data it finds), starts
 * PostgreSQL, creates the replication and rewind roles, takes the leader key and writes the
 * cluster's first `config`. A failure moves the data aside and gives `initialize` back. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent_priv.h"
#include "bootstrap_options.h"
#include "clock.h"
#include "dyn_config.h"
#include "log.h"
#include "strbuf.h"

/* ---- the note of a bootstrap in progress ---- */

static char *boot_marker(const agent *a)
{
	return xasprintf("%s.bootstrapping", a->s->data_dir);
}

void agent_boot_mark(agent *a, const char *how)
{
	a->boot_ran_initdb = true;
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
	char *text = xasprintf("a bootstrap (%s) started by tandemd at %s, not finished: the "
	                       "cluster was never initialized with this data\n",
	                       how, ts);
	char *p = boot_marker(a), *e = NULL;
	if (pgctl_write_file_(p, text, strlen(text), &e) != 0) {
		log_warning("%s (a bootstrap cut short would leave data no cluster knows)", e);
		free(e);
	}
	free(p);
	free(text);
}

void agent_boot_forget(agent *a)
{
	a->boot_ran_initdb = false;
	char *p = boot_marker(a);
	if (unlink(p) != 0 && errno != ENOENT)
		log_warning("removing %s: %s", p, strerror(errno));
	free(p);
}

bool agent_boot_interrupted(const agent *a)
{
	char *p = boot_marker(a);
	struct stat st;
	bool there = lstat(p, &st) == 0;
	free(p);
	return there;
}

/* ---- bootstrap ---- */

static void boot_cleanup_done(dcs_result r, const char *error, void *ud)
{
	agent *a = ud;
	(void)r;
	(void)error;
	bool fatal = a->boot_fatal;
	agent_action_done(a);
	if (fatal)
		agent_fatal(a);
}

static void boot_moved(agent *a, bool ok)
{
	(void)ok;
	char *moved = NULL, *e = NULL;
	if (a->boot_ran_initdb && agent_has_data(a)) {
		if (pgctl_move_aside(a->pc, &moved, &e) != 0) {
			log_error("%s", e); /* the note stays: the plan moves it aside later */
			free(e);
		} else {
			log_warning("the failed bootstrap's data directory was moved aside to %s",
			            moved);
			free(moved);
			agent_boot_forget(a);
		}
	} else {
		agent_boot_forget(a);
	}
	/* Given back only when it is still ours: our lease lapsed during the bootstrap, and another
	 * member may have taken it since. */
	if (!agent_boot_race_is_ours(a)) {
		boot_cleanup_done(DCS_OK, NULL, a);
		return;
	}
	dcs_delete_key(a->dcs, "initialize", boot_cleanup_done, a);
}

void agent_boot_fail(agent *a, const char *what, const char *err)
{
	log_error("bootstrap failed: %s: %s", what, err ? err : "failed");
	ha_memory_failed(&a->mem, &a->hc, clock_mono_ms());
	agent_stop_pg(a, PGCTL_IMMEDIATE, AGENT_STOP_STEP_MS, boot_moved);
}

static void boot_put_done(dcs_result r, const char *error, void *ud)
{
	agent *a = ud;
	if (r != DCS_OK)
		log_warning("bootstrap: writing a key: %s", error ? error : dcs_result_name(r));
	if (--a->boot_puts == 0) {
		log_info("bootstrap complete: the cluster is initialized, this member leads");
		agent_boot_forget(a);
		agent_action_done(a);
	}
}

char *agent_bootstrap_config(const tandemd_settings *s)
{
	json_t *c = json_object();
	json_object_set_new(c, "ttl", json_integer((s->ttl + 999) / 1000));
	json_object_set_new(c, "loop_wait", json_integer((s->loop_wait + 999) / 1000));
	json_object_set_new(c, "retry_timeout", json_integer((s->retry_timeout + 999) / 1000));
	json_object_set_new(c, "maximum_lag_on_failover", json_integer(s->maximum_lag_on_failover));
	json_object_set_new(c, "synchronous_mode", json_boolean(s->synchronous_mode));
	json_object_set_new(c, "synchronous_mode_strict", json_boolean(s->synchronous_mode_strict));
	json_object_set_new(c, "synchronous_node_count", json_integer(s->synchronous_node_count));
	json_object_set_new(c, "failsafe_mode", json_boolean(s->failsafe_mode));
	json_t *pg = json_object();
	json_object_set_new(pg, "use_pg_rewind", json_boolean(s->use_pg_rewind));
	json_object_set_new(pg, "use_slots", json_boolean(s->use_slots));
	json_t *params = json_object();
	for (size_t i = 0; i < s->bootstrap_parameters.n; i++) {
		const char *name = s->bootstrap_parameters.keys[i];
		/* The DCS may not carry it: every member reading it would refuse it. It is this
		 * member's own (applied from its YAML), as on each member whose YAML has it. */
		const char *why = dyn_config_param_refused(name);
		if (why) {
			log_warning(
			    "bootstrap: bootstrap.dcs.postgresql.parameters.%s %s: kept out "
			    "of the cluster configuration (set it in every member's "
			    "postgresql.parameters)",
			    name, why);
			continue;
		}
		json_object_set_new(params, name, json_string(s->bootstrap_parameters.values[i]));
	}
	json_object_set_new(pg, "parameters", params);
	json_object_set_new(c, "postgresql", pg);
	json_t *standby = tandemd_standby_json(s);
	if (standby)
		json_object_set_new(c, "standby_cluster", standby);
	char *out = json_dumps(c, JSON_COMPACT);
	json_decref(c);
	return out;
}

static void boot_leader(dcs_result r, const char *error, void *ud)
{
	agent *a = ud;
	if (r != DCS_OK) {
		agent_boot_fail(a, "taking the leader key", error ? error : dcs_result_name(r));
		return;
	}
	log_info("took the leader key");
	agent_fence_update(a);
	char *cfg = agent_bootstrap_config(a->s);
	a->boot_puts = 2;
	dcs_put_key(a->dcs, "initialize", a->sysid ? a->sysid : "", boot_put_done, a);
	dcs_put_key(a->dcs, "config", cfg, boot_put_done, a);
	free(cfg);
}

static void boot_roles_done(const char *const *row, int ncols, const char *err, void *ud)
{
	agent *a = ud;
	if (err || ncols < 1 || !row[0]) {
		agent_boot_fail(a, "creating the replication and rewind users", err);
		return;
	}
	free(a->sysid);
	a->sysid = xstrdup(row[0]);
	const char *why = agent_boot_race_lost(a);
	if (why) {
		agent_boot_fail(a, "taking the leader key", why);
		return;
	}
	dcs_acquire_leader(a->dcs, boot_leader, a);
}

/* 'text' as an SQL literal ('' doubled); NULL when it holds a NUL-free but unusable byte. */
static void role_sql(strbuf *sb, const char *user, const char *password, const char *attrs)
{
	sb_puts(sb, "DO $tandem$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ");
	sb_sql_literal(sb, user);
	sb_puts(sb, ") THEN CREATE ROLE ");
	sb_sql_ident(sb, user);
	sb_puts(sb, "; END IF; END$tandem$; ALTER ROLE ");
	sb_sql_ident(sb, user);
	sb_printf(sb, " WITH %s", attrs);
	if (password) {
		sb_puts(sb, " PASSWORD ");
		sb_sql_literal(sb, password);
	}
	sb_puts(sb, ";");
}

void agent_boot_ready(agent *a, bool ok)
{
	if (!ok) {
		agent_boot_fail(a, "starting the new primary", NULL);
		return;
	}
	const tandemd_settings *s = a->s;
	strbuf sb = STRBUF_INIT;
	sb_puts(&sb, "SET log_statement = 'none'; ");
	if (strcmp(a->repl_user, a->su_user) != 0)
		role_sql(&sb, a->repl_user, s->replication_password, "LOGIN REPLICATION");
	if (strcmp(a->rewind_user, a->su_user) != 0 && strcmp(a->rewind_user, a->repl_user) != 0) {
		role_sql(&sb, a->rewind_user, s->rewind_password, "LOGIN");
		const char *fns[] = {"pg_ls_dir(text, boolean, boolean)",
		                     "pg_stat_file(text, boolean)", "pg_read_binary_file(text)",
		                     "pg_read_binary_file(text, bigint, bigint, boolean)"};
		for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
			sb_printf(&sb, " GRANT EXECUTE ON FUNCTION pg_catalog.%s TO ", fns[i]);
			sb_sql_ident(&sb, a->rewind_user);
			sb_puts(&sb, ";");
		}
	}
	sb_puts(&sb, " SELECT system_identifier::text FROM pg_control_system()");
	pgctl_query(a->loop, a->local_conninfo, sb.data, a->hc.retry_timeout_ms, boot_roles_done,
	            a);
	memset(sb.data, 0, sb.len); /* held passwords */
	sb_free(&sb);
}

static void boot_start(agent *a)
{
	char *e = NULL;
	if (agent_start_pg(a, false, NULL, agent_boot_ready, &e) != 0) {
		agent_boot_fail(a, "starting the new primary", e);
		free(e);
	}
}

static void on_initdb(pgctl *pc, bool ok, const char *tail, void *ud)
{
	agent *a = ud;
	(void)pc;
	if (!ok) {
		agent_boot_fail(a, "initdb", tail);
		return;
	}
	log_info("initdb done");
	boot_start(a);
}

bool agent_boot_race_is_ours(const agent *a)
{
	const dcs_view *v = dcs_get_view(a->dcs);
	return v->initialized && v->initialize_lease && v->initialize_lease == dcs_lease_id(a->dcs);
}

const char *agent_boot_race_lost(const agent *a)
{
	if (!dcs_lease_id(a->dcs))
		return "no lease";
	/* The key went with a lease that lapsed while we bootstrapped: another member may be
	 * bootstrapping a cluster of its own now, and only one may lead. */
	if (!agent_boot_race_is_ours(a))
		return "the initialize key is no longer on our lease (it lapsed during the "
		       "bootstrap)";
	return NULL;
}

static void boot_initialized(dcs_result r, const char *error, void *ud)
{
	agent *a = ud;
	/* A lost answer: the key written with our lease, but a timeout, then "the compare did not
	 * hold" when asked again. The key is ours: we won. */
	if (r != DCS_OK && agent_boot_race_is_ours(a)) {
		log_info(
		    "the initialize key holds our lease: our earlier attempt took it (its answer "
		    "was lost)");
		r = DCS_OK;
	}
	if (r != DCS_OK) {
		log_info("another member initializes the cluster (%s)",
		         error ? error : dcs_result_name(r));
		agent_action_done(a);
		return;
	}
	if (agent_is_standby_cluster(a)) {
		agent_site_bootstrap(a);
		return;
	}
	if (tandemd_bootstrap_from_backup(a->s)) {
		agent_boot_restore(a);
		return;
	}
	if (agent_has_data(a)) {
		log_info("won the initialize race: adopting the existing data directory");
		a->boot_ran_initdb = false;
		boot_start(a);
		return;
	}
	log_info("won the initialize race: running initdb");
	a->doing = "initializing new cluster";
	agent_boot_mark(a, "initdb");
	const tandemd_settings *s = a->s;
	pgctl_initdb_opts o = {.superuser = a->su_user,
	                       .password = s->superuser_password,
	                       .auth_local = "peer",
	                       .auth_host = "scram-sha-256",
	                       .extra = (const char *const *)s->initdb.v,
	                       .nextra = s->initdb.n};
	char *e = NULL;
	if (pgctl_initdb(a->pc, &o, on_initdb, a, &e) != 0) {
		agent_boot_fail(a, "initdb", e);
		free(e);
	}
}

void agent_act_bootstrap(agent *a)
{
	if (!dcs_lease_id(a->dcs)) {
		/* The heartbeat grants a lease first, then asks for a new pass. */
		a->busy = false;
		return;
	}
	a->doing = "initializing new cluster";
	dcs_take_initialize(a->dcs, "", boot_initialized, a);
}
