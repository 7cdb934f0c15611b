/* jobdeps.c - a job's dependencies: met, waiting or never, from what is
 * known of their targets.  Pure: no I/O.  See jobdeps.h. */
#include "jobdeps.h"
#include "jobid.h"
#include "xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int jobdeps_from_jobspec (const json_t *jobspec, jobdeps_t *d, char *err, size_t errlen)
{
    memset (d, 0, sizeof *d);
    if (jobspec_dependencies (jobspec, &d->v, &d->n, err, errlen) < 0) {
        memset (d, 0, sizeof *d);
        return -1;
    }
    d->done = xcalloc (d->n + 1, sizeof *d->done);
    return 0;
}

void jobdeps_clear (jobdeps_t *d)
{
    free (d->v);
    free (d->done);
    memset (d, 0, sizeof *d);
}

void jobdep_describe (const jobspec_dep_t *d, char *buf, size_t len)
{
    char idtext[JOBID_STRLEN];
    jobid_encode (d->id, JOBID_F58, idtext, sizeof idtext);
    snprintf (buf, len, "%s:%s", jobspec_dep_scheme_name (d->scheme), idtext);
}

enum jobdep_status jobdep_status (const jobspec_dep_t *d, const jobdep_target_t *t, char *why, size_t len)
{
    char idtext[JOBID_STRLEN];
    jobid_encode (d->id, JOBID_F58, idtext, sizeof idtext);
    if (!t->found) {
        snprintf (why, len, "job %s not found", idtext);
        return JOBDEP_NEVER;
    }
    switch (d->scheme) {
    case JOBSPEC_DEP_AFTER:
        if (t->ran)
            return JOBDEP_MET;
        if (t->state == JOB_INACTIVE || t->state == JOB_CLEANUP) {
            snprintf (why, len, "job %s ended without starting", idtext);
            return JOBDEP_NEVER;
        }
        return JOBDEP_WAIT;
    case JOBSPEC_DEP_AFTERANY:
        return t->state == JOB_INACTIVE ? JOBDEP_MET : JOBDEP_WAIT;
    case JOBSPEC_DEP_AFTEROK:
        if (t->state != JOB_INACTIVE)
            return JOBDEP_WAIT;
        if (t->result == JOB_RESULT_COMPLETED)
            return JOBDEP_MET;
        snprintf (why, len, "job %s %s", idtext, job_result_name (t->result));
        return JOBDEP_NEVER;
    case JOBSPEC_DEP_AFTERNOTOK:
        if (t->state != JOB_INACTIVE)
            return JOBDEP_WAIT;
        if (t->result != JOB_RESULT_COMPLETED)
            return JOBDEP_MET;
        snprintf (why, len, "job %s COMPLETED", idtext);
        return JOBDEP_NEVER;
    }
    return JOBDEP_WAIT;
}

bool jobdeps_mark (jobdeps_t *d, const char *desc)
{
    for (size_t k = 0; desc && k < d->n; k++) {
        char s[64];
        jobdep_describe (&d->v[k], s, sizeof s);
        if (!d->done[k] && !strcmp (s, desc)) {
            d->done[k] = true;
            return true;
        }
    }
    return false;
}

bool jobdeps_all_done (const jobdeps_t *d)
{
    for (size_t i = 0; i < d->n; i++)
        if (!d->done[i])
            return false;
    return true;
}

bool jobdeps_waits_on (const jobdeps_t *d, jobid_t id)
{
    for (size_t i = 0; i < d->n; i++)
        if (!d->done[i] && d->v[i].id == id)
            return true;
    return false;
}

json_t *jobdeps_pending (const jobdeps_t *d)
{
    json_t *a = json_array ();
    for (size_t i = 0; i < d->n; i++)
        if (!d->done[i]) {
            char s[64];
            jobdep_describe (&d->v[i], s, sizeof s);
            json_array_append_new (a, json_string (s));
        }
    return a;
}
