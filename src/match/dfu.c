/* dfu.c - the depth-first-and-up matcher.
 *
 * A match walks the dominant subsystem from its root, testing each vertex
 * against the jobspec level it has reached (a jobspec may omit the top of
 * the graph), pruning by status, exclusivity, availability in time and
 * subtree counts.  Each vertex collects its children's candidates in
 * "edge groups" scored by the policy; where the jobspec constrains a level,
 * the best k are chosen (low/high id first, node-centric factors), and the
 * choice is recorded in a per-visit selection tree.  The tree is then walked
 * in graph order to emit vertices children-first and to plan them in time.
 *
 * Selections are kept per visit rather than on edges, so a vertex reached
 * through several parents (a node in two containers) is judged per path;
 * if one exclusive vertex ends up chosen through two parents, the second
 * path's entry edge is banned and the match is redone (see doc/match.md).
 *
 * For low/high and one exact slot on a tree, a best-bound search makes the
 * same selection without scoring every candidate (bb_select, below).
 */
#include "mdfu.h"
#include "xalloc.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MATCH_UNMET 0
#define MATCH_MET 1
#define XCHK_TOTAL (1 << 30)

enum { NONE_MATCH, PRISTINE_NONE_MATCH, RESOURCE_MATCH, SLOT_MATCH };
enum { AT_ALLOC, AT_RESERVE, AT_SAT };

typedef struct visit visit_t;
typedef struct {
    int edge;
    unsigned needs;
    unsigned char excl;
    unsigned char weak;   /* added by the unconstrained up-walk */
    visit_t *child;
} sel_t;
struct visit {
    int v;
    visit_t *parent;
    int pedge;
    sel_t *sel;
    int nsel, capsel;
};

typedef struct {
    unsigned count, needs;
    unsigned char excl;
    int edge;
    visit_t *child;
} eedge_t;

typedef struct {
    int64_t score;
    unsigned count, needs;
    unsigned char excl, root;
    const char *label;
    int nedges;
    eedge_t *edges;
} egroup_t;

typedef struct {
    int type;
    unsigned qual, total, best_k, best_i;
    egroup_t *eg;
    int n, cap;
    int iter;   /* -1 = reset */
} evals_t;

typedef struct {
    evals_t *ev;
    int nev, cap;
    bool hier;
    int64_t overall;
    unsigned avail;
} dfu_t;

typedef struct {
    int64_t at, dur;
    int alloc_type;
    int64_t jobid;
} jmeta_t;

/* ---------------- arena ---------------- */

void *ar_alloc (matcher_t *m, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    arena_blk_t *b = m->arena;
    if (!b || b->used + n > b->cap) {
        size_t cap = n > (1 << 20) ? n : (1 << 20);
        arena_blk_t *nb = malloc (sizeof (*nb) + cap);
        if (!nb)
            abort ();
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

static void dfu_free (dfu_t *d)
{
    for (int i = 0; i < d->nev; i++)
        free (d->ev[i].eg);
    free (d->ev);
    memset (d, 0, sizeof (*d));
}

/* evals for type t, created in type-name order (as std::map would) */
static evals_t *dfu_ev (matcher_t *m, dfu_t *d, int t, bool create)
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
        evals_t *p = realloc (d->ev, sizeof (*p) * nc);
        if (!p)
            abort ();
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
        egroup_t *p = realloc (e->eg, sizeof (*p) * nc);
        if (!p)
            abort ();
        e->eg = p;
        e->cap = nc;
    }
    e->eg[e->n++] = *g;
}

static void dfu_add (matcher_t *m, dfu_t *d, int t, const egroup_t *g)
{
    evals_t *e = dfu_ev (m, d, t, true);
    e->total += g->count;
    if (g->score > 0)
        e->qual += g->count;
    ev_push (e, g);
}

static unsigned dfu_qual (matcher_t *m, dfu_t *d, int t)
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
    egroup_t *tmp = malloc (sizeof (egroup_t) * n);
    if (!tmp)
        abort ();
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

static int choose_best_k (matcher_t *m, dfu_t *d, int t, unsigned k)
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

static bool in_dom (matcher_t *m, int e)
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

static int prune (matcher_t *m, const jmeta_t *j, bool excl, int u, const mres_t *rs, int n)
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

static bool slot_fits (matcher_t *m, int u, const mres_t *slot)
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

/* the flexible traverser's test: the slots of a level are alternatives;
 * the vertex is a slot match if any of them fits its children */
static int match_kind_flex (matcher_t *m, int u, const mres_t *rs, int n, bool *pristine,
                            unsigned *nslots, const mres_t **next, int *nnext)
{
    mgraph_t *g = m->g;
    const mres_t *mr = NULL, *slots = NULL;
    int nsl = 0;
    bool matched = false, or_matched = false;
    *next = rs;
    *nnext = n;
    for (int i = 0; i < n; i++) {
        const mres_t *r = &rs[i];
        if (g->v[u].type == r->tid && !r->type_is_slot) {
            if (matched || or_matched)
                return NONE_MATCH;
            mr = r;
            for (int k = 0; k < r->nwith; k++) {
                if (r->with[k].type_is_slot) {
                    slots = r->with;
                    nsl = r->nwith;
                    *nslots = mres_effective_max (&r->with[k]);
                }
            }
            matched = true;
        } else if (r->type_is_slot) {
            if (matched)
                return NONE_MATCH;
            slots = rs;
            nsl = n;
            *nslots = mres_effective_max (r);
            or_matched = true;
        }
    }
    if (slots) {
        for (int i = 0; i < nsl; i++) {
            if (slots[i].type_is_slot && slot_fits (m, u, &slots[i])) {
                *pristine = false;
                *next = slots;
                *nnext = nsl;
                return SLOT_MATCH;
            }
        }
        return *pristine ? PRISTINE_NONE_MATCH : NONE_MATCH;
    }
    if (mr) {
        *pristine = false;
        *next = mr->with;
        *nnext = mr->nwith;
        return RESOURCE_MATCH;
    }
    return *pristine ? PRISTINE_NONE_MATCH : NONE_MATCH;
}

static int match_kind (matcher_t *m, int u, const mres_t *rs, int n, bool *pristine,
                       unsigned *nslots, const mres_t **next, int *nnext, const char **label)
{
    if (m->flexible)
        return match_kind_flex (m, u, rs, n, pristine, nslots, next, nnext);
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

static void sel_add (visit_t *v, matcher_t *m, int edge, unsigned needs, bool excl,
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

static bool sel_has (visit_t *v, int edge, visit_t *child)
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
                sel_add (c->parent, m, ed->edge, ed->needs, ed->excl, c, false);
                if (!unconstrained)
                    continue;
                visit_t *cur = c->parent;
                while (cur->parent) {
                    visit_t *p = cur->parent;
                    if (sel_has (p, cur->pedge, cur))
                        break;
                    int tt = m->g->v[cur->v].type;
                    evals_t *te = dfu_ev (m, d, tt, false);
                    if (!(te && te->best_k))
                        sel_add (p, m, cur->pedge, (unsigned)m->g->v[cur->v].size, false, cur,
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

static int explore (matcher_t *m, const jmeta_t *j, int u, const mres_t *rs, int n, bool pristine,
                    bool *excl, dfu_t *d, unsigned mult, visit_t *uv)
{
    mgraph_t *g = m->g;
    int rc2 = -1;
    mvtx_t *x = &g->v[u];
    int nout = x->nout;
    int local[64];
    int *order = x->out;
    if (m->stop_on_1 && nout > 0) {
        oedge_t *oe = malloc (sizeof (oedge_t) * nout);
        for (int i = 0; i < nout; i++) {
            oe[i].e = x->out[i];
            oe[i].w = x->out[i] < m->neweight && m->eweight[x->out[i]] >= 0
                          ? m->eweight[x->out[i]]
                          : edge_weight (m, j, x->out[i]);
            oe[i].uniq = g->v[g->e[x->out[i]].dst].uniq_id;
        }
        qsort (oe, nout, sizeof (oedge_t), edge_cmp_desc);
        order = nout <= 64 ? local : malloc (sizeof (int) * nout);
        for (int i = 0; i < nout; i++)
            order[i] = oe[i].e;
        free (oe);
    }
    for (int i = 0; i < nout; i++) {
        int e = order[i];
        if (!in_dom (m, e) || (m->banned && m->banned[e]))
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

/* policy callbacks */
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

static int discover_vtx (matcher_t *m, int u)
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

static int finish_vtx (matcher_t *m, int u, const mres_t *rs, int n, dfu_t *d)
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
            choose_best_k (m, d, c->tid, cnt);
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

static int finish_slot (matcher_t *m, dfu_t *d)
{
    for (int i = 0; i < d->nev; i++)
        choose_best_k (m, d, d->ev[i].type, d->ev[i].qual);
    return 0;
}

static egroup_t *ev_next (evals_t *e)
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

static int dom_slot (matcher_t *m, const jmeta_t *j, int u, const mres_t *shape, int n,
                     unsigned nslots, bool pristine, const char *label, dfu_t *d, visit_t *uv)
{
    bool x_inout = true;
    dfu_t ds = {0};
    unsigned qual = 0;
    if (explore (m, j, u, shape, n, pristine, &x_inout, &ds, nslots, uv) != 0)
        goto done;
    finish_slot (m, &ds);
    qual = cnt_slot (m, shape, n, &ds);
    egroup_t *groups = qual ? malloc (sizeof (egroup_t) * qual) : NULL;
    for (unsigned i = 0; i < qual; i++) {
        egroup_t eg = {0};
        int64_t score = MATCH_MET;
        int cap = 8, ne = 0;
        eedge_t *edges = malloc (sizeof (eedge_t) * cap);
        for (int s = 0; s < n; s++) {
            evals_t *e = dfu_ev (m, &ds, shape[s].tid, true);
            unsigned cnt = mres_calc_count (&shape[s], e->qual);
            unsigned got = 0;
            while (got < cnt) {
                egroup_t *g = ev_next (e);
                if (!g) {
                    free (edges);
                    free (groups);
                    qual = 0;
                    goto done;
                }
                if (ne == cap) {
                    cap *= 2;
                    edges = realloc (edges, sizeof (eedge_t) * cap);
                }
                edges[ne] = g->edges[0];
                edges[ne].needs = g->edges[0].count;
                edges[ne].excl = 1;
                ne++;
                score += g->score;
                got += g->edges[0].count;
            }
        }
        eg.score = score;
        eg.count = 1;
        eg.excl = 1;
        eg.label = label;
        eg.nedges = ne;
        eg.edges = ar_alloc (m, sizeof (eedge_t) * (ne ? ne : 1));
        memcpy (eg.edges, edges, sizeof (eedge_t) * ne);
        free (edges);
        groups[i] = eg;
    }
    for (unsigned i = 0; i < qual; i++)
        dfu_add (m, d, m->slot_type, &groups[i]);
    free (groups);
done:
    dfu_free (&ds);
    return qual ? 0 : -1;
}

/* ---- or-slots (flexible traverser) ----
 * Given the free counts of each slot element type below a vertex, find the
 * sequence of or-slots that places the most slots (first best in jobspec
 * order on ties), memoised on the counts as Fluxion's select_or_config. */
#define OR_MAXT 16
typedef struct {
    int used;
    int counts[OR_MAXT];
    int next[OR_MAXT];
    int score, idx;
} orent_t;

typedef struct {
    orent_t *tab;
    size_t cap, n;
    int nt;
    const int *tids;
} ormemo_t;

static uint64_t or_hash (const int *c, int nt)
{
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < nt; i++) {
        h ^= (uint64_t)(uint32_t)c[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static orent_t *or_slot (ormemo_t *mm, const int *c, bool create)
{
    if (create && (mm->n + 1) * 2 > mm->cap) {
        size_t nc = mm->cap ? mm->cap * 2 : 256;
        orent_t *nt = calloc (nc, sizeof (orent_t));
        for (size_t i = 0; i < mm->cap; i++) {
            if (!mm->tab[i].used)
                continue;
            size_t h = or_hash (mm->tab[i].counts, mm->nt) & (nc - 1);
            while (nt[h].used)
                h = (h + 1) & (nc - 1);
            nt[h] = mm->tab[i];
        }
        free (mm->tab);
        mm->tab = nt;
        mm->cap = nc;
    }
    if (!mm->cap)
        return NULL;
    size_t h = or_hash (c, mm->nt) & (mm->cap - 1);
    while (mm->tab[h].used) {
        if (!memcmp (mm->tab[h].counts, c, sizeof (int) * mm->nt))
            return &mm->tab[h];
        h = (h + 1) & (mm->cap - 1);
    }
    if (!create)
        return NULL;
    mm->tab[h].used = 1;
    memcpy (mm->tab[h].counts, c, sizeof (int) * mm->nt);
    mm->tab[h].score = 0;
    mm->tab[h].idx = -1;
    memcpy (mm->tab[h].next, c, sizeof (int) * mm->nt);
    mm->n++;
    return &mm->tab[h];
}

static int or_tidx (const ormemo_t *mm, int tid)
{
    for (int i = 0; i < mm->nt; i++)
        if (mm->tids[i] == tid)
            return i;
    return -1;
}

/* (a single slot goes through the same search: it counts how many copies
 * fit, so one per socket can add up to a count of 2 at the node) */
static int or_select (ormemo_t *mm, const mres_t *slots, int nsl, unsigned nslots, const int *c,
                      unsigned depth)
{
    orent_t *e = or_slot (mm, c, false);
    if (e)
        return e->score;
    int best = -1, bidx = -1;
    int bnext[OR_MAXT];
    for (int i = 0; i < nsl && depth < 100000; i++) {
        const mres_t *sl = &slots[i];
        if (!sl->type_is_slot)
            continue;
        int upd[OR_MAXT];
        memcpy (upd, c, sizeof (int) * mm->nt);
        bool ok = true;
        for (int k = 0; k < sl->nwith && ok; k++) {
            int ti = or_tidx (mm, sl->with[k].tid);
            unsigned qc = ti >= 0 && c[ti] > 0 ? (unsigned)c[ti] : 0;
            unsigned cnt = mres_calc_count (&sl->with[k], qc);
            if (cnt == 0 || ti < 0)
                ok = false;
            else
                upd[ti] -= (int)cnt;
        }
        if (!ok)
            continue;
        int t = or_select (mm, slots, nsl, nslots, upd, depth + 1);
        if (best < t) {
            best = t;
            bidx = i;
            memcpy (bnext, upd, sizeof (bnext));
        }
    }
    e = or_slot (mm, c, true);
    if (best < 0) {
        e->score = 0;
        e->idx = -1;
    } else {
        e->score = best + 1;
        e->idx = bidx;
        memcpy (e->next, bnext, sizeof (int) * mm->nt);
    }
    return e->score;
}

static int dom_slot_flex (matcher_t *m, const jmeta_t *j, int u, const mres_t *slots, int nsl,
                          unsigned nslots, bool pristine, dfu_t *d, visit_t *uv)
{
    bool x_inout = true;
    dfu_t ds = {0};
    unsigned qual = 0;
    mres_t uni[OR_MAXT];
    int tids[OR_MAXT];
    int nu = 0;
    ormemo_t mm = {0};
    egroup_t *groups = NULL;
    /* the union of the slot element types, first request of each */
    for (int i = 0; i < nsl; i++) {
        if (!slots[i].type_is_slot)
            continue;
        for (int k = 0; k < slots[i].nwith; k++) {
            int t;
            for (t = 0; t < nu; t++)
                if (tids[t] == slots[i].with[k].tid)
                    break;
            if (t == nu && nu < OR_MAXT) {
                uni[nu] = slots[i].with[k];
                tids[nu] = slots[i].with[k].tid;
                nu++;
            }
        }
    }
    if (explore (m, j, u, uni, nu, pristine, &x_inout, &ds, nslots, uv) != 0)
        goto done;
    finish_slot (m, &ds);
    int counts[OR_MAXT];
    for (int t = 0; t < nu; t++)
        counts[t] = (int)dfu_qual (m, &ds, tids[t]);
    mm.nt = nu;
    mm.tids = tids;
    or_select (&mm, slots, nsl, nslots, counts, 0);
    orent_t *cur = or_slot (&mm, counts, false);
    qual = cur ? (unsigned)cur->score : 0;
    groups = qual ? calloc (qual, sizeof (egroup_t)) : NULL;
    for (unsigned i = 0; i < qual; i++) {
        if (!cur || cur->idx < 0) {
            qual = 0;
            goto done;
        }
        const mres_t *sl = &slots[cur->idx];
        int64_t score = MATCH_MET;
        int cap = 8, ne = 0;
        eedge_t *edges = malloc (sizeof (eedge_t) * cap);
        for (int s = 0; s < sl->nwith; s++) {
            evals_t *e = dfu_ev (m, &ds, sl->with[s].tid, true);
            unsigned cnt = mres_calc_count (&sl->with[s], e->qual);
            unsigned got = 0;
            if (cnt == 0) {   /* an element of the slot is not available */
                free (edges);
                qual = 0;
                goto done;
            }
            while (got < cnt) {
                egroup_t *g = ev_next (e);
                if (!g) {
                    free (edges);
                    qual = 0;
                    goto done;
                }
                if (ne == cap) {
                    cap *= 2;
                    edges = realloc (edges, sizeof (eedge_t) * cap);
                }
                edges[ne] = g->edges[0];
                edges[ne].needs = g->edges[0].count;
                edges[ne].excl = 1;
                ne++;
                score += g->score;
                got += g->edges[0].count;
            }
        }
        groups[i].score = score;
        groups[i].count = 1;
        groups[i].excl = 1;
        groups[i].label = sl->label;
        groups[i].nedges = ne;
        groups[i].edges = ar_alloc (m, sizeof (eedge_t) * (ne ? ne : 1));
        memcpy (groups[i].edges, edges, sizeof (eedge_t) * ne);
        free (edges);
        int nxt[OR_MAXT];
        memcpy (nxt, cur->next, sizeof (nxt));
        cur = or_slot (&mm, nxt, false);
    }
    for (unsigned i = 0; i < qual; i++)
        dfu_add (m, d, m->slot_type, &groups[i]);
done:
    free (groups);
    free (mm.tab);
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
    if (prune (m, j, x_in, u, rs, n) < 0 || discover_vtx (m, u) < 0)
        return -1;
    visit_t *v = ar_alloc (m, sizeof (visit_t));
    memset (v, 0, sizeof (*v));
    v->v = u;
    v->parent = pv;
    v->pedge = pedge;
    x->stamp = m->seq;
    x->gray = m->seq;
    if (sm == SLOT_MATCH && m->flexible)
        dom_slot_flex (m, j, u, next, nnext, nslots, check_pres, &d, v);
    else if (sm == SLOT_MATCH)
        dom_slot (m, j, u, next, nnext, nslots, check_pres, label, &d, v);
    else
        explore (m, j, u, next, nnext, check_pres, &x_inout, &d, 1, v);
    *excl = x_in;
    x->gray = 0;
    int64_t avail = mplan_avail (&x->plan, j->at, j->dur);
    if (avail <= 0)
        goto done;
    if (finish_vtx (m, u, rs, n, &d) != 0)
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

/* ---------------- select: one traversal at one time ---------------- */

typedef struct {
    visit_t *root;
    unsigned needs;
    bool excl;
} selection_t;

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
    if (++g->seq == 0) {
        for (int v = 0; v < g->nv; v++)
            g->v[v].stamp = g->v[v].gray = g->v[v].emit_stamp = 0;
        g->seq = 1;
    }
    m->seq = g->seq;
    m->preorder = m->postorder = 0;
    m->visits = 0;
    m->ml_scores = 0;
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
            choose_best_k (m, &d, js->res[i].tid, cnt);
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

static void rec_push (matcher_t *m, int v, int level, unsigned needs, bool excl, int pedge)
{
    if (m->nrecs == m->caprecs) {
        int nc = m->caprecs ? m->caprecs * 2 : 64;
        mrec_t *p = realloc (m->recs, sizeof (*p) * nc);
        if (!p)
            abort ();
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
            if (!in_dom (m, e))
                continue;
            int ent = g->v[g->e[e].dst].ndom_in > 1 ? e : entry;
            emit_full (m, g->e[e].dst, level + 1, e, (unsigned)g->v[g->e[e].dst].size, ent,
                       depth + 1);
        }
    }
    if (x->emit_stamp == m->seq && m->conflict_edge < 0)
        m->conflict_edge = entry >= 0 ? entry : -2;
    x->emit_stamp = m->seq;
    rec_push (m, u, level, needs, true, pedge);
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
        rec_push (m, v->v, level, needs, excl, pedge);
        int me = m->nrecs - 1;
        for (int k = first; k < me; k++)
            if (m->recs[k].parent == -1 && m->recs[k].level == level + 1)
                m->recs[k].parent = me;
    }
    return n;
}

/* ---------------- bounds for the best-bound search ---------------- */

static bool is_ptype (const matcher_t *m, int t)
{
    for (int k = 0; k < m->nprune; k++)
        if (m->ptypes[k] == t)
            return true;
    return false;
}

static bool has_span (const mvtx_t *c)
{
    return c->plan.n > 0 || c->xchk.n > 0;
}

/* recount u's bounds from its children in the dominant subsystem */
static void bb_recount (matcher_t *m, int u)
{
    mgraph_t *g = m->g;
    mvtx_t *x = &g->v[u];
    if (!x->bb)
        return;
    for (int k = 0; k < m->nprune; k++)
        x->bb[k] = (mbb_t){ INT64_MAX, INT64_MIN, INT64_MAX, INT64_MIN, 0 };
    for (int i = 0; i < x->nout; i++) {
        const medge_t *e = &g->e[x->out[i]];
        if (e->subsys != m->dom)
            continue;
        const mvtx_t *c = &g->v[e->dst];
        for (int k = 0; k < m->nprune; k++) {
            mbb_t *b = &x->bb[k];
            if (c->type == m->ptypes[k]) {
                if (has_span (c))
                    b->dunits += c->size;
                else {
                    b->cmin = c->id < b->cmin ? c->id : b->cmin;
                    b->cmax = c->id > b->cmax ? c->id : b->cmax;
                }
                b->amin = c->id < b->amin ? c->id : b->amin;
                b->amax = c->id > b->amax ? c->id : b->amax;
            }
            if (c->bb) {
                const mbb_t *cb = &c->bb[k];
                b->cmin = cb->cmin < b->cmin ? cb->cmin : b->cmin;
                b->cmax = cb->cmax > b->cmax ? cb->cmax : b->cmax;
                b->amin = cb->amin < b->amin ? cb->amin : b->amin;
                b->amax = cb->amax > b->amax ? cb->amax : b->amax;
                b->dunits += cb->dunits;
            }
        }
    }
}

/* a job came or went on u: its bounds (and so its ancestors', also on
 * the job's path) are recounted when the search next looks at them */
static void bb_touch (mvtx_t *x)
{
    if (x->bb)
        x->bb_old = true;
}

/* recount u's bounds if a job came or went below, children first */
static void bb_fresh (matcher_t *m, int u, unsigned depth)
{
    mgraph_t *g = m->g;
    mvtx_t *x = &g->v[u];
    if (!x->bb_old)
        return;
    for (int i = 0; i < x->nout && depth < MG_MAXDEPTH; i++) {
        const medge_t *e = &g->e[x->out[i]];
        if (e->subsys == m->dom && g->v[e->dst].bb_old)
            bb_fresh (m, e->dst, depth + 1);
    }
    bb_recount (m, u);
    x->bb_old = false;
}

/* every vertex's bounds, children first; and which prune types the search
 * may use (every parent path must be the only one, see doc/match.md) */
static void bb_prepare (matcher_t *m, const int *order, int n)
{
    mgraph_t *g = m->g;
    free (m->bb_kok);
    m->bb_kok = m->nprune ? xcalloc (m->nprune, 1) : NULL;
    m->bb_graph = order != NULL && m->nprune > 0;
    for (int v = 0; v < g->nv && m->bb_graph; v++) {
        const mvtx_t *x = &g->v[v];
        if (x->removed)
            continue;
        if (x->ndom_in > 1 || x->id < -1 || x->id > INT32_MAX || x->type == m->slot_type)
            m->bb_graph = false;
    }
    if (!m->bb_graph)
        return;
    for (int k = 0; k < m->nprune; k++) {
        unsigned char ok = m->panchor[k] < 0 ? 3 : 0;
        for (int v = 0; v < g->nv && ok; v++) {
            const mvtx_t *x = &g->v[v];
            if (x->removed || x->type != m->ptypes[k])
                continue;
            if (x->size < 1 || (x->agg && x->aggtot[k] > 0))   /* nested in its own type */
                ok = 0;
            else if (x->size != 1)
                ok &= 1;
        }
        m->bb_kok[k] = ok;
    }
    for (int i = n - 1; i >= 0; i--) {
        mvtx_t *x = &g->v[order[i]];
        if (x->agg && !x->bb)
            x->bb = xcalloc (m->nprune, sizeof (mbb_t));
        bb_recount (m, order[i]);
        x->bb_old = false;
    }
    m->bb_stale = false;
    m->bb_epoch = ++g->bb_epoch;
}

static void bb_refresh (matcher_t *m)
{
    int n = 0;
    int *order = mg_topo (m->g, m->dom, &n, NULL);
    bb_prepare (m, order, n);
    free (order);
}

/* ---------------- planning ---------------- */

static void job_touch (mjob_t *jb, int v, unsigned char flags)
{
    int *p = realloc (jb->verts, sizeof (int) * (jb->nverts + 1));
    unsigned char *q = realloc (jb->vexcl, jb->nverts + 1);
    if (!p || !q)
        abort ();
    jb->verts = p;
    jb->vexcl = q;
    p[jb->nverts] = v;
    q[jb->nverts] = flags;
    jb->nverts++;
}

static mjob_t *job_find (const matcher_t *m, int64_t jobid)
{
    for (int i = 0; i < m->njobs; i++)
        if (m->jobs[i].jobid == jobid)
            return &m->jobs[i];
    return NULL;
}

/* as Fluxion's by_outedges: after an allocation, each edge on the emitted
 * paths is weighted by what its target has free now of its last pruning
 * type; other edges keep their weight (0 at first, never lowered on cancel).
 * first-match explores children by weight, then uniq_id, highest first. */
static void update_weights (matcher_t *m)
{
    mgraph_t *g = m->g;
    if (m->neweight < g->ne) {
        m->eweight = realloc (m->eweight, sizeof (int64_t) * g->ne);
        for (int e = m->neweight; e < g->ne; e++)
            m->eweight[e] = -1;
        m->neweight = g->ne;
    }
    for (int i = 0; i < m->nrecs; i++) {
        int e = m->recs[i].pedge;
        if (e < 0)
            continue;
        mvtx_t *t = &g->v[g->e[e].dst];
        if (!t->agg)
            continue;
        int k;
        for (k = m->nprune - 1; k >= 0 && t->aggtot[k] < 0; k--)
            ;
        if (k < 0)
            continue;
        int64_t avail = mplan_avail (&t->agg[k], m->now, 1);
        if (avail == 0 && t->agg[k].n == 0)
            continue;
        m->eweight[e] = avail;
    }
}

static int apply (matcher_t *m, int64_t jobid, int64_t at, int64_t dur, bool reserved)
{
    mgraph_t *g = m->g;
    if (m->njobs == m->capjobs) {
        int nc = m->capjobs ? m->capjobs * 2 : 16;
        mjob_t *p = realloc (m->jobs, sizeof (*p) * nc);
        if (!p)
            return -1;
        m->jobs = p;
        m->capjobs = nc;
    }
    mjob_t *jb = &m->jobs[m->njobs++];
    memset (jb, 0, sizeof (*jb));
    jb->jobid = jobid;
    jb->at = at;
    jb->dur = dur;
    jb->reserved = reserved;
    /* aggregate used counts per record for prune types */
    int np = m->nprune;
    int64_t *acc = np ? calloc ((size_t)m->nrecs * np, sizeof (int64_t)) : NULL;
    for (int i = 0; i < m->nrecs; i++) {
        mrec_t *r = &m->recs[i];
        mvtx_t *x = &g->v[r->v];
        if (r->excl) {
            mplan_add (&x->plan, at, dur, r->needs, jobid);
            if (reserved)
                x->nresv++;
            else
                x->nalloc++;
        }
        mplan_add (&x->xchk, at, dur, 1, jobid);
        /* units this record adds to the subtree counts above it */
        bool counted = is_ptype (m, x->type) && (r->excl ? x->size : x->size - r->needs) > 0;
        if (counted && !jb->bb_unsafe && mplan_avail (&x->xchk, at, dur) < XCHK_TOTAL - 1)
            jb->bb_unsafe = true;   /* another job holds it in this window too */
        if (np) {
            for (int k = 0; k < np; k++) {
                if (x->type == m->ptypes[k])
                    acc[(size_t)i * np + k] += r->excl ? x->size : (x->size - r->needs);
                if (r->parent >= 0)
                    acc[(size_t)r->parent * np + k] += acc[(size_t)i * np + k];
            }
            if (x->agg) {
                for (int k = 0; k < np; k++) {
                    int64_t a = acc[(size_t)i * np + k];
                    if (a > 0)
                        mplan_add (&x->agg[k], at, dur, a, jobid);
                }
            }
        }
        job_touch (jb, r->v, (r->excl ? VX_EXCL : 0) | (counted ? VX_COUNTED : 0));
    }
    free (acc);
    if (jb->bb_unsafe)
        m->nunsafe++;
    for (int i = 0; i < m->nrecs; i++)
        bb_touch (&g->v[m->recs[i].v]);
    if (m->stop_on_1)
        update_weights (m);
    return 0;
}

int matcher_cancel (matcher_t *m, int64_t jobid)
{
    mjob_t *jb = job_find (m, jobid);
    if (!jb)
        return -1;
    mgraph_t *g = m->g;
    for (int i = 0; i < jb->nverts; i++) {
        mvtx_t *x = &g->v[jb->verts[i]];
        if (jb->vexcl[i] & VX_EXCL) {
            if (mplan_rem (&x->plan, jobid) == 0) {
                if (jb->reserved)
                    x->nresv--;
                else
                    x->nalloc--;
            }
        }
        mplan_rem (&x->xchk, jobid);
        if (x->agg)
            for (int k = 0; k < m->nprune; k++)
                mplan_rem (&x->agg[k], jobid);
    }
    for (int i = 0; i < jb->nverts; i++)
        bb_touch (&g->v[jb->verts[i]]);
    if (jb->bb_unsafe)
        m->nunsafe--;
    free (jb->verts);
    free (jb->vexcl);
    *jb = m->jobs[m->njobs - 1];
    m->njobs--;
    return 0;
}

int matcher_extend (matcher_t *m, int64_t jobid, int64_t end)
{
    mjob_t *jb = job_find (m, jobid);
    if (!jb || jb->reserved)
        return -1;
    mgraph_t *g = m->g;
    for (int i = 0; i < jb->nverts; i++) {
        mvtx_t *x = &g->v[jb->verts[i]];
        if (jb->vexcl[i] & VX_EXCL)
            mplan_set_end (&x->plan, jobid, end);
        mplan_set_end (&x->xchk, jobid, end);
        if (x->agg)
            for (int k = 0; k < m->nprune; k++)
                mplan_set_end (&x->agg[k], jobid, end);
    }
    jb->dur = end > jb->at ? end - jb->at : 1;
    for (int i = 0; i < jb->nverts && !jb->bb_unsafe; i++) {
        mvtx_t *x = &g->v[jb->verts[i]];
        if ((jb->vexcl[i] & VX_COUNTED)
            && mplan_avail (&x->xchk, jb->at, jb->dur) < XCHK_TOTAL - 1) {
            jb->bb_unsafe = true;   /* now overlaps another job there */
            m->nunsafe++;
        }
    }
    return 0;
}

static bool rank_in (const int64_t *ranks, int n, int r)
{
    for (int i = 0; i < n; i++)
        if (ranks[i] == r)
            return true;
    return false;
}

static int job_vidx (const mjob_t *jb, int v)
{
    for (int i = 0; i < jb->nverts; i++)
        if (jb->verts[i] == v)
            return i;
    return -1;
}

static void job_drop (mjob_t *jb, int i)
{
    memmove (&jb->verts[i], &jb->verts[i + 1], sizeof (int) * (jb->nverts - i - 1));
    memmove (&jb->vexcl[i], &jb->vexcl[i + 1], jb->nverts - i - 1);
    jb->nverts--;
}

/* second phase of a partial cancel, as Fluxion's: walk down from the root
 * through vertices still holding the job; on each one with subtree counts
 * (and rank -1 or a released rank) lower the job's counts by what was
 * released, untag it once nothing is left, and drop its exclusivity span */
static void pc_walk (matcher_t *m, mjob_t *jb, int u, const int64_t *ranks, int nranks,
                     const int64_t *ttc, unsigned char *seen)
{
    mgraph_t *g = m->g;
    mvtx_t *x = &g->v[u];
    seen[u] = 1;
    if (x->agg) {
        bool span = false;
        for (int k = 0; k < m->nprune; k++)
            if (x->aggtot[k] >= 0 && mplan_span_amount (&x->agg[k], jb->jobid) >= 0)
                span = true;
        int vi = job_vidx (jb, u);
        if (!span || vi < 0 || (x->rank != -1 && !rank_in (ranks, nranks, x->rank)))
            return;
        bool removed = true;
        for (int k = 0; k < m->nprune; k++) {
            if (x->aggtot[k] < 0)
                continue;
            int64_t left = mplan_reduce (&x->agg[k], jb->jobid, ttc[m->ptypes[k]]);
            if (left > 0)
                removed = false;
        }
        if (removed) {
            for (int k = 0; k < m->nprune; k++)
                mplan_rem (&x->agg[k], jb->jobid);
            job_drop (jb, vi);
        }
        mplan_rem (&x->xchk, jb->jobid);
    }
    for (int i = 0; i < x->nout; i++) {
        medge_t *e = &g->e[x->out[i]];
        if (e->subsys == m->dom && !seen[e->dst])
            pc_walk (m, jb, e->dst, ranks, nranks, ttc, seen);
    }
}

int matcher_partial_cancel (matcher_t *m, int64_t jobid, const int64_t *ranks, int nranks,
                            bool *full, char *err, size_t errlen)
{
    mgraph_t *g = m->g;
    mjob_t *jb = job_find (m, jobid);
    *full = false;
    if (!jb) {
        snprintf (err, errlen, "nonexistent job %lld", (long long)jobid);
        return -1;
    }
    if (jb->reserved) {
        snprintf (err, errlen, "reservations not currently supported by partial cancel");
        return -1;
    }
    for (int i = 0; i < nranks; i++) {
        bool found = false;
        for (int v = 0; v < g->nv && !found; v++)
            if (g->v[v].rank == ranks[i])
                found = true;
        if (!found) {
            snprintf (err, errlen, "rank %lld not in the resource graph", (long long)ranks[i]);
            return -1;
        }
    }
    /* the counts below released ranks no longer match what is busy */
    if (!jb->bb_unsafe) {
        jb->bb_unsafe = true;
        m->nunsafe++;
    }
    m->bb_stale = true;
    int64_t *ttc = calloc (g->ntypes + 1, sizeof (int64_t));
    /* first phase: release every vertex of the given ranks */
    for (int i = 0; i < jb->nverts;) {
        mvtx_t *x = &g->v[jb->verts[i]];
        if (!rank_in (ranks, nranks, x->rank)) {
            i++;
            continue;
        }
        if (jb->vexcl[i] & VX_EXCL) {
            int64_t a = mplan_span_amount (&x->plan, jobid);
            if (a >= 0 && mplan_rem (&x->plan, jobid) == 0) {
                ttc[x->type] += a;
                x->nalloc--;
            }
        }
        mplan_rem (&x->xchk, jobid);
        if (x->agg)
            for (int k = 0; k < m->nprune; k++)
                mplan_rem (&x->agg[k], jobid);
        job_drop (jb, i);
    }
    int root = g->roots[m->dom];
    unsigned char *seen = calloc (g->nv, 1);
    if (job_vidx (jb, root) >= 0)
        pc_walk (m, jb, root, ranks, nranks, ttc, seen);
    free (seen);
    free (ttc);
    if (job_vidx (jb, root) < 0) {
        *full = true;
        matcher_cancel (m, jobid);
    }
    return 0;
}

mjob_t *mdfu_job (const matcher_t *m, int64_t jobid)
{
    return job_find (m, jobid);
}

bool matcher_has_job (const matcher_t *m, int64_t jobid)
{
    return job_find (m, jobid) != NULL;
}

/* ---------------- pruning filter setup ---------------- */

/* per dominant subsystem: in-edge counts, which vertices have several
 * paths from the root, and the subtree totals of each prune type (a shared
 * subtree counts under each parent); iterative, in topological order */
static void dom_prepare (matcher_t *m)
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
    int64_t *memo = m->nprune ? malloc (sizeof (int64_t) * (g->nv ? g->nv : 1)) : NULL;
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
                    x->agg = calloc (m->nprune, sizeof (mplan_t));
                    x->aggtot = calloc (m->nprune, sizeof (int64_t));
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
    bb_prepare (m, order, n);
    free (order);
}

static int setup_prune (matcher_t *m, const char *spec, char *err, size_t errlen)
{
    mgraph_t *g = m->g;
    char *s = strdup (spec ? spec : "ALL:core,ALL:node");
    char *save = NULL;
    for (char *tok = strtok_r (s, ",", &save); tok; tok = strtok_r (NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        if (!*tok)
            continue;
        char *c = strchr (tok, ':');
        if (!c || c == tok || !c[1]) {
            snprintf (err, errlen, "bad prune filter \"%s\" (want ANCHOR:TYPE)", tok);
            free (s);
            return -1;
        }
        *c = '\0';
        int anchor = !strcmp (tok, "ALL") ? -1 : mg_intern_type (g, tok);
        int t = mg_intern_type (g, c + 1);
        m->ptypes = realloc (m->ptypes, sizeof (int) * (m->nprune + 1));
        m->panchor = realloc (m->panchor, sizeof (int) * (m->nprune + 1));
        m->ptypes[m->nprune] = t;
        m->panchor[m->nprune] = anchor;
        m->nprune++;
    }
    free (s);
    dom_prepare (m);
    return 0;
}

/* ---------------- public ---------------- */

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
    char *s = strdup (spec), *save = NULL;
    bool have_pol = false;
    for (char *tok = strtok_r (s, " ", &save); tok; tok = strtok_r (NULL, " ", &save)) {
        char *eq = strchr (tok, '=');
        if (!eq) {
            snprintf (err, errlen, "unknown match policy \"%s\"", policy);
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
                snprintf (err, errlen, "policy key accepts only low or high");
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
            snprintf (err, errlen, "policy option %s requires true or false", k);
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
            snprintf (err, errlen, "invalid policy option: %s", k);
            free (s);
            return -1;
        }
    }
    free (s);
    if (!have_pol) {
        snprintf (err, errlen, "unknown match policy \"%s\"", policy);
        return -1;
    }
    return 0;
}

matcher_t *matcher_new (mgraph_t *g, const char *policy, const char *subsystems,
                        const char *prune_spec, char *err, size_t errlen)
{
    if (!g || g->nv == 0 || !g->roots) {
        snprintf (err, errlen, "resource graph is empty");
        return NULL;
    }
    matcher_t *m = calloc (1, sizeof (*m));
    if (!m)
        return NULL;
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
        snprintf (err, errlen, "graph has no %s subsystem", domname);
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
    dom_prepare (m);
    m->visit_budget = (unsigned)(8 * (int64_t)g->nv + 1024);
}

static void subtree_collect (matcher_t *m, int u, unsigned char *mark)
{
    mgraph_t *g = m->g;
    if (mark[u])
        return;
    mark[u] = 1;
    for (int i = 0; i < g->v[u].nout; i++) {
        medge_t *e = &g->e[g->v[u].out[i]];
        if (e->subsys == m->dom)
            subtree_collect (m, e->dst, mark);
    }
}

int matcher_remove_path (matcher_t *m, const char *path, char *err, size_t errlen)
{
    mgraph_t *g = m->g;
    int v = mgraph_find_path (g, path);
    if (v < 0 || v == g->roots[m->dom]) {
        snprintf (err, errlen, "%s: %s", v < 0 ? "no such path" : "can't remove the root", path);
        return -1;
    }
    unsigned char *mark = calloc (g->nv, 1);
    subtree_collect (m, v, mark);
    for (int u = 0; u < g->nv; u++)
        if (mark[u])
            mg_clear_vertex (g, u);
    free (mark);
    matcher_graph_changed (m);
    return 0;
}

int matcher_remove_ranks (matcher_t *m, const int64_t *ranks, int n, char *err, size_t errlen)
{
    mgraph_t *g = m->g;
    (void)err;
    (void)errlen;
    for (int u = 0; u < g->nv; u++)
        if (u != g->roots[m->dom] && rank_in (ranks, n, g->v[u].rank))
            mg_clear_vertex (g, u);
    matcher_graph_changed (m);
    return 0;
}

/* post-order walk emitting marked vertices (exclusive, full size) and the
 * ancestors of marked ones (shared, 1); returns whether u was emitted */
static bool upd_walk (matcher_t *m, int u, int level, int pedge, const unsigned char *mark,
                      unsigned char *seen)
{
    mgraph_t *g = m->g;
    seen[u] = 1;
    int first = m->nrecs;
    bool any = false;
    for (int i = 0; i < g->v[u].nout; i++) {
        medge_t *e = &g->e[g->v[u].out[i]];
        if (e->subsys == m->dom && !seen[e->dst])
            any |= upd_walk (m, e->dst, level + 1, g->v[u].out[i], mark, seen);
    }
    if (!mark[u] && !any)
        return false;
    rec_push (m, u, level, mark[u] ? (unsigned)g->v[u].size : 1, mark[u] != 0, pedge);
    int me = m->nrecs - 1;
    for (int k = first; k < me; k++)
        if (m->recs[k].parent == -1 && m->recs[k].level == level + 1)
            m->recs[k].parent = me;
    return true;
}

int matcher_update_rv1exec (matcher_t *m, const char *text, size_t len, int64_t jobid,
                            int64_t at, int64_t dur, char **out, char *err, size_t errlen)
{
    mgraph_t *g = m->g;
    *out = NULL;
    if (job_find (m, jobid)) {
        snprintf (err, errlen, "job %lld exists", (long long)jobid);
        return -1;
    }
    unsigned char *mark = calloc (g->nv ? g->nv : 1, 1);
    unsigned char *seen = calloc (g->nv ? g->nv : 1, 1);
    int rc = mgraph_rv1exec_mark (g, text, len, mark, err, errlen);
    if (rc == 0) {
        m->nrecs = 0;
        upd_walk (m, g->roots[m->dom], 0, -1, mark, seen);
        if (apply (m, jobid, at, dur, false) < 0) {
            snprintf (err, errlen, "out of memory");
            rc = -1;
        } else
            *out = mw_write (m, m->recs, m->nrecs, jobid, at, dur);
    }
    free (mark);
    free (seen);
    return rc;
}

void matcher_set_flexible (matcher_t *m, bool flexible)
{
    m->flexible = flexible;
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
            snprintf (err, errlen, "Value of \"type\" must be a resource type known to fluxion");
            return -1;
        }
    }
    free (r->udata);
    r->udata = m->nprune ? calloc (m->nprune, sizeof (int64_t)) : NULL;
    int64_t *slotmin = m->nprune ? calloc (m->nprune, sizeof (int64_t)) : NULL;
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
    int64_t *t = malloc (sizeof (int64_t) * cap);
    for (int i = 0; i < m->njobs; i++) {
        int64_t e = mt_end (m->jobs[i].at, m->jobs[i].dur);
        if (e > at && e < MT_INF) {
            if (n == cap) {
                cap *= 2;
                t = realloc (t, sizeof (int64_t) * cap);
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

/* ---------------- best-bound selection ----------------
 *
 * For low and high (not node-centric, not first, not variation, not
 * flexible) and a jobspec of one slot of an exact count holding one
 * resource type of an exact count, on a tree: the traversal above would
 * score every candidate slot in the graph and keep the best n by a stable
 * sort.  This search walks the same vertices in the same order with the
 * same pruning, but skips a subtree when no slot it could give can beat the
 * n-th best found so far (ties go to the earlier in graph order, as the
 * stable sort does).  A slot's score is 1 + the sum of (id + 2) of its
 * elements, so a subtree's bound comes from the least (low) or greatest
 * (high) id of a vertex of the element type below it that may be free:
 * a clean one (no span), or a dirty one unless the subtree's count of
 * units in use during the window reaches the units of all its dirty
 * vertices (then every dirty vertex is busy).  The selection it makes is
 * the one select_at makes; only the traversal statistics differ. */

typedef struct {
    int e, v, idx;
    unsigned cnt;
    int64_t score;
} bbelem_t;

typedef struct {
    int64_t score;
    uint64_t seq;
    visit_t *sv;
    bbelem_t *el;
    int nel;
} bbcand_t;

typedef struct {
    matcher_t *m;
    const jmeta_t *j;
    const mres_t *slot, *elem;
    int k;
    unsigned n, c;
    bool high, size1;
    bbcand_t *heap;   /* the best n so far, worst on top */
    unsigned nh, caph;
    uint64_t seq;
} bbs_t;

/* the prune type index the search can use for js, or -1 */
static int bb_usable (matcher_t *m, const mjobspec_t *js)
{
    if (m->bb_off || !m->bb_graph || m->bb_epoch != m->g->bb_epoch || m->g->nmatchers != 1
        || m->node_centric || m->node_excl || m->stop_on_1 || m->variation || m->flexible
        || m->nunsafe > 0 || js->nres != 1)
        return -1;
    const mres_t *s = &js->res[0];
    if (!s->type_is_slot || s->xor || s->nwith != 1 || s->cmin != s->cmax || s->cmin < 1
        || s->cmin > (1u << 20) || mres_effective_max (s) != s->cmin)
        return -1;
    const mres_t *t = &s->with[0];
    if (t->type_is_slot || t->nwith != 0 || t->cmin != t->cmax || t->cmin < 1
        || mres_effective_max (t) != t->cmin || t->tid < 0)
        return -1;
    for (int k = 0; k < m->nprune; k++)
        if (m->ptypes[k] == t->tid)
            return (m->bb_kok[k] & 1) ? k : -1;
    return -1;
}

/* is a worse than b (the later of equal scores is worse) */
static bool bb_worse (const bbs_t *s, const bbcand_t *a, const bbcand_t *b)
{
    if (a->score != b->score)
        return s->high ? a->score < b->score : a->score > b->score;
    return a->seq > b->seq;
}

static void bb_sift_down (bbs_t *s, unsigned i)
{
    for (;;) {
        unsigned l = 2 * i + 1, r = l + 1, w = i;
        if (l < s->nh && bb_worse (s, &s->heap[l], &s->heap[w]))
            w = l;
        if (r < s->nh && bb_worse (s, &s->heap[r], &s->heap[w]))
            w = r;
        if (w == i)
            return;
        bbcand_t t = s->heap[i];
        s->heap[i] = s->heap[w];
        s->heap[w] = t;
        i = w;
    }
}

/* offer a candidate; false if it is not among the best n (nor is any later
 * one of the same slot vertex, whose scores are no better) */
static bool bb_offer (bbs_t *s, int64_t score, visit_t *sv, bbelem_t *el, int nel)
{
    bbcand_t c = { score, s->seq++, sv, el, nel };
    if (s->nh < s->n) {
        if (s->nh == s->caph) {
            s->caph = s->caph ? s->caph * 2 : 16;
            if (s->caph > s->n)
                s->caph = s->n;
            s->heap = xreallocarray (s->heap, s->caph, sizeof (bbcand_t));
        }
        unsigned i = s->nh++;
        s->heap[i] = c;
        while (i > 0 && bb_worse (s, &s->heap[i], &s->heap[(i - 1) / 2])) {
            bbcand_t t = s->heap[i];
            s->heap[i] = s->heap[(i - 1) / 2];
            s->heap[(i - 1) / 2] = t;
            i = (i - 1) / 2;
        }
        return true;
    }
    if (!bb_worse (s, &s->heap[0], &c))
        return false;
    s->heap[0] = c;
    bb_sift_down (s, 0);
    return true;
}

/* can the subtree at u give nothing better than the n-th best so far? */
static bool bb_cut (const bbs_t *s, int u)
{
    const mvtx_t *x = &s->m->g->v[u];
    if (x->bb_old)
        bb_fresh (s->m, u, 0);
    int k = s->k;
    if (!x->agg || !x->bb || x->aggtot[k] <= 0)
        return true;   /* nothing of the element type below */
    const mbb_t *b = &x->bb[k];
    int64_t lo = b->amin, hi = b->amax;
    if (b->dunits == 0
        || x->aggtot[k] - mplan_avail (&x->agg[k], s->j->at, s->j->dur) >= b->dunits) {
        lo = b->cmin;   /* every dirty vertex below is busy in the window */
        hi = b->cmax;
    }
    if (lo > hi)
        return true;
    if (s->nh < s->n)
        return false;
    int64_t worst = s->heap[0].score;
    if (s->high)
        return 1 + (int64_t)s->c * (hi + 2) <= worst;
    return 1 + (int64_t)(s->size1 ? s->c : 1) * (lo + 2) >= worst;
}

static int bb_cmp_low (const void *a, const void *b)
{
    const bbelem_t *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    return x->idx - y->idx;
}

static int bb_cmp_high (const void *a, const void *b)
{
    const bbelem_t *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->idx - y->idx;
}

/* u is a slot match: its children of the element type, as dom_slot takes
 * them (stable order by score, whole vertices added up to each slot) */
static void bb_slot (bbs_t *s, int u, visit_t *uv)
{
    matcher_t *m = s->m;
    mgraph_t *g = m->g;
    const mvtx_t *x = &g->v[u];
    bbelem_t *el = NULL;
    int ne = 0;
    unsigned qual = 0;
    for (int i = 0; i < x->nout; i++) {
        int e = x->out[i];
        if (!in_dom (m, e) || (m->banned && m->banned[e]))
            continue;
        int t = g->e[e].dst;
        m->preorder++;
        if (g->v[t].type != s->elem->tid || prune (m, s->j, true, t, s->elem, 1) < 0)
            continue;
        int64_t a = mplan_avail (&g->v[t].plan, s->j->at, s->j->dur);
        if (a <= 0)
            continue;
        if (!el)
            el = ar_alloc (m, sizeof (bbelem_t) * x->nout);
        el[ne] = (bbelem_t){ e, t, ne, a > UINT_MAX ? UINT_MAX : (unsigned)a, g->v[t].id + 2 };
        qual += el[ne].cnt;
        ne++;
        m->postorder++;
    }
    unsigned need = mres_calc_count (s->elem, qual);
    if (ne == 0 || need == 0)
        return;
    qsort (el, ne, sizeof (bbelem_t), s->high ? bb_cmp_high : bb_cmp_low);
    unsigned long long acc = 0;
    int64_t score = MATCH_MET;
    int first = 0;
    for (int i = 0; i < ne; i++) {
        acc += el[i].cnt;
        score += el[i].score;
        if (acc < need)
            continue;
        if (!bb_offer (s, score, uv, el + first, i - first + 1))
            break;
        first = i + 1;
        acc = 0;
        score = MATCH_MET;
    }
}

static void bb_visit (bbs_t *s, int u, visit_t *pv, int pedge, unsigned depth)
{
    matcher_t *m = s->m;
    mgraph_t *g = m->g;
    const mvtx_t *x = &g->v[u];
    m->preorder++;
    if (prune (m, s->j, false, u, s->slot, 1) < 0
        || mplan_avail (&x->plan, s->j->at, s->j->dur) <= 0)
        return;
    m->postorder++;
    visit_t *v = ar_alloc (m, sizeof (visit_t));
    memset (v, 0, sizeof (*v));
    v->v = u;
    v->parent = pv;
    v->pedge = pedge;
    if (slot_fits (m, u, s->slot)) {
        bb_slot (s, u, v);
        return;
    }
    if (depth >= MG_MAXDEPTH)   /* finalize refuses deeper graphs */
        return;
    for (int i = 0; i < x->nout; i++) {
        int e = x->out[i];
        if (!in_dom (m, e) || (m->banned && m->banned[e]))
            continue;
        if (!bb_cut (s, g->e[e].dst))
            bb_visit (s, g->e[e].dst, v, e, depth + 1);
    }
}

/* select_at for what bb_usable accepts (prune type k) */
static int bb_select (matcher_t *m, const mjobspec_t *js, const jmeta_t *j, int k,
                      selection_t *out)
{
    mgraph_t *g = m->g;
    bbs_t s = { .m = m, .j = j, .slot = &js->res[0], .elem = &js->res[0].with[0], .k = k,
                .n = js->res[0].cmin, .c = js->res[0].with[0].cmin, .high = m->high,
                .size1 = (m->bb_kok[k] & 2) != 0 };
    if (++g->seq == 0) {
        for (int v = 0; v < g->nv; v++)
            g->v[v].stamp = g->v[v].gray = g->v[v].emit_stamp = 0;
        g->seq = 1;
    }
    m->seq = g->seq;
    m->preorder = m->postorder = 0;
    m->visits = 0;
    m->ml_scores = 0;
    int root = g->roots[m->dom];
    visit_t *rv = NULL;
    bb_visit (&s, root, NULL, -1, 0);
    if (s.nh == s.n && s.n > 0) {
        for (unsigned i = 0; i < s.nh; i++) {
            bbcand_t *c = &s.heap[i];
            for (int q = 0; q < c->nel; q++) {
                visit_t *cv = ar_alloc (m, sizeof (visit_t));
                memset (cv, 0, sizeof (*cv));
                cv->v = c->el[q].v;
                cv->parent = c->sv;
                cv->pedge = c->el[q].e;
                sel_add (c->sv, m, c->el[q].e, c->el[q].cnt, true, cv, false);
            }
            visit_t *cur = c->sv;
            while (cur->parent) {   /* as enforce's unconstrained up-walk */
                visit_t *p = cur->parent;
                if (sel_has (p, cur->pedge, cur))
                    break;
                sel_add (p, m, cur->pedge, (unsigned)g->v[cur->v].size, false, cur, true);
                cur = p;
            }
            for (rv = c->sv; rv->parent; rv = rv->parent)
                ;
        }
    }
    free (s.heap);
    m->bb_used++;
    if (!rv)
        return -1;
    out->root = rv;
    out->needs = 1;
    out->excl = false;
    return 0;
}

/* select with multi-parent conflict resolution; fills m->recs */
static int select_emit (matcher_t *m, const mjobspec_t *js, const jmeta_t *j)
{
    mgraph_t *g = m->g;
    if (!m->banned || m->nbanned_cap < g->ne) { /* a graph without edges too: never memset NULL */
        free (m->banned);
        m->banned = calloc (g->ne ? g->ne : 1, 1);
        m->nbanned_cap = g->ne;
    } else
        memset (m->banned, 0, g->ne);
    if (m->bb_stale && m->bb_graph)
        bb_refresh (m);
    int bk = bb_usable (m, js);
    for (int attempt = 0; attempt < 64; attempt++) {
        selection_t sel = {0};
        ar_reset (m);
        if ((bk >= 0 && attempt == 0 ? bb_select (m, js, j, bk, &sel)
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
        snprintf (err, errlen, "invalid request");
        return MATCH_ERROR;
    }
    if (job_find (m, jobid) && op != MATCH_SATISFIABILITY) {
        snprintf (err, errlen, "job %lld exists", (long long)jobid);
        return MATCH_ERROR;
    }
    if (!m->flexible && dup_slots (js->res, js->nres)) {
        snprintf (err, errlen, "jobspec: type \"slot\" appears twice at one level "
                               "(sibling slots need the flexible traverser)");
        return MATCH_ERROR;
    }
    for (int i = 0; i < js->nres; i++)
        if (prime_res (m, &((mjobspec_t *)js)->res[i], 0, err, errlen) < 0)
            return MATCH_ERROR;
    if (m->nxtypes < m->g->ntypes) {
        m->xtypes = realloc (m->xtypes, m->g->ntypes);
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
        if (apply (m, jobid, j.at, j.dur, reserved) < 0) {
            snprintf (err, errlen, "out of memory");
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

/* ---------------- status ---------------- */

static void mark_sub (matcher_t *m, int u, bool up, unsigned char *seen)
{
    mgraph_t *g = m->g;
    if (seen[u])
        return;
    seen[u] = 1;
    g->v[u].up = up;
    for (int i = 0; i < g->v[u].nout; i++) {
        int e = g->v[u].out[i];
        if (in_dom (m, e))
            mark_sub (m, g->e[e].dst, up, seen);
    }
}

int matcher_set_status (matcher_t *m, const char *path, bool up)
{
    int v = mgraph_find_path (m->g, path);
    if (v < 0)
        return -1;
    unsigned char *seen = calloc (m->g->nv, 1);
    if (!seen)
        return -1;
    mark_sub (m, v, up, seen);
    free (seen);
    return 0;
}

int matcher_set_status_rank (matcher_t *m, int64_t rank, bool up)
{
    int n = 0;
    for (int v = 0; v < m->g->nv; v++)
        if (m->g->v[v].rank == rank && (m->g->v[v].ndom_in > 0 || v == m->g->roots[m->dom])) {
            m->g->v[v].up = up;
            n++;
        }
    return n ? 0 : -1;
}

int matcher_get_status (matcher_t *m, const char *path, bool *up)
{
    int v = mgraph_find_path (m->g, path);
    if (v < 0)
        return -1;
    *up = m->g->v[v].up;
    return 0;
}

int matcher_set_property (matcher_t *m, const char *path, const char *key, const char *value)
{
    int v = mgraph_find_path (m->g, path);
    if (v < 0)
        return -1;
    return mg_set_prop (m->g, v, key, value);
}

char *matcher_get_properties (matcher_t *m, const char *path, int *found)
{
    int v = mgraph_find_path (m->g, path);
    *found = v >= 0;
    if (v < 0)
        return NULL;
    sbuf_t b;
    sb_init (&b);
    mvtx_t *x = &m->g->v[v];
    /* sorted by key, as a std::map would */
    int *idx = malloc (sizeof (int) * (x->nprops + 1));
    for (int i = 0; i < x->nprops; i++)
        idx[i] = i;
    for (int i = 1; i < x->nprops; i++) {
        int t = idx[i], j = i - 1;
        while (j >= 0 && strcmp (x->props[idx[j]].key, x->props[t].key) > 0) {
            idx[j + 1] = idx[j];
            j--;
        }
        idx[j + 1] = t;
    }
    for (int i = 0; i < x->nprops; i++)
        sb_printf (&b, "%s=%s\n", x->props[idx[i]].key, x->props[idx[i]].val);
    free (idx);
    return sb_take (&b);
}
