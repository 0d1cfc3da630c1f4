#include "backup_state.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[BACKUP_NTYPES] = {"full", "diff", "incr"};

const char *backup_type_name(backup_type t)
{
	return t < BACKUP_NTYPES ? type_names[t] : "?";
}

int backup_type_parse(const char *text, backup_type *t)
{
	for (int i = 0; text && i < BACKUP_NTYPES; i++)
		if (strcmp(text, type_names[i]) == 0) {
			*t = (backup_type)i;
			return 0;
		}
	return -1;
}

/* ---- reading ---- */

static char *str(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	if (!v)
		return NULL;
	size_t n = strlen(v);
	return xstrndup(v, n > BACKUP_MAX_TEXT ? BACKUP_MAX_TEXT : n);
}

static int64_t num(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static int type_of(json_t *o, const char *k, backup_type *t)
{
	return backup_type_parse(json_string_value(json_object_get(o, k)), t);
}

static int read_run(json_t *o, backup_run *r)
{
	memset(r, 0, sizeof *r);
	r->verify = -1;
	if (!json_is_object(o) || type_of(o, "type", &r->type) != 0)
		return -1;
	r->id = str(o, "id");
	r->done_type = str(o, "done_type");
	r->runner = str(o, "runner");
	r->reason = str(o, "reason");
	r->request = str(o, "request");
	r->start_ms = num(o, "start");
	r->end_ms = num(o, "end");
	r->status = str(o, "status");
	r->label = str(o, "label");
	r->error = str(o, "error");
	json_t *v = json_object_get(o, "verify");
	r->verify = json_is_boolean(v) ? json_is_true(v) : -1;
	return 0;
}

static void read_requests(json_t *a, backup_state *s)
{
	size_t i;
	json_t *o;
	json_array_foreach(a, i, o)
	{
		backup_type t;
		char *id = str(o, "id");
		if (id && type_of(o, "type", &t) == 0) {
			char *by = str(o, "by");
			backup_state_add_request(s, id, t, num(o, "at"), by);
			free(by);
		}
		free(id);
	}
}

static void read_history(json_t *a, backup_state *s)
{
	size_t n = json_array_size(a), from = n > BACKUP_MAX_HISTORY ? n - BACKUP_MAX_HISTORY : 0;
	for (size_t i = from; i < n; i++)
		if (read_run(json_array_get(a, i), &s->history[s->nhistory]) == 0)
			s->nhistory++;
		else
			backup_run_free(&s->history[s->nhistory]);
}

int backup_state_parse(const char *text, size_t len, backup_state *out, char **err)
{
	memset(out, 0, sizeof *out);
	if (!text)
		return 0;
	json_error_t je;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(j)) {
		err_set(err, "backup: not a JSON object%s%s", j ? "" : ": ", j ? "" : je.text);
		json_decref(j);
		return -1;
	}
	read_requests(json_object_get(j, "requests"), out);
	json_t *f = json_object_get(j, "fired");
	for (int t = 0; t < BACKUP_NTYPES; t++)
		out->fired_s[t] = num(f, type_names[t]);
	if (read_run(json_object_get(j, "running"), &out->running) == 0)
		out->has_running = true;
	else
		backup_run_free(&out->running);
	json_t *last = json_object_get(j, "last");
	for (int t = 0; t < BACKUP_NTYPES; t++) {
		if (read_run(json_object_get(last, type_names[t]), &out->last[t]) == 0)
			out->has_last[t] = true;
		else
			backup_run_free(&out->last[t]);
	}
	read_history(json_object_get(j, "history"), out);
	out->failures = num(j, "failures");
	json_t *p = json_object_get(j, "primary");
	out->primary.member = str(p, "member");
	out->primary.host = str(p, "host");
	out->primary.data_dir = str(p, "data_dir");
	out->primary.port = str(p, "port");
	out->primary.socket_dir = str(p, "socket_dir");
	out->primary.tls_host = str(p, "tls_host");
	out->primary.tls_port = str(p, "tls_port");
	json_decref(j);
	return 0;
}

/* ---- writing ---- */

static void put_str(json_t *o, const char *k, const char *v)
{
	if (v)
		json_object_set_new(o, k, json_string(v));
}

static json_t *run_json(const backup_run *r)
{
	json_t *o = json_object();
	put_str(o, "id", r->id);
	put_str(o, "type", backup_type_name(r->type));
	put_str(o, "done_type", r->done_type);
	put_str(o, "runner", r->runner);
	put_str(o, "reason", r->reason);
	put_str(o, "request", r->request);
	json_object_set_new(o, "start", json_integer(r->start_ms));
	if (r->end_ms)
		json_object_set_new(o, "end", json_integer(r->end_ms));
	put_str(o, "status", r->status);
	put_str(o, "label", r->label);
	put_str(o, "error", r->error);
	if (r->verify >= 0)
		json_object_set_new(o, "verify", json_boolean(r->verify));
	return o;
}

char *backup_state_encode(const backup_state *s)
{
	json_t *j = json_object(), *req = json_array(), *fired = json_object();
	for (size_t i = 0; i < s->nrequests; i++) {
		const backup_request *r = &s->requests[i];
		json_t *o = json_object();
		put_str(o, "id", r->id);
		put_str(o, "type", backup_type_name(r->type));
		json_object_set_new(o, "at", json_integer(r->at_ms));
		put_str(o, "by", r->by);
		json_array_append_new(req, o);
	}
	json_object_set_new(j, "requests", req);
	for (int t = 0; t < BACKUP_NTYPES; t++)
		if (s->fired_s[t])
			json_object_set_new(fired, type_names[t], json_integer(s->fired_s[t]));
	json_object_set_new(j, "fired", fired);
	if (s->has_running)
		json_object_set_new(j, "running", run_json(&s->running));
	json_t *last = json_object();
	for (int t = 0; t < BACKUP_NTYPES; t++)
		if (s->has_last[t])
			json_object_set_new(last, type_names[t], run_json(&s->last[t]));
	json_object_set_new(j, "last", last);
	json_t *h = json_array();
	for (size_t i = 0; i < s->nhistory; i++)
		json_array_append_new(h, run_json(&s->history[i]));
	json_object_set_new(j, "history", h);
	json_object_set_new(j, "failures", json_integer(s->failures));
	if (s->primary.member) {
		json_t *p = json_object();
		put_str(p, "member", s->primary.member);
		put_str(p, "host", s->primary.host);
		put_str(p, "data_dir", s->primary.data_dir);
		put_str(p, "port", s->primary.port);
		put_str(p, "socket_dir", s->primary.socket_dir);
		put_str(p, "tls_host", s->primary.tls_host);
		put_str(p, "tls_port", s->primary.tls_port);
		json_object_set_new(j, "primary", p);
	}
	char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	return text;
}

/* ---- changing ---- */

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void backup_run_copy(backup_run *dst, const backup_run *src)
{
	*dst = *src;
	dst->id = dup_or_null(src->id);
	dst->done_type = dup_or_null(src->done_type);
	dst->runner = dup_or_null(src->runner);
	dst->reason = dup_or_null(src->reason);
	dst->request = dup_or_null(src->request);
	dst->status = dup_or_null(src->status);
	dst->label = dup_or_null(src->label);
	dst->error = dup_or_null(src->error);
}

void backup_run_free(backup_run *r)
{
	free(r->id);
	free(r->done_type);
	free(r->runner);
	free(r->reason);
	free(r->request);
	free(r->status);
	free(r->label);
	free(r->error);
	memset(r, 0, sizeof *r);
	r->verify = -1;
}

static void request_free(backup_request *r)
{
	free(r->id);
	free(r->by);
}

void backup_state_free(backup_state *s)
{
	for (size_t i = 0; i < s->nrequests; i++)
		request_free(&s->requests[i]);
	backup_run_free(&s->running);
	for (int t = 0; t < BACKUP_NTYPES; t++)
		backup_run_free(&s->last[t]);
	for (size_t i = 0; i < s->nhistory; i++)
		backup_run_free(&s->history[i]);
	free(s->primary.member);
	free(s->primary.host);
	free(s->primary.data_dir);
	free(s->primary.port);
	free(s->primary.socket_dir);
	free(s->primary.tls_host);
	free(s->primary.tls_port);
	memset(s, 0, sizeof *s);
}

void backup_state_add_request(backup_state *s, const char *id, backup_type type, int64_t at_ms,
                              const char *by)
{
	if (s->nrequests == BACKUP_MAX_REQUESTS) {
		request_free(&s->requests[0]);
		memmove(s->requests, s->requests + 1, (s->nrequests - 1) * sizeof *s->requests);
		s->nrequests--;
	}
	s->requests[s->nrequests++] =
	    (backup_request){xstrdup(id), type, at_ms, by ? xstrdup(by) : NULL};
}

void backup_state_drop_request(backup_state *s, const char *id)
{
	for (size_t i = 0; id && i < s->nrequests; i++)
		if (strcmp(s->requests[i].id, id) == 0) {
			request_free(&s->requests[i]);
			memmove(s->requests + i, s->requests + i + 1,
			        (s->nrequests - i - 1) * sizeof *s->requests);
			s->nrequests--;
			return;
		}
}

static bool same(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

void backup_state_finish(backup_state *s, const backup_run *r)
{
	if (s->nhistory == BACKUP_MAX_HISTORY) {
		backup_run_free(&s->history[0]);
		memmove(s->history, s->history + 1, (s->nhistory - 1) * sizeof *s->history);
		s->nhistory--;
	}
	backup_run_copy(&s->history[s->nhistory++], r);
	bool ok = same(r->status, "ok");
	if (ok) {
		backup_type t = r->type;
		if (r->done_type)
			(void)backup_type_parse(r->done_type, &t);
		backup_run_free(&s->last[t]);
		backup_run_copy(&s->last[t], r);
		s->has_last[t] = true;
	} else if (same(r->status, "failed")) {
		s->failures++;
	}
	if (s->has_running && same(s->running.id, r->id)) {
		backup_run_free(&s->running);
		s->has_running = false;
	}
}

const backup_run *backup_state_find(const backup_state *s, const char *id)
{
	if (s->has_running && (same(s->running.id, id) || same(s->running.request, id)))
		return &s->running;
	for (size_t i = s->nhistory; i-- > 0;)
		if (same(s->history[i].id, id) || same(s->history[i].request, id))
			return &s->history[i];
	return NULL;
}

int backup_state_verify(const backup_state *s)
{
	for (size_t i = s->nhistory; i-- > 0;)
		if (s->history[i].verify >= 0)
			return s->history[i].verify;
	return -1;
}
