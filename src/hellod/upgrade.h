/* Restarts and binary upgrades that lose no request: the running process starts the (possibly new)
 * binary with its listening sockets inherited, waits until the new process says it is serving,
 * and only then drains and exits. Both processes accept from the very same sockets meanwhile, so no
 * connection is refused and none waits in a queue that disappears.
 *
 * Inherited sockets arrive as fds 3, 4, ... with TANDEM_LISTEN_FDS=<count> and
 * TANDEM_READY_FD=<fd> (a pipe to write "ready" to), or from systemd socket activation
 * (LISTEN_FDS/LISTEN_PID). */
#ifndef HELLOD_UPGRADE_H
#define HELLOD_UPGRADE_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "err.h"

/* The listening sockets this process inherited (count in *n, possibly 0), and the readiness pipe
 * to notify (-1 when none). Clears the variables so that children do not see them. */
int upgrade_inherited(int **fds, size_t *n, int *ready_fd, char **err) TND_MUST_CHECK;

/* Tells the parent that handed the sockets over that this process serves. */
void upgrade_notify_ready(int ready_fd);

typedef void (*upgrade_done_cb)(bool ok, void *ud);

typedef struct upgrade upgrade;

/* Starts `exe` with `argv` and the sockets; calls `done(true)` once the new process is ready,
 * `done(false)` if it exits or closes the pipe before that. Returns NULL on error. The caller owns
 * the result and releases it with upgrade_forget() (the new process goes on regardless). */
upgrade *upgrade_start(uv_loop_t *loop, const char *exe, char **argv, const int *fds, size_t n,
                       upgrade_done_cb done, void *ud, char **err) TND_MUST_CHECK;
/* Stops watching the new process and frees what watched it; `done` is not called any more. */
void upgrade_forget(upgrade *u);

#endif
