/* Shared by the files of the settings module (cfg.c: values, cfg_load.c: their sources) only. */
#ifndef TANDEM_CFG_PRIV_H
#define TANDEM_CFG_PRIV_H

#include <stddef.h>

#include "cfg.h"

/* Where option `o`'s value lives in `settings`. */
void *cfg_slot(const cfg_option *o, void *settings);

void cfg_list_free(cfg_list *l);
void cfg_list_push(cfg_list *l, const char *s, size_t len);
/* Appends the comma-separated items of `s`, trimmed; empty items are left out. */
void cfg_list_split(cfg_list *l, const char *s);

void cfg_map_set(cfg_map *m, const char *key, const char *value);

/* The environment variable of option `o`: PREFIX_NAME, upper case, '.' and '-' as '_' (heap). */
char *cfg_env_name(const cfg_table *t, const cfg_option *o);

#endif
