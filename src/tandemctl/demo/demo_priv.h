/* The demo's state, shared by demo.c (children, stages, signals, main), demo_check.c (the checks
 * of each stage and the table printed once everything runs) and demo_stop.c (stopping in
 * order). Not for other modules. */
#ifndef TANDEMCTL_DEMO_PRIV_H
#define TANDEMCTL_DEMO_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "demo_http.h"
#include "demo_monitor.h"
#include "demo_procs.h"
#include "demo_setup.h"
#include "demo_sites.h"

/* The stages, in order. */
typedef enum stage {
	ST_ETCD,    /* both sites' etcd answer /health */
	ST_CLUSTER, /* site A: one leader, a streaming replica */
	ST_STANDBY, /* site B: a standby leader streaming from A, a streaming replica */
	ST_ROUTE,   /* both HAProxy read-write ports reach site A's leader */
	ST_DB,      /* hellod's role and database exist */
	ST_HELLOD,  /* both hellod answer /readyz */
	ST_SMOKE,   /* --smoke: a PUT and a GET through hellod */
	ST_UP,      /* everything runs; waiting for Ctrl-C */
	ST_STOPPING,
} stage;

typedef struct demo demo;

/* A /patroni request of ST_CLUSTER: which member it asks. */
typedef struct member_probe {
	demo *d;
	int i;
} member_probe;

struct demo {
	demo_setup s;
	uv_loop_t loop;
	demo_procs *procs;
	demo_http *http;
	uv_timer_t tick;
	uv_signal_t sigint, sigterm, sighup;
	stage st;
	uint64_t deadline_ms;
	bool busy; /* a check is in flight */
	demo_proc *etcd[DEMO_SITES], *haproxy[DEMO_SITES], *psql;
	demo_proc *member[DEMO_MEMBERS];
	demo_proc *hellod[DEMO_HELLODS];
	char *hellod_log[DEMO_HELLODS];
	char *haproxy_log[DEMO_SITES], *etcd_log[DEMO_SITES], *psql_log, *psql_out;
	/* Prometheus and Alertmanager (demo_monitor.h), when installed: not needed by the rest */
	demo_monitor mon;
	bool have_mon;
	demo_proc *prometheus, *alertmanager;
	char *prometheus_log, *alertmanager_log;
	int leader;         /* index of site A's leader once seen, else -1 */
	int standby_leader; /* index of site B's standby leader once seen, else -1 */
	int route_site;     /* ST_ROUTE: whose HAProxy is checked */
	/* ST_CLUSTER, ST_STANDBY: the answers of one round (for one site's members) */
	int answers;
	char *role[DEMO_MEMBERS];
	bool streaming[DEMO_MEMBERS];
	bool unlocked[DEMO_MEMBERS];
	member_probe probes[DEMO_MEMBERS];
	int smoke_step;
	char *failed_log; /* the log to show when the demo fails */
	int group;        /* the stop group in progress */
	uint64_t pg_wait_until;
	int pg_pid[DEMO_MEMBERS];
	int rc;
};

/* ---- demo.c ---- */

uint64_t demo_now_ms(demo *d);
/* Reports the failure (with the end of `log`, may be NULL) and stops everything. */
void demo_fail(demo *d, const char *what, const char *log);
void demo_start_stage(demo *d, stage st);
/* Runs psql as the superuser through 127.0.0.1:port (an HAProxy port); its output lands in
 * psql_out. */
void demo_run_psql(demo *d, int port, const char *const sql[], size_t nsql);

/* ---- demo_check.c ---- */

/* Starts the check of the current stage (d->busy while it is in flight). */
void demo_check(demo *d);
/* The log of the component the current stage waits for. */
const char *demo_stage_log(demo *d);
/* psql (from demo_run_psql) ended; `ok`: with status 0. */
void demo_psql_done(demo *d, bool ok);
/* What runs where, and what to try. */
void demo_print_up(demo *d);

/* ---- demo_stop.c ---- */

/* Stops everything in order (hellod, HAProxy, the members, orphaned postmasters, etcd); the
 * demo's exit status will be rc. */
void demo_begin_stop(demo *d, int rc);
/* Moves on to the next group once the current one is down; closes the loop's handles at the
 * end. */
void demo_advance_stop(demo *d);

#endif
