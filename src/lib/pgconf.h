/* What a line of postgresql.conf can hold, as tandem writes it (name = 'value'): shared by the
 * writer (pgctl) and by the checks on what the DCS may set (dyn_config). Pure. */
#ifndef TANDEM_PGCONF_H
#define TANDEM_PGCONF_H

#include <stdbool.h>

/* A parameter name postgresql.conf takes unquoted: letters, digits, '_' and '.' (an extension's
 * "prefix.name"), at least one. NULL: false. */
bool pgconf_name_ok(const char *s);

/* A value that fits one quoted line: no control character but tab. NULL: false. */
bool pgconf_value_ok(const char *s);

#endif
