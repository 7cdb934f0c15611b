/* fuzz_manifest.c - manifest_decode on arbitrary bytes: never crash; what it
 * accepts must re-encode to text that decodes to the same encoding, and cut
 * into a head and pages must assemble into that same encoding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "manifest.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char err[256];
    manifest_t *m = manifest_decode ((const char *)data, size, err, sizeof err);
    if (!m) {
        if (!memchr (err, '\0', sizeof err) || strchr (err, '\n'))
            abort ();   /* errors are one terminated line */
        return 0;
    }
    size_t len;
    char *s = manifest_encode (m, &len);
    manifest_t *m2 = s ? manifest_decode (s, len, err, sizeof err) : NULL;
    char *s2 = m2 ? manifest_encode (m2, NULL) : NULL;
    if (!s2 || strcmp (s, s2) != 0 || manifest_validate (m, err, sizeof err) != 0)
        abort ();
    size_t hl;
    char *head = manifest_head_encode (m, &hl);
    manifest_asm_t *a = manifest_asm_new (head, hl, err, sizeof err);
    if (!a)
        abort ();
    for (size_t i = 0; i < manifest_npages (m); i++) {
        size_t pl;
        char *pg = manifest_page_encode (m, i, &pl);
        if (!pg || manifest_asm_page (a, pg, pl, err, sizeof err) < 0)
            abort ();
        free (pg);
    }
    manifest_t *m3 = manifest_asm_finish (a, err, sizeof err);
    char *s3 = m3 ? manifest_encode (m3, NULL) : NULL;
    if (!s3 || strcmp (s, s3) != 0)
        abort ();
    free (s3);
    free (head);
    manifest_destroy (&m3);
    manifest_asm_destroy (&a);
    for (size_t i = 0; i < m->nentries; i++)
        if (!manifest_path_valid (m->entries[i].path) || manifest_find (m, m->entries[i].path) != (int64_t)i)
            abort ();
    free (s);
    free (s2);
    manifest_destroy (&m);
    manifest_destroy (&m2);
    return 0;
}
