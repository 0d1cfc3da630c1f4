/* Text for people: the bordered tables tandemctl prints (in the manner of `patronictl list`), and
 * the small text conversions its commands share (the host of a connection URL, lag in MB, LSNs,
 * JSON shown as YAML). Pure: no I/O (but ctl_printf); every result is a heap string for the
 * caller to free.
 *
 * Text from the DCS or from a member (names, states, tags, errors, the configuration) may hold
 * terminal escape sequences; everything tandemctl prints goes through ctl_safe_text, in the
 * tables and through ctl_printf. */
#ifndef TANDEMCTL_CTL_TABLE_H
#define TANDEMCTL_CTL_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

typedef struct ctl_table ctl_table;

/* `s` (NULL: "") with every byte that could steer a terminal shown as '?': C0 controls (ESC,
 * CR, BS; newline and tab are kept when `multiline`), DEL, C1 controls (U+0080-U+009F: U+009B is
 * a CSI), and bytes that are not UTF-8 (an 8-bit terminal takes a lone 0x9b as a CSI). */
char *ctl_safe_text(const char *s, bool multiline);
/* printf to `out` through ctl_safe_text (multiline): for every message that carries text from
 * the DCS or a member. */
void ctl_printf(FILE *out, const char *fmt, ...) TND_PRINTF(2, 3);

typedef enum ctl_align { CTL_ALIGN_LEFT, CTL_ALIGN_RIGHT } ctl_align;

/* A table with `ncols` columns named by `headers` (copied), all left-aligned. */
ctl_table *ctl_table_new(size_t ncols, const char *const *headers);
void ctl_table_free(ctl_table *t);
void ctl_table_align(ctl_table *t, size_t col, ctl_align align);
/* Appends a row of `ncols` cells (copied; NULL is an empty cell). Cells are single lines: what
 * ctl_safe_text replaces, newline and tab too, is shown as '?', so that a hostile value cannot
 * break the table or the terminal. The title of ctl_table_render is cleaned the same way. */
void ctl_table_add_row(ctl_table *t, const char *const *cells);
size_t ctl_table_rows(const ctl_table *t);

/* The table with borders:
 *
 *   + Cluster: batman (7280) ---+---------+
 *   | Member | Host           | Role    |
 *   +--------+----------------+---------+
 *   | pg1    | 10.0.0.1:5432  | Leader  |
 *   +--------+----------------+---------+
 *
 * `title` (NULL for none) is set into the top border; a title longer than the table widens the
 * last column. Widths count UTF-8 characters, not bytes. */
char *ctl_table_render(const ctl_table *t, const char *title);

/* "host:port" of a PostgreSQL URL ("postgres://user@10.0.0.1:5432/postgres" → "10.0.0.1:5432",
 * "postgresql://[fd00::1]:5433/db" → "[fd00::1]:5433"; without a port, ":5432" is added), or
 * of a REST URL ("http://10.0.0.1:8008/patroni" → "10.0.0.1:8008"; default port 80 or 443).
 * NULL when `url` is not such a URL. */
char *ctl_url_host_port(const char *url);

/* The URL's scheme://host:port followed by `path` ("http://h:8008/patroni", "/failover" →
 * "http://h:8008/failover"); NULL when `url` has no scheme. */
char *ctl_url_with_path(const char *url, const char *path);

/* Lag in MB as patronictl shows it: bytes / 1 MiB, rounded to the nearest integer. */
uint64_t ctl_lag_mb(uint64_t bytes);

/* "16/B374D848": PostgreSQL's way to write an LSN. */
char *ctl_lsn_text(uint64_t lsn);

/* A JSON text shown as block-style YAML, keys sorted ("loop_wait: 10\npostgresql:\n  ..."); strings
 * that YAML would read as something else are quoted. NULL with *err when `json` is not JSON. */
char *ctl_json_to_yaml(const char *json, char **err);

/* The members' tags as one line, "clonefrom: true, nofailover: true" (keys sorted), from the
 * "tags" JSON object; "" for none or unreadable. */
char *ctl_tags_line(const char *tags_json);

#endif
