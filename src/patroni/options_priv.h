/* tandemd's settings, the parts options.c shares with its neighbours: Patroni's environment
 * variables (options_env.c) and the standby cluster's keys (options_standby.c). */
#ifndef PATRONI_OPTIONS_PRIV_H
#define PATRONI_OPTIONS_PRIV_H

#include "options.h"

/* `envp` with each PATRONI_* variable also set under tandemd's name (TANDEMD_*), unless that is
 * set already; the added entries go to `added` (the caller frees them and the array). */
char **tandemd_environment_with_patroni(char **envp, cfg_list *added);
/* An error about an option set through a Patroni variable names that variable too. */
void tandemd_name_patroni_variable(char **err, const cfg_list *added);
/* bootstrap.dcs.standby_cluster, checked as the DCS's standby_cluster is. */
int tandemd_check_standby(const tandemd_settings *s, char **err) TND_MUST_CHECK;

#endif
