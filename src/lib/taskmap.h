/* taskmap.h - which tasks of a job run on which broker: the job's R (RFC 20)
 * and its jobspec (RFC 25, as jobspec_build makes it) give, per allocated
 * rank, a contiguous block of global task ranks and the cores/GPUs there.
 *
 * Tasks are laid out in rank order, block by block, as Flux's default
 * "block" task map: with a node level each node holds the jobspec's slots
 * per node; without one a node holds as many slots as its cores (or GPUs)
 * allow.  Tasks per slot come from tasks[0].count.per_slot, or the total is
 * tasks[0].count.total filled in that order.  Pure.
 */
#ifndef CANOPY_TASKMAP_H
#define CANOPY_TASKMAP_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t rank;      /* broker rank */
    int first;          /* first global task rank here */
    int count;          /* tasks here (may be 0: an allocated node left idle) */
    char *cores;        /* idset text of the cores allocated here */
    char *gpus;         /* idset text of the GPUs ("" if none) */
} taskmap_entry_t;

/* Build the map (entries in rank order, malloc'd; free with taskmap_free).
 * Returns the number of entries, or -1 + one-line err when R or the
 * jobspec is malformed, or the allocation cannot hold the tasks. */
int taskmap_build (const json_t *jobspec, const json_t *R, taskmap_entry_t **out,
                   char *err, size_t errlen);
void taskmap_free (taskmap_entry_t *v, int n);
/* Total tasks of a map. */
int taskmap_ntasks (const taskmap_entry_t *v, int n);

#endif
