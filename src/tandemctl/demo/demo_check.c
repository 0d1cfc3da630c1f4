/* The demo's checks: what each stage waits for (etcd's /health, the members' /patroni, psql
 * through HAProxy, hellod's /readyz, the smoke requests), and the table printed once everything
 * runs. See demo_priv.h. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_table.h"
#include "demo_priv.h"
#include "strbuf.h"

static void on_etcd_health(long status, const char *body, void *arg)
{
	demo *d = arg;
	d->busy = false;
	if (d->st == ST_ETCD && status == 200 && strstr(body, "true"))
		demo_start_stage(d, ST_CLUSTER);
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
		demo_start_stage(d, ST_ROUTE);
	}
}

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
			demo_start_stage(d, d->s.smoke ? ST_SMOKE : ST_UP);
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
			demo_fail(d, "PUT /hello/alice through hellod", d->hellod_log[0]);
		}
		return;
	}
	if (status == 200 && strstr(body, "Hello, alice!")) {
		printf("demo: smoke: GET /hello/alice through hellod #2: 200 %s\n", body);
		printf("demo: smoke check passed\n");
		fflush(stdout);
		demo_begin_stop(d, 0);
	} else if (status != 0 && status != 503) {
		fprintf(stderr, "demo: smoke: GET answered %ld: %s\n", status, body);
		demo_fail(d, "GET /hello/alice through hellod", d->hellod_log[1]);
	}
}

void demo_psql_done(demo *d, bool ok)
{
	if (d->st == ST_ROUTE && ok) {
		char *out = demo_tail(d->psql_out, 1);
		char *want = xasprintf("%d|f", d->s.ports.pg[d->leader]);
		bool good = strcmp(out, want) == 0;
		if (good) {
			printf("demo: HAProxy's read-write port 127.0.0.1:%d reaches the leader %s "
			       "(127.0.0.1:%s, not in recovery)\n",
			       d->s.ports.rw, demo_member_name[d->leader], want);
			demo_start_stage(d, ST_DB);
		}
		free(want);
		free(out);
	} else if (d->st == ST_DB) {
		if (ok)
			demo_start_stage(d, ST_HELLOD);
		else
			demo_fail(d, "creating hellod's role and database through HAProxy",
			          d->psql_log);
	}
}

void demo_check(demo *d)
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
			d->probes[i].d = d;
			d->probes[i].i = i;
			snprintf(url, sizeof url, "http://127.0.0.1:%d/patroni",
			         d->s.ports.rest[i]);
			demo_http_request(d->http, "GET", url, NULL, 1000, on_patroni,
			                  &d->probes[i]);
		}
		break;
	case ST_ROUTE: {
		static const char *const sql[] = {"SELECT inet_server_port(), pg_is_in_recovery()"};
		demo_run_psql(d, sql, 1);
		break;
	}
	case ST_DB: {
		/* The password is in the file, not in psql's command line (ps shows that). */
		char *role = xasprintf("\\i %s/hello-role.sql", d->s.dir);
		const char *const sql[] = {role, "CREATE DATABASE " DEMO_APP_USER
		                                 " OWNER " DEMO_APP_USER};
		demo_run_psql(d, sql, 2);
		free(role);
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

const char *demo_stage_log(demo *d)
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

void demo_print_up(demo *d)
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
	printf("\nThis run's passwords (random, kept in %s/credentials, mode 0600):\n"
	       "  PostgreSQL superuser postgres: %s\n"
	       "  replication user replicator:   %s\n"
	       "  hellod's role " DEMO_APP_USER " (database " DEMO_APP_USER "): %s\n",
	       s->dir, s->superuser_password, s->replication_password, s->app_password);
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
	       "  PGPASSFILE=%s/pgpass psql -h 127.0.0.1 -p %d -U postgres -c "
	       "'SELECT inet_server_port(), pg_is_in_recovery()'   # the leader\n"
	       "  PGPASSFILE=%s/pgpass psql -h 127.0.0.1 -p %d -U postgres -c "
	       "'SELECT inet_server_port(), pg_is_in_recovery()'   # a replica\n"
	       "  curl http://127.0.0.1:%d/   # HAProxy's stats\n",
	       s->ports.hellod[0], s->ports.hellod[1], s->dir, s->ports.rw, s->dir, s->ports.ro,
	       s->ports.stats);
	printf("  kill -HUP %d   # the demo starts again every member whose tandemd is gone\n",
	       (int)getpid());
	if (!s->smoke)
		printf("\nPress Ctrl-C to stop everything%s.\n",
		       s->keep ? " (the directory is kept)" : " and remove the directory");
	fflush(stdout);
}
