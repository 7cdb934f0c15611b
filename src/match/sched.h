/* sched.h - canopy's scheduler: the queue and node state on top of the
 * graph matcher.
 *
 * The instance is a set of nodes (rank, hostname, ncores, ngpus, up/down);
 * each core and GPU is free or held by one job.  Jobs wait in one queue in
 * submit order: first-come first-served, with EASY backfill (a later job may
 * start now if it fits now without delaying the head job's reservation).
 * Placement and reservations come from canopy's matcher (match.h) over a
 * resource graph of the nodes, so a jobspec places the same way here and in
 * `canopy match`.  Requests come from a jobspec (RFC 25 V1 as jobspec_build
 * makes it); allocations go out as R (RFC 20, R_lite).  Dependencies are
 * the job manager's business, not this file's: it submits a job here only
 * once the job is in SCHED.
 * Pure: no I/O, no clock (callers pass `now` in seconds).
 */
#ifndef CANOPY_SCHED_H
#define CANOPY_SCHED_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sched sched_t;
typedef struct sched_req sched_req_t;

sched_t *sched_new (void);
void sched_destroy (sched_t **p);

/* -- nodes -------------------------------------------------------------- */
/* Add the node of `rank`, up; or, if known, mark it up again and refresh its
 * hostname/ncores/ngpus (refused while a job holds resources on it and the
 * counts changed).  -1 + err on bad values. */
int sched_node_add (sched_t *s, uint32_t rank, const char *hostname,
                    int ncores, int ngpus, char *err, size_t errlen);
/* Mark a known node up or down.  -1 if unknown.  Jobs holding resources on a
 * node that goes down keep them until sched_release(); see sched_jobs_on(). */
int sched_node_set_up (sched_t *s, uint32_t rank, bool up);
size_t sched_node_count (const sched_t *s);
/* Running jobs holding resources on `rank`: writes up to max ids, returns
 * how many there are (may exceed max). */
size_t sched_jobs_on (const sched_t *s, uint32_t rank, uint64_t *ids, size_t max);

/* -- requests ----------------------------------------------------------- */
/* Read what scheduling needs from a jobspec: resources (node->slot->core/gpu
 * or slot->core/gpu), exclusive, attributes.system.constraints (RFC 31:
 * "ranks", "hostlist", "and", "or", "not") and duration.
 * NULL + one-line err if the jobspec has some other shape. */
sched_req_t *sched_req_from_jobspec (const json_t *jobspec, char *err, size_t errlen);
/* Direct construction (tests, tools).  nnodes 0 = slots anywhere;
 * with nnodes > 0, nslots is per node.  constraint may be NULL. */
sched_req_t *sched_req_new (uint32_t nnodes, uint32_t nslots, uint32_t cores_per_slot,
                            uint32_t gpus_per_slot, bool exclusive, double duration,
                            const json_t *constraint, char *err, size_t errlen);
void sched_req_destroy (sched_req_t **p);

/* Could the request ever fit, with every node (up or down) empty?  0, or -1
 * with the reason in err ("requested 3 nodes but only 2 satisfy the
 * constraint"), the message the job manager gives back at submit. */
int sched_feasible (sched_t *s, const sched_req_t *req, char *err, size_t errlen);

/* -- jobs --------------------------------------------------------------- */
/* Queue job `id` (takes ownership of *req, sets it NULL) at the tail.
 * -1 + err if infeasible (see above) or id is already known here. */
int sched_submit (sched_t *s, uint64_t id, sched_req_t **req, char *err, size_t errlen);
/* Drop a pending job from the queue.  -1 if not pending. */
int sched_cancel (sched_t *s, uint64_t id);
/* One scheduling pass at time `now`: start every job FCFS+backfill allows.
 * Writes up to max started ids (in start order) to ids; returns how many
 * started.  Fetch each allocation with sched_job_R(). */
size_t sched_schedule (sched_t *s, double now, uint64_t *ids, size_t max);
/* Give back the resources of a running job; it is forgotten.  -1 if the job
 * holds nothing. */
int sched_release (sched_t *s, uint64_t id);
/* A running job's allocation as R version 1 (R_lite, nodelist, starttime,
 * expiration).  New reference, NULL if the job is not running. */
json_t *sched_job_R (const sched_t *s, uint64_t id);
/* Number of pending jobs; position of `id` in the queue (0 = head), -1 if
 * not pending. */
size_t sched_pending_count (const sched_t *s);
int sched_queue_position (const sched_t *s, uint64_t id);
/* Expected start time of the head job (its reservation) as computed by the
 * last pass; 0 if none or unknown (e.g. running jobs without a duration). */
double sched_head_estimate (const sched_t *s);

/* -- resource list ------------------------------------------------------ */
/* {"free": S, "allocated": S, "down": S} with S = {"nnodes", "ncores",
 * "ngpus", "ranks": "0-3", "nodelist": "node[0-3]"}.  A node counts in every
 * state one of its resources is in (as flux resource list): a half-used node
 * is in free and allocated.  All of a down node's resources are down.
 * New reference. */
json_t *sched_resource_list (const sched_t *s);
/* The instance's whole resource set as R (all nodes, up or down). */
json_t *sched_instance_R (const sched_t *s);

#endif
