/* tandemd-fence: keeps a primary from outliving the agent that may let it write.
 *
 *   tandemd-fence exec PROGRAM ARGS...
 *	Arranges for SIGQUIT (PostgreSQL's immediate shutdown) to reach this process when its
 *	parent (tandemd) dies, then becomes PROGRAM by execv: the kernel, not the agent, stops
 *	the postmaster when the agent is killed. The agent runs initdb, pg_rewind, pg_basebackup and
 *	pg_controldata this way too, so that none of them outlives it.
 *
 *   tandemd-fence watchdog PIDFILE [DEVICE TIMEOUT_S]
 *	Reads deadlines from stdin, one per line: a CLOCK_MONOTONIC time in milliseconds after
 *	which PostgreSQL must not be writable, or 0 for none, optionally followed by the time
 *	the lease ends. When a deadline passes without a newer one (the agent froze: SIGSTOP, a
 *	stuck loop) or stdin ends (the agent died), it sends SIGQUIT to the postmaster named on
 *	line 1 of PIDFILE, then SIGKILL to it and its children if it still lives 2 s later, and
 *	exits. A deadline of 0 disarms it; "exit" ends it without fencing.
 *
 *	With DEVICE (a Linux watchdog, /dev/watchdog), it also opens the device while armed,
 *	sets its timeout to TIMEOUT_S and pings it only while a reset TIMEOUT_S later would come
 *	before the lease's end (fence_hw_may_ping): if this process cannot run either, the
 *	machine is reset before a replica may take over. Disarmed, after fencing PostgreSQL, or
 *	told to exit, it closes the device with the magic 'V' (the timer stops); if PostgreSQL
 *	outlived SIGKILL it leaves the device open, and the machine is reset. Exit status 0 when
 *	told to exit, FENCE_EXIT_FENCED (3) after fencing, 2 on a usage error.
 *
 * The agent sends a deadline at every lease renewal (the lease's safe end), so a frozen agent's
 * primary stops before its leader key can expire and a replica be promoted (docs/tandemd.md,
 * "Fencing"). */
#include <errno.h>
#include <fcntl.h>
#include <linux/watchdog.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fence.h"
#include "proc.h"

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int do_exec(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: tandemd-fence exec PROGRAM ARGS...\n");
		return 2;
	}
	pid_t parent = getppid();
	/* An ignored SIGQUIT is inherited through exec (a tandemd started in the background by a
	 * shell script has it): the death signal must not be ignored by the tool. */
	signal(SIGQUIT, SIG_DFL);
	if (prctl(PR_SET_PDEATHSIG, SIGQUIT) != 0) {
		fprintf(stderr, "tandemd-fence: prctl: %s\n", strerror(errno));
		return 1;
	}
	/* The parent may have died before prctl: then no signal would ever come. */
	if (getppid() != parent) {
		fprintf(stderr, "tandemd-fence: the agent is gone: not starting PostgreSQL\n");
		return 1;
	}
	execv(argv[2], argv + 2);
	fprintf(stderr, "tandemd-fence: exec %s: %s\n", argv[2], strerror(errno));
	return 127;
}

static long read_pid(const char *pidfile)
{
	FILE *f = fopen(pidfile, "re");
	if (!f)
		return 0;
	char line[64];
	long pid = 0;
	if (fgets(line, sizeof line, f))
		pid = strtol(line, NULL, 10);
	fclose(f);
	return pid > 1 ? pid : 0;
}

/* Alive and not a zombie: a postmaster whose parent (the agent) is frozen stays a zombie until
 * the agent runs again, and it no longer serves anything. */
static bool alive(long pid)
{
	char st = proc_state(pid, NULL, 0);
	return st && st != 'Z' && st != 'X';
}

/* SIGKILL to the direct children of `pid` (PostgreSQL's backends). */
static void kill_children(long pid)
{
	long kids[1024];
	size_t n = proc_children(pid, kids, 1024);
	for (size_t i = 0; i < n; i++)
		kill((pid_t)kids[i], SIGKILL);
}

/* Returns whether PostgreSQL is known to be stopped. */
static bool fence_now(const char *pidfile, const char *why)
{
	long pid = read_pid(pidfile);
	if (!pid || !alive(pid)) {
		fprintf(stderr, "tandemd-fence: %s; no postmaster runs\n", why);
		return true;
	}
	fprintf(stderr, "tandemd-fence: %s: stopping PostgreSQL (pid %ld) now\n", why, pid);
	kill((pid_t)pid, SIGQUIT);
	for (int i = 0; i < 200; i++) {
		if (!alive(pid))
			return true;
		struct timespec ts = {0, 10 * 1000000};
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "tandemd-fence: postmaster %ld still alive after 2 s: SIGKILL\n", pid);
	kill_children(pid);
	kill((pid_t)pid, SIGKILL);
	for (int i = 0; i < 100; i++) {
		if (!alive(pid))
			return true;
		struct timespec ts = {0, 10 * 1000000};
		nanosleep(&ts, NULL);
	}
	return false;
}

/* ---- the hardware watchdog ---- */

typedef struct hwdog {
	const char *path; /* NULL: none */
	uint64_t timeout_ms;
	int fd;
	uint64_t last_ping_ms;
	bool failed; /* could not be used: not tried again */
} hwdog;

static void hw_close(hwdog *h)
{
	if (h->fd < 0)
		return;
	if (write(h->fd, "V", 1) != 1)
		fprintf(stderr, "tandemd-fence: %s: magic close: %s\n", h->path, strerror(errno));
	close(h->fd);
	h->fd = -1;
}

/* Its timeout must be the one asked for: a longer one could reset the machine after the lease's
 * end. A FIFO (the tests' stand-in) has none and is taken at its word. */
static bool hw_set_timeout(hwdog *h)
{
	int want = (int)(h->timeout_ms / 1000), got = want;
	if (ioctl(h->fd, WDIOC_SETTIMEOUT, &got) == 0 ||
	    ioctl(h->fd, WDIOC_GETTIMEOUT, &got) == 0) {
		if (got > want) {
			fprintf(
			    stderr,
			    "tandemd-fence: %s: timeout %d s, more than the %d s asked for: not "
			    "used\n",
			    h->path, got, want);
			return false;
		}
		h->timeout_ms = (uint64_t)got * 1000;
		return true;
	}
	struct stat sb;
	if (fstat(h->fd, &sb) == 0 && S_ISFIFO(sb.st_mode))
		return true;
	fprintf(stderr, "tandemd-fence: %s: cannot read its timeout (%s): not used\n", h->path,
	        strerror(errno));
	return false;
}

static void hw_open(hwdog *h)
{
	if (!h->path || h->fd >= 0 || h->failed)
		return;
	h->fd = open(h->path, O_WRONLY | O_CLOEXEC | O_NONBLOCK);
	if (h->fd < 0) {
		fprintf(stderr, "tandemd-fence: %s: %s: running without a hardware watchdog\n",
		        h->path, strerror(errno));
		h->failed = true;
		return;
	}
	if (!hw_set_timeout(h)) {
		hw_close(h);
		h->failed = true;
		return;
	}
	h->last_ping_ms = 0;
	fprintf(stderr, "tandemd-fence: %s armed, timeout %llu ms\n", h->path,
	        (unsigned long long)h->timeout_ms);
}

/* Pings at least every quarter timeout while allowed. Returns how long poll() may wait before
 * the next ping is due (-1: none due). */
static int hw_tick(hwdog *h, const fence_state *st, uint64_t now)
{
	if (st->deadline_ms)
		hw_open(h);
	else
		hw_close(h);
	if (h->fd < 0 || !fence_hw_may_ping(st, now, h->timeout_ms))
		return -1;
	uint64_t every = h->timeout_ms / 4 ? h->timeout_ms / 4 : 1;
	if (now - h->last_ping_ms >= every) {
		if (write(h->fd, "\0", 1) == 1)
			h->last_ping_ms = now;
		else
			fprintf(stderr, "tandemd-fence: %s: ping: %s\n", h->path, strerror(errno));
	}
	uint64_t due = h->last_ping_ms + every - now;
	return due > (uint64_t)INT32_MAX ? INT32_MAX : (int)due;
}

static int min_timeout(int a, int b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

static int fenced(hwdog *h, const char *pidfile, const char *why)
{
	if (fence_now(pidfile, why))
		hw_close(h);
	else if (h->fd >= 0)
		fprintf(stderr,
		        "tandemd-fence: PostgreSQL survived SIGKILL: leaving %s to reset the "
		        "machine\n",
		        h->path);
	return FENCE_EXIT_FENCED;
}

static int do_watchdog(int argc, char **argv)
{
	if (argc != 3 && argc != 5) {
		fprintf(stderr, "usage: tandemd-fence watchdog PIDFILE [DEVICE TIMEOUT_S]\n");
		return 2;
	}
	const char *pidfile = argv[2];
	hwdog hw = {.path = NULL, .fd = -1};
	if (argc == 5) {
		long t = strtol(argv[4], NULL, 10);
		if (t < 1 || t > 3600) {
			fprintf(stderr, "tandemd-fence: TIMEOUT_S must be 1 to 3600 seconds\n");
			return 2;
		}
		hw.path = argv[3];
		hw.timeout_ms = (uint64_t)t * 1000;
	}
	fence_state st;
	fence_init(&st);
	char buf[256];
	size_t len = 0;
	for (;;) {
		uint64_t now = mono_ms();
		int timeout = fence_poll_timeout(&st, now);
		if (timeout == 0)
			return fenced(&hw, pidfile, "the agent did not renew its deadline in time");
		timeout = min_timeout(timeout, hw_tick(&hw, &st, now));
		struct pollfd p = {.fd = 0, .events = POLLIN};
		int r = poll(&p, 1, timeout);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			continue; /* the deadline is checked at the top */
		ssize_t n = read(0, buf + len, sizeof buf - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return fenced(&hw, pidfile, "the agent is gone");
		len += (size_t)n;
		buf[len] = '\0';
		char *nl;
		while ((nl = strchr(buf, '\n'))) {
			*nl = '\0';
			fence_cmd c = fence_feed(&st, buf);
			memmove(buf, nl + 1, len - (size_t)(nl + 1 - buf) + 1);
			len = strlen(buf);
			if (c == FENCE_CMD_EXIT) {
				hw_close(&hw);
				return 0;
			}
			if (c == FENCE_CMD_BAD)
				fprintf(stderr, "tandemd-fence: ignoring a malformed line\n");
		}
		if (len == sizeof buf - 1)
			len = 0; /* a line too long: dropped */
	}
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && !strcmp(argv[1], "exec"))
		return do_exec(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "watchdog"))
		return do_watchdog(argc, argv);
	fprintf(stderr, "usage: tandemd-fence exec PROGRAM ARGS...\n"
	                "       tandemd-fence watchdog PIDFILE [DEVICE TIMEOUT_S]   (deadlines on "
	                "stdin)\n"
	                "Started by tandemd; see docs/tandemd.md, \"Fencing\".\n");
	return 2;
}
