/* Encoding of Patroni's DCS values (see dcs_codec.h), with jansson: compact JSON in Patroni's
 * key order. */
#include "dcs_codec.h"

#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "dcs_codec_priv.h"

char *dcs_slot_name(const char *member)
{
	char *s = xstrdup(member);
	for (char *p = s; *p; p++) {
		char c = *p;
		if (c >= 'A' && c <= 'Z')
			*p = (char)(c - 'A' + 'a');
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			*p = '_';
	}
	return s;
}

char *dcs_json_text(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	if (!s)
		return xstrdup("null");
	char *copy = xstrdup(s);
	free(s);
	return copy;
}

static void set_str(json_t *o, const char *k, const char *s)
{
	if (s)
		json_object_set_new(o, k, json_string(s));
}

/* json_string refuses invalid UTF-8: such strings are written as null rather than lost. */
static json_t *str_or_null(const char *s)
{
	json_t *j = s ? json_string(s) : NULL;
	return j ? j : json_null();
}

static char *dump_free(json_t *j)
{
	char *s = dcs_json_text(j);
	json_decref(j);
	return s;
}

char *dcs_encode_member(const dcs_member_info *m)
{
	json_t *o = json_object();
	set_str(o, "conn_url", m->conn_url);
	set_str(o, "api_url", m->api_url);
	set_str(o, "state", m->state);
	set_str(o, "role", m->role);
	set_str(o, "version", m->version);
	if (m->tags.nofailover || m->tags.noloadbalance || m->tags.clonefrom || m->tags.nosync ||
	    m->site) {
		json_t *t = json_object();
		if (m->tags.nofailover)
			json_object_set_new(t, "nofailover", json_true());
		if (m->tags.noloadbalance)
			json_object_set_new(t, "noloadbalance", json_true());
		if (m->tags.clonefrom)
			json_object_set_new(t, "clonefrom", json_true());
		if (m->tags.nosync)
			json_object_set_new(t, "nosync", json_true());
		if (m->site)
			json_object_set_new(t, "site", json_string(m->site));
		json_object_set_new(o, "tags", t);
	}
	if (m->pending_restart)
		json_object_set_new(o, "pending_restart", json_true());
	if (m->has_lsn)
		json_object_set_new(o, "xlog_location",
		                    json_integer(m->xlog_location > (uint64_t)LLONG_MAX
		                                     ? LLONG_MAX
		                                     : (json_int_t)m->xlog_location));
	set_str(o, "replication_state", m->replication_state);
	if (m->timeline)
		json_object_set_new(o, "timeline", json_integer(m->timeline));
	return dump_free(o);
}

static json_t *lsn_json(uint64_t lsn)
{
	return json_integer(lsn > (uint64_t)LLONG_MAX ? LLONG_MAX : (json_int_t)lsn);
}

char *dcs_encode_status(uint64_t optime, const dcs_slot_lsn *slots, size_t nslots,
                        const char *const *retain_slots, size_t nretain)
{
	json_t *o = json_object();
	json_object_set_new(o, "optime", lsn_json(optime));
	if (nslots) {
		json_t *s = json_object();
		for (size_t i = 0; i < nslots; i++)
			json_object_set_new(s, slots[i].name, lsn_json(slots[i].lsn));
		json_object_set_new(o, "slots", s);
	}
	if (nretain) {
		json_t *r = json_array();
		for (size_t i = 0; i < nretain; i++)
			json_array_append_new(r, str_or_null(retain_slots[i]));
		json_object_set_new(o, "retain_slots", r);
	}
	return dump_free(o);
}

char *dcs_encode_sync(const char *leader, const char *const *sync_standby, size_t n)
{
	json_t *o = json_object();
	json_object_set_new(o, "leader", str_or_null(leader));
	if (n == 0) {
		json_object_set_new(o, "sync_standby", json_null());
	} else {
		size_t total = 1;
		for (size_t i = 0; i < n; i++)
			total += strlen(sync_standby[i]) + 1;
		char *joined = xcalloc(1, total);
		for (size_t i = 0; i < n; i++) {
			if (i)
				strcat(joined, ",");
			strcat(joined, sync_standby[i]);
		}
		json_object_set_new(o, "sync_standby", str_or_null(joined));
		free(joined);
	}
	return dump_free(o);
}

char *dcs_encode_failsafe(const char *const *names, const char *const *api_urls, size_t n)
{
	json_t *o = json_object();
	for (size_t i = 0; i < n; i++)
		json_object_set_new(o, names[i], str_or_null(api_urls[i]));
	return dump_free(o);
}

char *dcs_encode_history(const dcs_history_entry *entries, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *line = json_array();
		json_array_append_new(line, json_integer(entries[i].timeline));
		json_array_append_new(line, lsn_json(entries[i].lsn));
		json_array_append_new(line, str_or_null(entries[i].reason));
		if (entries[i].timestamp || entries[i].new_leader)
			json_array_append_new(line, str_or_null(entries[i].timestamp));
		if (entries[i].new_leader)
			json_array_append_new(line, str_or_null(entries[i].new_leader));
		json_array_append_new(a, line);
	}
	return dump_free(a);
}

char *dcs_encode_failover(const char *leader, const char *candidate, const char *scheduled_at)
{
	json_t *o = json_object();
	set_str(o, "leader", leader);
	set_str(o, "member", candidate);
	set_str(o, "scheduled_at", scheduled_at);
	return dump_free(o);
}
