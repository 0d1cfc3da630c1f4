/* bootstrap.dcs.standby_cluster: this cluster born a standby cluster of another site. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "dcs_codec_priv.h"
#include "options_priv.h"

struct json_t *tandemd_standby_json(const tandemd_settings *s)
{
	const char *keys[] = {"host", "port", "primary_slot_name", "restore_command",
	                      "recovery_min_apply_delay"};
	const char *vals[] = {s->standby_host, s->standby_port, s->standby_primary_slot_name,
	                      s->standby_restore_command, s->standby_recovery_min_apply_delay};
	json_t *o = NULL;
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		if (!vals[i])
			continue;
		if (!o)
			o = json_object();
		json_object_set_new(o, keys[i], json_string(vals[i]));
	}
	return o;
}

int tandemd_check_standby(const tandemd_settings *s, char **err)
{
	json_t *j = tandemd_standby_json(s);
	if (!j)
		return 0;
	dcs_standby sb;
	char *why = NULL;
	int rc = dcs_standby_decode(j, &sb, &why);
	dcs_standby_clear(&sb);
	json_decref(j);
	if (rc != 0) {
		err_set(err, "bootstrap.dcs.%s", why + strlen("config: "));
		free(why);
	}
	return rc;
}
