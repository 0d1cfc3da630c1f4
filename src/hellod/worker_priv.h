/* Shared by the files of a worker (worker.c: the thread, its loop and the requests; reads.c: GETs
 * answered by the site's replicas) only. */
#ifndef HELLOD_WORKER_PRIV_H
#define HELLOD_WORKER_PRIV_H

#include <stdatomic.h>

#include "api.h"
#include "httpd.h"
#include "pgpool.h"
#include "ryw.h"
#include "worker.h"

struct worker {
	int id;
	hellod_shared *sh;
	uv_loop_t loop;
	uv_thread_t thread;
	uv_async_t wake;
	uv_timer_t tick;
	atomic_bool want_reload, want_stop, exited;
	hellod_snapshot *snap;
	httpd *http;
	pgpool *pool;
	hellod_metrics *metrics;
	bool draining;
	uint64_t drain_deadline_ms;
	/* read-from local (reads.c) */
	pgpool *rpool;         /* the site's replicas */
	uv_timer_t poll;       /* asks again for the GETs waiting for replay */
	struct db_op *waiting; /* those GETs */
	pg_query position;     /* the primary's position, asked now and then */
	bool position_busy;
	bool warned_tli; /* said once that the replica hides its timeline */
	unsigned ticks;
	uint64_t nwaiting; /* GETs between their first wait and their answer */
};

/* One request waiting for the database. */
typedef struct db_op {
	pg_query q;
	worker *w;
	http_req *req;
	api_route route;
	bool is_put;
	char username[BD_MAX_USERNAME + 1];
	char dob[11];
	/* A GET of read-from local. */
	ryw_pos token;
	uint64_t first_answer_us; /* the replica's first answer (0: none yet) */
	bool waited, saw_behind;
	struct db_op *next_wait;
} db_op;

/* worker.c */
/* Sends the query of `op` to the primary, answered by on_db_done. */
void worker_submit_primary(worker *w, db_op *op);
/* Answers a GET from the row of `res` (none: 404), and frees `op`. */
void worker_answer_get(worker *w, db_op *op, const PGresult *res);

/* reads.c */
void reads_start(worker *w);
/* A GET with read-from local: from the replica when the rules allow, from the primary if not. */
void reads_get(worker *w, db_op *op);
/* Every tick: asks the primary for its position now and then. */
void reads_tick(worker *w);
/* The read pool's connection string changed. */
void reads_reload(worker *w, const char *old_conninfo);
/* Before the pools close: the GETs waiting for replay go to the primary's pool. */
void reads_stop(worker *w);
/* A commit's position (the answer of STORE_POSITION), or tli 0 when unreadable. */
ryw_pos reads_position(const PGresult *res);

#endif
