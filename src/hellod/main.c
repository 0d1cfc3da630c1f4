/* hellod: the hello-birthday HTTP API over PostgreSQL (see docs/hellod.md).
 *
 * The supervisor thread owns the process: configuration, listening sockets, signals, the date, and
 * the worker threads that serve requests. Signal handlers only record; the loop acts. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "birthday.h"
#include "listener.h"
#include "log.h"
#include "options.h"
#include "secret_file.h"
#include "shared.h"
#include "strbuf.h"
#include "upgrade.h"
#include "worker.h"

typedef struct supervisor {
	uv_loop_t *loop;
	int argc;
	char **argv;
	char *exe;
	hellod_shared sh;
	worker **workers;
	size_t nworkers;
	int *fds;
	size_t nfds;
	uv_signal_t sig_term, sig_int, sig_hup, sig_usr2;
	uv_timer_t date_timer;
	uv_async_t worker_exited;
	bool stopping;
	upgrade *upgrade; /* the last upgrade started, NULL when none */
	bool upgrading;
} supervisor;

static void usage(FILE *out)
{
	fprintf(out, "Usage: hellod [--config FILE] [--OPTION VALUE ...]\n"
	             "\n"
	             "Serves the hello-birthday API:\n"
	             "  PUT /hello/<username>  {\"dateOfBirth\": \"YYYY-MM-DD\"}  -> 204\n"
	             "  GET /hello/<username>  -> 200 {\"message\": \"Hello, <username>! ...\"}\n"
	             "  GET /healthz, /readyz, /metrics\n"
	             "\n"
	             "Options (flags beat environment variables, which beat the file):\n");
	cfg_print_help(&hellod_options, out);
	fprintf(out, "\n"
	             "Signals: SIGTERM/SIGINT drain and exit; SIGHUP reloads the configuration;\n"
	             "SIGUSR2 starts a new hellod on the same sockets and exits once it serves\n"
	             "(restart or binary upgrade without losing a request).\n");
}

/* The TLS certificate, or the key (`secret`: refused if another user could read it). */
static char *read_tls_file(const char *path, bool secret, char **err)
{
	strbuf sb = STRBUF_INIT;
	if ((secret ? secret_file_read(&sb, path, 1u << 20, err)
	            : sb_read_file(&sb, path, 1u << 20, err)) < 0) {
		err_prefix(err, "%s", secret ? "tls-key" : "tls-cert");
		sb_free(&sb);
		return NULL;
	}
	return sb_steal(&sb);
}

static void update_today(supervisor *sv)
{
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm); /* TZ was set at start-up, before any thread */
	bd_date d = {tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday};
	atomic_store(&sv->sh.today, bd_to_days(d));
}

static void on_date_timer(uv_timer_t *t)
{
	update_today(t->data);
}

/* `handed_over`: a new process serves in this one's place (SIGUSR2) and has told systemd it is
 * the main process; STOPPING=1 from this one would then stop the whole service. */
static void stop_all(supervisor *sv, const char *why, bool handed_over)
{
	if (sv->stopping)
		return;
	sv->stopping = true;
	log_info("%s: draining and stopping", why);
	if (!handed_over)
		sd_notify(0, "STOPPING=1");
	for (size_t i = 0; i < sv->nworkers; i++)
		worker_stop(sv->workers[i]);
}

static void on_worker_exited(uv_async_t *a)
{
	supervisor *sv = a->data;
	for (size_t i = 0; i < sv->nworkers; i++)
		if (!worker_exited(sv->workers[i]))
			return;
	uv_stop(sv->loop);
}

static void reload(supervisor *sv)
{
	log_info("SIGHUP: reloading the configuration");
	sd_notify(0, "RELOADING=1");
	hellod_settings s;
	char *err = NULL;
	if (hellod_settings_load(&s, sv->argc, sv->argv, NULL, &err) < 0) {
		log_error("reload failed, keeping the current configuration: %s", err);
		free(err);
		hellod_settings_free(&s);
		sd_notify(0, "READY=1");
		return;
	}
	const hellod_snapshot *cur = sv->sh.current;
	for (size_t i = 0; i < hellod_options.n; i++) {
		const cfg_option *o = &hellod_options.options[i];
		if (!o->reloadable && cfg_differs(o, &cur->s, &s))
			log_warning("reload: %s changed, which takes a restart (SIGUSR2) to apply",
			            o->name);
	}
	log_level level;
	if (log_level_parse(s.log_level, &level) == 0)
		log_set_level(level);
	log_set_json(s.log_format && !strcmp(s.log_format, "json"));
	snapshot_publish(&sv->sh, snapshot_new(&s));
	for (size_t i = 0; i < sv->nworkers; i++)
		worker_reload(sv->workers[i]);
	log_info("configuration reloaded");
	sd_notify(0, "READY=1");
}

static void on_upgrade_done(bool ok, void *ud)
{
	supervisor *sv = ud;
	sv->upgrading = false;
	if (ok)
		stop_all(sv, "upgrade: the new process serves", true);
	else
		log_error("upgrade failed: the new process did not become ready; still serving");
}

static void start_upgrade(supervisor *sv)
{
	if (sv->upgrading || sv->stopping) {
		log_warning("SIGUSR2 ignored: an upgrade or a stop is already under way");
		return;
	}
	char *err = NULL;
	upgrade_forget(sv->upgrade);
	sv->upgrade = upgrade_start(sv->loop, sv->exe, sv->argv, sv->fds, sv->nfds, on_upgrade_done,
	                            sv, &err);
	if (!sv->upgrade) {
		log_error("upgrade failed: %s", err);
		free(err);
		return;
	}
	sv->upgrading = true;
}

static void on_signal(uv_signal_t *s, int signum)
{
	supervisor *sv = s->data;
	switch (signum) {
	case SIGTERM:
		stop_all(sv, "SIGTERM", false);
		break;
	case SIGINT:
		stop_all(sv, "SIGINT", false);
		break;
	case SIGHUP:
		reload(sv);
		break;
	case SIGUSR2:
		start_upgrade(sv);
		break;
	default:
		break;
	}
}

static char *own_executable(const char *argv0)
{
	char buf[PATH_MAX];
	if (strchr(argv0, '/') && realpath(argv0, buf))
		return xstrdup(buf);
	ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
	if (n > 0) {
		buf[n] = '\0';
		return xstrdup(buf);
	}
	return xstrdup(argv0);
}

static int open_sockets(supervisor *sv, const hellod_settings *s, int *ready_fd, char **err)
{
	if (upgrade_inherited(&sv->fds, &sv->nfds, ready_fd, err) < 0)
		return -1;
	if (sv->nfds > 0) {
		for (size_t i = 0; i < sv->nfds; i++) {
			char *d = listener_describe(sv->fds[i]);
			log_info("listening on %s (inherited)", d);
			free(d);
		}
		return 0;
	}
	sv->fds = xcalloc(s->listen.n, sizeof *sv->fds);
	for (size_t i = 0; i < s->listen.n; i++) {
		int fd = listener_open(s->listen.v[i], 4096, err);
		if (fd < 0)
			return -1;
		sv->fds[sv->nfds++] = fd;
		char *d = listener_describe(fd);
		log_info("listening on %s%s", d, s->tls_cert ? " (TLS)" : "");
		free(d);
	}
	return 0;
}

static void close_handle_walk(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* Everything between a good configuration and serving. On failure, sv->nworkers counts the workers
 * already running, which the caller stops. */
static int start(supervisor *sv, hellod_settings *s, int *ready_fd, char **err)
{
	/* Signals first: once a socket listens, a client (or a test) may already send SIGTERM,
	 * which must drain rather than kill (CI caught one under ASan). */
	uv_signal_t *sigs[] = {&sv->sig_term, &sv->sig_int, &sv->sig_hup, &sv->sig_usr2};
	int signums[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR2};
	for (int i = 0; i < 4; i++) {
		uv_signal_init(sv->loop, sigs[i]);
		sigs[i]->data = sv;
		uv_signal_start(sigs[i], on_signal, signums[i]);
	}
	signal(SIGPIPE, SIG_IGN);
	if (s->tls_cert) {
		sv->sh.tls_cert_pem = read_tls_file(s->tls_cert, false, err);
		sv->sh.tls_key_pem =
		    sv->sh.tls_cert_pem ? read_tls_file(s->tls_key, true, err) : NULL;
		if (!sv->sh.tls_key_pem)
			return -1;
	}
	if (open_sockets(sv, s, ready_fd, err) < 0)
		return -1;
	char *redacted = hellod_redact_conninfo(s->database);
	log_info("hellod %s starting: database '%s', time zone %s", TANDEM_VERSION, redacted,
	         s->timezone);
	free(redacted);

	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t want = s->workers > 0 ? (size_t)s->workers : (size_t)(ncpu > 0 ? ncpu : 1);
	if (hellod_reads_local(s)) {
		char *r = hellod_redact_conninfo(s->read_database);
		log_info(
		    "reads from the replicas '%s' (read-wait %lld ms, read-max-lag %lld bytes, "
		    "%lld users tracked)",
		    r, s->read_wait, s->read_max_lag, s->read_track_users);
		free(r);
	}
	sv->sh.ryw = rywmap_new((size_t)s->read_track_users);
	sv->sh.current = snapshot_new(s);
	sv->sh.fds = sv->fds;
	sv->sh.nfds = sv->nfds;
	sv->sh.nworkers = want;
	/* Every worker's metrics exist before the first worker can render them. */
	sv->sh.metrics = xcalloc(want, sizeof *sv->sh.metrics);
	sv->sh.worker_exited = &sv->worker_exited;
	update_today(sv);

	sv->workers = xcalloc(want, sizeof *sv->workers);
	for (size_t i = 0; i < want; i++) {
		worker *w = worker_start((int)i + 1, &sv->sh, &sv->sh.metrics[i], err);
		if (!w)
			return -1;
		sv->workers[sv->nworkers++] = w;
	}

	uv_timer_init(sv->loop, &sv->date_timer);
	sv->date_timer.data = sv;
	uv_timer_start(&sv->date_timer, on_date_timer, 1000, 1000);
	return 0;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("hellod %s\n", TANDEM_VERSION);
			return 0;
		}
	}
	log_set_context("hellod");

	supervisor sv = {.loop = uv_default_loop(), .argc = argc, .argv = argv};
	hellod_settings s;
	char *err = NULL;
	if (hellod_settings_load(&s, argc, argv, NULL, &err) < 0) {
		fprintf(stderr, "hellod: %s\n", err);
		free(err);
		hellod_settings_free(&s);
		return 2;
	}
	/* A hole in a request parser must not hand over the machine: like tandemd, never root. */
	if (geteuid() == 0) {
		fprintf(stderr,
		        "hellod: refusing to run as root: run it as a dedicated unprivileged "
		        "user (e.g. User=hellod in its systemd unit, or runuser -u hellod -- "
		        "hellod ...)\n");
		hellod_settings_free(&s);
		return 2;
	}
	log_level level = LOG_INFO;
	if (log_level_parse(s.log_level, &level) == 0)
		log_set_level(level);
	log_set_json(s.log_format && !strcmp(s.log_format, "json"));
	sv.exe = own_executable(argv[0]);

	/* The time zone is fixed for the life of the process, before any thread starts. */
	setenv("TZ", s.timezone, 1);
	tzset();

	uv_mutex_init(&sv.sh.lock);
	uv_async_init(sv.loop, &sv.worker_exited, on_worker_exited);
	sv.worker_exited.data = &sv;
	int ready_fd = -1;
	int rc = start(&sv, &s, &ready_fd, &err);
	if (rc == 0) {
		log_info("serving with %zu workers", sv.nworkers);
		char notify[64];
		snprintf(notify, sizeof notify, "READY=1\nMAINPID=%d", (int)getpid());
		sd_notify(0, notify);
		upgrade_notify_ready(ready_fd);
	} else {
		fprintf(stderr, "hellod: %s\n", err);
		free(err);
		hellod_settings_free(&s);
		stop_all(&sv, "start-up failed", false);
		if (ready_fd >= 0)
			close(ready_fd);
	}
	if (sv.nworkers > 0)
		uv_run(sv.loop, UV_RUN_DEFAULT);

	for (size_t i = 0; i < sv.nworkers; i++)
		worker_join(sv.workers[i]);
	upgrade_forget(sv.upgrade);
	uv_walk(sv.loop, close_handle_walk, NULL);
	uv_run(sv.loop, UV_RUN_DEFAULT);
	uv_loop_close(sv.loop);
	for (size_t i = 0; i < sv.nfds; i++)
		close(sv.fds[i]);
	snapshot_release(sv.sh.current);
	uv_mutex_destroy(&sv.sh.lock);
	free(sv.fds);
	free(sv.workers);
	free(sv.sh.metrics);
	rywmap_free(sv.sh.ryw);
	free(sv.sh.tls_cert_pem);
	free(sv.sh.tls_key_pem);
	free(sv.exe);
	if (rc == 0)
		log_info("exited");
	return rc == 0 ? 0 : 2;
}
