/* test_topo.c - tree topologies: exact parent arrays, routing against a
 * brute-force path search, levels, subtrees, drawing, custom trees, AHU. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "topo.h"

/* ---- brute-force reference, computed only from the parent array ---- */

static uint32_t ref_depth (const uint32_t *par, uint32_t r)
{
    uint32_t d = 0;
    while (r != 0) {
        r = par[r];
        d++;
    }
    return d;
}

static int ref_is_ancestor (const uint32_t *par, uint32_t anc, uint32_t r)
{
    for (;;) {
        if (r == anc)
            return 1;
        if (r == 0)
            return 0;
        r = par[r];
    }
}

/* Full path a -> b (inclusive); returns its length in nodes. */
static uint32_t ref_path (const uint32_t *par, uint32_t n, uint32_t a, uint32_t b, uint32_t *path)
{
    uint32_t *up = malloc (n * sizeof *up), *down = malloc (n * sizeof *down);
    uint32_t nu = 0, nd = 0;
    /* climb from a until we reach an ancestor of b */
    uint32_t x = a;
    while (!ref_is_ancestor (par, x, b)) {
        up[nu++] = x;
        x = par[x];
    }
    uint32_t lca = x;
    uint32_t y = b;
    while (y != lca) {
        down[nd++] = y;
        y = par[y];
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < nu; i++)
        path[k++] = up[i];
    path[k++] = lca;
    for (uint32_t i = nd; i-- > 0;)
        path[k++] = down[i];
    free (up);
    free (down);
    return k;
}

/* Check every structural query of t against the reference parent array. */
static void check_against_ref (const topo_t *t, const uint32_t *par, const char *what)
{
    uint32_t n = topo_size (t);
    uint32_t *path = malloc (n * sizeof *path);
    int bad_parent = 0, bad_level = 0, bad_sub = 0, bad_in = 0, bad_hop = 0, bad_dist = 0,
        bad_kids = 0;
    uint32_t height = 0;
    for (uint32_t r = 0; r < n; r++) {
        uint32_t want = r == 0 ? TOPO_NONE : par[r];
        if (topo_parent (t, r) != want)
            bad_parent++;
        uint32_t d = ref_depth (par, r);
        if (d > height)
            height = d;
        if (topo_level (t, r) != d)
            bad_level++;
        /* children: exactly the ranks whose parent is r, ascending */
        uint32_t nk = 0, sub = 0;
        for (uint32_t c = 1; c < n; c++) {
            if (par[c] == r) {
                if (nk >= topo_nchildren (t, r) || topo_children (t, r)[nk] != c)
                    bad_kids++;
                nk++;
            }
        }
        if (nk != topo_nchildren (t, r) || (nk == 0) != topo_is_leaf (t, r))
            bad_kids++;
        for (uint32_t x = 0; x < n; x++) {
            int in = ref_is_ancestor (par, r, x);
            sub += in;
            if (topo_in_subtree (t, r, x) != (bool)in)
                bad_in++;
        }
        if (topo_subtree_size (t, r) != sub)
            bad_sub++;
    }
    for (uint32_t a = 0; a < n; a++) {
        for (uint32_t b = 0; b < n; b++) {
            uint32_t k = ref_path (par, n, a, b, path);
            uint32_t want = k == 1 ? a : path[1];
            if (topo_next_hop (t, a, b) != want)
                bad_hop++;
            if (topo_distance (t, a, b) != k - 1)
                bad_dist++;
        }
    }
    ok (!bad_parent, "%s: parents match reference", what);
    ok (!bad_level && topo_height (t) == height, "%s: levels and height (%u) match", what, height);
    ok (!bad_kids, "%s: children lists exact and ascending", what);
    ok (!bad_in && !bad_sub, "%s: in_subtree and subtree sizes match", what);
    ok (!bad_hop, "%s: next hop for all %u pairs matches brute-force path", what, n * n);
    ok (!bad_dist, "%s: distance for all pairs matches path length", what);
    free (path);
}

static topo_t *mk (const char *spec, uint32_t n)
{
    char err[128] = "";
    topo_t *t = topo_create (spec, n, NULL, err, sizeof err);
    if (!t)
        printf ("# topo_create %s %u: %s\n", spec, n, err);
    return t;
}

static int parents_are (const topo_t *t, const uint32_t *want, uint32_t n)
{
    if (topo_size (t) != n || topo_parent (t, 0) != TOPO_NONE)
        return 0;
    for (uint32_t r = 1; r < n; r++)
        if (topo_parent (t, r) != want[r])
            return 0;
    return 1;
}

static const char *lab (uint32_t rank, void *arg)
{
    static char buf[64];
    snprintf (buf, sizeof buf, "node%u: %s", rank, rank == 5 ? "lost" : "online");
    return buf;
}

static const char *nolab (uint32_t rank, void *arg)
{
    return "";
}

static bool prune_rank1 (uint32_t rank, void *arg)
{
    return rank == *(uint32_t *)arg;
}

int main (void)
{
    char err[160];
    topo_t *t;

    /* ---- exact parent arrays ---- */
    {
        uint32_t chain[6] = { 0, 0, 1, 2, 3, 4 };
        t = mk ("kary:1", 6);
        ok (t && parents_are (t, chain, 6), "kary:1 size 6 is a chain 0-1-2-3-4-5");
        ok (t && topo_height (t) == 5, "kary:1 size 6 height 5");
        topo_destroy (&t);
        ok (t == NULL, "topo_destroy clears the pointer");
    }
    {
        uint32_t k2[12] = { 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5 };
        for (uint32_t n = 1; n <= 12; n++) {
            t = mk ("kary:2", n);
            ok (t && parents_are (t, k2, n), "kary:2 size %u parents", n);
            topo_destroy (&t);
        }
        t = mk ("kary:2", 8);
        ok (t && topo_height (t) == 3, "kary:2 size 8 height 3");
        topo_destroy (&t);
    }
    {
        uint32_t k3[14] = { 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4 };
        t = mk ("kary:3", 14);
        ok (t && parents_are (t, k3, 14), "kary:3 size 14 parents");
        ok (t && topo_height (t) == 3, "kary:3 size 14 height 3");
        ok (t && topo_nchildren (t, 4) == 1 && topo_children (t, 4)[0] == 13,
            "kary:3 size 14: rank 4 has the single child 13");
        topo_destroy (&t);
    }
    {
        uint32_t b8[8] = { 0, 0, 0, 2, 0, 4, 4, 6 };
        t = mk ("binomial", 8);
        ok (t && parents_are (t, b8, 8), "binomial size 8 parents 0,0,2,0,4,4,6");
        ok (t && topo_height (t) == 3, "binomial size 8 height 3");
        ok (t && topo_nchildren (t, 0) == 3 && topo_subtree_size (t, 4) == 4,
            "binomial 8: root has 3 children, subtree(4) = 4");
        topo_destroy (&t);
        uint32_t b13[13] = { 0, 0, 0, 2, 0, 4, 4, 6, 0, 8, 8, 10, 8 };
        t = mk ("binomial", 13);
        ok (t && parents_are (t, b13, 13), "binomial size 13 parents");
        topo_destroy (&t);
        t = mk ("binomial", 1024);
        ok (t && topo_height (t) == 10 && topo_nchildren (t, 0) == 10,
            "binomial 1024: height 10, root degree 10");
        ok (t && topo_parent (t, 1023) == 1022 && topo_parent (t, 768) == 512,
            "binomial 1024: parent(1023)=1022, parent(768)=512");
        topo_destroy (&t);
    }
    {
        uint32_t fl[7] = { 0 };
        t = mk ("flat", 7);
        ok (t && parents_are (t, fl, 7) && topo_height (t) == 1 && topo_nchildren (t, 0) == 6,
            "flat size 7: every rank's parent is 0");
        topo_destroy (&t);
        t = mk ("kary:0", 7);
        ok (t && parents_are (t, fl, 7) && topo_height (t) == 1, "kary:0 is flat");
        topo_destroy (&t);
        t = mk ("kary:0", 1);
        ok (t && topo_size (t) == 1 && topo_height (t) == 0, "kary:0 size 1");
        topo_destroy (&t);
    }
    {
        t = mk ("kary:2", 1);
        ok (t && topo_parent (t, 0) == TOPO_NONE && topo_is_leaf (t, 0) && topo_height (t) == 0
                && topo_subtree_size (t, 0) == 1 && topo_next_hop (t, 0, 0) == 0,
            "size 1: lone root");
        ok (t && !strcmp (topo_spec (t), "kary:2"), "topo_spec echoes the spec");
        topo_destroy (&t);
        t = mk ("kary:2", 5);
        ok (t && topo_parent (t, 5) == TOPO_NONE && topo_nchildren (t, 99) == 0
                && !topo_in_subtree (t, 0, 5) && !topo_in_subtree (t, 5, 1),
            "out-of-range ranks: no parent, no children, in no subtree");
        topo_destroy (&t);
    }

    /* ---- routing and structure vs brute force ---- */
    {
        const char *specs[] = { "kary:1", "kary:2", "kary:3", "kary:0", "binomial", "flat" };
        uint32_t sizes[] = { 2, 7, 16, 23 };
        for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
            for (size_t j = 0; j < sizeof sizes / sizeof *sizes; j++) {
                uint32_t n = sizes[j];
                t = mk (specs[i], n);
                if (!t) {
                    ok (0, "%s size %u created", specs[i], n);
                    continue;
                }
                uint32_t *par = calloc (n, sizeof *par);
                for (uint32_t r = 1; r < n; r++) {
                    if (!strcmp (specs[i], "binomial"))
                        par[r] = r & (r - 1);
                    else if (!strcmp (specs[i], "flat") || !strcmp (specs[i], "kary:0"))
                        par[r] = 0;
                    else
                        par[r] = (r - 1) / (uint32_t)atoi (specs[i] + 5);
                }
                char what[64];
                snprintf (what, sizeof what, "%s size %u", specs[i], n);
                check_against_ref (t, par, what);
                free (par);
                topo_destroy (&t);
            }
        }
    }

    /* ---- custom ---- */
    {
        /* 0 -> 3 -> {1, 4}; 0 -> 2; 1 -> 5; 4 -> 6 */
        uint32_t par[7] = { 0, 3, 0, 0, 3, 1, 4 };
        t = topo_create ("custom", 7, par, err, sizeof err);
        ok (t != NULL, "custom tree accepted");
        if (t) {
            ok (!strcmp (topo_spec (t), "custom"), "custom spec");
            check_against_ref (t, par, "custom size 7");
            ok (topo_next_hop (t, 2, 6) == 0 && topo_next_hop (t, 0, 6) == 3
                    && topo_next_hop (t, 3, 6) == 4 && topo_next_hop (t, 6, 5) == 4,
                "custom: hand-checked hops 2->6 via 0, 0->6 via 3, 3->6 via 4, 6->5 via 4");
            ok (topo_distance (t, 5, 6) == 4 && topo_distance (t, 2, 5) == 4,
                "custom: distance 5..6 = 4, 2..5 = 4");
        }
        topo_destroy (&t);

        uint32_t cyc[3] = { 0, 2, 1 };
        err[0] = '\0';
        t = topo_create ("custom", 3, cyc, err, sizeof err);
        ok (t == NULL && strstr (err, "not a tree"), "custom 1<->2 cycle rejected: %s", err);
        uint32_t cyc2[6] = { 0, 0, 1, 5, 3, 4 }; /* 3->5->4->3 detached from root */
        err[0] = '\0';
        t = topo_create ("custom", 6, cyc2, err, sizeof err);
        ok (t == NULL && strstr (err, "not a tree"), "custom 3->5->4->3 cycle rejected: %s", err);
        uint32_t self[3] = { 0, 0, 2 };
        err[0] = '\0';
        t = topo_create ("custom", 3, self, err, sizeof err);
        ok (t == NULL && strstr (err, "rank 2"), "custom self-parent rejected: %s", err);
        uint32_t oor[3] = { 0, 0, 3 };
        err[0] = '\0';
        t = topo_create ("custom", 3, oor, err, sizeof err);
        ok (t == NULL && strstr (err, "rank 2") && strstr (err, "invalid parent"),
            "custom parent >= size rejected: %s", err);
        err[0] = '\0';
        t = topo_create ("custom", 3, NULL, err, sizeof err);
        ok (t == NULL && strstr (err, "parent"), "custom without parents rejected: %s", err);
        uint32_t one[1] = { 12345 };
        t = topo_create ("custom", 1, one, err, sizeof err);
        ok (t && topo_size (t) == 1, "custom size 1 ignores parents[0]");
        topo_destroy (&t);
    }

    /* ---- bad specs ---- */
    {
        const char *bad[] = { "kary:", "kary:x", "kary:-1", "kary:2x", "kary", "tree", "", "Flat",
                              "binomial:2", "kary:1\n", "flat\n" };
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
            err[0] = '\0';
            t = topo_create (bad[i], 4, NULL, err, sizeof err);
            ok (t == NULL && err[0] != '\0' && strchr (err, '\n') == NULL,
                "bad spec '%s' rejected: %s", bad[i], err);
            topo_destroy (&t);
        }
        err[0] = '\0';
        t = topo_create ("kary:2", 0, NULL, err, sizeof err);
        ok (t == NULL && strstr (err, "size"), "size 0 rejected: %s", err);
        err[0] = '\0';
        t = topo_create ("kary:2", (1u << 20) + 1, NULL, err, sizeof err);
        ok (t == NULL && strstr (err, "size"), "size 2^20+1 rejected: %s", err);
        err[0] = '\0';
        t = topo_create (NULL, 3, NULL, err, sizeof err);
        ok (t == NULL && err[0], "NULL spec rejected: %s", err);
        t = topo_create ("nope", 3, NULL, NULL, 0);
        ok (t == NULL, "NULL err buffer tolerated");
    }

    /* ---- drawing ---- */
    {
        t = mk ("kary:2", 8);
        char *s = topo_draw (t, NULL, NULL, NULL);
        const char *want = "0\n"
                           "├─ 1\n"
                           "│  ├─ 3\n"
                           "│  │  └─ 7\n"
                           "│  └─ 4\n"
                           "└─ 2\n"
                           "   ├─ 5\n"
                           "   └─ 6\n";
        ok (s && !strcmp (s, want), "kary:2 size 8 drawing exact");
        if (s && strcmp (s, want))
            printf ("# got:\n%s", s);
        free (s);
        s = topo_draw (t, nolab, NULL, NULL);
        ok (s && !strcmp (s, want), "empty labels draw like no labels");
        free (s);
        s = topo_draw (t, lab, NULL, NULL);
        const char *want2 = "0 node0: online\n"
                            "├─ 1 node1: online\n"
                            "│  ├─ 3 node3: online\n"
                            "│  │  └─ 7 node7: online\n"
                            "│  └─ 4 node4: online\n"
                            "└─ 2 node2: online\n"
                            "   ├─ 5 node5: lost\n"
                            "   └─ 6 node6: online\n";
        ok (s && !strcmp (s, want2), "kary:2 size 8 drawing with labels exact");
        if (s && strcmp (s, want2))
            printf ("# got:\n%s", s);
        free (s);
        uint32_t p1 = 1;
        s = topo_draw (t, NULL, prune_rank1, &p1);
        const char *want3 = "0\n"
                            "├─ 1\n"
                            "└─ 2\n"
                            "   ├─ 5\n"
                            "   └─ 6\n";
        ok (s && !strcmp (s, want3), "pruning rank 1 hides its subtree");
        free (s);
        uint32_t p0 = 0;
        s = topo_draw (t, NULL, prune_rank1, &p0);
        ok (s && !strcmp (s, "0\n"), "pruning the root draws only the root");
        free (s);
        topo_destroy (&t);

        t = mk ("binomial", 4);
        s = topo_draw (t, NULL, NULL, NULL);
        ok (s && !strcmp (s, "0\n├─ 1\n└─ 2\n   └─ 3\n"), "binomial 4 drawing exact");
        free (s);
        topo_destroy (&t);

        t = mk ("kary:1", 3000);
        s = topo_draw (t, NULL, NULL, NULL);
        size_t lines = 0;
        for (char *p = s; p && *p; p++)
            lines += *p == '\n';
        ok (s && lines == 3000, "kary:1 size 3000 chain draws 3000 lines (got %zu)", lines);
        ok (s && strstr (s, "└─ 2999\n"), "deep chain draws its last rank");
        free (s);
        topo_destroy (&t);
    }

    /* ---- JSON ---- */
    {
        t = mk ("kary:2", 6);
        json_t *j = topo_to_json (t);
        char *txt = j ? json_dumps (j, JSON_COMPACT) : NULL;
        ok (txt && !strcmp (txt, "{\"spec\":\"kary:2\",\"size\":6,\"height\":2,"
                                  "\"levels\":[[0],[1,2],[3,4,5]],"
                                  "\"parents\":[null,0,0,1,1,2]}"),
            "topo_to_json kary:2 size 6: %s", txt ? txt : "(null)");
        free (txt);
        json_decref (j);
        topo_destroy (&t);
    }

    /* ---- shape comparison ---- */
    {
        topo_t *a = mk ("kary:2", 4), *b = mk ("binomial", 4);
        uint32_t cp[4] = { 0, 0, 0, 1 };
        topo_t *c = topo_create ("custom", 4, cp, err, sizeof err);
        ok (topo_isomorphic (a, b) && !topo_same_shape (a, b),
            "kary:2 and binomial at size 4: isomorphic, not same numbering");
        ok (topo_same_shape (a, c) && topo_isomorphic (a, c), "kary:2 4 == custom [_,0,0,1]");
        topo_destroy (&a);
        topo_destroy (&b);
        topo_destroy (&c);

        a = mk ("kary:2", 8);
        b = mk ("binomial", 8);
        ok (!topo_isomorphic (a, b), "kary:2 and binomial at size 8 differ (root degree 2 vs 3)");
        topo_destroy (&b);
        b = mk ("kary:2", 9);
        ok (!topo_isomorphic (a, b) && !topo_same_shape (a, b), "different sizes never match");
        topo_destroy (&a);
        topo_destroy (&b);

        a = mk ("flat", 3);
        b = mk ("kary:2", 3);
        ok (topo_isomorphic (a, b) && topo_same_shape (a, b), "flat 3 == kary:2 3");
        topo_destroy (&a);
        topo_destroy (&b);

        /* same degree sequence per level, different shape:
         * A: 0->{1,2}, 1->{3,4}, 2->{}, 3->{5}   B: 0->{1,2}, 1->{3}, 2->{4}, 3->{5} */
        uint32_t pa[6] = { 0, 0, 0, 1, 1, 3 }, pb[6] = { 0, 0, 0, 1, 2, 3 };
        a = topo_create ("custom", 6, pa, err, sizeof err);
        b = topo_create ("custom", 6, pb, err, sizeof err);
        ok (a && b && !topo_isomorphic (a, b), "same size and height but not isomorphic");
        topo_destroy (&b);
        /* A renumbered: 0->{2,1}, 2->{4,3}, 4->{5} */
        uint32_t pc[6] = { 0, 0, 0, 2, 2, 4 };
        b = topo_create ("custom", 6, pc, err, sizeof err);
        ok (a && b && topo_isomorphic (a, b) && !topo_same_shape (a, b),
            "renumbered tree is isomorphic, not same shape");
        topo_destroy (&a);
        topo_destroy (&b);

        /* a deep chain, renumbered: still isomorphic whatever the height */
        uint32_t n = 2100;
        uint32_t *rev = malloc (n * sizeof *rev);
        /* chain 0 -> n-1 -> n-2 -> ... -> 1 */
        rev[1] = 2;
        for (uint32_t r = 2; r < n - 1; r++)
            rev[r] = r + 1;
        rev[n - 1] = 0;
        a = mk ("kary:1", n);
        b = topo_create ("custom", n, rev, err, sizeof err);
        ok (b && topo_height (b) == n - 1, "renumbered chain of %u has height %u", n, n - 1);
        ok (a && b && topo_isomorphic (a, b),
            "chains of height %u are isomorphic however numbered", n - 1);
        topo_destroy (&a);
        topo_destroy (&b);
        free (rev);
    }

    /* ---- large trees stay cheap ---- */
    {
        t = mk ("kary:16", 1u << 20);
        ok (t && topo_size (t) == 1u << 20 && topo_height (t) == 5, "kary:16 of 2^20 height 5");
        ok (t && topo_next_hop (t, 0, 1048575) == 15 && topo_subtree_size (t, 0) == 1u << 20,
            "kary:16 of 2^20: hop 0->1048575 via 15");
        topo_destroy (&t);
    }
    return done ();
}
