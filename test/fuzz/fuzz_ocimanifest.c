/* fuzz_ocimanifest.c - ocim_parse on arbitrary bytes (the first byte picks a
 * Content-Type): never crash; errors are one line; what parses has valid
 * digests and bounded sizes, and an index's platform choice is one of its
 * entries. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ocimanifest.h"
#include "ociref.h"

static void check_desc (const ocim_desc_t *d)
{
    if (!ociref_digest_valid (d->digest) || d->size < 0 || d->size > OCIM_MAX_BLOB)
        abort ();
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static const char *types[] = { NULL, OCIM_OCI_MANIFEST, OCIM_OCI_INDEX, OCIM_DOCKER_MANIFEST, OCIM_DOCKER_LIST,
                                   "application/json", "text/html" };
    if (size == 0)
        return 0;
    const char *ct = types[data[0] % 7];
    char err[256];
    ocim_t *m = ocim_parse ((const char *)data + 1, size - 1, ct, err, sizeof err);
    if (!m) {
        if (!memchr (err, '\0', sizeof err) || strchr (err, '\n'))
            abort ();
        return 0;
    }
    if (m->kind == OCIM_MANIFEST) {
        check_desc (&m->config);
        for (size_t i = 0; i < m->nlayers; i++)
            check_desc (&m->layers[i]);
    }
    else if (m->kind == OCIM_INDEX) {
        for (size_t i = 0; i < m->nmanifests; i++)
            check_desc (&m->manifests[i]);
        const ocim_desc_t *d = ocim_select (m, "linux", "amd64", "", err, sizeof err);
        if (d && (d < m->manifests || d >= m->manifests + m->nmanifests))
            abort ();
        if (!d && strchr (err, '\n'))
            abort ();
    }
    else
        abort ();
    ocim_destroy (&m);
    return 0;
}
