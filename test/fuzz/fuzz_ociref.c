/* fuzz_ociref.c - ociref_parse on arbitrary bytes: never crash; errors are
 * one terminated line; what parses formats to a name that parses to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ociref.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char s[512], err[256], a[600], b[600];
    if (size >= sizeof s)
        size = sizeof s - 1;
    memcpy (s, data, size);
    s[size] = '\0';
    ociref_t r, r2;
    if (ociref_parse (s, &r, err, sizeof err) < 0) {
        if (!memchr (err, '\0', sizeof err) || strchr (err, '\n'))
            abort ();
        return 0;
    }
    ociref_format (&r, a, sizeof a);
    if (ociref_parse (a, &r2, err, sizeof err) < 0)
        abort ();
    ociref_format (&r2, b, sizeof b);
    if (strcmp (a, b) || (r.digest[0] && !ociref_digest_valid (r.digest)) || (r.tag[0] && !ociref_tag_valid (r.tag)))
        abort ();
    return 0;
}
