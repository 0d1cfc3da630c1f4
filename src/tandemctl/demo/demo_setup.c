/* The demo before anything runs: options, ports, programs, directory, configuration files. */
#include "demo_setup.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "demo_sites.h"
#include "strbuf.h"

static void print_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: tandemctl demo [--smoke] [--keep] [--dir DIR] [--base-port PORT]\n"
	    "\n"
	    "Brings two sites up on this machine, on 127.0.0.1, with the product's default\n"
	    "timings (docs/sites.md):\n"
	    "  site A, the primary site: its etcd, PostgreSQL 15 members a1 and a2 each with\n"
	    "    its tandemd, an HAProxy and hellod #1;\n"
	    "  site B, a standby cluster of site A: its own etcd, members b1 (the standby\n"
	    "    leader, replicating from A) and b2, an HAProxy and hellod #2.\n"
	    "Each HAProxy lists both sites' members: its read-write port goes to whichever site\n"
	    "is primary (so hellod #2 in site B writes to site A's leader), its read-only port\n"
	    "to its own site's replicas. It prints what runs where and what to try (a\n"
	    "failover, a kill -9 of the leader, a site switchover, a disaster promotion of site\n"
	    "B), then waits; Ctrl-C (or SIGTERM) stops everything in order (hellod, HAProxy,\n"
	    "the members, etcd) and removes the directory. Run as root, the servers run as the\n"
	    "postgres OS user.\n"
	    "\n"
	    "Options:\n"
	    "      --dir DIR         where everything lives (created, or an empty directory;\n"
	    "                        default: a new /tmp/tandem-demo.XXXXXX)\n"
	    "      --keep            keep the directory (data and logs) after stopping\n"
	    "      --base-port PORT  use %d consecutive ports from PORT instead of the standard\n"
	    "                        ones (etcd A 2379-2380, etcd B 2381-2382, tandemd REST\n"
	    "                        8008-8011, PostgreSQL 5432-5435, HAProxy A 5000 rw /\n"
	    "                        5001 ro / 7000 stats, HAProxy B 5002 / 5003 / 7001,\n"
	    "                        hellod 8080-8081); in order: etcd A client and peer, etcd B\n"
	    "                        client and peer, REST x4, PostgreSQL x4 (a1 a2 b1 b2),\n"
	    "                        HAProxy A rw, ro, stats, HAProxy B rw, ro, stats, hellod x2\n"
	    "      --smoke           bring everything up, check that both HAProxy read-write\n"
	    "                        ports reach site A's leader, a PUT through hellod #2 (site\n"
	    "                        B) and a GET through hellod #1 (site A), then stop; exit 0\n"
	    "                        when all is well\n"
	    "  -h, --help            this text\n"
	    "\n"
	    "Exit status: 0 stopped cleanly (or the smoke check passed); 1 something failed to\n"
	    "start or a check failed (the failing component's log is shown, the directory kept);\n"
	    "2 usage error.\n",
	    DEMO_NPORTS);
}

int demo_setup_args(demo_setup *s, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dir", required_argument, NULL, 'd'}, {"keep", no_argument, NULL, 'k'},
	    {"smoke", no_argument, NULL, 's'},     {"base-port", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0},
	};
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			s->dir_opt = optarg;
			break;
		case 'k':
			s->keep = true;
			break;
		case 's':
			s->smoke = true;
			break;
		case 'p': {
			char *end;
			errno = 0;
			long p = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || p < 1024 ||
			    p > 65535 - (DEMO_NPORTS - 1)) {
				fprintf(
				    stderr,
				    "tandemctl demo: --base-port '%s': give a port from 1024 to "
				    "%d\n",
				    optarg, 65535 - (DEMO_NPORTS - 1));
				return 2;
			}
			s->base_port = (int)p;
			break;
		}
		case 'h':
			print_usage(stdout);
			return 0;
		case ':':
			fprintf(stderr, "tandemctl demo: option '%s' needs a value\n",
			        argv[optind - 1]);
			print_usage(stderr);
			return 2;
		default:
			fprintf(stderr, "tandemctl demo: unknown option '%s'\n", argv[optind - 1]);
			print_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tandemctl demo: unexpected argument '%s'\n", argv[optind]);
		print_usage(stderr);
		return 2;
	}
	return -1;
}

static void assign_ports(demo_setup *s)
{
	demo_ports *p = &s->ports;
	if (s->base_port) {
		int b = s->base_port;
		for (int k = 0; k < DEMO_SITES; k++) {
			p->etcd[k] = b++;
			p->etcd_peer[k] = b++;
		}
		for (int i = 0; i < DEMO_MEMBERS; i++)
			p->rest[i] = b++;
		for (int i = 0; i < DEMO_MEMBERS; i++)
			p->pg[i] = b++;
		for (int k = 0; k < DEMO_SITES; k++) {
			p->rw[k] = b++;
			p->ro[k] = b++;
			p->stats[k] = b++;
		}
		for (int i = 0; i < DEMO_HELLODS; i++)
			p->hellod[i] = b++;
		return;
	}
	for (int k = 0; k < DEMO_SITES; k++) {
		p->etcd[k] = 2379 + 2 * k;
		p->etcd_peer[k] = 2380 + 2 * k;
		p->rw[k] = 5000 + 2 * k;
		p->ro[k] = 5001 + 2 * k;
		p->stats[k] = 7000 + k;
	}
	for (int i = 0; i < DEMO_MEMBERS; i++) {
		p->rest[i] = 8008 + i;
		p->pg[i] = 5432 + i;
	}
	for (int i = 0; i < DEMO_HELLODS; i++)
		p->hellod[i] = 8080 + i;
}

/* 0 when 127.0.0.1:port can be listened on. */
static int port_free(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int rc = bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 1) == 0 ? 0 : -1;
	close(fd);
	return rc;
}

static int check_ports(const demo_setup *s, char **err)
{
	const demo_ports *p = &s->ports;
	struct {
		int port;
		char what[48];
	} all[DEMO_NPORTS];
	int n = 0;
	for (int k = 0; k < DEMO_SITES; k++) {
		const char *site = demo_site_name[k];
		all[n].port = p->etcd[k];
		snprintf(all[n++].what, sizeof all[0].what, "site %s's etcd client port", site);
		all[n].port = p->etcd_peer[k];
		snprintf(all[n++].what, sizeof all[0].what, "site %s's etcd peer port", site);
		all[n].port = p->rw[k];
		snprintf(all[n++].what, sizeof all[0].what, "site %s's HAProxy read-write port",
		         site);
		all[n].port = p->ro[k];
		snprintf(all[n++].what, sizeof all[0].what, "site %s's HAProxy read-only port",
		         site);
		all[n].port = p->stats[k];
		snprintf(all[n++].what, sizeof all[0].what, "site %s's HAProxy stats page", site);
	}
	for (int i = 0; i < DEMO_MEMBERS; i++) {
		all[n].port = p->rest[i];
		snprintf(all[n++].what, sizeof all[0].what, "the REST API of %s",
		         demo_member_name[i]);
		all[n].port = p->pg[i];
		snprintf(all[n++].what, sizeof all[0].what, "the PostgreSQL of %s",
		         demo_member_name[i]);
	}
	for (int i = 0; i < DEMO_HELLODS; i++) {
		all[n].port = p->hellod[i];
		snprintf(all[n++].what, sizeof all[0].what, "hellod #%d", i + 1);
	}
	strbuf sb = STRBUF_INIT;
	for (int i = 0; i < n; i++)
		if (port_free(all[i].port) != 0)
			sb_printf(&sb, "%s127.0.0.1:%d (%s)", sb.len ? ", " : "", all[i].port,
			          all[i].what);
	if (!sb.len)
		return 0;
	err_set(err,
	        "port%s already in use: %s; stop what listens there (an earlier demo?) or move the "
	        "demo with --base-port PORT",
	        strchr(sb.data, ',') ? "s" : "", sb.data);
	sb_free(&sb);
	return -1;
}

static char *exe_in(const char *dir, const char *rel)
{
	char *p = xasprintf("%s/%s", dir, rel);
	char real[PATH_MAX];
	if (access(p, X_OK) == 0 && realpath(p, real)) {
		free(p);
		return xstrdup(real);
	}
	free(p);
	return NULL;
}

static char *exe_on_path(const char *name)
{
	const char *path = getenv("PATH");
	strbuf dirs = STRBUF_INIT;
	sb_printf(&dirs, "%s:/usr/sbin:/usr/bin:/sbin:/bin", path && *path ? path : "");
	char *save = NULL, *res = NULL;
	for (char *d = strtok_r(dirs.data, ":", &save); d && !res; d = strtok_r(NULL, ":", &save))
		if (*d)
			res = exe_in(d, name);
	sb_free(&dirs);
	return res;
}

char *demo_setup_which(const char *name)
{
	return exe_on_path(name);
}

bool demo_setup_port_free(int port)
{
	return port_free(port) == 0;
}

static int find_programs(demo_setup *s, char **err)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0) {
		err_set(err, "cannot find this program (/proc/self/exe): %s", strerror(errno));
		return -1;
	}
	self[n] = '\0';
	s->tandemctl = xstrdup(self);
	char *dir = dirname(self);
	/* Installed side by side, or in the build tree (src/tandemctl, src/tandemd, src/hellod). */
	s->tandemd = exe_in(dir, "tandemd");
	if (!s->tandemd)
		s->tandemd = exe_in(dir, "../tandemd/tandemd");
	s->hellod = exe_in(dir, "hellod");
	if (!s->hellod)
		s->hellod = exe_in(dir, "../hellod/hellod");
	if (!s->tandemd)
		s->tandemd = exe_on_path("tandemd");
	if (!s->hellod)
		s->hellod = exe_on_path("hellod");
	s->etcd = exe_on_path("etcd");
	s->haproxy = exe_on_path("haproxy");
	/* PostgreSQL's own psql: Debian's wrapper in /usr/bin picks a version from the user's
	 * environment, which the postgres user run from here may not have. */
	s->psql = exe_in("/usr/lib/postgresql/15/bin", "psql");
	if (!s->psql)
		s->psql = exe_on_path("psql");
	const char *missing = !s->tandemd   ? "tandemd (build it: make)"
	                      : !s->hellod  ? "hellod (build it: make)"
	                      : !s->etcd    ? "etcd (Debian package etcd-server; make deps)"
	                      : !s->haproxy ? "haproxy (Debian package haproxy; make deps)"
	                      : !s->psql    ? "psql (Debian package postgresql-client-15)"
	                                    : NULL;
	if (missing) {
		err_set(err, "cannot find %s", missing);
		return -1;
	}
	if (access("/usr/lib/postgresql/15/bin/postgres", X_OK) != 0) {
		err_set(err,
		        "cannot find PostgreSQL 15 (/usr/lib/postgresql/15/bin/postgres; Debian "
		        "package postgresql-15; make deps)");
		return -1;
	}
	return 0;
}

static int make_dir(demo_setup *s, char **err)
{
	if (s->dir_opt) {
		if (mkdir(s->dir_opt, 0755) != 0 && errno != EEXIST) {
			err_set(err, "%s: %s", s->dir_opt, strerror(errno));
			return -1;
		}
		char real[PATH_MAX];
		if (!realpath(s->dir_opt, real)) {
			err_set(err, "%s: %s", s->dir_opt, strerror(errno));
			return -1;
		}
		s->dir = xstrdup(real);
		DIR *d = opendir(s->dir);
		if (!d) {
			err_set(err, "%s: %s", s->dir, strerror(errno));
			return -1;
		}
		struct dirent *e;
		bool empty = true;
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, ".."))
				empty = false;
		closedir(d);
		if (!empty) {
			err_set(err, "%s is not empty: give a new or empty directory", s->dir);
			return -1;
		}
	} else {
		char tmpl[] = "/tmp/tandem-demo.XXXXXX";
		if (!mkdtemp(tmpl)) {
			err_set(err, "cannot create a directory in /tmp: %s", strerror(errno));
			return -1;
		}
		s->dir = xstrdup(tmpl);
	}
	/* PostgreSQL's socket lives in each member's directory: its path must fit sun_path. */
	if (strlen(s->dir) > 80) {
		err_set(err,
		        "%s: the path is too long for PostgreSQL's Unix socket; give a shorter "
		        "--dir",
		        s->dir);
		return -1;
	}
	if (chmod(s->dir, 0755) != 0 || (s->as_user && chown(s->dir, s->uid, s->gid) != 0)) {
		err_set(err, "%s: %s", s->dir, strerror(errno));
		return -1;
	}
	return 0;
}

int demo_setup_write(const demo_setup *s, const char *name, const char *text, mode_t mode,
                     char **err)
{
	/* The directory belongs to the servers' user when we are root: it could plant a link
	 * where we write, which atomic_file never follows. */
	char *path = xasprintf("%s/%s", s->dir, name);
	int rc =
	    atomic_file_write_as(path, text, strlen(text), mode, s->as_user ? s->uid : (uid_t)-1,
	                         s->as_user ? s->gid : (gid_t)-1, err);
	free(path);
	return rc;
}

/* 128 random bits as hex, from the kernel's generator. */
static int random_password(char out[DEMO_PASSWORD_LEN + 1], char **err)
{
	unsigned char raw[DEMO_PASSWORD_LEN / 2];
	size_t got = 0;
	while (got < sizeof raw) {
		ssize_t k = getrandom(raw + got, sizeof raw - got, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			err_set(err, "getrandom: %s", strerror(errno));
			return -1;
		}
		got += (size_t)k;
	}
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	explicit_bzero(raw, sizeof raw);
	return 0;
}

/* DIR/credentials for people, DIR/pgpass for psql, DIR/hello-role.sql for the role's creation
 * (psql reads it with \i, so the password never shows in a command line): all 0600. */
static int write_credentials(const demo_setup *s, char **err)
{
	char *text[3];
	static const char *const names[] = {"credentials", "pgpass", "hello-role.sql"};
	text[0] = xasprintf("# tandemctl demo: this run's credentials (new for every run).\n"
	                    "superuser: postgres\n"
	                    "superuser_password: %s\n"
	                    "replication_user: replicator\n"
	                    "replication_password: %s\n"
	                    "hellod_user: " DEMO_APP_USER "\n"
	                    "hellod_password: %s\n",
	                    s->superuser_password, s->replication_password, s->app_password);
	text[1] = xasprintf("127.0.0.1:*:*:postgres:%s\n127.0.0.1:*:*:" DEMO_APP_USER ":%s\n",
	                    s->superuser_password, s->app_password);
	text[2] = xasprintf("CREATE ROLE " DEMO_APP_USER " LOGIN PASSWORD '%s';\n"
	                    /* a replica shows its timeline to hellod's local reads only with it */
	                    "GRANT pg_read_all_stats TO " DEMO_APP_USER ";\n",
	                    s->app_password);
	int rc = 0;
	for (int i = 0; i < 3; i++) {
		if (rc == 0)
			rc = demo_setup_write(s, names[i], text[i], 0600, err);
		explicit_bzero(text[i], strlen(text[i]));
		free(text[i]);
	}
	return rc;
}

static int write_files(demo_setup *s, char **err)
{
	char *repo = xasprintf("%s/repo", s->dir); /* site A's pgBackRest repository */
	if (mkdir(repo, 0700) != 0 || (s->as_user && chown(repo, s->uid, s->gid) != 0)) {
		err_set(err, "%s: %s", repo, strerror(errno));
		free(repo);
		return -1;
	}
	free(repo);
	for (int i = 0; i < DEMO_MEMBERS; i++) {
		s->member_dir[i] = xasprintf("%s/%s", s->dir, demo_member_name[i]);
		s->member_data[i] = xasprintf("%s/data", s->member_dir[i]);
		s->member_config[i] = xasprintf("%s/tandemd.yml", s->member_dir[i]);
		s->member_log[i] = xasprintf("%s/tandemd.log", s->member_dir[i]);
		if (mkdir(s->member_dir[i], 0700) != 0 ||
		    (s->as_user && chown(s->member_dir[i], s->uid, s->gid) != 0)) {
			err_set(err, "%s: %s", s->member_dir[i], strerror(errno));
			return -1;
		}
		char *yaml = demo_sites_member_yaml(s, i);
		char *name = xasprintf("%s/tandemd.yml", demo_member_name[i]);
		int rc = demo_setup_write(s, name, yaml, 0600, err); /* it holds passwords */
		explicit_bzero(yaml, strlen(yaml));
		free(name);
		free(yaml);
		if (rc != 0)
			return -1;
	}
	return demo_sites_write_ctl(s, err) == 0 ? write_credentials(s, err) : -1;
}

int demo_setup_prepare(demo_setup *s, char **err)
{
	assign_ports(s);
	s->as_user = geteuid() == 0;
	if (s->as_user) {
		struct passwd *pw = getpwnam("postgres");
		if (!pw) {
			err_set(err,
			        "run as root, the demo runs its servers as the postgres OS user, "
			        "and there is none (install postgresql-15: make deps)");
			return -1;
		}
		s->uid = pw->pw_uid;
		s->gid = pw->pw_gid;
	}
	if (find_programs(s, err) != 0 || check_ports(s, err) != 0)
		return -1;
	if (random_password(s->superuser_password, err) != 0 ||
	    random_password(s->replication_password, err) != 0 ||
	    random_password(s->app_password, err) != 0)
		return -1;
	if (make_dir(s, err) != 0)
		return -1;
	if (write_files(s, err) != 0) {
		if (!s->dir_opt)
			demo_setup_remove_dir(s);
		return -1;
	}
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void demo_setup_remove_dir(const demo_setup *s)
{
	if (s->dir)
		nftw(s->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *demo_tail(const char *path, int lines)
{
	strbuf sb = STRBUF_INIT;
	char *err = NULL;
	if (sb_read_file(&sb, path, 64u << 20, &err) != 0 || !sb.data) {
		free(err);
		sb_free(&sb);
		return xstrdup("");
	}
	size_t end = sb.len;
	while (end > 0 && sb.data[end - 1] == '\n')
		end--;
	size_t start = end;
	int seen = 0;
	while (start > 0) {
		if (sb.data[start - 1] == '\n' && ++seen == lines)
			break;
		start--;
	}
	char *out = xstrndup(sb.data + start, end - start);
	sb_free(&sb);
	return out;
}

void demo_setup_free(demo_setup *s)
{
	free(s->dir);
	free(s->tandemctl);
	free(s->tandemd);
	free(s->hellod);
	free(s->etcd);
	free(s->haproxy);
	free(s->psql);
	for (int i = 0; i < DEMO_MEMBERS; i++) {
		free(s->member_dir[i]);
		free(s->member_config[i]);
		free(s->member_log[i]);
		free(s->member_data[i]);
	}
	for (int k = 0; k < DEMO_SITES; k++)
		free(s->site_config[k]);
}
