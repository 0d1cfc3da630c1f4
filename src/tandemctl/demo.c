/* `tandemctl demo`: the embedded default. Starts etcd, three members, HAProxy and two hellod on
 * 127.0.0.1, one stage after the other, each stage checked on a timer before the next; prints what
 * runs where; stops everything in reverse order on Ctrl-C or SIGTERM. The files are written by
 * demo_setup.c, the children are supervised by demo_procs.c, the checks go through demo_http.c. */
#include "demo.h"

#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "ctl_table.h"
#include "demo_http.h"
#include "demo_procs.h"
#include "demo_setup.h"
#include "haproxy_config.h"
#include "strbuf.h"

/* The stages, in order. */
typedef enum stage {
	ST_ETCD,    /* etcd answers /health */
	ST_CLUSTER, /* one leader, two streaming replicas */
	ST_ROUTE,   /* HAProxy's read-write port reaches the leader */
	ST_DB,      /* hellod's role and database exist */
	ST_HELLOD,  /* both hellod answer /readyz */
	ST_SMOKE,   /* --smoke: a PUT and a GET through hellod */
	ST_UP,      /* everything runs; waiting for Ctrl-C */
	ST_STOPPING,
} stage;

static const struct {
	const char *what;
	unsigned timeout_s;
} stage_info[] = {
    [ST_ETCD] = {"etcd to answer", 30},
    [ST_CLUSTER] = {"a leader and two streaming replicas", 120},
    [ST_ROUTE] = {"HAProxy's read-write port to reach the leader", 30},
    [ST_DB] = {"the role and database for hellod", 30},
    [ST_HELLOD] = {"hellod to be ready", 30},
    [ST_SMOKE] = {"a PUT and a GET through hellod", 30},
};

/* Stop order: each group is stopped (SIGTERM, SIGKILL after the grace) once the one before has
 * exited. */
enum { G_HELLOD, G_HAPROXY, G_MEMBERS, G_POSTGRES, G_ETCD, G_DONE };

typedef struct demo {
	demo_setup s;
	uv_loop_t loop;
	demo_procs *procs;
	demo_http *http;
	uv_timer_t tick;
	uv_signal_t sigint, sigterm, sighup;
	stage st;
	uint64_t deadline_ms;
	bool busy; /* a check is in flight */
	demo_proc *etcd, *haproxy, *psql;
	demo_proc *member[DEMO_MEMBERS];
	demo_proc *hellod[DEMO_HELLODS];
	char *hellod_log[DEMO_HELLODS];
	char *haproxy_log, *etcd_log, *psql_log, *psql_out;
	int leader; /* index of the leader once seen, else -1 */
	/* ST_CLUSTER: the answers of one round */
	int answers;
	char *role[DEMO_MEMBERS];
	bool streaming[DEMO_MEMBERS];
	bool unlocked[DEMO_MEMBERS];
	int smoke_step;
	char *failed_log; /* the log to show when the demo fails */
	int group;        /* the stop group in progress */
	uint64_t pg_wait_until;
	int pg_pid[DEMO_MEMBERS];
	int rc;
} demo;

static void begin_stop(demo *d, int rc);
static void start_stage(demo *d, stage st);

static uint64_t now_ms(demo *d)
{
	return uv_now(&d->loop);
}

static void fail(demo *d, const char *what, const char *log)
{
	fprintf(stderr, "demo: FAILED: %s\n", what);
	if (log) {
		char *tail = demo_tail(log, 25);
		fprintf(stderr, "demo: the last lines of %s:\n%s\n", log, tail);
		free(tail);
	}
	begin_stop(d, 1);
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
		begin_stop(d, 1);
	}
	return p;
}

static void start_etcd(demo *d)
{
	char *client = xasprintf("http://127.0.0.1:%d", d->s.ports.etcd);
	char *peer = xasprintf("http://127.0.0.1:%d", d->s.ports.etcd_peer);
	char *cluster = xasprintf("etcd=%s", peer);
	char *data = xasprintf("%s/etcd", d->s.dir);
	char *argv[] = {d->s.etcd, "--name",
	                "etcd",    "--data-dir",
	                data,      "--listen-client-urls",
	                client,    "--advertise-client-urls",
	                client,    "--listen-peer-urls",
	                peer,      "--initial-advertise-peer-urls",
	                peer,      "--initial-cluster",
	                cluster,   NULL};
	d->etcd = spawn(d, "etcd", argv, d->s.dir, d->etcd_log, NULL, NULL);
	free(client);
	free(peer);
	free(cluster);
	free(data);
}

static void start_members(demo *d)
{
	for (int i = 0; i < DEMO_MEMBERS && d->st != ST_STOPPING; i++) {
		char *argv[] = {d->s.tandemd, d->s.member_config[i], NULL};
		char *name = xasprintf("tandemd %s", demo_member_name[i]);
		d->member[i] =
		    spawn(d, name, argv, d->s.member_dir[i], d->s.member_log[i], NULL, NULL);
		free(name);
	}
}

static void start_haproxy(demo *d)
{
	haproxy_member hm[DEMO_MEMBERS];
	char *pg[DEMO_MEMBERS], *rest[DEMO_MEMBERS];
	for (int i = 0; i < DEMO_MEMBERS; i++) {
		pg[i] = xasprintf("127.0.0.1:%d", d->s.ports.pg[i]);
		rest[i] = xasprintf("127.0.0.1:%d", d->s.ports.rest[i]);
		hm[i].name = demo_member_name[i];
		hm[i].pg_addr = pg[i];
		hm[i].rest_addr = rest[i];
	}
	char *rw = xasprintf("127.0.0.1:%d", d->s.ports.rw);
	char *ro = xasprintf("127.0.0.1:%d", d->s.ports.ro);
	char *stats = xasprintf("127.0.0.1:%d", d->s.ports.stats);
	haproxy_config_input in;
	haproxy_config_input_defaults(&in);
	in.scope = DEMO_SCOPE;
	in.members = hm;
	in.n_members = DEMO_MEMBERS;
	in.rw_listen = rw;
	in.ro_listen = ro;
	in.stats_listen = stats;
	char *err = NULL;
	char *text = haproxy_config_render(&in, &err);
	if (text && demo_setup_write(&d->s, "haproxy.cfg", text, &err) == 0) {
		char *cfg = xasprintf("%s/haproxy.cfg", d->s.dir);
		char *argv[] = {d->s.haproxy, "-db", "-f", cfg, NULL};
		d->haproxy = spawn(d, "haproxy", argv, d->s.dir, d->haproxy_log, NULL, NULL);
		free(cfg);
	} else {
		fprintf(stderr, "demo: HAProxy's configuration: %s\n", err ? err : "?");
		begin_stop(d, 1);
	}
	free(err);
	free(text);
	free(rw);
	free(ro);
	free(stats);
	for (int i = 0; i < DEMO_MEMBERS; i++) {
		free(pg[i]);
		free(rest[i]);
	}
}

static void start_hellods(demo *d)
{
	char *db =
	    xasprintf("HELLOD_DATABASE=host=127.0.0.1 port=%d user=" DEMO_APP_USER
	              " password=" DEMO_APP_PASSWORD " dbname=" DEMO_APP_USER " connect_timeout=3",
	              d->s.ports.rw);
	char *env[] = {db, NULL};
	for (int i = 0; i < DEMO_HELLODS && d->st != ST_STOPPING; i++) {
		char *listen = xasprintf("127.0.0.1:%d", d->s.ports.hellod[i]);
		char *argv[] = {d->s.hellod, "--listen", listen, "--drain-timeout", "5s", NULL};
		char *name = xasprintf("hellod #%d", i + 1);
		d->hellod[i] = spawn(d, name, argv, d->s.dir, d->hellod_log[i], NULL, env);
		free(name);
		free(listen);
	}
	free(db);
}

/* Runs psql as the superuser through HAProxy's read-write port; its output lands in psql_out. */
static void run_psql(demo *d, const char *const sql[], size_t nsql)
{
	char *port = xasprintf("%d", d->s.ports.rw);
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
	char *env[] = {"PGPASSWORD=" DEMO_SUPERUSER_PASSWORD, "PGCONNECT_TIMEOUT=3", NULL};
	d->busy = true;
	d->psql = spawn(d, "psql", argv, d->s.dir, d->psql_log, d->psql_out, env);
	if (!d->psql)
		d->busy = false;
	free(port);
}

static bool is_psql(demo *d, demo_proc *p)
{
	return p == d->psql;
}

static void psql_done(demo *d, bool ok);

static void advance_stop(demo *d);

static void on_child_exit(demo_proc *p, int64_t status, int sig, void *arg)
{
	demo *d = arg;
	if (is_psql(d, p)) {
		d->psql = NULL;
		d->busy = false;
		if (d->st != ST_STOPPING)
			psql_done(d, status == 0 && sig == 0);
		else
			advance_stop(d);
		return;
	}
	if (d->st == ST_STOPPING) {
		advance_stop(d);
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
	if (p == d->etcd) {
		fprintf(stderr, "demo: nothing works without etcd: stopping\n");
		begin_stop(d, 1);
	} else if (d->st != ST_UP) {
		fprintf(stderr, "demo: FAILED: %s did not stay up\n", demo_proc_name(p));
		begin_stop(d, 1);
	} else {
		fprintf(stderr, "demo: the rest keeps running (Ctrl-C stops everything%s)\n",
		        d->st == ST_UP && strncmp(demo_proc_name(p), "tandemd", 7) == 0
		            ? "; kill -HUP the demo to start the member again"
		            : "");
	}
}

/* ---- checks ---- */

static void on_etcd_health(long status, const char *body, void *arg)
{
	demo *d = arg;
	d->busy = false;
	if (d->st == ST_ETCD && status == 200 && strstr(body, "true"))
		start_stage(d, ST_CLUSTER);
}

static void evaluate_cluster(demo *d)
{
	int leaders = 0, streaming = 0, leader = -1;
	for (int i = 0; i < DEMO_MEMBERS; i++) {
		if (d->role[i] && strcmp(d->role[i], "primary") == 0 && !d->unlocked[i]) {
			leaders++;
			leader = i;
		} else if (d->role[i] && strcmp(d->role[i], "replica") == 0 && d->streaming[i]) {
			streaming++;
		}
	}
	if (leaders == 1 && streaming == DEMO_MEMBERS - 1) {
		d->leader = leader;
		start_stage(d, ST_ROUTE);
	}
}

typedef struct member_probe {
	demo *d;
	int i;
} member_probe;

static member_probe probes[DEMO_MEMBERS];

static void on_patroni(long status, const char *body, void *arg)
{
	member_probe *mp = arg;
	demo *d = mp->d;
	int i = mp->i;
	free(d->role[i]);
	d->role[i] = NULL;
	d->streaming[i] = false;
	d->unlocked[i] = false;
	if (status == 200) {
		json_t *o = json_loads(body, 0, NULL);
		const char *role = json_string_value(json_object_get(o, "role"));
		const char *rs = json_string_value(json_object_get(o, "replication_state"));
		d->role[i] = role ? xstrdup(role) : NULL;
		d->streaming[i] = rs && strcmp(rs, "streaming") == 0;
		d->unlocked[i] = json_is_true(json_object_get(o, "cluster_unlocked"));
		json_decref(o);
	}
	if (++d->answers == DEMO_MEMBERS) {
		d->busy = false;
		if (d->st == ST_CLUSTER)
			evaluate_cluster(d);
	}
}

static void on_hellod_ready(long status, const char *body, void *arg)
{
	demo *d = arg;
	(void)body;
	if (status == 200)
		d->answers++;
	if (demo_http_pending(d->http) == 0) {
		d->busy = false;
		if (d->st == ST_HELLOD && d->answers == DEMO_HELLODS)
			start_stage(d, d->s.smoke ? ST_SMOKE : ST_UP);
	}
}

static void on_smoke(long status, const char *body, void *arg)
{
	demo *d = arg;
	d->busy = false;
	if (d->st != ST_SMOKE)
		return;
	if (d->smoke_step == 0) {
		if (status == 204) {
			printf("demo: smoke: PUT /hello/alice through hellod #1: 204\n");
			d->smoke_step = 1;
		} else if (status >= 400 && status < 500) {
			fprintf(stderr, "demo: smoke: PUT answered %ld: %s\n", status, body);
			fail(d, "PUT /hello/alice through hellod", d->hellod_log[0]);
		}
		return;
	}
	if (status == 200 && strstr(body, "Hello, alice!")) {
		printf("demo: smoke: GET /hello/alice through hellod #2: 200 %s\n", body);
		printf("demo: smoke check passed\n");
		fflush(stdout);
		begin_stop(d, 0);
	} else if (status != 0 && status != 503) {
		fprintf(stderr, "demo: smoke: GET answered %ld: %s\n", status, body);
		fail(d, "GET /hello/alice through hellod", d->hellod_log[1]);
	}
}

static void psql_done(demo *d, bool ok)
{
	if (d->st == ST_ROUTE && ok) {
		char *out = demo_tail(d->psql_out, 1);
		char *want = xasprintf("%d|f", d->s.ports.pg[d->leader]);
		bool good = strcmp(out, want) == 0;
		if (good) {
			printf("demo: HAProxy's read-write port 127.0.0.1:%d reaches the leader %s "
			       "(127.0.0.1:%s, not in recovery)\n",
			       d->s.ports.rw, demo_member_name[d->leader], want);
			start_stage(d, ST_DB);
		}
		free(want);
		free(out);
	} else if (d->st == ST_DB) {
		if (ok)
			start_stage(d, ST_HELLOD);
		else
			fail(d, "creating hellod's role and database through HAProxy", d->psql_log);
	}
}

static void check(demo *d)
{
	char url[128];
	d->busy = true;
	switch (d->st) {
	case ST_ETCD:
		snprintf(url, sizeof url, "http://127.0.0.1:%d/health", d->s.ports.etcd);
		demo_http_request(d->http, "GET", url, NULL, 1000, on_etcd_health, d);
		break;
	case ST_CLUSTER:
		d->answers = 0;
		for (int i = 0; i < DEMO_MEMBERS; i++) {
			probes[i].d = d;
			probes[i].i = i;
			snprintf(url, sizeof url, "http://127.0.0.1:%d/patroni",
			         d->s.ports.rest[i]);
			demo_http_request(d->http, "GET", url, NULL, 1000, on_patroni, &probes[i]);
		}
		break;
	case ST_ROUTE: {
		static const char *const sql[] = {"SELECT inet_server_port(), pg_is_in_recovery()"};
		run_psql(d, sql, 1);
		break;
	}
	case ST_DB: {
		static const char *const sql[] = {
		    "CREATE ROLE " DEMO_APP_USER " LOGIN PASSWORD '" DEMO_APP_PASSWORD "'",
		    "CREATE DATABASE " DEMO_APP_USER " OWNER " DEMO_APP_USER};
		run_psql(d, sql, 2);
		break;
	}
	case ST_HELLOD:
		d->answers = 0;
		for (int i = 0; i < DEMO_HELLODS; i++) {
			snprintf(url, sizeof url, "http://127.0.0.1:%d/readyz",
			         d->s.ports.hellod[i]);
			demo_http_request(d->http, "GET", url, NULL, 2000, on_hellod_ready, d);
		}
		break;
	case ST_SMOKE:
		if (d->smoke_step == 0) {
			snprintf(url, sizeof url, "http://127.0.0.1:%d/hello/alice",
			         d->s.ports.hellod[0]);
			demo_http_request(d->http, "PUT", url, "{\"dateOfBirth\":\"1990-05-17\"}",
			                  12000, on_smoke, d);
		} else {
			snprintf(url, sizeof url, "http://127.0.0.1:%d/hello/alice",
			         d->s.ports.hellod[1]);
			demo_http_request(d->http, "GET", url, NULL, 12000, on_smoke, d);
		}
		break;
	default:
		d->busy = false;
		break;
	}
}

/* The log of the component a stage waits for. */
static const char *stage_log(demo *d)
{
	switch (d->st) {
	case ST_ETCD:
		return d->etcd_log;
	case ST_CLUSTER:
		for (int i = 0; i < DEMO_MEMBERS; i++)
			if (!d->role[i] || (strcmp(d->role[i], "primary") != 0 && !d->streaming[i]))
				return d->s.member_log[i];
		return d->s.member_log[0];
	case ST_ROUTE:
	case ST_DB:
		return d->psql_log;
	case ST_HELLOD:
	case ST_SMOKE:
		return d->hellod_log[0];
	default:
		return NULL;
	}
}

/* ---- the table ---- */

static void print_up(demo *d)
{
	const demo_setup *s = &d->s;
	static const char *const head[] = {"component", "where", "pid", "log"};
	ctl_table *t = ctl_table_new(4, head);
	char where[160], pid[32];
	snprintf(where, sizeof where, "http://127.0.0.1:%d", s->ports.etcd);
	snprintf(pid, sizeof pid, "%d", demo_proc_pid(d->etcd));
	ctl_table_add_row(t, (const char *const[]){"etcd", where, pid, d->etcd_log});
	for (int i = 0; i < DEMO_MEMBERS; i++) {
		char comp[64];
		snprintf(comp, sizeof comp, "%s site %s (%s)", demo_member_name[i],
		         demo_member_site[i], i == d->leader ? "leader" : "replica");
		snprintf(where, sizeof where, "pg 127.0.0.1:%d, REST http://127.0.0.1:%d",
		         s->ports.pg[i], s->ports.rest[i]);
		snprintf(pid, sizeof pid, "%d", demo_proc_pid(d->member[i]));
		ctl_table_add_row(t, (const char *const[]){comp, where, pid, s->member_log[i]});
	}
	snprintf(where, sizeof where, "rw 127.0.0.1:%d, ro 127.0.0.1:%d, stats :%d", s->ports.rw,
	         s->ports.ro, s->ports.stats);
	snprintf(pid, sizeof pid, "%d", demo_proc_pid(d->haproxy));
	ctl_table_add_row(t, (const char *const[]){"haproxy", where, pid, d->haproxy_log});
	for (int i = 0; i < DEMO_HELLODS; i++) {
		char comp[32];
		snprintf(comp, sizeof comp, "hellod #%d", i + 1);
		snprintf(where, sizeof where, "http://127.0.0.1:%d", s->ports.hellod[i]);
		snprintf(pid, sizeof pid, "%d", demo_proc_pid(d->hellod[i]));
		ctl_table_add_row(t, (const char *const[]){comp, where, pid, d->hellod_log[i]});
	}
	char *title = xasprintf("tandem demo: %s", s->dir);
	char *text = ctl_table_render(t, title);
	printf("\n%s", text);
	free(text);
	free(title);
	ctl_table_free(t);

	int L = d->leader, C = L == 1 ? 0 : 1;
	printf("\nPostgreSQL: user postgres, password " DEMO_SUPERUSER_PASSWORD
	       "; hellod's database: user " DEMO_APP_USER ", password " DEMO_APP_PASSWORD
	       ", database " DEMO_APP_USER ".\n");
	printf("\nTry:\n"
	       "  %s -c %s/tandemctl.yml list\n"
	       "  %s -c %s/tandemctl.yml failover --candidate %s --force\n",
	       s->tandemctl, s->dir, s->tandemctl, s->dir, demo_member_name[C]);
	printf("  kill -9 %d $(head -1 %s/postmaster.pid)   # the leader %s: tandemd and "
	       "PostgreSQL; a replica takes over within ~10 s\n",
	       demo_proc_pid(d->member[L]), s->member_data[L], demo_member_name[L]);
	printf("  curl -i -X PUT -H 'Content-Type: application/json' -d "
	       "'{\"dateOfBirth\":\"1990-05-17\"}' http://127.0.0.1:%d/hello/alice\n"
	       "  curl -i http://127.0.0.1:%d/hello/alice\n"
	       "  PGPASSWORD=" DEMO_SUPERUSER_PASSWORD " psql -h 127.0.0.1 -p %d -U postgres -c "
	       "'SELECT inet_server_port(), pg_is_in_recovery()'   # the leader\n"
	       "  PGPASSWORD=" DEMO_SUPERUSER_PASSWORD " psql -h 127.0.0.1 -p %d -U postgres -c "
	       "'SELECT inet_server_port(), pg_is_in_recovery()'   # a replica\n"
	       "  curl http://127.0.0.1:%d/   # HAProxy's stats\n",
	       s->ports.hellod[0], s->ports.hellod[1], s->ports.rw, s->ports.ro, s->ports.stats);
	printf("  kill -HUP %d   # the demo starts again every member whose tandemd is gone\n",
	       (int)getpid());
	if (!s->smoke)
		printf("\nPress Ctrl-C to stop everything%s.\n",
		       s->keep ? " (the directory is kept)" : " and remove the directory");
	fflush(stdout);
}

/* ---- stages ---- */

static void start_stage(demo *d, stage st)
{
	if (d->st == ST_STOPPING)
		return;
	d->st = st;
	d->busy = false;
	if (st < ST_UP) {
		d->deadline_ms = now_ms(d) + stage_info[st].timeout_s * 1000ull;
		printf("demo: waiting for %s\n", stage_info[st].what);
		fflush(stdout);
	}
	switch (st) {
	case ST_ETCD:
		start_etcd(d);
		break;
	case ST_CLUSTER:
		start_members(d);
		break;
	case ST_ROUTE:
		printf("demo: the leader is %s\n", demo_member_name[d->leader]);
		start_haproxy(d);
		break;
	case ST_HELLOD:
		start_hellods(d);
		break;
	case ST_SMOKE:
		print_up(d);
		break;
	case ST_UP:
		print_up(d);
		break;
	default:
		break;
	}
}

static void on_tick(uv_timer_t *t)
{
	demo *d = t->data;
	if (d->st == ST_STOPPING) {
		advance_stop(d);
		return;
	}
	if (d->st == ST_UP || d->busy)
		return;
	if (now_ms(d) >= d->deadline_ms) {
		char *what = xasprintf("timed out after %u s waiting for %s",
		                       stage_info[d->st].timeout_s, stage_info[d->st].what);
		if (d->st == ST_ROUTE) {
			char *tail = demo_tail(d->haproxy_log, 10);
			fprintf(stderr, "demo: the last lines of %s:\n%s\n", d->haproxy_log, tail);
			free(tail);
		}
		fail(d, what, stage_log(d));
		free(what);
		return;
	}
	check(d);
}

/* ---- stopping ---- */

static bool alive(int pid)
{
	return pid > 0 && kill(pid, 0) == 0;
}

/* A postmaster whose tandemd is gone (killed by hand) is stopped through its postmaster.pid. */
static void stop_orphan_postgres(demo *d)
{
	for (int i = 0; i < DEMO_MEMBERS; i++) {
		d->pg_pid[i] = 0;
		char *path = xasprintf("%s/postmaster.pid", d->s.member_data[i]);
		char *first = demo_tail(path, 1000);
		free(path);
		int pid = atoi(first);
		free(first);
		if (alive(pid)) {
			fprintf(stderr,
			        "demo: stopping %s's PostgreSQL (pid %d), left without its "
			        "tandemd\n",
			        demo_member_name[i], pid);
			kill(pid, SIGINT);
			d->pg_pid[i] = pid;
		}
	}
	d->pg_wait_until = now_ms(d) + 20000;
}

static bool group_done(demo *d, int g)
{
	switch (g) {
	case G_HELLOD:
		for (int i = 0; i < DEMO_HELLODS; i++)
			if (d->hellod[i] && demo_proc_running(d->hellod[i]))
				return false;
		return !d->psql;
	case G_HAPROXY:
		return !d->haproxy || !demo_proc_running(d->haproxy);
	case G_MEMBERS:
		for (int i = 0; i < DEMO_MEMBERS; i++)
			if (d->member[i] && demo_proc_running(d->member[i]))
				return false;
		return true;
	case G_POSTGRES:
		for (int i = 0; i < DEMO_MEMBERS; i++)
			if (alive(d->pg_pid[i])) {
				if (now_ms(d) < d->pg_wait_until)
					return false;
				kill(d->pg_pid[i], SIGKILL);
			}
		return true;
	case G_ETCD:
		return !d->etcd || !demo_proc_running(d->etcd);
	default:
		return true;
	}
}

static void stop_group(demo *d, int g)
{
	switch (g) {
	case G_HELLOD:
		for (int i = 0; i < DEMO_HELLODS; i++)
			if (d->hellod[i])
				demo_proc_stop(d->hellod[i], 10000);
		if (d->psql)
			demo_proc_stop(d->psql, 1000);
		break;
	case G_HAPROXY:
		if (d->haproxy)
			demo_proc_stop(d->haproxy, 5000);
		break;
	case G_MEMBERS:
		for (int i = 0; i < DEMO_MEMBERS; i++)
			if (d->member[i])
				demo_proc_stop(d->member[i], 30000);
		break;
	case G_POSTGRES:
		stop_orphan_postgres(d);
		break;
	case G_ETCD:
		if (d->etcd)
			demo_proc_stop(d->etcd, 10000);
		break;
	default:
		break;
	}
}

static void finish(demo *d)
{
	uv_timer_stop(&d->tick);
	uv_close((uv_handle_t *)&d->tick, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sighup, NULL);
	demo_http_close(d->http);
	demo_procs_close(d->procs);
}

static void advance_stop(demo *d)
{
	while (d->group < G_DONE && group_done(d, d->group)) {
		d->group++;
		if (d->group < G_DONE)
			stop_group(d, d->group);
	}
	if (d->group == G_DONE) {
		d->group++;
		printf("demo: everything stopped\n");
		fflush(stdout);
		finish(d);
	}
}

static void begin_stop(demo *d, int rc)
{
	if (d->st == ST_STOPPING)
		return;
	d->st = ST_STOPPING;
	d->rc = rc;
	printf("demo: stopping (hellod, HAProxy, the members, etcd)\n");
	fflush(stdout);
	d->group = G_HELLOD;
	stop_group(d, G_HELLOD);
	/* the tick timer moves on from a group once it is down (an exit also does) */
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
	begin_stop(d, 0);
}

/* ---- main ---- */

int demo_main(int argc, char **argv)
{
	demo *d = xcalloc(1, sizeof *d);
	d->leader = -1;
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
	d->etcd_log = xasprintf("%s/etcd.log", dir);
	d->haproxy_log = xasprintf("%s/haproxy.log", dir);
	d->psql_log = xasprintf("%s/psql.log", dir);
	d->psql_out = xasprintf("%s/psql.out", dir);
	for (int i = 0; i < DEMO_HELLODS; i++)
		d->hellod_log[i] = xasprintf("%s/hellod-%d.log", dir, i + 1);
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
	start_stage(d, ST_ETCD);
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
	free(d->etcd_log);
	free(d->haproxy_log);
	free(d->psql_log);
	free(d->psql_out);
	demo_setup_free(&d->s);
	free(d);
	return rc;
}
