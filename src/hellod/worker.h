/* A worker thread: its own libuv loop, HTTP server on the shared listening sockets, and database
 * pool. Everything a request touches lives on one worker, so request handling takes no locks. */
#ifndef HELLOD_WORKER_H
#define HELLOD_WORKER_H

#include <stdbool.h>

#include "err.h"
#include "shared.h"

typedef struct worker worker;

/* Builds the worker (from the supervisor thread) and starts its thread; the worker counts its
 * requests in *metrics. */
worker *worker_start(int id, hellod_shared *sh, hellod_metrics *metrics, char **err) TND_MUST_CHECK;
/* Asks the worker to take the current snapshot (after a reload). Any thread. */
void worker_reload(worker *w);
/* Asks the worker to drain and stop. Any thread. */
void worker_stop(worker *w);
bool worker_exited(const worker *w);
/* Joins the thread (after worker_exited) and frees the worker. */
void worker_join(worker *w);

#endif
