/* distplan.h - who pulls from whom when an archive is distributed
 * (doc/distribution.md, "Schedules").  Pure. */
#ifndef CANOPY_DISTPLAN_H
#define CANOPY_DISTPLAN_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "topo.h"

/* For each target (targets[] sorted, source excluded), the ordered list of
 * upstreams to try: the first is its upstream in the schedule, each next
 * one the fallback if the previous fails; the source is always last.
 * schedule: "chain", "tree" or "flat"; staged_level > 0 first feeds the
 * targets at that level of the tree, then each of their descendants.
 * Returns a JSON array of arrays, or NULL + err. */
json_t *distplan_build (const topo_t *t, uint32_t source, const uint32_t *targets, size_t n,
                        const char *schedule, int staged_level, char *err, size_t errlen);

/* The index of rank r in targets[] (n, sorted), or -1. */
int distplan_index (const uint32_t *targets, size_t n, uint32_t r);

/* Stripes of a schedule: 2 for "twotree", 1 for chain, tree, flat; 0 if
 * unknown.  Chunk i travels stripe i mod nstripes. */
int distplan_nstripes (const char *schedule);

/* For each target, an array of nstripes upstream lists (each like one list
 * of distplan_build: the upstream in that stripe's tree, then fallbacks, the
 * source last).  schedule: chain, tree, flat (one stripe: distplan_build)
 * or "twotree" (two binary trees; see distplan.c).  NULL + err. */
json_t *distplan_stripes (const topo_t *t, uint32_t source, const uint32_t *targets, size_t n,
                          const char *schedule, int staged_level, char *err, size_t errlen);

/* The throughput a node keeps when its egress carries the two-tree's two
 * flows, relative to the chain's one (fitted on the emulation runs). */
#define DISTPLAN_TWOTREE_ETA 0.785
/* A relay's per-hop cost, in chunk-times c/B (fitted likewise). */
#define DISTPLAN_HOP_COST 0.3
/* The default takes the two-tree only when the model gives it less than this
 * fraction of the chain's time. */
#define DISTPLAN_TWOTREE_MARGIN 0.6
/* The schedule used when none is forced: the faster of chain and twotree
 * for this many targets and chunks by the model of doc/distribution.md. */
const char *distplan_default (size_t ntargets, size_t nchunks);

/* Pipeline depth of a schedule in hops a unit crosses one after another:
 * chain p - 1 (p targets), twotree 2 (floor(log2 p) + 1), tree and flat 1. */
size_t distplan_depth (const char *schedule, size_t ntargets);

/* Units wanted per stripe, per hop of depth (8 made 16 KiB units for 16 MiB
 * over 63 chained targets: CPU-bound at 64 emulated hosts on 2 vCPUs,
 * efficiency 0.612-0.680; 4 made 64 KiB units: 0.848; doc/benchmarks.md). */
#define DISTPLAN_UNITS_PER_DEPTH 4
/* The transfer unit size for a run (doc/distribution.md, "Transfer units"):
 * the largest of 1 MiB, 256 KiB, 64 KiB, 16 KiB giving at least
 * DISTPLAN_UNITS_PER_DEPTH x depth units (total / u) per stripe, else
 * 16 KiB; never above chunk_size (the manifest's). */
uint32_t distplan_unit_size (uint64_t total, size_t nchunks, uint32_t chunk_size, size_t ntargets,
                             const char *schedule);

#endif
