/* resource.h - the resource service: every broker reports its node (hwres)
 * to rank 0; rank 0 keeps the instance's resource set (in a sched_t) and
 * which ranks are up or down.
 *
 * Topics: resource.hello (rank > 0 -> 0 at start, retried until answered),
 * resource.get (any rank: this node's report and boot id), resource.list
 * (rank 0: free/allocated/down, as `canopy resource list`).
 * Liveness: rank 0 asks every rank for resource.get once a second (one
 * request in flight per rank).  A rank whose request fails (the overlay
 * answers EHOSTUNREACH when a link is lost) goes down; a rank that answers
 * again, or says hello, comes back up.  A changed boot id means the broker
 * restarted: it goes down and up at once, so its jobs are failed.
 * Before every rank has reported (or 10 s after start) the set is not
 * "ready": the job manager waits for it before judging feasibility.
 * CANOPY_FAKE_RESOURCES may hold "%r" (replaced by the broker's rank) so
 * each fake node of a local instance gets its own host name.
 */
#ifndef CANOPY_RESOURCE_H
#define CANOPY_RESOURCE_H
#include <stdbool.h>
#include "overlay.h"
#include "sched.h"

typedef struct resource_svc resource_svc_t;
/* rank went down (up false) or came (back) up */
typedef void (*resource_change_f) (resource_svc_t *rs, uint32_t rank, bool up, const char *why, void *arg);
typedef void (*resource_ready_f) (resource_svc_t *rs, void *arg);

/* NULL + err if this node's discovery fails (bad CANOPY_FAKE_RESOURCES). */
resource_svc_t *resource_svc_new (overlay_t *ov, char *err, size_t errlen);
void resource_svc_destroy (resource_svc_t **p);
/* Rank 0: the scheduler state holding the nodes; NULL on other ranks. */
sched_t *resource_sched (resource_svc_t *rs);
bool resource_ready (const resource_svc_t *rs);
bool resource_rank_up (const resource_svc_t *rs, uint32_t rank);
/* Rank 0: the node reported at least this many cores and GPUs. */
bool resource_node_fits (const resource_svc_t *rs, uint32_t rank, uint32_t cores, uint32_t gpus);
/* Rank 0: the host name a rank reported (the config's if it never did). */
const char *resource_hostname (const resource_svc_t *rs, uint32_t rank);
/* Rank 0: callbacks for up/down changes and for becoming ready. */
/* Mark rank down with a reason (rank 0), e.g. its node left the cluster:
 * its running jobs fail with that reason. */
void resource_set_down (resource_svc_t *rs, uint32_t rank, const char *why);
void resource_set_notify (resource_svc_t *rs, resource_change_f change, resource_ready_f ready, void *arg);

/* Burst pools' ranks (doc/bursting.md) are known from the config at start,
 * down until their brokers join; resource.list shows those not up as
 * `burst` (can be started) or `starting`, and `down` after a failure.
 * The burst manager says which. */
enum resource_pool_state { RES_POOL_NONE = 0, RES_POOL_BURST, RES_POOL_STARTING, RES_POOL_UP, RES_POOL_DOWN };
void resource_set_pool_state (resource_svc_t *rs, uint32_t rank, enum resource_pool_state st);

#endif
