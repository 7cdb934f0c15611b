/* grug.c - load a GRUG resource graph generation recipe (GraphML) into an
 * mgraph.  The recipe's vertices are resource kinds; its edges say how
 * many of the target to make per source (MULTIPLY) or how to link existing
 * vertices (ASSOCIATE_IN, ASSOCIATE_BY_PATH_IN).  Generation is a
 * depth-first walk of the recipe from its root vertices, numbering ids by
 * id_scope/id_start/id_stride as Fluxion's reader does.  Text in, no I/O. */
#include "mint.h"
#include "xalloc.h"
#include "errquote.h"
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GRUG_MAX_VERTICES 4000000

typedef struct {
    char *xid;
    int root;
    char *type, *basename, *unit, *subsystem;
    int64_t size;
    int *out, nout;
    /* generated vertices of this recipe vertex (last generation) */
    int *gen, ngen, capgen;
    int color;
} rvtx_t;

typedef struct {
    int src, dst;
    char *e_subsystem, *relation, *rrelation, *gen_method, *as_tgt_subsystem;
    int id_scope, id_start, id_stride, multi_scale, as_tgt_uplvl, as_src_uplvl;
} redge_t;

typedef struct {
    char *id, *name, *dflt;
    int for_edge;
} rkey_t;

typedef struct {
    mgraph_t *g;
    rvtx_t *v;
    int nv;
    redge_t *e;
    int ne;
    int scales[256];
    int nscales;
    char *err;
    size_t errlen;
    int failed;
    int depth;
} grug_t;

static char *xstr (const xmlChar *s)
{
    return xstrdup (s ? (const char *)s : "");
}

static const char *keyval (rkey_t *keys, int nkeys, xmlNode *el, const char *name, int for_edge)
{
    /* find the key id for attr name */
    const char *kid = NULL, *dflt = NULL;
    for (int i = 0; i < nkeys; i++) {
        if (keys[i].for_edge == for_edge && !strcmp (keys[i].name, name)) {
            kid = keys[i].id;
            dflt = keys[i].dflt;
            break;
        }
    }
    if (!kid)
        return NULL;
    for (xmlNode *c = el->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || strcmp ((const char *)c->name, "data"))
            continue;
        xmlChar *k = xmlGetProp (c, (const xmlChar *)"key");
        int m = k && !strcmp ((const char *)k, kid);
        xmlFree (k);
        if (m) {
            xmlChar *t = xmlNodeGetContent (c);
            static char buf[4][512];
            static int bi;
            char *b = buf[bi++ & 3];
            snprintf (b, 512, "%s", t ? (const char *)t : "");
            xmlFree (t);
            /* trim */
            char *s = b;
            while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
                s++;
            size_t n = strlen (s);
            while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t' || s[n - 1] == '\r'))
                s[--n] = '\0';
            return s;
        }
    }
    return dflt;
}

static int64_t toint (const char *s, int64_t dflt)
{
    if (!s || !*s)
        return dflt;
    char *end;
    long long v = strtoll (s, &end, 10);
    if (*end)
        return dflt;
    return v;
}

static void gfail (grug_t *c, const char *msg, const char *arg)
{
    if (c->failed)
        return;
    c->failed = 1;
    snprintf (c->err, c->errlen, "grug: %s%s%s", msg, arg ? ": " : "", arg ? arg : "");
}

static int gen_id (grug_t *c, redge_t *e, int i, int sz, int j)
{
    int scope = e->id_scope;
    if (scope < 0)
        return -1;
    if (scope == 0)
        return e->id_start + i;
    if (scope > c->nscales)
        scope = c->nscales;
    long long wrap = 1;
    for (int h = 0; h < scope; h++)
        wrap *= c->scales[h];
    if (wrap <= 0)
        wrap = 1;
    return (int)(e->id_start + (j % wrap) * sz * e->id_stride + i * e->id_stride);
}

static int push_gen (rvtx_t *r, int v)
{
    if (r->ngen == r->capgen) {
        int nc = r->capgen ? r->capgen * 2 : 8;
        r->gen = xrealloc (r->gen, sizeof (int) * nc);
        r->capgen = nc;
    }
    r->gen[r->ngen++] = v;
    return 0;
}

static int emit_vertex (grug_t *c, int ru, redge_t *e, int src, int i, int sz, int j)
{
    mgraph_t *g = c->g;
    rvtx_t *r = &c->v[ru];
    int ss = mg_intern_subsys (g, r->subsystem);
    if (src < 0 && g->roots[ss] >= 0)
        return g->roots[ss];
    if (g->nv >= GRUG_MAX_VERTICES) {
        gfail (c, "recipe generates too many vertices", NULL);
        return -1;
    }
    int id = 0;
    if (src >= 0)
        id = gen_id (c, e, i, sz, j);
    int v = mgraph_add_vertex_full (g, r->type, r->basename, NULL, id, -1, r->size, r->unit, -1);
    if (v < 0)
        return -1;
    g->v[v].uniq_id = v;
    const char *pref = src >= 0 ? mg_path (g, src, ss) : "";
    if (!pref)
        pref = "";
    size_t n = strlen (pref) + strlen (g->v[v].name) + 2;
    char *p = xmalloc (n);
    snprintf (p, n, "%s/%s", pref, g->v[v].name);
    mg_add_path (g, v, ss, p);
    free (p);
    if (src < 0)
        g->roots[ss] = v;
    return v;
}

/* strip `up` trailing components from path; result ends with '/' */
static int path_prefix (const char *path, int up, char *out, size_t outlen)
{
    int slashes = 0;
    for (const char *s = path; *s; s++)
        if (*s == '/')
            slashes++;
    if (up >= slashes)
        return -1;
    int want = slashes - up, seen = 0;
    size_t i;
    for (i = 0; path[i]; i++) {
        if (path[i] == '/' && ++seen == want)
            break;
    }
    snprintf (out, outlen, "%.*s/", (int)i, path);
    return 0;
}

static void tree_edge (grug_t *c, int ei)
{
    mgraph_t *g = c->g;
    redge_t *e = &c->e[ei];
    rvtx_t *rs = &c->v[e->src], *rt = &c->v[e->dst];
    if (rs->root && rs->ngen == 0) {
        int v = emit_vertex (c, e->src, e, -1, 0, 1, 0);
        if (v < 0)
            return;
        push_gen (rs, v);
    }
    rt->ngen = 0;
    const char *m = e->gen_method ? e->gen_method : "MULTIPLY";
    if (!strcmp (m, "MULTIPLY")) {
        for (int j = 0; j < rs->ngen && !c->failed; j++) {
            int src = rs->gen[j];
            for (int i = 0; i < e->multi_scale && !c->failed; i++) {
                int v = emit_vertex (c, e->dst, e, src, i, e->multi_scale, j);
                if (v < 0) {
                    gfail (c, "cannot generate vertex", rt->type);
                    return;
                }
                mgraph_add_edge (g, src, v, e->e_subsystem);
                push_gen (rt, v);
            }
        }
        if (c->nscales < 256) {
            memmove (c->scales + 1, c->scales, sizeof (int) * c->nscales);
            c->scales[0] = e->multi_scale;
            c->nscales++;
        }
    } else if (!strcmp (m, "ASSOCIATE_IN") || !strcmp (m, "ASSOCIATE_BY_PATH_IN")) {
        int bypath = !strcmp (m, "ASSOCIATE_BY_PATH_IN");
        int tt = mg_type_lookup (g, rt->type);
        int es = mg_intern_subsys (g, e->e_subsystem);
        int ins = mg_intern_subsys (g, e->as_tgt_subsystem);
        int nv0 = g->nv;
        for (int j = 0; j < rs->ngen; j++) {
            int src = rs->gen[j];
            for (int v = 0; v < nv0 && tt >= 0; v++) {
                if (g->v[v].type != tt)
                    continue;
                if (bypath) {
                    char p1[1024] = "", p2[1024] = "";
                    const char *a = mg_path (g, v, ins), *b = mg_path (g, src, ins);
                    if (a)
                        path_prefix (a, e->as_tgt_uplvl, p1, sizeof (p1));
                    if (b)
                        path_prefix (b, e->as_src_uplvl, p2, sizeof (p2));
                    if (strcmp (p1, p2))
                        continue;
                }
                const char *sp = mg_path (g, src, es);
                size_t n = (sp ? strlen (sp) : 0) + strlen (g->v[v].name) + 2;
                char *p = xmalloc (n);
                snprintf (p, n, "%s/%s", sp ? sp : "", g->v[v].name);
                if (!mg_path (g, v, es))
                    mg_add_path (g, v, es, p);
                free (p);
                mgraph_add_edge (g, src, v, e->e_subsystem);
                push_gen (rt, v);
            }
        }
    } else {
        gfail (c, "unknown generation method", m);
    }
}

static void dfs (grug_t *c, int u)
{
    if (c->failed)
        return;
    if (++c->depth > 200) {
        gfail (c, "recipe too deep", NULL);
        return;
    }
    c->v[u].color = 1;
    for (int k = 0; k < c->v[u].nout && !c->failed; k++) {
        int ei = c->v[u].out[k];
        int t = c->e[ei].dst;
        if (c->v[t].color == 0) {
            tree_edge (c, ei);
            dfs (c, t);
        }
    }
    c->v[u].color = 2;
    if (c->nscales > 0) {
        memmove (c->scales, c->scales + 1, sizeof (int) * (c->nscales - 1));
        c->nscales--;
    }
    c->depth--;
}

int mgraph_load_grug (mgraph_t *g, const char *text, size_t len, char *err, size_t errlen)
{
    grug_t c;
    memset (&c, 0, sizeof (c));
    c.g = g;
    c.err = err;
    c.errlen = errlen;
    if (!text || len == 0 || len > (size_t)1 << 30) {
        snprintf (err, errlen, "grug: empty input");
        return -1;
    }
    xmlDoc *doc = xmlReadMemory (text, (int)len, "grug.graphml", NULL,
                                 XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        const xmlError *xe = xmlGetLastError ();
        char msg[200]; /* libxml2's message may span lines ("...!\nBytes: 0xFF"): one line */
        snprintf (err, errlen, "grug: XML parse error%s%s", xe && xe->message ? ": " : "",
                  errline (msg, sizeof msg, xe ? xe->message : NULL));
        return -1;
    }
    int rc = -1;
    rkey_t *keys = NULL;
    int nkeys = 0;
    xmlNode *rootel = xmlDocGetRootElement (doc);
    xmlNode *graph = NULL;
    if (!rootel || strcmp ((const char *)rootel->name, "graphml")) {
        gfail (&c, "no <graphml> element", NULL);
        goto out;
    }
    for (xmlNode *n = rootel->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (!strcmp ((const char *)n->name, "key")) {
            keys = xrealloc (keys, sizeof (*keys) * (nkeys + 1));
            xmlChar *id = xmlGetProp (n, (const xmlChar *)"id");
            xmlChar *nm = xmlGetProp (n, (const xmlChar *)"attr.name");
            xmlChar *fr = xmlGetProp (n, (const xmlChar *)"for");
            keys[nkeys].id = xstr (id);
            keys[nkeys].name = xstr (nm ? nm : id);
            keys[nkeys].for_edge = fr && !strcmp ((const char *)fr, "edge");
            keys[nkeys].dflt = NULL;
            xmlFree (id);
            xmlFree (nm);
            xmlFree (fr);
            for (xmlNode *d = n->children; d; d = d->next) {
                if (d->type == XML_ELEMENT_NODE && !strcmp ((const char *)d->name, "default")) {
                    xmlChar *t = xmlNodeGetContent (d);
                    free (keys[nkeys].dflt); /* the last of several <default> wins */
                    keys[nkeys].dflt = xstr (t);
                    xmlFree (t);
                }
            }
            nkeys++;
        } else if (!strcmp ((const char *)n->name, "graph") && !graph)
            graph = n;
    }
    if (!graph) {
        gfail (&c, "no <graph> element", NULL);
        goto out;
    }
    for (xmlNode *n = graph->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || strcmp ((const char *)n->name, "node"))
            continue;
        c.v = xrealloc (c.v, sizeof (*c.v) * (c.nv + 1));
        rvtx_t *r = &c.v[c.nv];
        memset (r, 0, sizeof (*r));
        xmlChar *id = xmlGetProp (n, (const xmlChar *)"id");
        r->xid = xstr (id);
        xmlFree (id);
        const char *s;
        r->root = (int)toint (keyval (keys, nkeys, n, "root", 0), 0);
        s = keyval (keys, nkeys, n, "type", 0);
        if (!s || !*s) {
            gfail (&c, "node without a type", r->xid);
            c.nv++;
            goto out;
        }
        r->type = xstrdup (s);
        s = keyval (keys, nkeys, n, "basename", 0);
        r->basename = xstrdup (s && *s ? s : r->type);
        s = keyval (keys, nkeys, n, "unit", 0);
        r->unit = xstrdup (s ? s : "");
        s = keyval (keys, nkeys, n, "subsystem", 0);
        r->subsystem = xstrdup (s && *s ? s : "containment");
        r->size = toint (keyval (keys, nkeys, n, "size", 0), 1);
        if (r->size < 0) {
            gfail (&c, "negative size", r->xid);
            c.nv++;
            goto out;
        }
        c.nv++;
    }
    for (xmlNode *n = graph->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || strcmp ((const char *)n->name, "edge"))
            continue;
        xmlChar *sa = xmlGetProp (n, (const xmlChar *)"source");
        xmlChar *ta = xmlGetProp (n, (const xmlChar *)"target");
        int si = -1, ti = -1;
        for (int i = 0; i < c.nv; i++) {
            if (sa && !strcmp (c.v[i].xid, (const char *)sa))
                si = i;
            if (ta && !strcmp (c.v[i].xid, (const char *)ta))
                ti = i;
        }
        xmlFree (sa);
        xmlFree (ta);
        if (si < 0 || ti < 0) {
            gfail (&c, "edge names an unknown node", NULL);
            goto out;
        }
        c.e = xrealloc (c.e, sizeof (*c.e) * (c.ne + 1));
        redge_t *r = &c.e[c.ne];
        memset (r, 0, sizeof (*r));
        r->src = si;
        r->dst = ti;
        const char *s;
        s = keyval (keys, nkeys, n, "e_subsystem", 1);
        r->e_subsystem = xstrdup (s && *s ? s : "containment");
        s = keyval (keys, nkeys, n, "relation", 1);
        r->relation = xstrdup (s ? s : "contains");
        s = keyval (keys, nkeys, n, "rrelation", 1);
        r->rrelation = xstrdup (s ? s : "in");
        s = keyval (keys, nkeys, n, "gen_method", 1);
        r->gen_method = xstrdup (s && *s ? s : "MULTIPLY");
        s = keyval (keys, nkeys, n, "as_tgt_subsystem", 1);
        r->as_tgt_subsystem = xstrdup (s && *s ? s : "containment");
        r->id_scope = (int)toint (keyval (keys, nkeys, n, "id_scope", 1), 0);
        r->id_start = (int)toint (keyval (keys, nkeys, n, "id_start", 1), 0);
        r->id_stride = (int)toint (keyval (keys, nkeys, n, "id_stride", 1), 1);
        r->multi_scale = (int)toint (keyval (keys, nkeys, n, "multi_scale", 1), 1);
        r->as_tgt_uplvl = (int)toint (keyval (keys, nkeys, n, "as_tgt_uplvl", 1), 1);
        r->as_src_uplvl = (int)toint (keyval (keys, nkeys, n, "as_src_uplvl", 1), 1);
        if (r->multi_scale < 0 || r->multi_scale > 1000000) {
            c.ne++;
            gfail (&c, "multi_scale out of range", NULL);
            goto out;
        }
        int *o = c.v[si].out = xrealloc (c.v[si].out, sizeof (int) * (c.v[si].nout + 1));
        o[c.v[si].nout++] = c.ne;
        c.ne++;
    }
    if (c.nv == 0) {
        gfail (&c, "recipe has no vertices", NULL);
        goto out;
    }
    /* boost's depth_first_search: start at vertex 0, then the rest in order */
    for (int u = 0; u < c.nv && !c.failed; u++)
        if (c.v[u].color == 0)
            dfs (&c, u);
    if (c.failed)
        goto out;
    if (g->nv == 0) {
        gfail (&c, "recipe generates no vertices (no root with edges)", NULL);
        goto out;
    }
    rc = mgraph_finalize (g, err, errlen);
out:
    for (int i = 0; i < nkeys; i++) {
        free (keys[i].id);
        free (keys[i].name);
        free (keys[i].dflt);
    }
    free (keys);
    for (int i = 0; i < c.nv; i++) {
        free (c.v[i].xid);
        free (c.v[i].type);
        free (c.v[i].basename);
        free (c.v[i].unit);
        free (c.v[i].subsystem);
        free (c.v[i].out);
        free (c.v[i].gen);
    }
    free (c.v);
    for (int i = 0; i < c.ne; i++) {
        free (c.e[i].e_subsystem);
        free (c.e[i].relation);
        free (c.e[i].rrelation);
        free (c.e[i].gen_method);
        free (c.e[i].as_tgt_subsystem);
    }
    free (c.e);
    xmlFreeDoc (doc);
    if (c.failed)
        rc = -1;
    return rc;
}
