/* What /proc says about other processes: a process's state and command name, and its direct
 * children (PostgreSQL's backends are the postmaster's). Linux only. */
#ifndef TANDEM_PROC_H
#define TANDEM_PROC_H

#include <stddef.h>

/* The state letter of `pid` ('R', 'S', 'Z' for a zombie, ...), or 0 when there is no such
 * process. `comm` (may be NULL) gets its command name, cut to `cap` - 1 bytes. */
char proc_state(long pid, char *comm, size_t cap);

/* Up to `cap` direct children of `pid` into `out`; returns how many. */
size_t proc_children(long pid, long *out, size_t cap);

#endif
