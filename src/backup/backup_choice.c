#include "backup_choice.h"

#include <string.h>

bool backup_healthy_replica(const backup_candidate *c, const backup_choice_config *cfg)
{
	return c->replica && !c->leader && c->running && c->streaming && c->lag_known &&
	       c->lag_bytes <= cfg->max_lag_bytes && c->reaches_primary;
}

static bool any_healthy(const backup_candidate *c, size_t n, const backup_choice_config *cfg)
{
	for (size_t i = 0; i < n; i++)
		if (backup_healthy_replica(&c[i], cfg))
			return true;
	return false;
}

bool backup_eligible(const backup_candidate *c, size_t n, size_t i, const backup_choice_config *cfg)
{
	if (cfg->from_standby && backup_healthy_replica(&c[i], cfg))
		return true;
	return c[i].leader && c[i].running && (!cfg->from_standby || !any_healthy(c, n, cfg));
}

const char *backup_choose(const backup_candidate *c, size_t n, const backup_choice_config *cfg)
{
	const backup_candidate *best = NULL;
	if (cfg->from_standby)
		for (size_t i = 0; i < n; i++) {
			if (!backup_healthy_replica(&c[i], cfg))
				continue;
			if (!best || c[i].lag_bytes < best->lag_bytes ||
			    (c[i].lag_bytes == best->lag_bytes &&
			     strcmp(c[i].name, best->name) < 0))
				best = &c[i];
		}
	if (best)
		return best->name;
	for (size_t i = 0; i < n; i++)
		if (c[i].leader && c[i].running)
			return c[i].name;
	return NULL;
}

backup_key_step backup_key_decide(const backup_candidate *c, size_t n, const char *me,
                                  const char *holder, bool busy, const backup_choice_config *cfg)
{
	if (holder && strcmp(holder, me) == 0) {
		if (busy)
			return BACKUP_KEY_KEEP;
		for (size_t i = 0; i < n; i++)
			if (strcmp(c[i].name, me) == 0 && backup_eligible(c, n, i, cfg))
				return BACKUP_KEY_KEEP;
		return BACKUP_KEY_RELEASE;
	}
	if (holder)
		return BACKUP_KEY_NONE;
	const char *choice = backup_choose(c, n, cfg);
	return choice && strcmp(choice, me) == 0 ? BACKUP_KEY_ACQUIRE : BACKUP_KEY_NONE;
}

backup_due backup_due_next(const backup_state *st, const int64_t latest_fire[BACKUP_NTYPES],
                           int64_t now_s)
{
	backup_due d = {0};
	memcpy(d.fired_s, st->fired_s, sizeof d.fired_s);
	for (int t = 0; t < BACKUP_NTYPES; t++)
		if (!st->fired_s[t]) {
			d.fired_s[t] = now_s;
			d.fired_changed = true;
		}
	if (st->has_running) {
		d.run = true;
		d.type = st->running.type;
		d.reason = "rerun";
		d.request = st->running.request;
		return d;
	}
	if (st->nrequests) {
		d.run = true;
		d.type = st->requests[0].type;
		d.reason = "request";
		d.request = st->requests[0].id;
		return d;
	}
	for (int t = BACKUP_NTYPES; t-- > 0;) {
		if (!st->fired_s[t] || latest_fire[t] <= st->fired_s[t])
			continue;
		d.fired_s[t] = latest_fire[t];
		d.fired_changed = true;
		d.run = true;
		d.type = (backup_type)t; /* the loop ends on the biggest: full */
		d.reason = "schedule";
	}
	return d;
}
