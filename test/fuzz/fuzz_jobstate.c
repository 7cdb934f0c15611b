/* fuzz_jobstate.c - the job state machine fed a sequence of events: each
 * input line is "NAME CONTEXT-JSON".  Never crash or leak; a refused event
 * changes nothing; the state only moves forward; once INACTIVE every event
 * is refused. */
#include "jobstate.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *s = malloc (size + 1);
    if (!s)
        return 0;
    memcpy (s, data, size);
    s[size] = '\0';
    jobdb_job_t j;
    memset (&j, 0, sizeof j);
    char err[256];
    double ts = 0;
    for (char *line = strtok (s, "\n"); line; line = strtok (NULL, "\n")) {
        char *sp = strchr (line, ' ');
        json_t *ctx = NULL;
        if (sp) {
            *sp = '\0';
            ctx = json_loads (sp + 1, JSON_DECODE_ANY, NULL);
        }
        job_state_t before = j.state;
        int seq = j.seq;
        int rc = job_state_apply (&j, ts += 1, line, ctx, err, sizeof err);
        if (rc < 0 && (j.state != before || j.seq != seq || !err[0] || strchr (err, '\n')))
            abort ();
        if (rc == 0 && (j.state < before || j.seq != seq + 1 || before == JOB_INACTIVE))
            abort ();
        if (j.state == JOB_INACTIVE && j.result == JOB_RESULT_NONE)
            abort ();
        json_decref (ctx);
    }
    jobdb_job_clear (&j);
    free (s);
    return 0;
}
