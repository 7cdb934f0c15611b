/* members.h - who holds which rank in an instance that grows and shrinks
 * (doc/membership.md): the lead's table of ranks, their hosts and endpoints,
 * the rule that gives a joining host its rank (stable: a host that comes
 * back gets its old rank), and routing when brokers attach to an ancestor
 * other than their parent.  Pure: no I/O (the lead persists the JSON). */
#ifndef CANOPY_MEMBERS_H
#define CANOPY_MEMBERS_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "topo.h"

enum member_state {
    MEMBER_FREE = 0,   /* no host: down until a broker takes it */
    MEMBER_HELD,       /* a host holds it (online or not: the overlay says which) */
};

typedef struct member {
    enum member_state state;
    char *host;        /* holder, or the last holder of a free rank (NULL: never held) */
    char *endpoint;    /* where the holder's children and peers connect */
    uint64_t since;    /* sequence number of the last change (release order) */
    bool fixed;        /* given by the config: never reassigned */
    bool reserved;     /* kept for one host (a burst pool's node): never given to another */
} member_t;

typedef struct members members_t;

members_t *members_new (uint32_t size);
void members_destroy (members_t **p);
uint32_t members_size (const members_t *m);
const member_t *members_get (const members_t *m, uint32_t rank);
/* Rank held by host, or -1. */
long members_find (const members_t *m, const char *host);

/* A host of the config at a fixed rank. */
int members_fix (members_t *m, uint32_t rank, const char *host, const char *endpoint, char *err,
                 size_t errlen);
/* The rank for a joining host (doc/membership.md, "Ranks"): the one it holds,
 * else the free rank it held last, else the lowest rank never held, else the
 * free rank released longest ago.  The rank becomes HELD by host with this
 * endpoint.  -1 with err when every rank is taken. */
long members_join (members_t *m, const char *host, const char *endpoint, char *err, size_t errlen);
/* Keep a free rank for one host (a burst pool's node, doc/bursting.md): the
 * host gets it when it joins (as the rank it held last), and no other host
 * does.  -1 with err if another host holds the rank, or host holds another. */
int members_reserve (members_t *m, uint32_t rank, const char *host, char *err, size_t errlen);
/* The host left the cluster for good (a deleted node): its rank becomes free
 * (remembered for it).  Fixed ranks stay held.  0 if done, -1 if unknown. */
int members_leave (members_t *m, const char *host);

/* {"size": N, "seq": S, "ranks": [{"rank", "host", "endpoint", "state", "fixed", "since"}...]}
 * (free ranks never held are left out). */
json_t *members_to_json (const members_t *m);
members_t *members_from_json (json_t *o, char *err, size_t errlen);

/* Routing with attachments: the next hop from self toward dest, where
 * attached(r, arg) says whether rank r (a descendant of self) is attached to
 * self directly (its parent, or a nearer ancestor of it, being down).  Up:
 * TOPO_NONE-free answer `up` when dest is outside self's subtree.  Down: the
 * attached rank nearest dest on dest's ancestor path, or TOPO_NONE if none is
 * attached (unreachable). */
#define MEMBERS_UP (TOPO_NONE - 1)
uint32_t members_next_hop (const topo_t *t, uint32_t self, uint32_t dest,
                           bool (*attached) (uint32_t rank, void *arg), void *arg);

#endif
