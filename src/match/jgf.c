/* jgf.c - load a JSON Graph Format resource graph as Fluxion writes it:
 * graph.nodes[] with metadata (type, basename, name, id, uniq_id, rank,
 * exclusive, unit, size, paths per subsystem, properties, status) and
 * graph.edges[] with a subsystem (metadata.subsystem, or the older
 * metadata.name {subsystem: relation}).  Text in, no I/O.  Unlike Fluxion,
 * a vertex may be the target of several containment edges. */
#include "errquote.h"
#include "xalloc.h"
#include "mint.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *key;
    int v;
} idmap_t;

static int idcmp (const void *a, const void *b)
{
    return strcmp (((const idmap_t *)a)->key, ((const idmap_t *)b)->key);
}

static int jint (json_t *o, const char *k, int64_t *out, bool required, int64_t dflt)
{
    json_t *x = json_object_get (o, k);
    if (!x) {
        *out = dflt;
        return required ? -1 : 0;
    }
    if (!json_is_integer (x))
        return -1;
    *out = json_integer_value (x);
    return 0;
}

static int jgf_load (mgraph_t *g, const char *text, size_t len, bool attach, char *err,
                     size_t errlen);

int mgraph_load_jgf (mgraph_t *g, const char *text, size_t len, char *err, size_t errlen)
{
    return jgf_load (g, text, len, false, err, errlen);
}

int mgraph_attach_jgf (mgraph_t *g, const char *text, size_t len, char *err, size_t errlen)
{
    return jgf_load (g, text, len, true, err, errlen);
}

static const char *cpath_of (json_t *n)
{
    json_t *p = json_object_get (json_object_get (json_object_get (n, "metadata"), "paths"),
                                 "containment");
    return json_is_string (p) ? json_string_value (p) : NULL;
}

/* attach: every vertex the graph lacks must hang below another vertex of
 * the file; a second root is refused before anything changes */
static int attach_check (mgraph_t *g, json_t *nodes, json_t *edges, char *err, size_t errlen)
{
    size_t i, k;
    json_t *n, *e;
    json_array_foreach (nodes, i, n) {
        const char *cp = cpath_of (n);
        const char *id = json_string_value (json_object_get (n, "id"));
        if (!id || (cp && mgraph_find_path (g, cp) >= 0))
            continue;
        bool has_parent = false;
        json_array_foreach (edges, k, e) {
            const char *t = json_string_value (json_object_get (e, "target"));
            json_t *md = json_object_get (e, "metadata");
            json_t *ss = md ? json_object_get (md, "subsystem") : NULL;
            if (t && !strcmp (t, id)
                && (!json_is_string (ss) || !strcmp (json_string_value (ss), "containment")))
                has_parent = true;
        }
        if (!has_parent) {
            snprintf (err, errlen,
                      "jgf: attach: %s would be a second root of the containment subsystem",
                      cp ? cp : id);
            return -1;
        }
    }
    return 0;
}

static bool edge_exists (mgraph_t *g, int src, int dst, const char *sub)
{
    int s = mg_subsys_lookup (g, sub);
    for (int i = 0; i < g->v[src].nout; i++) {
        medge_t *e = &g->e[g->v[src].out[i]];
        if (e->dst == dst && e->subsys == s)
            return true;
    }
    return false;
}

static int jgf_load (mgraph_t *g, const char *text, size_t len, bool attach, char *err,
                     size_t errlen)
{
    json_error_t je;
    json_t *root = json_loadb (text, len, 0, &je);
    if (!root) {
        errfmt (err, errlen, "jgf: JSON error at line %d: %s", je.line, je.text);
        return -1;
    }
    int rc = -1;
    idmap_t *map = NULL;
    size_t nmap = 0;
    json_t *graph = json_object_get (root, "graph");
    if (!json_is_object (graph)) {
        snprintf (err, errlen, "jgf: missing \"graph\" object");
        goto out;
    }
    json_t *nodes = json_object_get (graph, "nodes");
    json_t *edges = json_object_get (graph, "edges");
    if (!json_is_array (nodes) || json_array_size (nodes) == 0) {
        snprintf (err, errlen, "jgf: \"graph.nodes\" must be a non-empty array");
        goto out;
    }
    if (edges && !json_is_array (edges)) {
        snprintf (err, errlen, "jgf: \"graph.edges\" must be an array");
        goto out;
    }
    if (attach && attach_check (g, nodes, edges, err, errlen) < 0)
        goto out;
    int nv0 = g->nv;
    map = xcalloc (json_array_size (nodes), sizeof (idmap_t));
    size_t i;
    json_t *n;
    json_array_foreach (nodes, i, n) {
        if (attach && json_is_string (json_object_get (n, "id")) && cpath_of (n)) {
            int ex = mgraph_find_path (g, cpath_of (n));
            if (ex >= 0) {   /* already in the graph: reuse it */
                map[nmap].key = xstrdup (json_string_value (json_object_get (n, "id")));
                map[nmap].v = ex;
                nmap++;
                continue;
            }
        }
        json_t *id = json_object_get (n, "id");
        json_t *md = json_object_get (n, "metadata");
        if (!json_is_string (id)) {
            snprintf (err, errlen, "jgf: nodes[%zu]: \"id\" must be a string", i);
            goto out;
        }
        if (!json_is_object (md)) {
            snprintf (err, errlen, "jgf: nodes[%zu]: missing \"metadata\"", i);
            goto out;
        }
        json_t *type = json_object_get (md, "type");
        if (!json_is_string (type) || !*json_string_value (type)) {
            snprintf (err, errlen, "jgf: nodes[%zu]: metadata \"type\" must be a string", i);
            goto out;
        }
        json_t *bn = json_object_get (md, "basename");
        json_t *nm = json_object_get (md, "name");
        json_t *un = json_object_get (md, "unit");
        if ((bn && !json_is_string (bn)) || (nm && !json_is_string (nm))
            || (un && !json_is_string (un))) {
            snprintf (err, errlen, "jgf: nodes[%zu]: basename, name and unit must be strings", i);
            goto out;
        }
        int64_t vid, uniq, rank, size;
        if (jint (md, "id", &vid, false, -1) < 0 || jint (md, "uniq_id", &uniq, false, -1) < 0
            || jint (md, "rank", &rank, false, -1) < 0 || jint (md, "size", &size, false, 1) < 0) {
            snprintf (err, errlen, "jgf: nodes[%zu]: id, uniq_id, rank and size must be integers", i);
            goto out;
        }
        if (size < 0) {
            snprintf (err, errlen, "jgf: nodes[%zu]: size must be >= 0", i);
            goto out;
        }
        const char *bns = bn ? json_string_value (bn) : json_string_value (type);
        /* without an id, the JGF node id (when numeric) stands in, and the
         * name is basename + id, as Fluxion reads it */
        if (vid < 0 && !json_object_get (md, "id")) {
            const char *ids = json_string_value (id);
            char *end;
            long long x = strtoll (ids, &end, 10);
            if (*ids && !*end && x >= 0)
                vid = x;
        }
        int v = mgraph_add_vertex_full (g, json_string_value (type), bns,
                                        nm ? json_string_value (nm) : NULL, vid, uniq, size,
                                        un ? json_string_value (un) : "", (int)rank);
        if (v < 0) {
            snprintf (err, errlen, "jgf: out of memory");
            goto out;
        }
        json_t *ex = json_object_get (md, "exclusive");
        g->v[v].jgf_excl = json_is_true (ex);
        json_t *st = json_object_get (md, "status");
        if (json_is_string (st) && !strcmp (json_string_value (st), "down"))
            g->v[v].up = false;
        json_t *paths = json_object_get (md, "paths");
        if (paths && json_is_object (paths)) {
            const char *k;
            json_t *p;
            json_object_foreach (paths, k, p) {
                if (!json_is_string (p)) {
                    snprintf (err, errlen, "jgf: nodes[%zu]: paths.%s must be a string", i, k);
                    goto out;
                }
                int s = mg_intern_subsys (g, k);
                if (s < 0 || mg_add_path (g, v, s, json_string_value (p)) < 0)
                    goto out;
                int o = mgraph_find_path (g, json_string_value (p));
                if (o != v) {
                    snprintf (err, errlen, "jgf: nodes[%zu]: path %s is also the path of %s", i,
                              json_string_value (p), o >= 0 ? g->v[o].name : "another vertex");
                    goto out;
                }
            }
        }
        json_t *props = json_object_get (md, "properties");
        if (props && json_is_object (props)) {
            const char *k;
            json_t *p;
            json_object_foreach (props, k, p) {
                if (json_is_string (p))
                    mg_set_prop (g, v, k, json_string_value (p));
            }
        }
        map[nmap].key = xstrdup (json_string_value (id));
        map[nmap].v = v;
        nmap++;
    }
    qsort (map, nmap, sizeof (idmap_t), idcmp);
    for (size_t k = 1; k < nmap; k++) {
        if (!strcmp (map[k].key, map[k - 1].key)) {
            snprintf (err, errlen, "jgf: duplicate node id \"%s\"", map[k].key);
            goto out;
        }
    }
    json_t *e;
    json_array_foreach (edges, i, e) {
        json_t *s = json_object_get (e, "source"), *t = json_object_get (e, "target");
        if (!json_is_string (s) || !json_is_string (t)) {
            snprintf (err, errlen, "jgf: edges[%zu]: source and target must be strings", i);
            goto out;
        }
        idmap_t ks = {(char *)json_string_value (s), 0}, kt = {(char *)json_string_value (t), 0};
        idmap_t *fs = bsearch (&ks, map, nmap, sizeof (idmap_t), idcmp);
        idmap_t *ft = bsearch (&kt, map, nmap, sizeof (idmap_t), idcmp);
        if (!fs || !ft) {
            snprintf (err, errlen, "jgf: edges[%zu]: unknown vertex \"%s\"", i,
                      fs ? json_string_value (t) : json_string_value (s));
            goto out;
        }
        if (fs->v == ft->v) {
            snprintf (err, errlen, "jgf: edges[%zu]: self edge", i);
            goto out;
        }
        const char *sub = "containment";
        json_t *md = json_object_get (e, "metadata");
        if (md && json_is_object (md)) {
            json_t *ss = json_object_get (md, "subsystem");
            json_t *nmo = json_object_get (md, "name");
            if (json_is_string (ss))
                sub = json_string_value (ss);
            else if (json_is_object (nmo) && json_object_size (nmo) > 0) {
                void *it = json_object_iter (nmo);
                sub = json_object_iter_key (it);
            }
        }
        if (attach && fs->v < nv0 && ft->v < nv0 && edge_exists (g, fs->v, ft->v, sub))
            continue;
        if (mgraph_add_edge (g, fs->v, ft->v, sub) < 0) {
            snprintf (err, errlen, "jgf: out of memory");
            goto out;
        }
    }
    rc = mgraph_finalize (g, err, errlen);
out:
    for (size_t k = 0; k < nmap; k++)
        free (map[k].key);
    free (map);
    json_decref (root);
    return rc;
}

int mgraph_jgf_ranks (const char *text, size_t len, int64_t **ranks, int *n, char *err,
                      size_t errlen)
{
    json_error_t je;
    json_t *root = json_loadb (text, len, 0, &je);
    *ranks = NULL;
    *n = 0;
    if (!root) {
        errfmt (err, errlen, "jgf: JSON error at line %d: %s", je.line, je.text);
        return -1;
    }
    json_t *nodes = json_object_get (json_object_get (root, "graph"), "nodes");
    if (!json_is_array (nodes)) {
        snprintf (err, errlen, "jgf: missing \"graph.nodes\" array");
        json_decref (root);
        return -1;
    }
    *ranks = xmalloc (sizeof (int64_t) * (json_array_size (nodes) + 1));
    size_t i;
    json_t *nd;
    json_array_foreach (nodes, i, nd) {
        int64_t r;
        if (jint (json_object_get (nd, "metadata"), "rank", &r, true, -1) < 0 || r < 0) {
            snprintf (err, errlen, "jgf: nodes[%zu]: invalid rank", i);
            free (*ranks);
            *ranks = NULL;
            *n = 0;
            json_decref (root);
            return -1;
        }
        int k;
        for (k = 0; k < *n; k++)
            if ((*ranks)[k] == r)
                break;
        if (k == *n)
            (*ranks)[(*n)++] = r;
    }
    json_decref (root);
    return 0;
}
