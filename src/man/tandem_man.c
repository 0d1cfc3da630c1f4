/* tandem-man: writes one manual page in roff on stdout, at build time (src/man/meson.build).
 *
 *   tandem-man tandemd|hellod|tandemd-fence  OPTIONS from the program's option table
 *   tandem-man tandemctl HELP                the program's own usage text, from file HELP
 *
 * The pages say what --help and show-config say, from the same tables (cfg_man.h). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../hellod/options.h"
#include "../patroni/options.h"
#include "cfg_man.h"

typedef struct page {
	const char *name;
	const char *section;
	const char *summary;
	const char *synopsis;
	const char *description;
	const cfg_table *table; /* the OPTIONS section */
	bool usage_file;        /* a USAGE section: the program's --help output, from a file */
	const char *more;       /* further sections, roff */
} page;

static const char see_also[] = ".SH SEE ALSO\n"
                               "tandemd(8), tandemctl(1), hellod(8), tandemd-fence(8); "
                               "/usr/share/doc/tandem/ (deploy.md, tandemd.md, tandemctl.md, "
                               "hellod.md, security.md, backup.md, sites.md)\n";

static const page pages[] = {
    {"tandemd", "8", "the tandem HA agent beside one PostgreSQL cluster",
     "\\fBtandemd\\fR \\fICONFIG.yml\\fR [\\fB\\-\\-OPTION\\fR \\fIVALUE\\fR ...]",
     "tandemd runs beside one PostgreSQL instance, as its operating system user. It elects a "
     "leader through etcd v3, keeps one writable primary and streaming replicas, fails over "
     "automatically, and serves a Patroni-compatible REST API. The configuration file takes "
     "Patroni's YAML keys. Flags beat TANDEMD_* and PATRONI_* environment variables, which beat "
     "the file. Under systemd it runs as tandemd@VERSION-NAME with /etc/tandem/VERSION-NAME.yml.",
     &tandemd_options, false,
     ".SH SIGNALS\n"
     "SIGTERM and SIGINT hand leadership to the best replica (when this member leads), stop "
     "PostgreSQL (fast), give up the lease and exit. SIGHUP re-reads the file; the options marked "
     "reloadable above apply at once.\n"
     ".SH EXIT STATUS\n0 after a clean stop, 1 on a runtime failure, 2 on a bad configuration.\n"
     ".SH FILES\n/etc/tandem/VERSION-NAME.yml, /etc/tandem/VERSION-NAME.env, "
     "/lib/systemd/system/tandemd@.service\n"},
    {"hellod", "8", "the tandem hello-birthday HTTP API",
     "\\fBhellod\\fR [\\fB\\-\\-config\\fR \\fIFILE\\fR] [\\fB\\-\\-OPTION\\fR \\fIVALUE\\fR ...]",
     "hellod serves the hello-birthday API over PostgreSQL, to allow-listed clients, with request "
     "deadlines that absorb failovers. It refuses to run as root. Flags beat HELLOD_* environment "
     "variables, which beat the file.",
     &hellod_options, false,
     ".SH SIGNALS\n"
     "SIGTERM and SIGINT drain and exit. SIGHUP reloads the configuration. SIGUSR2 restarts in "
     "place: the binary on disk starts with the listening sockets, and the old process drains "
     "once the new one serves (systemctl reload hellod).\n"
     ".SH FILES\n/etc/tandem/hellod.yml, /etc/tandem/hellod.env, "
     "/lib/systemd/system/hellod.service\n"},
    {"tandemctl", "1", "the tandem operator's command-line tool",
     "\\fBtandemctl\\fR [\\fICONNECTION\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]",
     "tandemctl shows and changes a tandem cluster: its members, switchovers and failovers, "
     "restarts, configuration, backups, restores and sites; \\fBtandemctl init\\fR writes a "
     "node's configuration. Its usage text follows.",
     NULL, true, NULL},
    {"tandemd-fence", "8", "keeps a primary from outliving the agent that may let it write",
     "\\fBtandemd-fence exec\\fR \\fIPROGRAM\\fR [\\fIARGS\\fR] | \\fBtandemd-fence watchdog\\fR "
     "\\fIPIDFILE\\fR [\\fIDEVICE TIMEOUT_S\\fR]",
     "tandemd starts PostgreSQL and its tools through tandemd-fence, so that the kernel stops "
     "the postmaster when the agent dies, and a watchdog stops it when the agent freezes past "
     "the lease's safe end. It is not run by hand.",
     NULL, false,
     ".SH MODES\n"
     ".TP\n\\fBexec\\fR \\fIPROGRAM ARGS\\fR\n"
     "Arranges for SIGQUIT (PostgreSQL's immediate shutdown) to reach this process when its "
     "parent (tandemd) dies, then becomes PROGRAM.\n"
     ".TP\n\\fBwatchdog\\fR \\fIPIDFILE\\fR [\\fIDEVICE TIMEOUT_S\\fR]\n"
     "Reads deadlines from standard input; when one passes without a newer one, or the input "
     "ends, sends SIGQUIT to the postmaster named in PIDFILE (SIGKILL 2 s later). With DEVICE "
     "(a Linux watchdog) the machine is reset if this process cannot run either.\n"
     ".SH EXIT STATUS\n0 when told to exit, 3 after fencing, 2 on a usage error.\n"},
};

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	size_t got;
	while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += got;
		if (cap - n - 1 == 0) {
			char *bigger = realloc(buf, cap * 2);
			if (!bigger) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = bigger;
			cap *= 2;
		}
	}
	fclose(f);
	if (buf)
		buf[n] = '\0';
	return buf;
}

static int render(const page *p, const char *help_path)
{
	char *help = NULL;
	if (p->usage_file) {
		if (!help_path) {
			fprintf(stderr, "tandem-man: %s needs its usage text file\n", p->name);
			return 2;
		}
		help = slurp(help_path);
		if (!help) {
			fprintf(stderr, "tandem-man: cannot read %s\n", help_path);
			return 1;
		}
	}
	printf(".TH %s %s \"\" \"tandem %s\" \"tandem\"\n.SH NAME\n", p->name, p->section,
	       TANDEM_VERSION);
	cfg_man_escape(p->name, stdout);
	fputs(" \\- ", stdout);
	cfg_man_escape(p->summary, stdout);
	printf("\n.SH SYNOPSIS\n%s\n.SH DESCRIPTION\n", p->synopsis);
	cfg_man_escape(p->description, stdout);
	fputc('\n', stdout);
	if (p->table) {
		fputs(".SH OPTIONS\n", stdout);
		cfg_man_options(p->table, stdout);
	}
	if (help) {
		fputs(".SH USAGE\n", stdout);
		cfg_man_verbatim(help, stdout);
	}
	if (p->more)
		fputs(p->more, stdout);
	fputs(see_also, stdout);
	free(help);
	return ferror(stdout) ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr,
		        "usage: tandem-man tandemd|hellod|tandemctl|tandemd-fence [HELP]\n");
		return 2;
	}
	for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++)
		if (!strcmp(argv[1], pages[i].name))
			return render(&pages[i], argc == 3 ? argv[2] : NULL);
	fprintf(stderr, "tandem-man: no page %s\n", argv[1]);
	return 2;
}
