/* Child processes: starting one on the loop (proc_spawn, the one place that sets up uv_spawn), and
 * what /proc says about other processes: a process's state and command name, and its direct
 * children (PostgreSQL's backends are the postmaster's). Linux only. */
#ifndef TANDEM_PROC_H
#define TANDEM_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "err.h"

/* What to start and how. Every fd field is explicit: -1 means none (/dev/null for stdin, output
 * dropped); pass 1 and 2 to share ours. The child gets no other fd of ours (they are close-on-exec
 * or listed in `more_fds`). */
typedef struct proc_spec {
	const char *file;    /* the program's path; NULL: argv[0] */
	char **argv;         /* NULL-terminated */
	char **env;          /* NULL: this process's environment */
	const char *cwd;     /* NULL: this process's */
	int in_fd;           /* the child's stdin, unless in_pipe */
	uv_pipe_t *in_pipe;  /* not NULL: the child's stdin is this pipe, which we write to; the
	                      * caller has run uv_pipe_init on it */
	int out_fd, err_fd;  /* the child's stdout and stderr */
	const int *more_fds; /* inherited as the child's fds 3, 4, ... */
	size_t nmore;
	bool detached;   /* its own session: it outlives us */
	bool switch_ids; /* run as uid/gid (we are root) */
	uv_uid_t uid;
	uv_gid_t gid;
	uv_exit_cb on_exit;
	/* A failed start leaves `p` initialised (libuv's rule): proc_spawn closes it with this
	 * (NULL allowed), so a heap-allocated handle is freed there, never directly. */
	uv_close_cb on_failed_close;
} proc_spec;

/* Starts `s->argv` as the process handle `p` (whose `data` the caller sets); 0 or a libuv error
 * (the caller words the message). The caller closes the fds it handed over, after the call. */
int proc_spawn(uv_loop_t *loop, uv_process_t *p, const proc_spec *s) TND_MUST_CHECK;

/* A uv_close_cb that frees a heap-allocated handle. */
void proc_free_handle(uv_handle_t *h);

/* The state letter of `pid` ('R', 'S', 'Z' for a zombie, ...), or 0 when there is no such
 * process. `comm` (may be NULL) gets its command name, cut to `cap` - 1 bytes. */
char proc_state(long pid, char *comm, size_t cap);

/* Up to `cap` direct children of `pid` into `out`; returns how many. */
size_t proc_children(long pid, long *out, size_t cap);

#endif
