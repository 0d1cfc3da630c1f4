/* tandemctl backup [--type full|diff|incr] [--wait]: asks a member's REST API (POST /backup, the
 * leader's or any member's) for a backup now; the backup runner records the request in the DCS
 * `backup` key and runs it. --wait follows it there until it ends. And the line `list` prints
 * about the cluster's backups. */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup_state.h"
#include "clock.h"
#include "ctl_commands.h"
#include "ctl_table.h"
#include "strbuf.h"

enum { POLL_MS = 1000, UNRECORDED_MS = 60000, PROGRESS_MS = 10000 };

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

/* "2026-12-05 09:52:01 UTC" */
static void utc_text(int64_t ms, char *buf, size_t cap)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static char *run_text(const backup_run *r)
{
	char when[40];
	utc_text(r->end_ms ? r->end_ms : r->start_ms, when, sizeof when);
	const char *type = r->done_type ? r->done_type : backup_type_name(r->type);
	long long secs = r->end_ms ? (long long)(r->end_ms - r->start_ms) / 1000 : 0;
	return xasprintf("%s %s, %s in %lld s on %s%s%s%s", type, r->label ? r->label : "", when,
	                 secs, r->runner ? r->runner : "?",
	                 r->verify == 1   ? ", verify ok"
	                 : r->verify == 0 ? ", VERIFY FAILED"
	                                  : "",
	                 r->error ? ": " : "", r->error ? r->error : "");
}

char *ctl_backup_line(const dcs_view *v)
{
	if (!v->backup)
		return NULL;
	backup_state st;
	if (backup_state_parse(v->backup, strlen(v->backup), &st, NULL) != 0)
		return xstrdup(" Backups: the backup key cannot be read\n");
	strbuf sb = STRBUF_INIT;
	const backup_run *last = NULL;
	for (int t = 0; t < BACKUP_NTYPES; t++)
		if (st.has_last[t] && (!last || st.last[t].end_ms > last->end_ms))
			last = &st.last[t];
	if (last) {
		char *text = run_text(last);
		sb_printf(&sb, " Last backup: %s\n", text);
		free(text);
	} else {
		sb_puts(&sb, " Last backup: none yet\n");
	}
	if (st.has_running) {
		char since[40];
		utc_text(st.running.start_ms, since, sizeof since);
		sb_printf(&sb, " Backup running: %s on %s since %s\n",
		          backup_type_name(st.running.type),
		          st.running.runner ? st.running.runner : "?", since);
	}
	if (st.nhistory &&
	    strcmp(st.history[st.nhistory - 1].status ? st.history[st.nhistory - 1].status : "",
	           "failed") == 0) {
		char *text = run_text(&st.history[st.nhistory - 1]);
		sb_printf(&sb, " Last backup FAILED: %s\n", text);
		free(text);
	}
	if (v->backup_runner)
		sb_printf(&sb, " Backup runner: %s\n", v->backup_runner);
	backup_state_free(&st);
	return sb_steal(&sb);
}

static json_t *run_json(const backup_run *r)
{
	json_t *o = json_object();
	json_object_set_new(o, "type",
	                    json_string(r->done_type ? r->done_type : backup_type_name(r->type)));
	json_object_set_new(o, "label", r->label ? json_string(r->label) : json_null());
	json_object_set_new(o, "runner", r->runner ? json_string(r->runner) : json_null());
	json_object_set_new(o, "start_ms", json_integer(r->start_ms));
	json_object_set_new(o, "end_ms", r->end_ms ? json_integer(r->end_ms) : json_null());
	json_object_set_new(o, "verify", r->verify < 0 ? json_null() : json_boolean(r->verify));
	return o;
}

json_t *ctl_backup_json(const dcs_view *v)
{
	backup_state st;
	if (!v->backup || backup_state_parse(v->backup, strlen(v->backup), &st, NULL) != 0)
		return NULL;
	json_t *o = json_object(), *last = json_object();
	for (int t = 0; t < BACKUP_NTYPES; t++)
		if (st.has_last[t])
			json_object_set_new(last, backup_type_name((backup_type)t),
			                    run_json(&st.last[t]));
	json_object_set_new(o, "last", last);
	json_object_set_new(o, "running", st.has_running ? run_json(&st.running) : json_null());
	json_object_set_new(o, "runner",
	                    v->backup_runner ? json_string(v->backup_runner) : json_null());
	json_object_set_new(o, "failures", json_integer(st.failures));
	backup_state_free(&st);
	return o;
}

/* ---- tandemctl backup ---- */

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

static char *who(void)
{
	char host[256] = "?";
	gethostname(host, sizeof host - 1);
	struct passwd *pw = getpwuid(getuid());
	return xasprintf("tandemctl %s@%s", pw ? pw->pw_name : "?", host);
}

/* Follows request `id` in the backup key until its run ends; prints progress on stderr. */
static int follow(const ctl_opts *o, const ctl_conn *c, const char *id)
{
	uint64_t start = clock_mono_ms(), last_progress = 0;
	bool seen = false;
	char *last_line = NULL;
	signal(SIGINT, on_sigint);
	while (!interrupted) {
		dcs_view v;
		char *err = NULL;
		int rc = ctl_cluster_read(c, (uint64_t)o->timeout_ms, &v, &err);
		if (rc != 0) {
			ctl_printf(stderr, "tandemctl: reading the cluster: %s (retrying)\n", err);
			free(err);
			dcs_view_free(&v);
			sleep_ms(POLL_MS);
			continue;
		}
		backup_state st;
		if (backup_state_parse(v.backup, v.backup ? strlen(v.backup) : 0, &st, NULL) != 0)
			memset(&st, 0, sizeof st);
		const backup_run *r = backup_state_find(&st, id);
		bool queued = false;
		for (size_t i = 0; i < st.nrequests; i++)
			queued = queued || strcmp(st.requests[i].id, id) == 0;
		uint64_t now = clock_mono_ms();
		char *line = NULL;
		if (r && r->status && strcmp(r->status, "running") != 0 &&
		    strcmp(r->status, "interrupted") != 0) {
			char *text = run_text(r);
			bool ok = strcmp(r->status, "ok") == 0;
			if (o->json)
				printf("{\"id\":\"%s\",\"status\":\"%s\",\"label\":\"%s\"}\n", id,
				       r->status, r->label ? r->label : "");
			else
				ctl_printf(ok ? stdout : stderr, "backup %s: %s: %s\n", id,
				           r->status, text);
			free(text);
			backup_state_free(&st);
			dcs_view_free(&v);
			free(last_line);
			return ok ? CTL_EXIT_OK : CTL_EXIT_FAILED;
		}
		if (r) {
			seen = true;
			line = xasprintf("running%s on %s (%s)",
			                 r->reason && !strcmp(r->reason, "rerun") ? " again" : "",
			                 r->runner ? r->runner : "?", backup_type_name(r->type));
		} else if (queued) {
			seen = true;
			line = xasprintf("waiting for the backup runner (%s)",
			                 v.backup_runner ? v.backup_runner : "none yet");
		}
		backup_state_free(&st);
		dcs_view_free(&v);
		if (!line && (seen || now - start > UNRECORDED_MS)) {
			ctl_printf(stderr,
			           "tandemctl: backup %s: %s (the member that took it may have "
			           "stopped; ask again)\n",
			           id, seen ? "no longer in the backup key" : "never recorded");
			free(last_line);
			return CTL_EXIT_FAILED;
		}
		if (line && !o->json &&
		    (!last_line || strcmp(line, last_line) || now - last_progress >= PROGRESS_MS)) {
			ctl_printf(stderr, "backup %s: %s, %llu s\n", id, line,
			           (unsigned long long)(now - start) / 1000);
			last_progress = now;
		}
		if (line) {
			free(last_line);
			last_line = line;
		}
		sleep_ms(POLL_MS);
	}
	free(last_line);
	ctl_printf(stderr, "tandemctl: stopped waiting; backup %s goes on\n", id);
	return CTL_EXIT_FAILED;
}

int ctl_cmd_backup(const ctl_opts *o)
{
	backup_type t;
	if (o->backup_type && backup_type_parse(o->backup_type, &t) != 0) {
		ctl_printf(stderr, "tandemctl: --type '%s': full, diff or incr\n", o->backup_type);
		return CTL_EXIT_USAGE;
	}
	ctl_conn c;
	dcs_view v;
	int rc = ctl_open(o, &c, &v);
	if (rc != CTL_EXIT_OK)
		return rc;
	const dcs_member *m = ctl_target_member(&v, true);
	if (!m) {
		ctl_printf(stderr, "tandemctl: no member of '%s' publishes a REST API\n", c.scope);
		dcs_view_free(&v);
		ctl_conn_free(&c);
		return CTL_EXIT_FAILED;
	}
	json_t *body = json_object();
	if (o->backup_type)
		json_object_set_new(body, "type", json_string(o->backup_type));
	char *by = who();
	json_object_set_new(body, "by", json_string(by));
	free(by);
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	char *answer = NULL;
	long status = 0;
	rc = ctl_member_call(o, &c, m, "POST", "/backup", text, "backup", &answer, &status);
	free(text);
	char *id = NULL;
	if (rc == CTL_EXIT_OK) {
		json_t *j = json_loads(answer, 0, NULL);
		const char *s = json_string_value(json_object_get(j, "id"));
		id = s ? xstrdup(s) : NULL;
		json_decref(j);
		if (!id) {
			ctl_printf(stderr, "tandemctl: %s answered without an id: %s\n", m->name,
			           answer);
			rc = CTL_EXIT_FAILED;
		} else if (!o->wait) {
			if (o->json)
				printf("%s\n", answer);
			else
				ctl_printf(
				    stdout,
				    "backup %s requested from %s (tandemctl list shows it)\n", id,
				    m->name);
		} else if (!o->json) {
			ctl_printf(stderr, "backup %s requested from %s\n", id, m->name);
		}
	}
	free(answer);
	dcs_view_free(&v);
	if (rc == CTL_EXIT_OK && o->wait)
		rc = follow(o, &c, id);
	free(id);
	ctl_conn_free(&c);
	return rc;
}

/* ---- list: the leader's archive, from its /metrics ---- */

/* The value of the sample `name` (any labels) in a /metrics text; false when absent. */
static bool sample(const char *text, const char *name, double *v)
{
	size_t n = strlen(name);
	for (const char *l = text; l && *l;) {
		if (!strncmp(l, name, n) && (l[n] == '{' || l[n] == ' ')) {
			const char *sp = strchr(l, ' ');
			const char *nl = strchr(l, '\n');
			if (sp && (!nl || sp < nl)) {
				char *end;
				*v = strtod(sp + 1, &end);
				if (end != sp + 1)
					return true;
			}
		}
		l = strchr(l, '\n');
		l = l ? l + 1 : NULL;
	}
	return false;
}

char *ctl_archive_line(const ctl_opts *o, const ctl_conn *c, const dcs_view *v, json_t *json)
{
	const dcs_member *m = v->leader ? dcs_view_member(v, v->leader) : NULL;
	char *url = m && m->api_url ? ctl_url_with_path(m->api_url, "/metrics") : NULL;
	if (!url)
		return NULL;
	ctl_http_auth auth = ctl_conn_rest_auth(c);
	auth.username = auth.password = NULL; /* a read */
	ctl_http_answer a;
	char *err = NULL;
	char *line = NULL;
	long t = o->timeout_ms < 5000 ? o->timeout_ms : 5000;
	if (ctl_http_request("GET", url, NULL, &auth, t, &a, &err) == 0) {
		double ready, cont, conflict = 0, last = 0;
		if (a.status == 200 && sample(a.body, "tandem_archive_ready_segments", &ready) &&
		    sample(a.body, "tandem_archive_continuity_ok", &cont)) {
			sample(a.body, "tandem_archive_conflict", &conflict);
			sample(a.body, "tandem_archive_last_success_timestamp_seconds", &last);
			long long ago =
			    last > 0 ? (long long)(clock_unix_ms() / 1000 - (int64_t)last) : -1;
			char *when = ago >= 0 ? xasprintf(", the last %lld s ago", ago)
			                      : xstrdup(", none archived yet");
			line = xasprintf(
			    " Archive: %.0f WAL file%s waiting on %s%s; continuity %s%s\n", ready,
			    ready == 1 ? "" : "s", m->name, when,
			    cont ? "ok" : "BROKEN (tandem_archive_continuity_ok 0)",
			    conflict ? "; exit 45 seen: two primaries archived?" : "");
			free(when);
			json_t *j = json_object();
			json_object_set_new(j, "ready_segments", json_integer((json_int_t)ready));
			json_object_set_new(j, "continuity_ok", json_boolean(cont != 0));
			json_object_set_new(j, "conflict", json_boolean(conflict != 0));
			json_object_set_new(j, "last_archived_seconds_ago",
			                    ago >= 0 ? json_integer(ago) : json_null());
			json_object_set_new(json, "archive", j);
		}
		ctl_http_answer_free(&a);
	}
	free(err);
	free(url);
	return line;
}
