/* pgBackRest's TLS server, supervised (agent_pgbr_server.h). */
#include "agent_pgbr_server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "atomic_file.h"
#include "backup_options.h"
#include "backup_paths.h"
#include "clock.h"
#include "job.h"
#include "log.h"
#include "pgbr_conf.h"

/* The back-off between restarts doubles from MIN to MAX; a server that ran STABLE starts over. */
enum { BACKOFF_MIN_MS = 1000, BACKOFF_MAX_MS = 60000, STABLE_MS = 60000 };

static const char *const setpriv_path = "/usr/bin/setpriv";

struct agent_pgbr_server {
	agent *a; /* NULL once the agent is gone while the child still ends */
	uv_timer_t timer;
	bool closed;
	bool stopped;
	job *job;
	uint64_t started_ms, backoff_ms;
	char *host, *port; /* of backup.tls_server.address */
	char *conf;        /* SPOOL/server.conf */
};

agent_pgbr_server *agent_pgbr_server_new(agent *a)
{
	if (!tandemd_backup_tls(a->s))
		return NULL;
	addr ad = {0};
	char *err = NULL;
	if (addr_parse(a->s->backup_tls_server_address, 0, 0, &ad, &err) != 0) {
		/* checked at load: settings built by hand only */
		log_error("backup.tls_server.address: %s", err);
		free(err);
		return NULL;
	}
	agent_pgbr_server *p = xcalloc(1, sizeof *p);
	p->a = a;
	p->host = ad.host;
	ad.host = NULL;
	p->port = xasprintf("%d", ad.port);
	addr_clear(&ad);
	char *spool = backup_spool_path(a->s);
	p->conf = xasprintf("%s/server.conf", spool);
	free(spool);
	uv_timer_init(a->loop, &p->timer);
	p->timer.data = p;
	p->backoff_ms = BACKOFF_MIN_MS;
	return p;
}

char *agent_pgbr_server_port(const agent *a)
{
	return a->pgbr_server ? xstrdup(a->pgbr_server->port) : NULL;
}

static int write_conf(agent_pgbr_server *p, char **err)
{
	const tandemd_settings *s = p->a->s;
	char *spool = backup_spool_path(s);
	char *logdir = xasprintf("%s/log", spool);
	int rc = 0;
	if ((mkdir(spool, 0700) != 0 && errno != EEXIST) ||
	    (mkdir(logdir, 0700) != 0 && errno != EEXIST)) {
		err_set(err, "cannot create %s: %s", logdir, strerror(errno));
		rc = -1;
	}
	pgbr_server_in in = {.stanza = tandemd_backup_stanza(s),
	                     .address = p->host,
	                     .port = p->port,
	                     .cert_file = s->backup_tls_server_cert_file,
	                     .key_file = s->backup_tls_server_key_file,
	                     .ca_file = s->backup_tls_server_ca_file,
	                     .auth = (const char *const *)s->backup_tls_server_auth.v,
	                     .nauth = s->backup_tls_server_auth.n,
	                     .spool_path = spool};
	if (rc == 0) {
		char *text = pgbr_server_conf_render(&in);
		rc = atomic_file_write(p->conf, text, strlen(text), 0600, err);
		free(text);
	}
	free(logdir);
	free(spool);
	return rc;
}

static void spawn(agent_pgbr_server *p);

static void on_timer(uv_timer_t *t)
{
	spawn(t->data);
}

static void retry(agent_pgbr_server *p)
{
	log_info("backup: pgBackRest's TLS server starts again in %llu s",
	         (unsigned long long)p->backoff_ms / 1000);
	uv_timer_start(&p->timer, on_timer, p->backoff_ms, 0);
	p->backoff_ms = p->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : p->backoff_ms * 2;
}

static void on_server_exit(const job_result *r, void *ud)
{
	agent_pgbr_server *p = ud;
	p->job = NULL;
	if (!p->a) {
		if (p->closed)
			free(p);
		return;
	}
	if (p->stopped)
		return;
	char *why = job_describe(r);
	log_warning("backup: pgBackRest's TLS server (%s:%s) exited: %s", p->host, p->port, why);
	free(why);
	if (clock_mono_ms() - p->started_ms >= STABLE_MS)
		p->backoff_ms = BACKOFF_MIN_MS;
	retry(p);
}

static void spawn(agent_pgbr_server *p)
{
	agent *a = p->a;
	char *err = NULL;
	if (write_conf(p, &err) != 0) {
		log_warning("backup: pgBackRest's TLS server: %s", err);
		free(err);
		retry(p);
		return;
	}
	bool wrap = access(setpriv_path, X_OK) == 0;
	char *cfg = xasprintf("--config=%s", p->conf);
	char *argv[8];
	size_t k = 0;
	if (wrap) {
		argv[k++] = (char *)setpriv_path;
		argv[k++] = "--pdeathsig";
		argv[k++] = "KILL";
		argv[k++] = "--";
	}
	argv[k++] = a->s->backup_command;
	argv[k++] = cfg;
	argv[k++] = "server";
	argv[k] = NULL;
	job_spec js = {
	    .argv = argv, .cwd = a->s->data_dir, .out_cap = 65536, .done = on_server_exit, .ud = p};
	p->started_ms = clock_mono_ms();
	p->job = job_start(a->loop, &js, &err);
	free(cfg);
	if (!p->job) {
		log_warning("backup: pgBackRest's TLS server did not start: %s", err);
		free(err);
		retry(p);
		return;
	}
	log_info("backup: pgBackRest's TLS server listens on %s:%s (pid %d, %s)", p->host, p->port,
	         job_pid(p->job), p->conf);
}

void agent_pgbr_server_start(agent *a)
{
	if (a->pgbr_server && !a->pgbr_server->job)
		spawn(a->pgbr_server);
}

void agent_pgbr_server_stop(agent *a)
{
	agent_pgbr_server *p = a->pgbr_server;
	if (!p)
		return;
	p->stopped = true;
	uv_timer_stop(&p->timer);
	if (p->job)
		job_cancel(p->job);
}

static void on_closed(uv_handle_t *h)
{
	agent_pgbr_server *p = h->data;
	p->closed = true;
	if (!p->job) /* else its end frees it */
		free(p);
}

void agent_pgbr_server_free(agent *a)
{
	agent_pgbr_server *p = a->pgbr_server;
	if (!p)
		return;
	agent_pgbr_server_stop(a);
	a->pgbr_server = NULL;
	p->a = NULL;
	free(p->host);
	free(p->port);
	free(p->conf);
	uv_close((uv_handle_t *)&p->timer, on_closed);
}
