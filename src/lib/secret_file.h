/* Files that hold secrets (a TLS private key, a password file): refused when other users could
 * read them, as libpq and ssh refuse theirs, and a warning for a configuration file that holds
 * passwords where every user can read it. */
#ifndef TANDEM_SECRET_FILE_H
#define TANDEM_SECRET_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "strbuf.h"

/* Whether the open file `fd` (named `path` in messages) may hold a secret: a regular file, owned
 * by this process's user with no access for group or others (0600 or less), or owned by root and
 * at most group-readable (0640, e.g. root:ssl-cert keys). Otherwise an error that says how to
 * fix it. */
int secret_file_check_fd(int fd, const char *path, char **err) TND_MUST_CHECK;
/* The same for the file at `path` (symbolic links followed, the target checked). */
int secret_file_check(const char *path, char **err) TND_MUST_CHECK;
/* Appends the secret file at `path` to `sb` after checking it (on the same open file, so it
 * cannot be swapped in between); larger than `max` bytes is an error. */
int secret_file_read(strbuf *sb, const char *path, size_t max, char **err) TND_MUST_CHECK;
/* Whether every user may read the file at `path` (mode o+r); false when it cannot be seen. */
bool secret_file_world_readable(const char *path);

#endif
