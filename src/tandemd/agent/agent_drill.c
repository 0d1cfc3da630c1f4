/* Restore drills on this member (docs/backup.md, "Restore drills"): one at a time, started by
 * POST /drill (and by whoever schedules them), run by drill_run.h; the result goes to the DCS
 * `drill` key (dcs_drill.h), where every member's metrics and tandemctl list read it. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "agent_priv.h"
#include "backup_options.h"
#include "clock.h"
#include "dcs_drill.h"
#include "drill.h"
#include "drill_run.h"
#include "log.h"

struct agent_drill {
	drill_run *run;
	char *id;
	int64_t started_unix_ms;
	char *last; /* this member's last result (dcs_drill JSON); NULL: none since start */
};

static int new_id(char out[DRILL_ID_LEN + 1], char **err)
{
	unsigned char raw[DRILL_ID_LEN / 2];
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
		err_set(err, "getrandom: %s", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

static void on_put(dcs_result r, const char *error, void *ud)
{
	(void)ud;
	if (r != DCS_OK)
		log_warning("drill: the result was not written to the DCS: %s",
		            error ? error : dcs_result_name(r));
}

static void on_done(const drill_outcome *o, void *ud)
{
	agent *a = ud;
	agent_drill *ad = a->drill;
	dcs_drill prev = {0};
	const dcs_view *v = dcs_get_view(a->dcs);
	char *err = NULL;
	if (v->drill && dcs_drill_decode(v->drill, &prev, &err) != 0) {
		log_warning("drill: the DCS drill key is unreadable (%s): its history restarts",
		            err);
		free(err);
	}
	int64_t now = clock_unix_ms();
	dcs_drill d = {.id = ad->id,
	               .member = (char *)a->s->name,
	               .ok = o->ok,
	               .reason = (char *)o->reason,
	               .started_unix_ms = ad->started_unix_ms,
	               .finished_unix_ms = now,
	               .rto_ms = (int64_t)o->rto_ms,
	               .tables = o->tables,
	               .busy_tables = o->busy_tables,
	               .databases = o->databases,
	               .last_success_unix_ms = o->ok ? now : prev.last_success_unix_ms,
	               .failures = prev.failures + !o->ok};
	dcs_drill_free(&prev);
	free(ad->last);
	ad->last = dcs_drill_encode(&d);
	dcs_put_key(a->dcs, "drill", ad->last, on_put, a);
	drill_run_free(ad->run);
	ad->run = NULL;
}

int agent_drill_start(agent *a, char **id, unsigned *status, char **err)
{
	*status = 409;
	if (!tandemd_backup_on(a->s)) {
		err_set(err, "backups are off: backup.pgbackrest names no repository");
		return -1;
	}
	if (!a->drill)
		a->drill = xcalloc(1, sizeof *a->drill);
	agent_drill *ad = a->drill;
	if (ad->run) {
		err_set(err, "a drill runs already on this member (%s, %s)", ad->id,
		        drill_run_step(ad->run));
		return -1;
	}
	const dcs_view *v = dcs_get_view(a->dcs);
	pgctl_upstream *u = v->leader ? agent_upstream_of(a, v->leader, false) : NULL;
	if (!u) {
		*status = 503;
		err_set(err, "no leader to write the drill's marker on (or its member key has no "
		             "conn_url)");
		return -1;
	}
	char idbuf[DRILL_ID_LEN + 1];
	int rc = new_id(idbuf, err);
	if (rc == 0) {
		drill_run_opts o = {.loop = a->loop,
		                    .s = a->s,
		                    .id = idbuf,
		                    .member = a->s->name,
		                    .leader_host = u->host,
		                    .leader_port = u->port,
		                    .user = a->su_user,
		                    .passfile = a->passfile,
		                    .done = on_done,
		                    .ud = a};
		ad->run = drill_run_start(&o, err);
		rc = ad->run ? 0 : -1;
	}
	agent_upstream_free(u);
	if (rc != 0) {
		*status = 500;
		return -1;
	}
	free(ad->id);
	ad->id = xstrdup(idbuf);
	ad->started_unix_ms = clock_unix_ms();
	*id = xstrdup(idbuf);
	return 0;
}

const char *agent_drill_step(const agent *a)
{
	return a->drill && a->drill->run ? drill_run_step(a->drill->run) : NULL;
}

char *agent_drill_json(const agent *a)
{
	const agent_drill *ad = a->drill;
	json_t *j = json_object();
	bool running = ad && ad->run;
	json_object_set_new(j, "running", json_boolean(running));
	if (running) {
		json_object_set_new(j, "id", json_string(ad->id));
		json_object_set_new(j, "step", json_string(drill_run_step(ad->run)));
		json_object_set_new(j, "started_unix_ms", json_integer(ad->started_unix_ms));
	}
	json_t *last = ad && ad->last ? json_loads(ad->last, 0, NULL) : NULL;
	json_object_set_new(j, "last", last ? last : json_null());
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	char *out = xstrdup(s ? s : "{}");
	free(s);
	return out;
}

void agent_drill_free(agent *a)
{
	if (!a->drill)
		return;
	drill_run_free(a->drill->run);
	free(a->drill->id);
	free(a->drill->last);
	free(a->drill);
	a->drill = NULL;
}
