#include "dcs_drill.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

char *dcs_drill_encode(const dcs_drill *d)
{
	json_t *j = json_object();
	json_object_set_new(j, "id", json_string(d->id ? d->id : ""));
	json_object_set_new(j, "member", json_string(d->member ? d->member : ""));
	json_object_set_new(j, "ok", json_boolean(d->ok));
	json_object_set_new(j, "reason", json_string(d->reason ? d->reason : ""));
	json_object_set_new(j, "started_unix_ms", json_integer(d->started_unix_ms));
	json_object_set_new(j, "finished_unix_ms", json_integer(d->finished_unix_ms));
	json_object_set_new(j, "rto_ms", json_integer(d->rto_ms));
	json_object_set_new(j, "tables", json_integer(d->tables));
	json_object_set_new(j, "busy_tables", json_integer(d->busy_tables));
	json_object_set_new(j, "databases", json_integer(d->databases));
	json_object_set_new(j, "last_success_unix_ms", json_integer(d->last_success_unix_ms));
	json_object_set_new(j, "failures", json_integer(d->failures));
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	char *out = xstrdup(s ? s : "{}");
	free(s);
	return out;
}

static int text_field(json_t *j, const char *k, char **out, char **err)
{
	json_t *v = json_object_get(j, k);
	if (!v)
		return 0;
	if (!json_is_string(v) || json_string_length(v) > DCS_DRILL_MAX_TEXT ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		err_set(err, "drill: %s is not a string of at most %d bytes", k,
		        DCS_DRILL_MAX_TEXT);
		return -1;
	}
	*out = xstrdup(json_string_value(v));
	return 0;
}

static int int_field(json_t *j, const char *k, int64_t *out, char **err)
{
	json_t *v = json_object_get(j, k);
	if (!v)
		return 0;
	/* Within 2^53, so that every JSON reader agrees on the number. */
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > 9007199254740991LL) {
		err_set(err, "drill: %s is not an integer from 0 to 2^53", k);
		return -1;
	}
	*out = (int64_t)json_integer_value(v);
	return 0;
}

int dcs_drill_decode(const char *text, dcs_drill *out, char **err)
{
	memset(out, 0, sizeof *out);
	json_error_t je;
	json_t *j = json_loads(text ? text : "", JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(j)) {
		err_set(err, "drill: not a JSON object");
		json_decref(j);
		return -1;
	}
	json_t *ok = json_object_get(j, "ok");
	int rc = 0;
	if (ok && !json_is_boolean(ok)) {
		err_set(err, "drill: ok is not a boolean");
		rc = -1;
	}
	out->ok = json_is_true(ok);
	const struct {
		const char *k;
		char **p;
	} texts[] = {{"id", &out->id}, {"member", &out->member}, {"reason", &out->reason}};
	for (size_t i = 0; rc == 0 && i < sizeof texts / sizeof texts[0]; i++)
		rc = text_field(j, texts[i].k, texts[i].p, err);
	const struct {
		const char *k;
		int64_t *p;
	} ints[] = {{"started_unix_ms", &out->started_unix_ms},
	            {"finished_unix_ms", &out->finished_unix_ms},
	            {"rto_ms", &out->rto_ms},
	            {"tables", &out->tables},
	            {"busy_tables", &out->busy_tables},
	            {"databases", &out->databases},
	            {"last_success_unix_ms", &out->last_success_unix_ms},
	            {"failures", &out->failures}};
	for (size_t i = 0; rc == 0 && i < sizeof ints / sizeof ints[0]; i++)
		rc = int_field(j, ints[i].k, ints[i].p, err);
	json_decref(j);
	if (rc != 0) {
		dcs_drill_free(out);
		memset(out, 0, sizeof *out);
	}
	return rc;
}

void dcs_drill_free(dcs_drill *d)
{
	free(d->id);
	free(d->member);
	free(d->reason);
	d->id = d->member = d->reason = NULL;
}
