/* The adapter between the loop and a foreign library that owns its sockets (libpq, libcurl):
 * watch this fd for these events, stop, and clean up. Libraries close and reopen sockets behind our
 * back (libpq moving to the next host, reconnecting), so the watch follows the fd number and is
 * rebuilt when it changes. Stop the watch before a library call that may close the socket. */
#ifndef TANDEM_FDWATCH_H
#define TANDEM_FDWATCH_H

#include <uv.h>

typedef struct fdwatch fdwatch;

/* `events` given to the callback are UV_READABLE / UV_WRITABLE; status < 0 is a poll error. */
typedef void (*fdwatch_cb)(fdwatch *w, int status, int events, void *ud);

fdwatch *fdwatch_new(uv_loop_t *loop, fdwatch_cb cb, void *ud);
/* Watches `fd` for `events`; fd < 0 or events == 0 stops watching. */
void fdwatch_set(fdwatch *w, int fd, int events);
void fdwatch_stop(fdwatch *w);
/* Stops and frees (the handle is released at the end of the loop pass). */
void fdwatch_free(fdwatch *w);

#endif
