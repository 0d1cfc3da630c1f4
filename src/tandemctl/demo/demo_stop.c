/* Stopping the demo in order. See demo_priv.h. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "demo_priv.h"

/* Stop order: each group is stopped (SIGTERM, SIGKILL after the grace) once the one before has
 * exited. */
enum { G_HELLOD, G_HAPROXY, G_MEMBERS, G_POSTGRES, G_ETCD, G_DONE };

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
	d->pg_wait_until = demo_now_ms(d) + 20000;
}

static bool group_done(demo *d, int g)
{
	switch (g) {
	case G_HELLOD:
		for (int i = 0; i < DEMO_HELLODS; i++)
			if (d->hellod[i] && demo_proc_running(d->hellod[i]))
				return false;
		if ((d->prometheus && demo_proc_running(d->prometheus)) ||
		    (d->alertmanager && demo_proc_running(d->alertmanager)))
			return false;
		return !d->psql;
	case G_HAPROXY:
		for (int k = 0; k < DEMO_SITES; k++)
			if (d->haproxy[k] && demo_proc_running(d->haproxy[k]))
				return false;
		return true;
	case G_MEMBERS:
		for (int i = 0; i < DEMO_MEMBERS; i++)
			if (d->member[i] && demo_proc_running(d->member[i]))
				return false;
		return true;
	case G_POSTGRES:
		for (int i = 0; i < DEMO_MEMBERS; i++)
			if (alive(d->pg_pid[i])) {
				if (demo_now_ms(d) < d->pg_wait_until)
					return false;
				kill(d->pg_pid[i], SIGKILL);
			}
		return true;
	case G_ETCD:
		for (int k = 0; k < DEMO_SITES; k++)
			if (d->etcd[k] && demo_proc_running(d->etcd[k]))
				return false;
		return true;
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
		if (d->prometheus)
			demo_proc_stop(d->prometheus, 10000);
		if (d->alertmanager)
			demo_proc_stop(d->alertmanager, 10000);
		break;
	case G_HAPROXY:
		for (int k = 0; k < DEMO_SITES; k++)
			if (d->haproxy[k])
				demo_proc_stop(d->haproxy[k], 5000);
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
		for (int k = 0; k < DEMO_SITES; k++)
			if (d->etcd[k])
				demo_proc_stop(d->etcd[k], 10000);
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

void demo_advance_stop(demo *d)
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

void demo_begin_stop(demo *d, int rc)
{
	if (d->st == ST_STOPPING)
		return;
	d->st = ST_STOPPING;
	d->rc = rc;
	printf("demo: stopping (hellod and Prometheus, HAProxy, the members, etcd)\n");
	fflush(stdout);
	d->group = G_HELLOD;
	stop_group(d, G_HELLOD);
	/* the tick timer moves on from a group once it is down (an exit also does) */
}
