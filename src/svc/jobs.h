/* jobs.h - the job manager on rank 0: submit (validation, feasibility,
 * dependencies), the queue and scheduler passes (sched.c), task launch on
 * the allocated ranks (jobexec), output capture, cancel, time limits,
 * listing, attach, persistence and recovery (jobdb.c).
 *
 * Topics (all on rank 0):
 *   job.submit  {jobspec, userid}          -> {id (f58), jobid (decimal)}
 *   job.list    {all, userid}              -> {jobs: [...]}  (userid -1 = everyone)
 *   job.info    {id}                       -> {job, jobspec, R, eventlog}
 *   job.last    {userid}                   -> {id}
 *   job.cancel  {id}                       -> {}
 *   job.attach  {id} streaming             -> {stream, task}+data ..., {result...}, ENODATA
 * States, events and results are those of doc/jobs.md.
 */
#ifndef CANOPY_JOBS_H
#define CANOPY_JOBS_H
#include "overlay.h"
#include "resource.h"

typedef struct jobs_svc jobs_svc_t;
/* Rank 0 only.  Opens STATEDIR/jobs.db, recovers (jobs that were running
 * become LOST, pending ones are queued again once resources are known).
 * NULL + err if the store cannot be opened. */
jobs_svc_t *jobs_svc_new (overlay_t *ov, resource_svc_t *rs, const char *statedir, char *err, size_t errlen);
void jobs_svc_destroy (jobs_svc_t **p);

#endif
