/* rwriters.c - JSON forms of a match: JGF (vertices with metadata, edges
 * per subsystem) and R_lite (per rank: core and gpu id sets). */
#include "mdfu.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *mw_jgf_vertex (matcher_t *m, int v, int64_t size, bool excl)
{
    mgraph_t *g = m->g;
    mvtx_t *x = &g->v[v];
    char idbuf[32];
    snprintf (idbuf, sizeof (idbuf), "%lld", (long long)x->uniq_id);
    json_t *paths = json_object ();
    for (int i = 0; i < x->npaths; i++)
        json_object_set_new (paths, g->subsys[x->paths[i].subsys],
                             json_string (x->paths[i].path));
    json_t *md = json_pack ("{s:s s:s s:s s:I s:I s:i s:b s:s s:I}", "type", g->types[x->type],
                            "basename", x->basename, "name", x->name, "id", (json_int_t)x->id,
                            "uniq_id", (json_int_t)x->uniq_id, "rank", x->rank, "exclusive",
                            excl, "unit", x->unit, "size", (json_int_t)size);
    if (x->nprops) {
        json_t *p = json_object ();
        for (int i = 0; i < x->nprops; i++)
            json_object_set_new (p, x->props[i].key, json_string (x->props[i].val));
        json_object_set_new (md, "properties", p);
    }
    json_object_set_new (md, "paths", paths);
    return json_pack ("{s:s s:o}", "id", idbuf, "metadata", md);
}

json_t *mw_jgf (matcher_t *m, const mrec_t *r, int n)
{
    mgraph_t *g = m->g;
    json_t *nodes = json_array (), *edges = json_array ();
    for (int i = 0; i < n; i++) {
        json_array_append_new (nodes, mw_jgf_vertex (m, r[i].v, r[i].needs, r[i].excl));
    }
    for (int i = 0; i < n; i++) {
        if (r[i].pedge < 0)
            continue;
        medge_t *e = &g->e[r[i].pedge];
        char s[32], t[32];
        snprintf (s, sizeof (s), "%lld", (long long)g->v[e->src].uniq_id);
        snprintf (t, sizeof (t), "%lld", (long long)g->v[e->dst].uniq_id);
        json_array_append_new (edges, json_pack ("{s:s s:s s:{s:s}}", "source", s, "target", t,
                                                 "metadata", "subsystem",
                                                 g->subsys[e->subsys]));
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
        int64_t *cores = malloc (sizeof (int64_t) * n), *gpus = malloc (sizeof (int64_t) * n);
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
