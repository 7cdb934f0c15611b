/* fuzz_topo.c - topology specs (a config's `topology:`, `canopy topo SPEC`)
 * into topo_create, then every routing question on the tree: no crash, no
 * hang, one-line errors, and answers consistent with the parent array.
 * Input: "SPEC\nSIZE[\nP1 P2 ...]" (parents of ranks 1.. for "custom"). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "topo.h"

static const char *label (uint32_t rank, void *arg)
{
    (void)arg;
    return rank % 3 ? "online" : "offline";
}

static bool prune (uint32_t rank, void *arg)
{
    (void)arg;
    return rank % 5 == 4;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size > 16384)
        return 0;
    char *text = malloc (size + 1);
    if (!text)
        return 0;
    memcpy (text, data, size);
    text[size] = '\0';
    char *nl = strchr (text, '\n');
    const char *spec = text;
    uint32_t n = 1;
    uint32_t *parents = NULL;
    if (nl) {
        *nl = '\0';
        char *p = nl + 1, *end;
        unsigned long v = strtoul (p, &end, 10);
        n = v > 2048 ? 2048 : (uint32_t)v; /* keep each run fast */
        p = end;
        if (*p == '\n' && n > 0) {
            parents = calloc (n, sizeof (uint32_t));
            for (uint32_t r = 1; parents && r < n; r++) {
                parents[r] = (uint32_t)strtoul (p, &end, 10);
                if (end == p)
                    break;
                p = end;
            }
        }
    }
    char err[256] = "";
    topo_t *t = topo_create (spec, n, parents, err, sizeof err);
    if (!t && (!err[0] || strchr (err, '\n')))
        abort (); /* bad input gets one line of error */
    if (t) {
        uint32_t sz = topo_size (t), sum = 0;
        if (sz != n || topo_parent (t, 0) != TOPO_NONE)
            abort ();
        for (uint32_t r = 0; r < sz; r++) {
            uint32_t nc = topo_nchildren (t, r);
            const uint32_t *ch = topo_children (t, r);
            for (uint32_t i = 0; i < nc; i++)
                if (topo_parent (t, ch[i]) != r || topo_level (t, ch[i]) != topo_level (t, r) + 1)
                    abort ();
            if (topo_level (t, r) > topo_height (t) || !topo_in_subtree (t, 0, r))
                abort ();
            if (topo_is_leaf (t, r) != (nc == 0))
                abort ();
            sum += nc;
        }
        if (sum != sz - 1 || topo_subtree_size (t, 0) != sz)
            abort ();
        for (uint32_t i = 0; i < 16 && sz > 1; i++) {
            uint32_t a = (i * 2654435761u) % sz, b = (i * 40503u + 7) % sz;
            uint32_t hop = topo_next_hop (t, a, b), d = topo_distance (t, a, b);
            if ((a == b) != (hop == a) || (a == b) != (d == 0))
                abort ();
            if (a != b && topo_distance (t, hop, b) != d - 1)
                abort ();
        }
        if (sz <= 512) {
            char *s = topo_draw (t, label, prune, NULL);
            free (s);
        }
        json_t *j = topo_to_json (t);
        json_decref (j);
        topo_t *t2 = topo_create (topo_spec (t), sz, parents, err, sizeof err);
        if (!t2 || !topo_same_shape (t, t2) || !topo_isomorphic (t, t2))
            abort (); /* its own spec makes the same tree */
        topo_destroy (&t2);
        topo_destroy (&t);
    }
    free (parents);
    free (text);
    return 0;
}
