/* find.c - Fluxion's `find` expressions over the graph.  Predicates:
 * status=up|down, sched-now=allocated|free, sched-future=reserved|free,
 * jobid-alloc|jobid-span|jobid-tag|jobid-reserved=ID, property=NAME,
 * names=HOSTLIST, agfilter=true|false.  Terms are joined by "and", "or" or
 * juxtaposition (and), grouped by parentheses, and evaluated left to right
 * without precedence, as Fluxion does.  A vertex that is down, allocated or
 * reserved makes its whole subtree so for status and sched predicates.
 * The matching vertices and their ancestors are written in the match
 * format, post-order, each with its full size and exclusive. */
#include "mdfu.h"
#include "xalloc.h"
#include "hostlist.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { P_STATUS, P_SNOW, P_SFUT, P_JALLOC, P_JSPAN, P_JTAG, P_JRESV, P_AGF, P_NAMES, P_PROP };

typedef struct fnode fnode_t;
struct fnode {
    bool leaf;
    /* leaf */
    int pred;
    bool want;         /* status=down, sched-now=allocated, sched-future=reserved, agfilter */
    int64_t jobid;
    char *str;         /* property name */
    char **hosts;
    size_t nhosts;
    /* group: terms[0] op1 terms[1] op2 ... */
    fnode_t **terms;
    char *ops;         /* 'a' or 'o', one per term after the first */
    int n;
};

typedef struct {
    bool down, alloc, resv;   /* inherited from an ancestor */
} fover_t;

static void fnode_free (fnode_t *f)
{
    if (!f)
        return;
    free (f->str);
    hostlist_free (f->hosts, f->nhosts);
    for (int i = 0; i < f->n; i++)
        fnode_free (f->terms[i]);
    free (f->terms);
    free (f->ops);
    free (f);
}

static void lower (char *s)
{
    for (; *s; s++)
        *s = (char)tolower ((unsigned char)*s);
}

static int parse_jobid (const char *s, int64_t *out)
{
    char *end;
    if (!*s || !isdigit ((unsigned char)*s))
        return -1;
    long long v = strtoll (s, &end, 10);
    if (*end)
        return -1;
    *out = v;
    return 0;
}

static fnode_t *parse_leaf (const char *tok, size_t len)
{
    char *t = xstrndup (tok, len);
    char *eq = strchr (t, '=');
    fnode_t *f = xcalloc (1, sizeof (*f));
    if (!eq)
        goto bad;
    *eq = '\0';
    const char *key = t;
    char *val = eq + 1;
    char *lval = xstrdup (val);
    lower (lval);
    f->leaf = true;
    int ok = 0;
    if (!strcmp (key, "status")) {
        f->pred = P_STATUS;
        ok = !strcmp (lval, "down") || !strcmp (lval, "up");
        f->want = !strcmp (lval, "down");
    } else if (!strcmp (key, "sched-now")) {
        f->pred = P_SNOW;
        ok = !strcmp (lval, "allocated") || !strcmp (lval, "free");
        f->want = !strcmp (lval, "allocated");
    } else if (!strcmp (key, "sched-future")) {
        f->pred = P_SFUT;
        ok = !strcmp (lval, "reserved") || !strcmp (lval, "free");
        f->want = !strcmp (lval, "reserved");
    } else if (!strcmp (key, "jobid-alloc") || !strcmp (key, "jobid-span")
               || !strcmp (key, "jobid-tag") || !strcmp (key, "jobid-reserved")) {
        f->pred = !strcmp (key, "jobid-alloc")  ? P_JALLOC
                  : !strcmp (key, "jobid-span") ? P_JSPAN
                  : !strcmp (key, "jobid-tag")  ? P_JTAG
                                                : P_JRESV;
        ok = parse_jobid (val, &f->jobid) == 0;
    } else if (!strcmp (key, "agfilter")) {
        f->pred = P_AGF;
        ok = !strcmp (lval, "true") || !strcmp (lval, "t") || !strcmp (lval, "false")
             || !strcmp (lval, "f");
        f->want = lval[0] == 't';
    } else if (!strcmp (key, "names")) {
        char e2[128];
        f->pred = P_NAMES;
        f->hosts = hostlist_expand (lval, &f->nhosts, e2, sizeof (e2));
        ok = f->hosts != NULL;
    } else if (!strcmp (key, "property")) {
        f->pred = P_PROP;
        f->str = xstrdup (lval);
        ok = lval[0] != '\0';
    }
    free (lval);
    if (!ok)
        goto bad;
    free (t);
    return f;
bad:
    free (t);
    fnode_free (f);
    return NULL;
}

static bool is_ws (char c)
{
    return c == ' ' || c == '\t';
}

static fnode_t *parse_expr (const char *e, size_t len);

/* one term at e[*at]: a parenthesised group or a leaf up to whitespace */
static fnode_t *parse_term (const char *e, size_t len, size_t *at)
{
    size_t p = *at;
    while (p < len && is_ws (e[p]))
        p++;
    if (p >= len)
        return NULL;
    if (e[p] == '(') {
        int bal = 1;
        size_t q = p + 1;
        while (q < len && bal) {
            if (e[q] == '(')
                bal++;
            else if (e[q] == ')')
                bal--;
            q++;
        }
        if (bal)
            return NULL;
        fnode_t *f = parse_expr (e + p + 1, q - p - 2);
        *at = q;
        return f;
    }
    size_t q = p;
    while (q < len && !is_ws (e[q]))
        q++;
    *at = q;
    return parse_leaf (e + p, q - p);
}

static fnode_t *parse_expr (const char *e, size_t len)
{
    size_t last = len;
    while (last > 0 && is_ws (e[last - 1]))
        last--;
    fnode_t *g = xcalloc (1, sizeof (*g));
    size_t at = 0;
    for (;;) {
        fnode_t *t = parse_term (e, last, &at);
        if (!t) {
            fnode_free (g);
            return NULL;
        }
        g->terms = xrealloc (g->terms, sizeof (fnode_t *) * (g->n + 1));
        g->ops = xrealloc (g->ops, g->n + 2);
        g->terms[g->n++] = t;
        if (at >= last)
            break;
        /* an operator needs whitespace after the term */
        if (!is_ws (e[at])) {
            fnode_free (g);
            return NULL;
        }
        size_t p = at;
        while (p < last && is_ws (e[p]))
            p++;
        size_t q = p;
        while (q < last && !is_ws (e[q]))
            q++;
        char op = 'a';
        if (q - p == 3 && !strncmp (e + p, "and", 3))
            at = q;
        else if (q - p == 2 && !strncmp (e + p, "or", 2)) {
            op = 'o';
            at = q;
        }
        g->ops[g->n] = op;
    }
    return g;
}

static bool has_span (const mplan_t *p, int64_t id)
{
    return mplan_span_amount (p, id) >= 0;
}

static bool eval (matcher_t *m, const fnode_t *f, int u, const fover_t *o)
{
    mvtx_t *x = &m->g->v[u];
    if (!f->leaf) {
        bool r = eval (m, f->terms[0], u, o);
        for (int i = 1; i < f->n; i++) {
            bool r2 = eval (m, f->terms[i], u, o);
            r = f->ops[i] == 'o' ? (r || r2) : (r && r2);
        }
        return r;
    }
    switch (f->pred) {
        case P_STATUS: {
            bool down = o->down || !x->up;
            return f->want ? down : !down;
        }
        case P_SNOW: {
            bool a = o->alloc || x->nalloc > 0;
            return f->want ? a : !a;
        }
        case P_SFUT: {
            bool r = o->resv || x->nresv > 0;
            return f->want ? r : !r;
        }
        case P_JALLOC:
        case P_JRESV: {
            mjob_t *jb = mdfu_job (m, f->jobid);
            if (!jb || jb->reserved != (f->pred == P_JRESV))
                return false;
            return has_span (&x->plan, f->jobid);
        }
        case P_JSPAN:
            if (!x->agg)
                return false;
            for (int k = 0; k < m->nprune; k++)
                if (x->aggtot[k] >= 0 && has_span (&x->agg[k], f->jobid))
                    return true;
            return false;
        case P_JTAG: {
            mjob_t *jb = mdfu_job (m, f->jobid);
            if (!jb)
                return false;
            for (int i = 0; i < jb->nverts; i++)
                if (jb->verts[i] == u)
                    return true;
            return false;
        }
        case P_AGF:
            return f->want;
        case P_NAMES:
            for (size_t i = 0; i < f->nhosts; i++)
                if (!strcmp (f->hosts[i], x->name))
                    return true;
            return false;
        case P_PROP:
            for (int i = 0; i < x->nprops; i++)
                if (!strcmp (x->props[i].key, f->str))
                    return true;
            return false;
    }
    return false;
}

typedef struct {
    int *verts, *levels;
    int n, cap;
    unsigned char *seen;
    unsigned visits, budget;
} fout_t;

static int find_dfv (matcher_t *m, const fnode_t *f, int u, int level, fover_t o, fout_t *out)
{
    mgraph_t *g = m->g;
    mvtx_t *x = &g->v[u];
    out->seen[u] = 1;
    out->visits++;
    if (!x->up)
        o.down = true;
    if (x->nalloc > 0)
        o.alloc = true;
    if (x->nresv > 0)
        o.resv = true;
    int nchildren = 0;
    for (int i = 0; i < x->nout; i++) {
        medge_t *e = &g->e[x->out[i]];
        /* a vertex with several parents is written under each (within a
         * budget of visits, so a dense DAG cannot explode) */
        if (e->subsys != m->dom
            || (out->seen[e->dst] && (!g->v[e->dst].multi || out->visits > out->budget)))
            continue;
        nchildren += find_dfv (m, f, e->dst, level + 1, o, out);
    }
    if (!eval (m, f, u, &o) && !nchildren)
        return 0;
    if (out->n == out->cap) {
        out->cap = out->cap ? out->cap * 2 : 64;
        out->verts = xrealloc (out->verts, sizeof (int) * out->cap);
        out->levels = xrealloc (out->levels, sizeof (int) * out->cap);
    }
    out->verts[out->n] = u;
    out->levels[out->n] = level;
    out->n++;
    return nchildren + 1;
}

int matcher_find (matcher_t *m, const char *expr, char **out, char *err, size_t errlen)
{
    *out = NULL;
    fnode_t *f = expr ? parse_expr (expr, strlen (expr)) : NULL;
    if (!f) {
        snprintf (err, errlen, "find: invalid criteria: %s.", expr ? expr : "");
        return -1;
    }
    fout_t fo = {0};
    fo.seen = xcalloc (m->g->nv ? m->g->nv : 1, 1);
    fo.budget = (unsigned)(8 * (int64_t)m->g->nv + 1024);
    fover_t o = {0};
    find_dfv (m, f, m->g->roots[m->dom], 0, o, &fo);
    *out = mw_write_find (m, fo.verts, fo.levels, fo.n);
    free (fo.seen);
    free (fo.verts);
    free (fo.levels);
    fnode_free (f);
    return 0;
}
