/* Prometheus and Alertmanager for the demo: their configuration and command lines. */
#include "demo_monitor.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strbuf.h"

static char *rules_dir(const demo_setup *s)
{
	const char *env = getenv("TANDEM_MONITORING_DIR");
	char self[PATH_MAX];
	snprintf(self, sizeof self, "%s", s->tandemctl);
	char *candidates[] = {
	    env && *env ? xasprintf("%s/rules", env) : NULL,
	    /* the build tree: BUILD/src/tandemctl/tandemctl, the rules in SOURCE/monitoring */
	    xasprintf("%s/../../../monitoring/rules", dirname(self)),
	    xstrdup("/usr/share/tandem/monitoring/rules"),
	};
	char *found = NULL;
	for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
		char real[PATH_MAX];
		if (!found && candidates[i] && realpath(candidates[i], real)) {
			char *probe = xasprintf("%s/tandem-ha.yml", real);
			if (access(probe, R_OK) == 0)
				found = xstrdup(real);
			free(probe);
		}
		free(candidates[i]);
	}
	return found;
}

static char *prometheus_config(const demo_setup *s, const demo_monitor *m)
{
	strbuf b = STRBUF_INIT;
	sb_printf(
	    &b,
	    "# Written by tandemctl demo: every tandemd, etcd and hellod, with tandem's rules.\n"
	    "global:\n  scrape_interval: 5s\n  evaluation_interval: 5s\n"
	    "rule_files:\n  - %s/*.yml\n"
	    "alerting:\n  alertmanagers:\n    - static_configs:\n"
	    "        - targets: ['127.0.0.1:%d']\n"
	    "scrape_configs:\n  - job_name: tandem\n    static_configs:\n      - targets: [",
	    m->rules, m->am_port);
	for (int i = 0; i < DEMO_MEMBERS; i++)
		sb_printf(&b, "%s'127.0.0.1:%d'", i ? ", " : "", s->ports.rest[i]);
	sb_puts(&b, "]\n  - job_name: etcd\n    static_configs:\n      - targets: [");
	for (int k = 0; k < DEMO_SITES; k++)
		sb_printf(&b, "%s'127.0.0.1:%d'", k ? ", " : "", s->ports.etcd[k]);
	sb_puts(&b, "]\n  - job_name: hellod\n    static_configs:\n      - targets: [");
	for (int i = 0; i < DEMO_HELLODS; i++)
		sb_printf(&b, "%s'127.0.0.1:%d'", i ? ", " : "", s->ports.hellod[i]);
	sb_puts(&b, "]\n");
	return b.data;
}

static const char alertmanager_config[] =
    "# Written by tandemctl demo: alerts are shown on http://127.0.0.1:PORT, sent nowhere.\n"
    "route:\n  receiver: demo\nreceivers:\n  - name: demo\n";

int demo_monitor_prepare(const demo_setup *s, demo_monitor *m, char **why)
{
	memset(m, 0, sizeof *m);
	m->prometheus = demo_setup_which("prometheus");
	m->alertmanager = demo_setup_which("prometheus-alertmanager");
	m->rules = rules_dir(s);
	m->prom_port = s->base_port ? s->base_port + DEMO_NPORTS : 9090;
	m->am_port = m->prom_port + (s->base_port ? 1 : 3);
	const char *missing = !m->prometheus     ? "prometheus (Debian package prometheus)"
	                      : !m->alertmanager ? "prometheus-alertmanager (Debian package)"
	                      : !m->rules ? "tandem's alert rules (set TANDEM_MONITORING_DIR)"
	                                  : NULL;
	if (missing) {
		err_set(why, "cannot find %s", missing);
		return -1;
	}
	if (!demo_setup_port_free(m->prom_port) || !demo_setup_port_free(m->am_port)) {
		err_set(why, "127.0.0.1:%d or :%d is in use", m->prom_port, m->am_port);
		return -1;
	}
	char *prom = prometheus_config(s, m);
	int rc = demo_setup_write(s, "prometheus.yml", prom, 0644, why);
	free(prom);
	if (rc == 0)
		rc = demo_setup_write(s, "alertmanager.yml", alertmanager_config, 0644, why);
	if (rc != 0)
		return -1;
	m->prom_argv[0] = xstrdup(m->prometheus);
	m->prom_argv[1] = xasprintf("--config.file=%s/prometheus.yml", s->dir);
	m->prom_argv[2] = xasprintf("--storage.tsdb.path=%s/prometheus", s->dir);
	m->prom_argv[3] = xasprintf("--web.listen-address=127.0.0.1:%d", m->prom_port);
	m->am_argv[0] = xstrdup(m->alertmanager);
	m->am_argv[1] = xasprintf("--config.file=%s/alertmanager.yml", s->dir);
	m->am_argv[2] = xasprintf("--storage.path=%s/alertmanager", s->dir);
	m->am_argv[3] = xasprintf("--web.listen-address=127.0.0.1:%d", m->am_port);
	m->am_argv[4] = xstrdup("--cluster.listen-address=");
	return 0;
}

void demo_monitor_free(demo_monitor *m)
{
	free(m->prometheus);
	free(m->alertmanager);
	free(m->rules);
	for (size_t i = 0; i < sizeof m->prom_argv / sizeof m->prom_argv[0]; i++)
		free(m->prom_argv[i]);
	for (size_t i = 0; i < sizeof m->am_argv / sizeof m->am_argv[0]; i++)
		free(m->am_argv[i]);
	memset(m, 0, sizeof *m);
}
