/* registry.h - pull an image from a registry speaking the OCI distribution
 * API into the node-local image store (libcurl): the /v2/ probe, Basic and
 * Bearer auth, manifests by tag or digest, blobs streamed and checked
 * (doc/images.md). */
#ifndef CANOPY_REGISTRY_H
#define CANOPY_REGISTRY_H
#include <jansson.h>
#include <stddef.h>
#include "imagestore.h"

typedef struct registry_pull_opts {
    int plain_http;          /* http:// instead of https:// */
    const char *platform;    /* "os/arch[/variant]" or NULL: this machine's */
    const char *user, *password;   /* Basic credentials (also sent to a token realm) */
} registry_pull_opts_t;

/* Call once, before any thread uses the registry client. */
void registry_global_init (void);

/* Pull ref into st.  Returns the result object (doc/images.md image.pull),
 * or NULL with *errnum (ENOENT, EACCES, EPROTO, EILSEQ, EIO) and a one-line
 * message in err.  On failure no reference changes and no temp file stays. */
json_t *registry_pull (imagestore_t *st, const char *ref, const registry_pull_opts_t *o, int *errnum, char *err,
                       size_t errlen);

#endif
