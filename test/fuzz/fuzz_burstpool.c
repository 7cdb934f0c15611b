/* fuzz_burstpool.c - burst pool configs from arbitrary JSON: a pool list
 * that parses has names that are safe in object names, ranks that tile the
 * range after the instance's, and a decision never overflows. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "burstpool.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char err[256];
    json_t *j = json_loadb ((const char *)data, size, JSON_DECODE_ANY, NULL);
    burst_pools_t p;
    if (burst_pools_parse (j, 3, &p, err, sizeof err) < 0) {
        if (strncmp (err, "config: ", 8) || strchr (err, '\n'))
            abort ();
    } else {
        uint32_t next = 3;
        for (size_t i = 0; i < p.n; i++) {
            if (p.v[i].first_rank != next || p.v[i].size == 0 || strspn (p.v[i].cluster, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen (p.v[i].cluster))
                abort ();
            next += p.v[i].size;
        }
        if (next != p.total)
            abort ();
        uint32_t *z = calloc (p.n + 1, sizeof *z), *idle = calloc (p.n + 1, sizeof *idle);
        for (size_t i = 0; i < p.n; i++)
            idle[i] = p.v[i].size;
        burst_state_t st = { .local_total = 3, .local_free = 1, .pool_free = z, .pool_starting = z, .pool_idle = idle };
        burst_need_t n = { .nodes = 5, .cores = 2, .gpus = 0 };
        burst_decision_t d;
        burst_decide (&p, &n, true, &st, &d);
        if (d.verdict == BURST_WAIT && d.pool >= 0 && d.start > p.v[d.pool].max_starting)
            abort ();
        free (z);
        free (idle);
        burst_pools_clear (&p);
    }
    json_decref (j);
    return 0;
}
