/* readfile.h - read a whole small file (a config, a certificate, a token,
 * a JGF or jobspec) into memory, with a size limit, one way. */
#ifndef CANOPY_READFILE_H
#define CANOPY_READFILE_H
#include <stddef.h>

/* The file's bytes, NUL-terminated (the terminator is not counted in *len;
 * len may be NULL).  A file larger than max bytes, or one that cannot be
 * opened or read, gives NULL with "PATH: reason" in err.  Free the result. */
char *read_file (const char *path, size_t max, size_t *len, char *err, size_t errlen);

#endif
