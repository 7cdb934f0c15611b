/* distreplan.h - moving a slow target out of the way while a distribution
 * runs (doc/distribution.md, "Slow targets").  Pure.
 *
 * A plan is what distplan_stripes returns: for each target (targets[]
 * sorted, the source excluded) an array of per-stripe upstream lists, each
 * its parent in that stripe, then the parent's own ancestors (at most 8
 * ranks), the source last. */
#ifndef CANOPY_DISTREPLAN_H
#define CANOPY_DISTREPLAN_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* A new plan in which target `slow` forwards nothing: in every stripe where
 * it has downstreams it becomes a leaf.  With one downstream (a chain) it is
 * spliced out (the downstream takes its upstream) and hung below the leaf
 * with the least forwarding load, the deepest first (a chain's tail); with
 * several (a tree) it trades places with such a leaf.  Either way no other
 * node gains downstreams except that leaf.  The leaf is one of the navoid
 * ranks in avoid (nodes moved before: known slow) only if no other leaf is
 * left; when splicing the node then goes beside it, below its upstream.  NULL + err if slow
 * is not a target, has no downstream in any stripe, or the plan is
 * malformed. */
json_t *distreplan_move (const json_t *plan, const uint32_t *targets, size_t n, uint32_t source, uint32_t slow,
                         const uint32_t *avoid, size_t navoid, char *err, size_t errlen);

/* The upstream of target index i in stripe s of plan (its list's first
 * rank), or -1. */
int64_t distreplan_parent (const json_t *plan, size_t i, size_t s);

#endif
