/* `tandemctl remove MEMBER`: a member taken out of the cluster for good. The rule is that the
 * member must already be stopped: a running tandemd rewrites its member key on every loop and
 * the leader keeps a slot for every member key, so only the member's host can make it leave (its
 * service manager stops it, and keeps it stopped). tandemctl then refuses the leader, checks
 * that the member's REST API no longer answers, deletes its member key (and a pending failover
 * that names it), waits until the leader's own view has dropped it (from then on the leader
 * neither re-creates its slot nor lists it in the sync key: its sync rules pick among the
 * members left), and drops its replication slot on the leader's PostgreSQL. In synchronous strict
 * mode, taking away the last replica is refused without --force: writes would block. */
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "ctl_commands.h"
#include "ctl_table.h"

enum { POLL_MS = 200 };

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

static bool listed(char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (names[i] && !strcmp(names[i], name))
			return true;
	return false;
}

/* Why `name` may not be removed (heap), or NULL. */
static char *remove_problem(const ctl_opts *o, const ctl_conn *c, const dcs_view *v,
                            const char *name)
{
	const dcs_member *m = dcs_view_member(v, name);
	if (v->leader && !strcmp(v->leader, name))
		return xasprintf("%s is the leader; switch over first (tandemctl switchover "
		                 "--candidate OTHER), then remove it",
		                 name);
	if (!v->leader)
		return xstrdup("the cluster has no leader to drop the member's slot");
	if (m && m->api_url) {
		json_t *j = ctl_member_get_json(o, c, m, "/patroni", 3000);
		json_decref(j);
		if (j)
			return xasprintf(
			    "%s's tandemd still runs (its REST API answers at %s): stop "
			    "it on its host first (systemctl stop tandemd@...), then remove "
			    "it",
			    name, m->api_url);
	}
	size_t others = 0;
	for (size_t i = 0; i < v->nmembers; i++)
		others += strcmp(v->members[i].name, name) && strcmp(v->members[i].name, v->leader);
	if (others == 0 && v->has_config && v->config.synchronous_mode_strict && !o->force)
		return xasprintf(
		    "the cluster is in synchronous_mode_strict and %s is its last "
		    "replica: writes block until another replica streams; add a member "
		    "first, or give --force",
		    name);
	return NULL;
}

/* Whether the leader's own view (its /cluster) still has `name`, or the sync key lists it. */
static bool leader_still_has(const ctl_opts *o, const ctl_conn *c, const char *name)
{
	dcs_view v;
	char *err = NULL;
	bool has = true;
	if (ctl_cluster_read(c, 3000, &v, &err) == 0 && v.leader &&
	    !listed(v.sync_standby, v.nsync_standby, name)) {
		const dcs_member *l = dcs_view_member(&v, v.leader);
		json_t *j = l ? ctl_member_get_json(o, c, l, "/cluster", 3000) : NULL;
		json_t *members = json_object_get(j, "members");
		if (json_is_array(members)) {
			has = false;
			size_t i;
			json_t *e;
			json_array_foreach(members, i, e)
			{
				const char *n = json_string_value(json_object_get(e, "name"));
				has = has || (n && !strcmp(n, name));
			}
		}
		json_decref(j);
	}
	free(err);
	dcs_view_free(&v);
	return has;
}

/* Drops `name`'s slot on the leader's PostgreSQL: "dropped", "none" (there was none), or NULL
 * with *why (heap). */
static const char *drop_slot(const ctl_opts *o, const ctl_conn *c, const char *name, char **why)
{
	dcs_view v;
	char *err = NULL;
	const char *done = NULL;
	if (ctl_cluster_read(c, (uint64_t)o->timeout_ms, &v, &err) != 0) {
		*why = xasprintf("reading the cluster: %s", err);
		free(err);
		return NULL;
	}
	const dcs_member *l = v.leader ? dcs_view_member(&v, v.leader) : NULL;
	char *slot = dcs_slot_name(name);
	PGconn *pg = l && l->conn_url ? ctl_connect_pg(o, l) : NULL;
	if (!pg || PQstatus(pg) != CONNECTION_OK) {
		*why = xasprintf("cannot connect to the leader's PostgreSQL: %s",
		                 pg ? PQerrorMessage(pg) : "the leader has no conn_url");
	} else {
		const char *params[] = {slot};
		PGresult *r = PQexecParams(
		    pg,
		    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
		    "WHERE slot_name = $1 AND slot_type = 'physical' AND NOT active",
		    1, NULL, params, NULL, NULL, 0);
		PGresult *still = PQexecParams(
		    pg, "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1", 1, NULL,
		    params, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK ||
		    PQresultStatus(still) != PGRES_TUPLES_OK)
			*why = xasprintf("dropping slot %s on %s: %s", slot, l->name,
			                 PQerrorMessage(pg));
		else if (PQntuples(still) > 0)
			*why =
			    xasprintf("slot %s on %s is in use (walsender pid %s): %s's PostgreSQL "
			              "still streams; stop it and run remove again",
			              slot, l->name, PQgetvalue(still, 0, 0), name);
		else
			done = PQntuples(r) > 0 ? "dropped" : "none";
		PQclear(r);
		PQclear(still);
	}
	PQfinish(pg);
	free(slot);
	dcs_view_free(&v);
	return done;
}

/* Deletes the member key and a failover key that names the member. */
static int delete_keys(const ctl_opts *o, const ctl_conn *c, const dcs_view *v, const char *name)
{
	char *key = xasprintf("members/%s", name);
	char *err = NULL;
	int rc = CTL_EXIT_OK;
	if (dcs_view_member(v, name) &&
	    ctl_cluster_delete(c, key, (uint64_t)o->timeout_ms, &err) != 0) {
		ctl_printf(stderr, "tandemctl: deleting %s: %s\n", key, err);
		rc = CTL_EXIT_UNREACHABLE;
	}
	bool failover =
	    v->has_failover && ((v->failover_candidate && !strcmp(v->failover_candidate, name)) ||
	                        (v->failover_leader && !strcmp(v->failover_leader, name)));
	if (rc == CTL_EXIT_OK && failover &&
	    ctl_cluster_delete(c, "failover", (uint64_t)o->timeout_ms, &err) != 0) {
		ctl_printf(stderr, "tandemctl: deleting the failover key: %s\n", err);
		rc = CTL_EXIT_UNREACHABLE;
	}
	if (rc == CTL_EXIT_OK && !o->json)
		ctl_printf(stdout, "%s: member key deleted%s\n", name,
		           failover ? ", and the pending failover that named it" : "");
	free(err);
	free(key);
	return rc;
}

static int carry_out(const ctl_opts *o, const ctl_conn *c, const dcs_view *v, const char *name)
{
	int rc = delete_keys(o, c, v, name);
	if (rc != CTL_EXIT_OK)
		return rc;
	uint64_t deadline = clock_mono_ms() + (uint64_t)o->timeout_ms;
	bool gone;
	while (!(gone = !leader_still_has(o, c, name)) && clock_mono_ms() < deadline)
		sleep_ms(POLL_MS);
	if (!gone) {
		ctl_printf(stderr,
		           "tandemctl: the leader still lists %s (its /cluster or the sync key) "
		           "after %.0f s: is its tandemd really stopped? Its slot was left alone\n",
		           name, (double)o->timeout_ms / 1000);
		return CTL_EXIT_FAILED;
	}
	char *why = NULL;
	const char *slot = drop_slot(o, c, name, &why);
	if (!slot) {
		ctl_printf(stderr, "tandemctl: %s\n", why);
		free(why);
		return CTL_EXIT_FAILED;
	}
	/* A stopped member's key may have expired already: then its slot is what is left. */
	if (!strcmp(slot, "none") && !dcs_view_member(v, name) &&
	    !listed(v->sync_standby, v->nsync_standby, name)) {
		ctl_printf(stderr,
		           "tandemctl: remove: cluster '%s' has no member named '%s' (no member "
		           "key, no slot on the leader)\n",
		           c->scope, name);
		return CTL_EXIT_FAILED;
	}
	if (o->json) {
		json_t *j = json_object();
		json_object_set_new(j, "member", json_string(name));
		json_object_set_new(j, "removed", json_true());
		json_object_set_new(j, "slot", json_string(slot));
		ctl_print_json(j);
	} else {
		ctl_printf(stdout,
		           "%s: gone from the leader's view and the sync key; replication slot %s\n"
		           "Removed %s from cluster '%s'\n",
		           name, slot, name, c->scope);
	}
	return CTL_EXIT_OK;
}

int ctl_cmd_remove(const ctl_opts *o)
{
	if (o->nargs != 1) {
		ctl_printf(stderr, "tandemctl: remove: name one member\n");
		return CTL_EXIT_USAGE;
	}
	const char *name = o->args[0];
	ctl_conn c;
	dcs_view v;
	int rc = ctl_start(o, "remove", true, &c, &v);
	if (rc != CTL_EXIT_OK)
		return rc;
	char *why = remove_problem(o, &c, &v, name);
	if (why) {
		ctl_printf(stderr, "tandemctl: remove refused: %s\n", why);
		free(why);
		rc = CTL_EXIT_FAILED;
		goto out;
	}
	if (v.has_config && v.config.synchronous_mode &&
	    listed(v.sync_standby, v.nsync_standby, name) && !o->json)
		ctl_printf(stderr,
		           "tandemctl: note: %s is listed as a synchronous standby; the leader "
		           "picks another among the members left\n",
		           name);
	if (ctl_confirmed(o, xasprintf("Remove %s from cluster '%s' (its member key and its slot "
	                               "on the leader %s)?",
	                               name, c.scope, v.leader)))
		rc = carry_out(o, &c, &v, name);
	else
		rc = CTL_EXIT_FAILED;
out:
	dcs_view_free(&v);
	ctl_conn_free(&c);
	return rc;
}
