/* tandemctl init: writes a node's configuration from flags (ctl_init_render.h renders it):
 *   DIR/VERSION-NAME.yml  no secret, 0640 (root:postgres when run as root)
 *   DIR/VERSION-NAME.env  the cluster's passwords, 0600, read by systemd's EnvironmentFile=
 * refusing to overwrite either without --force, and checks that tandemd loads the result. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "ctl_commands.h"
#include "ctl_init_render.h"
#include "options.h"
#include "strbuf.h"

typedef struct init_args {
	ctl_init_spec spec;
	const char *dir;
	const char *secrets; /* another member's secrets file */
	bool force;
} init_args;

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: tandemctl init --scope NAME --name NAME --etcd HOST:PORT[,HOST:PORT...]\n"
	    "                      --connect-address HOST --allow CIDR[,CIDR...]\n"
	    "                      [--cluster 15-main] [--site SITE] [--namespace /service/]\n"
	    "                      [--listen 0.0.0.0] [--pg-port 5432] [--rest-port 8008]\n"
	    "                      [--data-dir DIR] [--bin-dir DIR] [--secrets FILE]\n"
	    "                      [--config-dir /etc/tandem] [--force]\n"
	    "\n"
	    "Writes CONFIG-DIR/CLUSTER.yml (no secrets; 0640, group postgres when run as root)\n"
	    "and CONFIG-DIR/CLUSTER.env (the cluster's passwords as PATRONI_* variables, 0600),\n"
	    "the files that tandemd@CLUSTER.service reads, then checks that tandemd loads them.\n"
	    "The first member generates the passwords; every other member takes the same ones:\n"
	    "copy the first member's .env file and pass it with --secrets. --allow lists the\n"
	    "networks of the members and clients (pg_hba, scram-sha-256). Existing files are\n"
	    "not overwritten without --force; with --force an existing .env file keeps its\n"
	    "passwords unless --secrets is given.\n"
	    "Exit status: 0 written, 1 a file could not be written or does not load, 2 usage.\n");
}

static int parse(int argc, char **argv, init_args *a)
{
	static const struct option opts[] = {
	    {"cluster", required_argument, NULL, 'C'},
	    {"scope", required_argument, NULL, 's'},
	    {"name", required_argument, NULL, 'n'},
	    {"site", required_argument, NULL, 'S'},
	    {"namespace", required_argument, NULL, 'N'},
	    {"etcd", required_argument, NULL, 'e'},
	    {"connect-address", required_argument, NULL, 'a'},
	    {"listen", required_argument, NULL, 'l'},
	    {"pg-port", required_argument, NULL, 'p'},
	    {"rest-port", required_argument, NULL, 'r'},
	    {"data-dir", required_argument, NULL, 'd'},
	    {"bin-dir", required_argument, NULL, 'b'},
	    {"allow", required_argument, NULL, 'A'},
	    {"secrets", required_argument, NULL, 'x'},
	    {"config-dir", required_argument, NULL, 'D'},
	    {"force", no_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	ctl_init_spec *s = &a->spec;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'C':
			s->cluster = optarg;
			break;
		case 's':
			s->scope = optarg;
			break;
		case 'n':
			s->name = optarg;
			break;
		case 'S':
			s->site = optarg;
			break;
		case 'N':
			s->namespace_ = optarg;
			break;
		case 'e':
			s->etcd = optarg;
			break;
		case 'a':
			s->connect_address = optarg;
			break;
		case 'l':
			s->listen = optarg;
			break;
		case 'p':
			s->pg_port = atoi(optarg);
			break;
		case 'r':
			s->rest_port = atoi(optarg);
			break;
		case 'd':
			s->data_dir = optarg;
			break;
		case 'b':
			s->bin_dir = optarg;
			break;
		case 'A':
			s->allow = optarg;
			break;
		case 'x':
			a->secrets = optarg;
			break;
		case 'D':
			a->dir = optarg;
			break;
		case 'f':
			a->force = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			fprintf(stderr, "tandemctl init: bad option '%s'\n", argv[optind - 1]);
			usage(stderr);
			return CTL_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tandemctl init: unexpected argument '%s'\n", argv[optind]);
		return CTL_EXIT_USAGE;
	}
	return 0;
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* The passwords: from --secrets, else those of an existing file (kept on --force), else new. */
static int get_secrets(const init_args *a, const char *env_path, ctl_init_secrets *x, char **err)
{
	const char *from = a->secrets ? a->secrets : exists(env_path) ? env_path : NULL;
	if (from) {
		strbuf sb = STRBUF_INIT;
		int rc = sb_read_file(&sb, from, 1 << 16, err);
		if (rc == 0 && ctl_init_env_parse(sb.data ? sb.data : "", x, err) != 0)
			rc = -1;
		sb_free(&sb);
		if (rc == 0 && !a->secrets)
			fprintf(stderr, "tandemctl init: keeping the passwords of %s\n", env_path);
		return rc;
	}
	memset(x, 0, sizeof *x);
	char **slots[] = {&x->superuser_password, &x->replication_password, &x->rest_password};
	for (size_t i = 0; i < 3; i++)
		if (!(*slots[i] = ctl_init_password(24, err))) {
			ctl_init_secrets_free(x);
			return -1;
		}
	return 0;
}

/* tandemd's own loader, on the file as written and the secrets as systemd hands them over. */
static int check_loads(const char *yml, const ctl_init_secrets *x, char **err)
{
	char *env[] = {xasprintf("PATRONI_SUPERUSER_PASSWORD=%s", x->superuser_password),
	               xasprintf("PATRONI_REPLICATION_PASSWORD=%s", x->replication_password),
	               xasprintf("PATRONI_RESTAPI_USERNAME=tandem"),
	               xasprintf("PATRONI_RESTAPI_PASSWORD=%s", x->rest_password), NULL};
	char *argv[] = {"tandemd", (char *)yml, NULL};
	tandemd_settings s;
	int rc = tandemd_settings_load(&s, 2, argv, env, err);
	tandemd_settings_free(&s);
	for (size_t i = 0; env[i]; i++)
		free(env[i]);
	return rc;
}

static int write_files(const init_args *a, const char *yml_path, const char *env_path, char **err)
{
	ctl_init_secrets x;
	if (get_secrets(a, env_path, &x, err) != 0)
		return -1;
	bool root = geteuid() == 0;
	const struct group *pg = root ? getgrnam("postgres") : NULL;
	gid_t gid = pg ? pg->gr_gid : (gid_t)-1;
	if (mkdir(a->dir, 0755) != 0 && errno != EEXIST) {
		err_set(err, "%s: %s", a->dir, strerror(errno));
		ctl_init_secrets_free(&x);
		return -1;
	}
	char *yml = ctl_init_yaml(&a->spec);
	char *env = ctl_init_env(&x);
	int rc = atomic_file_write_as(env_path, env, strlen(env), 0600, (uid_t)-1, (gid_t)-1, err);
	if (rc == 0)
		rc = atomic_file_write_as(yml_path, yml, strlen(yml), 0640, (uid_t)-1, gid, err);
	if (rc == 0 && check_loads(yml_path, &x, err) != 0)
		rc = -1;
	free(yml);
	free(env);
	ctl_init_secrets_free(&x);
	return rc;
}

int ctl_init_main(int argc, char **argv)
{
	init_args a = {
	    .spec = {.cluster = "15-main", .listen = "0.0.0.0", .pg_port = 5432, .rest_port = 8008},
	    .dir = "/etc/tandem"};
	int rc = parse(argc, argv, &a);
	if (rc != 0)
		return rc == 1 ? CTL_EXIT_OK : rc;
	char *err = NULL;
	if (ctl_init_check(&a.spec, &err) != 0) {
		fprintf(stderr, "tandemctl init: %s\n", err);
		free(err);
		return CTL_EXIT_USAGE;
	}
	char *yml_path = xasprintf("%s/%s.yml", a.dir, a.spec.cluster);
	char *env_path = xasprintf("%s/%s.env", a.dir, a.spec.cluster);
	rc = CTL_EXIT_OK;
	if (!a.force && (exists(yml_path) || exists(env_path))) {
		fprintf(stderr, "tandemctl init: %s already exists: not overwritten (--force)\n",
		        exists(yml_path) ? yml_path : env_path);
		rc = CTL_EXIT_FAILED;
	} else if (write_files(&a, yml_path, env_path, &err) != 0) {
		fprintf(stderr, "tandemctl init: %s\n", err);
		free(err);
		rc = CTL_EXIT_FAILED;
	} else {
		printf("wrote %s and %s (secrets, 0600)\n"
		       "next: systemctl enable --now tandemd@%s\n"
		       "other members: copy %s to them and run tandemctl init with --secrets\n",
		       yml_path, env_path, a.spec.cluster, env_path);
	}
	free(yml_path);
	free(env_path);
	return rc;
}
