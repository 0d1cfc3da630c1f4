/* tandemd-fence: keeps a primary from outliving the agent that may let it write.
 *
 *   tandemd-fence exec PROGRAM ARGS...
 *	Arranges for SIGQUIT (PostgreSQL's immediate shutdown) to reach this process when its
 *	parent (tandemd) dies, then becomes PROGRAM (the postmaster) by execv: the kernel, not
 *	the agent, stops PostgreSQL when the agent is killed.
 *
 *   tandemd-fence watchdog PIDFILE
 *	Reads deadlines from stdin, one per line: a CLOCK_MONOTONIC time in milliseconds after
 *	which PostgreSQL must not be writable, or 0 for none. When a deadline passes without a
 *	newer one (the agent froze: SIGSTOP, a stuck loop) or stdin ends (the agent died), it
 *	sends SIGQUIT to the postmaster named on line 1 of PIDFILE, then SIGKILL to it and its
 *	children if it still lives 2 s later, and exits. A deadline of 0 disarms it; "exit"
 *	ends it without fencing.
 *
 * The agent sends a deadline at every lease renewal (the lease's safe end), so a frozen agent's
 * primary stops before its leader key can expire and a replica be promoted (docs/tandemd.md,
 * "Fencing"). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
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

static void fence_now(const char *pidfile, const char *why)
{
	long pid = read_pid(pidfile);
	if (!pid || !alive(pid)) {
		fprintf(stderr, "tandemd-fence: %s; no postmaster runs\n", why);
		return;
	}
	fprintf(stderr, "tandemd-fence: %s: stopping PostgreSQL (pid %ld) now\n", why, pid);
	kill((pid_t)pid, SIGQUIT);
	for (int i = 0; i < 200; i++) {
		if (!alive(pid))
			return;
		struct timespec ts = {0, 10 * 1000000};
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "tandemd-fence: postmaster %ld still alive after 2 s: SIGKILL\n", pid);
	kill_children(pid);
	kill((pid_t)pid, SIGKILL);
}

static int do_watchdog(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: tandemd-fence watchdog PIDFILE\n");
		return 2;
	}
	const char *pidfile = argv[2];
	fence_state st;
	fence_init(&st);
	char buf[256];
	size_t len = 0;
	for (;;) {
		uint64_t now = mono_ms();
		int timeout = fence_poll_timeout(&st, now);
		if (timeout == 0) {
			fence_now(pidfile, "the agent did not renew its deadline in time");
			return 0;
		}
		struct pollfd p = {.fd = 0, .events = POLLIN};
		int r = poll(&p, 1, timeout);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			continue; /* the deadline is checked at the top */
		ssize_t n = read(0, buf + len, sizeof buf - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fence_now(pidfile, "the agent is gone");
			return 0;
		}
		len += (size_t)n;
		buf[len] = '\0';
		char *nl;
		while ((nl = strchr(buf, '\n'))) {
			*nl = '\0';
			fence_cmd c = fence_feed(&st, buf);
			memmove(buf, nl + 1, len - (size_t)(nl + 1 - buf) + 1);
			len = strlen(buf);
			if (c == FENCE_CMD_EXIT)
				return 0;
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
	                "       tandemd-fence watchdog PIDFILE   (deadlines on stdin)\n"
	                "Started by tandemd; see docs/tandemd.md, \"Fencing\".\n");
	return 2;
}
