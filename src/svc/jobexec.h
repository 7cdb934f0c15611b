/* jobexec.h - the job shell side on every broker: start a job's tasks that
 * were placed on this rank and relay their output and exit status to the
 * job manager on rank 0.
 *
 * jobexec.start (streaming) {id, cmd, env, cwd, first, count, size, nnodes,
 *   nodelist, cores, gpus}: responses {"started": n}, then per output chunk
 *   {"stream": "stdout"|"stderr", "task": T} + data, per task
 *   {"task": T, "status": wait-status}, and ENODATA once every task exited.
 *   Each task gets CANOPY_JOB_ID, CANOPY_JOB_SIZE, CANOPY_JOB_NNODES,
 *   CANOPY_JOB_NODELIST, CANOPY_TASK_RANK, CANOPY_TASK_LOCAL_ID, CANOPY_RANK,
 *   CANOPY_URI (this broker) and, with GPUs, CUDA_VISIBLE_DEVICES.  A
 *   missing working directory falls back to $TMPDIR or /tmp, with a warning
 *   on the first task's stderr (as Flux's shell does).
 * jobexec.kill {id, signal}: signal every task of the job here.
 */
#ifndef CANOPY_JOBEXEC_H
#define CANOPY_JOBEXEC_H
#include "overlay.h"

typedef struct jobexec jobexec_t;
jobexec_t *jobexec_new (overlay_t *ov, char *err, size_t errlen);
/* Kills the tasks still running. */
void jobexec_destroy (jobexec_t **p);

#endif
