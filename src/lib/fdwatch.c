#include "fdwatch.h"

#include <stdlib.h>

#include "err.h"

struct fdwatch {
	uv_loop_t *loop;
	uv_poll_t *poll; /* NULL when no fd is bound */
	int fd;
	int events;
	fdwatch_cb cb;
	void *ud;
};

static void free_handle(uv_handle_t *h)
{
	free(h);
}

static void release_poll(fdwatch *w)
{
	if (!w->poll)
		return;
	uv_poll_stop(w->poll);
	uv_close((uv_handle_t *)w->poll, free_handle);
	w->poll = NULL;
	w->fd = -1;
	w->events = 0;
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	fdwatch *w = p->data;
	w->cb(w, status, events, w->ud);
}

fdwatch *fdwatch_new(uv_loop_t *loop, fdwatch_cb cb, void *ud)
{
	fdwatch *w = xcalloc(1, sizeof *w);
	w->loop = loop;
	w->fd = -1;
	w->cb = cb;
	w->ud = ud;
	return w;
}

void fdwatch_set(fdwatch *w, int fd, int events)
{
	if (fd < 0 || events == 0) {
		fdwatch_stop(w);
		return;
	}
	if (w->poll && w->fd != fd)
		release_poll(w);
	if (!w->poll) {
		w->poll = xmalloc(sizeof *w->poll);
		if (uv_poll_init(w->loop, w->poll, fd) != 0) {
			free(w->poll);
			w->poll = NULL;
			w->cb(w, UV_EBADF, 0, w->ud);
			return;
		}
		w->poll->data = w;
		w->fd = fd;
		w->events = 0;
	}
	if (w->events != events) {
		uv_poll_start(w->poll, events, on_poll);
		w->events = events;
	}
}

void fdwatch_stop(fdwatch *w)
{
	if (w->poll && w->events) {
		uv_poll_stop(w->poll);
		w->events = 0;
	}
}

void fdwatch_free(fdwatch *w)
{
	if (!w)
		return;
	release_poll(w);
	free(w);
}
