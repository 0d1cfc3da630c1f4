/* Fuzzes the HA plan on DCS values a stranger chose: whoever can write to etcd (or sits in the
 * middle of plain-HTTP etcd) writes the keys tandemd decodes. The input is a sequence of records
 * "KEY\tVALUE\n" as for fuzz_dcs (a key starting with '-' is a DELETE of the rest), applied to
 * one view the way tandemd applies watch events (dcs_view_apply), except the record with the key
 * "!": its value's bytes are this member's local state (see local_of). The view and the local
 * state become the plan's inputs exactly as tandemd's pass builds them (ha_inputs_from_view),
 * and ha_plan runs for a few passes, each with the memory the last one returned.
 *
 * Invariants, for any input: nothing crashes or leaks; a step's reason is set; a step's target,
 * when set, is the leader key's value, a member name in the view, or a name in the failover key;
 * the cluster the plan sees holds only members of the view, never this member; and a primary
 * without the leader key and a safe lease (or, failsafe mode, every member's confirmation) is
 * never left writable: the step is a demotion or a release (tests/unit/test_plan.c checks the
 * same exhaustively over hand-made inputs). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dcs_codec.h"
#include "dcs_view_ha.h"
#include "fuzz_util.h"
#include "fuzz_view.h"
#include "ha.h"
#include "plan.h"

enum { NOW_MS = 1000000000, TTL_MS = 30000, RETRY_MS = 10000, PASSES = 3 };

static const char self_absent[] = "tandem-fuzz-self";

/* Byte i of the local record, 0 past its end. */
static uint8_t byte_at(const uint8_t *b, size_t n, size_t i)
{
	return i < n ? b[i] : 0;
}

/* A name the view holds, chosen by `k`: a member's, the leader key's, or NULL. */
static const char *name_in_view(const dcs_view *v, uint8_t k)
{
	size_t n = v->nmembers + 2;
	size_t i = k % n;
	if (i < v->nmembers)
		return v->members[i].name;
	return i == v->nmembers ? v->leader : NULL;
}

static uint64_t expiry_of(uint8_t choice, uint64_t now)
{
	switch (choice % 4) {
	case 1:
		return now + TTL_MS; /* fresh */
	case 2:
		return now + RETRY_MS / 2; /* about to end */
	case 3:
		return UINT64_MAX; /* absurd */
	default:
		return 0; /* none */
	}
}

/* The local state and memory from the "!" record's bytes:
 *   0 pg state, 1-2 flags, 3 requests, 4 lease, 5 failsafe confirmation, 6 this member's name,
 *   7 upstream, 8 the leader that asked us to confirm it, 9 memory flags, 10-17 the local LSN,
 *   18-21 the local timeline, 22 this member's site and the last leader's site remembered
 *   (each none, A or B), 23 how long without a leader (in TTL / 4). */
static void local_of(const uint8_t *b, size_t n, const dcs_view *v, ha_inputs *in, ha_memory *mem)
{
	memset(in, 0, sizeof *in);
	memset(mem, 0, sizeof *mem);
	uint8_t f1 = byte_at(b, n, 1), f2 = byte_at(b, n, 2), fm = byte_at(b, n, 9);
	const char *self = name_in_view(v, byte_at(b, n, 6));
	in->cfg = (ha_config){.name = self ? self : self_absent,
	                      .nofailover = f1 & 1,
	                      .ttl_ms = TTL_MS,
	                      .loop_wait_ms = 10000,
	                      .retry_timeout_ms = RETRY_MS,
	                      .maximum_lag_on_failover = 1 << 20,
	                      .max_restarts = 3};
	in->now_ms = NOW_MS;
	in->wall_ms = INT64_C(1767225600000);
	in->cl.dcs_ok = !(f1 & 2);
	in->cl.failsafe_leader = (f1 & 4) ? name_in_view(v, byte_at(b, n, 8)) : NULL;
	in->lo.pg = (ha_pg_state)(byte_at(b, n, 0) % (HA_PG_CRASHED + 1));
	in->lo.upstream = name_in_view(v, byte_at(b, n, 7));
	for (size_t i = 0; i < 8; i++)
		in->lo.lsn = in->lo.lsn << 8 | byte_at(b, n, 10 + i);
	for (size_t i = 0; i < 4; i++)
		in->timeline = in->timeline << 8 | byte_at(b, n, 18 + i);
	in->lease_expiry_ms = expiry_of(byte_at(b, n, 4), NOW_MS);
	in->failsafe_expiry_ms = expiry_of(byte_at(b, n, 5), NOW_MS);
	in->forked = f1 & 8;
	in->was_primary = f1 & 16;
	in->unfinished_data = (f1 & 32) ? "an interrupted copy" : NULL;
	in->streaming = f1 & 64;
	in->sync_settling = f1 & 128;
	in->requests = byte_at(b, n, 3) & (HA_REQ_REINIT | HA_REQ_RELOAD | HA_REQ_RESTART);
	mem->tilt = fm & 1;
	mem->leaderless_published = fm & 2;
	mem->promote_until_ms = (fm & 4) ? NOW_MS + 1000 : 0;
	mem->backoff_until_ms = (fm & 8) ? NOW_MS + 1000 : 0;
	mem->restarts = (fm >> 4) & 3;
	mem->rewind_failed = fm & 64;
	mem->handed_over = fm & 128;
	mem->rewind_pending = f2 & 1;
	mem->applied_config_rev = (f2 & 2) ? 0 : v->config.mod_revision;
	mem->rechecked_for_timeline = f2 >> 2;
	static const char *const sites[] = {NULL, "A", "B"};
	uint8_t fs = byte_at(b, n, 22);
	in->cfg.site = sites[fs % 3];
	if (sites[(fs / 3) % 3])
		strcpy(mem->last_leader_site, sites[(fs / 3) % 3]);
	mem->leaderless_since_ms = NOW_MS - (uint64_t)(byte_at(b, n, 23) % 8) * (TTL_MS / 4);
}

static bool named_in_view(const dcs_view *v, const char *name)
{
	if (dcs_view_member(v, name))
		return true;
	const char *keys[] = {v->leader, v->failover_candidate, v->failover_leader};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (keys[i] && !strcmp(keys[i], name))
			return true;
	return false;
}

static void check_cluster(const dcs_view *v, const ha_inputs *in)
{
	FUZZ_CHECK(in->cl.nmembers <= v->nmembers, "%zu members of %zu", in->cl.nmembers,
	           v->nmembers);
	for (size_t i = 0; i < in->cl.nmembers; i++) {
		FUZZ_CHECK(dcs_view_member(v, in->cl.members[i].name), "member %s not in the view",
		           in->cl.members[i].name);
		FUZZ_CHECK(strcmp(in->cl.members[i].name, in->cfg.name) != 0,
		           "this member among the others");
	}
	FUZZ_CHECK(in->cl.nsync == v->nsync_standby, "sync list changed");
}

/* Rules 1 and 2 of ha.h, as ha_decide states them (failsafe mode included). */
static void check_safety(const ha_inputs *in, const ha_step *s)
{
	if (in->lo.pg != HA_PG_PRIMARY)
		return;
	const ha_config *cfg = &in->cfg;
	bool we_lead = in->cl.leader && !strcmp(in->cl.leader, cfg->name);
	bool lease = ha_outlives(cfg, in->lease_expiry_ms, in->now_ms);
	bool fs = in->cl.failsafe_mode && ha_outlives(cfg, in->failsafe_expiry_ms, in->now_ms);
	bool other_leads = in->cl.dcs_ok && in->cl.leader && !we_lead;
	bool key = we_lead || !in->cl.dcs_ok || fs;
	if (!other_leads && key && (lease || fs))
		return;
	FUZZ_CHECK(s->action == HA_DEMOTE || s->action == HA_RELEASE_LEADER,
	           "primary left writable: %s (%s), leader %s, self %s, dcs_ok %d, lease %d, "
	           "failsafe %d",
	           ha_action_name(s->action), s->reason, in->cl.leader ? in->cl.leader : "-",
	           cfg->name, in->cl.dcs_ok, lease, fs);
}

static void run_plan(const dcs_view *v, const uint8_t *local, size_t nlocal)
{
	ha_inputs in;
	ha_memory mem, next;
	local_of(local, nlocal, v, &in, &mem);
	ha_member *members = calloc(v->nmembers + 1, sizeof *members);
	FUZZ_CHECK(members != NULL, "calloc");
	ha_inputs_from_view(v, members, &in);
	check_cluster(v, &in);
	for (int pass = 0; pass < PASSES; pass++) {
		ha_step s = ha_plan(&in, &mem, &next);
		FUZZ_CHECK((unsigned)s.action <= HA_OPERATOR_RESTART, "action %d", (int)s.action);
		FUZZ_CHECK(s.reason && *s.reason, "a step without a reason");
		FUZZ_CHECK(!s.target || named_in_view(v, s.target),
		           "target %s is not a name in the view (%s: %s)", s.target,
		           ha_action_name(s.action), s.reason);
		check_safety(&in, &s);
		mem = next;
		in.now_ms += s.recheck_in_ms ? s.recheck_in_ms : in.cfg.loop_wait_ms;
		in.requests &= ~s.requests_done;
	}
	free(members);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dcs_view v;
	dcs_view_init(&v, NULL, "batman");
	const uint8_t *local = NULL;
	size_t nlocal = 0, pos = 0;
	int64_t rev = 0;
	fuzz_record r;
	while (fuzz_record_next(data, size, &pos, &r)) {
		if (r.klen == 1 && r.key[0] == '!') {
			local = r.val;
			nlocal = r.vlen;
		} else {
			fuzz_view_record(&v, &r, ++rev);
		}
	}
	run_plan(&v, local, nlocal);
	dcs_view_free(&v);
	return 0;
}
