/* tandemctl restore: the checks before anything is written, and the start of the new member's
 * tandemd (a plain fork and exec: tandemctl is synchronous). */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "atomic_file.h"
#include "backup_paths.h"
#include "ctl_commands.h"
#include "ctl_restore.h"
#include "ctl_table.h"
#include "pgbr_conf.h"
#include "pgbr_restore.h"
#include "strbuf.h"

#define PFX "tandemctl restore: "

int ctl_restore_check_dcs(ctl_conn_args conn, const char *name, long timeout_ms)
{
	conn.scope = name;
	ctl_conn c;
	dcs_view v;
	char *e = NULL;
	if (ctl_conn_load(&c, &conn, &e) != 0) {
		ctl_printf(stderr, PFX "%s\n", e ? e : "bad configuration");
		free(e);
		ctl_conn_free(&c);
		return CTL_EXIT_USAGE;
	}
	if (ctl_cluster_read(&c, (uint64_t)timeout_ms, &v, &e) != 0) {
		ctl_printf(stderr, PFX "cannot read etcd: %s\n", e ? e : "no answer");
		free(e);
		dcs_view_free(&v);
		ctl_conn_free(&c);
		return CTL_EXIT_UNREACHABLE;
	}
	int rc = CTL_EXIT_OK;
	if (v.initialized || v.leader || v.has_config || v.nmembers) {
		ctl_printf(stderr,
		           PFX "a cluster named '%s' is already in the DCS (%s: %s%zu members): "
		               "choose another name (--force does not override this)\n",
		           name, v.prefix, v.initialized ? "initialized, " : "", v.nmembers);
		rc = CTL_EXIT_FAILED;
	}
	dcs_view_free(&v);
	ctl_conn_free(&c);
	return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Runs argv, its standard output into *out (caller frees), its standard error into the file
 * `err_path` (no pipe to fill while the other is read); returns the exit status (-1: could not
 * run, or killed). */
static int run_capture(char **argv, const char *err_path, char **out)
{
	int op[2];
	*out = NULL;
	if (pipe(op) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		int ef = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(op[1], 1);
		if (ef >= 0)
			dup2(ef, 2);
		close(op[0]);
		execvp(argv[0], argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(op[1]);
	strbuf o = STRBUF_INIT;
	char buf[4096];
	ssize_t n;
	while ((n = read(op[0], buf, sizeof buf)) > 0)
		sb_append(&o, buf, (size_t)n);
	close(op[0]);
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		st = -1;
	*out = sb_steal(&o);
	return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The last line of a file (caller frees); "no message" when it is empty. */
static char *last_line(const char *path)
{
	FILE *f = fopen(path, "re");
	char line[1024], *last = NULL;
	while (f && fgets(line, sizeof line, f))
		if (strspn(line, " \t\r\n") != strlen(line)) {
			line[strcspn(line, "\r\n")] = '\0';
			free(last);
			last = xstrdup(line);
		}
	if (f)
		fclose(f);
	return last ? last : xstrdup("no message");
}

/* Every posix repository's path exists. */
static int check_repo_paths(const tandemd_settings *src)
{
	int repos[64];
	size_t n = pgbr_repos(&src->backup_pgbackrest, repos, 64);
	for (size_t i = 0; i < n; i++) {
		char key[48];
		snprintf(key, sizeof key, "repo%d-type", repos[i]);
		const char *type = cfg_map_get(&src->backup_pgbackrest, key);
		snprintf(key, sizeof key, "repo%d-path", repos[i]);
		const char *path = cfg_map_get(&src->backup_pgbackrest, key);
		struct stat st;
		if ((type && strcmp(type, "posix") != 0) || !path)
			continue;
		if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
			ctl_printf(stderr, PFX "the repository is missing: %s %s: %s\n", key, path,
			           stat(path, &st) != 0 ? strerror(errno) : "not a directory");
			return CTL_EXIT_FAILED;
		}
	}
	return CTL_EXIT_OK;
}

/* `pgbackrest info --output=json` over the source's repository (caller frees); NULL: printed. */
static char *repo_info(const tandemd_settings *src, const char *from)
{
	char tmp[] = "/tmp/tandemctl-restore-XXXXXX";
	if (!mkdtemp(tmp)) {
		ctl_printf(stderr, PFX "mkdtemp: %s\n", strerror(errno));
		return NULL;
	}
	char *conf = xasprintf("%s/pgbackrest.conf", tmp);
	char *err_path = xasprintf("%s/stderr", tmp);
	pgbr_pg pg = {.path = src->data_dir};
	pgbr_conf_in in;
	backup_conf_in(src, tmp, &pg, 1, &in);
	in.stanza = from;
	in.archive_async = false;
	char *e = NULL, *out = NULL;
	const char *args[] = {"--output=json"};
	if (pgbr_conf_write(conf, &in, &e) != 0) {
		ctl_printf(stderr, PFX "%s\n", e);
		free(e);
	} else {
		char **argv = pgbr_argv(src->backup_command, conf, NULL, "info", args, 1);
		int st = run_capture(argv, err_path, &out);
		pgbr_argv_free(argv);
		if (st != 0) {
			char *why = last_line(err_path);
			ctl_printf(stderr, PFX "pgbackrest info failed (exit %d): %s\n", st, why);
			free(why);
			free(out);
			out = NULL;
		}
	}
	nftw(tmp, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(conf);
	free(err_path);
	return out;
}

int ctl_restore_check_repo(const tandemd_settings *src, const char *from, const char *to,
                           const bootstrap_target *t)
{
	if (check_repo_paths(src) != CTL_EXIT_OK)
		return CTL_EXIT_FAILED;
	char *json = repo_info(src, from);
	if (!json)
		return CTL_EXIT_FAILED;
	pgbr_info mine, theirs;
	char *e = NULL, *why = NULL;
	if (pgbr_info_parse(json, to, &mine, &e) != 0 ||
	    pgbr_info_parse(json, from, &theirs, &e) != 0) {
		free(json);
		ctl_printf(stderr, PFX "%s\n", e);
		free(e);
		return CTL_EXIT_FAILED;
	}
	free(json);
	if (!pgbr_info_empty(&mine))
		why =
		    xasprintf("the new cluster's stanza '%s' already holds backups or WAL in the "
		              "repository (%zu backups): a new cluster archives into a new, empty "
		              "stanza; two clusters writing the same timelines into one archive "
		              "corrupt it (--force does not override this: choose another name)",
		              to, mine.nbackup);
	if (!why)
		why = pgbr_info_unusable(&theirs, from);
	if (!why)
		why = pgbr_target_too_early(&theirs, t);
	pgbr_info_free(&mine);
	pgbr_info_free(&theirs);
	if (why)
		ctl_printf(stderr, PFX "%s\n", why);
	free(why);
	return why ? CTL_EXIT_FAILED : CTL_EXIT_OK;
}

static bool dir_empty(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT;
	struct dirent *de;
	bool empty = true;
	while (empty && (de = readdir(d)))
		empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
	closedir(d);
	return empty;
}

int ctl_restore_check_dir(const char *dir, bool force)
{
	if (dir_empty(dir))
		return CTL_EXIT_OK;
	if (!force) {
		ctl_printf(stderr,
		           PFX
		           "the data directory %s is not empty (or cannot be read): --force moves "
		           "it aside (never deletes it)\n",
		           dir);
		return CTL_EXIT_FAILED;
	}
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof ts, "%Y%m%dT%H%M%SZ", &tm);
	char *to = xasprintf("%s.moved-aside-%s", dir, ts);
	int rc = CTL_EXIT_OK;
	struct stat st;
	bool exists = lstat(to, &st) == 0;
	if (exists || rename(dir, to) != 0) {
		ctl_printf(stderr, PFX "moving %s aside to %s: %s\n", dir, to,
		           exists ? "it exists" : strerror(errno));
		rc = CTL_EXIT_FAILED;
	} else
		ctl_printf(stderr, PFX "moved %s aside to %s\n", dir, to);
	free(to);
	return rc;
}

char *ctl_restore_free_port(const char *listen)
{
	addr a;
	char *e = NULL;
	if (addr_parse(listen, 0, 0, &a, &e) != 0) {
		free(e);
		return xstrdup("127.0.0.1:8008");
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai;
	int port = 8008;
	if (getaddrinfo(a.host, "0", &hints, &ai) == 0) {
		int fd = socket(ai->ai_family, SOCK_STREAM, 0);
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		if (fd >= 0 && bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
			port =
			    ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
			                                   : ((struct sockaddr_in *)&ss)->sin_port);
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
	}
	char *out = addr_join(a.host, port);
	addr_clear(&a);
	return out;
}

/* tandemd beside this program (installed, or in the build tree), else on PATH. */
static char *find_tandemd(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = '\0';
		const char *dir = dirname(self);
		const char *cands[] = {"tandemd", "../tandemd/tandemd"};
		for (size_t i = 0; i < 2; i++) {
			char *p = xasprintf("%s/%s", dir, cands[i]);
			if (access(p, X_OK) == 0)
				return p;
			free(p);
		}
	}
	return xstrdup("tandemd");
}

static pid_t spawn_tandemd(const char *yml_path, const char *log_path)
{
	char *prog = find_tandemd();
	int log = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (log < 0) {
		ctl_printf(stderr, PFX "open %s: %s\n", log_path, strerror(errno));
		free(prog);
		return -1;
	}
	pid_t pid = fork();
	if (pid == 0) {
		setsid(); /* it outlives tandemctl */
		int null = open("/dev/null", O_RDONLY);
		dup2(null, 0);
		dup2(log, 1);
		dup2(log, 2);
		if (chdir("/") != 0)
			_exit(127);
		char *argv[] = {prog, (char *)yml_path, NULL};
		execvp(prog, argv);
		fprintf(stderr, "cannot run %s: %s\n", prog, strerror(errno));
		_exit(127);
	}
	close(log);
	free(prog);
	return pid;
}

/* The last lines of the log that say why (errors). */
static void print_reasons(const char *log_path)
{
	FILE *f = fopen(log_path, "re");
	if (!f)
		return;
	char line[2048];
	char *last[6] = {0};
	while (fgets(line, sizeof line, f)) {
		/* the agent's errors and warnings, and what tandemd says before it logs (a bad
		 * configuration) */
		if (!strstr(line, "Z error [") && !strstr(line, "Z warning [") &&
		    strncmp(line, "tandemd: ", 9) != 0)
			continue;
		free(last[0]);
		memmove(last, last + 1, 5 * sizeof *last);
		last[5] = xstrdup(line);
	}
	fclose(f);
	for (int i = 0; i < 6; i++)
		if (last[i]) {
			ctl_printf(stderr, "  %s", last[i]);
			free(last[i]);
		}
}

/* 1: the member leads its scope and runs as the primary; 0: not yet. */
static int leads(const ctl_conn *c, const char *member, long timeout_ms, const char **state)
{
	dcs_view v;
	char *e = NULL;
	int rc = 0;
	*state = "not in the DCS yet";
	if (ctl_cluster_read(c, (uint64_t)timeout_ms, &v, &e) == 0) {
		const dcs_member *m = dcs_view_member(&v, member);
		if (m && m->state)
			*state = strcmp(m->state, "running") == 0 ? "running, recovering"
			         : strcmp(m->state, "running custom bootstrap script") == 0
			             ? "restoring and recovering"
			             : "starting";
		rc = m && v.leader && strcmp(v.leader, member) == 0 && m->state &&
		     strcmp(m->state, "running") == 0 && m->role &&
		     (strcmp(m->role, "primary") == 0 || strcmp(m->role, "master") == 0);
	}
	free(e);
	dcs_view_free(&v);
	return rc;
}

static int wait_leader(const restore_plan *p, pid_t pid, const ctl_conn *c, long timeout_ms,
                       const char *log_path)
{
	for (int tick = 0;; tick++) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			ctl_printf(stderr,
			           PFX "the new member's tandemd stopped (exit %d) before it led "
			               "cluster %s; from %s:\n",
			           WIFEXITED(st) ? WEXITSTATUS(st) : -1, p->cluster, log_path);
			print_reasons(log_path);
			return CTL_EXIT_FAILED;
		}
		const char *state;
		if (leads(c, p->member, timeout_ms, &state) == 1)
			return CTL_EXIT_OK;
		if (tick > 0 && tick % 15 == 0)
			ctl_printf(stderr, PFX "waiting for %s: %s\n", p->member, state);
		sleep(1);
	}
}

int ctl_restore_start(const restore_plan *p, const char *yml, ctl_conn_args conn, long timeout_ms)
{
	char *yml_path = xasprintf("%s.tandemd.yml", p->data_dir);
	char *log_path = xasprintf("%s.tandemd.log", p->data_dir);
	char *e = NULL;
	int rc = CTL_EXIT_FAILED;
	ctl_conn c;
	conn.scope = p->cluster;
	if (atomic_file_write(yml_path, yml, strlen(yml), 0600, &e) != 0 ||
	    ctl_conn_load(&c, &conn, &e) != 0) {
		ctl_printf(stderr, PFX "%s\n", e ? e : "cannot write the configuration");
		free(e);
		goto out;
	}
	pid_t pid = spawn_tandemd(yml_path, log_path);
	if (pid > 0) {
		ctl_printf(stderr,
		           PFX "started tandemd (pid %d) for member %s of new cluster %s; "
		               "configuration %s, log %s\n",
		           (int)pid, p->member, p->cluster, yml_path, log_path);
		rc = wait_leader(p, pid, &c, timeout_ms, log_path);
	}
	if (rc == CTL_EXIT_OK)
		ctl_printf(stdout,
		           "cluster %s: member %s leads, recovered to %s from stanza %s\n"
		           "  PostgreSQL %s  data %s\n  REST API %s  tandemd pid %d\n"
		           "  configuration %s  log %s\n",
		           p->cluster, p->member, p->target_key ? p->target_value : "latest",
		           p->from_stanza, p->listen, p->data_dir, p->rest_listen, (int)pid,
		           yml_path, log_path);
	ctl_conn_free(&c);
out:
	free(yml_path);
	free(log_path);
	return rc;
}
