#include "diverge.h"

int64_t diverge_timeline(const pgctl_control *c)
{
	if (!c->was_primary && c->min_recovery_timeline > c->timeline)
		return c->min_recovery_timeline;
	return c->timeline;
}

static bool switch_point(const dcs_history_entry *h, size_t n, int64_t tl, uint64_t *lsn)
{
	for (size_t i = 0; i < n; i++)
		if (h[i].timeline == tl) {
			*lsn = h[i].lsn;
			return true;
		}
	return false;
}

bool diverge_check(const pgctl_control *c, int64_t leader_tl, const dcs_history_entry *history,
                   size_t nhistory)
{
	int64_t tl = diverge_timeline(c);
	if (!leader_tl || leader_tl <= tl)
		return false; /* on the leader's timeline (or a newer one): nothing forked */
	uint64_t sw;
	if (!switch_point(history, nhistory, tl, &sw))
		return true;
	if (c->was_primary) {
		/* A clean shutdown ends with its checkpoint record; after a crash the end of WAL
		 * is unknown. */
		return !c->clean || c->checkpoint_lsn >= sw;
	}
	/* A replica that replayed past the switch point (WAL the new leader never had). Its
	 * checkpoint counts only when it is on the same timeline. */
	uint64_t pos = c->min_recovery_lsn;
	if (tl == c->timeline && c->checkpoint_lsn > pos)
		pos = c->checkpoint_lsn;
	return pos > sw;
}
