/* Questions about the DCS view that every part of the agent asks (agent_priv.h). A leaf: it
 * calls nothing else in the agent. */
#include <string.h>

#include "agent_priv.h"
#include "log.h"

bool agent_member_running(const dcs_member *m)
{
	return dcs_member_running(m);
}

bool agent_holds_key(const agent *a)
{
	const dcs_view *v = dcs_get_view(a->dcs);
	return v->leader && !strcmp(v->leader, a->s->name);
}

static bool same_text(const char *x, const char *y)
{
	return x && y ? strcmp(x, y) == 0 : x == y;
}

/* Before the first member key: another member, alive (on a lease not ours) at other addresses,
 * holds this name. Member names are unique in a cluster: two agents writing one key in turn
 * would each be seen as the other. tandemd stops (exit 1) rather than take the name over. */
bool agent_name_taken(agent *a)
{
	if (!dcs_view_ready(a->dcs))
		return true; /* not known yet: the next pass publishes */
	const dcs_member *m = dcs_view_member(dcs_get_view(a->dcs), a->s->name);
	if (!m || !m->lease || m->lease == dcs_lease_id(a->dcs) ||
	    (same_text(m->api_url, a->api_url) && same_text(m->conn_url, a->conn_url)))
		return false;
	log_error("the member name %s is taken: a running member registered it with api_url %s and "
	          "conn_url %s (this one: %s, %s). Member names are unique in a cluster: give this "
	          "member another name. If that was this member's previous process at other "
	          "addresses, its key expires within the ttl (%lld s): start again then",
	          a->s->name, m->api_url ? m->api_url : "(none)",
	          m->conn_url ? m->conn_url : "(none)", a->api_url, a->conn_url,
	          (long long)a->ttl_s);
	agent_fatal(a);
	return true;
}
