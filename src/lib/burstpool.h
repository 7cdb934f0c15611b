/* burstpool.h - burst pools (doc/bursting.md): their configuration, the
 * name of the external cluster a pool makes (tied to a hash of its config),
 * the ranks it holds, and the decision of whether and how far a burstable
 * job bursts.  Pure: no I/O. */
#ifndef CANOPY_BURSTPOOL_H
#define CANOPY_BURSTPOOL_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum burst_provider { BURST_LOCAL, BURST_COMMAND, BURST_KUBERNETES };

typedef struct burst_pool {
    char *name;
    uint32_t size;            /* nodes */
    uint32_t cores, gpus;     /* of one node */
    enum burst_provider provider;
    json_t *settings;         /* the provider's own, an object */
    double resume_timeout, idle_time;
    uint32_t max_starting, max_tries;
    uint32_t first_rank;      /* its ranks: first_rank .. first_rank + size - 1 */
    char cluster[64];         /* <name>-<8 hex of the config's SHA-256> */
} burst_pool_t;

typedef struct burst_pools {
    burst_pool_t *v;
    size_t n;
    uint32_t base;            /* the instance's own size: pool ranks start here */
    uint32_t total;           /* base + every pool's size */
} burst_pools_t;

/* Parse the config's `burst:` array (NULL or absent: no pools); pools'
 * ranks follow base.  -1 with err naming the pool and the field. */
int burst_pools_parse (json_t *arr, uint32_t base, burst_pools_t *out, char *err, size_t errlen);
void burst_pools_clear (burst_pools_t *p);
/* The pool holding rank r, or NULL. */
const burst_pool_t *burst_pool_of_rank (const burst_pools_t *p, uint32_t rank);
/* "local:M": one pool "local" of M nodes from the local provider (canopy
 * start --burst), with cores/gpus of this machine given by the caller. */
json_t *burst_pool_local_spec (uint32_t nodes, uint32_t cores, uint32_t gpus);

/* The local provider's subnet setting "a.b.c.d/len" (doc/bursting.md):
 * node i gets the /30 at net + 4i.  Checks it is IPv4, a network (no host
 * bits), not loopback or multicast, and holds `nodes` /30s.  0 with *net,
 * or -1 + err. */
#define BURST_SUBNET_DEFAULT "10.213.0.0/16"
int burst_subnet_parse (const char *s, uint32_t nodes, uint32_t *net, char *err, size_t errlen);

/* What a burstable job needs decided against what there is. */
typedef struct burst_need {
    uint32_t nodes, cores, gpus;   /* nodes of at least (cores, gpus) */
} burst_need_t;

typedef struct burst_state {
    uint32_t local_total;          /* the instance's own nodes that fit the job */
    uint32_t local_free;           /* of those, free now */
    const uint32_t *pool_free;     /* by pool: nodes up and free */
    const uint32_t *pool_starting; /* by pool: nodes starting */
    const uint32_t *pool_idle;     /* by pool: nodes that can be started (state burst) */
} burst_state_t;

enum burst_verdict { BURST_RUN, BURST_WAIT, BURST_REJECT };

typedef struct burst_decision {
    enum burst_verdict verdict;
    int pool;                      /* WAIT: the pool to start nodes in (-1: wait for starting ones) */
    uint32_t start;                /* WAIT: nodes to start now (0..max_starting) */
    char reason[200];              /* WAIT and REJECT: for the job's state or the submit error */
} burst_decision_t;

void burst_decide (const burst_pools_t *p, const burst_need_t *need, bool burstable, const burst_state_t *st,
                   burst_decision_t *d);

/* Of the idle nodes rel[0..nrel) of a pool of size nodes whose provider
 * removes nodes only from the highest index down (a StatefulSet), keep
 * those above every held node (held[k]: busy or starting, not in rel):
 * rel is compacted in place; returns how many are kept. */
size_t burst_release_from_top (const bool *held, uint32_t size, uint32_t *rel, size_t nrel);

#endif
