/* imageimport.h - import images into the node-local store from an OCI image
 * layout directory, an oci-archive (a tar of one) or a docker-archive
 * (docker save; converted to OCI), read with libarchive (doc/images.md). */
#ifndef CANOPY_IMAGEIMPORT_H
#define CANOPY_IMAGEIMPORT_H
#include <jansson.h>
#include <stddef.h>
#include "imagestore.h"

/* name: NULL, "REPO" (entries' bare tags appended) or "REPO:TAG" (one image).
 * platform: NULL (this machine's) or "os/arch[/variant]" for indexes.
 * Returns {images:[{ref, digest, size, layers}]} or NULL with *errnum and err;
 * on failure no reference changes and no blob of this import stays. */
json_t *image_import (imagestore_t *st, const char *path, const char *name, const char *platform, int *errnum,
                      char *err, size_t errlen);

#endif
