/* dfu_flexible.c - the flexible traverser: sibling slots are or-slots.
 *
 * Below a vertex whose children fit any of the slots of a level, the
 * children are explored once with the union of the slots' element types;
 * a memoised search over the free counts (as Fluxion's select_or_config)
 * finds the sequence of or-slots that places the most slots, and those
 * become the vertex's slot candidates. */
#include "dfu_impl.h"
#include "fnv.h"
#include "xalloc.h"
#include <stdlib.h>
#include <string.h>

/* the flexible traverser's test: the slots of a level are alternatives;
 * the vertex is a slot match if any of them fits its children */
int dfu_match_kind_flex (matcher_t *m, int u, const mres_t *rs, int n, bool *pristine,
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
            if (slots[i].type_is_slot && dfu_slot_fits (m, u, &slots[i])) {
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
    return fnv1a (c, (size_t)nt * sizeof *c);
}

static orent_t *or_slot (ormemo_t *mm, const int *c, bool create)
{
    if (create && (mm->n + 1) * 2 > mm->cap) {
        size_t nc = mm->cap ? mm->cap * 2 : 256;
        orent_t *nt = xcalloc (nc, sizeof (orent_t));
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

int dfu_dom_slot_flex (matcher_t *m, const jmeta_t *j, int u, const mres_t *slots, int nsl,
                       unsigned nslots, bool pristine, dfu_t *d, visit_t *uv)
{
    bool x_inout = true;
    dfu_t ds = {0};
    unsigned qual = 0;
    mres_t uni[OR_MAXT] = {{0}};
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
    if (dfu_explore (m, j, u, uni, nu, pristine, &x_inout, &ds, nslots, uv) != 0)
        goto done;
    dfu_finish_slot (m, &ds);
    int counts[OR_MAXT];
    for (int t = 0; t < nu; t++)
        counts[t] = (int)dfu_qual (m, &ds, tids[t]);
    mm.nt = nu;
    mm.tids = tids;
    or_select (&mm, slots, nsl, nslots, counts, 0);
    orent_t *cur = or_slot (&mm, counts, false);
    qual = cur ? (unsigned)cur->score : 0;
    groups = qual ? xcalloc (qual, sizeof (egroup_t)) : NULL;
    for (unsigned i = 0; i < qual; i++) {
        if (!cur || cur->idx < 0) {
            qual = 0;
            goto done;
        }
        const mres_t *sl = &slots[cur->idx];
        if (dfu_slot_group (m, &ds, sl->with, sl->nwith, true, sl->label, &groups[i]) < 0) {
            qual = 0;
            goto done;
        }
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
