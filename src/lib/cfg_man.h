/* Manual pages from the option tables: the OPTIONS section of a program's page in roff (man(7)),
 * rendered from its cfg_table, so that the page says what `--help` and `show-config` say. Text is
 * escaped for roff: a backslash, a hyphen-minus, and a leading dot or quote cannot be read as
 * markup. */
#ifndef TANDEM_CFG_MAN_H
#define TANDEM_CFG_MAN_H

#include <stdio.h>

#include "cfg.h"

/* `s` escaped for roff text; a line that starts with a dot or a quote is guarded. */
void cfg_man_escape(const char *s, FILE *out);

/* One .TP entry per option: the flag, the file key, the environment variable, the default,
 * whether a change needs a restart, the help line. */
void cfg_man_options(const cfg_table *t, FILE *out);

/* Preformatted text (a program's --help output) as a no-fill block. */
void cfg_man_verbatim(const char *text, FILE *out);

#endif
