/* dfu_bound.c - the best-bound search for low/high slot requests, and the
 * per-vertex bounds it reads (kept as jobs come and go).
 *
 * The search makes the selection the full traversal (dfu.c) would make
 * for one slot of an exact count of one type, on a tree, without scoring
 * every candidate; see below and doc/match.md. */
#include "dfu_impl.h"
#include "xalloc.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- bounds for the best-bound search ---------------- */

bool dfu_is_ptype (const matcher_t *m, int t)
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
void dfu_bb_touch (mvtx_t *x)
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
void dfu_bb_prepare (matcher_t *m, const int *order, int n)
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

void dfu_bb_refresh (matcher_t *m)
{
    int n = 0;
    int *order = mg_topo (m->g, m->dom, &n, NULL);
    dfu_bb_prepare (m, order, n);
    free (order);
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
int dfu_bb_usable (matcher_t *m, const mjobspec_t *js)
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
        if (!dfu_in_dom (m, e) || (m->banned && m->banned[e]))
            continue;
        int t = g->e[e].dst;
        m->preorder++;
        if (g->v[t].type != s->elem->tid || dfu_prune (m, s->j, true, t, s->elem, 1) < 0)
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
    if (dfu_prune (m, s->j, false, u, s->slot, 1) < 0
        || mplan_avail (&x->plan, s->j->at, s->j->dur) <= 0)
        return;
    m->postorder++;
    visit_t *v = ar_alloc (m, sizeof (visit_t));
    memset (v, 0, sizeof (*v));
    v->v = u;
    v->parent = pv;
    v->pedge = pedge;
    if (dfu_slot_fits (m, u, s->slot)) {
        bb_slot (s, u, v);
        return;
    }
    if (depth >= MG_MAXDEPTH)   /* finalize refuses deeper graphs */
        return;
    for (int i = 0; i < x->nout; i++) {
        int e = x->out[i];
        if (!dfu_in_dom (m, e) || (m->banned && m->banned[e]))
            continue;
        if (!bb_cut (s, g->e[e].dst))
            bb_visit (s, g->e[e].dst, v, e, depth + 1);
    }
}

/* select_at for what bb_usable accepts (prune type k) */
int dfu_bb_select (matcher_t *m, const mjobspec_t *js, const jmeta_t *j, int k,
                   selection_t *out)
{
    mgraph_t *g = m->g;
    bbs_t s = { .m = m, .j = j, .slot = &js->res[0], .elem = &js->res[0].with[0], .k = k,
                .n = js->res[0].cmin, .c = js->res[0].with[0].cmin, .high = m->high,
                .size1 = (m->bb_kok[k] & 2) != 0 };
    dfu_walk_begin (m);
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
                dfu_sel_add (c->sv, m, c->el[q].e, c->el[q].cnt, true, cv, false);
            }
            visit_t *cur = c->sv;
            while (cur->parent) {   /* as enforce's unconstrained up-walk */
                visit_t *p = cur->parent;
                if (dfu_sel_has (p, cur->pedge, cur))
                    break;
                dfu_sel_add (p, m, cur->pedge, (unsigned)g->v[cur->v].size, false, cur, true);
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
