/* topo.h - tree overlay topologies: kary:K, binomial, flat, custom.
 *
 * A topology maps each rank 0..size-1 to its parent (rank 0 is the root).
 * Every broker computes the same tree from the same spec, so routing needs
 * no tables on the wire.  Pure: no I/O.
 */
#ifndef CANOPY_TOPO_H
#define CANOPY_TOPO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define TOPO_NONE UINT32_MAX

typedef struct topo topo_t;

/* spec: "kary:K" (K>=1; kary:0 means flat), "binomial", "flat".
 * For "custom", pass parents[] (parents[0] ignored; each parent < size
 * and the graph must be a tree rooted at 0). */
topo_t *topo_create (const char *spec, uint32_t size, const uint32_t *parents, char *err,
                     size_t errlen);
void topo_destroy (topo_t **p);

uint32_t topo_size (const topo_t *t);
const char *topo_spec (const topo_t *t);
uint32_t topo_parent (const topo_t *t, uint32_t rank);       /* TOPO_NONE for 0 */
uint32_t topo_nchildren (const topo_t *t, uint32_t rank);
const uint32_t *topo_children (const topo_t *t, uint32_t rank);
uint32_t topo_level (const topo_t *t, uint32_t rank);        /* root = 0 */
uint32_t topo_height (const topo_t *t);                      /* max level */
uint32_t topo_subtree_size (const topo_t *t, uint32_t rank);
bool topo_is_leaf (const topo_t *t, uint32_t rank);
/* Is `rank` in the subtree rooted at `anc` (anc itself included)? */
bool topo_in_subtree (const topo_t *t, uint32_t anc, uint32_t rank);
/* Next hop from `self` toward `dest`: a child of self, or its parent.
 * Returns self if dest == self. */
uint32_t topo_next_hop (const topo_t *t, uint32_t self, uint32_t dest);
/* Number of hops between two ranks along the tree. */
uint32_t topo_distance (const topo_t *t, uint32_t a, uint32_t b);

/* Draw the tree like `flux overlay status`.  label(rank, arg) returns the
 * text after the rank number (e.g. "node3: online"); returns malloc'd text.
 * If prune(rank, arg) is given and true, the rank's children are not drawn. */
typedef const char *(*topo_label_f) (uint32_t rank, void *arg);
typedef bool (*topo_prune_f) (uint32_t rank, void *arg);
char *topo_draw (const topo_t *t, topo_label_f label, topo_prune_f prune, void *arg);

/* {"spec":..,"size":..,"height":..,"levels":[[0],[1,2],...],"parents":[..]} */
json_t *topo_to_json (const topo_t *t);
/* True if both trees have the same parent for every rank. */
bool topo_same_shape (const topo_t *a, const topo_t *b);
/* True if the two trees are the same shape up to renumbering (AHU). */
bool topo_isomorphic (const topo_t *a, const topo_t *b);

#endif
