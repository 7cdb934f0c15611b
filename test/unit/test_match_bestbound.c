/* test_match_bestbound.c - the best-bound search for low/high slot
 * requests chooses what the full traversal chooses.
 *
 * Two copies of one random tree-shaped graph (cluster, racks or not, nodes,
 * sockets, cores and gpus with shuffled ids, memory of several sizes), one
 * matcher on each; one may use the search, the other never does
 * (bb_off).  The same random sequence of matches (slot of cores, gpus or
 * memory, node-exclusive and mixed jobspecs; allocate, allocate-or-reserve,
 * satisfiability), cancels, status changes, time steps, extends and partial
 * cancels goes to both; every result, start time and written match must be
 * the same, and the search must have made most of the slot selections. */
#include "check.h"
#include "mdfu.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng;
static unsigned rnd (unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return n ? (unsigned)(rng % n) : 0;
}

static void shuffle (int *a, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rnd ((unsigned)i + 1), t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* the graph of one seed; both copies come from the same seed */
static mgraph_t *gen (uint64_t seed, int *nnodes)
{
    rng = seed * 2654435761u + 1;
    mgraph_t *g = mgraph_new ();
    int root = mgraph_add_vertex (g, "cluster", "cluster", 0, 1, "", -1);
    int racks = (int)rnd (3), nodes = 0, uniq_core = 0;
    bool memsizes = rnd (2);
    for (int r = 0; r < (racks ? racks : 1); r++) {
        int parent = root;
        if (racks) {
            parent = mgraph_add_vertex (g, "rack", "rack", r, 1, "", -1);
            mgraph_add_edge (g, root, parent, "containment");
        }
        int nn = 2 + (int)rnd (5);
        for (int n = 0; n < nn; n++, nodes++) {
            int node = mgraph_add_vertex (g, "node", "node", nodes, 1, "", nodes);
            mgraph_add_edge (g, parent, node, "containment");
            int ns = 1 + (int)rnd (2), ids[16], nc = 1 + (int)rnd (6);
            for (int i = 0; i < 16; i++)
                ids[i] = i * (1 + (int)rnd (2));
            shuffle (ids, 16);
            if (rnd (5) == 0) {   /* a core right under the node too */
                int c = mgraph_add_vertex (g, "core", "core", 100 + (int)rnd (20), 1, "", nodes);
                mgraph_add_edge (g, node, c, "containment");
            }
            for (int s = 0; s < ns; s++) {
                int sock = mgraph_add_vertex (g, "socket", "socket", s, 1, "", nodes);
                mgraph_add_edge (g, node, sock, "containment");
                for (int c = 0; c < nc; c++) {
                    int v = mgraph_add_vertex (g, "core", "core", ids[s * 8 + c], 1, "", nodes);
                    mgraph_add_edge (g, sock, v, "containment");
                    uniq_core++;
                }
                int ng = (int)rnd (3);
                for (int k = 0; k < ng; k++) {
                    int v = mgraph_add_vertex (g, "gpu", "gpu", s * 2 + k, 1, "", nodes);
                    mgraph_add_edge (g, sock, v, "containment");
                }
                int nm = (int)rnd (3);
                for (int k = 0; k < nm; k++) {
                    int v = mgraph_add_vertex (g, "memory", "memory", s * 2 + k,
                                               memsizes ? 1 + (int)rnd (8) : 1, "GB", nodes);
                    mgraph_add_edge (g, sock, v, "containment");
                }
            }
        }
    }
    char err[256];
    if (mgraph_finalize (g, err, sizeof err) < 0) {
        printf ("# finalize: %s\n", err);
        mgraph_destroy (&g);
    }
    *nnodes = nodes;
    return g;
}

static mjobspec_t *slot_js (const char *type, unsigned n, unsigned c, int dur)
{
    char y[512], err[256];
    snprintf (y, sizeof y,
              "version: 9999\nresources:\n  - type: slot\n    count: %u\n    label: t\n"
              "    with:\n      - type: %s\n        count: %u\n"
              "attributes:\n  system:\n    duration: %d\n",
              n, type, c, dur);
    mjobspec_t *js = mjobspec_parse (y, strlen (y), err, sizeof err);
    if (!js)
        printf ("# jobspec: %s\n", err);
    return js;
}

static mjobspec_t *text_js (const char *y)
{
    char err[256];
    mjobspec_t *js = mjobspec_parse (y, strlen (y), err, sizeof err);
    if (!js)
        printf ("# jobspec: %s\n", err);
    return js;
}

static const char js_node[] =
    "version: 9999\nresources:\n  - type: node\n    count: 1\n    exclusive: true\n"
    "attributes:\n  system:\n    duration: 50\n";
static const char js_mixed[] =
    "version: 9999\nresources:\n  - type: slot\n    count: 1\n    label: t\n    with:\n"
    "      - type: core\n        count: 2\n      - type: gpu\n        count: 1\n"
    "attributes:\n  system:\n    duration: 30\n";
static const char js_ranks[] =
    "version: 9999\nresources:\n  - type: slot\n    count: 1\n    label: t\n    with:\n"
    "      - type: core\n        count: 1\n"
    "attributes:\n  system:\n    duration: 40\n    constraints:\n      ranks: [\"1-3\"]\n";

static int mismatches, compared, slotmatches;

static bool same (const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp (a, b));
}

/* run one seed: returns false on the first difference */
static bool scenario (uint64_t seed, const char *policy, unsigned *used)
{
    int nn = 0;
    mgraph_t *ga = gen (seed, &nn), *gb = gen (seed, &nn);
    char err[256];
    if (!ga || !gb)
        return false;
    const char *prune = rnd (2) ? NULL : "ALL:core,ALL:node,ALL:gpu,ALL:memory";
    matcher_t *a = matcher_new (ga, policy, "CA", prune, err, sizeof err);
    matcher_t *b = matcher_new (gb, policy, "CA", prune, err, sizeof err);
    if (!a || !b)
        return false;
    b->bb_off = true;
    int64_t live[256];
    int nlive = 0;
    int64_t now = 0, jobid = 1;
    bool okay = true;
    for (int step = 0; step < 160 && okay; step++) {
        unsigned what = rnd (20);
        if (what < 12) {
            mjobspec_t *js;
            unsigned kind = rnd (10);
            bool slot = false;
            if (kind < 5) {
                js = slot_js ("core", 1 + rnd (3), 1 + rnd (3), 10 + (int)rnd (90));
                slot = true;
            } else if (kind == 5) {
                js = slot_js ("gpu", 1 + rnd (2), 1, 10 + (int)rnd (90));
                slot = true;
            } else if (kind == 6) {
                js = slot_js ("memory", 1 + rnd (2), 1 + rnd (6), 10 + (int)rnd (90));
                slot = true;
            } else if (kind == 7)
                js = text_js (js_node);
            else if (kind == 8)
                js = text_js (js_mixed);
            else
                js = text_js (js_ranks);
            if (!js)
                return false;
            static const int ops[] = { MATCH_ALLOCATE, MATCH_ALLOCATE_ORELSE_RESERVE,
                                       MATCH_ALLOCATE_ORELSE_RESERVE, MATCH_SATISFIABILITY,
                                       MATCH_ALLOCATE_W_SATISFIABILITY };
            int op = ops[rnd (5)];
            int64_t ata = -1, atb = -1;
            char *oa = NULL, *ob = NULL, ea[256] = "", eb[256] = "";
            int ra = matcher_match (a, js, op, jobid, &ata, &oa, ea, sizeof ea);
            int rb = matcher_match (b, js, op, jobid, &atb, &ob, eb, sizeof eb);
            compared++;
            slotmatches += slot;
            if (ra != rb || (ra == MATCH_OK && (ata != atb || !same (oa, ob)))) {
                printf ("# seed %llu %s step %d job %lld op %d: rc %d/%d at %lld/%lld\n"
                        "# search:\n%s# full:\n%s",
                        (unsigned long long)seed, policy, step, (long long)jobid, op, ra, rb,
                        (long long)ata, (long long)atb, oa ? oa : "", ob ? ob : "");
                mismatches++;
                okay = false;
            }
            if (ra == MATCH_OK && op != MATCH_SATISFIABILITY && nlive < 256)
                live[nlive++] = jobid;
            jobid++;
            free (oa);
            free (ob);
            mjobspec_destroy (&js);
        } else if (what < 16 && nlive > 0) {
            int i = (int)rnd ((unsigned)nlive);
            matcher_cancel (a, live[i]);
            matcher_cancel (b, live[i]);
            live[i] = live[--nlive];
        } else if (what == 16) {
            int64_t r = rnd ((unsigned)nn);
            bool up = rnd (2) == 0;
            matcher_set_status_rank (a, r, up);
            matcher_set_status_rank (b, r, up);
        } else if (what == 17) {
            now += rnd (40);
            matcher_set_now (a, now);
            matcher_set_now (b, now);
        } else if (what == 18 && nlive > 0) {
            int64_t id = live[rnd ((unsigned)nlive)], end = now + 20 + rnd (100);
            int xa = matcher_extend (a, id, end), xb = matcher_extend (b, id, end);
            if (xa != xb) {
                printf ("# seed %llu extend differs\n", (unsigned long long)seed);
                okay = false;
            }
        } else if (what == 19 && nlive > 0) {
            int i = (int)rnd ((unsigned)nlive);
            int64_t rank = rnd ((unsigned)nn);
            bool fa = false, fb = false;
            int pa = matcher_partial_cancel (a, live[i], &rank, 1, &fa, err, sizeof err);
            int pb = matcher_partial_cancel (b, live[i], &rank, 1, &fb, err, sizeof err);
            if (pa != pb || fa != fb) {
                printf ("# seed %llu partial cancel differs\n", (unsigned long long)seed);
                okay = false;
            }
            if (pa == 0 && fa)
                live[i] = live[--nlive];
        }
    }
    *used += a->bb_used;
    if (b->bb_used != 0)
        okay = false;
    matcher_destroy (&a);
    matcher_destroy (&b);
    mgraph_destroy (&ga);
    mgraph_destroy (&gb);
    return okay;
}

int main (void)
{
    static const char *pols[] = { "low", "high" };
    for (int p = 0; p < 2; p++) {
        unsigned used = 0;
        int bad = 0;
        mismatches = compared = slotmatches = 0;
        for (uint64_t seed = 1; seed <= 60; seed++)
            if (!scenario (seed, pols[p], &used))
                bad++;
        ok (bad == 0, "%s: 60 random scenarios, %d matches: search and full traversal agree "
                      "(%d differ)",
            pols[p], compared, bad);
        ok (used * 2 > (unsigned)slotmatches,
            "%s: the search made most slot selections (%u of about %d slot matches)", pols[p],
            used, slotmatches);
    }

    /* the bench's shape in small: low takes core0 of every node before any core1 */
    int nn;
    mgraph_t *g = mgraph_new ();
    int root = mgraph_add_vertex (g, "cluster", "cluster", 0, 1, "", -1);
    for (int n = 0; n < 4; n++) {
        int node = mgraph_add_vertex (g, "node", "node", n, 1, "", n);
        mgraph_add_edge (g, root, node, "containment");
        for (int s = 0; s < 2; s++) {
            int sock = mgraph_add_vertex (g, "socket", "socket", s, 1, "", n);
            mgraph_add_edge (g, node, sock, "containment");
            for (int c = 0; c < 4; c++) {
                int v = mgraph_add_vertex (g, "core", "core", s * 4 + c, 1, "", n);
                mgraph_add_edge (g, sock, v, "containment");
            }
        }
    }
    (void)nn;
    char err[256];
    ok (mgraph_finalize (g, err, sizeof err) == 0, "4 nodes x 2 sockets x 4 cores");
    matcher_t *m = matcher_new (g, "low", "CA", NULL, err, sizeof err);
    mjobspec_t *js = slot_js ("core", 1, 1, 100);
    int64_t at;
    char *out = NULL;
    bool order = m && js;
    for (int i = 0; i < 8 && order; i++) {
        char want_node[32], want_core[32];
        snprintf (want_node, sizeof want_node, "node%d[1:s]", i % 4);
        snprintf (want_core, sizeof want_core, "core%d[1:x]", i / 4);
        order = matcher_match (m, js, MATCH_ALLOCATE, i + 1, &at, &out, err, sizeof err)
                    == MATCH_OK
                && strstr (out, want_node) && strstr (out, want_core);
        free (out);
    }
    ok (order, "low: core0 of node0..3, then core1 of node0..3");
    ok (m && m->bb_used == 8, "the search made those 8 selections (%u; graph %d nm %d unsafe %d)", m ? m->bb_used : 0, m->bb_graph, g->nmatchers, m->nunsafe);
    ok (m && m->preorder < 40, "the last one visited %u vertices of 45", m ? m->preorder : 0);
    mjobspec_destroy (&js);
    matcher_destroy (&m);
    mgraph_destroy (&g);
    return done ();
}
