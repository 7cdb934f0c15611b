/* fuzz_rv1exec.c - an R (RFC 20 rv1exec: execution.R_lite, nodelist) into
 * the graph loader and the rank reader, then a small match on whatever
 * loaded: no crash, no hang, one-line errors. */
#include "match.h"
#include "idset.h"
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* the vertices an R would make, roughly: ranks x (1 + children); an R of
 * millions loads (up to the loader's bound) but takes seconds, so leave
 * bulk alone and fuzz the parsing */
static double estimate (const uint8_t *data, size_t size)
{
    json_t *o = json_loadb ((const char *)data, size, 0, NULL);
    json_t *rl = json_object_get (json_object_get (o, "execution"), "R_lite");
    double n = 0;
    size_t i;
    json_t *ent;
    json_array_foreach (rl, i, ent) {
        idset_t *rs = idset_decode (json_string_value (json_object_get (ent, "rank")) ?: "", NULL, 0);
        double per = 1;
        const char *k;
        json_t *v;
        json_object_foreach (json_object_get (ent, "children"), k, v) {
            idset_t *cs = idset_decode (json_string_value (v) ?: "", NULL, 0);
            per += cs ? (double)idset_count (cs) : 0;
            idset_destroy (&cs);
        }
        n += (rs ? (double)idset_count (rs) : 0) * per;
        idset_destroy (&rs);
    }
    json_decref (o);
    return n;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char err[256];
    if (size > 65536 || estimate (data, size) > 200000)
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
        /* the match on small graphs only: keep each run fast */
        matcher_t *m = mgraph_nvertices (g) <= 4096
                           ? matcher_new (g, "first", "CA", NULL, err, sizeof err) : NULL;
        if (m) {
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
