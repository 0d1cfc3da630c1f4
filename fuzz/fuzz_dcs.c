/* Fuzzes the codec of Patroni's DCS values (src/patroni/dcs_codec.h): the input is a sequence of
 * records "KEY\tVALUE\n" (a key starting with '-' is a DELETE of the rest), applied to one view
 * in order, as a range answer and watch events would be.
 *
 * Invariants: dcs_view_apply returns 0 or -1, with an error message exactly when -1; the view
 * stays consistent after every step (counts match arrays, names are set, member names are
 * unique, the leader is non-empty); encoding the members, status, sync and history the view holds
 * gives JSON that decodes to the same values; the `drill` key decodes or is refused with a
 * message, and a decoded one encodes to JSON that decodes to the same values. */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dcs_ckpt.h"
#include "dcs_codec.h"
#include "dcs_drill.h"
#include "fuzz_util.h"
#include "fuzz_view.h"

static void check_view(const dcs_view *v)
{
	FUZZ_CHECK(v->prefix && !strcmp(v->prefix, "/service/batman/"), "prefix lost");
	FUZZ_CHECK(!v->leader || *v->leader, "empty leader");
	FUZZ_CHECK(v->nmembers == 0 || v->members, "members without an array");
	for (size_t i = 0; i < v->nmembers; i++) {
		FUZZ_CHECK(v->members[i].name && *v->members[i].name, "member without a name");
		for (size_t j = i + 1; j < v->nmembers; j++)
			FUZZ_CHECK(strcmp(v->members[i].name, v->members[j].name) != 0,
			           "member %s twice", v->members[i].name);
	}
	FUZZ_CHECK(v->nsync_standby == 0 || v->sync_standby, "sync without an array");
	for (size_t i = 0; i < v->nsync_standby; i++)
		FUZZ_CHECK(v->sync_standby[i] && *v->sync_standby[i], "empty sync standby");
	FUZZ_CHECK(v->nhistory == 0 || v->history, "history without an array");
	FUZZ_CHECK(!v->has_config || v->config.raw, "config without its text");
}

static void round_trip(const dcs_view *v)
{
	dcs_view back;
	dcs_view_init(&back, NULL, "batman");
	for (size_t i = 0; i < v->nmembers; i++) {
		const dcs_member *m = &v->members[i];
		if (!m->valid)
			continue;
		dcs_member_info mi = {.conn_url = m->conn_url,
		                      .api_url = m->api_url,
		                      .state = m->state,
		                      .role = m->role,
		                      .version = m->version,
		                      .has_lsn = m->has_lsn,
		                      .xlog_location = m->xlog_location,
		                      .replication_state = m->replication_state,
		                      .timeline = m->timeline,
		                      .tags = m->tags,
		                      .site = m->site,
		                      .pending_restart = m->pending_restart,
		                      .has_replay_lag = m->has_replay_lag,
		                      .replay_lag_ms = m->replay_lag_ms};
		char *s = dcs_encode_member(&mi);
		char *key = xasprintf("/service/batman/members/%s", m->name);
		char *err = NULL;
		int rc = dcs_view_apply(&back, key, strlen(key), s, strlen(s), 1, 0, &err);
		FUZZ_CHECK(rc == 0, "encoded member does not decode: %s: %s", s, err);
		const dcs_member *b = dcs_view_member(&back, m->name);
		FUZZ_CHECK(b && b->has_lsn == m->has_lsn && b->xlog_location == m->xlog_location,
		           "lsn changed: %s", s);
		FUZZ_CHECK(b->tags.nofailover == m->tags.nofailover, "tags changed: %s", s);
		FUZZ_CHECK(b->has_replay_lag == m->has_replay_lag &&
		               b->replay_lag_ms == m->replay_lag_ms,
		           "replay lag changed: %s", s);
		free(key);
		free(s);
	}
	const char **sb = xcalloc(v->nsync_standby + 1, sizeof(char *));
	for (size_t i = 0; i < v->nsync_standby; i++)
		sb[i] = v->sync_standby[i];
	char *s = dcs_encode_sync(v->sync_leader, sb, v->nsync_standby);
	json_error_t je;
	json_t *j = json_loads(s, 0, &je);
	FUZZ_CHECK(j != NULL, "encoded sync is not JSON: %s", s);
	json_decref(j);
	free(s);
	free(sb);
	s = dcs_encode_history(v->history, v->nhistory);
	char *err = NULL;
	FUZZ_CHECK(dcs_view_apply(&back, "/service/batman/history", 23, s, strlen(s), 1, 0, &err) ==
	               0,
	           "encoded history does not decode: %s", s);
	FUZZ_CHECK(back.nhistory == v->nhistory, "history length changed: %s", s);
	free(s);
	s = dcs_encode_status(v->optime, v->slots, v->nslots, (const char *const *)v->retain_slots,
	                      v->nretain_slots);
	FUZZ_CHECK(dcs_view_apply(&back, "/service/batman/status", 22, s, strlen(s), 1, 0, &err) ==
	               0,
	           "encoded status does not decode: %s", s);
	free(s);
	dcs_view_free(&back);
}

static void drill_round_trip(const dcs_view *v)
{
	dcs_drill d, back;
	char *err = NULL;
	if (!v->drill)
		return;
	if (dcs_drill_decode(v->drill, &d, &err) != 0) {
		FUZZ_CHECK(err && *err, "drill refused without a message");
		free(err);
		return;
	}
	char *text = dcs_drill_encode(&d);
	FUZZ_CHECK(dcs_drill_decode(text, &back, &err) == 0, "drill: own encoding refused: %s",
	           err ? err : "");
	FUZZ_CHECK(back.ok == d.ok && back.rto_ms == d.rto_ms && back.failures == d.failures &&
	               back.last_success_unix_ms == d.last_success_unix_ms,
	           "drill: round trip changed a value");
	FUZZ_CHECK(!strcmp(back.reason, d.reason ? d.reason : ""), "drill: reason changed");
	dcs_drill_free(&back);
	dcs_drill_free(&d);
	free(text);
}

/* The shutdown_checkpoint key decodes or is refused with a message; what decodes encodes to
 * the same values. */
static void ckpt_round_trip(const dcs_view *v)
{
	dcs_ckpt c, back;
	char *err = NULL;
	if (!v->shutdown_checkpoint)
		return;
	if (dcs_ckpt_decode(v->shutdown_checkpoint, &c, &err) != 0) {
		FUZZ_CHECK(err && *err, "shutdown_checkpoint refused without a message");
		free(err);
		return;
	}
	FUZZ_CHECK(c.lsn < c.end && c.timeline >= 1, "shutdown_checkpoint: out of range");
	char *text = dcs_ckpt_encode(&c);
	FUZZ_CHECK(dcs_ckpt_decode(text, &back, &err) == 0 && !memcmp(&c, &back, sizeof c),
	           "shutdown_checkpoint: round trip changed a value");
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dcs_view v;
	dcs_view_init(&v, NULL, "batman");
	size_t pos = 0;
	int64_t rev = 0;
	fuzz_record r;
	while (fuzz_record_next(data, size, &pos, &r)) {
		fuzz_view_record(&v, &r, ++rev);
		check_view(&v);
	}
	round_trip(&v);
	drill_round_trip(&v);
	ckpt_round_trip(&v);
	dcs_view_free(&v);
	return 0;
}
