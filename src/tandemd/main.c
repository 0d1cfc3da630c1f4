/* tandemd: the node agent beside one PostgreSQL instance (see docs/tandemd.md).
 *
 *   tandemd CONFIG.yml
 *
 * One libuv loop runs the agent (lease, HA loop, PostgreSQL as a child) and the REST API.
 * Signals only record; the loop acts. */
#include <libssh2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <systemd/sd-daemon.h>

#include "agent.h"
#include "log.h"
#include "options.h"
#include "rest.h"
#include "rest_guard.h"

typedef struct daemon_ {
	uv_loop_t *loop;
	int argc;
	char **argv;
	tandemd_settings *s;
	agent *agent;
	rest_server *rest;
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t watchdog; /* systemd's WatchdogSec: pinged while the loop runs */
	uv_timer_t notify;   /* READY=1 after the first HA pass, STATUS= on a change */
	bool ready_sent;
	char *status_sent;
	bool stopping;
	int exit_status; /* 1 after a fatal failure of the agent */
} daemon_;

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: tandemd CONFIG.yml [--OPTION VALUE ...]\n"
	        "\n"
	        "The tandem node agent: runs beside one PostgreSQL instance (as its OS user),\n"
	        "elects a leader through etcd v3, keeps one writable primary and streaming\n"
	        "replicas, fails over automatically, and serves a Patroni-compatible REST API.\n"
	        "The configuration file takes Patroni's YAML keys.\n"
	        "\n"
	        "Options (flags beat TANDEMD_* and PATRONI_* environment variables, which beat\n"
	        "the file):\n");
	cfg_print_help(&tandemd_options, out);
	fprintf(out,
	        "\n"
	        "Signals: SIGTERM/SIGINT hand leadership to the best replica (when this member\n"
	        "leads), stop PostgreSQL (fast), give up the lease and exit;\n"
	        "SIGHUP re-reads the file: PostgreSQL parameters and pg_hba (PostgreSQL is\n"
	        "reloaded), tags, log level, REST credentials, PostgreSQL role passwords (the\n"
	        "leader alters the roles, the password file is rewritten) and etcd credentials\n"
	        "take effect at once.\n"
	        "Exit status: 0 after a clean stop, 1 on a runtime failure, 2 on a bad\n"
	        "configuration.\n");
}

static void on_watchdog(uv_timer_t *t)
{
	(void)t;
	sd_notify(0, "WATCHDOG=1");
}

/* Under systemd (NOTIFY_SOCKET): READY=1 once the agent has made its first HA decision (the DCS
 * answered), and STATUS= with the role, state and leader whenever they change. */
static void on_notify(uv_timer_t *t)
{
	daemon_ *d = t->data;
	if (d->stopping)
		return;
	if (!d->ready_sent && metrics_get(&agent_counters_get(d->agent)->ha_passes) > 0) {
		sd_notify(0, "READY=1");
		d->ready_sent = true;
	}
	const agent_status *st = agent_status_get(d->agent);
	char *status =
	    xasprintf("STATUS=%s, %s%s%s%s", st->role ? st->role : "unknown",
	              st->state ? st->state : "unknown", st->leader ? ", leader " : ", no leader",
	              st->leader ? st->leader : "", st->dcs_ok ? "" : ", etcd unreachable");
	if (!d->status_sent || strcmp(status, d->status_sent)) {
		sd_notify(0, status);
		free(d->status_sent);
		d->status_sent = status;
	} else {
		free(status);
	}
}

static void on_shutdown_done(void *ud)
{
	daemon_ *d = ud;
	uv_stop(d->loop);
}

/* The agent cannot go on (a bootstrap from a backup failed): stop as on SIGTERM, exit 1. */
static void on_fatal(void *ud)
{
	daemon_ *d = ud;
	d->exit_status = 1;
	if (d->stopping)
		return;
	d->stopping = true;
	log_error("stopping: tandemd cannot go on (see the error above)");
	sd_notify(0, "STOPPING=1");
	agent_shutdown(d->agent, on_shutdown_done, d);
}

/* The REST API's exposure rule (rest_guard.h): -1 with *err when the changing endpoints would be
 * open beyond loopback; a warning each time the operator's opt-in is what lets them be. */
static int check_exposure(const tandemd_settings *s, char **err)
{
	rest_exposure e = rest_exposure_check(s, err);
	if (e == REST_EXPOSURE_OPTED_IN)
		log_warning(
		    "restapi.allow_unauthenticated_changes is true: anyone who reaches %s can "
		    "switch over, fail over, restart or reconfigure the cluster",
		    s->restapi_listen);
	return e == REST_EXPOSURE_REFUSED ? -1 : 0;
}

/* log.dir: from here on the log goes to its file (rotated by size); then one warning for each
 * of Patroni's keys that tandem accepts but does not carry out. */
static int start_log(const tandemd_settings *s, char **err)
{
	char *path = tandemd_log_path(s);
	if (path) {
		int rc = log_to_file(path, s->log_file_size, (int)s->log_file_num, err);
		free(path);
		if (rc < 0)
			return -1;
	}
	char *warnings = tandemd_settings_unmapped(s);
	for (char *line = warnings, *nl; line && *line; line = nl + 1) {
		nl = strchr(line, '\n');
		*nl = '\0';
		log_warning("%s", line);
	}
	free(warnings);
	return 0;
}

/* SIGHUP: re-reads the file into a whole new snapshot and checks it; a bad file changes nothing.
 * The options the table marks reloadable (PostgreSQL parameters and pg_hba, tags, log level,
 * REST, PostgreSQL and etcd credentials: agent_settings_changed) take effect; the others keep their
 * running values (taken back into the new snapshot, so that whatever points to them stays valid)
 * and are reported as needing a restart. The snapshot then replaces the running one in place, at
 * this loop boundary. */
static void reload(daemon_ *d)
{
	tandemd_settings next;
	char *err = NULL;
	if (tandemd_settings_load(&next, d->argc, d->argv, NULL, &err) != 0) {
		log_error("SIGHUP: the configuration is not valid, keeping the current one: %s",
		          err);
		free(err);
		tandemd_settings_free(&next);
		return;
	}
	tandemd_settings *cur = d->s;
	/* The REST API keeps listening where it does, with the TLS it has (neither is reloadable):
	 * the rule is checked for those. */
	tandemd_settings probe = next;
	probe.restapi_listen = cur->restapi_listen;
	probe.restapi_certfile = cur->restapi_certfile;
	probe.restapi_cafile = cur->restapi_cafile;
	probe.restapi_verify_client = cur->restapi_verify_client;
	if (check_exposure(&probe, &err) < 0) {
		log_error("SIGHUP: keeping the current configuration: %s", err);
		free(err);
		tandemd_settings_free(&next);
		return;
	}
	for (size_t i = 0; i < tandemd_options.n; i++) {
		const cfg_option *o = &tandemd_options.options[i];
		if (o->reloadable)
			continue;
		if (cfg_differs(o, cur, &next))
			log_warning("SIGHUP: %s changed, which takes a restart of tandemd to apply",
			            o->name);
		cfg_swap_value(o, cur, &next);
	}
	/* Derived from etcd3.host(s), which are not reloadable. */
	char **endpoints = next.etcd3_endpoints;
	size_t nendpoints = next.etcd3_nendpoints;
	next.etcd3_endpoints = cur->etcd3_endpoints;
	next.etcd3_nendpoints = cur->etcd3_nendpoints;
	cur->etcd3_endpoints = endpoints;
	cur->etcd3_nendpoints = nendpoints;
	tandemd_settings old = *cur;
	*cur = next;
	tandemd_settings_free(&old);
	log_set_level(tandemd_log_level(cur));
	log_set_json(cur->log_type && !strcasecmp(cur->log_type, "json"));
	agent_settings_changed(d->agent);
	if (agent_request(d->agent, AGENT_REQ_RELOAD, NULL, &err) != 0) {
		log_warning("SIGHUP: %s", err);
		free(err);
	}
	log_info("SIGHUP: configuration reloaded");
}

static void on_signal(uv_signal_t *s, int signum)
{
	daemon_ *d = s->data;
	if (signum == SIGHUP) {
		reload(d);
		return;
	}
	if (d->stopping) {
		log_warning("%s again: still stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
		return;
	}
	d->stopping = true;
	log_info("%s: stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	sd_notify(0, "STOPPING=1");
	agent_shutdown(d->agent, on_shutdown_done, d);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--version")) {
			printf("tandemd %s\n", TANDEM_VERSION);
			return 0;
		}
	}
	/* A child gone (the fence watchdog, a query's server) must be an error on write, not the
	 * end of the agent. */
	signal(SIGPIPE, SIG_IGN);
	/* Memory: Debian's libcurl initialises libssh2 in curl_global_init, and libssh2 (built on
	 * OpenSSL) then initialises every OpenSSL algorithm: 1.4 MB of resident pages that tandemd
	 * never uses (it speaks HTTP to etcd and members, never SSH). libssh2 initialises its
	 * crypto only on the first libssh2_init, so calling it first without crypto keeps them out
	 * (bench/README.md, "Memory"). */
	libssh2_init(LIBSSH2_INIT_NO_CRYPTO);
	tandemd_settings s;
	char *err = NULL;
	if (tandemd_settings_load(&s, argc, argv, NULL, &err) != 0) {
		fprintf(stderr, "tandemd: %s\n", err);
		free(err);
		tandemd_settings_free(&s);
		return 2;
	}
	log_set_context(s.name);
	log_set_level(tandemd_log_level(&s));
	log_set_json(s.log_type && !strcasecmp(s.log_type, "json"));
	if (start_log(&s, &err) < 0 || check_exposure(&s, &err) < 0) {
		fprintf(stderr, "tandemd: %s\n", err);
		free(err);
		tandemd_settings_free(&s);
		return 2;
	}

	daemon_ d = {.loop = uv_default_loop(), .argc = argc, .argv = argv, .s = &s};
	d.agent = agent_new(d.loop, &s, &err);
	if (!d.agent) {
		fprintf(stderr, "tandemd: %s\n", err);
		free(err);
		tandemd_settings_free(&s);
		return 2;
	}
	d.rest = rest_new(d.loop, d.agent, &s, &err);
	if (!d.rest) {
		fprintf(stderr, "tandemd: %s\n", err);
		free(err);
		agent_free(d.agent);
		tandemd_settings_free(&s);
		return 2;
	}
	uv_signal_t *sigs[] = {&d.sig_term, &d.sig_int, &d.sig_hup};
	int signums[] = {SIGTERM, SIGINT, SIGHUP};
	for (size_t i = 0; i < 3; i++) {
		uv_signal_init(d.loop, sigs[i]);
		sigs[i]->data = &d;
		uv_signal_start(sigs[i], on_signal, signums[i]);
	}
	log_info("tandemd %s: member %s of cluster %s", TANDEM_VERSION, s.name, s.scope);
	agent_on_fatal(d.agent, on_fatal, &d);
	agent_start(d.agent);
	uv_timer_init(d.loop, &d.notify);
	d.notify.data = &d;
	if (getenv("NOTIFY_SOCKET"))
		uv_timer_start(&d.notify, on_notify, 200, 1000);
	uint64_t wd_us = 0;
	uv_timer_init(d.loop, &d.watchdog);
	if (sd_watchdog_enabled(0, &wd_us) > 0 && wd_us >= 2000) {
		log_info("systemd watchdog: pinging every %llu ms",
		         (unsigned long long)(wd_us / 2000));
		uv_timer_start(&d.watchdog, on_watchdog, 0, wd_us / 2000);
	}
	uv_run(d.loop, UV_RUN_DEFAULT);

	rest_free(d.rest);
	agent_free(d.agent);
	for (size_t i = 0; i < 3; i++)
		uv_close((uv_handle_t *)sigs[i], NULL);
	uv_close((uv_handle_t *)&d.watchdog, NULL);
	uv_close((uv_handle_t *)&d.notify, NULL);
	uv_run(d.loop, UV_RUN_NOWAIT);
	uv_loop_close(d.loop);
	tandemd_settings_free(&s);
	free(d.status_sent);
	log_info("stopped");
	return d.exit_status;
}
