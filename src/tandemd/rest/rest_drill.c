/* The restore drill metrics (docs/backup.md, "Restore drills"). */
#include <stdlib.h>

#include "dcs_drill.h"
#include "log.h"
#include "metrics.h"
#include "rest_render.h"

static void family(strbuf *out, const char *labels, const char *name, const char *type,
                   const char *help, double v)
{
	metrics_family(out, name, type, help);
	metrics_sample(out, name, labels, v);
}

void rest_render_drill_metrics(strbuf *out, const char *labels, const agent_status *st)
{
	family(out, labels, "tandem_drill_running", "gauge",
	       "Whether a restore drill runs on this member.", st->drill_step ? 1 : 0);
	const dcs_view *v = st->view;
	dcs_drill d;
	char *err = NULL;
	if (!v || !v->drill)
		return;
	if (dcs_drill_decode(v->drill, &d, &err) != 0) {
		log_debug("metrics: the DCS drill key is unreadable: %s", err);
		free(err);
		return;
	}
	family(out, labels, "tandem_drill_last_ok", "gauge",
	       "Whether the cluster's last restore drill passed.", d.ok ? 1 : 0);
	family(out, labels, "tandem_drill_last_timestamp_seconds", "gauge",
	       "When the cluster's last restore drill ended (Unix time).",
	       (double)d.finished_unix_ms / 1000.0);
	family(out, labels, "tandem_drill_last_success_timestamp_seconds", "gauge",
	       "When the cluster's last passing restore drill ended (Unix time; 0: never).",
	       (double)d.last_success_unix_ms / 1000.0);
	family(out, labels, "tandem_drill_duration_seconds", "gauge",
	       "The last restore drill's measured RTO: from the start of the restore until the "
	       "restored copy was promoted (0 when it never was).",
	       (double)d.rto_ms / 1000.0);
	family(out, labels, "tandem_drill_tables", "gauge",
	       "Tables whose row counts the last restore drill compared.", (double)d.tables);
	family(out, labels, "tandem_drill_failures_total", "counter",
	       "Restore drills that failed, in the cluster (the DCS drill key's count).",
	       (double)d.failures);
	dcs_drill_free(&d);
}
