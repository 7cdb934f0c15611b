/* mgraph.c - the resource graph store: vertices, edges per subsystem, type
 * and subsystem name interning, and a path index.  Vertices may have any
 * number of parents; loaders (grug.c, jgf.c) fill it from text. */
#include "mint.h"
#include "fnv.h"
#include "xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mgraph_t *mgraph_new (void)
{
    return xcalloc (1, sizeof (mgraph_t));
}

static void vtx_free (mvtx_t *v, int nprune)
{
    free (v->basename);
    free (v->name);
    free (v->unit);
    for (int i = 0; i < v->nprops; i++) {
        free (v->props[i].key);
        free (v->props[i].val);
    }
    free (v->props);
    for (int i = 0; i < v->npaths; i++)
        free (v->paths[i].path);
    free (v->paths);
    free (v->out);
    free (v->in);
    mplan_free (&v->plan);
    mplan_free (&v->xchk);
    if (v->agg) {
        for (int i = 0; i < nprune; i++)
            mplan_free (&v->agg[i]);
        free (v->agg);
    }
    free (v->aggtot);
    free (v->bb);
}

void mgraph_destroy (mgraph_t **gp)
{
    if (!gp || !*gp)
        return;
    mgraph_t *g = *gp;
    for (int i = 0; i < g->nv; i++)
        vtx_free (&g->v[i], 0);
    free (g->v);
    for (int i = 0; i < g->ne; i++)
        free (g->e[i].relation);
    free (g->e);
    for (int i = 0; i < g->ntypes; i++)
        free (g->types[i]);
    free (g->types);
    for (int i = 0; i < g->nsubsys; i++)
        free (g->subsys[i]);
    free (g->subsys);
    for (int i = 0; i < g->hcap; i++)
        free (g->hkeys ? g->hkeys[i] : NULL);
    free (g->hkeys);
    free (g->hvals);
    free (g->roots);
    free (g);
    *gp = NULL;
}

static int intern (char ***tab, int *n, int *cap, const char *s)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp ((*tab)[i], s))
            return i;
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 16;
        *tab = xrealloc (*tab, sizeof (char *) * nc);
        *cap = nc;
    }
    (*tab)[*n] = xstrdup (s);
    return (*n)++;
}

int mg_intern_type (mgraph_t *g, const char *type)
{
    return intern (&g->types, &g->ntypes, &g->captypes, type);
}

int mg_type_lookup (const mgraph_t *g, const char *type)
{
    for (int i = 0; i < g->ntypes; i++)
        if (!strcmp (g->types[i], type))
            return i;
    return -1;
}

int mg_intern_subsys (mgraph_t *g, const char *name)
{
    int n0 = g->nsubsys;
    int s = intern (&g->subsys, &g->nsubsys, &g->capsubsys, name);
    if (s >= 0 && g->nsubsys != n0) {
        g->roots = xrealloc (g->roots, sizeof (int) * g->nsubsys);
        g->roots[s] = -1;
    }
    return s;
}

int mg_subsys_lookup (const mgraph_t *g, const char *name)
{
    for (int i = 0; i < g->nsubsys; i++)
        if (!strcmp (g->subsys[i], name))
            return i;
    return -1;
}

static uint64_t hash (const char *s)
{
    return fnv1a_str (s);
}

static int hput (mgraph_t *g, const char *key, int val)
{
    if ((g->hn + 1) * 2 > g->hcap) {
        int ncap = g->hcap ? g->hcap * 2 : 1024;
        char **nk = xcalloc (ncap, sizeof (char *));
        int *nv = xcalloc (ncap, sizeof (int));
        for (int i = 0; i < g->hcap; i++) {
            if (!g->hkeys[i])
                continue;
            uint64_t h = hash (g->hkeys[i]) & (ncap - 1);
            while (nk[h])
                h = (h + 1) & (ncap - 1);
            nk[h] = g->hkeys[i];
            nv[h] = g->hvals[i];
        }
        free (g->hkeys);
        free (g->hvals);
        g->hkeys = nk;
        g->hvals = nv;
        g->hcap = ncap;
    }
    uint64_t h = hash (key) & (g->hcap - 1);
    while (g->hkeys[h]) {
        if (!strcmp (g->hkeys[h], key)) {
            if (g->hvals[h] < 0)   /* the path of a removed vertex: reuse */
                g->hvals[h] = val;
            return 0;   /* first vertex with a path keeps it */
        }
        h = (h + 1) & (g->hcap - 1);
    }
    g->hkeys[h] = xstrdup (key);
    g->hvals[h] = val;
    g->hn++;
    return 0;
}

static int hget (const mgraph_t *g, const char *path)
{
    if (!g->hcap || !path)
        return -1;
    uint64_t h = hash (path) & (g->hcap - 1);
    while (g->hkeys[h]) {
        if (!strcmp (g->hkeys[h], path))
            return g->hvals[h];
        h = (h + 1) & (g->hcap - 1);
    }
    return -1;
}

/* the last component of v's path in s (else its name), and its length */
static const char *last_comp (const mgraph_t *g, int v, int s, size_t *n)
{
    const char *p = mg_path (g, v, s);
    if (!p) {
        *n = strlen (g->v[v].name);
        return g->v[v].name;
    }
    const char *sl = strrchr (p, '/');
    p = sl ? sl + 1 : p;
    *n = strlen (p);
    return p;
}

/* A vertex with several parents has one path written in the graph, but
 * every parent's path names it: walk the components down from the root of
 * each subsystem, taking at each step the child whose own last component
 * is the next one (iterative; at most one step per component). */
static int walk_path (const mgraph_t *g, const char *path)
{
    if (path[0] != '/')
        return -1;
    for (int s = 0; s < g->nsubsys; s++) {
        int cur = g->roots ? g->roots[s] : -1;
        if (cur < 0)
            continue;
        const char *c = path + 1;
        const char *e = strchr (c, '/');
        size_t cl = e ? (size_t)(e - c) : strlen (c), ln;
        const char *rc = last_comp (g, cur, s, &ln);
        if (ln != cl || strncmp (rc, c, cl))
            continue;
        while (cur >= 0 && e) {
            c = e + 1;
            e = strchr (c, '/');
            cl = e ? (size_t)(e - c) : strlen (c);
            int next = -1;
            const mvtx_t *x = &g->v[cur];
            for (int i = 0; i < x->nout && next < 0; i++) {
                const medge_t *ed = &g->e[x->out[i]];
                if (ed->subsys != s)
                    continue;
                const char *lc = last_comp (g, ed->dst, s, &ln);
                if (ln == cl && !strncmp (lc, c, cl))
                    next = ed->dst;
            }
            cur = next;
        }
        if (cur >= 0)
            return cur;
    }
    return -1;
}

int mgraph_find_path (const mgraph_t *g, const char *path)
{
    if (!path)
        return -1;
    int v = hget (g, path);
    return v >= 0 ? v : walk_path (g, path);
}

int mg_add_path (mgraph_t *g, int v, int subsys, const char *path)
{
    mvtx_t *x = &g->v[v];
    mpath_t *p = x->paths = xrealloc (x->paths, sizeof (*p) * (x->npaths + 1));
    p[x->npaths].subsys = subsys;
    p[x->npaths].path = xstrdup (path);
    x->npaths++;
    return hput (g, path, v);
}

const char *mg_path (const mgraph_t *g, int v, int subsys)
{
    const mvtx_t *x = &g->v[v];
    for (int i = 0; i < x->npaths; i++)
        if (x->paths[i].subsys == subsys)
            return x->paths[i].path;
    return NULL;
}

int mg_set_prop (mgraph_t *g, int v, const char *k, const char *val)
{
    mvtx_t *x = &g->v[v];
    for (int i = 0; i < x->nprops; i++) {
        if (!strcmp (x->props[i].key, k)) {
            free (x->props[i].val);
            x->props[i].val = xstrdup (val);
            return 0;
        }
    }
    mprop_t *p = x->props = xrealloc (x->props, sizeof (*p) * (x->nprops + 1));
    p[x->nprops].key = xstrdup (k);
    p[x->nprops].val = xstrdup (val);
    x->nprops++;
    return 0;
}

int mgraph_add_vertex_full (mgraph_t *g, const char *type, const char *basename,
                            const char *name, int64_t id, int64_t uniq_id, int64_t size,
                            const char *unit, int rank)
{
    if (g->nv == g->capv) {
        int nc = g->capv ? g->capv * 2 : 64;
        g->v = xrealloc (g->v, sizeof (*g->v) * nc);
        g->capv = nc;
    }
    int t = mg_intern_type (g, type);
    if (t < 0)
        return -1;
    mvtx_t *x = &g->v[g->nv];
    memset (x, 0, sizeof (*x));
    x->type = t;
    x->basename = xstrdup (basename ? basename : type);
    if (name)
        x->name = xstrdup (name);
    else {
        char buf[64];
        if (id >= 0)
            snprintf (buf, sizeof (buf), "%lld", (long long)id);
        else
            buf[0] = '\0';
        size_t n = strlen (x->basename) + strlen (buf) + 1;
        x->name = xmalloc (n);
        snprintf (x->name, n, "%s%s", x->basename, buf);
    }
    x->unit = xstrdup (unit ? unit : "");
    x->id = id;
    x->uniq_id = uniq_id >= 0 ? uniq_id : g->nv;
    x->size = size;
    x->rank = rank;
    x->up = true;
    x->plan.total = size;
    x->xchk.total = 1 << 30;
    return g->nv++;
}

int mgraph_add_vertex (mgraph_t *g, const char *type, const char *basename, int64_t id,
                       int64_t size, const char *unit, int rank)
{
    return mgraph_add_vertex_full (g, type, basename, NULL, id, -1, size, unit, rank);
}

static int push_int (int **a, int *n, int *cap, int x)
{
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 4;
        *a = xrealloc (*a, sizeof (int) * nc);
        *cap = nc;
    }
    (*a)[(*n)++] = x;
    return 0;
}

int mgraph_add_edge (mgraph_t *g, int src, int dst, const char *subsystem)
{
    if (src < 0 || dst < 0 || src >= g->nv || dst >= g->nv)
        return -1;
    int s = mg_intern_subsys (g, subsystem ? subsystem : "containment");
    if (s < 0)
        return -1;
    /* one edge per (src, dst, subsystem): look through the shorter of src's
     * out-edges and dst's in-edges (a wide node's children have one parent) */
    mvtx_t *x = &g->v[src], *y = &g->v[dst];
    bool by_in = y->nin < x->nout;
    for (int i = 0; i < (by_in ? y->nin : x->nout); i++) {
        int ei = by_in ? y->in[i] : x->out[i];
        medge_t *e = &g->e[ei];
        if (e->src == src && e->dst == dst && e->subsys == s)
            return ei;
    }
    if (g->ne == g->cape) {
        int nc = g->cape ? g->cape * 2 : 64;
        g->e = xrealloc (g->e, sizeof (*g->e) * nc);
        g->cape = nc;
    }
    medge_t *e = &g->e[g->ne];
    e->src = src;
    e->dst = dst;
    e->subsys = s;
    e->pos = x->nout;
    e->relation = NULL;
    if (push_int (&x->out, &x->nout, &x->capout, g->ne) < 0
        || push_int (&g->v[dst].in, &g->v[dst].nin, &g->v[dst].capin, g->ne) < 0)
        return -1;
    return g->ne++;
}

int mgraph_nvertices (const mgraph_t *g)
{
    return g->nv;
}

int mgraph_nedges (const mgraph_t *g)
{
    return g->ne;
}

const char *mgraph_vertex_name (const mgraph_t *g, int v)
{
    return (v >= 0 && v < g->nv) ? g->v[v].name : NULL;
}

const char *mgraph_vertex_type (const mgraph_t *g, int v)
{
    return (v >= 0 && v < g->nv) ? g->types[g->v[v].type] : NULL;
}

const char *mg_vname (const mgraph_t *g, int v)
{
    for (int i = 0; i < g->v[v].npaths; i++)
        if (g->v[v].paths[i].path)
            return g->v[v].paths[i].path;
    return g->v[v].name;
}

int *mg_topo (const mgraph_t *g, int s, int *n, int *cyc)
{
    int nv = g->nv;
    int *indeg = xcalloc (nv ? nv : 1, sizeof (int));
    int *order = xmalloc (sizeof (int) * (nv ? nv : 1));
    *n = 0;
    if (!indeg || !order) {
        free (indeg);
        free (order);
        return NULL;
    }
    for (int e = 0; e < g->ne; e++)
        if (g->e[e].subsys == s)
            indeg[g->e[e].dst]++;
    int k = 0;
    for (int v = 0; v < nv; v++)
        if (!g->v[v].removed && indeg[v] == 0)
            order[k++] = v;
    for (int h = 0; h < k; h++) {
        const mvtx_t *x = &g->v[order[h]];
        for (int i = 0; i < x->nout; i++) {
            const medge_t *e = &g->e[x->out[i]];
            if (e->subsys == s && --indeg[e->dst] == 0)
                order[k++] = e->dst;
        }
    }
    int left = -1;
    for (int v = 0; v < nv && left < 0; v++)
        if (!g->v[v].removed && indeg[v] > 0)
            left = v;
    if (left >= 0) {
        /* walk back through unfinished parents: after nv steps we are on the cycle */
        for (int step = 0; step < nv; step++) {
            const mvtx_t *x = &g->v[left];
            for (int i = 0; i < x->nin; i++) {
                const medge_t *e = &g->e[x->in[i]];
                if (e->subsys == s && indeg[e->src] > 0) {
                    left = e->src;
                    break;
                }
            }
        }
        if (cyc)
            *cyc = left;
        free (indeg);
        free (order);
        return NULL;
    }
    free (indeg);
    *n = k;
    return order;
}

typedef struct {
    int64_t uniq;
    int v;
} uv_t;

static int uniq_cmp (const void *a, const void *b)
{
    const uv_t *x = a, *y = b;
    if (x->uniq != y->uniq)
        return x->uniq < y->uniq ? -1 : 1;
    return x->v - y->v;
}

/* refuse what the traversals cannot treat: sizes beyond 32 bits, a cycle,
 * chains deeper than MG_MAXDEPTH, one uniq_id on two vertices; each error
 * names a vertex (two containment roots: mgraph_finalize; one path written
 * on two vertices: jgf.c) */
static int validate (mgraph_t *g, char *err, size_t errlen)
{
    for (int v = 0; v < g->nv; v++) {
        if (g->v[v].removed)
            continue;
        if (g->v[v].size > MG_MAXSIZE) {
            snprintf (err, errlen, "vertex %s: size %lld is above the limit %lld",
                      mg_vname (g, v), (long long)g->v[v].size, MG_MAXSIZE);
            return -1;
        }
    }
    uv_t *idx = xmalloc (sizeof (uv_t) * g->nv);
    int ni = 0;
    for (int v = 0; v < g->nv; v++)
        if (!g->v[v].removed)
            idx[ni++] = (uv_t){g->v[v].uniq_id, v};
    qsort (idx, ni, sizeof (uv_t), uniq_cmp);
    for (int i = 1; i < ni; i++) {
        if (idx[i].uniq == idx[i - 1].uniq) {
            snprintf (err, errlen, "uniq_id %lld is on two vertices (%s and %s)",
                      (long long)idx[i].uniq, mg_vname (g, idx[i - 1].v), mg_vname (g, idx[i].v));
            free (idx);
            return -1;
        }
    }
    free (idx);
    int *depth = xcalloc (g->nv, sizeof (int));
    for (int s = 0; s < g->nsubsys; s++) {
        int n, cyc = -1;
        int *order = mg_topo (g, s, &n, &cyc);
        if (!order) {
            if (cyc >= 0)
                snprintf (err, errlen, "%s: the edges form a cycle through vertex %s",
                          g->subsys[s], mg_vname (g, cyc));
            else
                snprintf (err, errlen, "out of memory");
            free (depth);
            return -1;
        }
        memset (depth, 0, sizeof (int) * g->nv);
        for (int i = 0; i < n; i++) {
            const mvtx_t *x = &g->v[order[i]];
            for (int k = 0; k < x->nout; k++) {
                const medge_t *e = &g->e[x->out[k]];
                if (e->subsys != s || depth[e->dst] > depth[order[i]])
                    continue;
                depth[e->dst] = depth[order[i]] + 1;
                if (depth[e->dst] > MG_MAXDEPTH) {
                    snprintf (err, errlen, "%s: vertex %s is deeper than the limit of %d levels",
                              g->subsys[s], mg_vname (g, e->dst), MG_MAXDEPTH);
                    free (order);
                    free (depth);
                    return -1;
                }
            }
        }
        free (order);
    }
    free (depth);
    return 0;
}

/* Give every vertex reachable from a root a path in each subsystem (if the
 * loader did not), and find each subsystem's root: a vertex with no in-edge
 * in that subsystem but with out-edges there (or the first vertex). */
int mgraph_finalize (mgraph_t *g, char *err, size_t errlen)
{
    if (g->nv == 0) {
        snprintf (err, errlen, "resource graph is empty");
        return -1;
    }
    if (g->nsubsys == 0 && mg_intern_subsys (g, "containment") < 0)
        return -1;
    for (int s = 0; s < g->nsubsys; s++) {
        if (g->roots[s] >= 0)
            continue;
        for (int v = 0; v < g->nv && g->roots[s] < 0; v++) {
            bool has_in = false, has_out = false;
            for (int i = 0; i < g->v[v].nin; i++)
                if (g->e[g->v[v].in[i]].subsys == s)
                    has_in = true;
            for (int i = 0; i < g->v[v].nout; i++)
                if (g->e[g->v[v].out[i]].subsys == s)
                    has_out = true;
            if (!has_in && (has_out || g->nv == 1))
                g->roots[s] = v;
        }
    }
    int cont = mg_subsys_lookup (g, "containment");
    if (cont >= 0 && g->nv > 1) {
        /* one containment root: every other vertex placed in containment
         * (a path or an edge there) has a parent there */
        int first = -1;
        for (int v = 0; v < g->nv; v++) {
            if (g->v[v].removed)
                continue;
            bool has_in = false, placed = mg_path (g, v, cont) != NULL;
            for (int i = 0; i < g->v[v].nin && !has_in; i++)
                has_in = g->e[g->v[v].in[i]].subsys == cont;
            for (int i = 0; i < g->v[v].nout && !placed; i++)
                placed = g->e[g->v[v].out[i]].subsys == cont;
            if (has_in || !placed)
                continue;
            if (first >= 0) {
                snprintf (err, errlen, "containment has two roots: %s and %s",
                          mg_vname (g, first), mg_vname (g, v));
                return -1;
            }
            first = v;
        }
    }
    /* before paths are made: a chain too deep would make them quadratic */
    if (validate (g, err, errlen) < 0)
        return -1;
    if (cont >= 0 && g->roots[cont] < 0) {
        /* a lone vertex or a cycle: take vertex 0 */
        g->roots[cont] = 0;
    }
    /* paths by breadth-first walk from each root where missing */
    int *queue = xmalloc (sizeof (int) * g->nv);
    char *seen = xcalloc (g->nv, 1);
    for (int s = 0; s < g->nsubsys; s++) {
        int r = g->roots[s];
        if (r < 0)
            continue;
        memset (seen, 0, g->nv);
        int qh = 0, qt = 0;
        queue[qt++] = r;
        seen[r] = 1;
        if (!mg_path (g, r, s)) {
            char *p = xmalloc (strlen (g->v[r].name) + 2);
            sprintf (p, "/%s", g->v[r].name);
            mg_add_path (g, r, s, p);
            free (p);
        }
        while (qh < qt) {
            int u = queue[qh++];
            const char *up = mg_path (g, u, s);
            for (int i = 0; i < g->v[u].nout; i++) {
                medge_t *e = &g->e[g->v[u].out[i]];
                if (e->subsys != s || seen[e->dst])
                    continue;
                seen[e->dst] = 1;
                queue[qt++] = e->dst;
                if (!mg_path (g, e->dst, s) && up) {
                    size_t n = strlen (up) + strlen (g->v[e->dst].name) + 2;
                    char *p = xmalloc (n);
                    snprintf (p, n, "%s/%s", up, g->v[e->dst].name);
                    mg_add_path (g, e->dst, s, p);
                    free (p);
                }
            }
        }
    }
    free (queue);
    free (seen);
    return 0;
}

/* detach vertex v: drop every edge touching it (edges keep their slot with
 * subsystem -1, so indices stay valid) and forget its paths */
void mg_clear_vertex (mgraph_t *g, int v)
{
    mvtx_t *x = &g->v[v];
    x->removed = true;
    for (int i = 0; i < x->nout; i++)
        g->e[x->out[i]].subsys = -1;
    for (int i = 0; i < x->nin; i++)
        g->e[x->in[i]].subsys = -1;
    for (int i = 0; i < x->npaths; i++) {
        const char *path = x->paths[i].path;
        if (!g->hcap)
            break;
        uint64_t h = hash (path) & (g->hcap - 1);
        while (g->hkeys[h]) {
            if (!strcmp (g->hkeys[h], path)) {
                if (g->hvals[h] == v)
                    g->hvals[h] = -1;
                break;
            }
            h = (h + 1) & (g->hcap - 1);
        }
    }
}
