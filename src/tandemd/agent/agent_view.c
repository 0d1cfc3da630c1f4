/* Questions about the DCS view that every part of the agent asks (agent_priv.h). A leaf: it
 * calls nothing else in the agent. */
#include <string.h>

#include "agent_priv.h"

bool agent_member_running(const dcs_member *m)
{
	return dcs_member_running(m);
}

bool agent_holds_key(const agent *a)
{
	const dcs_view *v = dcs_get_view(a->dcs);
	return v->leader && !strcmp(v->leader, a->s->name);
}
