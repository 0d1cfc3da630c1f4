/* One libpq connection to one server, kept open between queries, non-blocking on a libuv loop:
 * for a caller that asks the same server the same questions again and again (tandemd asks its own
 * PostgreSQL for its state every loop_wait), without a new backend for every question.
 *
 * Queries run one at a time, in the order asked; the answer is the first row of the first result
 * that has rows. The connection is opened by the first query and kept while queries succeed. It is
 * closed, and the next query opens a new one, when
 *   - a query fails in any way (connection lost, SQL error, deadline): the caller hears an error,
 *     never an answer, and nothing of that connection is trusted again;
 *   - the owner calls pgsession_reset() (before stopping or restarting the server: a smart
 *     shutdown waits for every session, and a restarted server is a new server); every query
 *     asked before the reset fails;
 *   - the server closes it between queries (the socket is watched while idle).
 * A query that finds its kept connection closed before any answer came (the server ended it while
 * it was idle) is sent once more on a new connection, within its deadline: only ask what is safe
 * to run twice.
 *
 * `timeout_ms` bounds a query from the moment it is asked, waiting and connecting included.
 * Callbacks run on the loop, never from inside pgsession_query or pgsession_reset; a callback may
 * free the session. */
#ifndef TANDEM_PGSESSION_H
#define TANDEM_PGSESSION_H

#include <stdint.h>
#include <uv.h>

typedef struct pgsession pgsession;

/* The first row's columns (NULL for SQL NULL), valid during the call; or `err`. */
typedef void (*pgsession_cb)(const char *const *row, int ncols, const char *err, void *ud);

pgsession *pgsession_new(uv_loop_t *loop, const char *conninfo);
/* Queries not yet answered are dropped without their callbacks. Handles close on the loop. */
void pgsession_free(pgsession *s);

void pgsession_query(pgsession *s, const char *sql, uint64_t timeout_ms, pgsession_cb cb, void *ud);
/* Closes the connection; every query not yet answered fails with `reason`. */
void pgsession_reset(pgsession *s, const char *reason);

/* For tests and logs: the backend's pid while a connection is open, else 0; connections opened. */
int pgsession_backend_pid(const pgsession *s);
uint64_t pgsession_connects(const pgsession *s);

#endif
