/* The demo's children: processes started with uv_spawn on the demo's loop, each with its output
 * in a log file, in a session of its own (so a Ctrl-C on the terminal reaches the demo only, and
 * the demo stops them in order), as the `postgres` OS user when the demo runs as root. */
#ifndef TANDEMCTL_DEMO_PROCS_H
#define TANDEMCTL_DEMO_PROCS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "err.h"

typedef struct demo_procs demo_procs;
typedef struct demo_proc demo_proc;

/* Called once when a child has exited (status, or the signal that ended it). */
typedef void (*demo_proc_exit_cb)(demo_proc *p, int64_t status, int term_signal, void *arg);

/* A set of children on `loop`. With `as_user`, every child runs as uid/gid with HOME set to
 * `home`. */
demo_procs *demo_procs_new(uv_loop_t *loop, bool as_user, uid_t uid, gid_t gid, const char *home);

/* Starts argv[0] (a path) in `cwd`. Its stdout and stderr are appended to `log_path`; with
 * `out_path`, stdout goes there instead (truncated first). `env` adds NAME=VALUE entries (NULL
 * terminated, may be NULL) to the demo's environment. NULL with *err on failure. */
demo_proc *demo_proc_start(demo_procs *ps, const char *name, char *const argv[], const char *cwd,
                           const char *log_path, const char *out_path, char *const env[],
                           demo_proc_exit_cb cb, void *arg, char **err) TND_MUST_CHECK;

const char *demo_proc_name(const demo_proc *p);
const char *demo_proc_log(const demo_proc *p);
int demo_proc_pid(const demo_proc *p);
bool demo_proc_running(const demo_proc *p);
/* True once demo_proc_stop was called for it. */
bool demo_proc_stopping(const demo_proc *p);

/* Sends SIGTERM, and SIGKILL if the child is still there after `grace_ms`. The exit callback
 * reports the end. Nothing happens for a child that has already exited. */
void demo_proc_stop(demo_proc *p, unsigned grace_ms);

/* Closes every handle; call with every child exited, then run the loop once more to let the
 * closes finish, then demo_procs_free. */
void demo_procs_close(demo_procs *ps);
void demo_procs_free(demo_procs *ps);

#endif
