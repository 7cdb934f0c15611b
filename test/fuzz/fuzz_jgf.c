/* fuzz_jgf.c - JGF text into the graph loader, then a small match on
 * whatever loaded: no crash, no hang, one-line errors. */
#include "match.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char err[256];
    mgraph_t *g = mgraph_new ();
    if (mgraph_load_jgf (g, (const char *)data, size, err, sizeof (err)) == 0) {
        matcher_t *m = matcher_new (g, "low", "CA", NULL, err, sizeof (err));
        if (m) {
            static const char js[] = "version: 9999\nresources:\n  - type: slot\n    count: 1\n"
                                     "    label: d\n    with:\n      - type: core\n        count: 1\n";
            mjobspec_t *j = mjobspec_parse (js, sizeof (js) - 1, err, sizeof (err));
            int64_t at;
            char *out = NULL;
            for (int i = 1; i <= 3 && j; i++) {
                matcher_match (m, j, MATCH_ALLOCATE_ORELSE_RESERVE, i, &at, &out, err, sizeof (err));
                free (out);
                out = NULL;
            }
            matcher_cancel (m, 1);
            mjobspec_destroy (&j);
            matcher_destroy (&m);
        }
    } else if (strchr (err, '\n'))
        abort ();
    mgraph_destroy (&g);
    return 0;
}
