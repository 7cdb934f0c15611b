/* dfu.c - the depth-first-and-up matcher: traversal and selection.
 *
 * A match walks the dominant subsystem from its root, testing each vertex
 * against the jobspec level it has reached (a jobspec may omit the top of
 * the graph), pruning by status, exclusivity, availability in time and
 * subtree counts.  Each vertex collects its children's candidates in
 * "edge groups" scored by the policy (dfu_policy.c); where the jobspec
 * constrains a level, the best k are chosen, and the choice is recorded in
 * a per-visit selection tree.  The tree is then walked in graph order to
 * emit vertices children-first; dfu_update.c plans them in time.
 *
 * Selections are kept per visit rather than on edges, so a vertex reached
 * through several parents (a node in two containers) is judged per path;
 * if one exclusive vertex ends up chosen through two parents, the second
 * path's entry edge is banned and the match is redone (see doc/match.md).
 * Or-slots are dfu_flexible.c; for low/high and one exact slot on a tree,
 * dfu_bound.c makes the same selection without scoring every candidate.
 */
#include "dfu_impl.h"
#include "errquote.h"
#include "xalloc.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- arena ---------------- */

void *ar_alloc (matcher_t *m, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    arena_blk_t *b = m->arena;
    if (!b || b->used + n > b->cap) {
        size_t cap = n > (1 << 20) ? n : (1 << 20);
        arena_blk_t *nb = xmalloc (sizeof (*nb) + cap);
        nb->next = b;
        nb->used = 0;
        nb->cap = cap;
        m->arena = nb;
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

static void ar_reset (matcher_t *m)
{
    arena_blk_t *b = m->arena;
    if (!b)
        return;
    /* keep the newest block, free the rest */
    arena_blk_t *rest = b->next;
    b->next = NULL;
    b->used = 0;
    while (rest) {
        arena_blk_t *n = rest->next;
        free (rest);
        rest = n;
    }
}

/* ---------------- scoring (dfu_t) ---------------- */

static const char *tname (matcher_t *m, int t)
{
    return m->g->types[t];
}

void dfu_free (dfu_t *d)
{
    for (int i = 0; i < d->nev; i++)
        free (d->ev[i].eg);
    free (d->ev);
    memset (d, 0, sizeof (*d));
}

/* evals for type t, created in type-name order (as std::map would) */
evals_t *dfu_ev (matcher_t *m, dfu_t *d, int t, bool create)
{
    int i;
    for (i = 0; i < d->nev; i++) {
        if (d->ev[i].type == t)
            return &d->ev[i];
    }
    if (!create)
        return NULL;
    if (d->nev == d->cap) {
        int nc = d->cap ? d->cap * 2 : 4;
        evals_t *p = xrealloc (d->ev, sizeof (*p) * nc);
        d->ev = p;
        d->cap = nc;
    }
    const char *nm = tname (m, t);
    for (i = 0; i < d->nev; i++)
        if (strcmp (tname (m, d->ev[i].type), nm) > 0)
            break;
    memmove (&d->ev[i + 1], &d->ev[i], sizeof (evals_t) * (d->nev - i));
    memset (&d->ev[i], 0, sizeof (evals_t));
    d->ev[i].type = t;
    d->ev[i].iter = -1;
    d->nev++;
    return &d->ev[i];
}

static void ev_push (evals_t *e, const egroup_t *g)
{
    if (e->n == e->cap) {
        int nc = e->cap ? e->cap * 2 : 4;
        egroup_t *p = xrealloc (e->eg, sizeof (*p) * nc);
        e->eg = p;
        e->cap = nc;
    }
    e->eg[e->n++] = *g;
}

void dfu_add (matcher_t *m, dfu_t *d, int t, const egroup_t *g)
{
    evals_t *e = dfu_ev (m, d, t, true);
    e->total += g->count;
    if (g->score > 0)
        e->qual += g->count;
    ev_push (e, g);
}

unsigned dfu_qual (matcher_t *m, dfu_t *d, int t)
{
    evals_t *e = dfu_ev (m, d, t, false);
    return e ? e->qual : 0;
}

static void dfu_merge (matcher_t *m, dfu_t *to, dfu_t *from)
{
    for (int i = 0; i < from->nev; i++) {
        evals_t *s = &from->ev[i];
        evals_t *e = dfu_ev (m, to, s->type, true);
        e->qual += s->qual;
        e->total += s->total;
        for (int k = 0; k < s->n; k++)
            ev_push (e, &s->eg[k]);
    }
}

/* stable merge sort of egroups by score, higher first if `high` */
static void eg_sort (egroup_t *a, int n, bool high)
{
    if (n < 2)
        return;
    if (n <= 16) {
        for (int i = 1; i < n; i++) {
            egroup_t x = a[i];
            int j = i - 1;
            while (j >= 0 && (high ? x.score > a[j].score : x.score < a[j].score)) {
                a[j + 1] = a[j];
                j--;
            }
            a[j + 1] = x;
        }
        return;
    }
    int h = n / 2;
    eg_sort (a, h, high);
    eg_sort (a + h, n - h, high);
    egroup_t *tmp = xmalloc (sizeof (egroup_t) * n);
    int i = 0, j = h, k = 0;
    while (i < h && j < n) {
        bool takeb = high ? a[j].score > a[i].score : a[j].score < a[i].score;
        tmp[k++] = takeb ? a[j++] : a[i++];
    }
    while (i < h)
        tmp[k++] = a[i++];
    while (j < n)
        tmp[k++] = a[j++];
    memcpy (a, tmp, sizeof (egroup_t) * n);
    free (tmp);
}

int dfu_choose_best_k (matcher_t *m, dfu_t *d, int t, unsigned k)
{
    evals_t *e = dfu_ev (m, d, t, true);
    if (k == 0 || k > e->qual)
        return -1;
    eg_sort (e->eg, e->n, m->high);
    int i = 0;
    long long left = k;
    while (left > 0 && i < e->n) {
        e->eg[i].needs = left <= (long long)e->eg[i].count ? (unsigned)left : e->eg[i].count;
        left -= e->eg[i].count;
        i++;
    }
    e->best_k = k;
    e->best_i = i;
    d->hier = true;
    return 0;
}

/* ---------------- helpers ---------------- */

static bool res_excl (matcher_t *m, const mres_t *r)
{
    if (r->excl == 1)
        return true;
    if (r->excl == -1 && m->node_excl && r->tid == m->node_type && r->tid >= 0)
        return true;
    return false;
}

static bool exclusivity (matcher_t *m, const mres_t *rs, int n, int u)
{
    for (int i = 0; i < n; i++)
        if (rs[i].tid == m->g->v[u].type && res_excl (m, &rs[i]))
            return true;
    return false;
}

bool dfu_in_dom (matcher_t *m, int e)
{
    return m->g->e[e].subsys == m->dom;
}

static int by_subplan (matcher_t *m, const jmeta_t *j, int u, const mres_t *r)
{
    mvtx_t *x = &m->g->v[u];
    if (!x->agg || !r->udata)
        return 0;
    for (int k = 0; k < m->nprune; k++) {
        int64_t need = r->udata[k];
        if (need <= 0 || x->aggtot[k] < 0)
            continue;
        mplan_t *p = &x->agg[k];
        if (mplan_avail (p, j->at, j->dur) < need)
            return -1;
    }
    return 0;
}

static bool vtx_has_prop (const char *name, void *arg)
{
    const mvtx_t *x = arg;
    for (int i = 0; i < x->nprops; i++)
        if (!strcmp (x->props[i].key, name))
            return true;
    return false;
}

/* RFC 31 constraints apply to nodes: rank, name (the hostname), properties */
static bool node_allowed (const matcher_t *m, const mvtx_t *x)
{
    if (!m->cons || x->type != m->node_type)
        return true;
    struct constraint_node cn = { .rank = x->rank < 0 ? UINT32_MAX : (uint32_t)x->rank,
                                  .hostname = x->name, .has_prop = vtx_has_prop,
                                  .arg = (void *)x };
    return constraint_match (m->cons, &cn);
}

int dfu_prune (matcher_t *m, const jmeta_t *j, bool excl, int u, const mres_t *rs, int n)
{
    mvtx_t *x = &m->g->v[u];
    if (!x->up)   /* as the goldens: a down vertex is unusable even for satisfiability */
        return -1;
    if (!node_allowed (m, x))
        return -1;
    if (mplan_avail (&x->plan, j->at, j->dur) == 0)
        return -1;
    for (int i = 0; i < n; i++) {
        const mres_t *r = &rs[i];
        if (x->type != r->tid && !r->type_is_slot)
            continue;
        if (!r->type_is_slot) {
            if (excl || res_excl (m, r)) {
                if (j->alloc_type == AT_ALLOC && x->nalloc > 0)
                    return -1;
                if (mplan_avail (&x->xchk, j->at, j->dur) < XCHK_TOTAL)
                    return -1;
            }
        }
        if (r->type_is_slot && m->flexible)
            continue;
        if (by_subplan (m, j, u, r) < 0)
            return -1;
    }
    return 0;
}

bool dfu_slot_fits (matcher_t *m, int u, const mres_t *slot)
{
    mgraph_t *g = m->g;
    for (int k = 0; k < slot->nwith; k++) {
        bool found = false;
        for (int i = 0; i < g->v[u].nout && !found; i++)
            if (g->e[g->v[u].out[i]].subsys >= 0
                && g->v[g->e[g->v[u].out[i]].dst].type == slot->with[k].tid)
                found = true;
        if (!found)
            return false;
    }
    return true;
}

static int match_kind (matcher_t *m, int u, const mres_t *rs, int n, bool *pristine,
                       unsigned *nslots, const mres_t **next, int *nnext, const char **label)
{
    if (m->flexible)
        return dfu_match_kind_flex (m, u, rs, n, pristine, nslots, next, nnext);
    mgraph_t *g = m->g;
    const mres_t *slot = NULL, *mr = NULL;
    bool matched = false;
    *next = rs;
    *nnext = n;
    for (int i = 0; i < n; i++) {
        const mres_t *r = &rs[i];
        if (g->v[u].type == r->tid) {
            if (matched)
                return NONE_MATCH;
            mr = r;
            for (int k = 0; k < r->nwith; k++) {
                if (r->with[k].type_is_slot) {
                    slot = &r->with[k];
                    *nslots = mres_effective_max (slot);
                }
            }
            matched = true;
        } else if (r->type_is_slot) {
            if (matched)
                return NONE_MATCH;
            slot = r;
            *nslots = mres_effective_max (r);
            matched = true;
        }
    }
    bool slotm = false;
    if (slot) {
        slotm = true;
        for (int k = 0; k < slot->nwith && slotm; k++) {
            bool found = false;
            for (int i = 0; i < g->v[u].nout; i++) {
                if (g->e[g->v[u].out[i]].subsys >= 0
                    && g->v[g->e[g->v[u].out[i]].dst].type == slot->with[k].tid) {
                    found = true;
                    break;
                }
            }
            if (!found)
                slotm = false;
        }
    }
    if (slotm) {
        *pristine = false;
        *label = slot->label;
        *next = slot->with;
        *nnext = slot->nwith;
        return SLOT_MATCH;
    }
    if (mr) {
        *pristine = false;
        *next = mr->with;
        *nnext = mr->nwith;
        return RESOURCE_MATCH;
    }
    return *pristine ? PRISTINE_NONE_MATCH : NONE_MATCH;
}

static int dom_dfv (matcher_t *m, const jmeta_t *j, int u, const mres_t *rs, int n, bool pristine,
                    bool *excl, dfu_t *to_parent, visit_t *pv, int pedge, visit_t **vout);

void dfu_sel_add (visit_t *v, matcher_t *m, int edge, unsigned needs, bool excl,
                  visit_t *child, bool weak)
{
    for (int i = 0; i < v->nsel; i++) {
        if (v->sel[i].edge == edge && v->sel[i].child == child) {
            if (!weak) {
                v->sel[i].needs = needs;
                v->sel[i].excl = excl;
                v->sel[i].weak = 0;
            }
            return;
        }
    }
    if (v->nsel == v->capsel) {
        int nc = v->capsel ? v->capsel * 2 : 4;
        sel_t *p = ar_alloc (m, sizeof (sel_t) * nc);
        if (v->nsel)
            memcpy (p, v->sel, sizeof (sel_t) * v->nsel);
        v->sel = p;
        v->capsel = nc;
    }
    sel_t *s = &v->sel[v->nsel++];
    s->edge = edge;
    s->needs = needs;
    s->excl = excl;
    s->weak = weak;
    s->child = child;
}

bool dfu_sel_has (visit_t *v, int edge, visit_t *child)
{
    for (int i = 0; i < v->nsel; i++)
        if (v->sel[i].edge == edge && v->sel[i].child == child)
            return true;
    return false;
}

/* record chosen egroups at the visit holding each edge's source */
static int enforce (matcher_t *m, dfu_t *d, bool unconstrained)
{
    for (int t = 0; t < d->nev; t++) {
        evals_t *e = &d->ev[t];
        if (!e->best_k)
            continue;
        for (unsigned i = 0; i < e->best_i && (int)i < e->n; i++) {
            egroup_t *g = &e->eg[i];
            if (g->root)
                continue;
            for (int k = 0; k < g->nedges; k++) {
                eedge_t *ed = &g->edges[k];
                visit_t *c = ed->child;
                if (!c || !c->parent)
                    continue;
                dfu_sel_add (c->parent, m, ed->edge, ed->needs, ed->excl, c, false);
                if (!unconstrained)
                    continue;
                visit_t *cur = c->parent;
                while (cur->parent) {
                    visit_t *p = cur->parent;
                    if (dfu_sel_has (p, cur->pedge, cur))
                        break;
                    int tt = m->g->v[cur->v].type;
                    evals_t *te = dfu_ev (m, d, tt, false);
                    if (!(te && te->best_k))
                        dfu_sel_add (p, m, cur->pedge, (unsigned)m->g->v[cur->v].size, false, cur,
                                 true);
                    cur = p;
                }
            }
        }
    }
    return 0;
}

static int resolve (matcher_t *m, dfu_t *d, dfu_t *to_parent)
{
    if (d->overall > MATCH_UNMET) {
        if (d->hier)
            return enforce (m, d, false);
        dfu_merge (m, to_parent, d);
    }
    return 0;
}

/* explore children of u in the dominant subsystem */
static matcher_t *sort_m;
typedef struct {
    int e;
    int64_t w, uniq;
} oedge_t;

/* weight of an out-edge for first-match exploration: the units of the
 * pruning types still free below its target */
static int64_t edge_weight (matcher_t *m, const jmeta_t *j, int e)
{
    mvtx_t *x = &m->g->v[m->g->e[e].dst];
    int64_t w = 0;
    if (!x->agg)
        return 0;
    for (int k = 0; k < m->nprune; k++)
        if (x->aggtot[k] > 0)
            w += mplan_avail (&x->agg[k], m->now, j->dur);
    return w;
}

static int edge_cmp_desc (const void *a, const void *b)
{
    const oedge_t *x = a, *y = b;
    if (x->w != y->w)
        return x->w < y->w ? 1 : -1;
    return x->uniq < y->uniq ? 1 : x->uniq > y->uniq ? -1 : 0;
}

/* have the candidates found so far of r's type enough for `mult` copies
 * of r?  Counted in whole vertices, as slots take them: a 616 GB ssd gives
 * one share of 101 GB, not six (granule-aware first-match stopping) */
static bool type_enough (matcher_t *m, dfu_t *d, const mres_t *r, unsigned mult)
{
    evals_t *e = dfu_ev (m, d, r->tid, false);
    unsigned need = mres_effective_max (r);
    if (!e || need == 0)
        return false;
    if (mult <= 1)
        return e->qual >= need;
    unsigned long long acc = 0, shares = 0;
    for (int k = 0; k < e->n; k++) {
        if (e->eg[k].score <= 0)
            continue;
        acc += e->eg[k].count;
        if (acc >= need) {
            shares++;
            acc = 0;
        }
    }
    return shares >= mult;
}

int dfu_explore (matcher_t *m, const jmeta_t *j, int u, const mres_t *rs, int n, bool pristine,
                 bool *excl, dfu_t *d, unsigned mult, visit_t *uv)
{
    mgraph_t *g = m->g;
    int rc2 = -1;
    mvtx_t *x = &g->v[u];
    int nout = x->nout;
    int local[64];
    int *order = x->out;
    if (m->stop_on_1 && nout > 0) {
        oedge_t *oe = xmalloc (sizeof (oedge_t) * nout);
        for (int i = 0; i < nout; i++) {
            oe[i].e = x->out[i];
            oe[i].w = x->out[i] < m->neweight && m->eweight[x->out[i]] >= 0
                          ? m->eweight[x->out[i]]
                          : edge_weight (m, j, x->out[i]);
            oe[i].uniq = g->v[g->e[x->out[i]].dst].uniq_id;
        }
        qsort (oe, nout, sizeof (oedge_t), edge_cmp_desc);
        order = nout <= 64 ? local : xmalloc (sizeof (int) * nout);
        for (int i = 0; i < nout; i++)
            order[i] = oe[i].e;
        free (oe);
    }
    for (int i = 0; i < nout; i++) {
        int e = order[i];
        if (!dfu_in_dom (m, e) || (m->banned && m->banned[e]))
            continue;
        int tgt = g->e[e].dst;
        mvtx_t *t = &g->v[tgt];
        if (t->gray == m->seq)
            continue;   /* cycle */
        if (t->stamp == m->seq && (!t->multi || m->visits > m->visit_budget))
            continue;   /* already visited */
        if (m->stop_on_1) {
            bool sat = false;
            for (int k = 0; k < n; k++) {
                if (rs[k].tid == t->type && type_enough (m, d, &rs[k], mult)) {
                    sat = true;
                }
            }
            if (sat)
                continue;
        }
        bool x_inout = *excl;
        visit_t *cv = NULL;
        int rc = dom_dfv (m, j, tgt, rs, n, pristine, &x_inout, d, uv, e, &cv);
        if (rc == 0) {
            egroup_t eg = {0};
            eg.score = d->overall;
            eg.count = d->avail;
            eg.needs = 0;
            eg.excl = x_inout;
            eg.nedges = 1;
            eg.edges = ar_alloc (m, sizeof (eedge_t));
            eg.edges[0].count = d->avail;
            eg.edges[0].needs = d->avail;
            eg.edges[0].excl = x_inout;
            eg.edges[0].edge = e;
            eg.edges[0].child = cv;
            dfu_add (m, d, t->type, &eg);
            rc2 = 0;
            if (m->stop_on_1 && n > 0) {
                bool enough = true;
                for (int k = 0; k < n; k++) {
                    if (!type_enough (m, d, &rs[k], mult)) {
                        enough = false;
                        break;
                    }
                }
                if (enough)
                    break;
            }
        }
    }
    if (order != x->out && order != local)
        free (order);
    return rc2;
}

int dfu_finish_slot (matcher_t *m, dfu_t *d)
{
    for (int i = 0; i < d->nev; i++)
        dfu_choose_best_k (m, d, d->ev[i].type, d->ev[i].qual);
    return 0;
}

egroup_t *dfu_ev_next (evals_t *e)
{
    if (e->iter < 0)
        e->iter = 0;
    else if (e->iter < e->n)
        e->iter++;
    return e->iter < e->n ? &e->eg[e->iter] : NULL;
}

static unsigned cnt_slot (matcher_t *m, const mres_t *shape, int n, dfu_t *ds)
{
    unsigned qual = UINT_MAX;
    for (int i = 0; i < n; i++) {
        evals_t *e = dfu_ev (m, ds, shape[i].tid, true);
        unsigned qc = e->qual;
        unsigned count = mres_calc_count (&shape[i], qc);
        unsigned shares = 0;
        if (count != 0) {
            unsigned long long acc = 0;
            for (int k = 0; k < e->n; k++) {
                acc += e->eg[k].edges[0].count;
                if (acc >= count) {
                    shares++;
                    acc = 0;
                }
            }
        }
        unsigned fit = count == 0 ? 0 : shares;
        if (fit < qual)
            qual = fit;
        e->iter = -1;
    }
    return qual == UINT_MAX ? 0 : qual;
}

int dfu_slot_group (matcher_t *m, dfu_t *ds, const mres_t *shape, int n, bool whole, const char *label,
                    egroup_t *eg)
{
    int64_t score = MATCH_MET;
    int cap = 8, ne = 0;
    eedge_t *edges = xmalloc (sizeof (eedge_t) * cap);
    for (int s = 0; s < n; s++) {
        evals_t *e = dfu_ev (m, ds, shape[s].tid, true);
        unsigned cnt = mres_calc_count (&shape[s], e->qual);
        unsigned got = 0;
        if (whole && cnt == 0) {   /* an element of the slot is not available */
            free (edges);
            return -1;
        }
        while (got < cnt) {
            egroup_t *g = dfu_ev_next (e);
            if (!g) {
                free (edges);
                return -1;
            }
            if (ne == cap) {
                cap *= 2;
                edges = xrealloc (edges, sizeof (eedge_t) * cap);
            }
            edges[ne] = g->edges[0];
            edges[ne].needs = g->edges[0].count;
            edges[ne].excl = 1;
            ne++;
            score += g->score;
            got += g->edges[0].count;
        }
    }
    *eg = (egroup_t){ .score = score, .count = 1, .excl = 1, .label = label, .nedges = ne };
    eg->edges = ar_alloc (m, sizeof (eedge_t) * (ne ? ne : 1));
    memcpy (eg->edges, edges, sizeof (eedge_t) * ne);
    free (edges);
    return 0;
}

static int dom_slot (matcher_t *m, const jmeta_t *j, int u, const mres_t *shape, int n,
                     unsigned nslots, bool pristine, const char *label, dfu_t *d, visit_t *uv)
{
    bool x_inout = true;
    dfu_t ds = {0};
    unsigned qual = 0;
    if (dfu_explore (m, j, u, shape, n, pristine, &x_inout, &ds, nslots, uv) != 0)
        goto done;
    dfu_finish_slot (m, &ds);
    qual = cnt_slot (m, shape, n, &ds);
    egroup_t *groups = qual ? xmalloc (sizeof (egroup_t) * qual) : NULL;
    for (unsigned i = 0; i < qual; i++)
        if (dfu_slot_group (m, &ds, shape, n, false, label, &groups[i]) < 0) {
            free (groups);
            qual = 0;
            goto done;
        }
    for (unsigned i = 0; i < qual; i++)
        dfu_add (m, d, m->slot_type, &groups[i]);
    free (groups);
done:
    dfu_free (&ds);
    return qual ? 0 : -1;
}

static int dom_dfv (matcher_t *m, const jmeta_t *j, int u, const mres_t *rs, int n, bool pristine,
                    bool *excl, dfu_t *to_parent, visit_t *pv, int pedge, visit_t **vout)
{
    int rc = -1;
    mvtx_t *x = &m->g->v[u];
    bool x_in = *excl || exclusivity (m, rs, n, u);
    bool x_inout = x_in;
    bool check_pres = pristine;
    unsigned nslots = 0;
    const char *label = NULL;
    const mres_t *next;
    int nnext;
    dfu_t d = {0};
    int sm = match_kind (m, u, rs, n, &check_pres, &nslots, &next, &nnext, &label);
    m->preorder++;
    m->visits++;
    if (sm == NONE_MATCH)
        return -1;
    if (dfu_prune (m, j, x_in, u, rs, n) < 0 || dfu_discover_vtx (m, u) < 0)
        return -1;
    visit_t *v = ar_alloc (m, sizeof (visit_t));
    memset (v, 0, sizeof (*v));
    v->v = u;
    v->parent = pv;
    v->pedge = pedge;
    x->stamp = m->seq;
    x->gray = m->seq;
    if (sm == SLOT_MATCH && m->flexible)
        dfu_dom_slot_flex (m, j, u, next, nnext, nslots, check_pres, &d, v);
    else if (sm == SLOT_MATCH)
        dom_slot (m, j, u, next, nnext, nslots, check_pres, label, &d, v);
    else
        dfu_explore (m, j, u, next, nnext, check_pres, &x_inout, &d, 1, v);
    *excl = x_in;
    x->gray = 0;
    int64_t avail = mplan_avail (&x->plan, j->at, j->dur);
    if (avail <= 0)
        goto done;
    if (dfu_finish_vtx (m, u, rs, n, &d) != 0)
        goto done;
    if ((rc = resolve (m, &d, to_parent)) != 0)
        goto done;
    to_parent->avail = (unsigned)(avail > UINT_MAX ? UINT_MAX : avail);
    to_parent->overall = d.overall;
    m->postorder++;
    *vout = v;
done:
    dfu_free (&d);
    return rc;
}

void dfu_walk_begin (matcher_t *m)
{
    mgraph_t *g = m->g;
    if (++g->seq == 0) {
        for (int v = 0; v < g->nv; v++)
            g->v[v].stamp = g->v[v].gray = g->v[v].emit_stamp = 0;
        g->seq = 1;
    }
    m->seq = g->seq;
    m->preorder = m->postorder = 0;
    m->visits = 0;
    m->ml_scores = 0;
}

static int select_at (matcher_t *m, const mjobspec_t *js, const jmeta_t *j, selection_t *out)
{
    mgraph_t *g = m->g;
    int root = g->roots[m->dom];
    dfu_t d = {0};
    bool x_in = exclusivity (m, js->res, js->nres, root);
    bool excl0 = x_in;
    int rc;
    visit_t *rv = NULL;
    /* the sequence lives in the graph so vertex stamps never go stale
     * across matchers sharing it */
    dfu_walk_begin (m);
    rc = dom_dfv (m, j, root, js->res, js->nres, true, &x_in, &d, NULL, -1, &rv);
    if (rc == 0) {
        egroup_t eg = {0};
        eg.score = d.overall;
        eg.count = d.avail;
        eg.excl = excl0;
        eg.root = 1;
        eg.nedges = 1;
        eg.edges = ar_alloc (m, sizeof (eedge_t));
        memset (eg.edges, 0, sizeof (eedge_t));
        eg.edges[0].edge = -1;
        dfu_add (m, &d, g->v[root].type, &eg);
        /* dom_finish_graph */
        int64_t score = MATCH_MET;
        for (int i = 0; i < js->nres; i++) {
            unsigned qc = dfu_qual (m, &d, js->res[i].tid);
            unsigned cnt = mres_calc_count (&js->res[i], qc);
            if (cnt == 0) {
                score = MATCH_UNMET;
                break;
            }
            dfu_choose_best_k (m, &d, js->res[i].tid, cnt);
        }
        m->ml_scores = 0;
        if (score != MATCH_MET)
            rc = -1;
        unsigned needs = 1;
        for (int i = 0; rc == 0 && i < js->nres; i++) {
            if (js->res[i].tid == g->v[root].type) {
                unsigned cnt = mres_calc_count (&js->res[i], d.avail);
                if (cnt == 0)
                    rc = -1;
                needs = cnt;
            }
        }
        for (int i = 0; rc == 0 && i < d.nev; i++)
            if (d.ev[i].qual == 0)
                rc = -1;
        if (rc == 0)
            enforce (m, &d, true);
        out->root = rv;
        out->needs = needs;
        out->excl = x_in;
    }
    dfu_free (&d);
    return rc;
}

/* ---------------- emission ---------------- */

void dfu_rec_push (matcher_t *m, int v, int level, unsigned needs, bool excl, int pedge)
{
    if (m->nrecs == m->caprecs) {
        int nc = m->caprecs ? m->caprecs * 2 : 64;
        mrec_t *p = xrealloc (m->recs, sizeof (*p) * nc);
        m->recs = p;
        m->caprecs = nc;
    }
    mrec_t *r = &m->recs[m->nrecs++];
    r->v = v;
    r->level = level;
    r->needs = needs;
    r->excl = excl;
    r->pedge = pedge;
    r->parent = -1;
}

static int sel_cmp (const void *a, const void *b)
{
    const sel_t *x = a, *y = b;
    int pa = sort_m->g->e[x->edge].pos, pb = sort_m->g->e[y->edge].pos;
    return pa - pb;
}

static bool is_xtype (matcher_t *m, int t)
{
    return t >= 0 && t < m->nxtypes && m->xtypes[t];
}

/* an exclusive vertex of an exclusive type brings its whole subtree */
static void emit_full (matcher_t *m, int u, int level, int pedge, unsigned needs, int entry,
                       unsigned depth)
{
    mgraph_t *g = m->g;
    mvtx_t *x = &g->v[u];
    int first = m->nrecs;
    if (depth <= MG_MAXDEPTH) {   /* finalize refuses deeper graphs */
        for (int i = 0; i < x->nout; i++) {
            int e = x->out[i];
            if (!dfu_in_dom (m, e))
                continue;
            int ent = g->v[g->e[e].dst].ndom_in > 1 ? e : entry;
            emit_full (m, g->e[e].dst, level + 1, e, (unsigned)g->v[g->e[e].dst].size, ent,
                       depth + 1);
        }
    }
    if (x->emit_stamp == m->seq && m->conflict_edge < 0)
        m->conflict_edge = entry >= 0 ? entry : -2;
    x->emit_stamp = m->seq;
    dfu_rec_push (m, u, level, needs, true, pedge);
    int me = m->nrecs - 1;
    for (int k = first; k < me; k++)
        if (m->recs[k].parent == -1 && m->recs[k].level == level + 1)
            m->recs[k].parent = me;
}

/* returns number of exclusive vertices emitted below and at v */
static int emit (matcher_t *m, visit_t *v, unsigned needs, bool excl, int level, int pedge,
                 int entry)
{
    int n = 0;
    mgraph_t *g = m->g;
    if (m->node_excl && g->v[v->v].type == m->node_type)
        excl = true;
    if (excl && is_xtype (m, g->v[v->v].type)) {
        emit_full (m, v->v, level, pedge, needs, entry, 0);
        return 1;
    }
    if (v->nsel > 1) {
        sort_m = m;
        qsort (v->sel, v->nsel, sizeof (sel_t), sel_cmp);
    }
    int first = m->nrecs;
    for (int i = 0; i < v->nsel; i++) {
        sel_t *s = &v->sel[i];
        int ent = g->v[g->e[s->edge].dst].ndom_in > 1 ? s->edge : entry;
        n += emit (m, s->child, s->needs, s->excl, level + 1, s->edge, ent);
    }
    if (excl)
        n++;
    if (n > 0) {
        mvtx_t *x = &g->v[v->v];
        if (excl) {
            if (x->emit_stamp == m->seq && m->conflict_edge < 0)
                m->conflict_edge = entry >= 0 ? entry : -2;
            x->emit_stamp = m->seq;
        }
        dfu_rec_push (m, v->v, level, needs, excl, pedge);
        int me = m->nrecs - 1;
        for (int k = first; k < me; k++)
            if (m->recs[k].parent == -1 && m->recs[k].level == level + 1)
                m->recs[k].parent = me;
    }
    return n;
}

/* sibling slots need the flexible traverser */
static bool dup_slots (const mres_t *rs, int n)
{
    int ns = 0;
    for (int i = 0; i < n; i++) {
        if (rs[i].type_is_slot)
            ns++;
        if (dup_slots (rs[i].with, rs[i].nwith))
            return true;
    }
    return ns > 1;
}

static int prime_res (matcher_t *m, mres_t *r, int depth, char *err, size_t errlen)
{
    mgraph_t *g = m->g;
    if (r->type_is_slot)
        r->tid = mg_intern_type (g, "slot");
    else {
        r->tid = mg_type_lookup (g, r->type);
        bool known = false;
        for (int v = 0; v < g->nv && r->tid >= 0; v++)
            if (g->v[v].type == r->tid) {
                known = true;
                break;
            }
        /* Fluxion knows its standard types even when the graph has none */
        static const char *std[] = {"cluster", "rack", "node", "socket", "core", "gpu",
                                    "memory", "storage_node", "ssd", NULL};
        for (int i = 0; std[i] && !known; i++)
            if (!strcmp (r->type, std[i])) {
                known = true;
                r->tid = mg_intern_type (g, r->type);
            }
        if (!known) {
            return errfail (err, errlen,
                            "Value of \"type\" must be a resource type known to fluxion");
        }
    }
    free (r->udata);
    r->udata = m->nprune ? xcalloc (m->nprune, sizeof (int64_t)) : NULL;
    int64_t *slotmin = m->nprune ? xcalloc (m->nprune, sizeof (int64_t)) : NULL;
    for (int k = 0; k < m->nprune; k++)
        slotmin[k] = -1;
    for (int i = 0; i < r->nwith; i++) {
        mres_t *c = &r->with[i];
        if (prime_res (m, c, depth + 1, err, errlen) < 0) {
            free (slotmin);
            return -1;
        }
        for (int k = 0; k < m->nprune; k++) {
            if (c->tid == m->ptypes[k])
                r->udata[k] += c->cmin;
            if (!c->udata)
                continue;
            int64_t a = (int64_t)c->cmin * c->udata[k];
            /* or-slots: the least any alternative needs, so none is pruned */
            if (m->flexible && c->type_is_slot) {
                if (a > 0 && (slotmin[k] < 0 || a < slotmin[k]))
                    slotmin[k] = a;
            } else
                r->udata[k] += a;
        }
    }
    for (int k = 0; k < m->nprune; k++)
        if (slotmin[k] > 0)
            r->udata[k] += slotmin[k];
    free (slotmin);
    return 0;
}

static void mark_xtypes (matcher_t *m, const mres_t *r)
{
    if (r->excl == 1 && r->tid >= 0 && r->tid < m->nxtypes)
        m->xtypes[r->tid] = 1;
    for (int i = 0; i < r->nwith; i++)
        mark_xtypes (m, &r->with[i]);
}

/* candidate start times after `at`: every span end in the graph */
static int64_t *candidate_times (matcher_t *m, int64_t at, int *np)
{
    mgraph_t *g = m->g;
    int cap = 64, n = 0;
    int64_t *t = xmalloc (sizeof (int64_t) * cap);
    for (int i = 0; i < m->njobs; i++) {
        int64_t e = mt_end (m->jobs[i].at, m->jobs[i].dur);
        if (e > at && e < MT_INF) {
            if (n == cap) {
                cap *= 2;
                t = xrealloc (t, sizeof (int64_t) * cap);
            }
            t[n++] = e;
        }
    }
    (void)g;
    /* sort + dedupe */
    for (int i = 1; i < n; i++) {
        int64_t x = t[i];
        int j = i - 1;
        while (j >= 0 && t[j] > x) {
            t[j + 1] = t[j];
            j--;
        }
        t[j + 1] = x;
    }
    int k = 0;
    for (int i = 0; i < n; i++)
        if (k == 0 || t[k - 1] != t[i])
            t[k++] = t[i];
    *np = k;
    return t;
}

/* select with multi-parent conflict resolution; fills m->recs */
static int select_emit (matcher_t *m, const mjobspec_t *js, const jmeta_t *j)
{
    mgraph_t *g = m->g;
    if (!m->banned || m->nbanned_cap < g->ne) { /* a graph without edges too: never memset NULL */
        free (m->banned);
        m->banned = xcalloc (g->ne ? g->ne : 1, 1);
        m->nbanned_cap = g->ne;
    } else
        memset (m->banned, 0, g->ne);
    if (m->bb_stale && m->bb_graph)
        dfu_bb_refresh (m);
    int bk = dfu_bb_usable (m, js);
    for (int attempt = 0; attempt < 64; attempt++) {
        selection_t sel = {0};
        ar_reset (m);
        if ((bk >= 0 && attempt == 0 ? dfu_bb_select (m, js, j, bk, &sel)
                                     : select_at (m, js, j, &sel)) < 0)
            return -1;
        m->nrecs = 0;
        m->conflict_edge = -1;
        emit (m, sel.root, sel.needs, sel.excl, 0, -1, -1);
        if (m->conflict_edge == -1)
            return 0;
        if (m->conflict_edge < 0)
            return -1;
        m->banned[m->conflict_edge] = 1;
    }
    return -1;
}

/* Fluxion's feasibility precheck: when "node" is a pruning type and the
 * request needs more nodes than are up, allocate and allocate_orelse_reserve
 * are busy and satisfiability checks fail, without a traversal */
static int nodes_feasible (matcher_t *m, const mjobspec_t *js, int op)
{
    for (int k = 0; k < m->nprune; k++) {
        if (m->ptypes[k] != m->node_type || m->panchor[k] >= 0)
            continue;
        int64_t need = 0, smin = -1;
        for (int i = 0; i < js->nres; i++) {
            const mres_t *r = &js->res[i];
            if (r->tid == m->ptypes[k])
                need += r->cmin;
            int64_t a = r->udata ? (int64_t)r->cmin * r->udata[k] : 0;
            if (m->flexible && r->type_is_slot) {
                if (a > 0 && (smin < 0 || a < smin))
                    smin = a;
            } else
                need += a;
        }
        if (smin > 0)
            need += smin;
        int64_t up = 0;
        for (int v = 0; v < m->g->nv && up < need; v++)
            if (m->g->v[v].type == m->node_type && m->g->v[v].up
                && (m->g->v[v].ndom_in > 0 || v == m->g->roots[m->dom]))   /* not removed */
                up++;
        if (need > up)
            return (op == MATCH_ALLOCATE || op == MATCH_ALLOCATE_ORELSE_RESERVE) ? MATCH_BUSY
                                                                                : MATCH_UNSAT;
    }
    return MATCH_OK;
}

static int match_one (matcher_t *m, const mjobspec_t *js, int op, int64_t jobid, int64_t *at,
                      char **out, char *err, size_t errlen);

static bool has_xor (const mres_t *rs, int n)
{
    for (int i = 0; i < n; i++)
        if (rs[i].xor || has_xor (rs[i].with, rs[i].nwith))
            return true;
    return false;
}

/* xor_slot: try each plain alternative in jobspec order; the first that
 * matches wins (busy if any alternative could ever fit, else unsat) */
static int match_alts (matcher_t *m, const mjobspec_t *js, int op, int64_t jobid, int64_t *at,
                       char **out, char *err, size_t errlen);

int matcher_match (matcher_t *m, const mjobspec_t *js, int op, int64_t jobid, int64_t *at,
                   char **out, char *err, size_t errlen)
{
    if (!m)
        return match_one (m, js, op, jobid, at, out, err, errlen);
    m->cons = js ? js->cons : NULL;
    int rc = match_alts (m, js, op, jobid, at, out, err, errlen);
    m->cons = NULL;
    return rc;
}

static int match_alts (matcher_t *m, const mjobspec_t *js, int op, int64_t jobid, int64_t *at,
                       char **out, char *err, size_t errlen)
{
    if (!js || !has_xor (js->res, js->nres))
        return match_one (m, js, op, jobid, at, out, err, errlen);
    unsigned long nalt = mres_alt_count (js->res, js->nres);
    int result = MATCH_UNSAT;
    for (unsigned long k = 0; k < nalt; k++) {
        mjobspec_t alt = *js;
        alt.res = mres_alt_build (js->res, js->nres, k, &alt.nres);
        int rc = match_one (m, &alt, op, jobid, at, out, err, errlen);
        mres_alt_free (alt.res, alt.nres);
        if (rc == MATCH_OK || rc == MATCH_ERROR)
            return rc;
        if (rc == MATCH_BUSY)
            result = MATCH_BUSY;
    }
    return result;
}

static int match_one (matcher_t *m, const mjobspec_t *js, int op, int64_t jobid, int64_t *at,
                      char **out, char *err, size_t errlen)
{
    if (out)
        *out = NULL;
    if (!m || !js || js->nres == 0) {
        errfmt (err, errlen, "invalid request");
        return MATCH_ERROR;
    }
    if (mdfu_job (m, jobid) && op != MATCH_SATISFIABILITY) {
        errfmt (err, errlen, "job %lld exists", (long long)jobid);
        return MATCH_ERROR;
    }
    if (!m->flexible && dup_slots (js->res, js->nres)) {
        errfmt (err, errlen, "jobspec: type \"slot\" appears twice at one level "
                             "(sibling slots need the flexible traverser)");
        return MATCH_ERROR;
    }
    for (int i = 0; i < js->nres; i++)
        if (prime_res (m, &((mjobspec_t *)js)->res[i], 0, err, errlen) < 0)
            return MATCH_ERROR;
    if (m->nxtypes < m->g->ntypes) {
        m->xtypes = xrealloc (m->xtypes, m->g->ntypes);
        m->nxtypes = m->g->ntypes;
    }
    memset (m->xtypes, 0, m->nxtypes);
    if (m->node_excl && m->node_type >= 0)
        m->xtypes[m->node_type] = 1;
    for (int i = 0; i < js->nres; i++)
        mark_xtypes (m, &js->res[i]);
    int feas = nodes_feasible (m, js, op);
    if (feas != MATCH_OK)
        return feas;
    jmeta_t j = {0};
    j.jobid = jobid;
    j.at = m->now;
    j.dur = js->duration > 0 ? js->duration : MT_INF - j.at;
    j.alloc_type = AT_ALLOC;
    int rc = -1;
    bool reserved = false;
    if (op != MATCH_SATISFIABILITY) {
        rc = select_emit (m, js, &j);
        if (rc < 0 && op == MATCH_ALLOCATE_ORELSE_RESERVE) {
            int nt = 0;
            int64_t *ts = candidate_times (m, j.at, &nt);
            j.alloc_type = AT_RESERVE;
            for (int i = 0; i < nt && rc < 0; i++) {
                j.at = ts[i];
                if (js->duration <= 0)
                    j.dur = MT_INF - j.at;
                rc = select_emit (m, js, &j);
            }
            free (ts);
            if (rc == 0)
                reserved = true;
        }
    }
    if (rc == 0) {
        m->last_at = j.at;
        m->last_dur = j.dur;
        if (dfu_apply (m, jobid, j.at, j.dur, reserved) < 0) {
            errfmt (err, errlen, "out of memory");
            return MATCH_ERROR;
        }
        if (out)
            *out = mw_write (m, m->recs, m->nrecs, jobid, j.at, j.dur);
        *at = j.at;
        return MATCH_OK;
    }
    if (op == MATCH_ALLOCATE)
        return MATCH_BUSY;
    /* satisfiability: far future, ignoring status */
    jmeta_t s = {0};
    s.jobid = jobid;
    s.alloc_type = AT_SAT;
    s.dur = js->duration > 0 ? js->duration : 1;
    s.at = MT_INF - s.dur - 1;
    if (s.at < 0)
        s.at = 0;
    unsigned pre = m->preorder, post = m->postorder;
    int src = select_emit (m, js, &s);
    m->nrecs = 0;
    if (op == MATCH_SATISFIABILITY) {
        if (src == 0) {
            if (out)
                *out = mw_write (m, NULL, 0, jobid, 0, 0);
            return MATCH_OK;
        }
        return MATCH_UNSAT;
    }
    m->preorder = pre;
    m->postorder = post;
    return src == 0 ? MATCH_BUSY : MATCH_UNSAT;
}
