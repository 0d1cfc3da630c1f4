#include "rywmap.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef struct slot {
	uint64_t hash; /* 0: empty */
	uint64_t lsn;
} slot;

struct rywmap {
	uv_mutex_t lock;
	size_t n;
	slot *slots;
	uint32_t tli;     /* of every position below; 0: none seen */
	uint64_t floor;   /* what a user without an entry needs */
	uint64_t primary; /* the latest known position of the primary */
	bool lost;        /* rywmap_lost(): nothing is known any more */
};

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h ? h : 1;
}

rywmap *rywmap_new(size_t slots)
{
	rywmap *m = xcalloc(1, sizeof *m);
	uv_mutex_init(&m->lock);
	m->n = slots ? slots : 1;
	m->slots = xcalloc(m->n, sizeof *m->slots);
	return m;
}

void rywmap_free(rywmap *m)
{
	if (!m)
		return;
	uv_mutex_destroy(&m->lock);
	free(m->slots);
	free(m);
}

static void observe_locked(rywmap *m, ryw_pos pos)
{
	if (m->lost || pos.tli == 0 || pos.tli < m->tli)
		return; /* an answer from a server on an older timeline */
	if (pos.tli > m->tli) {
		memset(m->slots, 0, m->n * sizeof *m->slots);
		m->tli = pos.tli;
		m->floor = pos.lsn;
		m->primary = pos.lsn;
		return;
	}
	if (pos.lsn > m->primary)
		m->primary = pos.lsn;
}

void rywmap_observe(rywmap *m, ryw_pos pos)
{
	uv_mutex_lock(&m->lock);
	observe_locked(m, pos);
	uv_mutex_unlock(&m->lock);
}

void rywmap_note(rywmap *m, const char *user, ryw_pos pos)
{
	uint64_t h = name_hash(user);
	uv_mutex_lock(&m->lock);
	observe_locked(m, pos);
	if (!m->lost && pos.tli == m->tli) {
		slot *s = &m->slots[h % m->n];
		if (s->hash != h) {
			if (s->hash && s->lsn > m->floor)
				m->floor = s->lsn; /* the user it held is forgotten */
			s->hash = h;
			s->lsn = 0;
		}
		if (pos.lsn > s->lsn)
			s->lsn = pos.lsn;
	}
	uv_mutex_unlock(&m->lock);
}

void rywmap_lost(rywmap *m)
{
	uv_mutex_lock(&m->lock);
	m->lost = true;
	m->tli = 0;
	uv_mutex_unlock(&m->lock);
}

ryw_pos rywmap_need(rywmap *m, const char *user)
{
	uint64_t h = name_hash(user);
	uv_mutex_lock(&m->lock);
	ryw_pos p = {m->tli, m->floor};
	const slot *s = &m->slots[h % m->n];
	if (s->hash == h && s->lsn > p.lsn)
		p.lsn = s->lsn;
	uv_mutex_unlock(&m->lock);
	return p;
}

ryw_pos rywmap_primary(rywmap *m)
{
	uv_mutex_lock(&m->lock);
	ryw_pos p = {m->tli, m->primary};
	uv_mutex_unlock(&m->lock);
	return p;
}
