/* fuzz_sched.c - jobspec text (YAML or JSON) through the scheduler's
 * reading (sched_req_from_jobspec), and when it is accepted, through submit
 * and two scheduling passes on a fixed 3-node instance (one node down). */
#include "sched.h"
#include "yaml_json.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char err[256];
    json_t *js = yaml_json_parse ((const char *)data, size, err, sizeof err);
    if (!js)
        return 0;
    sched_req_t *r = sched_req_from_jobspec (js, err, sizeof err);
    json_decref (js);
    if (!r) {
        if (strchr (err, '\n'))
            abort ();
        return 0;
    }
    sched_t *s = sched_new ();
    if (!s)
        abort ();
    sched_node_add (s, 0, "node0", 4, 0, err, sizeof err);
    sched_node_add (s, 1, "node1", 2, 2, err, sizeof err);
    sched_node_add (s, 2, "node2", 8, 1, err, sizeof err);
    sched_node_set_up (s, 2, false);
    if (sched_submit (s, 1, &r, err, sizeof err) == 0) {
        uint64_t ids[4];
        size_t n = sched_schedule (s, 100.5, ids, 4);
        if (n == 1) {
            json_t *R = sched_job_R (s, 1);
            if (!R)
                abort ();
            json_decref (R);
            sched_release (s, 1);
        }
        sched_schedule (s, 200, ids, 4);
    }
    else if (strchr (err, '\n'))
        abort ();
    sched_req_destroy (&r);
    sched_destroy (&s);
    return 0;
}
