/* image.h - the broker's image service: image.pull, image.import,
 * image.list, image.remove on its node-local store (doc/images.md). */
#ifndef CANOPY_IMAGE_H
#define CANOPY_IMAGE_H
#include "overlay.h"

typedef struct image_svc image_svc_t;
image_svc_t *image_svc_new (overlay_t *ov, const char *statedir, char *err, size_t errlen);
void image_svc_destroy (image_svc_t **p);

#endif
