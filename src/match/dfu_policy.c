/* dfu_policy.c - matcher setup and policies: policy names and options,
 * the subsystems, the pruning filter and its subtree counts, and the
 * scoring callbacks the traversal calls at each vertex (low/high id,
 * node-centric factors, variation's perf_class). */
#include "dfu_impl.h"
#include "errquote.h"
#include "xalloc.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* policy callbacks */
/* ---------------- scoring callbacks ---------------- */

static int64_t factor_of (matcher_t *m, int u)
{
    mvtx_t *x = &m->g->v[u];
    int64_t base = x->id + 1, tie = x->uniq_id;
    if (base < 0 || tie < 0)
        return -1;
    int64_t add = base + 1, mul = add * 10000;
    int64_t tb = tie % 10000 - 1;
    if (tb < 0)
        tb = -tb;
    return mul + tb;
}

int dfu_discover_vtx (matcher_t *m, int u)
{
    if (m->node_centric && m->g->v[u].type == m->node_type) {
        if (m->g->v[u].id < -1)
            return -1;
        int64_t f = factor_of (m, u);
        if (f < 0)
            return -1;
        m->ml_factor = f;
        m->ml_scores += f;
    }
    return 0;
}

/* the perf_class property as Fluxion's variation policy reads it: a
 * leading integer in 0..9999, else (or absent) 9999, the worst class */
static int64_t perf_class (const mvtx_t *x)
{
    for (int i = 0; i < x->nprops; i++) {
        if (strcmp (x->props[i].key, "perf_class"))
            continue;
        char *end;
        errno = 0;
        long long v = strtoll (x->props[i].val, &end, 10);
        if (end == x->props[i].val || errno)
            return 9999;
        return (v < 0 || v > 9999) ? 9999 : v;
    }
    return 9999;
}

int dfu_finish_vtx (matcher_t *m, int u, const mres_t *rs, int n, dfu_t *d)
{
    int64_t score = MATCH_MET;
    mvtx_t *x = &m->g->v[u];
    for (int i = 0; i < n && score == MATCH_MET; i++) {
        if (rs[i].tid != x->type)
            continue;
        for (int k = 0; k < rs[i].nwith; k++) {
            const mres_t *c = &rs[i].with[k];
            unsigned qc = dfu_qual (m, d, c->tid);
            unsigned cnt = mres_calc_count (c, qc);
            if (cnt == 0) {
                score = MATCH_UNMET;
                break;
            }
            dfu_choose_best_k (m, d, c->tid, cnt);
        }
    }
    if (m->node_centric && x->type == m->node_type)
        m->ml_scores -= m->ml_factor;
    if (m->variation)   /* variation-aware: the node's perf_class, lower first */
        d->overall = score == MATCH_MET ? score + perf_class (x) : score;
    else
        d->overall = score == MATCH_MET ? score + m->ml_scores + x->id + 1 : score;
    return score == MATCH_MET ? 0 : -1;
}

/* ---------------- pruning filter setup ---------------- */

/* per dominant subsystem: in-edge counts, which vertices have several
 * paths from the root, and the subtree totals of each prune type (a shared
 * subtree counts under each parent); iterative, in topological order */
void dfu_dom_prepare (matcher_t *m)
{
    mgraph_t *g = m->g;
    m->bb_graph = false;
    for (int v = 0; v < g->nv; v++) {
        g->v[v].ndom_in = 0;
        g->v[v].multi = false;
    }
    for (int e = 0; e < g->ne; e++)
        if (g->e[e].subsys == m->dom)
            g->v[g->e[e].dst].ndom_in++;
    int n = 0;
    int *order = mg_topo (g, m->dom, &n, NULL);
    if (!order)
        return;   /* finalize refuses cycles; nothing to count */
    for (int i = 0; i < n; i++) {
        mvtx_t *x = &g->v[order[i]];
        if (x->ndom_in > 1)
            x->multi = true;
        for (int k = 0; k < x->nout; k++) {
            medge_t *e = &g->e[x->out[k]];
            if (e->subsys == m->dom && x->multi)
                g->v[e->dst].multi = true;
        }
    }
    int64_t *memo = m->nprune ? xmalloc (sizeof (int64_t) * (g->nv ? g->nv : 1)) : NULL;
    for (int k = 0; k < m->nprune && memo; k++) {
        for (int i = n - 1; i >= 0; i--) {
            int u = order[i];
            mvtx_t *x = &g->v[u];
            int64_t below = 0;
            for (int q = 0; q < x->nout; q++) {
                medge_t *e = &g->e[x->out[q]];
                if (e->subsys != m->dom)
                    continue;
                if (below < INT64_MAX / 2)
                    below += memo[e->dst];
            }
            if (below > INT64_MAX / 2)
                below = INT64_MAX / 2;
            memo[u] = below + (x->type == m->ptypes[k] ? x->size : 0);
            bool anchored = m->panchor[k] < 0 || m->panchor[k] == x->type;
            if (below > 0 && anchored) {
                if (!x->agg) {
                    x->agg = xcalloc (m->nprune, sizeof (mplan_t));
                    x->aggtot = xcalloc (m->nprune, sizeof (int64_t));
                    for (int q = 0; q < m->nprune; q++)
                        x->aggtot[q] = -1;
                }
                x->aggtot[k] = below;
                x->agg[k].total = below;
            } else if (x->agg && anchored && x->aggtot[k] >= 0) {   /* the subtree shrank */
                x->aggtot[k] = 0;
                x->agg[k].total = 0;
            }
        }
    }
    free (memo);
    dfu_bb_prepare (m, order, n);
    free (order);
}

static int setup_prune (matcher_t *m, const char *spec, char *err, size_t errlen)
{
    mgraph_t *g = m->g;
    char *s = xstrdup (spec ? spec : "ALL:core,ALL:node");
    char *save = NULL;
    for (char *tok = strtok_r (s, ",", &save); tok; tok = strtok_r (NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        if (!*tok)
            continue;
        char *c = strchr (tok, ':');
        if (!c || c == tok || !c[1]) {
            errfmt (err, errlen, "bad prune filter \"%s\" (want ANCHOR:TYPE)", tok);
            free (s);
            return -1;
        }
        *c = '\0';
        int anchor = !strcmp (tok, "ALL") ? -1 : mg_intern_type (g, tok);
        int t = mg_intern_type (g, c + 1);
        m->ptypes = xrealloc (m->ptypes, sizeof (int) * (m->nprune + 1));
        m->panchor = xrealloc (m->panchor, sizeof (int) * (m->nprune + 1));
        m->ptypes[m->nprune] = t;
        m->panchor[m->nprune] = anchor;
        m->nprune++;
    }
    free (s);
    dfu_dom_prepare (m);
    return 0;
}

/* ---------------- policies and the matcher ---------------- */

static int parse_policy (matcher_t *m, const char *policy, char *err, size_t errlen)
{
    static const struct {
        const char *name, *spec;
    } named[] = {
        {"first", "policy=high node_centric=true stop_on_1_matches=true"},
        {"firstnodex", "policy=high node_centric=true node_exclusive=true stop_on_1_matches=true"},
        {"high", "policy=high"},
        {"low", "policy=low"},
        {"lonode", "policy=low node_centric=true"},
        {"hinode", "policy=high node_centric=true"},
        {"lonodex", "policy=low node_centric=true node_exclusive=true"},
        {"hinodex", "policy=high node_centric=true node_exclusive=true"},
        {"locality", "policy=high"},
        {"variation", "policy=low"},
    };
    const char *spec = policy;
    for (size_t i = 0; i < sizeof (named) / sizeof (named[0]); i++)
        if (!strcmp (policy, named[i].name))
            spec = named[i].spec;
    if (!strcmp (policy, "variation"))
        m->variation = true;
    char *s = xstrdup (spec), *save = NULL;
    bool have_pol = false;
    for (char *tok = strtok_r (s, " ", &save); tok; tok = strtok_r (NULL, " ", &save)) {
        char *eq = strchr (tok, '=');
        if (!eq) {
            errfmt (err, errlen, "unknown match policy \"%s\"", policy);
            free (s);
            return -1;
        }
        *eq = '\0';
        const char *k = tok, *v = eq + 1;
        if (!strcmp (k, "policy")) {
            if (!strcmp (v, "high"))
                m->high = true;
            else if (!strcmp (v, "low"))
                m->high = false;
            else {
                errfmt (err, errlen, "policy key accepts only low or high");
                free (s);
                return -1;
            }
            have_pol = true;
            continue;
        }
        bool b;
        if (!strcmp (v, "true"))
            b = true;
        else if (!strcmp (v, "false"))
            b = false;
        else {
            errfmt (err, errlen, "policy option %s requires true or false", k);
            free (s);
            return -1;
        }
        if (!strcmp (k, "node_centric"))
            m->node_centric = b;
        else if (!strcmp (k, "node_exclusive"))
            m->node_excl = b;
        else if (!strcmp (k, "stop_on_1_matches"))
            m->stop_on_1 = b;
        else {
            errfmt (err, errlen, "invalid policy option: %s", k);
            free (s);
            return -1;
        }
    }
    free (s);
    if (!have_pol) {
        return errfail (err, errlen, "unknown match policy \"%s\"", policy);
    }
    return 0;
}

matcher_t *matcher_new (mgraph_t *g, const char *policy, const char *subsystems,
                        const char *prune_spec, char *err, size_t errlen)
{
    if (!g || g->nv == 0 || !g->roots) {
        errfmt (err, errlen, "resource graph is empty");
        return NULL;
    }
    matcher_t *m = xcalloc (1, sizeof (*m));
    m->g = g;
    if (parse_policy (m, policy ? policy : "first", err, errlen) < 0) {
        free (m);
        return NULL;
    }
    const char *ss = subsystems ? subsystems : "CA";
    const char *domname = "containment";
    if (!strcmp (ss, "PA"))
        domname = "power";
    else if (!strcmp (ss, "IBA"))
        domname = "ibnet";
    else if (!strcmp (ss, "CA") || !strcmp (ss, "C+PA") || !strcmp (ss, "C+IBA")
             || !strcmp (ss, "C+PA+IBA") || !strcmp (ss, "C+P+IBA"))
        domname = "containment";
    else
        domname = ss;
    m->dom = mg_subsys_lookup (g, domname);
    if (m->dom < 0 || g->roots[m->dom] < 0) {
        errfmt (err, errlen, "graph has no %s subsystem", domname);
        free (m);
        return NULL;
    }
    m->node_type = mg_intern_type (g, "node");
    m->slot_type = mg_intern_type (g, "slot");
    g->nmatchers++;
    if (setup_prune (m, prune_spec, err, errlen) < 0) {
        matcher_destroy (&m);
        return NULL;
    }
    m->visit_budget = (unsigned)(8 * (int64_t)g->nv + 1024);
    m->conflict_edge = -1;
    return m;
}

void matcher_destroy (matcher_t **mp)
{
    if (!mp || !*mp)
        return;
    matcher_t *m = *mp;
    while (m->njobs > 0)
        matcher_cancel (m, m->jobs[0].jobid);
    free (m->jobs);
    for (int v = 0; v < m->g->nv; v++) {
        mvtx_t *x = &m->g->v[v];
        if (x->agg) {
            for (int k = 0; k < m->nprune; k++)
                mplan_free (&x->agg[k]);
            free (x->agg);
            free (x->aggtot);
            x->agg = NULL;
            x->aggtot = NULL;
        }
        free (x->bb);
        x->bb = NULL;
    }
    m->g->nmatchers--;
    m->g->bb_epoch++;   /* another matcher's bounds went with the vertices' */
    free (m->bb_kok);
    free (m->ptypes);
    free (m->eweight);
    free (m->panchor);
    free (m->banned);
    free (m->xtypes);
    free (m->recs);
    while (m->arena) {
        arena_blk_t *n = m->arena->next;
        free (m->arena);
        m->arena = n;
    }
    free (m);
    *mp = NULL;
}

int matcher_set_format (matcher_t *m, int fmt)
{
    m->fmt = fmt;
    return 0;
}

void matcher_graph_changed (matcher_t *m)
{
    mgraph_t *g = m->g;
    dfu_dom_prepare (m);
    m->visit_budget = (unsigned)(8 * (int64_t)g->nv + 1024);
}

void matcher_set_flexible (matcher_t *m, bool flexible)
{
    m->flexible = flexible;
}

void matcher_set_now (matcher_t *m, int64_t now)
{
    m->now = now;
}

unsigned matcher_preorder_count (const matcher_t *m)
{
    return m->preorder;
}

unsigned matcher_postorder_count (const matcher_t *m)
{
    return m->postorder;
}
