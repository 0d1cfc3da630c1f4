/* tandemctl drill: a restore drill on a member (docs/backup.md, "Restore drills"), and the
 * cluster's last drill as list shows it. The member runs it (POST /drill); with --wait tandemctl
 * follows it (GET /drill) and prints the result. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "ctl_commands.h"
#include "ctl_http.h"
#include "ctl_table.h"
#include "dcs_drill.h"

enum { DRILL_POLL_MS = 1000 };

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

static char *when(int64_t unix_ms)
{
	time_t t = (time_t)(unix_ms / 1000);
	struct tm tm;
	char buf[32];
	if (!gmtime_r(&t, &tm) || !strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm))
		return xstrdup("?");
	return xstrdup(buf);
}

/* "passed, RTO 8.1 s, 5 tables" or "FAILED: reason". */
static char *outcome_text(const dcs_drill *d)
{
	if (!d->ok)
		return xasprintf("FAILED: %s", d->reason ? d->reason : "(no reason)");
	return xasprintf("passed, RTO %.1f s, %lld tables in %lld databases (%lld written "
	                 "meanwhile)",
	                 (double)d->rto_ms / 1e3, (long long)d->tables, (long long)d->databases,
	                 (long long)d->busy_tables);
}

char *ctl_drill_line(const char *raw)
{
	dcs_drill d;
	char *err = NULL;
	if (dcs_drill_decode(raw, &d, &err) != 0) {
		char *line = xasprintf(" Last drill: unreadable (%s)\n", err);
		free(err);
		return line;
	}
	char *at = when(d.finished_unix_ms), *what = outcome_text(&d);
	char *line = xasprintf(" Last drill: %s on %s: %s\n", at, d.member ? d.member : "?", what);
	free(at);
	free(what);
	dcs_drill_free(&d);
	return line;
}

json_t *ctl_drill_json(const char *raw)
{
	json_t *j = raw ? json_loads(raw, 0, NULL) : NULL;
	return json_is_object(j) ? j : (json_decref(j), json_null());
}

/* A running replica with a REST API, the least behind; else the leader. */
static const dcs_member *pick_member(const dcs_view *v)
{
	const dcs_member *best = NULL;
	for (size_t i = 0; i < v->nmembers; i++) {
		const dcs_member *m = &v->members[i];
		bool leader = v->leader && strcmp(v->leader, m->name) == 0;
		if (leader || !m->api_url || !m->state || strcmp(m->state, "running") != 0)
			continue;
		if (!best ||
		    (m->has_lsn && (!best->has_lsn || m->xlog_location > best->xlog_location)))
			best = m;
	}
	return best ? best : ctl_target_member(v, false);
}

/* Polls GET /drill until the drill `id` has a result; CTL_EXIT_* and the result's JSON. */
static int wait_result(const ctl_opts *o, const ctl_conn *c, const dcs_member *m, const char *id,
                       json_t **result)
{
	uint64_t last_answer = clock_mono_ms();
	*result = NULL;
	for (;;) {
		char *answer = NULL;
		long status = 0;
		int rc = ctl_member_call(o, c, m, "GET", "/drill", NULL, "drill", &answer, &status);
		json_t *j = rc == CTL_EXIT_OK ? json_loads(answer, 0, NULL) : NULL;
		free(answer);
		if (j) {
			last_answer = clock_mono_ms();
			json_t *last = json_object_get(j, "last");
			json_t *lid = json_object_get(last, "id");
			if (!json_is_true(json_object_get(j, "running")) && json_is_string(lid) &&
			    strcmp(json_string_value(lid), id) == 0) {
				*result = json_incref(last);
				json_decref(j);
				return CTL_EXIT_OK;
			}
			if (!json_is_true(json_object_get(j, "running"))) {
				json_decref(j);
				ctl_printf(stderr,
				           "tandemctl: %s no longer runs drill %s and has no "
				           "result for it (was tandemd restarted?)\n",
				           m->name, id);
				return CTL_EXIT_FAILED;
			}
			json_decref(j);
		} else if (clock_mono_ms() - last_answer > (uint64_t)o->timeout_ms) {
			return CTL_EXIT_UNREACHABLE;
		}
		sleep_ms(DRILL_POLL_MS);
	}
}

static int print_result(const ctl_opts *o, const char *member, json_t *result)
{
	char *raw = json_dumps(result, JSON_COMPACT);
	dcs_drill d;
	char *err = NULL;
	int rc = dcs_drill_decode(raw, &d, &err);
	free(raw);
	if (rc != 0) {
		ctl_printf(stderr, "tandemctl: %s answered an unreadable drill result: %s\n",
		           member, err);
		free(err);
		json_decref(result);
		return CTL_EXIT_FAILED;
	}
	bool ok = d.ok;
	if (o->json) {
		ctl_print_json(result);
	} else {
		json_decref(result);
		char *what = outcome_text(&d);
		ctl_printf(stdout, "Drill %s on %s: %s (%.1f s in all)\n", d.id, member, what,
		           (double)(d.finished_unix_ms - d.started_unix_ms) / 1e3);
		free(what);
	}
	dcs_drill_free(&d);
	return ok ? CTL_EXIT_OK : CTL_EXIT_FAILED;
}

static int drill_body(const ctl_opts *o, const ctl_conn *c, const dcs_view *v)
{
	const dcs_member *m = o->nargs ? dcs_view_member(v, o->args[0]) : pick_member(v);
	if (!m) {
		if (o->nargs)
			ctl_printf(stderr, "tandemctl: no member '%s' in cluster '%s'\n",
			           o->args[0], c->scope);
		else
			ctl_printf(stderr,
			           "tandemctl: no member with a REST API to run the drill\n");
		return CTL_EXIT_FAILED;
	}
	char *answer = NULL;
	long status = 0;
	int rc = ctl_member_call(o, c, m, "POST", "/drill", NULL, "drill", &answer, &status);
	if (rc != CTL_EXIT_OK)
		return rc;
	json_t *j = json_loads(answer, 0, NULL);
	free(answer);
	const char *id = json_string_value(json_object_get(j, "id"));
	if (!id) {
		json_decref(j);
		ctl_printf(stderr, "tandemctl: %s started a drill but did not say which\n",
		           m->name);
		return CTL_EXIT_FAILED;
	}
	if (!o->wait) {
		if (o->json)
			ctl_print_json(json_pack("{s:s, s:s}", "member", m->name, "id", id));
		else
			ctl_printf(stdout,
			           "Drill %s started on %s (tandemctl drill --wait follows it)\n",
			           id, m->name);
		json_decref(j);
		return CTL_EXIT_OK;
	}
	if (!o->json)
		ctl_printf(stderr, "Drill %s started on %s: restoring the latest backup...\n", id,
		           m->name);
	json_t *result = NULL;
	rc = wait_result(o, c, m, id, &result);
	json_decref(j);
	return rc == CTL_EXIT_OK ? print_result(o, m->name, result) : rc;
}

int ctl_cmd_drill(const ctl_opts *o)
{
	if (o->nargs > 1) {
		ctl_printf(stderr, "tandemctl: drill takes at most one member\n");
		return CTL_EXIT_USAGE;
	}
	ctl_conn c;
	dcs_view v;
	int rc = ctl_open(o, &c, &v);
	if (rc != CTL_EXIT_OK)
		return rc;
	rc = drill_body(o, &c, &v);
	dcs_view_free(&v);
	ctl_conn_free(&c);
	return rc;
}
