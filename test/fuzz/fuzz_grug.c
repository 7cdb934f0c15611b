/* fuzz_grug.c - GRUG GraphML recipes into the generator: no crash, no
 * runaway generation, one-line errors. */
#include "match.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char err[256];
    if (size > 65536)
        return 0;
    mgraph_t *g = mgraph_new ();
    if (mgraph_load_grug (g, (const char *)data, size, err, sizeof (err)) == 0) {
        matcher_t *m = matcher_new (g, "high", "CA", NULL, err, sizeof (err));
        matcher_destroy (&m);
    } else if (strchr (err, '\n'))
        abort ();
    mgraph_destroy (&g);
    return 0;
}
