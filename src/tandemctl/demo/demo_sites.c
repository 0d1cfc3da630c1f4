/* The demo's two sites: see demo_sites.h. */
#include "demo_sites.h"

#include <stdio.h>
#include <stdlib.h>

#include "haproxy_config.h"
#include "strbuf.h"

const char *const demo_member_name[DEMO_MEMBERS] = {"a1", "a2", "b1", "b2"};
const char *const demo_site_name[DEMO_SITES] = {"A", "B"};
const char *const demo_site_scope[DEMO_SITES] = {"demo-a", "demo-b"};

int demo_site_of(int member)
{
	return member / DEMO_SITE_MEMBERS;
}

/* Site B's bootstrap.dcs.standby_cluster: every member of site A, so that B's standby leader
 * follows a failover inside A (libpq's target_session_attrs=read-write over the list). */
static void standby_cluster(strbuf *sb, const demo_setup *s)
{
	sb_puts(sb, "    # a standby cluster of site A: its leader is the standby leader,\n"
	            "    # replicating from whichever of A's members is writable\n"
	            "    standby_cluster:\n"
	            "      host: '");
	for (int i = 0; i < DEMO_SITE_MEMBERS; i++)
		sb_printf(sb, "%s127.0.0.1", i ? "," : "");
	sb_puts(sb, "'\n      port: '");
	for (int i = 0; i < DEMO_SITE_MEMBERS; i++)
		sb_printf(sb, "%s%d", i ? "," : "", s->ports.pg[i]);
	sb_puts(sb, "'\n");
}

char *demo_sites_member_yaml(const demo_setup *s, int i)
{
	int site = demo_site_of(i);
	strbuf sb = STRBUF_INIT;
	sb_printf(&sb,
	          "# tandemd's configuration for %s (site %s), written by tandemctl demo.\n"
	          "scope: %s\n"
	          "name: %s\n"
	          "restapi:\n"
	          "  listen: 127.0.0.1:%d\n"
	          "etcd3:\n"
	          "  hosts: 127.0.0.1:%d\n"
	          "bootstrap:\n"
	          "  dcs:\n"
	          "    # ttl, loop_wait and retry_timeout: the product's defaults\n"
	          "    # a failover (and a site's promotion) loses no acknowledged write\n"
	          "    synchronous_mode: true\n"
	          "    postgresql:\n"
	          "      use_pg_rewind: true\n",
	          demo_member_name[i], demo_site_name[site], demo_site_scope[site],
	          demo_member_name[i], s->ports.rest[i], s->ports.etcd[site]);
	if (site == 1)
		standby_cluster(&sb, s);
	sb_printf(&sb,
	          "postgresql:\n"
	          "  listen: 127.0.0.1:%d\n"
	          "  data_dir: %s\n"
	          "  authentication:\n"
	          "    superuser:\n"
	          "      username: postgres\n"
	          "      password: %s\n"
	          "    replication:\n"
	          "      username: replicator\n"
	          "      password: %s\n"
	          "  pg_hba:\n"
	          "    - local all all trust\n"
	          "    - host all all 127.0.0.1/32 scram-sha-256\n"
	          "    - host replication all 127.0.0.1/32 scram-sha-256\n"
	          "tags:\n"
	          "  site: %s\n",
	          s->ports.pg[i], s->member_data[i], s->superuser_password, s->replication_password,
	          demo_site_name[site]);
	/* Site A archives into a pgBackRest repository in the demo's directory, and its backup
	 * runner takes backups and runs restore drills there. */
	if (site == 0)
		sb_printf(&sb,
		          "backup:\n"
		          "  pgbackrest:\n"
		          "    repo1-path: %s/repo\n",
		          s->dir);
	return sb_steal(&sb);
}

int demo_sites_write_ctl(demo_setup *s, char **err)
{
	for (int k = 0; k < DEMO_SITES; k++) {
		char *name = xasprintf("site%s.yml", demo_site_name[k]);
		/* The superuser's name (its password is in the demo's pgpass file, for libpq): for
		 * list to ask the primary site how far the standby site is behind. */
		char *text = xasprintf("# For tandemctl -c: the demo's site %s (%s).\n"
		                       "scope: %s\n"
		                       "etcd3:\n"
		                       "  hosts: 127.0.0.1:%d\n"
		                       "postgresql:\n"
		                       "  authentication:\n"
		                       "    superuser:\n"
		                       "      username: postgres\n",
		                       demo_site_name[k],
		                       k == 0 ? "the primary site" : "a standby cluster of site A",
		                       demo_site_scope[k], s->ports.etcd[k]);
		int rc = demo_setup_write(s, name, text, 0644, err);
		s->site_config[k] = xasprintf("%s/%s", s->dir, name);
		free(name);
		free(text);
		if (rc != 0)
			return -1;
	}
	return 0;
}

char *demo_sites_haproxy_config(const demo_setup *s, int site, char **err)
{
	haproxy_member hm[DEMO_MEMBERS];
	char *pg[DEMO_MEMBERS], *rest[DEMO_MEMBERS];
	for (int n = 0; n < DEMO_MEMBERS; n++) {
		/* this site's members first */
		int i = (n + site * DEMO_SITE_MEMBERS) % DEMO_MEMBERS;
		pg[n] = xasprintf("127.0.0.1:%d", s->ports.pg[i]);
		rest[n] = xasprintf("127.0.0.1:%d", s->ports.rest[i]);
		hm[n] = (haproxy_member){
		    .name = demo_member_name[i],
		    .pg_addr = pg[n],
		    .rest_addr = rest[n],
		    .site = demo_site_scope[demo_site_of(i)],
		    .remote = demo_site_of(i) != site,
		};
	}
	char *rw = xasprintf("127.0.0.1:%d", s->ports.rw[site]);
	char *ro = xasprintf("127.0.0.1:%d", s->ports.ro[site]);
	char *stats = xasprintf("127.0.0.1:%d", s->ports.stats[site]);
	haproxy_config_input in;
	haproxy_config_input_defaults(&in);
	in.scope = demo_site_scope[site];
	in.members = hm;
	in.n_members = DEMO_MEMBERS;
	in.rw_listen = rw;
	in.ro_listen = ro;
	in.stats_listen = stats;
	char *text = haproxy_config_render(&in, err);
	free(rw);
	free(ro);
	free(stats);
	for (int n = 0; n < DEMO_MEMBERS; n++) {
		free(pg[n]);
		free(rest[n]);
	}
	return text;
}
