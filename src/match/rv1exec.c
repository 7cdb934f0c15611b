/* rv1exec.c - load a resource graph from Fluxion's rv1exec form of R
 * (execution.R_lite: ranks with child id sets, execution.nodelist hostnames,
 * optional execution.properties): cluster0 -> one node per rank (named by
 * its host, id from the host's numeric suffix) -> one vertex per child id
 * ("core": "0-3" gives core0..core3), in the order R lists them.  Also
 * parses the rank set of an R for partial cancel.  Text in, no I/O. */
#include "errquote.h"
#include "xalloc.h"
#include "mint.h"
#include "hostlist.h"
#include "idset.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* bounds on what one R may make, like grug's: hosts named, vertices made */
#define RV1_MAX_HOSTS 1000000
#define RV1_MAX_VERTICES 4000000

static int cmp_u32 (const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* split "node12" into basename "node" and id 12 (-1 without digits) */
static void host_split (const char *host, char *base, size_t blen, int64_t *id)
{
    size_t n = strlen (host), k = n;
    while (k > 0 && isdigit ((unsigned char)host[k - 1]))
        k--;
    snprintf (base, blen, "%.*s", (int)k, host);
    *id = (k < n && n - k < 18) ? strtoll (host + k, NULL, 10) : -1;
}

/* all ranks named by R_lite, as an idset; NULL + err on bad input */
static idset_t *rlite_ranks (json_t *rlite, char *err, size_t errlen)
{
    idset_t *all = idset_new ();
    size_t i;
    json_t *ent;
    json_array_foreach (rlite, i, ent) {
        json_t *r = json_object_get (ent, "rank");
        if (!json_is_string (r)) {
            snprintf (err, errlen, "rv1exec: R_lite[%zu]: \"rank\" must be a string", i);
            idset_destroy (&all);
            return NULL;
        }
        char e2[128];
        idset_t *s = idset_decode (json_string_value (r), e2, sizeof (e2));
        if (!s) {
            snprintf (err, errlen, "rv1exec: R_lite[%zu]: bad rank set: %s", i, e2);
            idset_destroy (&all);
            return NULL;
        }
        for (uint32_t id = idset_first (s); id != IDSET_INVALID; id = idset_next (s, id))
            idset_set (all, id);
        idset_destroy (&s);
    }
    return all;
}

static json_t *get_rlite (json_t *root, char *err, size_t errlen)
{
    json_t *ex = json_object_get (root, "execution");
    json_t *rl = ex ? json_object_get (ex, "R_lite") : NULL;
    if (!json_is_array (rl)) {
        snprintf (err, errlen, "rv1exec: missing execution.R_lite array");
        return NULL;
    }
    return rl;
}

int mgraph_rv1exec_ranks (const char *text, size_t len, int64_t **ranks, int *n, char *err,
                          size_t errlen)
{
    json_error_t je;
    json_t *root = json_loadb (text, len, 0, &je);
    *ranks = NULL;
    *n = 0;
    if (!root) {
        errfmt (err, errlen, "rv1exec: JSON error at line %d: %s", je.line, je.text);
        return -1;
    }
    json_t *rl = get_rlite (root, err, errlen);
    idset_t *all = rl ? rlite_ranks (rl, err, errlen) : NULL;
    if (!all) {
        json_decref (root);
        return -1;
    }
    size_t c = idset_count (all);
    *ranks = xmalloc (sizeof (int64_t) * (c ? c : 1));
    for (uint32_t id = idset_first (all); id != IDSET_INVALID; id = idset_next (all, id))
        (*ranks)[(*n)++] = id;
    idset_destroy (&all);
    json_decref (root);
    return 0;
}

static char *path_join (const char *a, const char *b)
{
    size_t n = strlen (a) + strlen (b) + 2;
    char *p = xmalloc (n);
    snprintf (p, n, "%s/%s", a, b);
    return p;
}

int mgraph_load_rv1exec (mgraph_t *g, const char *text, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_loadb (text, len, 0, &je);
    if (!root) {
        errfmt (err, errlen, "rv1exec: JSON error at line %d: %s", je.line, je.text);
        return -1;
    }
    int rc = -1;
    char **hosts = NULL;
    size_t nhosts = 0;
    idset_t *all = NULL;
    uint32_t *order = NULL;
    size_t norder = 0;
    json_t *rl = get_rlite (root, err, errlen);
    if (!rl)
        goto out;
    if (json_array_size (rl) == 0) {
        snprintf (err, errlen, "rv1exec: R_lite is empty");
        goto out;
    }
    json_t *ex = json_object_get (root, "execution");
    json_t *nl = json_object_get (ex, "nodelist");
    if (!json_is_array (nl)) {
        snprintf (err, errlen, "rv1exec: missing execution.nodelist array");
        goto out;
    }
    /* expand every nodelist entry, in order */
    size_t i;
    json_t *h;
    json_array_foreach (nl, i, h) {
        if (!json_is_string (h)) {
            snprintf (err, errlen, "rv1exec: nodelist[%zu] must be a string", i);
            goto out;
        }
        size_t k = 0;
        char e2[128];
        char **part = hostlist_expand (json_string_value (h), &k, e2, sizeof (e2));
        if (!part) {
            snprintf (err, errlen, "rv1exec: nodelist[%zu]: %s", i, e2);
            goto out;
        }
        if (nhosts + k > RV1_MAX_HOSTS) {
            hostlist_free (part, k);
            snprintf (err, errlen, "rv1exec: nodelist names more than %d hosts", RV1_MAX_HOSTS);
            goto out;
        }
        hosts = xrealloc (hosts, sizeof (char *) * (nhosts + k + 1));
        memcpy (hosts + nhosts, part, sizeof (char *) * k);
        nhosts += k;
        free (part);
    }
    if (!(all = rlite_ranks (rl, err, errlen)))
        goto out;
    if (idset_count (all) > nhosts) {
        snprintf (err, errlen, "rv1exec: %zu ranks but %zu hosts in nodelist",
                  idset_count (all), nhosts);
        goto out;
    }
    norder = idset_count (all);
    order = xmalloc (sizeof *order * (norder ? norder : 1));
    norder = 0;
    for (uint32_t r = idset_first (all); r != IDSET_INVALID; r = idset_next (all, r))
        order[norder++] = r;
    json_t *props = json_object_get (ex, "properties");
    int cont = mg_intern_subsys (g, "containment");
    int cl = mgraph_add_vertex_full (g, "cluster", "cluster", NULL, 0, -1, 1, "", -1);
    if (cont < 0 || cl < 0)
        goto oom;
    char *clp = path_join ("", g->v[cl].name);
    mg_add_path (g, cl, cont, clp);
    g->roots[cont] = cl;
    json_t *ent;
    json_array_foreach (rl, i, ent) {
        json_t *children = json_object_get (ent, "children");
        if (!json_is_object (children)) {
            snprintf (err, errlen, "rv1exec: R_lite[%zu]: \"children\" must be an object", i);
            free (clp);
            goto out;
        }
        char e2[128];
        idset_t *rs = idset_decode (json_string_value (json_object_get (ent, "rank")), e2,
                                    sizeof (e2));
        for (uint32_t rank = idset_first (rs); rank != IDSET_INVALID;
             rank = idset_next (rs, rank)) {
            /* host index = position of rank among all ranks (sorted) */
            size_t pos = (size_t)((uint32_t *)bsearch (&rank, order, norder, sizeof *order, cmp_u32)
                                  - order);
            char base[256];
            int64_t nid;
            host_split (hosts[pos], base, sizeof (base), &nid);
            int nv = mgraph_add_vertex_full (g, "node", base, hosts[pos], nid, -1, 1, "",
                                             (int)rank);
            if (nv < 0 || mgraph_add_edge (g, cl, nv, "containment") < 0) {
                idset_destroy (&rs);
                free (clp);
                goto oom;
            }
            char *np = path_join (clp, g->v[nv].name);
            mg_add_path (g, nv, cont, np);
            if (json_is_object (props)) {
                const char *pk;
                json_t *pv;
                json_object_foreach (props, pk, pv) {
                    idset_t *ps = json_is_string (pv)
                                      ? idset_decode (json_string_value (pv), e2, sizeof (e2))
                                      : NULL;
                    if (ps && idset_test (ps, rank))
                        mg_set_prop (g, nv, pk, "");
                    idset_destroy (&ps);
                }
            }
            const char *ctype;
            json_t *cids;
            json_object_foreach (children, ctype, cids) {
                idset_t *cs = json_is_string (cids)
                                  ? idset_decode (json_string_value (cids), e2, sizeof (e2))
                                  : NULL;
                if (!cs) {
                    snprintf (err, errlen, "rv1exec: R_lite[%zu]: bad %s id set", i, ctype);
                    free (np);
                    idset_destroy (&rs);
                    free (clp);
                    goto out;
                }
                for (uint32_t id = idset_first (cs); id != IDSET_INVALID;
                     id = idset_next (cs, id)) {
                    if (g->nv >= RV1_MAX_VERTICES) {
                        snprintf (err, errlen, "rv1exec: R describes more than %d resources",
                                  RV1_MAX_VERTICES);
                        idset_destroy (&cs);
                        free (np);
                        idset_destroy (&rs);
                        free (clp);
                        goto out;
                    }
                    int cv = mgraph_add_vertex_full (g, ctype, ctype, NULL, id, -1, 1, "",
                                                     (int)rank);
                    if (cv < 0 || mgraph_add_edge (g, nv, cv, "containment") < 0) {
                        idset_destroy (&cs);
                        free (np);
                        idset_destroy (&rs);
                        free (clp);
                        goto oom;
                    }
                    char *cp = path_join (np, g->v[cv].name);
                    mg_add_path (g, cv, cont, cp);
                    free (cp);
                }
                idset_destroy (&cs);
            }
            free (np);
        }
        idset_destroy (&rs);
    }
    free (clp);
    rc = mgraph_finalize (g, err, errlen);
    goto out;
oom:
    snprintf (err, errlen, "rv1exec: out of memory");
out:
    free (order);
    idset_destroy (&all);
    hostlist_free (hosts, nhosts);
    json_decref (root);
    return rc;
}

/* mark the vertices an R names in graph g (update): per rank, the rank's
 * top vertex (shortest containment path) and the listed children by type
 * and id.  -1 with err if a rank, type or id is not in the graph. */
int mgraph_rv1exec_mark (mgraph_t *g, const char *text, size_t len, unsigned char *mark,
                         char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_loadb (text, len, 0, &je);
    if (!root) {
        errfmt (err, errlen, "rv1exec: JSON error at line %d: %s", je.line, je.text);
        return -1;
    }
    int rc = -1;
    int cont = mg_subsys_lookup (g, "containment");
    json_t *rl = get_rlite (root, err, errlen);
    if (!rl)
        goto out;
    size_t i;
    json_t *ent;
    json_array_foreach (rl, i, ent) {
        char e2[128];
        json_t *children = json_object_get (ent, "children");
        idset_t *rs = idset_decode (json_string_value (json_object_get (ent, "rank")), e2,
                                    sizeof (e2));
        if (!rs || !json_is_object (children)) {
            snprintf (err, errlen, "rv1exec: R_lite[%zu]: bad rank or children", i);
            idset_destroy (&rs);
            goto out;
        }
        for (uint32_t rank = idset_first (rs); rank != IDSET_INVALID;
             rank = idset_next (rs, rank)) {
            int top = -1;
            size_t toplen = 0;
            for (int v = 0; v < g->nv; v++) {
                if (g->v[v].rank != (int)rank)
                    continue;
                const char *p = mg_path (g, v, cont);
                size_t pl = p ? strlen (p) : (size_t)-1;
                if (top < 0 || pl < toplen) {
                    top = v;
                    toplen = pl;
                }
            }
            if (top < 0) {
                snprintf (err, errlen, "rv1exec: rank %u is not in the graph", rank);
                idset_destroy (&rs);
                goto out;
            }
            mark[top] = 1;
            const char *ctype;
            json_t *cids;
            json_object_foreach (children, ctype, cids) {
                int t = mg_type_lookup (g, ctype);
                idset_t *cs = json_is_string (cids)
                                  ? idset_decode (json_string_value (cids), e2, sizeof (e2))
                                  : NULL;
                if (t < 0 || !cs) {
                    snprintf (err, errlen, "rv1exec: rank %u: no %s in the graph", rank, ctype);
                    idset_destroy (&cs);
                    idset_destroy (&rs);
                    goto out;
                }
                for (uint32_t id = idset_first (cs); id != IDSET_INVALID;
                     id = idset_next (cs, id)) {
                    int found = -1;
                    for (int v = 0; v < g->nv && found < 0; v++)
                        if (g->v[v].rank == (int)rank && g->v[v].type == t
                            && g->v[v].id == (int64_t)id)
                            found = v;
                    if (found < 0) {
                        snprintf (err, errlen, "rv1exec: rank %u: no %s%u in the graph", rank,
                                  ctype, id);
                        idset_destroy (&cs);
                        idset_destroy (&rs);
                        goto out;
                    }
                    mark[found] = 1;
                }
                idset_destroy (&cs);
            }
        }
        idset_destroy (&rs);
    }
    rc = 0;
out:
    json_decref (root);
    return rc;
}
