/* rwriters.c - JSON forms of a match: JGF (vertices with metadata, edges
 * per subsystem) and R_lite (per rank: core and gpu id sets). */
#include "mdfu.h"
#include "xalloc.h"
#include "hostlist.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* one vertex as Fluxion's JGF writer prints it: type, basename when it is
 * not the type, id, rank, exclusive when true, size when not 1, paths */
json_t *mw_jgf_vertex (matcher_t *m, int v, int64_t size, bool excl, const char *dompath)
{
    mgraph_t *g = m->g;
    mvtx_t *x = &g->v[v];
    char idbuf[32];
    snprintf (idbuf, sizeof (idbuf), "%lld", (long long)x->uniq_id);
    json_t *md = json_object ();
    json_object_set_new (md, "type", json_string (g->types[x->type]));
    if (strcmp (x->basename, g->types[x->type]))
        json_object_set_new (md, "basename", json_string (x->basename));
    json_object_set_new (md, "id", json_integer (x->id));
    json_object_set_new (md, "rank", json_integer (x->rank));
    if (excl)
        json_object_set_new (md, "exclusive", json_true ());
    if (size != 1)
        json_object_set_new (md, "size", json_integer (size));
    json_t *paths = json_object ();
    for (int i = 0; i < x->npaths; i++)
        json_object_set_new (paths, g->subsys[x->paths[i].subsys],
                             json_string (dompath && x->paths[i].subsys == m->dom
                                              ? dompath
                                              : x->paths[i].path));
    json_object_set_new (md, "paths", paths);
    return json_pack ("{s:s s:o}", "id", idbuf, "metadata", md);
}

/* the path of record i in the dominant subsystem along the parents the
 * match went through: a vertex with several parents is written with the
 * path of the one it was reached by (its own path when that agrees) */
static void rec_paths (matcher_t *m, const mrec_t *r, int n, char **paths)
{
    mgraph_t *g = m->g;
    for (int i = n - 1; i >= 0; i--) {   /* post-order: parents come later */
        const char *own = mg_path (g, r[i].v, m->dom);
        int p = r[i].parent;
        paths[i] = NULL;
        if (p <= i || p >= n || !paths[p] || !own) {
            paths[i] = own ? xstrdup (own) : NULL;
            continue;
        }
        size_t pl = strlen (paths[p]);
        if (!strncmp (own, paths[p], pl) && own[pl] == '/' && !strchr (own + pl + 1, '/')) {
            paths[i] = xstrdup (own);
            continue;
        }
        const char *last = strrchr (own, '/');
        last = last ? last + 1 : own;
        size_t len = pl + strlen (last) + 2;
        paths[i] = xmalloc (len);
        snprintf (paths[i], len, "%s/%s", paths[p], last);
    }
}

json_t *mw_jgf (matcher_t *m, const mrec_t *r, int n)
{
    mgraph_t *g = m->g;
    json_t *nodes = json_array (), *edges = json_array ();
    char **paths = xcalloc (n ? n : 1, sizeof (char *));
    rec_paths (m, r, n, paths);
    for (int i = 0; i < n; i++) {
        json_array_append_new (nodes, mw_jgf_vertex (m, r[i].v, r[i].needs, r[i].excl, paths[i]));
        free (paths[i]);
    }
    free (paths);
    for (int i = 0; i < n; i++) {
        if (r[i].pedge < 0)
            continue;
        medge_t *e = &g->e[r[i].pedge];
        char s[32], t[32];
        snprintf (s, sizeof (s), "%lld", (long long)g->v[e->src].uniq_id);
        snprintf (t, sizeof (t), "%lld", (long long)g->v[e->dst].uniq_id);
        json_array_append_new (edges, json_pack ("{s:s s:s}", "source", s, "target", t));
    }
    return json_pack ("{s:{s:o s:o}}", "graph", "nodes", nodes, "edges", edges);
}

/* idset string of sorted unique ids */
static char *idset_str (int64_t *ids, int n)
{
    for (int i = 1; i < n; i++) {
        int64_t x = ids[i];
        int j = i - 1;
        while (j >= 0 && ids[j] > x) {
            ids[j + 1] = ids[j];
            j--;
        }
        ids[j + 1] = x;
    }
    sbuf_t b;
    sb_init (&b);
    int i = 0;
    bool first = true;
    while (i < n) {
        int j = i;
        while (j + 1 < n && ids[j + 1] <= ids[j] + 1)
            j++;
        if (!first)
            sb_add (&b, ",");
        first = false;
        if (ids[j] == ids[i])
            sb_printf (&b, "%lld", (long long)ids[i]);
        else
            sb_printf (&b, "%lld-%lld", (long long)ids[i], (long long)ids[j]);
        i = j + 1;
    }
    return sb_take (&b);
}

json_t *mw_rlite (matcher_t *m, const mrec_t *r, int n)
{
    mgraph_t *g = m->g;
    int core = mg_type_lookup (g, "core"), gpu = mg_type_lookup (g, "gpu");
    int node = mg_type_lookup (g, "node");
    json_t *arr = json_array ();
    /* one entry per node record, in emission order */
    for (int i = 0; i < n; i++) {
        if (g->v[r[i].v].type != node)
            continue;
        int64_t *cores = xmalloc (sizeof (int64_t) * n), *gpus = xmalloc (sizeof (int64_t) * n);
        int nc = 0, ng = 0;
        for (int k = 0; k < n; k++) {
            int p = k;
            while (p >= 0 && p != i)
                p = r[p].parent;
            if (p != i || k == i)
                continue;
            if (g->v[r[k].v].type == core && r[k].excl)
                cores[nc++] = g->v[r[k].v].id;
            if (g->v[r[k].v].type == gpu && r[k].excl)
                gpus[ng++] = g->v[r[k].v].id;
        }
        json_t *children = json_object ();
        char *cs = idset_str (cores, nc), *gs = idset_str (gpus, ng);
        if (nc)
            json_object_set_new (children, "core", json_string (cs));
        if (ng)
            json_object_set_new (children, "gpu", json_string (gs));
        free (cs);
        free (gs);
        free (cores);
        free (gpus);
        char rk[32];
        snprintf (rk, sizeof (rk), "%d", g->v[r[i].v].rank);
        json_array_append_new (arr, json_pack ("{s:s s:s s:o}", "rank", rk, "node",
                                               g->v[r[i].v].name, "children", children));
    }
    return arr;
}

/* R's execution key as Flux writes it (rv1): ranks with identical children
 * share one R_lite entry (entries with more ranks first), nodelist is the
 * host names in rank order, compressed. */
typedef struct {
    int rank;
    const char *host;
    char *children;   /* canonical JSON text of the children object */
    json_t *cobj;
} rnode_t;

static int rnode_cmp (const void *a, const void *b)
{
    const rnode_t *x = a, *y = b;
    return x->rank - y->rank;
}

json_t *mw_rv1_execution (matcher_t *m, const mrec_t *r, int n, int64_t at, int64_t dur)
{
    json_t *rl = mw_rlite (m, r, n);
    size_t nn = json_array_size (rl);
    rnode_t *nodes = xcalloc (nn ? nn : 1, sizeof (rnode_t));
    size_t i;
    json_t *e;
    json_array_foreach (rl, i, e) {
        nodes[i].rank = atoi (json_string_value (json_object_get (e, "rank")));
        nodes[i].host = json_string_value (json_object_get (e, "node"));
        nodes[i].cobj = json_object_get (e, "children");
        nodes[i].children = json_dumps (nodes[i].cobj, JSON_COMPACT | JSON_SORT_KEYS);
    }
    qsort (nodes, nn, sizeof (rnode_t), rnode_cmp);
    /* group ranks by children */
    int *group = xcalloc (nn ? nn : 1, sizeof (int)), ng = 0;
    int *gsize = xcalloc (nn ? nn : 1, sizeof (int)), *gfirst = xcalloc (nn ? nn : 1, sizeof (int));
    for (size_t k = 0; k < nn; k++) {
        int g = -1;
        for (int q = 0; q < ng && g < 0; q++)
            if (!strcmp (nodes[gfirst[q]].children, nodes[k].children))
                g = q;
        if (g < 0) {
            g = ng++;
            gfirst[g] = (int)k;
        }
        group[k] = g;
        gsize[g]++;
    }
    int *order = xcalloc (ng ? ng : 1, sizeof (int));
    for (int q = 0; q < ng; q++)
        order[q] = q;
    for (int a = 1; a < ng; a++) {   /* stable: more ranks first */
        int x = order[a], b = a - 1;
        while (b >= 0 && gsize[order[b]] < gsize[x]) {
            order[b + 1] = order[b];
            b--;
        }
        order[b + 1] = x;
    }
    json_t *out = json_array ();
    for (int q = 0; q < ng; q++) {
        int g = order[q];
        int64_t *ids = xmalloc (sizeof (int64_t) * (gsize[g] ? gsize[g] : 1));
        int ni = 0;
        for (size_t k = 0; k < nn; k++)
            if (group[k] == g)
                ids[ni++] = nodes[k].rank;
        char *rs = idset_str (ids, ni);
        json_array_append_new (out, json_pack ("{s:s s:O}", "rank", rs,
                                               "children", nodes[gfirst[g]].cobj));
        free (rs);
        free (ids);
    }
    char **hosts = xcalloc (nn ? nn : 1, sizeof (char *));
    for (size_t k = 0; k < nn; k++)
        hosts[k] = (char *)nodes[k].host;
    char *hl = hostlist_compress (hosts, nn);
    json_t *ex = json_pack ("{s:o s:[s] s:I s:I}", "R_lite", out, "nodelist", hl, "starttime",
                            (json_int_t)at, "expiration",
                            (json_int_t)(at + dur < at ? INT64_MAX : at + dur));
    free (hl);
    free (hosts);
    for (size_t k = 0; k < nn; k++)
        free (nodes[k].children);
    free (nodes);
    free (group);
    free (gsize);
    free (gfirst);
    free (order);
    json_decref (rl);
    return ex;
}
