/* The demo's topology and its files: command-line options, ports, the directory, the programs it
 * runs, and the configuration files it writes. Everything before the first process starts. */
#ifndef TANDEMCTL_DEMO_SETUP_H
#define TANDEMCTL_DEMO_SETUP_H

#include <stdbool.h>
#include <sys/types.h>

#include "err.h"

/* Two sites (demo_sites.c): A, the primary site, and B, a standby cluster of A; each has its own
 * etcd, two members, an HAProxy and a hellod. Members 0-1 are site A's, 2-3 site B's. */
#define DEMO_SITES        2
#define DEMO_SITE_MEMBERS 2
#define DEMO_MEMBERS      (DEMO_SITES * DEMO_SITE_MEMBERS)
#define DEMO_HELLODS      DEMO_SITES
#define DEMO_APP_USER     "hello"
/* The ports --base-port takes, in order (demo_setup.c). */
#define DEMO_NPORTS (5 * DEMO_SITES + 2 * DEMO_MEMBERS + DEMO_HELLODS)
/* The passwords are random, new for every run: 32 hex digits (128 bits). */
#define DEMO_PASSWORD_LEN 32

typedef struct demo_ports {
	int etcd[DEMO_SITES], etcd_peer[DEMO_SITES];
	int rest[DEMO_MEMBERS];
	int pg[DEMO_MEMBERS];
	int rw[DEMO_SITES], ro[DEMO_SITES], stats[DEMO_SITES];
	int hellod[DEMO_HELLODS]; /* hellod #1 in site A, #2 in site B */
} demo_ports;

typedef struct demo_setup {
	/* options */
	const char *dir_opt; /* --dir, or NULL for a fresh mktemp directory */
	bool keep;
	bool smoke;
	int base_port; /* 0: the standard ports */
	/* derived */
	demo_ports ports;
	char *dir;    /* absolute */
	bool as_user; /* run as root: children run as postgres */
	uid_t uid;
	gid_t gid;
	char *tandemctl; /* this program */
	char *tandemd, *hellod, *etcd, *haproxy, *psql;
	char *member_dir[DEMO_MEMBERS];
	char *member_config[DEMO_MEMBERS];
	char *member_log[DEMO_MEMBERS];
	char *member_data[DEMO_MEMBERS];
	char *site_config[DEMO_SITES]; /* DIR/siteA.yml, DIR/siteB.yml: for tandemctl -c */
	/* This run's passwords (superuser postgres, replicator, hellod's role), printed once and
	 * kept in DIR/credentials (0600); DIR/pgpass (0600) serves psql and the examples. */
	char superuser_password[DEMO_PASSWORD_LEN + 1];
	char replication_password[DEMO_PASSWORD_LEN + 1];
	char app_password[DEMO_PASSWORD_LEN + 1];
} demo_setup;

/* Parses demo's arguments (argv[0] is "demo"). Returns -1 to go on, or an exit status (0 after
 * --help, 2 on a usage error, with the message printed). */
int demo_setup_args(demo_setup *s, int argc, char **argv);

/* Finds the programs, checks the ports, creates the directory and writes every configuration
 * file. -1 with *err on failure (nothing left running; the directory is removed unless it was
 * given). */
int demo_setup_prepare(demo_setup *s, char **err) TND_MUST_CHECK;

/* Writes `text` to DIR/name with `mode` (owned by the children's user). */
int demo_setup_write(const demo_setup *s, const char *name, const char *text, mode_t mode,
                     char **err) TND_MUST_CHECK;

/* Removes the directory and everything in it. */
void demo_setup_remove_dir(const demo_setup *s);

/* The absolute path of a program on PATH (or in the sbin and bin directories), or NULL. */
char *demo_setup_which(const char *name);

/* Whether 127.0.0.1:port can be listened on now. */
bool demo_setup_port_free(int port);

/* The last `lines` lines of a file, for reports ("" when unreadable). */
char *demo_tail(const char *path, int lines);

void demo_setup_free(demo_setup *s);

#endif
