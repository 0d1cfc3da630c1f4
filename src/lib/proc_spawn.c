/* proc_spawn: the one place that sets up uv_spawn (proc.h). Apart from proc.c so that what only
 * reads /proc (tandemd-fence) does not need libuv. */
#include <stdlib.h>

#include "proc.h"

static void set_fd(uv_stdio_container_t *c, int fd)
{
	if (fd < 0) {
		c->flags = UV_IGNORE;
	} else {
		c->flags = UV_INHERIT_FD;
		c->data.fd = fd;
	}
}

int proc_spawn(uv_loop_t *loop, uv_process_t *p, const proc_spec *s)
{
	uv_stdio_container_t *stdio = xcalloc(3 + s->nmore, sizeof *stdio);
	if (s->in_pipe) {
		stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
		stdio[0].data.stream = (uv_stream_t *)s->in_pipe;
	} else {
		set_fd(&stdio[0], s->in_fd);
	}
	set_fd(&stdio[1], s->out_fd);
	set_fd(&stdio[2], s->err_fd);
	for (size_t i = 0; i < s->nmore; i++)
		set_fd(&stdio[3 + i], s->more_fds[i]);
	uv_process_options_t po = {
	    .file = s->file ? s->file : s->argv[0],
	    .args = s->argv,
	    .env = s->env,
	    .cwd = s->cwd,
	    .exit_cb = s->on_exit,
	    .stdio = stdio,
	    .stdio_count = (int)(3 + s->nmore),
	};
	if (s->detached)
		po.flags |= UV_PROCESS_DETACHED;
	if (s->switch_ids) {
		po.flags |= UV_PROCESS_SETUID | UV_PROCESS_SETGID;
		po.uid = s->uid;
		po.gid = s->gid;
	}
	int r = uv_spawn(loop, p, &po);
	free(stdio);
	if (r != 0)
		uv_close((uv_handle_t *)p, s->on_failed_close);
	return r;
}

void proc_free_handle(uv_handle_t *h)
{
	free(h);
}
