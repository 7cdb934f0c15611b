/* test_distplan.c - the distribution plans: every target reached exactly
 * once per stripe from the source, the two-tree's depth bound and forwarding
 * load, fallbacks that are ancestors in the same stripe, for rank sets of
 * many shapes and sizes 1..4096 (and the one-stripe schedules); a slow
 * target moved out of the way (distreplan) keeps all of that and forwards
 * nothing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "distplan.h"
#include "distreplan.h"

/* Check one plan (per target: stripes of upstream lists).  Returns the
 * number of violations; fills depth (max hops from the source over all
 * stripes) and maxload (max over nodes of the copies forwarded: children
 * summed over stripes / nstripes, the source included). */
static int check_plan (json_t *plan, uint32_t size, uint32_t source, const uint32_t *tg, size_t n,
                       int ns, unsigned *depth_out, double *maxload_out, int *maxkids_out)
{
    int bad = 0;
    if (!plan || json_array_size (plan) != n)
        return 1;
    uint32_t *par = malloc (size * sizeof (uint32_t));
    unsigned *kids = calloc ((size_t)size * ns, sizeof (unsigned));
    char *is_t = calloc (size, 1);
    for (size_t i = 0; i < n; i++)
        is_t[tg[i]] = 1;
    unsigned depth = 0;
    int maxkids = 0;
    for (int s = 0; s < ns; s++) {
        for (uint32_t r = 0; r < size; r++)
            par[r] = UINT32_MAX;
        for (size_t i = 0; i < n; i++) {
            json_t *st = json_array_get (plan, i);
            if (json_array_size (st) != (size_t)ns) {
                bad++;
                continue;
            }
            json_t *l = json_array_get (st, s);
            size_t ll = json_array_size (l);
            if (ll == 0) {
                bad++;
                continue;
            }
            /* the source last, every upstream a target or the source, no self */
            if ((uint32_t)json_integer_value (json_array_get (l, ll - 1)) != source)
                bad++;
            for (size_t j = 0; j < ll; j++) {
                uint32_t u = json_integer_value (json_array_get (l, j));
                if (u >= size || u == tg[i] || (u != source && !is_t[u]))
                    bad++;
            }
            par[tg[i]] = json_integer_value (json_array_get (l, 0));
        }
        /* every target reached exactly once: following parents ends at the
         * source without a cycle; each fallback list is a chain of ancestors */
        for (size_t i = 0; i < n; i++) {
            uint32_t r = tg[i];
            unsigned d = 0;
            while (r != source && d <= n) {
                if (par[r] == UINT32_MAX) {
                    bad++;
                    break;
                }
                r = par[r];
                d++;
            }
            if (d > n)
                bad++;   /* a cycle */
            if (d > depth)
                depth = d;
            json_t *l = json_array_get (json_array_get (plan, i), s);
            uint32_t a = tg[i];
            for (size_t j = 0; j + 1 < json_array_size (l); j++) {
                uint32_t u = json_integer_value (json_array_get (l, j));
                /* u must be a strict ancestor of the previous one's position */
                uint32_t x = par[a];
                while (x != source && x != u && x != UINT32_MAX)
                    x = par[x];
                if (x != u)
                    bad++;
                a = u;
            }
            kids[(size_t)par[tg[i]] * ns + s]++;
        }
    }
    double maxload = 0;
    for (uint32_t r = 0; r < size; r++) {
        double load = 0;
        for (int s = 0; s < ns; s++) {
            load += kids[(size_t)r * ns + s] / (double)ns;
            if ((int)kids[(size_t)r * ns + s] > maxkids && r != source)
                maxkids = kids[(size_t)r * ns + s];
        }
        if (load > maxload)
            maxload = load;
    }
    free (par);
    free (kids);
    free (is_t);
    *depth_out = depth;
    *maxload_out = maxload;
    *maxkids_out = maxkids;
    return bad;
}

/* interior in at most one stripe */
static int interior_twice (json_t *plan, size_t n, const uint32_t *tg, uint32_t size)
{
    int *in = calloc (size, sizeof (int)), bad = 0;
    for (int s = 0; s < 2; s++) {
        char *seen = calloc (size, 1);
        for (size_t i = 0; i < n; i++) {
            uint32_t u = json_integer_value (json_array_get (json_array_get (json_array_get (plan, i), s), 0));
            if (!seen[u]) {
                seen[u] = 1;
                in[u]++;
            }
        }
        free (seen);
    }
    for (size_t i = 0; i < n; i++)
        if (in[tg[i]] > 1)
            bad++;
    free (in);
    return bad;
}

enum { SHAPE_ALL, SHAPE_SPARSE, SHAPE_RANDOM, SHAPE_TAIL, SHAPE_NSHAPES };
static const char *shape_name[] = { "all but the source", "every 3rd", "random", "high ranks" };

/* targets of a shape among size ranks (source excluded), sorted; returns n */
static size_t make_targets (int shape, uint32_t size, uint32_t source, uint32_t *tg)
{
    size_t n = 0;
    for (uint32_t r = 0; r < size; r++) {
        if (r == source)
            continue;
        int take = shape == SHAPE_ALL || (shape == SHAPE_SPARSE && r % 3 == 1)
                   || (shape == SHAPE_RANDOM && check_rnd () % 5 < 2) || (shape == SHAPE_TAIL && r >= size / 2);
        if (take)
            tg[n++] = r;
    }
    return n;
}

static void test_twotree (void)
{
    const uint32_t sizes[] = { 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 33, 64, 65, 100, 127, 128, 129, 255,
                               256, 257, 500, 1000, 1023, 1025, 2047, 2048, 2049, 4095, 4096, 4097 };
    for (int shape = 0; shape < SHAPE_NSHAPES; shape++) {
        int bad = 0, baddepth = 0, badload = 0, badint = 0, cases = 0;
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            uint32_t size = sizes[si];
            char err[256];
            topo_t *t = topo_create ("kary:2", size, NULL, err, sizeof err);
            uint32_t *tg = malloc (size * sizeof (uint32_t));
            uint32_t sources[2] = { 0, size / 2 };   /* the source need not be rank 0 */
            for (int sc = 0; sc < 2; sc++) {
                size_t n = make_targets (shape, size, sources[sc], tg);
                if (n == 0 || n > 4096)
                    continue;
                json_t *plan = distplan_stripes (t, sources[sc], tg, n, "twotree", 0, err, sizeof err);
                unsigned depth;
                double load;
                int maxkids;
                cases++;
                bad += check_plan (plan, size, sources[sc], tg, n, 2, &depth, &load, &maxkids);
                /* depth: floor(log2 n) hops below the root of each tree, +1 from the source */
                if (depth > (unsigned)floor (log2 ((double)n)) + 1)
                    baddepth++;
                /* at most 2 children per stripe, each of half the data: <= one copy */
                if (load > 1.0 + 1e-9 || maxkids > 2)
                    badload++;
                badint += interior_twice (plan, n, tg, size);
                json_decref (plan);
            }
            free (tg);
            topo_destroy (&t);
        }
        ok (cases > 40 && bad == 0, "twotree, %s: every target reached exactly once per stripe, "
            "fallbacks are ancestors, source last (%d cases, %d violations)", shape_name[shape], cases, bad);
        ok (baddepth == 0, "twotree, %s: depth <= floor(log2 n) + 1 (%d over)", shape_name[shape], baddepth);
        ok (badload == 0, "twotree, %s: every node forwards <= 1 copy, <= 2 children per stripe (%d over)",
            shape_name[shape], badload);
        ok (badint == 0, "twotree, %s: no node interior in both trees (%d)", shape_name[shape], badint);
    }
    /* every size 1..4096 with all ranks as targets (the densest case) */
    int bad = 0, baddepth = 0, badload = 0;
    char err[256];
    topo_t *t = topo_create ("kary:2", 4097, NULL, err, sizeof err);
    uint32_t *tg = malloc (4096 * sizeof (uint32_t));
    for (uint32_t i = 0; i < 4096; i++)
        tg[i] = i + 1;
    for (size_t n = 1; n <= 4096; n += n < 300 ? 1 : 37) {
        json_t *plan = distplan_stripes (t, 0, tg, n, "twotree", 0, err, sizeof err);
        unsigned depth;
        double load;
        int maxkids;
        bad += check_plan (plan, 4097, 0, tg, n, 2, &depth, &load, &maxkids);
        if (depth > (unsigned)floor (log2 ((double)n)) + 1)
            baddepth++;
        if (load > 1.0 + 1e-9 || maxkids > 2)
            badload++;
        json_decref (plan);
    }
    ok (bad == 0 && baddepth == 0 && badload == 0,
        "twotree, 1..4096 targets: reached once per stripe, depth bound, load <= 1 (%d/%d/%d)", bad,
        baddepth, badload);
    /* one target: both stripes straight from the source */
    json_t *p1 = distplan_stripes (t, 0, tg, 1, "twotree", 0, err, sizeof err);
    char *s = json_dumps (p1, JSON_COMPACT);
    ok (s && !strcmp (s, "[[[0],[0]]]"), "twotree, one target: both stripes from the source (%s)", s);
    free (s);
    json_decref (p1);
    /* 4 targets 1..4: tree A 1->(2,3), 2->4; tree B 3->(4,1), 4->2 */
    json_t *p4 = distplan_stripes (t, 0, tg, 4, "twotree", 0, err, sizeof err);
    s = json_dumps (p4, JSON_COMPACT);
    ok (s && !strcmp (s, "[[[0],[3,0]],[[1,0],[4,3,0]],[[1,0],[0]],[[2,1,0],[3,0]]]"),
        "twotree, 4 targets: the exact plan (%s)", s);
    free (s);
    json_decref (p4);
    free (tg);
    topo_destroy (&t);
}

static void test_one_stripe (void)
{
    char err[256];
    topo_t *t = topo_create ("kary:2", 300, NULL, err, sizeof err);
    uint32_t *tg = malloc (300 * sizeof (uint32_t));
    const char *scheds[] = { "chain", "tree", "flat" };
    for (int k = 0; k < 3; k++) {
        int bad = 0;
        for (int shape = 0; shape < SHAPE_NSHAPES; shape++) {
            size_t n = make_targets (shape, 300, 0, tg);
            json_t *plan = distplan_stripes (t, 0, tg, n, scheds[k], 0, err, sizeof err);
            unsigned depth;
            double load;
            int maxkids;
            bad += check_plan (plan, 300, 0, tg, n, 1, &depth, &load, &maxkids);
            if (!strcmp (scheds[k], "chain") && (depth != n || load > 1.0))
                bad++;
            if (!strcmp (scheds[k], "flat") && depth != 1)
                bad++;
            json_decref (plan);
        }
        ok (bad == 0, "%s: one stripe, every target reached once (chain: depth n, load 1; flat: depth 1)",
            scheds[k]);
    }
    ok (distplan_nstripes ("twotree") == 2 && distplan_nstripes ("chain") == 1
        && distplan_nstripes ("ring") == 0, "nstripes");
    json_t *p = distplan_stripes (t, 0, tg, 3, "ring", 0, err, sizeof err);
    ok (!p && strstr (err, "unknown schedule"), "an unknown schedule is refused (%s)", err);
    uint32_t unsorted[2] = { 5, 3 };
    p = distplan_stripes (t, 0, unsorted, 2, "twotree", 0, err, sizeof err);
    ok (!p && strstr (err, "sorted"), "twotree: unsorted targets refused (%s)", err);
    uint32_t withsrc[2] = { 0, 3 };
    p = distplan_stripes (t, 0, withsrc, 2, "twotree", 0, err, sizeof err);
    ok (!p, "twotree: the source among the targets refused");
    /* the default: the chain while its fill (p - 2 chunk times) is below the
     * two-tree's throughput loss; the cases measured in doc/benchmarks.md */
    ok (!strcmp (distplan_default (1, 10), "chain") && !strcmp (distplan_default (2, 1), "chain"),
        "default: chain for one or two targets");
    ok (!strcmp (distplan_default (63, 256), "chain"), "default: 63 targets, 256 chunks: chain (%s)",
        distplan_default (63, 256));
    ok (!strcmp (distplan_default (63, 16), "twotree") && !strcmp (distplan_default (63, 64), "chain"),
        "default: 63 targets, 16 chunks: twotree; 64 chunks: chain (within the margin)");
    ok (!strcmp (distplan_default (15, 256), "chain"), "default: 15 targets, 256 chunks: chain");
    ok (!strcmp (distplan_default (127, 256), "chain"), "default: 127 targets, 256 chunks: chain (measured)");
    ok (!strcmp (distplan_default (4095, 1024), "twotree") && !strcmp (distplan_default (1023, 256), "twotree"),
        "default: 4096 nodes with 1 GiB of 1 MiB chunks, 1024 nodes with 256 chunks: twotree");
    ok (!strcmp (distplan_default (255, 1024), "chain") && !strcmp (distplan_default (4095, 10240), "chain"),
        "default: 256 nodes with 1024 chunks, 4096 with 10240: chain (within the margin)");
    ok (!strcmp (distplan_default (127, 100000), "chain"), "default: very many chunks per node: chain");
    free (tg);
    topo_destroy (&t);
}

/* downstreams of target index i in stripe s */
static int nkids (json_t *plan, size_t n, const uint32_t *tg, size_t i, size_t s)
{
    int k = 0;
    for (size_t j = 0; j < n; j++)
        if (distreplan_parent (plan, j, s) == tg[i])
            k++;
    return k;
}

static void test_replan (void)
{
    char err[256];
    /* a chain: the slow node goes to the end, the others keep their order */
    topo_t *t = topo_create ("kary:2", 8, NULL, err, sizeof err);
    uint32_t tg7[7] = { 1, 2, 3, 4, 5, 6, 7 };
    json_t *plan = distplan_stripes (t, 0, tg7, 7, "chain", 0, err, sizeof err);
    json_t *np = distreplan_move (plan, tg7, 7, 0, 3, NULL, 0, err, sizeof err);
    ok (np != NULL, "replan: chain, rank 3 moved (%s)", np ? "" : err);
    int64_t want[7] = { 0, 1, 7, 2, 4, 5, 6 };   /* 0 -> 1 -> 2 -> 4 -> 5 -> 6 -> 7 -> 3 */
    int badorder = 0;
    for (size_t i = 0; np && i < 7; i++)
        if (distreplan_parent (np, i, 0) != want[i])
            badorder++;
    ok (np && badorder == 0, "replan: chain 1..7 with 3 slow becomes 1 2 4 5 6 7 3");
    json_t *l4 = np ? json_array_get (json_array_get (np, 3), 0) : NULL;
    ok (l4 && json_array_size (l4) == 3 && json_integer_value (json_array_get (l4, 1)) == 1,
        "replan: rank 4's fallbacks are its new ancestors (2, 1, then the source)");
    json_t *again = np ? distreplan_move (np, tg7, 7, 0, 3, NULL, 0, err, sizeof err) : NULL;
    ok (!again && strstr (err, "nothing to move"), "replan: a leaf has nothing to move (%s)", err);
    /* a second slow node in a chain: the only leaf is the first one (3, at
     * the end); 5 goes beside it, below 7: 1 2 4 6 7 {3, 5} */
    uint32_t avoid3[1] = { 3 };
    json_t *c2 = np ? distreplan_move (np, tg7, 7, 0, 5, avoid3, 1, err, sizeof err) : NULL;
    ok (c2 && distreplan_parent (c2, 4, 0) == 7 && distreplan_parent (c2, 5, 0) == 4
            && distreplan_parent (c2, 2, 0) == 7,
        "replan: a second slow node in a chain goes beside the first (below rank 7), not below it");
    json_decref (c2);
    /* a second slow node in a two-tree avoids the first: 1..7, tree A's
     * interior 1 2 3, tree B's 4 5 6, 7 a leaf in both; 2 slow trades with 7,
     * then 5 slow would trade with 2 (a leaf in both now) but for avoid */
    json_t *tt = distplan_stripes (t, 0, tg7, 7, "twotree", 0, err, sizeof err);
    json_t *t1 = tt ? distreplan_move (tt, tg7, 7, 0, 2, NULL, 0, err, sizeof err) : NULL;
    uint32_t avoid[1] = { 2 };
    json_t *t2 = t1 ? distreplan_move (t1, tg7, 7, 0, 5, avoid, 1, err, sizeof err) : NULL;
    json_t *t3 = t1 ? distreplan_move (t1, tg7, 7, 0, 5, NULL, 0, err, sizeof err) : NULL;
    int kids2 = 0, kids3 = 0;
    for (size_t i = 0; t2 && t3 && i < 7; i++) {
        kids2 += distreplan_parent (t2, i, 1) == 2;
        kids3 += distreplan_parent (t3, i, 1) == 2;
    }
    ok (t1 && t2 && t3 && kids2 == 0 && kids3 > 0,
        "replan: a second slow node trades with another leaf than the first slow one (%d, %d)", kids2, kids3);
    json_decref (tt);
    json_decref (t1);
    json_decref (t2);
    json_decref (t3);
    ok (!distreplan_move (plan, tg7, 7, 0, 9, NULL, 0, err, sizeof err) && strstr (err, "not a target"),
        "replan: an unknown rank refused (%s)", err);
    json_t *junk = json_pack ("[[[1]]]");
    ok (!distreplan_move (junk, tg7, 7, 0, 3, NULL, 0, err, sizeof err), "replan: a malformed plan refused (%s)", err);
    json_decref (junk);
    json_decref (np);
    json_decref (plan);
    topo_destroy (&t);

    /* every schedule, many sizes, every target in turn slow (sampled):
     * still a valid plan, the slow node a leaf everywhere; the two-tree over
     * an odd number keeps every node at one copy, over an even one at most
     * 1.5; the chain stays a chain */
    const char *scheds[] = { "chain", "tree", "twotree" };
    const uint32_t sizes[] = { 3, 4, 5, 8, 9, 16, 17, 64, 65, 128, 129 };
    for (int k = 0; k < 3; k++) {
        int bad = 0, notleaf = 0, badload = 0, cases = 0;
        int ns = distplan_nstripes (scheds[k]);
        for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
            uint32_t size = sizes[z];
            t = topo_create ("kary:2", size, NULL, err, sizeof err);
            uint32_t *tg = malloc (size * sizeof (uint32_t));
            size_t n = make_targets (SHAPE_ALL, size, 0, tg);
            plan = distplan_stripes (t, 0, tg, n, scheds[k], 0, err, sizeof err);
            for (size_t i = 0; i < n; i += 1 + n / 16) {
                bool fwd = false;
                for (int s = 0; s < ns; s++)
                    fwd = fwd || nkids (plan, n, tg, i, s) > 0;
                np = distreplan_move (plan, tg, n, 0, tg[i], NULL, 0, err, sizeof err);
                if (!fwd) {
                    bad += np != NULL;
                    json_decref (np);
                    continue;
                }
                cases++;
                unsigned depth;
                double load;
                int maxkids;
                bad += check_plan (np, size, 0, tg, n, ns, &depth, &load, &maxkids);
                for (int s = 0; np && s < ns; s++)
                    notleaf += nkids (np, n, tg, i, s) > 0;
                double maxload = !strcmp (scheds[k], "twotree") ? (n % 2 ? 1.0 : 1.5) : 2.0;
                if (!strcmp (scheds[k], "chain") && (depth != n || load > 1.0))
                    badload++;
                else if (load > maxload + 1e-9) {
                    badload++;
                    fprintf (stderr, "# %s n=%zu slow=%u load %.2f\n", scheds[k], n, tg[i], load);
                }
                json_decref (np);
            }
            json_decref (plan);
            free (tg);
            topo_destroy (&t);
        }
        ok (cases > 0 && bad == 0 && notleaf == 0 && badload == 0,
            "replan %s: %d moves valid (%d bad), slow node a leaf (%d not), load kept (%d over)", scheds[k],
            cases, bad, notleaf, badload);
    }
}

int main (void)
{
    test_twotree ();
    test_one_stripe ();
    test_replan ();
    return done ();
}
