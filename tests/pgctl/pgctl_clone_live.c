/* The live test of pgctl_clone.c (passfile, pg_basebackup, pg_rewind) against a real PostgreSQL:
 * run by tests/integration/test_pgctl_clone.py as
 * pgctl_clone_live <bin_dir> <base_dir> <port1> <port2>, run as the user PostgreSQL runs as (not
 * root). <base_dir> must be writable by that user. Prints "ok STEP" per passed step; exits 0 only
 * if every step passed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "log.h"
#include "pgctl.h"

#define CHECK(c, ...)                                                                              \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #c);               \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

typedef struct node {
	pgctl *pc;
	char data[512], log[512], port[16], local[1024];
	bool done, ok, exited;
	char err[4096];
} node;

static uv_loop_t *loop;
static const char *bin, *base;

static void run_until(bool *flag, uint64_t timeout_ms)
{
	uint64_t end = uv_now(loop) + timeout_ms;
	while (!*flag && uv_now(loop) < end) {
		uv_update_time(loop);
		uv_run(loop, UV_RUN_NOWAIT);
		usleep(5000);
	}
}

static void sleep_ms(uint64_t ms)
{
	bool never = false;
	run_until(&never, ms);
}

static void on_initdb(pgctl *pc, bool ok, const char *tail, void *ud)
{
	(void)pc;
	node *n = ud;
	n->done = true;
	n->ok = ok;
	snprintf(n->err, sizeof n->err, "%s", tail);
}

static void on_start(pgctl *pc, bool ready, const char *status, const char *err, void *ud)
{
	(void)pc;
	(void)status;
	node *n = ud;
	n->done = true;
	n->ok = ready;
	snprintf(n->err, sizeof n->err, "%s", err ? err : "");
}

static void on_exit_pm(pgctl *pc, bool asked, int64_t status, int sig, void *ud)
{
	(void)pc;
	(void)asked;
	(void)status;
	(void)sig;
	node *n = ud;
	n->exited = true;
}

static void on_done(bool ok, const char *err, void *ud)
{
	node *n = ud;
	n->done = true;
	n->ok = ok;
	snprintf(n->err, sizeof n->err, "%s", err ? err : "");
}

typedef struct clone_res {
	bool done, ok;
	int progress_calls, last_percent;
	char tail[4096];
	char moved[512];
} clone_res;

static void on_progress(int pct, void *ud)
{
	clone_res *r = ud;
	r->progress_calls++;
	r->last_percent = pct;
}

static void on_clone(bool ok, const char *tail, const char *moved, void *ud)
{
	clone_res *r = ud;
	r->done = true;
	r->ok = ok;
	snprintf(r->tail, sizeof r->tail, "%s", tail ? tail : "");
	snprintf(r->moved, sizeof r->moved, "%s", moved ? moved : "");
}

static void node_init(node *n, const char *name, const char *port)
{
	memset(n, 0, sizeof *n);
	snprintf(n->data, sizeof n->data, "%s/%s", base, name);
	snprintf(n->log, sizeof n->log, "%s/%s.log", base, name);
	snprintf(n->port, sizeof n->port, "%s", port);
	snprintf(n->local, sizeof n->local, "host=%s port=%s user=postgres dbname=postgres", base,
	         port);
	char *err = NULL;
	pgctl_opts o = {.bin_dir = bin, .data_dir = n->data, .log_path = n->log};
	n->pc = pgctl_new(loop, &o, &err);
	CHECK(n->pc, "%s", err);
}

static void write_conf(node *n, const pgctl_upstream *up)
{
	const pgctl_param params[] = {
	    {"port", n->port},
	    {"listen_addresses", "127.0.0.1"},
	    {"unix_socket_directories", base},
	    {"fsync", "off"},
	    {"wal_level", "replica"},
	    {"max_wal_senders", "10"},
	    {"wal_log_hints", "on"},
	    {"hot_standby", "on"},
	    {"wal_keep_size", "256MB"},
	};
	char *err = NULL;
	CHECK(pgctl_write_conf(n->pc, params, sizeof params / sizeof params[0], up, &err) == 0,
	      "%s", err);
	const char *hba[] = {"local all all trust", "host all all 127.0.0.1/32 scram-sha-256",
	                     "host replication all 127.0.0.1/32 scram-sha-256"};
	CHECK(pgctl_write_hba(n->pc, hba, 3, &err) == 0, "%s", err);
}

static void start(node *n)
{
	char *err = NULL;
	n->done = n->ok = n->exited = false;
	CHECK(pgctl_start(n->pc, 60000, on_start, on_exit_pm, n, &err) == 0, "%s", err);
	run_until(&n->done, 65000);
	CHECK(n->done && n->ok, "start %s: %s", n->data, n->err);
}

static void stop_fast(node *n)
{
	char *err = NULL;
	n->exited = false;
	CHECK(pgctl_stop(n->pc, PGCTL_FAST, 20000, &err) == 0, "%s", err);
	run_until(&n->exited, 60000);
	CHECK(n->exited && !pgctl_running(n->pc), "stop %s", n->data);
}

/* One statement over the local socket (trust); the first value, or "" (caller frees). */
static char *sql(node *n, const char *q, bool must)
{
	PGconn *c = PQconnectdb(n->local);
	char *out = NULL;
	if (PQstatus(c) == CONNECTION_OK) {
		PGresult *r = PQexec(c, q);
		ExecStatusType s = PQresultStatus(r);
		if (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK)
			out =
			    strdup(s == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)
			               ? PQgetvalue(r, 0, 0)
			               : "");
		else if (must)
			fprintf(stderr, "%s: %s", q, PQerrorMessage(c));
		PQclear(r);
	} else if (must) {
		fprintf(stderr, "connect: %s", PQerrorMessage(c));
	}
	PQfinish(c);
	CHECK(out || !must, "sql failed: %s", q);
	return out;
}

static void exec_ok(node *n, const char *q)
{
	free(sql(n, q, true));
}

/* Polls until `q` returns `want` on `n`. */
static void wait_value(node *n, const char *q, const char *want, uint64_t timeout_ms)
{
	uint64_t end = uv_now(loop) + timeout_ms;
	char *v = NULL;
	for (;;) {
		free(v);
		v = sql(n, q, false);
		if (v && strcmp(v, want) == 0)
			break;
		CHECK(uv_now(loop) < end, "%s on %s: got '%s', want '%s'", q, n->data,
		      v ? v : "(error)", want);
		sleep_ms(100);
	}
	free(v);
}

static bool exists(const char *p)
{
	struct stat st;
	return lstat(p, &st) == 0;
}

static void basebackup(node *n, const pgctl_upstream *from, clone_res *r)
{
	char *err = NULL;
	memset(r, 0, sizeof *r);
	r->last_percent = -1;
	pgctl_clone_opts o = {.bin_dir = bin,
	                      .from = from,
	                      .timeout_ms = 120000,
	                      .progress = on_progress,
	                      .done = on_clone,
	                      .ud = r};
	CHECK(pgctl_basebackup(loop, n->pc, &o, &err) == 0, "%s", err);
	run_until(&r->done, 130000);
	CHECK(r->done, "no basebackup callback");
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: pgctl_clone_live BIN_DIR BASE_DIR PORT1 PORT2\n");
		return 2;
	}
	bin = argv[1];
	base = argv[2];
	log_set_level(LOG_DEBUG);
	loop = uv_default_loop();
	char *err = NULL;
	static node n1, n2;
	node_init(&n1, "primary", argv[3]);
	node_init(&n2, "replica", argv[4]);

	/* the primary */
	const char *superpw = "sup:er\\pw'1";
	const char *extra[] = {"encoding=UTF8", "locale=C", "no-sync"};
	pgctl_initdb_opts io = {.superuser = "postgres",
	                        .password = superpw,
	                        .auth_local = "trust",
	                        .auth_host = "scram-sha-256",
	                        .extra = extra,
	                        .nextra = 3};
	n1.done = false;
	CHECK(pgctl_initdb(n1.pc, &io, on_initdb, &n1, &err) == 0, "%s", err);
	run_until(&n1.done, 120000);
	CHECK(n1.done && n1.ok, "initdb: %s", n1.err);
	write_conf(&n1, NULL);
	start(&n1);
	const char *reppw = "re:pl\\i'ca";
	exec_ok(&n1, "CREATE ROLE replicator REPLICATION LOGIN");
	exec_ok(&n1, "ALTER ROLE replicator PASSWORD 're:pl\\i''ca'");
	printf("ok primary\n");

	/* the password file */
	char passfile[512], badpass[512];
	snprintf(passfile, sizeof passfile, "%s/pgpass", base);
	snprintf(badpass, sizeof badpass, "%s/pgpass-bad", base);
	pgctl_pass_entry pe[] = {
	    {"127.0.0.1", n1.port, NULL, "replicator", reppw},
	    {"127.0.0.1", n1.port, NULL, "postgres", superpw},
	    {"127.0.0.1", n2.port, NULL, "replicator", reppw},
	    {"127.0.0.1", n2.port, NULL, "postgres", superpw},
	};
	CHECK(pgctl_write_passfile(passfile, pe, 4, &err) == 0, "%s", err);
	struct stat st;
	CHECK(stat(passfile, &st) == 0 && (st.st_mode & 0777) == 0600, "passfile mode");
	FILE *f = fopen(passfile, "re");
	CHECK(f, "open passfile");
	char line[512];
	CHECK(fgets(line, sizeof line, f), "read passfile");
	fclose(f);
	char want[512];
	snprintf(want, sizeof want, "127.0.0.1:%s:*:replicator:re\\:pl\\\\i'ca\n", n1.port);
	CHECK(strcmp(line, want) == 0, "passfile line [%s] want [%s]", line, want);
	pgctl_pass_entry bad[] = {{"127.0.0.1", n1.port, NULL, "replicator", "wrong"}};
	CHECK(pgctl_write_passfile(badpass, bad, 1, &err) == 0, "%s", err);
	pgctl_pass_entry nl[] = {{NULL, NULL, NULL, "x", "a\nb"}};
	CHECK(pgctl_write_passfile(badpass, nl, 1, &err) != 0, "newline accepted");
	free(err);
	err = NULL;
	printf("ok passfile\n");

	/* pg_basebackup into a new directory, then a streaming replica */
	pgctl_upstream up1 = {.host = "127.0.0.1",
	                      .port = n1.port,
	                      .user = "replicator",
	                      .dbname = "postgres",
	                      .passfile = passfile,
	                      .application_name = "replica"};
	exec_ok(&n1, "CREATE TABLE t (v text)");
	exec_ok(&n1, "INSERT INTO t SELECT 'pad' || g FROM generate_series(1, 200000) g");
	clone_res r;
	basebackup(&n2, &up1, &r);
	CHECK(r.ok, "basebackup failed: %s", r.tail);
	CHECK(r.progress_calls > 0 && r.last_percent == 100, "progress: %d calls, last %d",
	      r.progress_calls, r.last_percent);
	CHECK(!strstr(r.tail, reppw), "password in the output");
	printf("basebackup progress callbacks: %d\n", r.progress_calls);
	printf("ok basebackup\n");

	write_conf(&n2, &up1);
	CHECK(pgctl_set_standby(n2.pc, true, &err) == 0, "%s", err);
	start(&n2);
	wait_value(&n2, "SELECT status FROM pg_stat_wal_receiver", "streaming", 30000);
	exec_ok(&n1, "INSERT INTO t VALUES ('one')");
	wait_value(&n2, "SELECT count(*) FROM t WHERE v = 'one'", "1", 30000);
	printf("ok streaming\n");

	/* a non-empty directory is refused, nothing touched */
	char ne[512], keep[600];
	snprintf(ne, sizeof ne, "%s/nonempty", base);
	snprintf(keep, sizeof keep, "%s/keep", ne);
	CHECK(mkdir(ne, 0755) == 0, "mkdir");
	f = fopen(keep, "we");
	CHECK(f, "keep");
	fputs("keep me\n", f);
	fclose(f);
	node n3;
	node_init(&n3, "nonempty", "1");
	pgctl_clone_opts o = {.bin_dir = bin, .from = &up1, .timeout_ms = 1000};
	CHECK(pgctl_basebackup(loop, n3.pc, &o, &err) != 0, "non-empty directory accepted");
	printf("refused: %s\n", err);
	free(err);
	err = NULL;
	CHECK(exists(keep), "keep gone");
	/* the running replica's directory too */
	CHECK(pgctl_basebackup(loop, n2.pc, &o, &err) != 0, "running data directory accepted");
	free(err);
	err = NULL;
	pgctl_free(n3.pc);
	printf("ok refuse_nonempty\n");

	/* a wrong password: fails, the partial directory is moved aside */
	node n4;
	node_init(&n4, "bad", "1");
	pgctl_upstream upbad = up1;
	upbad.passfile = badpass;
	basebackup(&n4, &upbad, &r);
	CHECK(!r.ok, "basebackup with a wrong password succeeded");
	CHECK(strstr(r.tail, "password authentication failed"), "tail: %s", r.tail);
	CHECK(r.moved[0] && exists(r.moved) && !exists(n4.data), "moved [%s]", r.moved);
	printf("moved %s\n", r.moved);
	pgctl_free(n4.pc);
	printf("ok basebackup_wrong_password\n");

	/* the deadline: killed (with its WAL streamer), the partial directory moved aside */
	node n5;
	node_init(&n5, "slow", "1");
	memset(&r, 0, sizeof r);
	pgctl_clone_opts so = {.bin_dir = bin,
	                       .from = &up1,
	                       .timeout_ms = 1,
	                       .progress = on_progress,
	                       .done = on_clone,
	                       .ud = &r};
	CHECK(pgctl_basebackup(loop, n5.pc, &so, &err) == 0, "%s", err);
	run_until(&r.done, 30000);
	CHECK(r.done && !r.ok, "basebackup past its deadline: done=%d ok=%d", r.done, r.ok);
	CHECK(r.moved[0] && exists(r.moved) && !exists(n5.data), "moved [%s]", r.moved);
	pgctl_free(n5.pc);
	printf("ok basebackup_deadline\n");

	/* rewind: promote the replica, diverge, rewind the old primary from it */
	n2.done = false;
	pgctl_promote(loop, n2.local, 5000, on_done, &n2);
	run_until(&n2.done, 10000);
	CHECK(n2.done && n2.ok, "promote: %s", n2.err);
	wait_value(&n2, "SELECT pg_is_in_recovery()::text", "false", 30000);
	exec_ok(&n2, "CHECKPOINT");
	char *tli = sql(&n2, "SELECT timeline_id FROM pg_control_checkpoint()", true);
	CHECK(strcmp(tli, "2") == 0, "timeline %s", tli);
	free(tli);
	exec_ok(&n2, "INSERT INTO t VALUES ('new-primary')");
	exec_ok(&n1, "INSERT INTO t VALUES ('old-primary')");
	exec_ok(&n1, "INSERT INTO t SELECT 'old' || g FROM generate_series(1, 1000) g");
	pgctl_upstream up2 = {.host = "127.0.0.1",
	                      .port = n2.port,
	                      .user = "postgres",
	                      .dbname = "postgres",
	                      .passfile = passfile};
	pgctl_clone_opts ro = {.bin_dir = bin, .from = &up2, .timeout_ms = 120000};
	CHECK(pgctl_rewind(loop, n1.pc, &ro, &err) != 0, "rewind of a running server accepted");
	free(err);
	err = NULL;
	stop_fast(&n1);
	ro.done = on_clone;
	ro.ud = &r;
	memset(&r, 0, sizeof r);
	CHECK(pgctl_rewind(loop, n1.pc, &ro, &err) == 0, "%s", err);
	run_until(&r.done, 130000);
	CHECK(r.done && r.ok, "rewind: %s", r.tail);
	printf("rewind output: %s\n", r.tail);
	printf("ok rewind\n");

	pgctl_upstream up2r = up2;
	up2r.user = "replicator";
	up2r.application_name = "old_primary";
	write_conf(&n1, &up2r);
	CHECK(pgctl_set_standby(n1.pc, true, &err) == 0, "%s", err);
	start(&n1);
	wait_value(&n1, "SELECT status FROM pg_stat_wal_receiver", "streaming", 30000);
	exec_ok(&n2, "INSERT INTO t VALUES ('after-rewind')");
	wait_value(&n1, "SELECT count(*) FROM t WHERE v IN ('after-rewind', 'new-primary')", "2",
	           30000);
	wait_value(&n1, "SELECT count(*) FROM t WHERE v = 'old-primary'", "0", 1000);
	char *tl = sql(&n1, "SELECT received_tli FROM pg_stat_wal_receiver", true);
	CHECK(strcmp(tl, "2") == 0, "received_tli %s", tl);
	free(tl);
	printf("ok rewound_streams\n");

	stop_fast(&n1);
	stop_fast(&n2);
	pgctl_free(n1.pc);
	pgctl_free(n2.pc);
	uv_run(loop, UV_RUN_NOWAIT);
	CHECK(uv_loop_close(loop) == 0, "handles left open");
	printf("ok all\n");
	return 0;
}
