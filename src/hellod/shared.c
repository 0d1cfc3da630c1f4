#include "shared.h"

#include <stdlib.h>
#include <string.h>

hellod_snapshot *snapshot_new(hellod_settings *s)
{
	hellod_snapshot *snap = xcalloc(1, sizeof *snap);
	atomic_init(&snap->refs, 1);
	snap->s = *s;
	memset(s, 0, sizeof *s);
	hellod_settings_allow(&snap->s, &snap->allow);
	return snap;
}

hellod_snapshot *snapshot_acquire(hellod_shared *sh)
{
	uv_mutex_lock(&sh->lock);
	hellod_snapshot *snap = sh->current;
	atomic_fetch_add(&snap->refs, 1);
	uv_mutex_unlock(&sh->lock);
	return snap;
}

void snapshot_release(hellod_snapshot *snap)
{
	if (snap && atomic_fetch_sub(&snap->refs, 1) == 1) {
		hellod_settings_free(&snap->s);
		cidr_list_free(&snap->allow);
		free(snap);
	}
}

void snapshot_publish(hellod_shared *sh, hellod_snapshot *snap)
{
	uv_mutex_lock(&sh->lock);
	hellod_snapshot *old = sh->current;
	sh->current = snap;
	uv_mutex_unlock(&sh->lock);
	snapshot_release(old);
}

bd_date shared_today(const hellod_shared *sh)
{
	return bd_from_days(atomic_load_explicit(&sh->today, memory_order_relaxed));
}
