/* A child process with a deadline, for tools the agents drive (pgBackRest): started on the loop
 * in its own process group, its standard output kept (up to a cap) and the tail of its standard
 * error, killed with its whole group when the deadline passes or when the owner cancels it, and
 * reported once through `done`. Nothing here blocks the loop. */
#ifndef TANDEM_JOB_H
#define TANDEM_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "err.h"

typedef struct job job;

typedef struct job_result {
	int status;           /* exit status, or -1 when killed by a signal */
	int signal;           /* the signal that ended it, or 0 */
	bool timed_out;       /* killed at the deadline */
	bool cancelled;       /* killed by job_cancel */
	const char *out;      /* standard output, NUL-terminated, at most out_cap bytes */
	bool out_truncated;   /* it wrote more than out_cap */
	const char *err_tail; /* the last JOB_ERR_TAIL bytes of standard error */
	uint64_t elapsed_ms;
} job_result;

enum { JOB_ERR_TAIL = 2048 };

typedef void (*job_done_cb)(const job_result *r, void *ud);

typedef struct job_spec {
	char **argv;         /* NULL-terminated; argv[0] is looked up in PATH */
	char **env;          /* NULL: ours */
	const char *cwd;     /* NULL: "/" */
	uint64_t timeout_ms; /* 0: none */
	size_t out_cap;      /* 0: 1 MiB */
	bool switch_ids;     /* run as uid/gid (we are root) */
	uv_uid_t uid;
	uv_gid_t gid;
	job_done_cb done;
	void *ud;
} job_spec;

/* Starts it; NULL with *err when it cannot start (`done` is then never called). The job frees
 * itself after `done` returns. */
job *job_start(uv_loop_t *loop, const job_spec *s, char **err) TND_MUST_CHECK;

/* Kills the job's process group; `done` follows with cancelled set. */
void job_cancel(job *j);

/* The child's pid. */
int job_pid(const job *j);

/* A job_result as one line for logs and errors: "exit 45: <last line of stderr>", "killed at
 * its deadline (600 s)", "signal 9" (caller frees). */
char *job_describe(const job_result *r);

#endif
