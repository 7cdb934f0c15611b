/* jobstate.h - the job state machine (doc/jobs.md): a job's states and
 * results, its record (the fold of its event log), and job_state_apply(),
 * which applies one event to a record or refuses it.  Pure: no I/O; the job
 * store (src/svc/jobdb.c) persists records and events, the job manager
 * drives them. */
#ifndef CANOPY_JOBSTATE_H
#define CANOPY_JOBSTATE_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    JOB_NEW = 0,        /* before the submit event; never stored */
    JOB_DEPEND = 1,     /* waiting on dependencies */
    JOB_SCHED = 2,      /* waiting for resources */
    JOB_RUN = 3,        /* resources allocated, tasks (being) started */
    JOB_CLEANUP = 4,    /* finished or fatal exception; resources being freed */
    JOB_INACTIVE = 5,   /* done */
} job_state_t;

typedef enum {
    JOB_RESULT_NONE = 0,    /* not INACTIVE yet */
    JOB_RESULT_COMPLETED,   /* finished with status 0 */
    JOB_RESULT_FAILED,      /* nonzero exit, or an exception of another type */
    JOB_RESULT_CANCELED,    /* exception type "cancel" */
    JOB_RESULT_TIMEOUT,     /* exception type "timeout" */
    JOB_RESULT_LOST,        /* exception type "lost": was running when rank 0 went away */
} job_result_t;

const char *job_state_name (job_state_t s);     /* "DEPEND" */
const char *job_state_abbrev (job_state_t s);   /* "D" "S" "R" "C" "I" (flux jobs ST) */
int job_state_parse (const char *name, job_state_t *s);
const char *job_result_name (job_result_t r);   /* "COMPLETED", "" for NONE */
/* What flux jobs shows in ST (its status_abbrev): the state letter while
 * active (D S R C), the result once inactive: CD completed, F failed (and
 * lost), CA canceled, TO timeout. */
const char *job_status_abbrev (job_state_t s, job_result_t r);
int job_result_parse (const char *name, job_result_t *r);
/* The exit code a shell would show for a wait status: its exit status,
 * 128 + the signal that killed it, else (or no status: < 0) 1. */
int job_exit_code (int status);

/* A job's record: the fold of its event log.  Strings are malloc'd;
 * jobdb_job_clear() frees them. */
typedef struct {
    uint64_t id;
    uint32_t userid;
    char *name;
    char *jobspec;          /* JSON text */
    job_state_t state;
    job_result_t result;
    int status;             /* wait status from "finish" (-1 if none) */
    int ntasks, nnodes;     /* from the jobspec; nnodes from R once allocated */
    double t_submit, t_depend, t_sched, t_run, t_cleanup, t_inactive;   /* 0 = not yet */
    char *R;                /* JSON text once allocated, else NULL */
    char *exception;        /* "type: note" of the first fatal exception, else NULL */
    int seq;                /* events applied so far */
} jobdb_job_t;
void jobdb_job_clear (jobdb_job_t *j);

/* Apply one event to a record: the pure state machine.  Returns 0, or -1
 * with err if the event is unknown or not allowed in the job's state
 * (e.g. "alloc" in DEPEND).  Context keys used: submit {userid, name?,
 * ntasks?, nnodes?}; alloc {R?}; finish {status}; exception {type, severity,
 * note}.  Unknown extra keys are ignored; informational events
 * (dependency-add, dependency-remove, start, release, free, priority,
 * annotation) are allowed in any active state and change nothing. */
int job_state_apply (jobdb_job_t *j, double ts, const char *name, const json_t *ctx,
                     char *err, size_t errlen);

#endif
