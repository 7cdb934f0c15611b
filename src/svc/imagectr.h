/* imagectr.h - hand an image of the node-local store to the node's
 * containerd (`ctr images import` of an OCI archive streamed on its stdin). */
#ifndef CANOPY_IMAGECTR_H
#define CANOPY_IMAGECTR_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "imagestore.h"

#define IMAGECTR_DEFAULT_ADDRESS "/run/containerd/containerd.sock"
#define IMAGECTR_DEFAULT_NAMESPACE "k8s.io"

/* 0 if a unix socket at address accepts a connection, else -1 with err
 * ("containerd is not reachable at ADDR: ..."). */
int imagectr_reachable (const char *address, char *err, size_t errlen);

/* Import image ref (manifest descriptor and its blobs, as
 * imagestore_image_blobs gives) into containerd at address, namespace ns.
 * 0, or -1 with err (ctr's last line of output). */
int imagectr_import (imagestore_t *st, const char *ref, const char *media_type, const char *digest, int64_t size,
                     json_t *blobs, const char *address, const char *ns, char *err, size_t errlen);

#endif
