/* distplan.c - upstream lists for the distribution schedules.
 *
 * chain: targets in rank order, each pulling from the one before; tree: each
 * pulls from its nearest target ancestor in the control tree; flat: all
 * from the source; twotree: two binary trees over the targets, each carrying
 * the chunks of one stripe (chunk i travels stripe i mod 2), the interior
 * nodes of one being leaves of the other, so every node forwards at most one
 * copy and depth is floor(log2 n) + 1.  A target's fallbacks are its
 * upstream's own list (in the same stripe), so a dead broker is skipped by
 * moving one step toward the source.
 */
#include "distplan.h"
#include "xalloc.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_UPSTREAMS 8  /* fallbacks kept per target (then the source) */

/* [first] + upstream_list, capped: at most MAX_UPSTREAMS ranks, then the
 * source (the last element of every list). */
static json_t *with_fallbacks (uint32_t first, json_t *upstream_list)
{
    json_t *l = json_array ();
    size_t n = json_array_size (upstream_list);
    json_array_append_new (l, json_integer (first));
    for (size_t i = 0; i + 1 < n && json_array_size (l) < MAX_UPSTREAMS; i++)
        json_array_append (l, json_array_get (upstream_list, i));
    json_array_append (l, json_array_get (upstream_list, n - 1));
    return l;
}

int distplan_index (const uint32_t *targets, size_t n, uint32_t r)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (targets[mid] == r)
            return mid;
        if (targets[mid] < r)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

json_t *distplan_build (const topo_t *t, uint32_t source, const uint32_t *targets, size_t n,
                        const char *schedule, int staged_level, char *err, size_t errlen)
{
    if (strcmp (schedule, "chain") && strcmp (schedule, "tree") && strcmp (schedule, "flat")) {
        snprintf (err, errlen, "unknown schedule '%.32s' (expected chain, tree, flat or twotree)", schedule);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (targets[i] >= topo_size (t) || targets[i] == source || (i && targets[i] <= targets[i - 1])) {
            snprintf (err, errlen, "targets must be sorted ranks of the instance, without the source");
            return NULL;
        }
    }
    json_t *src_only = json_pack ("[I]", (json_int_t)source);
    json_t **lists = xcalloc (n ? n : 1, sizeof (json_t *));
    if (staged_level > 0) {
        /* phase 1: a chain over the targets at the staged level (and above) */
        uint32_t prev = source;
        json_t *prevlist = json_array ();
        for (size_t i = 0; i < n; i++) {
            if (topo_level (t, targets[i]) > (uint32_t)staged_level)
                continue;
            lists[i] = prev == source ? json_incref (src_only) : with_fallbacks (prev, prevlist);
            json_decref (prevlist);
            prevlist = json_incref (lists[i]);
            prev = targets[i];
        }
        json_decref (prevlist);
        /* phase 2: the rest, a chain under each level ancestor (in rank order) */
        uint32_t *last = xcalloc (topo_size (t), sizeof (uint32_t));
        for (uint32_t r = 0; r < topo_size (t); r++)
            last[r] = UINT32_MAX;
        for (size_t i = 0; i < n; i++) {
            if (lists[i])
                continue;
            uint32_t a = targets[i];
            while (topo_level (t, a) > (uint32_t)staged_level)
                a = topo_parent (t, a);
            int ai = distplan_index (targets, n, a);
            json_t *alist = ai >= 0 ? lists[ai] : src_only;
            uint32_t head = ai >= 0 ? a : source;
            json_t *base = ai >= 0 ? with_fallbacks (head, alist) : json_incref (src_only);
            if (last[a] == UINT32_MAX)
                lists[i] = base;
            else {
                int li = distplan_index (targets, n, last[a]);
                lists[i] = with_fallbacks (last[a], lists[li]);
                json_decref (base);
            }
            last[a] = targets[i];
        }
        free (last);
    }
    else if (!strcmp (schedule, "chain")) {
        for (size_t i = 0; i < n; i++)
            lists[i] = i == 0 ? json_incref (src_only) : with_fallbacks (targets[i - 1], lists[i - 1]);
    }
    else if (!strcmp (schedule, "tree")) {
        /* ranks in increasing order see their ancestors' lists first only
         * when parents have smaller ranks, which holds for kary and binomial;
         * so resolve recursively instead */
        for (size_t pass = 0; pass < n; pass++) {
            int progress = 0;
            for (size_t i = 0; i < n; i++) {
                if (lists[i])
                    continue;
                uint32_t a = targets[i];
                int ai = -1;
                while (a != 0 && a != source) {
                    a = topo_parent (t, a);
                    if (a == source)
                        break;
                    if ((ai = distplan_index (targets, n, a)) >= 0)
                        break;
                }
                if (ai >= 0 && !lists[ai])
                    continue;
                lists[i] = ai >= 0 ? with_fallbacks (targets[ai], lists[ai]) : json_incref (src_only);
                progress = 1;
            }
            if (!progress)
                break;
        }
    }
    else {
        for (size_t i = 0; i < n; i++)
            lists[i] = json_incref (src_only);
    }
    json_t *out = json_array ();
    for (size_t i = 0; i < n; i++)
        json_array_append_new (out, lists[i] ? lists[i] : json_incref (src_only));
    free (lists);
    json_decref (src_only);
    return out;
}

int distplan_nstripes (const char *schedule)
{
    if (!strcmp (schedule, "twotree"))
        return 2;
    if (!strcmp (schedule, "chain") || !strcmp (schedule, "tree") || !strcmp (schedule, "flat"))
        return 1;
    return 0;
}

/* One tree of the two-tree broadcast: order[] lists the n targets in the
 * breadth-first positions of a complete binary tree (the parent of position
 * p is (p-1)/2, the source feeds position 0).  lists[] is indexed like
 * targets[] (pos_of maps a position to that index). */
static void bfs_tree (uint32_t source, const uint32_t *targets, const size_t *order, size_t n,
                      json_t **lists, json_t *src_only)
{
    for (size_t p = 0; p < n; p++) {
        size_t i = order[p];
        if (p == 0)
            lists[i] = json_incref (src_only);
        else {
            size_t par = order[(p - 1) / 2];
            lists[i] = with_fallbacks (targets[par], lists[par]);
        }
    }
    (void)source;
}

json_t *distplan_stripes (const topo_t *t, uint32_t source, const uint32_t *targets, size_t n,
                          const char *schedule, int staged_level, char *err, size_t errlen)
{
    int ns = distplan_nstripes (schedule);
    if (ns == 1 || staged_level > 0) {
        json_t *one = distplan_build (t, source, targets, n, staged_level > 0 ? "chain" : schedule,
                                      staged_level, err, errlen);
        if (!one)
            return NULL;
        json_t *out = json_array ();
        size_t i;
        json_t *l;
        json_array_foreach (one, i, l)
            json_array_append_new (out, json_pack ("[O]", l));
        json_decref (one);
        return out;
    }
    if (ns != 2) {
        snprintf (err, errlen, "unknown schedule '%.32s' (expected chain, tree, flat or twotree)",
                  schedule);
        return NULL;
    }
    /* validate like distplan_build */
    json_t *chk = distplan_build (t, source, targets, n, "flat", 0, err, errlen);
    if (!chk)
        return NULL;
    json_decref (chk);
    /* tree A: targets in rank order, interior = targets[0..h-1];
     * tree B: targets[h..2h-1] first (its interior), then targets[0..h-1],
     * then (n odd) the last target, a leaf in both */
    size_t h = n / 2;
    size_t *oa = xcalloc (n ? n : 1, sizeof (size_t)), *ob = xcalloc (n ? n : 1, sizeof (size_t));
    for (size_t p = 0; p < n; p++)
        oa[p] = p;
    size_t k = 0;
    for (size_t i = h; i < 2 * h; i++)
        ob[k++] = i;
    for (size_t i = 0; i < h; i++)
        ob[k++] = i;
    if (n % 2)
        ob[k++] = n - 1;
    json_t *src_only = json_pack ("[I]", (json_int_t)source);
    json_t **la = xcalloc (n ? n : 1, sizeof (json_t *)), **lb = xcalloc (n ? n : 1, sizeof (json_t *));
    bfs_tree (source, targets, oa, n, la, src_only);
    bfs_tree (source, targets, ob, n, lb, src_only);
    json_t *out = json_array ();
    for (size_t i = 0; i < n; i++)
        json_array_append_new (out, json_pack ("[o o]", la[i], lb[i]));
    json_decref (src_only);
    free (la);
    free (lb);
    free (oa);
    free (ob);
    return out;
}

const char *distplan_default (size_t ntargets, size_t nchunks)
{
    /* Time in chunk-times c/B.  chain: nchunks + (p - 2)(1 + H), its fill
     * growing with the node count; twotree: (nchunks + 2 depth) / ETA +
     * depth H, where ETA is the throughput a node keeps when its egress
     * carries two flows and H the per-hop cost in chunk-times (both fitted
     * on the 64-host emulation, doc/benchmarks.md). */
    if (ntargets < 3)
        return "chain";
    double p = (double)ntargets + 1, depth = floor (log2 ((double)ntargets)) + 1;
    double chain = (double)nchunks + (p - 2) * (1 + DISTPLAN_HOP_COST);
    double twotree = ((double)nchunks + 2 * depth) / DISTPLAN_TWOTREE_ETA + depth * DISTPLAN_HOP_COST;
    /* the two-tree only where it wins by a margin: at 128 emulated hosts on
     * 2 vCPUs it collapsed where the model gave it 0.82 of the chain's time
     * (doc/benchmarks.md) */
    return twotree < DISTPLAN_TWOTREE_MARGIN * chain ? "twotree" : "chain";
}

size_t distplan_depth (const char *schedule, size_t ntargets)
{
    if (ntargets == 0)
        return 1;
    if (!strcmp (schedule, "chain"))
        return ntargets > 1 ? ntargets - 1 : 1;   /* the fill: p - 1 hops (doc's table) */
    if (!strcmp (schedule, "twotree"))
        return 2 * ((size_t)floor (log2 ((double)ntargets)) + 1);
    return 1;
}

uint32_t distplan_unit_size (uint64_t total, size_t nchunks, uint32_t chunk_size, size_t ntargets,
                             const char *schedule)
{
    static const uint32_t sizes[] = { 1u << 20, 256u << 10, 64u << 10, 16u << 10 };
    int ns = distplan_nstripes (schedule);
    uint64_t want = (uint64_t)DISTPLAN_UNITS_PER_DEPTH * distplan_depth (schedule, ntargets)
                    * (ns > 0 ? ns : 1);
    uint32_t u = sizes[3];
    (void)nchunks;   /* small files pack, so the count of units follows the bytes */
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (total / sizes[i] >= want) {
            u = sizes[i];
            break;
        }
    if (chunk_size && u > chunk_size)
        u = chunk_size;
    return u;
}
