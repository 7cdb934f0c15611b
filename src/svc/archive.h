/* archive.h - the archive services of a broker: create, list, remove,
 * extract, and pipelined distribution to other brokers
 * (doc/distribution.md).  The destination template ("{rank}") is
 * src/lib/destsubst.h. */
#ifndef CANOPY_ARCHIVE_H
#define CANOPY_ARCHIVE_H
#include "overlay.h"

typedef struct archive_svc archive_svc_t;
archive_svc_t *archive_svc_new (overlay_t *ov, const char *statedir, char *err, size_t errlen);
void archive_svc_destroy (archive_svc_t **p);
#endif
