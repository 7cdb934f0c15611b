/* fuzz_rv1exec.c - an R (RFC 20 rv1exec: execution.R_lite, nodelist) into
 * the graph loader and the rank reader, then a small match on whatever
 * loaded: no crash, no hang, one-line errors. */
#include "match.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char err[256];
    if (size > 65536)
        return 0;
    int64_t *ranks = NULL;
    int n = 0;
    err[0] = '\0';
    if (mgraph_rv1exec_ranks ((const char *)data, size, &ranks, &n, err, sizeof err) < 0
        && (!err[0] || strchr (err, '\n')))
        abort ();
    free (ranks);
    mgraph_t *g = mgraph_new ();
    err[0] = '\0';
    if (mgraph_load_rv1exec (g, (const char *)data, size, err, sizeof err) == 0) {
        matcher_t *m = matcher_new (g, "first", "CA", NULL, err, sizeof err);
        if (m && mgraph_nvertices (g) <= 4096) {
            static const char js[] = "version: 9999\nresources:\n  - type: node\n    count: 1\n"
                                     "    with:\n      - type: slot\n        count: 1\n"
                                     "        label: d\n        with:\n"
                                     "          - type: core\n            count: 1\n";
            mjobspec_t *j = mjobspec_parse (js, sizeof js - 1, err, sizeof err);
            int64_t at;
            char *out = NULL;
            if (j)
                matcher_match (m, j, MATCH_ALLOCATE, 1, &at, &out, err, sizeof err);
            free (out);
            out = NULL;
            /* the same R recorded as a job on its own graph */
            matcher_cancel (m, 1);
            if (matcher_update_rv1exec (m, (const char *)data, size, 2, 0, 3600, &out, err,
                                        sizeof err) < 0 && strchr (err, '\n'))
                abort ();
            free (out);
            mjobspec_destroy (&j);
        }
        matcher_destroy (&m);
    } else if (!err[0] || strchr (err, '\n'))
        abort ();
    mgraph_destroy (&g);
    return 0;
}
