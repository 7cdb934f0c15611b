/* fuzz_manifest_head.c - manifest_asm_new on arbitrary bytes (a manifest head
 * from another broker, doc/archive.md "Manifest pages"): never crash, errors
 * are one line; a head it accepts wants page 0 first and cannot be finished
 * while pages are missing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "manifest.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char err[256];
    manifest_asm_t *a = manifest_asm_new ((const char *)data, size, err, sizeof err);
    if (!a) {
        if (!memchr (err, '\0', sizeof err) || strchr (err, '\n'))
            abort ();
        return 0;
    }
    if (manifest_asm_next (a) != 0)
        abort ();
    /* a page that cannot match its hash is refused */
    if (manifest_asm_npages (a) > 0 && manifest_asm_page (a, "{\"chunks\":[]}", 13, err, sizeof err) == 0
        && manifest_asm_page (a, "{\"entries\":[]}", 14, err, sizeof err) == 0)
        abort ();
    manifest_t *m = manifest_asm_finish (a, err, sizeof err);
    if (m && manifest_asm_npages (a) > 0 && manifest_asm_next (a) < manifest_asm_npages (a))
        abort ();
    manifest_destroy (&m);
    manifest_asm_destroy (&a);
    return 0;
}
