/* Writing a whole file so that readers see the old contents or the new, never a part, and so
 * that nobody else who can write in its directory can redirect the write: the data goes to a new
 * temporary file beside it (O_CREAT|O_EXCL|O_NOFOLLOW under a random name, so a symbolic link
 * planted there is never followed), which is given its mode and owner through its descriptor,
 * synced, and renamed over the target (a link at the target is replaced, never followed); then
 * the directory is synced. */
#ifndef TANDEM_ATOMIC_FILE_H
#define TANDEM_ATOMIC_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/* Writes `len` bytes of `data` as `path`, with `mode`. */
int atomic_file_write(const char *path, const void *data, size_t len, mode_t mode,
                      char **err) TND_MUST_CHECK;
/* The same, the file owned by `uid`:`gid` ((uid_t)-1 / (gid_t)-1: unchanged). */
int atomic_file_write_as(const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
                         gid_t gid, char **err) TND_MUST_CHECK;

#endif
