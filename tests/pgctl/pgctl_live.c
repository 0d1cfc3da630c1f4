/* The live test of pgctl against a real PostgreSQL: run by tests/integration/test_pgctl.py as
 * pgctl_live <bin_dir> <base_dir> <port>, run as the user PostgreSQL runs as (not root): tandemd
 * refuses root. <base_dir> must be writable by that user.
 * Prints "ok STEP" per passed step; exits 0 only if every step passed. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "log.h"
#include "pgctl.h"
#include "strbuf.h"

typedef struct ctx {
	uv_loop_t *loop;
	pgctl *pc;
	char *conninfo;
	/* results */
	bool done;
	bool ok;
	char status[64];
	char err[512];
	bool exited, asked;
	int64_t exit_status;
	int term_signal;
	pgctl_state st;
	int backend; /* pg_backend_pid() of the last state question */
	char *row[4];
	int ncols;
} ctx;

#define CHECK(c, ...)                                                                              \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #c);               \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

static void run_until(ctx *c, bool *flag, uint64_t timeout_ms)
{
	uint64_t end = uv_now(c->loop) + timeout_ms;
	while (!*flag && uv_now(c->loop) < end) {
		uv_update_time(c->loop);
		uv_run(c->loop, UV_RUN_NOWAIT);
		usleep(5000); /* the test program, not the agent: polling the loop is fine here */
	}
}

/* The direct children of `pid` (the test's own look at /proc). */
static size_t list_children(int pid, int *out, size_t cap)
{
	size_t n = 0;
	DIR *d = opendir("/proc");
	struct dirent *de;
	while (d && (de = readdir(d)) && n < cap) {
		int p = atoi(de->d_name);
		if (p <= 0)
			continue;
		char path[300], buf[512];
		snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		size_t k = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[k] = '\0';
		char *rp = strrchr(buf, ')');
		char st;
		int pp;
		if (rp && sscanf(rp + 1, " %c %d", &st, &pp) == 2 && pp == pid)
			out[n++] = p;
	}
	if (d)
		closedir(d);
	return n;
}

/* Alive and not a zombie. */
static bool alive(int pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	size_t k = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[k] = '\0';
	char *rp = strrchr(buf, ')');
	char st = 'X';
	if (rp && sscanf(rp + 1, " %c", &st) != 1)
		return false;
	return st != 'Z' && st != 'X';
}

static void reset(ctx *c)
{
	c->done = false;
	c->ok = false;
	c->status[0] = c->err[0] = '\0';
}

static void on_initdb(pgctl *pc, bool ok, const char *tail, void *ud)
{
	(void)pc;
	ctx *c = ud;
	c->done = true;
	c->ok = ok;
	snprintf(c->err, sizeof c->err, "%s", tail);
}

static void on_start(pgctl *pc, bool ready, const char *status, const char *err, void *ud)
{
	(void)pc;
	ctx *c = ud;
	c->done = true;
	c->ok = ready;
	snprintf(c->status, sizeof c->status, "%s", status ? status : "");
	snprintf(c->err, sizeof c->err, "%s", err ? err : "");
}

static void on_exit_pm(pgctl *pc, bool asked, int64_t status, int sig, void *ud)
{
	(void)pc;
	ctx *c = ud;
	c->exited = true;
	c->asked = asked;
	c->exit_status = status;
	c->term_signal = sig;
}

static void on_state(const pgctl_state *st, const char *const *extra, int nextra, const char *err,
                     void *ud)
{
	ctx *c = ud;
	c->done = true;
	c->ok = st != NULL;
	if (st)
		c->st = *st;
	c->backend = st && nextra == 1 && extra[0] ? atoi(extra[0]) : 0;
	snprintf(c->err, sizeof c->err, "%s", err ? err : "");
}

static void on_row(const char *const *row, int nc, const char *err, void *ud)
{
	ctx *c = ud;
	c->done = true;
	c->ok = err == NULL;
	c->ncols = nc;
	for (int i = 0; i < nc && i < 4; i++) {
		free(c->row[i]);
		c->row[i] = row[i] ? strdup(row[i]) : NULL;
	}
	snprintf(c->err, sizeof c->err, "%s", err ? err : "");
}

static void on_done(bool ok, const char *err, void *ud)
{
	ctx *c = ud;
	c->done = true;
	c->ok = ok;
	snprintf(c->err, sizeof c->err, "%s", err ? err : "");
}

static void start(ctx *c, const char *want_status)
{
	char *err = NULL;
	for (int attempt = 0; attempt < 40; attempt++) {
		reset(c);
		c->exited = false;
		CHECK(pgctl_start(c->pc, 30000, on_start, on_exit_pm, c, &err) == 0, "%s", err);
		run_until(c, &c->done, 35000);
		CHECK(c->done, "no start callback");
		if (c->ok)
			break;
		/* After a crash, orphaned backends may still hold the shared memory: retry. */
		run_until(c, &c->exited, 5000);
		CHECK(c->exited, "start failed (%s) but the postmaster did not exit", c->err);
		bool never = false;
		run_until(c, &never, 250);
	}
	CHECK(c->ok, "start: %s", c->err);
	CHECK(strcmp(c->status, want_status) == 0, "status %s, want %s", c->status, want_status);
}

static void stop_fast(ctx *c)
{
	char *err = NULL;
	c->exited = false;
	CHECK(pgctl_stop(c->pc, PGCTL_FAST, 20000, &err) == 0, "%s", err);
	run_until(c, &c->exited, 60000);
	CHECK(c->exited && c->asked, "stop: exited=%d asked=%d", c->exited, c->asked);
	CHECK(c->exit_status == 0 && c->term_signal == 0, "exit %lld signal %d",
	      (long long)c->exit_status, c->term_signal);
	CHECK(!pgctl_running(c->pc), "still running");
}

/* The state question on pgctl's kept connection, with the answering backend's pid. */
static void ask(ctx *c, const char *extra_sql)
{
	char *err = NULL;
	reset(c);
	CHECK(pgctl_ask_state(c->pc, c->conninfo, extra_sql, 5000, on_state, c, &err) == 0, "%s",
	      err);
	CHECK(!c->done, "the callback ran inside pgctl_ask_state");
	run_until(c, &c->done, 10000);
	CHECK(c->done, "no answer to the state question");
}

static void state(ctx *c)
{
	ask(c, "SELECT pg_backend_pid()");
	CHECK(c->ok && c->backend > 0, "state: %s", c->err);
}

/* Answers of queued questions: their first column, in the order they came. */
typedef struct order {
	int n;
	char got[4][64];
} order;

static void on_order(const char *const *row, int ncols, const char *err, void *ud)
{
	order *o = ud;
	snprintf(o->got[o->n++ % 4], sizeof o->got[0], "%s",
	         err                    ? "error"
	         : ncols >= 1 && row[0] ? row[0]
	                                : "(null)");
}

/* A question on the kept connection, its answer into `o`. */
static void ask_sql(ctx *c, const char *sql, order *o)
{
	char *err = NULL;
	CHECK(pgctl_ask(c->pc, c->conninfo, sql, 10000, on_order, o, &err) == 0, "%s", err);
}

static void pause_ms(ctx *c, uint64_t ms)
{
	bool never = false;
	run_until(c, &never, ms);
}

static const char *show(ctx *c, const char *sql)
{
	reset(c);
	pgctl_query(c->loop, c->conninfo, sql, 5000, on_row, c);
	run_until(c, &c->done, 10000);
	CHECK(c->done && c->ok && c->ncols >= 1, "%s: %s", sql, c->err);
	return c->row[0] ? c->row[0] : "(null)";
}

static void write_conf(ctx *c, const char *port, const char *sock, const char *work_mem,
                       const pgctl_upstream *up)
{
	const pgctl_param params[] = {
	    {"port", port},
	    {"listen_addresses", ""},
	    {"unix_socket_directories", sock},
	    {"fsync", "off"},
	    {"work_mem", work_mem},
	    {"application_name", "it's tandem \\ agent"},
	    {"hot_standby", "on"},
	};
	char *err = NULL;
	CHECK(pgctl_write_conf(c->pc, params, sizeof params / sizeof params[0], up, &err) == 0,
	      "%s", err);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: pgctl_live BIN_DIR BASE_DIR PORT\n");
		return 2;
	}
	const char *bin = argv[1], *base = argv[2], *port = argv[3];
	log_set_level(LOG_DEBUG);
	ctx cx;
	memset(&cx, 0, sizeof cx);
	ctx *c = &cx;
	c->loop = uv_default_loop();
	char data[512], logp[512];
	snprintf(data, sizeof data, "%s/data", base);
	snprintf(logp, sizeof logp, "%s/pg.log", base);
	c->conninfo = NULL;
	char ci[1024];
	snprintf(ci, sizeof ci, "host=%s port=%s user=postgres dbname=postgres", base, port);
	c->conninfo = ci;
	char *err = NULL;
	/* A password file for initdb that an older tandemd left by a crash goes at start (the
	 * test's listing of BASE_DIR sees what is left). */
	char leftover[600];
	snprintf(leftover, sizeof leftover, "%s.pwfile-AbC123", data);
	FILE *lf = fopen(leftover, "wx");
	CHECK(lf && fputs("old\n", lf) >= 0 && fclose(lf) == 0, "%s", leftover);
	pgctl_opts o = {.bin_dir = bin, .data_dir = data, .log_path = logp};
	c->pc = pgctl_new(c->loop, &o, &err);
	CHECK(c->pc, "%s", err);
	CHECK(access(leftover, F_OK) != 0, "the leftover %s is still there", leftover);

	/* initdb: the argv never carries the password */
	const char *pw = "s3cret'pw";
	const char *extra[] = {"encoding=UTF8", "locale=C", "no-sync", "data-checksums"};
	pgctl_initdb_opts io = {.superuser = "postgres",
	                        .password = pw,
	                        .auth_local = "trust",
	                        .auth_host = "scram-sha-256",
	                        .extra = extra,
	                        .nextra = 4};
	char **av = pgctl_initdb_argv(c->pc, &io, "/tmp/pwfile", &err);
	CHECK(av, "%s", err);
	bool saw_enc = false, saw_ck = false, saw_pwfile = false;
	for (char **a = av; *a; a++) {
		CHECK(!strstr(*a, "s3cret"), "password in argv: %s", *a);
		saw_enc |= strcmp(*a, "--encoding=UTF8") == 0;
		saw_ck |= strcmp(*a, "--data-checksums") == 0;
		saw_pwfile |= strcmp(*a, "--pwfile=/tmp/pwfile") == 0;
	}
	CHECK(saw_enc && saw_ck && saw_pwfile, "initdb argv misses options");
	pgctl_argv_free(av);
	const char *bad[] = {"pwfile=/etc/passwd"};
	pgctl_initdb_opts bo = io;
	bo.extra = bad;
	bo.nextra = 1;
	CHECK(pgctl_initdb_argv(c->pc, &bo, NULL, &err) == NULL, "bad option accepted");
	free(err);
	err = NULL;
	printf("ok initdb_argv\n");

	reset(c);
	CHECK(pgctl_initdb(c->pc, &io, on_initdb, c, &err) == 0, "%s", err);
	run_until(c, &c->done, 120000);
	CHECK(c->done && c->ok, "initdb: %s", c->err);
	printf("ok initdb\n");

	/* owned configuration, then start */
	write_conf(c, port, base, "64MB", NULL);
	write_conf(c, port, base, "64MB", NULL); /* the include stays single */
	const char *hba[] = {"local all all trust", "host all all 127.0.0.1/32 scram-sha-256"};
	CHECK(pgctl_write_hba(c->pc, hba, 2, &err) == 0, "%s", err);
	start(c, "ready");
	printf("ok start\n");
	/* The password reached initdb (through its stdin: no file held it). */
	CHECK(strcmp(show(c, "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE "
	                     "rolname = 'postgres'"),
	             "t") == 0,
	      "the superuser has no password");

	state(c);
	CHECK(!c->st.in_recovery && c->st.lsn > 0 && c->st.timeline == 1, "state rec=%d lsn=%llu",
	      c->st.in_recovery, (unsigned long long)c->st.lsn);
	printf("ok state_primary\n");

	/* The kept connection: the same backend answers every question; one the server ended
	 * (while idle, or just before the question) is replaced without a failed question; a failed
	 * question is an error, and the next one starts on a new connection. */
	int b1 = c->backend;
	state(c);
	CHECK(c->backend == b1, "a new backend %d for the second question (first %d)", c->backend,
	      b1);
	char term[128];
	snprintf(term, sizeof term, "SELECT pg_terminate_backend(%d)", b1);
	CHECK(strcmp(show(c, term), "t") == 0, "terminate %d", b1);
	pause_ms(c, 200);
	state(c);
	CHECK(c->backend != b1, "the terminated backend answered");
	int b2 = c->backend;
	snprintf(term, sizeof term, "SELECT pg_terminate_backend(%d)", b2);
	CHECK(strcmp(show(c, term), "t") == 0, "terminate %d", b2);
	state(c); /* at once: the question may meet the closed connection, then retries */
	CHECK(c->backend != b2, "the terminated backend answered");
	int b3 = c->backend;
	ask(c, "SELECT 1/0");
	CHECK(!c->ok && strstr(c->err, "division by zero"), "a failed question: ok=%d err=%s",
	      c->ok, c->err);
	state(c);
	CHECK(c->backend != b3 && c->backend > 0, "the connection of a failed question was kept");
	/* Questions asked together are answered in order, on the one connection (a stop fails
	 * those not yet answered: below), and a reload changes nothing of it. */
	order ord = {0};
	int kept = c->backend;
	ask_sql(c, "SELECT pg_backend_pid()", &ord);
	ask_sql(c, "SELECT 'second'", &ord);
	for (int i = 0; i < 400 && ord.n < 2; i++)
		pause_ms(c, 5);
	CHECK(ord.n == 2 && atoi(ord.got[0]) == kept && strcmp(ord.got[1], "second") == 0,
	      "in order: %d answers, %s, %s (backend %d)", ord.n, ord.got[0], ord.got[1], kept);
	ord.n = 0;
	ask_sql(c, "SELECT pg_sleep(0.2)", &ord);
	ask_sql(c, "SELECT 2", &ord);
	CHECK(ord.n == 0, "an answer inside pgctl_ask");
	CHECK(pgctl_reload(c->pc, &err) == 0, "%s", err); /* no reset: still answered */
	pause_ms(c, 300);
	CHECK(ord.n == 2 && strcmp(ord.got[1], "2") == 0, "after a reload: %d answers", ord.n);
	state(c);
	CHECK(c->backend == kept, "the reload changed the connection");
	reset(c);
	CHECK(pgctl_ask_state(c->pc, "host=/nonexistent", NULL, 5000, on_state, c, &err) != 0,
	      "another conninfo accepted");
	free(err);
	err = NULL;
	printf("ok session\n");

	CHECK(strcmp(show(c, "SHOW work_mem"), "64MB") == 0, "work_mem %s", c->row[0]);
	CHECK(strcmp(show(c, "SELECT current_setting('application_name')"),
	             "it's tandem \\ agent") == 0,
	      "application_name [%s]", c->row[0]);
	write_conf(c, port, base, "5 MB", NULL);
	CHECK(pgctl_reload(c->pc, &err) == 0, "%s", err);
	bool changed = false;
	for (int i = 0; i < 100 && !changed; i++) {
		changed = strcmp(show(c, "SHOW work_mem"), "5MB") == 0;
		bool never = false;
		if (!changed)
			run_until(c, &never, 50);
	}
	CHECK(changed, "work_mem after reload: %s", c->row[0]);
	CHECK(strcmp(show(c, "SELECT count(*) FROM pg_file_settings WHERE error IS NOT NULL"),
	             "0") == 0,
	      "config errors");
	printf("ok params\n");

	/* a stop ends the kept connection: a question in flight fails, it is not answered */
	order busy = {0};
	ask_sql(c, "SELECT pg_sleep(5)", &busy);
	pause_ms(c, 100);
	stop_fast(c);
	CHECK(busy.n == 1 && strcmp(busy.got[0], "error") == 0, "a question across a stop: %d %s",
	      busy.n, busy.got[0]);
	printf("ok stop_fast\n");

	/* crash: kill -9 of the postmaster is reported as not asked */
	start(c, "ready");
	int pid = pgctl_pid(c->pc);
	c->exited = false;
	CHECK(kill(pid, SIGKILL) == 0, "kill");
	run_until(c, &c->exited, 10000);
	CHECK(c->exited && !c->asked && c->term_signal == SIGKILL,
	      "crash: exited=%d asked=%d sig=%d", c->exited, c->asked, c->term_signal);
	CHECK(pgctl_ask_state(c->pc, c->conninfo, NULL, 5000, on_state, c, &err) != 0,
	      "a question while no postmaster runs");
	free(err);
	err = NULL;
	printf("ok crash\n");

	/* back up after the crash (retrying while orphans hold shared memory), clean stop */
	start(c, "ready");
	printf("ok restart_after_crash\n");

	/* smart waits for the open session: after its deadline it escalates to fast */
	PGconn *held = PQconnectdb(c->conninfo);
	CHECK(PQstatus(held) == CONNECTION_OK, "%s", PQerrorMessage(held));
	c->exited = false;
	uint64_t t0 = uv_now(c->loop);
	CHECK(pgctl_stop(c->pc, PGCTL_SMART, 700, &err) == 0, "%s", err);
	run_until(c, &c->exited, 20000);
	CHECK(c->exited && c->asked && c->exit_status == 0, "escalated stop");
	CHECK(uv_now(c->loop) - t0 >= 700, "smart stop did not wait for the session");
	PQfinish(held);
	printf("ok stop_escalate_fast\n");

	/* a postmaster that cannot act on signals (SIGSTOP): fast -> immediate -> SIGKILL of it,
	 * its children and its process group */
	start(c, "ready");
	pid = pgctl_pid(c->pc);
	int kids[64];
	size_t nkids = list_children(pid, kids, 64);
	CHECK(nkids >= 3, "only %zu children", nkids);
	CHECK(kill(pid, SIGSTOP) == 0, "SIGSTOP");
	c->exited = false;
	CHECK(pgctl_stop(c->pc, PGCTL_FAST, 300, &err) == 0, "%s", err);
	run_until(c, &c->exited, 20000);
	CHECK(c->exited && c->asked && c->term_signal == SIGKILL, "kill: exited=%d asked=%d sig=%d",
	      c->exited, c->asked, c->term_signal);
	bool gone = false;
	for (int i = 0; i < 200 && !gone; i++) {
		gone = true;
		for (size_t k = 0; k < nkids; k++)
			gone &= !alive(kids[k]);
		bool never = false;
		if (!gone)
			run_until(c, &never, 50);
	}
	CHECK(gone, "children of the killed postmaster survive");
	start(c, "ready");
	stop_fast(c);
	printf("ok stop_escalate_kill\n");

	/* standby */
	pgctl_upstream up = {.host = "127.0.0.1",
	                     .port = "1",
	                     .user = "replicator",
	                     .passfile = "/nonexistent/pass'file",
	                     .application_name = "node 1",
	                     .ssl = {.sslmode = "prefer"},
	                     .slot_name = "node_1"};
	write_conf(c, port, base, "5MB", &up);
	CHECK(pgctl_set_standby(c->pc, true, &err) == 0, "%s", err);
	/* A hot standby writes "ready" in postmaster.pid ("standby" means up but refusing
	 * connections, hot_standby = off): recovery shows in pg_is_in_recovery(). */
	start(c, "ready");
	state(c);
	CHECK(c->st.in_recovery && c->st.lsn > 0, "standby state rec=%d", c->st.in_recovery);
	CHECK(strcmp(show(c, "SHOW primary_slot_name"), "node_1") == 0, "slot %s", c->row[0]);
	CHECK(strstr(show(c, "SHOW primary_conninfo"), "passfile='/nonexistent/pass\\'file'"),
	      "conninfo %s", c->row[0]);
	CHECK(!strstr(c->row[0], "password"), "password in conninfo");
	printf("ok standby\n");

	int standby_backend = c->backend;
	reset(c);
	pgctl_promote(c->loop, c->conninfo, 5000, on_done, c);
	run_until(c, &c->done, 10000);
	CHECK(c->done && c->ok, "promote: %s", c->err);
	bool promoted = false;
	for (int i = 0; i < 200 && !promoted; i++) {
		state(c);
		promoted = !c->st.in_recovery;
		bool never = false;
		if (!promoted)
			run_until(c, &never, 50);
	}
	CHECK(promoted, "not promoted");
	/* The kept connection outlives the promotion and sees the new timeline at once. */
	CHECK(c->backend == standby_backend, "backend %d after the promotion, %d before",
	      c->backend, standby_backend);
	CHECK(c->st.timeline == 2 && c->st.lsn > 0, "promoted: timeline %lld",
	      (long long)c->st.timeline);
	printf("ok promote\n");

	/* a smart stop on an idle server (the kept connection is closed first: the stop does not
	 * wait for it); then move aside */
	c->exited = false;
	t0 = uv_now(c->loop);
	CHECK(pgctl_stop(c->pc, PGCTL_SMART, 20000, &err) == 0, "%s", err);
	run_until(c, &c->exited, 70000);
	CHECK(c->exited && c->asked, "smart stop");
	/* A kept connection that held the smart stop up would have made pgctl escalate to a fast
	 * one after its step: the server's log says which stop ended it. */
	strbuf pglog = STRBUF_INIT;
	CHECK(sb_read_file(&pglog, logp, 64 << 20, &err) == 0, "%s", err);
	const char *smart = NULL;
	for (const char *q = pglog.data; (q = strstr(q, "received smart shutdown request")); q++)
		smart = q;
	CHECK(smart && !strstr(smart, "received fast shutdown request") &&
	          !strstr(smart, "received immediate shutdown request"),
	      "the smart stop was escalated (%llu ms)", (unsigned long long)(uv_now(c->loop) - t0));
	sb_free(&pglog);
	char *moved = NULL;
	CHECK(pgctl_move_aside(c->pc, &moved, &err) == 0, "%s", err);
	struct stat st;
	char pv[1024];
	snprintf(pv, sizeof pv, "%s/PG_VERSION", moved);
	CHECK(stat(data, &st) != 0 && stat(pv, &st) == 0, "move aside");
	printf("moved %s\n", moved);
	free(moved);
	printf("ok move_aside\n");

	pgctl_free(c->pc);
	uv_run(c->loop, UV_RUN_NOWAIT);
	for (int i = 0; i < 4; i++)
		free(c->row[i]);
	CHECK(uv_loop_close(c->loop) == 0, "handles left open");
	printf("ok all\n");
	return 0;
}
