/* fuzz_hostlist.c - hostlist_expand on arbitrary text; whatever expands
 * must compress to an expression that expands to the same names. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "hostlist.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char err[160];
    size_t n = 0, m = 0;
    char *text = malloc (size + 1);
    if (!text)
        return 0;
    memcpy (text, data, size);
    text[size] = '\0';
    err[0] = '\0';
    char **h = hostlist_expand (text, &n, err, sizeof err);
    if (!h && (!err[0] || strchr (err, '\n')))
        abort (); /* bad input gets one line of error */
    if (h) {
        if (n == 0)
            abort (); /* success means at least one name */
        if (n <= 10000) { /* keep each run fast */
            char *c = hostlist_compress (h, n);
            char **h2 = c ? hostlist_expand (c, &m, err, sizeof err) : NULL;
            if (!h2 || m != n)
                abort ();
            for (size_t i = 0; i < n; i++)
                if (strcmp (h[i], h2[i]))
                    abort ();
            hostlist_free (h2, m);
            free (c);
        }
        hostlist_free (h, n);
    }
    free (text);
    return 0;
}
