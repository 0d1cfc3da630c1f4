/* The demo's checks: what each stage waits for (both etcd's /health, each site's members'
 * /patroni, psql through both HAProxy, hellod's /readyz, the smoke requests), and the table
 * printed once everything runs. See demo_priv.h. */
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
	if (status == 200 && strstr(body, "true"))
		d->answers++;
	if (demo_http_pending(d->http) == 0) {
		d->busy = false;
		if (d->st == ST_ETCD && d->answers == DEMO_SITES)
			demo_start_stage(d, ST_CLUSTER);
	}
}

/* The site of the current stage's members: one leader (site A: the primary; site B: the standby
 * leader, streaming from A), the others streaming replicas. */
static void evaluate_site(demo *d, int site)
{
	const char *want = site == 0 ? "primary" : "standby_leader";
	int leaders = 0, streaming = 0, leader = -1;
	for (int n = 0; n < DEMO_SITE_MEMBERS; n++) {
		int i = site * DEMO_SITE_MEMBERS + n;
		if (d->role[i] && strcmp(d->role[i], want) == 0 && !d->unlocked[i] &&
		    (site == 0 || d->streaming[i])) {
			leaders++;
			leader = i;
		} else if (d->role[i] && strcmp(d->role[i], "replica") == 0 && d->streaming[i]) {
			streaming++;
		}
	}
	if (leaders != 1 || streaming != DEMO_SITE_MEMBERS - 1)
		return;
	if (site == 0) {
		d->leader = leader;
		demo_start_stage(d, ST_STANDBY);
	} else {
		d->standby_leader = leader;
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
	if (++d->answers == DEMO_SITE_MEMBERS) {
		d->busy = false;
		if (d->st == ST_CLUSTER || d->st == ST_STANDBY)
			evaluate_site(d, d->st == ST_CLUSTER ? 0 : 1);
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
			printf("demo: smoke: PUT /hello/alice through hellod #2 (site B, written "
			       "in site A): 204\n");
			d->smoke_step = 1;
		} else if (status >= 400 && status < 500) {
			fprintf(stderr, "demo: smoke: PUT answered %ld: %s\n", status, body);
			demo_fail(d, "PUT /hello/alice through hellod #2", d->hellod_log[1]);
		}
		return;
	}
	if (status == 200 && strstr(body, "Hello, alice!")) {
		printf("demo: smoke: GET /hello/alice through hellod #1 (site A, read from its "
		       "replicas): 200 %s\n",
		       body);
		printf("demo: smoke check passed\n");
		fflush(stdout);
		demo_begin_stop(d, 0);
	} else if (status != 0 && status != 503 && status != 404) {
		/* 404: site A's replica has not replayed alice's PUT yet (without a token a local
		 * read may lag the primary): asked again */
		fprintf(stderr, "demo: smoke: GET answered %ld: %s\n", status, body);
		demo_fail(d, "GET /hello/alice through hellod #1", d->hellod_log[0]);
	}
}

void demo_psql_done(demo *d, bool ok)
{
	if (d->st == ST_ROUTE && ok) {
		char *out = demo_tail(d->psql_out, 1);
		char *want = xasprintf("%d|f", d->s.ports.pg[d->leader]);
		bool good = strcmp(out, want) == 0;
		if (good) {
			printf("demo: site %s's HAProxy read-write port 127.0.0.1:%d reaches site "
			       "A's leader %s (127.0.0.1:%s, not in recovery)\n",
			       demo_site_name[d->route_site], d->s.ports.rw[d->route_site],
			       demo_member_name[d->leader], want);
			if (++d->route_site == DEMO_SITES)
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
		d->answers = 0;
		for (int k = 0; k < DEMO_SITES; k++) {
			snprintf(url, sizeof url, "http://127.0.0.1:%d/health", d->s.ports.etcd[k]);
			demo_http_request(d->http, "GET", url, NULL, 1000, on_etcd_health, d);
		}
		break;
	case ST_CLUSTER:
	case ST_STANDBY:
		d->answers = 0;
		for (int n = 0; n < DEMO_SITE_MEMBERS; n++) {
			int i = (d->st == ST_CLUSTER ? 0 : DEMO_SITE_MEMBERS) + n;
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
		demo_run_psql(d, d->s.ports.rw[d->route_site], sql, 1);
		break;
	}
	case ST_DB: {
		/* The password is in the file, not in psql's command line (ps shows that). */
		char *role = xasprintf("\\i %s/hello-role.sql", d->s.dir);
		const char *const sql[] = {role, "CREATE DATABASE " DEMO_APP_USER
		                                 " OWNER " DEMO_APP_USER};
		demo_run_psql(d, d->s.ports.rw[0], sql, 2);
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
			         d->s.ports.hellod[1]);
			demo_http_request(d->http, "PUT", url, "{\"dateOfBirth\":\"1990-05-17\"}",
			                  12000, on_smoke, d);
		} else {
			snprintf(url, sizeof url, "http://127.0.0.1:%d/hello/alice",
			         d->s.ports.hellod[0]);
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
		return d->etcd_log[0];
	case ST_CLUSTER:
	case ST_STANDBY: {
		int first = d->st == ST_CLUSTER ? 0 : DEMO_SITE_MEMBERS;
		for (int i = first; i < first + DEMO_SITE_MEMBERS; i++)
			if (!d->role[i] || (strcmp(d->role[i], "primary") != 0 && !d->streaming[i]))
				return d->s.member_log[i];
		return d->s.member_log[first];
	}
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

static const char *member_role(const demo *d, int i)
{
	return i == d->leader ? "leader" : i == d->standby_leader ? "standby leader" : "replica";
}

static char *what_runs_where(const demo *d)
{
	const demo_setup *s = &d->s;
	static const char *const head[] = {"component", "where", "pid", "log"};
	ctl_table *t = ctl_table_new(4, head);
	char comp[64], where[160], pid[32];
	for (int k = 0; k < DEMO_SITES; k++) {
		snprintf(comp, sizeof comp, "etcd site %s", demo_site_name[k]);
		snprintf(where, sizeof where, "http://127.0.0.1:%d", s->ports.etcd[k]);
		snprintf(pid, sizeof pid, "%d", demo_proc_pid(d->etcd[k]));
		ctl_table_add_row(t, (const char *const[]){comp, where, pid, d->etcd_log[k]});
	}
	for (int i = 0; i < DEMO_MEMBERS; i++) {
		snprintf(comp, sizeof comp, "%s site %s (%s)", demo_member_name[i],
		         demo_site_name[demo_site_of(i)], member_role(d, i));
		snprintf(where, sizeof where, "pg 127.0.0.1:%d, REST http://127.0.0.1:%d",
		         s->ports.pg[i], s->ports.rest[i]);
		snprintf(pid, sizeof pid, "%d", demo_proc_pid(d->member[i]));
		ctl_table_add_row(t, (const char *const[]){comp, where, pid, s->member_log[i]});
	}
	for (int k = 0; k < DEMO_SITES; k++) {
		snprintf(comp, sizeof comp, "haproxy site %s", demo_site_name[k]);
		snprintf(where, sizeof where, "rw 127.0.0.1:%d, ro 127.0.0.1:%d, stats :%d",
		         s->ports.rw[k], s->ports.ro[k], s->ports.stats[k]);
		snprintf(pid, sizeof pid, "%d", demo_proc_pid(d->haproxy[k]));
		ctl_table_add_row(t, (const char *const[]){comp, where, pid, d->haproxy_log[k]});
	}
	for (int i = 0; i < DEMO_HELLODS; i++) {
		snprintf(comp, sizeof comp, "hellod #%d site %s", i + 1, demo_site_name[i]);
		snprintf(where, sizeof where, "http://127.0.0.1:%d", s->ports.hellod[i]);
		snprintf(pid, sizeof pid, "%d", demo_proc_pid(d->hellod[i]));
		ctl_table_add_row(t, (const char *const[]){comp, where, pid, d->hellod_log[i]});
	}
	if (d->prometheus && d->alertmanager) {
		snprintf(where, sizeof where, "http://127.0.0.1:%d/classic/alerts",
		         d->mon.prom_port);
		snprintf(pid, sizeof pid, "%d", demo_proc_pid(d->prometheus));
		ctl_table_add_row(
		    t, (const char *const[]){"prometheus", where, pid, d->prometheus_log});
		snprintf(where, sizeof where, "http://127.0.0.1:%d", d->mon.am_port);
		snprintf(pid, sizeof pid, "%d", demo_proc_pid(d->alertmanager));
		ctl_table_add_row(
		    t, (const char *const[]){"alertmanager", where, pid, d->alertmanager_log});
	}
	char *title = xasprintf("tandem demo: %s", s->dir);
	char *text = ctl_table_render(t, title);
	free(title);
	ctl_table_free(t);
	return text;
}

/* The Try: lines for one site (the cluster's own operations). */
static void print_try_site(const demo *d)
{
	const demo_setup *s = &d->s;
	int L = d->leader, C = L == 0 ? 1 : 0;
	printf("\nTry:\n"
	       "  %s -c %s list   # site A, the primary site\n"
	       "  PGPASSFILE=%s/pgpass %s -c %s list   # site B, a standby cluster of site A, and "
	       "how far behind A it is\n"
	       "  %s -c %s failover --candidate %s --force\n",
	       s->tandemctl, s->site_config[0], s->dir, s->tandemctl, s->site_config[1],
	       s->tandemctl, s->site_config[0], demo_member_name[C]);
	printf("  kill -9 %d $(head -1 %s/postmaster.pid)   # site A's leader %s: tandemd and "
	       "PostgreSQL; %s takes over within ~5 s, inside hellod's 10 s request deadline: "
	       "hellod's clients see no error\n",
	       demo_proc_pid(d->member[L]), s->member_data[L], demo_member_name[L],
	       demo_member_name[C]);
	printf("  curl -i -X PUT -H 'Content-Type: application/json' -d "
	       "'{\"dateOfBirth\":\"1990-05-17\"}' http://127.0.0.1:%d/hello/alice   # hellod #2 "
	       "in site B: written in site A\n"
	       "  curl -i http://127.0.0.1:%d/hello/alice   # hellod #1 in site A, from a replica\n"
	       "  T=$(curl -si -X PUT -H 'Content-Type: application/json' -d "
	       "'{\"dateOfBirth\":\"1985-01-02\"}' http://127.0.0.1:%d/hello/bob | tr -d '\\r' | "
	       "sed -n 's/^Tandem-Consistency-Token: //Ip'); curl -i -H "
	       "\"Tandem-Consistency-Token: $T\" http://127.0.0.1:%d/hello/bob   # read your write "
	       "from site B's replicas\n"
	       "  curl -s http://127.0.0.1:%d/metrics | grep '^hellod_reads'   # hellod #2's GETs: "
	       "served locally or by the primary\n"
	       "  PGPASSFILE=%s/pgpass psql -h 127.0.0.1 -p %d -U postgres -c "
	       "'SELECT inet_server_port(), pg_is_in_recovery()'   # the primary site's leader\n"
	       "  PGPASSFILE=%s/pgpass psql -h 127.0.0.1 -p %d -U postgres -c "
	       "'SELECT inet_server_port(), pg_is_in_recovery()'   # a replica of site A\n"
	       "  curl http://127.0.0.1:%d/   # site A's HAProxy stats (site B's: %d)\n",
	       s->ports.hellod[1], s->ports.hellod[0], s->ports.hellod[0], s->ports.hellod[1],
	       s->ports.hellod[1], s->dir, s->ports.rw[0], s->dir, s->ports.ro[0],
	       s->ports.stats[0], s->ports.stats[1]);
}

/* The Try: lines for the two sites: the planned switch, the disaster promotion. */
static void print_try_sites(const demo *d)
{
	const demo_setup *s = &d->s;
	printf("  %s site-switchover --from %s --to %s --force   # site B becomes the primary "
	       "site, nothing lost, no pg_rewind; both HAProxy send the writes to B\n",
	       s->tandemctl, s->site_config[0], s->site_config[1]);
	printf("  kill -9");
	for (int i = 0; i < DEMO_SITE_MEMBERS; i++)
		printf(" %d", demo_proc_pid(d->member[i]));
	for (int i = 0; i < DEMO_SITE_MEMBERS; i++)
		printf(" $(head -1 %s/postmaster.pid)", s->member_data[i]);
	printf("   # a disaster: site A's members are lost, then:\n"
	       "  %s -c %s promote-cluster --force   # site B's standby leader is promoted and "
	       "takes the writes\n",
	       s->tandemctl, s->site_config[1]);
	printf("  kill -HUP %d   # the demo starts again every member whose tandemd is gone\n",
	       (int)getpid());
}

/* The Try: lines for backups (site A's pgBackRest repository, DIR/repo). */
static void print_try_backups(const demo *d)
{
	const demo_setup *s = &d->s;
	const char *as = s->as_user ? "runuser -u postgres -- " : "";
	printf(
	    "  %s -c %s backup --type diff --wait   # a backup by site A's backup runner, "
	    "verified\n"
	    "  %s -c %s drill --wait   # restore the latest backup into a scratch copy and check "
	    "it: the measured RTO\n"
	    "  %s%s -c %s restore --to latest --new-cluster pitr --data-dir %s/pitr --listen "
	    "127.0.0.1:%d   # point-in-time recovery into a new cluster, its own stanza\n",
	    s->tandemctl, s->site_config[0], s->tandemctl, s->site_config[0], as, s->tandemctl,
	    s->site_config[0], s->dir, s->ports.pg[0] + 1000);
}

void demo_print_up(demo *d)
{
	const demo_setup *s = &d->s;
	char *text = what_runs_where(d);
	printf("\n%s", text);
	free(text);
	printf("\nThis run's passwords (random, kept in %s/credentials, mode 0600):\n"
	       "  PostgreSQL superuser postgres: %s\n"
	       "  replication user replicator:   %s\n"
	       "  hellod's role " DEMO_APP_USER " (database " DEMO_APP_USER "): %s\n",
	       s->dir, s->superuser_password, s->replication_password, s->app_password);
	print_try_site(d);
	print_try_backups(d);
	print_try_sites(d);
	if (d->prometheus)
		printf("\nAlerts (tandem's rules, docs/monitoring.md): "
		       "http://127.0.0.1:%d/classic/alerts\n",
		       d->mon.prom_port);
	if (!s->smoke)
		printf("\nPress Ctrl-C to stop everything%s.\n",
		       s->keep ? " (the directory is kept)" : " and remove the directory");
	fflush(stdout);
}
