/* Two sites: the leader of a site being demoted, once PostgreSQL has stopped cleanly, publishes
 * where its shutdown checkpoint record starts and ends (the `shutdown_checkpoint` key,
 * dcs_ckpt.h) before it starts again as a standby. tandemctl site-switchover promotes the other
 * site as soon as that site has replayed exactly to the end of it, without waiting for this
 * member to come back as the standby leader. Nothing here decides: a stop that was not clean,
 * or a checkpoint that cannot be read, publishes nothing (tandemctl then waits for the standby
 * leader's own position, as before). */
#include <stdlib.h>
#include <string.h>

#include "agent_priv.h"
#include "dcs_ckpt.h"
#include "job.h"
#include "log.h"

typedef struct ckpt_step {
	agent *a;
	agent_step_fn then;
	dcs_ckpt c;
	uint64_t seg_size;
} ckpt_step;

static void ckpt_done(ckpt_step *k)
{
	agent *a = k->a;
	agent_step_fn then = k->then;
	free(k);
	then(a, true); /* whatever happened, the member goes on to start as a standby */
}

static void ckpt_put(dcs_result r, const char *error, void *ud)
{
	(void)ud;
	if (r != DCS_OK)
		log_warning("publishing the shutdown checkpoint: %s",
		            error ? error : dcs_result_name(r));
}

static void ckpt_dumped(const job_result *r, void *ud)
{
	ckpt_step *k = ud;
	uint32_t len = r->status == 0 ? dcs_ckpt_waldump_len(r->out) : 0;
	k->c.end = len ? dcs_ckpt_record_end(k->c.lsn, len, k->seg_size) : 0;
	if (!k->c.end) {
		log_warning(
		    "pg_waldump did not show the shutdown checkpoint at %X/%X: its position "
		    "is not published",
		    (unsigned)(k->c.lsn >> 32), (unsigned)k->c.lsn);
		ckpt_done(k);
		return;
	}
	char *v = dcs_ckpt_encode(&k->c);
	log_info("shutdown checkpoint at %X/%X, ending at %X/%X on timeline %lld: published for "
	         "the other site",
	         (unsigned)(k->c.lsn >> 32), (unsigned)k->c.lsn, (unsigned)(k->c.end >> 32),
	         (unsigned)k->c.end, (long long)k->c.timeline);
	dcs_put_key(k->a->dcs, "shutdown_checkpoint", v, ckpt_put, NULL);
	free(v);
	ckpt_done(k);
}

static uint64_t seg_size_of(const char *out)
{
	const char *p = out ? strstr(out, "Bytes per WAL segment:") : NULL;
	return p ? strtoull(p + strlen("Bytes per WAL segment:"), NULL, 10) : 0;
}

static void ckpt_read(bool ok, const char *out, const char *moved, void *ud)
{
	ckpt_step *k = ud;
	agent *a = k->a;
	(void)moved;
	pgctl_control ctl;
	if (!ok || pgctl_parse_controldata(out, &ctl) != 0 || !ctl.clean || !ctl.was_primary) {
		log_warning("the stop left no clean shutdown checkpoint to publish");
		ckpt_done(k);
		return;
	}
	snprintf(k->c.sysid, sizeof k->c.sysid, "%s", ctl.sysid);
	k->c.timeline = ctl.timeline;
	k->c.lsn = ctl.checkpoint_lsn;
	k->seg_size = seg_size_of(out);
	char *bin = xasprintf("%s/pg_waldump",
	                      a->s->bin_dir ? a->s->bin_dir : "/usr/lib/postgresql/15/bin");
	char *path = xasprintf("--path=%s/pg_wal", a->s->data_dir);
	char *start = xasprintf("--start=%X/%X", (unsigned)(k->c.lsn >> 32), (unsigned)k->c.lsn);
	char *tl = xasprintf("--timeline=%lld", (long long)k->c.timeline);
	char *argv[] = {bin, path, start, tl, "--limit=1", NULL};
	job_spec js = {
	    .argv = argv, .timeout_ms = 10000, .out_cap = 1u << 16, .done = ckpt_dumped, .ud = k};
	char *err = NULL;
	if (!job_start(a->loop, &js, &err)) {
		log_warning("pg_waldump: %s", err);
		free(err);
		ckpt_done(k);
	}
	free(bin);
	free(path);
	free(start);
	free(tl);
}

void agent_site_publish_checkpoint(agent *a, agent_step_fn then)
{
	ckpt_step *k = xcalloc(1, sizeof *k);
	k->a = a;
	k->then = then;
	pgctl_clone_opts o = {
	    .bin_dir = a->s->bin_dir, .timeout_ms = 10000, .done = ckpt_read, .ud = k};
	char *e = NULL;
	if (pgctl_controldata(a->loop, a->pc, &o, &e) != 0) {
		log_warning("pg_controldata: %s", e);
		free(e);
		ckpt_done(k);
	}
}
