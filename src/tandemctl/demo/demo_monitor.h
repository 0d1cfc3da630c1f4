/* Prometheus and Alertmanager beside the demo (docs/monitoring.md, "Prometheus"), when Debian's
 * prometheus and prometheus-alertmanager are installed and tandem's rules are found: Prometheus
 * scrapes every tandemd, etcd and hellod of both sites and evaluates monitoring/rules/. */
#ifndef TANDEMCTL_DEMO_MONITOR_H
#define TANDEMCTL_DEMO_MONITOR_H

#include "demo_setup.h"

typedef struct demo_monitor {
	char *prometheus, *alertmanager; /* the programs */
	char *rules;                     /* the directory of the rule files */
	int prom_port, am_port;
	char *prom_argv[5], *am_argv[6]; /* NULL-terminated */
} demo_monitor;

/* Finds the programs and the rules (TANDEM_MONITORING_DIR/rules, the source tree beside the
 * build tree, or /usr/share/tandem/monitoring/rules), takes the ports (9090 and 9093, or the two
 * after --base-port's range) and writes DIR/prometheus.yml and DIR/alertmanager.yml. 0 when both
 * can start; -1 with *why (what is missing: the demo runs without them). */
int demo_monitor_prepare(const demo_setup *s, demo_monitor *m, char **why) TND_MUST_CHECK;

void demo_monitor_free(demo_monitor *m);

#endif
