/* dfu_update.c - allocation updates: a selection planned in time (apply),
 * cancel, extend, partial cancel, update from an R, remove, and vertex
 * status and properties. */
#include "dfu_impl.h"
#include "errquote.h"
#include "xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- planning ---------------- */

static void job_touch (mjob_t *jb, int v, unsigned char flags)
{
    int *p = xrealloc (jb->verts, sizeof (int) * (jb->nverts + 1));
    unsigned char *q = xrealloc (jb->vexcl, jb->nverts + 1);
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
        m->eweight = xrealloc (m->eweight, sizeof (int64_t) * g->ne);
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

int dfu_apply (matcher_t *m, int64_t jobid, int64_t at, int64_t dur, bool reserved)
{
    mgraph_t *g = m->g;
    if (m->njobs == m->capjobs) {
        int nc = m->capjobs ? m->capjobs * 2 : 16;
        mjob_t *p = xrealloc (m->jobs, sizeof (*p) * nc);
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
    int64_t *acc = np ? xcalloc ((size_t)m->nrecs * np, sizeof (int64_t)) : NULL;
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
        bool counted = dfu_is_ptype (m, x->type) && (r->excl ? x->size : x->size - r->needs) > 0;
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
        dfu_bb_touch (&g->v[m->recs[i].v]);
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
        dfu_bb_touch (&g->v[jb->verts[i]]);
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
        return errfail (err, errlen, "nonexistent job %lld", (long long)jobid);
    }
    if (jb->reserved) {
        return errfail (err, errlen,
                        "reservations not currently supported by partial cancel");
    }
    for (int i = 0; i < nranks; i++) {
        bool found = false;
        for (int v = 0; v < g->nv && !found; v++)
            if (g->v[v].rank == ranks[i])
                found = true;
        if (!found) {
            return errfail (err, errlen, "rank %lld not in the resource graph",
                            (long long)ranks[i]);
        }
    }
    /* the counts below released ranks no longer match what is busy */
    if (!jb->bb_unsafe) {
        jb->bb_unsafe = true;
        m->nunsafe++;
    }
    m->bb_stale = true;
    int64_t *ttc = xcalloc (g->ntypes + 1, sizeof (int64_t));
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
    unsigned char *seen = xcalloc (g->nv, 1);
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
        return errfail (err, errlen, "%s: %s", v < 0 ? "no such path" : "can't remove the root",
                        path);
    }
    unsigned char *mark = xcalloc (g->nv, 1);
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
    dfu_rec_push (m, u, level, mark[u] ? (unsigned)g->v[u].size : 1, mark[u] != 0, pedge);
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
        return errfail (err, errlen, "job %lld exists", (long long)jobid);
    }
    unsigned char *mark = xcalloc (g->nv ? g->nv : 1, 1);
    unsigned char *seen = xcalloc (g->nv ? g->nv : 1, 1);
    int rc = mgraph_rv1exec_mark (g, text, len, mark, err, errlen);
    if (rc == 0) {
        m->nrecs = 0;
        upd_walk (m, g->roots[m->dom], 0, -1, mark, seen);
        if (dfu_apply (m, jobid, at, dur, false) < 0) {
            errfmt (err, errlen, "out of memory");
            rc = -1;
        } else
            *out = mw_write (m, m->recs, m->nrecs, jobid, at, dur);
    }
    free (mark);
    free (seen);
    return rc;
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
        if (dfu_in_dom (m, e))
            mark_sub (m, g->e[e].dst, up, seen);
    }
}

int matcher_set_status (matcher_t *m, const char *path, bool up)
{
    int v = mgraph_find_path (m->g, path);
    if (v < 0)
        return -1;
    unsigned char *seen = xcalloc (m->g->nv, 1);
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
    int *idx = xmalloc (sizeof (int) * (x->nprops + 1));
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
