/* fuzz_idset.c - idset_decode on arbitrary text; whatever decodes must
 * re-encode canonically and decode back to the same set. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "idset.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char err[160];
    char *text = malloc (size + 1);
    if (!text)
        return 0;
    memcpy (text, data, size);
    text[size] = '\0';
    err[0] = '\0';
    idset_t *s = idset_decode (text, err, sizeof err);
    if (!s && (!err[0] || strchr (err, '\n')))
        abort (); /* bad input gets one line of error */
    if (s && idset_count (s) > 100000) {
        /* huge sets: decode is the test; the O(n) checks below would only
         * slow the fuzzer down */
        idset_destroy (&s);
    }
    if (s) {
        char *e = idset_encode (s);
        idset_t *d = e ? idset_decode (e, err, sizeof err) : NULL;
        if (!e || !d || !idset_equal (s, d) || idset_count (s) != idset_count (d))
            abort (); /* an encoding that does not decode to the same set */
        char *e2 = idset_encode (d);
        if (!e2 || strcmp (e, e2))
            abort (); /* encoding is not canonical */
        /* iteration visits exactly count ids, ascending, ending at last */
        size_t n = 0;
        uint32_t prev = IDSET_INVALID, i;
        for (i = idset_first (s); i != IDSET_INVALID; i = idset_next (s, i)) {
            if ((prev != IDSET_INVALID && i <= prev) || !idset_test (s, i))
                abort ();
            prev = i;
            n++;
        }
        if (n != idset_count (s) || prev != idset_last (s))
            abort ();
        idset_t *c = idset_copy (s);
        if (c) {
            idset_subtract (c, d);
            if (idset_count (c) != 0 || idset_first (c) != IDSET_INVALID)
                abort ();
        }
        idset_destroy (&c);
        free (e2);
        free (e);
        idset_destroy (&d);
        idset_destroy (&s);
    }
    free (text);
    return 0;
}
