/* imagemirror.h - a broker's image store served read-only over the pull
 * side of the OCI distribution API (libmicrohttpd), for containerd to use as
 * a mirror; what it cannot serve is a logged, counted 404 (doc/images.md,
 * "Mirror"). */
#ifndef CANOPY_IMAGEMIRROR_H
#define CANOPY_IMAGEMIRROR_H
#include <jansson.h>
#include <stddef.h>
#include "imagestore.h"
#include "overlay.h"

typedef struct imagemirror imagemirror_t;

/* Listen on listen ("[ADDRESS:]PORT"; PORT 0 = any free one); an address
 * left out is default_addr (an IPv4 address or host name).  ov is for the
 * log only.  NULL with err. */
imagemirror_t *imagemirror_start (imagestore_t *st, overlay_t *ov, const char *listen, const char *default_addr,
                                  char *err, size_t errlen);
/* "http://ADDRESS:PORT" */
const char *imagemirror_url (const imagemirror_t *m);
/* {url, requests, manifests, blobs, bytes, fallthrough, last_fallthrough} */
json_t *imagemirror_stats (imagemirror_t *m);
void imagemirror_stop (imagemirror_t **p);

/* Map a registry name as containerd gives it (ns query) to the domain of
 * the store's references ("registry-1.docker.io" -> "docker.io"). */
const char *imagemirror_domain (const char *ns);

#endif
