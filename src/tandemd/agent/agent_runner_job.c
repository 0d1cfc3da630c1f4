/* One backup run of the runner (agent_runner.h): its own pgbackrest.conf (this member as pg1 and,
 * for a backup from our standby, the primary as pg2), then `pgbackrest backup`, `info` for the
 * label and the type pgBackRest made, and `verify`; each a job with a deadline, never blocking
 * the loop. pgBackRest is started under `setpriv --pdeathsig KILL` when there is one, so that it
 * dies with a tandemd killed outright: the runner key then expires while no backup of ours runs. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "agent_runner.h"
#include "backup_options.h"
#include "backup_paths.h"
#include "clock.h"
#include "log.h"
#include "pgbr_conf.h"
#include "strbuf.h"

extern char **environ;

enum { INFO_TIMEOUT_MS = 300000 };

static const char *const setpriv_path = "/usr/bin/setpriv";

/* Our environment with PGPASSFILE (pgBackRest connects through libpq). */
static char **job_env(agent *a)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = xcalloc(n + 2, sizeof *env);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "PGPASSFILE=", 11) != 0)
			env[k++] = xstrdup(environ[i]);
	env[k++] = xasprintf("PGPASSFILE=%s", a->passfile);
	return env;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static void on_job(const job_result *r, void *ud);

/* Starts `pgbackrest VERB args...` with our configuration; -1 with *err. */
static int run(agent_runner *b, const char *verb, const char *const *args, size_t nargs,
               uint64_t timeout_ms, char **err)
{
	agent *a = b->a;
	char *spool = backup_spool_path(a->s);
	char *conf = xasprintf("%s/backup.conf", spool);
	char **pv =
	    pgbr_argv(a->s->backup_command, conf, tandemd_backup_stanza(a->s), verb, args, nargs);
	free(conf);
	free(spool);
	size_t n = 0;
	while (pv[n])
		n++;
	bool wrap = access(setpriv_path, X_OK) == 0;
	char **argv = xcalloc(n + 5, sizeof *argv);
	size_t k = 0;
	if (wrap) {
		argv[k++] = xstrdup(setpriv_path);
		argv[k++] = xstrdup("--pdeathsig");
		argv[k++] = xstrdup("KILL");
		argv[k++] = xstrdup("--");
	}
	for (size_t i = 0; i < n; i++)
		argv[k++] = pv[i];
	free(pv);
	char **env = job_env(a);
	job_spec js = {.argv = argv,
	               .env = env,
	               .cwd = a->s->data_dir,
	               .timeout_ms = timeout_ms,
	               .done = on_job,
	               .ud = b};
	b->job = job_start(a->loop, &js, err);
	strv_free(argv);
	strv_free(env);
	return b->job ? 0 : -1;
}

/* The run is over: logged, then recorded by agent_runner_ended (unless it was cancelled for the
 * key, or interrupted by a change of leader). */
static void finish(agent_runner *b)
{
	backup_run *r = &b->run;
	free(b->leader_at_start);
	b->leader_at_start = NULL;
	b->fail_until_ms = 0;
	if (b->a && !b->lost) {
		if (r->error)
			log_warning("backup %s (%s) %s after %lld s: %s", r->id,
			            backup_type_name(r->type), r->status,
			            (long long)(r->end_ms - r->start_ms) / 1000, r->error);
		else
			log_info("backup %s (%s, made %s, label %s) %s after %lld s, verify %s",
			         r->id, backup_type_name(r->type),
			         r->done_type ? r->done_type : "?", r->label ? r->label : "?",
			         r->status, (long long)(r->end_ms - r->start_ms) / 1000,
			         r->verify == 1   ? "ok"
			         : r->verify == 0 ? "FAILED"
			                          : "not run");
	}
	agent_runner_ended(b);
}

/* A failure is recorded only once the leader stayed the same for a TTL after it: a failover or
 * switchover under a backup from a standby (whose primary went away) interrupts it, and the
 * runner then runs it again (agent_runner_failure_check). */
static void end_run(agent_runner *b, const char *status, const char *error)
{
	backup_run *r = &b->run;
	free(r->status);
	r->status = xstrdup(status);
	free(r->error);
	r->error = error ? xstrdup(error) : NULL;
	r->end_ms = clock_unix_ms();
	if (b->a && !b->lost && strcmp(status, "failed") == 0) {
		b->fail_until_ms = clock_mono_ms() + b->a->hc.ttl_ms + b->a->hc.loop_wait_ms;
		agent_runner_failure_check(b);
		return;
	}
	finish(b);
}

void agent_runner_failure_check(agent_runner *b)
{
	const dcs_view *v = dcs_get_view(b->a->dcs);
	const char *now = v->leader;
	bool same = now && b->leader_at_start && strcmp(now, b->leader_at_start) == 0;
	if (!same) {
		log_warning("backup %s failed while the leader changed (%s, now %s): it runs again "
		            "(%s)",
		            b->run.id, b->leader_at_start ? b->leader_at_start : "none",
		            now ? now : "none", b->run.error ? b->run.error : "");
		b->lost = true;
	} else if (clock_mono_ms() < b->fail_until_ms) {
		return;
	}
	finish(b);
}

/* The newest backup of `info --output=json`: its label and type. */
static void read_info(backup_run *r, const char *out)
{
	json_t *j = json_loads(out, 0, NULL);
	json_t *backups = json_object_get(json_array_get(j, 0), "backup");
	size_t n = json_array_size(backups);
	if (n) {
		json_t *last = json_array_get(backups, n - 1);
		const char *label = json_string_value(json_object_get(last, "label"));
		const char *type = json_string_value(json_object_get(last, "type"));
		free(r->label);
		free(r->done_type);
		r->label = label ? xstrdup(label) : NULL;
		r->done_type = type ? xstrdup(type) : NULL;
	}
	json_decref(j);
}

static void next_phase(agent_runner *b)
{
	char *err = NULL;
	int rc;
	if (b->phase == 1) {
		const char *args[] = {"--output=json"};
		rc = run(b, "info", args, 1, INFO_TIMEOUT_MS, &err);
	} else {
		rc = run(b, "verify", NULL, 0, (uint64_t)b->a->s->backup_timeout, &err);
	}
	if (rc != 0) {
		/* The backup itself is done: what follows could not be checked. */
		log_warning("backup %s: %s", b->run.id, err);
		free(err);
		end_run(b, "ok", NULL);
	}
}

static void on_job(const job_result *r, void *ud)
{
	agent_runner *b = ud;
	b->job = NULL;
	if (!b->a || b->lost) {
		end_run(b, "interrupted", "cancelled");
		return;
	}
	bool ok = r->status == 0 && !r->signal && !r->timed_out && !r->cancelled;
	char *why = ok ? NULL : job_describe(r);
	switch (b->phase) {
	case 0:
		if (!ok) {
			end_run(b, "failed", why);
			break;
		}
		b->phase = 1;
		next_phase(b);
		break;
	case 1:
		if (ok)
			read_info(&b->run, r->out);
		else
			log_warning("backup %s: pgbackrest info: %s", b->run.id, why);
		b->phase = 2;
		next_phase(b);
		break;
	default:
		b->run.verify = ok;
		if (!ok)
			log_error(
			    "backup %s: pgbackrest verify found a problem in the repository: %s",
			    b->run.id, why);
		end_run(b, "ok", NULL);
		break;
	}
	free(why);
}

/* This member as pg1 and, from our standby, the primary (as its leader described it) as pg2. */
static int write_conf(agent_runner *b, const backup_state *st, char **err)
{
	agent *a = b->a;
	char *spool = backup_spool_path(a->s);
	char *conf = xasprintf("%s/backup.conf", spool);
	char *logdir = xasprintf("%s/log", spool);
	const char *dirs[2] = {spool, logdir};
	for (int i = 0; i < 2; i++)
		if (mkdir(dirs[i], 0700) != 0 && errno != EEXIST) {
			err_set(err, "cannot create %s: %s", dirs[i], strerror(errno));
			free(logdir);
			free(conf);
			free(spool);
			return -1;
		}
	free(logdir);
	pgbr_pg pg[2] = {{.path = a->s->data_dir,
	                  .port = a->port,
	                  .socket_path = a->sockdir,
	                  .user = a->su_user}};
	size_t npg = 1;
	if (b->standby)
		pg[npg++] = (pgbr_pg){.path = st->primary.data_dir,
		                      .port = st->primary.port,
		                      .socket_path = st->primary.socket_dir,
		                      .user = a->su_user};
	if (b->standby && b->tls) { /* through the primary's pgBackRest TLS server */
		pg[1].host = st->primary.tls_host;
		pg[1].host_type = "tls";
		pg[1].host_port = st->primary.tls_port;
		pg[1].host_cert_file = a->s->backup_tls_client_cert_file;
		pg[1].host_key_file = a->s->backup_tls_client_key_file;
		pg[1].host_ca_file = a->s->backup_tls_client_ca_file;
	}
	pgbr_conf_in in;
	backup_conf_in(a->s, spool, pg, npg, &in);
	int rc = pgbr_conf_write(conf, &in, err);
	free(conf);
	free(spool);
	return rc;
}

/* The primary's conn_url host is ours. */
static bool same_host(const agent *a, const backup_state *st)
{
	addr me = {0};
	char *err = NULL;
	if (!st->primary.host || !a->conn_url ||
	    addr_parse_url(a->conn_url, 5432, &me, &err) != 0) {
		free(err);
		return false;
	}
	bool same = strcmp(me.host, st->primary.host) == 0;
	addr_clear(&me);
	return same;
}

void agent_runner_job_start(agent_runner *b, const backup_state *st)
{
	agent *a = b->a;
	const dcs_view *v = dcs_get_view(a->dcs);
	const agent_status *s = agent_status_get(a);
	b->standby = a->s->backup_from_standby && strcmp(s->role, "replica") == 0 &&
	             st->primary.member && v->leader &&
	             strcmp(st->primary.member, v->leader) == 0 && st->primary.data_dir;
	/* The primary's TLS server when it publishes one and we have the client keys, even on
	 * the primary's host; else its data directory on this host. */
	b->tls =
	    b->standby && st->primary.tls_host && st->primary.tls_port && tandemd_backup_tls(a->s);
	b->busy = true;
	b->lost = false;
	free(b->leader_at_start);
	b->leader_at_start = v->leader ? xstrdup(v->leader) : NULL;
	b->phase = 0;
	char *err = NULL;
	if (b->standby && !b->tls && !same_host(a, st)) {
		end_run(b, "failed",
		        "the primary is on another host and this member has no backup.tls_server.* "
		        "and backup.tls_client.* to reach its pgBackRest TLS server (set them on "
		        "every member)");
		return;
	}
	if (write_conf(b, st, &err) != 0) {
		end_run(b, "failed", err);
		free(err);
		return;
	}
	char type[16];
	snprintf(type, sizeof type, "--type=%s", backup_type_name(b->run.type));
	const char *args[3] = {type, b->standby ? "--backup-standby" : "--no-backup-standby"};
	size_t nargs = 2;
	if (!cfg_map_get(&a->s->backup_pgbackrest, "start-fast"))
		args[nargs++] = "--start-fast";
	log_info("backup %s: %s backup (%s) on %s%s%s%s%s%s", b->run.id,
	         backup_type_name(b->run.type), b->run.reason, a->s->name,
	         b->standby ? ", from this standby (pgBackRest's backup-standby)" : "",
	         b->tls ? ", the primary through its TLS server " : "",
	         b->tls ? st->primary.tls_host : "", b->tls ? ":" : "",
	         b->tls ? st->primary.tls_port : "");
	if (run(b, "backup", args, nargs, (uint64_t)a->s->backup_timeout, &err) != 0) {
		end_run(b, "failed", err);
		free(err);
	}
}
