/* test_burst.c - what the burst manager reads from a jobspec: whether the
 * job is burstable (attributes.system.burstable, as --setattr burstable
 * sets it), and the whole nodes it needs with one node's cores and GPUs. */
#include "check.h"
#include "burst.h"
#include "jobspec_build.h"
#include <string.h>

static json_t *spec (int nnodes, int ntasks, int cores, int gpus, const char *attr)
{
    char *argv[] = { "true", NULL };
    const char *set[] = { attr };
    jobspec_opts_t o = { .nnodes = nnodes, .ntasks = ntasks, .cores_per_task = cores, .gpus_per_task = gpus,
                         .setattrs = attr ? set : NULL, .nsetattrs = attr ? 1 : 0, .argc = 1, .argv = argv };
    char err[256];
    json_t *js = jobspec_build (&o, err, sizeof err);
    if (!js)
        printf ("# %s\n", err);
    return js;
}

int main (void)
{
    burst_need_t n;
    json_t *js = spec (4, 0, 0, 0, "burstable");
    burst_need_of (js, &n);
    ok (burst_is_burstable (js) && n.nodes == 4 && n.cores == 1 && n.gpus == 0, "-N4 --setattr burstable: 4 nodes of 1 core");
    json_decref (js);
    js = spec (2, 4, 3, 1, NULL);
    burst_need_of (js, &n);
    ok (!burst_is_burstable (js) && n.nodes == 2 && n.cores == 6 && n.gpus == 2,
        "-N2 -n4 -c3 -g1: 2 nodes of 6 cores and 2 GPUs, not burstable (%u %u %u)", n.nodes, n.cores, n.gpus);
    json_decref (js);
    js = spec (0, 3, 0, 0, "burstable");
    burst_need_of (js, &n);
    ok (n.nodes == 0, "without -N: no whole nodes, never burst for");
    json_decref (js);
    js = spec (1, 0, 0, 0, "burstable=0");
    ok (!burst_is_burstable (js), "burstable=0 is not burstable");
    json_decref (js);
    ok (!burst_is_burstable (NULL), "no jobspec: not burstable");
    return done ();
}
