/* The demo's two sites (docs/sites.md): site A, the primary site, and site B, a standby cluster
 * of A (Patroni's standby_cluster in its bootstrap configuration, streaming from both of A's
 * members with target_session_attrs=read-write). Each site has its own scope, its own etcd, two
 * members, an HAProxy whose configuration names both sites' members (writes go to whichever site
 * is primary, reads stay in the site) and a hellod writing through that HAProxy. This file
 * writes what differs between the sites: the members' YAML, tandemctl's file per site, the
 * HAProxy configuration per site. */
#ifndef TANDEMCTL_DEMO_SITES_H
#define TANDEMCTL_DEMO_SITES_H

#include "demo_setup.h"

extern const char *const demo_member_name[DEMO_MEMBERS]; /* a1 a2 b1 b2 */
extern const char *const demo_site_name[DEMO_SITES];     /* A B */
extern const char *const demo_site_scope[DEMO_SITES];    /* demo-a demo-b */

/* The site of member i (0: A, 1: B). */
int demo_site_of(int member);

/* tandemd's configuration for member i (the caller frees and wipes it: it holds passwords). */
char *demo_sites_member_yaml(const demo_setup *s, int i);

/* Writes DIR/siteA.yml and DIR/siteB.yml (scope and etcd, for tandemctl -c) and fills
 * s->site_config. */
int demo_sites_write_ctl(demo_setup *s, char **err) TND_MUST_CHECK;

/* The HAProxy configuration of `site`: both sites' members, `site`'s own first (tandemctl
 * haproxy-config -c siteX.yml --site siteY.yml gives the same routing). NULL with *err. */
char *demo_sites_haproxy_config(const demo_setup *s, int site, char **err);

#endif
