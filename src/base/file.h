/* file.h - reading a whole (small) file into memory: scenario files, --message-file. */
#ifndef HERD_BASE_FILE_H
#define HERD_BASE_FILE_H

#include <stddef.h>

/* Read all of path into *out (malloc'ed; NUL-terminated past *len for convenience, the NUL not
 * counted). Returns 0; -errno when the file cannot be opened or read; HERD_E_TOO_BIG when it
 * holds more than max bytes (nothing is returned then). */
int file_read_all(const char *path, size_t max, char **out, size_t *len);

#endif
