/* jobdeps.h - a job's dependencies (RFC 26 after, afterok, afterany,
 * afternotok): which are met, which can never be, and how each is named in
 * the event log ("afterok:f2X..."), given what is known of the jobs they
 * name.  Pure: no I/O; the job manager looks the targets up. */
#ifndef CANOPY_JOBDEPS_H
#define CANOPY_JOBDEPS_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include "jobspec_build.h"
#include "jobstate.h"

enum jobdep_status { JOBDEP_WAIT, JOBDEP_MET, JOBDEP_NEVER };

/* What the job manager knows of a dependency's target job. */
typedef struct jobdep_target {
    bool found;              /* false: no such job */
    job_state_t state;
    job_result_t result;     /* once INACTIVE */
    bool ran;                /* it reached RUN */
} jobdep_target_t;

/* The dependency set of one job. */
typedef struct jobdeps {
    jobspec_dep_t *v;        /* from the jobspec (malloc'd) */
    size_t n;
    bool *done;              /* met already (dependency-remove logged) */
} jobdeps_t;

/* From a jobspec; -1 + err if malformed (nothing to free then). */
int jobdeps_from_jobspec (const json_t *jobspec, jobdeps_t *d, char *err, size_t errlen);
void jobdeps_clear (jobdeps_t *d);

/* "afterok:f2X..." as logged in dependency-add/-remove. */
void jobdep_describe (const jobspec_dep_t *d, char *buf, size_t len);
/* Whether d is met by the target's state; for JOBDEP_NEVER, why (one line). */
enum jobdep_status jobdep_status (const jobspec_dep_t *d, const jobdep_target_t *t, char *why, size_t len);

/* Mark the dependency described `desc` done (replaying a dependency-remove
 * from the event log after a restart).  True if one was found. */
bool jobdeps_mark (jobdeps_t *d, const char *desc);
bool jobdeps_all_done (const jobdeps_t *d);
/* True if an unmet dependency names job id. */
bool jobdeps_waits_on (const jobdeps_t *d, jobid_t id);
/* The unmet ones' descriptions, a JSON array (for job.list). */
json_t *jobdeps_pending (const jobdeps_t *d);

#endif
