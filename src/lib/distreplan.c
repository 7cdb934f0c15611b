/* distreplan.c - a slow target made a leaf in every stripe, mid-run.
 *
 * The plan's lists are ancestor paths, so a stripe is a tree given by each
 * target's first upstream; we change parents and rebuild every list from the
 * new parents (at most MAX_UPS ranks, then the source), as distplan.c builds
 * them.  Two moves, chosen so that no node ends up forwarding more than
 * before unless it forwarded nothing:
 * - splice (the slow node feeds one downstream, as in a chain): that one
 *   takes its upstream, and it hangs below the least loaded leaf, deepest
 *   first.  In a chain: the node moves to the end, the rest close up and
 *   keep their order.
 * - swap (it feeds several, as in the two-tree): it trades places with the
 *   least loaded leaf of that stripe, so every other node keeps its number
 *   of downstreams; in a two-tree over an odd number of targets the node
 *   that is a leaf in both trees takes over.
 */
#include "distreplan.h"
#include "distplan.h"
#include "xalloc.h"
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_UPS 8   /* as distplan.c's MAX_UPSTREAMS */

static bool in_set (const uint32_t *set, size_t n, uint32_t r)
{
    for (size_t i = 0; i < n; i++)
        if (set[i] == r)
            return true;
    return false;
}

int64_t distreplan_parent (const json_t *plan, size_t i, size_t s)
{
    json_t *l = json_array_get (json_array_get (plan, i), s);
    json_t *r = json_array_get (l, 0);
    return json_is_integer (r) ? json_integer_value (r) : -1;
}

/* depth of i below the source (-1: a cycle) */
static int depth (const int *par, size_t n, int i)
{
    int d = 1;
    for (int j = par[i]; j >= 0; j = par[j])
        if (++d > (int)n + 1)
            return -1;
    return d;
}

json_t *distreplan_move (const json_t *plan, const uint32_t *targets, size_t n, uint32_t source, uint32_t slow,
                         const uint32_t *avoid, size_t navoid, char *err, size_t errlen)
{
    int si = distplan_index (targets, n, slow);
    if (si < 0) {
        snprintf (err, errlen, "rank %u is not a target", slow);
        return NULL;
    }
    if (!json_is_array (plan) || json_array_size (plan) != n || n == 0) {
        snprintf (err, errlen, "malformed plan");
        return NULL;
    }
    size_t ns = json_array_size (json_array_get (plan, 0));
    if (ns < 1 || ns > 8) {
        snprintf (err, errlen, "malformed plan");
        return NULL;
    }
    int *par = xcalloc (ns * n, sizeof (int));   /* par[s*n + i]: parent index, -1 the source */
    int *kids = xcalloc (ns * n, sizeof (int));
    for (size_t s = 0; s < ns; s++)
        for (size_t i = 0; i < n; i++) {
            int64_t p = distreplan_parent (plan, i, s);
            int pi = p == (int64_t)source || p < 0 || p > UINT32_MAX ? -1 : distplan_index (targets, n, (uint32_t)p);
            if (p < 0 || (pi < 0 && p != (int64_t)source) || pi == (int)i
                || json_array_size (json_array_get (plan, i)) != ns) {
                snprintf (err, errlen, "malformed plan (target %zu, stripe %zu)", i, s);
                goto fail;
            }
            par[s * n + i] = pi;
            if (pi >= 0)
                kids[s * n + pi]++;
        }
    bool moved = false;
    for (size_t s = 0; s < ns; s++) {
        int *P = par + s * n, *K = kids + s * n;
        if (K[si] == 0)
            continue;
        int up = P[si];
        /* load of a candidate: its downstreams over all stripes; the
         * avoided only when there is no other leaf (a chain's tail) */
        int best = -1, bload = 0, bdepth = 0;
        for (size_t pass = 0; pass < 2 && best < 0; pass++)
        for (size_t i = 0; i < n; i++) {
            if ((int)i == si || K[i] != 0 || (pass == 0 && in_set (avoid, navoid, targets[i])))
                continue;
            int load = 0;
            for (size_t t = 0; t < ns; t++)
                load += kids[t * n + i];
            int d = depth (P, n, (int)i);
            if (best < 0 || load < bload || (load == bload && d > bdepth)) {
                best = (int)i;
                bload = load;
                bdepth = d;
            }
        }
        if (best < 0)
            continue;   /* every other node forwards: nowhere to go */
        int L = best;
        if (K[si] == 1 && in_set (avoid, navoid, targets[L]) && P[L] >= 0 && P[L] != si)
            L = P[L];   /* not below a slow node: beside it, below its upstream (a chain's new tail) */
        if (K[si] == 1) {    /* splice: its upstream trades it for its one downstream */
            for (size_t i = 0; i < n; i++)
                if (P[i] == si)
                    P[i] = up;
            P[si] = L;
        }
        else {               /* swap */
            int lpar = P[L];
            for (size_t i = 0; i < n; i++)
                if (P[i] == si && (int)i != L)
                    P[i] = L;
            P[L] = up;
            P[si] = lpar == si ? L : lpar;
        }
        memset (K, 0, n * sizeof (int));
        for (size_t i = 0; i < n; i++)
            if (P[i] >= 0)
                K[P[i]]++;
        for (size_t i = 0; i < n; i++)
            if (depth (P, n, (int)i) < 0) {
                snprintf (err, errlen, "internal error: the new plan has a cycle");
                goto fail;
            }
        moved = true;
    }
    if (!moved) {
        snprintf (err, errlen, "rank %u forwards to no one: nothing to move", slow);
        goto fail;
    }
    json_t *out = json_array ();
    for (size_t i = 0; i < n; i++) {
        json_t *st = json_array ();
        for (size_t s = 0; s < ns; s++) {
            json_t *l = json_array ();
            for (int j = par[s * n + i]; j >= 0 && json_array_size (l) < MAX_UPS; j = par[s * n + j])
                json_array_append_new (l, json_integer (targets[j]));
            json_array_append_new (l, json_integer (source));
            json_array_append_new (st, l);
        }
        json_array_append_new (out, st);
    }
    free (par);
    free (kids);
    return out;
fail:
    free (par);
    free (kids);
    return NULL;
}
