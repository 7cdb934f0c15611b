/* topo.c - build tree topologies and answer routing questions about them.
 *
 * Parents are computed once into an array; children are kept as one
 * flattened array with per-rank offsets (CSR), so lookups are O(1).
 * Shape comparison (topo_isomorphic) labels both trees bottom-up without
 * recursion, so it works at any height.
 */
#include "topo.h"
#include "errquote.h"
#include "sbuf.h"
#include "xalloc.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOPO_MAX_SIZE (1u << 20)

struct topo {
    char spec[64];
    uint32_t size;
    uint32_t *parent;
    uint32_t *level;
    uint32_t *child_off;  /* size+1 offsets into child */
    uint32_t *child;
    uint32_t *subtree;    /* subtree sizes */
    uint32_t *pre;        /* preorder index (for subtree tests) */
    uint32_t height;
};

void topo_destroy (topo_t **p)
{
    if (p && *p) {
        topo_t *t = *p;
        free (t->parent);
        free (t->level);
        free (t->child_off);
        free (t->child);
        free (t->subtree);
        free (t->pre);
        free (t);
        *p = NULL;
    }
}

static int finish (topo_t *t, char *err, size_t errlen)
{
    uint32_t n = t->size;
    t->level = xcalloc (n, sizeof (uint32_t));
    t->child_off = xcalloc (n + 1, sizeof (uint32_t));
    t->child = xcalloc (n ? n : 1, sizeof (uint32_t));
    t->subtree = xcalloc (n, sizeof (uint32_t));
    t->pre = xcalloc (n, sizeof (uint32_t));
    uint32_t *fill = xcalloc (n + 1, sizeof (uint32_t));
    uint32_t *stack = xcalloc (n ? n : 1, sizeof (uint32_t));
    for (uint32_t r = 1; r < n; r++)
        t->child_off[t->parent[r] + 1]++;
    for (uint32_t r = 0; r < n; r++)
        t->child_off[r + 1] += t->child_off[r];
    for (uint32_t r = 1; r < n; r++) {
        uint32_t p = t->parent[r];
        t->child[t->child_off[p] + fill[p]++] = r;
    }
    /* iterative preorder from the root: levels, preorder numbers; also
     * detects ranks unreachable from 0 (a cycle in a custom topology) */
    uint32_t sp = 0, seen = 0;
    stack[sp++] = 0;
    while (sp) {
        uint32_t r = stack[--sp];
        t->pre[r] = seen++;
        for (uint32_t i = t->child_off[r + 1]; i-- > t->child_off[r];) {
            uint32_t c = t->child[i];
            t->level[c] = t->level[r] + 1;
            if (t->level[c] > t->height)
                t->height = t->level[c];
            stack[sp++] = c;
        }
    }
    if (seen != n) {
        snprintf (err, errlen, "custom topology is not a tree rooted at rank 0");
        free (fill);
        free (stack);
        return -1;
    }
    /* subtree sizes: children have larger preorder numbers, so sweep ranks in
     * decreasing preorder */
    uint32_t *bypre = fill; /* reuse */
    for (uint32_t r = 0; r < n; r++)
        bypre[t->pre[r]] = r;
    for (uint32_t i = n; i-- > 0;) {
        uint32_t r = bypre[i];
        t->subtree[r] += 1;
        if (r != 0)
            t->subtree[t->parent[r]] += t->subtree[r];
    }
    free (fill);
    free (stack);
    return 0;
}

topo_t *topo_create (const char *spec, uint32_t size, const uint32_t *parents, char *err,
                     size_t errlen)
{
    char dummy[8];
    if (!err) {
        err = dummy;
        errlen = sizeof dummy;
    }
    if (!spec) {
        snprintf (err, errlen, "no topology given");
        return NULL;
    }
    if (size == 0 || size > TOPO_MAX_SIZE) {
        snprintf (err, errlen, "size must be between 1 and %u", TOPO_MAX_SIZE);
        return NULL;
    }
    topo_t *t = xcalloc (1, sizeof *t);
    t->parent = xcalloc (size, sizeof (uint32_t));
    t->size = size;
    t->parent[0] = TOPO_NONE;
    if (!strncmp (spec, "kary:", 5)) {
        char *end;
        long k = strtol (spec + 5, &end, 10);
        /* digits only: strtol alone would take " 2", "+2", "\n2" */
        if (!isdigit ((unsigned char)spec[5]) || *end || k < 0 || k > 1000000) {
            char q[33];
            snprintf (err, errlen, "invalid topology '%s': kary:K needs 0 <= K",
                      errquote (q, sizeof q, spec, (size_t)-1));
            goto fail;
        }
        snprintf (t->spec, sizeof t->spec, "kary:%ld", k); /* "kary:002" -> "kary:2" */
        if (k == 0)
            k = size > 1 ? size - 1 : 1;
        for (uint32_t r = 1; r < size; r++)
            t->parent[r] = (r - 1) / k;
    }
    else if (!strcmp (spec, "binomial")) {
        for (uint32_t r = 1; r < size; r++)
            t->parent[r] = r & (r - 1);
        snprintf (t->spec, sizeof t->spec, "binomial");
    }
    else if (!strcmp (spec, "flat")) {
        for (uint32_t r = 1; r < size; r++)
            t->parent[r] = 0;
        snprintf (t->spec, sizeof t->spec, "flat");
    }
    else if (!strcmp (spec, "custom")) {
        if (!parents) {
            snprintf (err, errlen, "custom topology needs a parent for every rank");
            goto fail;
        }
        for (uint32_t r = 1; r < size; r++) {
            if (parents[r] >= size || parents[r] == r) {
                snprintf (err, errlen, "custom topology: rank %u has invalid parent", r);
                goto fail;
            }
            t->parent[r] = parents[r];
        }
        snprintf (t->spec, sizeof t->spec, "custom");
    }
    else {
        char q[33];
        snprintf (err, errlen, "unknown topology '%s' (expected kary:K, binomial, flat or custom)",
                  errquote (q, sizeof q, spec, (size_t)-1));
        goto fail;
    }
    if (finish (t, err, errlen) < 0)
        goto fail;
    return t;
fail:
    topo_destroy (&t);
    return NULL;
}

uint32_t topo_size (const topo_t *t) { return t->size; }
const char *topo_spec (const topo_t *t) { return t->spec; }
uint32_t topo_parent (const topo_t *t, uint32_t r) { return r < t->size ? t->parent[r] : TOPO_NONE; }
uint32_t topo_nchildren (const topo_t *t, uint32_t r)
{
    return r < t->size ? t->child_off[r + 1] - t->child_off[r] : 0;
}
const uint32_t *topo_children (const topo_t *t, uint32_t r) { return t->child + t->child_off[r]; }
uint32_t topo_level (const topo_t *t, uint32_t r) { return t->level[r]; }
uint32_t topo_height (const topo_t *t) { return t->height; }
uint32_t topo_subtree_size (const topo_t *t, uint32_t r) { return t->subtree[r]; }
bool topo_is_leaf (const topo_t *t, uint32_t r) { return topo_nchildren (t, r) == 0; }

bool topo_in_subtree (const topo_t *t, uint32_t anc, uint32_t r)
{
    if (anc >= t->size || r >= t->size)
        return false;
    return t->pre[r] >= t->pre[anc] && t->pre[r] < t->pre[anc] + t->subtree[anc];
}

uint32_t topo_next_hop (const topo_t *t, uint32_t self, uint32_t dest)
{
    if (dest == self)
        return self;
    if (!topo_in_subtree (t, self, dest))
        return t->parent[self];
    /* walk up from dest until the parent is self */
    uint32_t r = dest;
    while (t->parent[r] != self)
        r = t->parent[r];
    return r;
}

uint32_t topo_distance (const topo_t *t, uint32_t a, uint32_t b)
{
    uint32_t d = 0;
    while (a != b) {
        if (t->level[a] >= t->level[b])
            a = t->parent[a];
        else
            b = t->parent[b];
        d++;
    }
    return d;
}

static void draw (const topo_t *t, uint32_t r, sbuf_t *b, char *prefix, size_t plen,
                  int last, int root, topo_label_f label, topo_prune_f prune, void *arg)
{
    char line[512];
    prefix[plen] = '\0';
    sb_add (b, prefix);
    if (!root)
        sb_add (b, last ? "└─ " : "├─ ");
    const char *lab = label ? label (r, arg) : "";
    snprintf (line, sizeof line, "%u%s%s\n", r, *lab ? " " : "", lab);
    sb_add (b, line);
    if (prune && prune (r, arg))
        return;
    size_t np = plen;
    if (!root) {
        const char *ext = last ? "   " : "│  ";
        size_t k = strlen (ext);
        if (np + k < 4000) {
            memcpy (prefix + np, ext, k);
            np += k;
        }
    }
    uint32_t nc = topo_nchildren (t, r);
    const uint32_t *ch = topo_children (t, r);
    for (uint32_t i = 0; i < nc; i++)
        draw (t, ch[i], b, prefix, np, i == nc - 1, 0, label, prune, arg);
    prefix[plen] = '\0';
}

char *topo_draw (const topo_t *t, topo_label_f label, topo_prune_f prune, void *arg)
{
    sbuf_t b;
    sb_init (&b);
    char *prefix = xmalloc (4096);
    /* recursion depth is the tree height; a kary:1 chain of 1M would be too
     * deep, so draw only trees of sane height recursively */
    if (t->height < 10000)
        draw (t, 0, &b, prefix, 0, 1, 1, label, prune, arg);
    free (prefix);
    return sb_take (&b);
}

json_t *topo_to_json (const topo_t *t)
{
    json_t *levels = json_array ();
    for (uint32_t l = 0; l <= t->height; l++)
        json_array_append_new (levels, json_array ());
    for (uint32_t r = 0; r < t->size; r++)
        json_array_append_new (json_array_get (levels, t->level[r]), json_integer (r));
    json_t *parents = json_array ();
    for (uint32_t r = 0; r < t->size; r++)
        json_array_append_new (parents, r ? json_integer (t->parent[r]) : json_null ());
    return json_pack ("{s:s s:I s:I s:o s:o}", "spec", t->spec, "size", (json_int_t)t->size,
                      "height", (json_int_t)t->height, "levels", levels, "parents", parents);
}

/* Isomorphism by AHU, iteratively: level by level from the deepest, each
 * node of either tree gets an integer id naming the sorted tuple of its
 * children's ids; equal tuples get equal ids.  Ids are shared between the
 * two trees, so they are isomorphic iff their roots get the same id.
 * No recursion, so any height works; O(n log n). */
struct ahu_ent {
    const uint32_t *key; /* sorted child ids */
    uint32_t len;
    uint32_t *id;        /* where the assigned id goes */
};

static int ahu_cmp (const void *x, const void *y)
{
    const struct ahu_ent *a = x, *b = y;
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    for (uint32_t i = 0; i < a->len; i++)
        if (a->key[i] != b->key[i])
            return a->key[i] < b->key[i] ? -1 : 1;
    return 0;
}

static int u32_cmp (const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

/* ranks ordered by level: byl[lstart[l] .. lstart[l+1]) are at level l */
static void by_level (const topo_t *t, uint32_t *byl, uint32_t *lstart)
{
    memset (lstart, 0, (t->height + 2) * sizeof (uint32_t));
    for (uint32_t r = 0; r < t->size; r++)
        lstart[t->level[r] + 1]++;
    for (uint32_t l = 0; l <= t->height; l++)
        lstart[l + 1] += lstart[l];
    for (uint32_t r = 0; r < t->size; r++)
        byl[lstart[t->level[r]]++] = r;
    /* lstart[l] now holds the end of level l: shift back to starts */
    memmove (lstart + 1, lstart, (t->height + 1) * sizeof (uint32_t));
    lstart[0] = 0;
}

bool topo_isomorphic (const topo_t *a, const topo_t *b)
{
    if (a->size != b->size || a->height != b->height)
        return false;
    uint32_t n = a->size, h = a->height;
    const topo_t *tv[2] = { a, b };
    uint32_t *id[2], *byl[2], *ls[2];
    uint32_t *keys = xmalloc (2 * (size_t)n * sizeof (uint32_t));
    struct ahu_ent *ent = xmalloc (2 * (size_t)n * sizeof *ent);
    bool same = false;
    for (int k = 0; k < 2; k++) {
        id[k] = xmalloc (n * sizeof (uint32_t));
        byl[k] = xmalloc (n * sizeof (uint32_t));
        ls[k] = xmalloc ((h + 2) * sizeof (uint32_t));
    }
    if (!keys || !ent || !id[0] || !id[1] || !byl[0] || !byl[1] || !ls[0] || !ls[1])
        goto done; /* out of memory: cannot tell, say no */
    by_level (a, byl[0], ls[0]);
    by_level (b, byl[1], ls[1]);
    for (uint32_t l = h + 1; l-- > 0;) {
        if (ls[0][l + 1] - ls[0][l] != ls[1][l + 1] - ls[1][l])
            goto done; /* different number of nodes on this level */
        size_t ne = 0, nk = 0;
        for (int k = 0; k < 2; k++) {
            const topo_t *t = tv[k];
            for (uint32_t i = ls[k][l]; i < ls[k][l + 1]; i++) {
                uint32_t r = byl[k][i];
                uint32_t nc = t->child_off[r + 1] - t->child_off[r];
                uint32_t *key = keys + nk;
                for (uint32_t j = 0; j < nc; j++)
                    key[j] = id[k][t->child[t->child_off[r] + j]];
                qsort (key, nc, sizeof (uint32_t), u32_cmp);
                nk += nc;
                ent[ne++] = (struct ahu_ent){ .key = key, .len = nc, .id = &id[k][r] };
            }
        }
        qsort (ent, ne, sizeof *ent, ahu_cmp);
        uint32_t next = 0;
        for (size_t i = 0; i < ne; i++) {
            if (i > 0 && ahu_cmp (&ent[i - 1], &ent[i]) != 0)
                next++;
            *ent[i].id = next;
        }
    }
    same = id[0][0] == id[1][0];
done:
    for (int k = 0; k < 2; k++) {
        free (id[k]);
        free (byl[k]);
        free (ls[k]);
    }
    free (keys);
    free (ent);
    return same;
}

bool topo_same_shape (const topo_t *a, const topo_t *b)
{
    if (a->size != b->size)
        return false;
    for (uint32_t r = 1; r < a->size; r++)
        if (a->parent[r] != b->parent[r])
            return false;
    return true;
}
