/* burst.h - the burst manager on rank 0 (doc/bursting.md): watches the
 * burstable jobs waiting in SCHED, asks a pool's provider for exactly the
 * nodes they need (no more than max_starting at once), marks nodes that do
 * not join within the resume timeout down (the job waits again, or fails
 * after max_tries), releases nodes idle for idle_time, and keeps its state
 * in the job store so a restart of rank 0 forgets and duplicates nothing.
 * Topics (rank 0): burst.list {} -> {pools: [...]}, burst.stop {pool},
 * burst.render {pool} -> {text}. */
#ifndef CANOPY_BURST_H
#define CANOPY_BURST_H
#include <stdbool.h>
#include <stdint.h>
#include "burstpool.h"
#include "jobdb.h"
#include "overlay.h"
#include "resource.h"

typedef struct burst burst_t;

/* A burstable job waiting in SCHED, as the job manager reports it. */
typedef struct burst_job {
    uint64_t id;
    burst_need_t need;
} burst_job_t;

/* What the manager needs of the job manager. */
typedef struct burst_hooks {
    /* burstable jobs in SCHED, in queue order: up to max into out, returns how many */
    size_t (*waiting) (void *arg, burst_job_t *out, size_t max);
    /* why job id waits ("" when it need not) */
    void (*reason) (void *arg, uint64_t id, const char *reason);
    /* job id cannot get its nodes: end it with this note */
    void (*fail) (void *arg, uint64_t id, const char *note);
    void *arg;
} burst_hooks_t;

/* NULL + err on a bad setting; the instance must have pools. */
burst_t *burst_new (overlay_t *ov, resource_svc_t *rs, jobdb_t *db, const char *statedir, const burst_hooks_t *h,
                    char *err, size_t errlen);
void burst_destroy (burst_t **p);
/* A rank came up or went down (from the resource service). */
void burst_node_change (burst_t *b, uint32_t rank, bool up);

/* The need of a jobspec (node count and one node's cores and GPUs); 0 nodes
 * if it does not ask for whole nodes. */
void burst_need_of (const json_t *jobspec, burst_need_t *need);
bool burst_is_burstable (const json_t *jobspec);

#endif
