/* Decoding of Patroni's DCS values into the cluster view (see dcs_codec.h), with jansson. */
#include "dcs_codec.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dcs_codec_priv.h"

/* ---- view ---- */

char *dcs_prefix(const char *namespace_, const char *scope)
{
	const char *ns = namespace_ && *namespace_ ? namespace_ : "/service";
	while (*ns == '/')
		ns++;
	size_t nslen = strlen(ns);
	while (nslen && ns[nslen - 1] == '/')
		nslen--;
	if (nslen == 0)
		return xasprintf("/%s/", scope);
	return xasprintf("/%.*s/%s/", (int)nslen, ns, scope);
}

void dcs_view_init(dcs_view *v, const char *namespace_, const char *scope)
{
	memset(v, 0, sizeof(*v));
	v->prefix = dcs_prefix(namespace_, scope);
}

static void member_free(dcs_member *m)
{
	free(m->name);
	free(m->conn_url);
	free(m->api_url);
	free(m->state);
	free(m->role);
	free(m->version);
	free(m->replication_state);
	free(m->site);
	free(m->tags_json);
}

static void config_free(dcs_dyn_config *c)
{
	dcs_standby_clear(&c->standby);
	free(c->parameters_json);
	free(c->raw);
	memset(c, 0, sizeof(*c));
}

static void status_clear(dcs_view *v)
{
	for (size_t i = 0; i < v->nslots; i++)
		free(v->slots[i].name);
	free(v->slots);
	dcs_free_strv(v->retain_slots, v->nretain_slots);
	v->slots = NULL;
	v->nslots = 0;
	v->retain_slots = NULL;
	v->nretain_slots = 0;
	v->optime = 0;
	free(v->current_site);
	v->current_site = NULL;
	v->has_status = false;
}

static void sync_clear(dcs_view *v)
{
	free(v->sync_leader);
	dcs_free_strv(v->sync_standby, v->nsync_standby);
	v->sync_leader = NULL;
	v->sync_standby = NULL;
	v->nsync_standby = 0;
	v->has_sync = false;
}

static void failover_clear(dcs_view *v)
{
	free(v->failover_leader);
	free(v->failover_candidate);
	free(v->failover_scheduled_at);
	v->failover_leader = v->failover_candidate = v->failover_scheduled_at = NULL;
	v->has_failover = false;
}

static void history_free(dcs_history_entry *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(h[i].reason);
		free(h[i].timestamp);
		free(h[i].new_leader);
	}
	free(h);
}

static void history_clear(dcs_view *v)
{
	history_free(v->history, v->nhistory);
	v->history = NULL;
	v->nhistory = 0;
	v->has_history = false;
}

static void leader_clear(dcs_view *v)
{
	free(v->leader);
	v->leader = NULL;
	v->leader_mod_revision = v->leader_lease = 0;
}

static void failsafe_clear(dcs_view *v)
{
	for (size_t i = 0; i < v->nfailsafe; i++) {
		free(v->failsafe_names[i]);
		free(v->failsafe_urls[i]);
	}
	free(v->failsafe_names);
	free(v->failsafe_urls);
	free(v->failsafe);
	v->failsafe = NULL;
	v->failsafe_names = v->failsafe_urls = NULL;
	v->nfailsafe = 0;
}

/* An unreadable value is dropped: an absent key lets every member race, as before failsafe mode
 * was switched on; keeping a stale list could exclude the member that should win. */
static int apply_failsafe(dcs_view *v, const char *value, size_t len, char **err)
{
	failsafe_clear(v);
	json_t *j = dcs_parse(value, len, err, "failsafe");
	if (!j)
		return -1;
	if (!json_is_object(j)) {
		json_decref(j);
		err_set(err, "failsafe: not a JSON object");
		return -1;
	}
	size_t n = json_object_size(j);
	if (n > DCS_MAX_NAMES) {
		json_decref(j);
		err_set(err, "failsafe: %zu members, more than the cap of %d: ignored", n,
		        DCS_MAX_NAMES);
		return -1;
	}
	v->failsafe = dcs_json_text(j);
	v->failsafe_names = xcalloc(n ? n : 1, sizeof *v->failsafe_names);
	v->failsafe_urls = xcalloc(n ? n : 1, sizeof *v->failsafe_urls);
	const char *name;
	json_t *url;
	json_object_foreach(j, name, url)
	{
		v->failsafe_names[v->nfailsafe] = xstrdup(name);
		v->failsafe_urls[v->nfailsafe] =
		    json_is_string(url) ? xstrdup(json_string_value(url)) : NULL;
		v->nfailsafe++;
	}
	json_decref(j);
	return 0;
}

void dcs_view_clear(dcs_view *v)
{
	char *prefix = v->prefix;
	free(v->sysid);
	leader_clear(v);
	config_free(&v->config);
	for (size_t i = 0; i < v->nmembers; i++)
		member_free(&v->members[i]);
	free(v->members);
	status_clear(v);
	sync_clear(v);
	failover_clear(v);
	history_clear(v);
	failsafe_clear(v);
	free(v->backup);
	free(v->backup_runner);
	free(v->drill);
	free(v->shutdown_checkpoint);
	memset(v, 0, sizeof(*v));
	v->prefix = prefix;
}

void dcs_view_free(dcs_view *v)
{
	dcs_view_clear(v);
	free(v->prefix);
	v->prefix = NULL;
}

const dcs_member *dcs_view_member(const dcs_view *v, const char *name)
{
	for (size_t i = 0; i < v->nmembers; i++)
		if (!strcmp(v->members[i].name, name))
			return &v->members[i];
	return NULL;
}

/* ---- decoders ---- */

static int apply_member(dcs_view *v, const char *name, const char *value, size_t len,
                        int64_t mod_revision, int64_t lease, char **err)
{
	if (!dcs_name_ok(name, strlen(name))) {
		err_set(err, "members/: a name over %d bytes or with a control character: ignored",
		        DCS_MAX_NAME);
		return -1;
	}
	if (v->nmembers >= DCS_MAX_MEMBERS && !dcs_view_member(v, name)) {
		err_set(err, "members/%s: more than the cap of %d members: ignored", name,
		        DCS_MAX_MEMBERS);
		return -1;
	}
	dcs_member m;
	memset(&m, 0, sizeof(m));
	m.name = xstrdup(name);
	m.mod_revision = mod_revision;
	m.lease = lease;
	int rc = 0;
	json_t *j = dcs_parse(value, len, err, "member");
	if (j && !json_is_object(j)) {
		err_set(err, "member %s: not a JSON object", name);
	} else if (j) {
		m.valid = true;
		m.conn_url = dcs_get_str(j, "conn_url");
		m.api_url = dcs_get_str(j, "api_url");
		m.state = dcs_get_str(j, "state");
		m.role = dcs_get_str(j, "role");
		m.version = dcs_get_str(j, "version");
		m.replication_state = dcs_get_str(j, "replication_state");
		m.has_lsn = dcs_get_lsn(j, "xlog_location", &m.xlog_location);
		if (!dcs_get_int(j, "timeline", &m.timeline) || m.timeline < 1 ||
		    m.timeline > DCS_MAX_TIMELINE)
			m.timeline = 0;
		const json_t *tags = json_object_get(j, "tags");
		if (json_is_object(tags)) {
			m.tags.nofailover = dcs_get_bool(tags, "nofailover");
			m.tags.noloadbalance = dcs_get_bool(tags, "noloadbalance");
			m.tags.clonefrom = dcs_get_bool(tags, "clonefrom");
			m.tags.nosync = dcs_get_bool(tags, "nosync");
			m.tags_json = dcs_json_text(tags);
			m.site = dcs_get_str(tags, "site");
			if (m.site && !dcs_site_ok(m.site)) {
				free(m.site);
				m.site = NULL;
				err_set(err,
				        "member %s: tags.site is not 1 to %d printable characters: "
				        "taken as no site",
				        name, DCS_MAX_SITE);
				rc = -1;
			}
		}
		m.pending_restart = dcs_get_bool(j, "pending_restart");
		int64_t lag = 0;
		m.has_replay_lag =
		    dcs_get_int(j, "replay_lag_ms", &lag) && lag >= 0 && lag <= DCS_MAX_LAG_MS;
		m.replay_lag_ms = m.has_replay_lag ? (uint64_t)lag : 0;
	}
	if (!m.valid)
		rc = -1;
	json_decref(j);
	for (size_t i = 0; i < v->nmembers; i++) {
		if (!strcmp(v->members[i].name, name)) {
			member_free(&v->members[i]);
			v->members[i] = m;
			return rc;
		}
	}
	v->members = xrealloc(v->members, (v->nmembers + 1) * sizeof(*v->members));
	v->members[v->nmembers++] = m;
	return rc;
}

static int apply_config(dcs_view *v, const char *value, size_t len, int64_t mod_revision,
                        char **err)
{
	json_t *j = dcs_parse(value, len, err, "config");
	if (!j)
		return -1;
	if (!json_is_object(j)) {
		json_decref(j);
		err_set(err, "config: not a JSON object");
		return -1;
	}
	dcs_dyn_config c;
	memset(&c, 0, sizeof(c));
	c.valid = true;
	c.mod_revision = mod_revision;
	int rc = 0;
	bool ttl_ok = dcs_get_seconds(j, "ttl", &c.ttl);
	bool lw_ok = dcs_get_seconds(j, "loop_wait", &c.loop_wait);
	bool rt_ok = dcs_get_seconds(j, "retry_timeout", &c.retry_timeout);
	if (!ttl_ok || !lw_ok || !rt_ok) {
		err_set(err,
		        "config: ttl, loop_wait or retry_timeout outside 1..%d seconds: "
		        "taken as absent",
		        DCS_MAX_SECONDS);
		rc = -1;
	}
	c.has_maximum_lag_on_failover =
	    dcs_get_lsn(j, "maximum_lag_on_failover", &c.maximum_lag_on_failover);
	c.synchronous_mode = dcs_get_bool(j, "synchronous_mode");
	c.synchronous_mode_strict = dcs_get_bool(j, "synchronous_mode_strict");
	c.pause = dcs_get_bool(j, "pause");
	c.failsafe_mode = dcs_get_bool(j, "failsafe_mode");
	const json_t *pg = json_object_get(j, "postgresql");
	if (json_is_object(pg)) {
		c.use_pg_rewind = dcs_get_bool(pg, "use_pg_rewind");
		const json_t *params = json_object_get(pg, "parameters");
		if (json_is_object(params))
			c.parameters_json = dcs_json_text(params);
	}
	char *serr = NULL;
	if (dcs_standby_decode(json_object_get(j, "standby_cluster"), &c.standby, &serr) != 0) {
		if (rc == 0)
			err_set(err, "%s", serr);
		rc = -1;
	}
	free(serr);
	c.raw = xstrndup(value, len);
	json_decref(j);
	config_free(&v->config);
	v->config = c;
	v->has_config = true;
	return rc;
}

static int apply_status(dcs_view *v, const char *value, size_t len, char **err)
{
	json_t *j = dcs_parse(value, len, err, "status");
	if (!j)
		return -1;
	if (json_is_integer(j)) { /* legacy: the optime alone */
		status_clear(v);
		v->has_status = true;
		v->optime = json_integer_value(j) > 0 ? (uint64_t)json_integer_value(j) : 0;
		json_decref(j);
		return 0;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		err_set(err, "status: not a JSON object");
		return -1;
	}
	status_clear(v);
	v->has_status = true;
	if (!dcs_get_lsn(j, "optime", &v->optime))
		v->optime = 0;
	int rc = 0;
	v->current_site = dcs_get_str(j, "current_site");
	if (v->current_site && !dcs_site_ok(v->current_site)) {
		free(v->current_site);
		v->current_site = NULL;
		err_set(err, "status: current_site is not 1 to %d printable characters: left out",
		        DCS_MAX_SITE);
		rc = -1;
	}
	const json_t *slots = json_object_get(j, "slots");
	const json_t *retain = json_object_get(j, "retain_slots");
	if (json_object_size(slots) > DCS_MAX_NAMES || json_array_size(retain) > DCS_MAX_NAMES) {
		err_set(err, "status: slots or retain_slots over the cap of %d: left out",
		        DCS_MAX_NAMES);
		rc = -1;
		slots = retain = NULL;
	}
	if (json_is_object(slots) && json_object_size(slots) > 0) {
		v->slots = xcalloc(json_object_size(slots), sizeof(*v->slots));
		const char *k;
		const json_t *val;
		json_object_foreach((json_t *)slots, k, val)
		{
			uint64_t lsn = 0;
			if (json_is_integer(val) && json_integer_value(val) >= 0)
				lsn = (uint64_t)json_integer_value(val);
			v->slots[v->nslots].name = xstrdup(k);
			v->slots[v->nslots].lsn = lsn;
			v->nslots++;
		}
	}
	if (json_is_array(retain) && json_array_size(retain) > 0) {
		v->retain_slots = xcalloc(json_array_size(retain), sizeof(char *));
		size_t i;
		const json_t *val;
		json_array_foreach(retain, i, val)
		{
			if (json_is_string(val) &&
			    !dcs_listed(v->retain_slots, v->nretain_slots, json_string_value(val),
			                json_string_length(val)))
				v->retain_slots[v->nretain_slots++] =
				    xstrdup(json_string_value(val));
		}
	}
	json_decref(j);
	return rc;
}

static int apply_sync(dcs_view *v, const char *value, size_t len, char **err)
{
	sync_clear(v);
	v->has_sync = true;
	json_t *j = dcs_parse(value, len, err, "sync");
	if (!j)
		return -1;
	if (!json_is_object(j)) {
		json_decref(j);
		err_set(err, "sync: not a JSON object");
		return -1;
	}
	v->sync_leader = dcs_get_str(j, "leader");
	const json_t *ss = json_object_get(j, "sync_standby");
	int rc = 0;
	if (json_is_string(ss) &&
	    !dcs_split_names(json_string_value(ss), &v->sync_standby, &v->nsync_standby)) {
		err_set(err, "sync: more than %d names, or a bad one: read %zu", DCS_MAX_NAMES,
		        v->nsync_standby);
		rc = -1;
	}
	json_decref(j);
	return rc;
}

static int apply_failover(dcs_view *v, const char *value, size_t len, char **err)
{
	failover_clear(v);
	v->has_failover = true;
	if (len == 0)
		return 0;
	if (dcs_has_nul(value, len)) {
		err_set(err, "failover: NUL byte in the value");
		return -1;
	}
	json_error_t je;
	json_t *j = json_loadb(value, len, JSON_DECODE_ANY, &je);
	if (!j) { /* legacy "leader:candidate" */
		char *s = xstrndup(value, len);
		char *colon = strchr(s, ':');
		if (colon)
			*colon = '\0';
		char **names;
		size_t n;
		(void)dcs_split_names(s, &names, &n);
		if (n)
			v->failover_leader = xstrdup(names[0]);
		dcs_free_strv(names, n);
		if (colon) {
			(void)dcs_split_names(colon + 1, &names, &n);
			if (n)
				v->failover_candidate = xstrdup(names[0]);
			dcs_free_strv(names, n);
		}
		free(s);
		return 0;
	}
	if (json_is_object(j)) {
		v->failover_leader = dcs_get_str(j, "leader");
		v->failover_candidate = dcs_get_str(j, "member");
		v->failover_scheduled_at = dcs_get_str(j, "scheduled_at");
	}
	json_decref(j);
	return 0;
}

static int apply_history(dcs_view *v, const char *value, size_t len, char **err)
{
	json_t *j = dcs_parse(value, len, err, "history");
	if (!j)
		return -1;
	if (!json_is_array(j)) {
		json_decref(j);
		err_set(err, "history: not a JSON array");
		return -1;
	}
	size_t n = json_array_size(j);
	/* The last entries are the ones that matter: the newest timelines. */
	size_t first = n > DCS_MAX_HISTORY ? n - DCS_MAX_HISTORY : 0;
	if (first)
		err_set(err, "history: %zu entries, over the cap of %d: the last %d kept", n,
		        DCS_MAX_HISTORY, DCS_MAX_HISTORY);
	dcs_history_entry *h = n ? xcalloc(n - first, sizeof(*h)) : NULL;
	size_t nh = 0;
	for (size_t i = first; i < n; i++) {
		const json_t *line = json_array_get(j, i);
		if (!json_is_array(line) || json_array_size(line) < 2)
			continue;
		const json_t *tl = json_array_get(line, 0), *lsn = json_array_get(line, 1);
		if (!json_is_integer(tl) || !json_is_integer(lsn) || json_integer_value(lsn) < 0 ||
		    json_integer_value(tl) < 1 || json_integer_value(tl) > DCS_MAX_TIMELINE)
			continue;
		dcs_history_entry *e = &h[nh++];
		e->timeline = (int64_t)json_integer_value(tl);
		e->lsn = (uint64_t)json_integer_value(lsn);
		const json_t *s;
		if (json_is_string(s = json_array_get(line, 2)))
			e->reason = xstrdup(json_string_value(s));
		if (json_is_string(s = json_array_get(line, 3)))
			e->timestamp = xstrdup(json_string_value(s));
		if (json_is_string(s = json_array_get(line, 4)))
			e->new_leader = xstrdup(json_string_value(s));
	}
	json_decref(j);
	history_clear(v);
	v->history = h;
	v->nhistory = nh;
	v->has_history = true;
	return first ? -1 : 0;
}

/* The part of `key` after the prefix, or NULL when the key is outside it (or holds a NUL). */
static char *relative_key(const dcs_view *v, const char *key, size_t key_len)
{
	size_t plen = strlen(v->prefix);
	if (key_len <= plen || memcmp(key, v->prefix, plen) != 0 || dcs_has_nul(key, key_len))
		return NULL;
	return xstrndup(key + plen, key_len - plen);
}

/* tandem's backup keys, as text (their owner reads them); a NUL byte, or a runner name that is
 * not a member name, leaves the key absent. */
static int apply_backup(dcs_view *v, const char *rel, const char *value, size_t len,
                        int64_t mod_revision, int64_t lease, char **err)
{
	bool runner = strcmp(rel, "backup") != 0;
	char **slot = runner ? &v->backup_runner : &v->backup;
	free(*slot);
	*slot = NULL;
	if (runner)
		v->backup_runner_lease = 0;
	else
		v->backup_mod_revision = 0;
	if (dcs_has_nul(value, len) || (runner && (len == 0 || len > DCS_MAX_NAME))) {
		err_set(err, "%s: an empty or too long value, or a NUL byte: ignored", rel);
		return -1;
	}
	*slot = xstrndup(value, len);
	if (runner)
		v->backup_runner_lease = lease;
	else
		v->backup_mod_revision = mod_revision;
	return 0;
}

int dcs_view_apply(dcs_view *v, const char *key, size_t key_len, const char *value,
                   size_t value_len, int64_t mod_revision, int64_t lease, char **err)
{
	char *rel = relative_key(v, key, key_len);
	if (!rel)
		return 0;
	if (mod_revision > v->revision)
		v->revision = mod_revision;
	if (value_len > DCS_MAX_VALUE) {
		err_set(err, "%.100s: a value of %zu bytes, over the cap of %d: ignored", rel,
		        value_len, DCS_MAX_VALUE);
		free(rel);
		return -1;
	}
	int rc = 0;
	if (!strcmp(rel, "initialize")) {
		free(v->sysid);
		v->initialized = true;
		v->sysid = NULL;
		v->initialize_lease = lease;
		if (dcs_has_nul(value, value_len)) {
			err_set(err, "initialize: NUL byte in the value");
			rc = -1;
		} else {
			v->sysid = xstrndup(value, value_len);
		}
	} else if (!strcmp(rel, "leader")) {
		leader_clear(v);
		if (value_len == 0 || dcs_has_nul(value, value_len)) {
			err_set(err, "leader: empty value or NUL byte");
			rc = -1;
		} else {
			v->leader = xstrndup(value, value_len);
			v->leader_mod_revision = mod_revision;
			v->leader_lease = lease;
		}
	} else if (!strcmp(rel, "config")) {
		rc = apply_config(v, value, value_len, mod_revision, err);
	} else if (!strncmp(rel, "members/", 8) && rel[8] && !strchr(rel + 8, '/')) {
		rc = apply_member(v, rel + 8, value, value_len, mod_revision, lease, err);
	} else if (!strcmp(rel, "status")) {
		rc = apply_status(v, value, value_len, err);
	} else if (!strcmp(rel, "sync")) {
		rc = apply_sync(v, value, value_len, err);
	} else if (!strcmp(rel, "failover")) {
		rc = apply_failover(v, value, value_len, err);
	} else if (!strcmp(rel, "history")) {
		rc = apply_history(v, value, value_len, err);
	} else if (!strcmp(rel, "failsafe")) {
		rc = apply_failsafe(v, value, value_len, err);
	} else if (!strcmp(rel, "backup") || !strcmp(rel, "backup/runner")) {
		rc = apply_backup(v, rel, value, value_len, mod_revision, lease, err);
	} else if (!strcmp(rel, "drill")) {
		free(v->drill);
		v->drill = dcs_has_nul(value, value_len) ? NULL : xstrndup(value, value_len);
	} else if (!strcmp(rel, "shutdown_checkpoint")) {
		free(v->shutdown_checkpoint);
		v->shutdown_checkpoint =
		    dcs_has_nul(value, value_len) ? NULL : xstrndup(value, value_len);
		v->shutdown_checkpoint_revision = mod_revision;
	}
	free(rel);
	return rc;
}

void dcs_view_delete(dcs_view *v, const char *key, size_t key_len)
{
	char *rel = relative_key(v, key, key_len);
	if (!rel)
		return;
	if (!strcmp(rel, "initialize")) {
		free(v->sysid);
		v->sysid = NULL;
		v->initialized = false;
		v->initialize_lease = 0;
	} else if (!strcmp(rel, "leader")) {
		leader_clear(v);
	} else if (!strcmp(rel, "config")) {
		config_free(&v->config);
		v->has_config = false;
	} else if (!strncmp(rel, "members/", 8)) {
		for (size_t i = 0; i < v->nmembers; i++) {
			if (!strcmp(v->members[i].name, rel + 8)) {
				member_free(&v->members[i]);
				memmove(&v->members[i], &v->members[i + 1],
				        (v->nmembers - i - 1) * sizeof(*v->members));
				v->nmembers--;
				break;
			}
		}
	} else if (!strcmp(rel, "status")) {
		status_clear(v);
	} else if (!strcmp(rel, "sync")) {
		sync_clear(v);
	} else if (!strcmp(rel, "failover")) {
		failover_clear(v);
	} else if (!strcmp(rel, "history")) {
		history_clear(v);
	} else if (!strcmp(rel, "failsafe")) {
		failsafe_clear(v);
	} else if (!strcmp(rel, "backup")) {
		free(v->backup);
		v->backup = NULL;
		v->backup_mod_revision = 0;
	} else if (!strcmp(rel, "backup/runner")) {
		free(v->backup_runner);
		v->backup_runner = NULL;
		v->backup_runner_lease = 0;
	} else if (!strcmp(rel, "drill")) {
		free(v->drill);
		v->drill = NULL;
	} else if (!strcmp(rel, "shutdown_checkpoint")) {
		free(v->shutdown_checkpoint);
		v->shutdown_checkpoint = NULL;
		v->shutdown_checkpoint_revision = 0;
	}
	free(rel);
}
