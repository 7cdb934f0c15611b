/* fuzz_ocipath.c - ocipath_parse on arbitrary bytes (the mirror's request
 * paths come from the network): never crash; what parses has a valid name
 * and reference and no ".." anywhere. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ocipath.h"
#include "ociref.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char s[1024], err[128];
    if (size >= sizeof s)
        size = sizeof s - 1;
    memcpy (s, data, size);
    s[size] = '\0';
    ocipath_t p;
    int k = ocipath_parse (s, &p, err, sizeof err);
    if (k < 0) {
        if (!memchr (err, '\0', sizeof err))
            abort ();
        return 0;
    }
    if (k == OCIPATH_ROOT)
        return 0;
    if (!ocipath_name_valid (p.name, strlen (p.name)) || strstr (p.name, "..") || strchr (p.reference, '/'))
        abort ();
    if (k == OCIPATH_TAGS && p.reference[0])
        abort ();
    if (k == OCIPATH_BLOB && !ociref_digest_valid (p.reference))
        abort ();
    if (k == OCIPATH_MANIFEST && !ociref_digest_valid (p.reference) && !ociref_tag_valid (p.reference))
        abort ();
    return 0;
}
