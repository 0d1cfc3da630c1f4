/* The pure pieces of `tandemctl edit-config`: building a patch of the cluster-wide configuration
 * from dotted assignments (--set postgresql.parameters.work_mem=8MB, --pg work_mem=8MB), merging a
 * patch as Patroni's PATCH /config does, the patch that turns one configuration into another,
 * reading a YAML (or JSON) document into JSON, and a unified diff of two texts. No I/O. */
#ifndef TANDEMCTL_CTL_EDIT_H
#define TANDEMCTL_CTL_EDIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* Adds "KEY=VALUE" to the patch object `patch`: KEY is dotted ("ttl", "postgresql.parameters.
 * work_mem"; empty parts are an error), VALUE is JSON when it reads as JSON (8, true, null,
 * {"a":1}, "quoted") and a string otherwise (8MB); null removes the key when the patch is
 * applied. With `prefix` ("postgresql.parameters"), KEY is under it and may not be dotted.
 * A later assignment to the same key wins. 0, or -1 with *err. */
int ctl_patch_assign(json_t *patch, const char *prefix, const char *assignment,
                     char **err) TND_MUST_CHECK;

/* The patch that turns `from` into `to` (both objects): changed and new keys with their new
 * value, removed keys as null, objects compared recursively. An empty object when equal; merged
 * into `from` (dyn_config_merge) it gives `to`. */
json_t *ctl_config_patch_between(const json_t *from, const json_t *to);

/* A YAML document (JSON is YAML) as JSON, read as PyYAML reads it (so as Patroni does): plain
 * scalars null/~/empty are null, true/false/yes/no/on/off booleans, integers and floats numbers,
 * everything else and every quoted scalar a string. NULL with *err ("NAME:LINE: what") when the
 * text is not one YAML document. */
json_t *ctl_yaml_to_json(const char *text, size_t len, const char *name, char **err);

/* A unified diff (3 lines of context) of `old_text` and `new_text`, line by line, with the file
 * names `old_name` and `new_name` in its header; "" when the texts are equal. */
char *ctl_unified_diff(const char *old_text, const char *new_text, const char *old_name,
                       const char *new_name);

#endif
