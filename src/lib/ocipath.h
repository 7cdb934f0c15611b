/* ocipath.h - the request paths of the pull side of the OCI distribution
 * API (/v2/, /v2/NAME/manifests/REF, /v2/NAME/blobs/DIGEST, /v2/NAME/tags/list),
 * parsed and
 * validated for the mirror (doc/images.md, "Mirror").  Pure: no I/O. */
#ifndef CANOPY_OCIPATH_H
#define CANOPY_OCIPATH_H
#include <stddef.h>

enum { OCIPATH_ROOT = 1, OCIPATH_MANIFEST = 2, OCIPATH_BLOB = 3, OCIPATH_TAGS = 4 };

typedef struct ocipath {
    int kind;
    char name[256];        /* repository, e.g. library/busybox */
    char reference[136];   /* tag or sha256:HEX (manifests), sha256:HEX (blobs) */
} ocipath_t;

/* Parse a path (without the query string).  Returns the kind, or -1 with a
 * short reason in err (a path the mirror answers 404). */
int ocipath_parse (const char *path, ocipath_t *p, char *err, size_t errlen);

/* 1 if s is a repository name: components [a-z0-9]+ joined by '.', '_',
 * '__' or runs of '-', separated by '/', at most 255 bytes. */
int ocipath_name_valid (const char *s, size_t len);

#endif
