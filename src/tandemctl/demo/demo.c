/* `tandemctl demo`: the embedded default. Starts two sites on 127.0.0.1 (demo_sites.h): both
 * etcd, site A's members, site B's members (a standby cluster of A), an HAProxy per site and a
 * hellod per site, one stage after the other, each stage checked on a timer before the next;
 * prints what runs where; stops everything in reverse order on Ctrl-C or SIGTERM. The files are
 * written by demo_setup.c and demo_sites.c, the children are supervised by demo_procs.c, the
 * checks are in demo_check.c (over demo_http.c), the stopping in demo_stop.c. */
#include "demo.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "demo_priv.h"

static const struct {
	const char *what;
	unsigned timeout_s;
} stage_info[] = {
    [ST_ETCD] = {"both sites' etcd to answer", 30},
    [ST_CLUSTER] = {"site A: a leader and a streaming replica", 120},
    [ST_STANDBY] = {"site B: a standby leader replicating from A, and a streaming replica", 180},
    [ST_ROUTE] = {"both HAProxy read-write ports to reach site A's leader", 30},
    [ST_DB] = {"the role and database for hellod", 30},
    [ST_HELLOD] = {"hellod to be ready", 30},
    [ST_SMOKE] = {"a PUT and a GET through hellod", 30},
};

uint64_t demo_now_ms(demo *d)
{
	return uv_now(&d->loop);
}

void demo_fail(demo *d, const char *what, const char *log)
{
	fprintf(stderr, "demo: FAILED: %s\n", what);
	if (log) {
		char *tail = demo_tail(log, 25);
		fprintf(stderr, "demo: the last lines of %s:\n%s\n", log, tail);
		free(tail);
	}
	demo_begin_stop(d, 1);
}

/* ---- children ---- */

static void on_child_exit(demo_proc *p, int64_t status, int sig, void *arg);

static demo_proc *spawn(demo *d, const char *name, char *const argv[], const char *cwd,
                        const char *log, const char *out, char *const env[])
{
	char *err = NULL;
	demo_proc *p =
	    demo_proc_start(d->procs, name, argv, cwd, log, out, env, on_child_exit, d, &err);
	if (!p) {
		fprintf(stderr, "demo: %s\n", err);
		free(err);
		demo_begin_stop(d, 1);
	}
	return p;
}

/* Prometheus and Alertmanager with tandem's rules, when they are installed. */
static void start_monitoring(demo *d)
{
	char *why = NULL;
	if (demo_monitor_prepare(&d->s, &d->mon, &why) != 0) {
		printf("demo: no Prometheus: %s\n", why ? why : "?");
		free(why);
		return;
	}
	d->have_mon = true;
	d->alertmanager =
	    spawn(d, "alertmanager", d->mon.am_argv, d->s.dir, d->alertmanager_log, NULL, NULL);
	if (d->alertmanager)
		d->prometheus = spawn(d, "prometheus", d->mon.prom_argv, d->s.dir,
		                      d->prometheus_log, NULL, NULL);
}

static bool is_monitoring(const demo *d, const demo_proc *p)
{
	return p && (p == d->prometheus || p == d->alertmanager);
}

static void start_etcd(demo *d, int k)
{
	char *client = xasprintf("http://127.0.0.1:%d", d->s.ports.etcd[k]);
	char *peer = xasprintf("http://127.0.0.1:%d", d->s.ports.etcd_peer[k]);
	char *name = xasprintf("etcd-%s", demo_site_name[k]);
	char *cluster = xasprintf("%s=%s", name, peer);
	char *data = xasprintf("%s/%s", d->s.dir, name);
	char *argv[] = {d->s.etcd, "--name",
	                name,      "--data-dir",
	                data,      "--listen-client-urls",
	                client,    "--advertise-client-urls",
	                client,    "--listen-peer-urls",
	                peer,      "--initial-advertise-peer-urls",
	                peer,      "--initial-cluster",
	                cluster,   NULL};
	char *what = xasprintf("etcd site %s", demo_site_name[k]);
	d->etcd[k] = spawn(d, what, argv, d->s.dir, d->etcd_log[k], NULL, NULL);
	free(what);
	free(client);
	free(peer);
	free(name);
	free(cluster);
	free(data);
}

/* The members of site k. */
static void start_members(demo *d, int k)
{
	for (int n = 0; n < DEMO_SITE_MEMBERS && d->st != ST_STOPPING; n++) {
		int i = k * DEMO_SITE_MEMBERS + n;
		char *argv[] = {d->s.tandemd, d->s.member_config[i], NULL};
		char *name = xasprintf("tandemd %s", demo_member_name[i]);
		d->member[i] =
		    spawn(d, name, argv, d->s.member_dir[i], d->s.member_log[i], NULL, NULL);
		free(name);
	}
}

/* An HAProxy per site, each with both sites' members (writes to whichever site is primary). */
static void start_haproxy(demo *d)
{
	for (int k = 0; k < DEMO_SITES && d->st != ST_STOPPING; k++) {
		char *err = NULL;
		char *text = demo_sites_haproxy_config(&d->s, k, &err);
		char *file = xasprintf("haproxy-%s.cfg", demo_site_name[k]);
		if (text && demo_setup_write(&d->s, file, text, 0644, &err) == 0) {
			char *cfg = xasprintf("%s/%s", d->s.dir, file);
			char *name = xasprintf("haproxy site %s", demo_site_name[k]);
			char *argv[] = {d->s.haproxy, "-db", "-f", cfg, NULL};
			d->haproxy[k] =
			    spawn(d, name, argv, d->s.dir, d->haproxy_log[k], NULL, NULL);
			free(name);
			free(cfg);
		} else {
			fprintf(stderr, "demo: HAProxy's configuration: %s\n", err ? err : "?");
			demo_begin_stop(d, 1);
		}
		free(file);
		free(err);
		free(text);
	}
}

/* hellod #k in site k, writing through its own site's HAProxy, reading from its replicas. */
static void start_hellods(demo *d)
{
	for (int i = 0; i < DEMO_HELLODS && d->st != ST_STOPPING; i++) {
		char *db = xasprintf("HELLOD_DATABASE=host=127.0.0.1 port=%d user=" DEMO_APP_USER
		                     " password=%s dbname=" DEMO_APP_USER " connect_timeout=3",
		                     d->s.ports.rw[i], d->s.app_password);
		/* GETs from the site's replicas (its HAProxy read-only port), with read-your-writes
		 * (docs/hellod.md, "Local reads"). */
		char *rdb =
		    xasprintf("HELLOD_READ_DATABASE=host=127.0.0.1 port=%d user=" DEMO_APP_USER
		              " password=%s dbname=" DEMO_APP_USER " connect_timeout=3",
		              d->s.ports.ro[i], d->s.app_password);
		char *env[] = {db, rdb, "HELLOD_READ_FROM=local", NULL};
		char *listen = xasprintf("127.0.0.1:%d", d->s.ports.hellod[i]);
		/* The deadline the demo's failover fits in (the Try: lines say so). */
		char *argv[] = {d->s.hellod, "--listen",           listen, "--drain-timeout",
		                "5s",        "--request-deadline", "10s",  NULL};
		char *name = xasprintf("hellod #%d", i + 1);
		d->hellod[i] = spawn(d, name, argv, d->s.dir, d->hellod_log[i], NULL, env);
		free(name);
		free(listen);
		explicit_bzero(db, strlen(db));
		free(db);
		explicit_bzero(rdb, strlen(rdb));
		free(rdb);
	}
}

void demo_run_psql(demo *d, int rw_port, const char *const sql[], size_t nsql)
{
	char *port = xasprintf("%d", rw_port);
	char *argv[24];
	size_t n = 0;
	argv[n++] = d->s.psql;
	argv[n++] = "-X";
	argv[n++] = "-A";
	argv[n++] = "-t";
	argv[n++] = "-v";
	argv[n++] = "ON_ERROR_STOP=1";
	argv[n++] = "-h";
	argv[n++] = "127.0.0.1";
	argv[n++] = "-p";
	argv[n++] = port;
	argv[n++] = "-U";
	argv[n++] = "postgres";
	argv[n++] = "-d";
	argv[n++] = "postgres";
	for (size_t i = 0; i < nsql && n + 2 < sizeof argv / sizeof argv[0]; i++) {
		argv[n++] = "-c";
		argv[n++] = (char *)sql[i];
	}
	argv[n] = NULL;
	char *pw = xasprintf("PGPASSWORD=%s", d->s.superuser_password);
	char *env[] = {pw, "PGCONNECT_TIMEOUT=3", NULL};
	d->busy = true;
	d->psql = spawn(d, "psql", argv, d->s.dir, d->psql_log, d->psql_out, env);
	if (!d->psql)
		d->busy = false;
	free(pw);
	free(port);
}

static bool is_psql(demo *d, demo_proc *p)
{
	return p == d->psql;
}

static void on_child_exit(demo_proc *p, int64_t status, int sig, void *arg)
{
	demo *d = arg;
	if (is_psql(d, p)) {
		d->psql = NULL;
		d->busy = false;
		if (d->st != ST_STOPPING)
			demo_psql_done(d, status == 0 && sig == 0);
		else
			demo_advance_stop(d);
		return;
	}
	if (d->st == ST_STOPPING) {
		demo_advance_stop(d);
		return;
	}
	char how[64];
	if (sig)
		snprintf(how, sizeof how, "killed by signal %d", sig);
	else
		snprintf(how, sizeof how, "exit status %lld", (long long)status);
	char *tail = demo_tail(demo_proc_log(p), 15);
	fprintf(stderr, "\ndemo: %s (pid %d) exited unexpectedly (%s); the last lines of %s:\n%s\n",
	        demo_proc_name(p), demo_proc_pid(p), how, demo_proc_log(p), tail);
	free(tail);
	if (p == d->etcd[0] || p == d->etcd[1]) {
		fprintf(stderr, "demo: nothing works without etcd: stopping\n");
		demo_begin_stop(d, 1);
	} else if (is_monitoring(d, p)) {
		fprintf(stderr, "demo: the rest keeps running without it\n");
	} else if (d->st != ST_UP) {
		fprintf(stderr, "demo: FAILED: %s did not stay up\n", demo_proc_name(p));
		demo_begin_stop(d, 1);
	} else {
		fprintf(stderr, "demo: the rest keeps running (Ctrl-C stops everything%s)\n",
		        d->st == ST_UP && strncmp(demo_proc_name(p), "tandemd", 7) == 0
		            ? "; kill -HUP the demo to start the member again"
		            : "");
	}
}

/* ---- the first backup ---- */

static void on_backup_requested(long status, const char *body, void *arg)
{
	(void)arg;
	if (status == 202)
		printf("demo: site A's first full backup requested (%s): tandemctl ... list shows "
		       "it\n",
		       body);
	else
		printf("demo: the first backup was not requested (HTTP %ld): %s\n", status,
		       body ? body : "no answer");
	fflush(stdout);
}

/* Everything runs: site A's backup runner takes a first full backup (POST /backup). */
static void request_first_backup(demo *d)
{
	if (d->leader < 0)
		return;
	char *url = xasprintf("http://127.0.0.1:%d/backup", d->s.ports.rest[d->leader]);
	demo_http_request(d->http, "POST", url, "{\"type\":\"full\"}", 5000, on_backup_requested,
	                  d);
	free(url);
}

/* ---- stages ---- */

void demo_start_stage(demo *d, stage st)
{
	if (d->st == ST_STOPPING)
		return;
	d->st = st;
	d->busy = false;
	if (st < ST_UP) {
		d->deadline_ms = demo_now_ms(d) + stage_info[st].timeout_s * 1000ull;
		printf("demo: waiting for %s\n", stage_info[st].what);
		fflush(stdout);
	}
	switch (st) {
	case ST_ETCD:
		for (int k = 0; k < DEMO_SITES && d->st != ST_STOPPING; k++)
			start_etcd(d, k);
		break;
	case ST_CLUSTER:
		start_members(d, 0);
		break;
	case ST_STANDBY:
		printf("demo: site A's leader is %s\n", demo_member_name[d->leader]);
		start_members(d, 1);
		break;
	case ST_ROUTE:
		printf("demo: site B's standby leader is %s\n",
		       demo_member_name[d->standby_leader]);
		d->route_site = 0;
		start_haproxy(d);
		break;
	case ST_HELLOD:
		start_hellods(d);
		start_monitoring(d);
		break;
	case ST_SMOKE:
		demo_print_up(d);
		break;
	case ST_UP:
		demo_print_up(d);
		request_first_backup(d);
		break;
	default:
		break;
	}
}

static void on_tick(uv_timer_t *t)
{
	demo *d = t->data;
	if (d->st == ST_STOPPING) {
		demo_advance_stop(d);
		return;
	}
	if (d->st == ST_UP || d->busy)
		return;
	if (demo_now_ms(d) >= d->deadline_ms) {
		char *what = xasprintf("timed out after %u s waiting for %s",
		                       stage_info[d->st].timeout_s, stage_info[d->st].what);
		if (d->st == ST_ROUTE) {
			const char *log = d->haproxy_log[d->route_site];
			char *tail = demo_tail(log, 10);
			fprintf(stderr, "demo: the last lines of %s:\n%s\n", log, tail);
			free(tail);
		}
		demo_fail(d, what, demo_stage_log(d));
		free(what);
		return;
	}
	demo_check(d);
}

/* SIGHUP: starts again every member whose tandemd is gone (after a kill -9 in the demo), so it
 * rejoins as a replica (with pg_rewind when it was the leader). */
static void on_sighup(uv_signal_t *h, int signum)
{
	demo *d = h->data;
	(void)signum;
	if (d->st != ST_UP)
		return;
	int n = 0;
	for (int i = 0; i < DEMO_MEMBERS; i++) {
		if (d->member[i] && demo_proc_running(d->member[i]))
			continue;
		char *argv[] = {d->s.tandemd, d->s.member_config[i], NULL};
		char *name = xasprintf("tandemd %s", demo_member_name[i]);
		char *err = NULL;
		demo_proc *p =
		    demo_proc_start(d->procs, name, argv, d->s.member_dir[i], d->s.member_log[i],
		                    NULL, NULL, on_child_exit, d, &err);
		if (p) {
			d->member[i] = p;
			printf("demo: SIGHUP: started %s again (pid %d)\n", name, demo_proc_pid(p));
			n++;
		} else {
			fprintf(stderr, "demo: SIGHUP: %s\n", err);
			free(err);
		}
		free(name);
	}
	if (!n)
		printf("demo: SIGHUP: every member's tandemd is running\n");
}

static void on_signal(uv_signal_t *h, int signum)
{
	demo *d = h->data;
	if (d->st == ST_STOPPING) {
		fprintf(stderr, "demo: already stopping, please wait\n");
		return;
	}
	fprintf(stderr, "\ndemo: %s received\n", signum == SIGINT ? "SIGINT" : "SIGTERM");
	demo_begin_stop(d, 0);
}

/* ---- main ---- */

int demo_main(int argc, char **argv)
{
	demo *d = xcalloc(1, sizeof *d);
	d->leader = -1;
	d->standby_leader = -1;
	int rc = demo_setup_args(&d->s, argc, argv);
	if (rc >= 0) {
		free(d);
		return rc;
	}
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0); /* the progress lines interleave with stderr's */
	char *err = NULL;
	if (demo_setup_prepare(&d->s, &err) != 0) {
		fprintf(stderr, "tandemctl demo: %s\n", err);
		free(err);
		demo_setup_free(&d->s);
		free(d);
		return 1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "tandemctl demo: cannot initialise libcurl\n");
		demo_setup_remove_dir(&d->s);
		demo_setup_free(&d->s);
		free(d);
		return 1;
	}
	const char *dir = d->s.dir;
	for (int k = 0; k < DEMO_SITES; k++) {
		d->etcd_log[k] = xasprintf("%s/etcd-%s.log", dir, demo_site_name[k]);
		d->haproxy_log[k] = xasprintf("%s/haproxy-%s.log", dir, demo_site_name[k]);
	}
	d->psql_log = xasprintf("%s/psql.log", dir);
	d->psql_out = xasprintf("%s/psql.out", dir);
	for (int i = 0; i < DEMO_HELLODS; i++)
		d->hellod_log[i] = xasprintf("%s/hellod-%d.log", dir, i + 1);
	d->prometheus_log = xasprintf("%s/prometheus.log", dir);
	d->alertmanager_log = xasprintf("%s/alertmanager.log", dir);
	printf("demo: in %s%s\n", dir,
	       d->s.as_user ? " (servers run as the postgres OS user)" : "");

	uv_loop_init(&d->loop);
	d->procs = demo_procs_new(&d->loop, d->s.as_user, d->s.uid, d->s.gid, dir);
	d->http = demo_http_new(&d->loop);
	uv_signal_init(&d->loop, &d->sigint);
	uv_signal_init(&d->loop, &d->sigterm);
	uv_signal_init(&d->loop, &d->sighup);
	d->sigint.data = d->sigterm.data = d->sighup.data = d;
	uv_signal_start(&d->sighup, on_sighup, SIGHUP);
	uv_signal_start(&d->sigint, on_signal, SIGINT);
	uv_signal_start(&d->sigterm, on_signal, SIGTERM);
	uv_timer_init(&d->loop, &d->tick);
	d->tick.data = d;
	uv_timer_start(&d->tick, on_tick, 250, 250);
	demo_start_stage(d, ST_ETCD);
	uv_run(&d->loop, UV_RUN_DEFAULT);
	uv_loop_close(&d->loop);

	rc = d->rc;
	if (rc == 0 && !d->s.keep) {
		demo_setup_remove_dir(&d->s);
	} else {
		printf("demo: the directory %s is kept%s\n", dir, rc ? " for inspection" : "");
	}
	demo_http_free(d->http);
	demo_procs_free(d->procs);
	curl_global_cleanup();
	for (int i = 0; i < DEMO_MEMBERS; i++)
		free(d->role[i]);
	for (int i = 0; i < DEMO_HELLODS; i++)
		free(d->hellod_log[i]);
	for (int k = 0; k < DEMO_SITES; k++) {
		free(d->etcd_log[k]);
		free(d->haproxy_log[k]);
	}
	free(d->psql_log);
	free(d->psql_out);
	free(d->prometheus_log);
	free(d->alertmanager_log);
	demo_monitor_free(&d->mon);
	demo_setup_free(&d->s);
	free(d);
	return rc;
}
