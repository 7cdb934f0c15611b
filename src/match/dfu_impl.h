/* dfu_impl.h - what the matcher's own files share: the traversal's
 * records (visits, selections, edge groups, per-type evaluations), the
 * job window, and the functions one file calls in another.  Not for
 * callers outside src/match (they use match.h). */
#ifndef CANOPY_DFU_IMPL_H
#define CANOPY_DFU_IMPL_H
#include "mdfu.h"

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

/* what a selection gives the emission: the root of the chosen visits */

typedef struct {
    visit_t *root;
    unsigned needs;
    bool excl;
} selection_t;

/* dfu.c: scoring, pruning, traversal, selection, emission */
void dfu_free (dfu_t *d);
evals_t *dfu_ev (matcher_t *m, dfu_t *d, int t, bool create);
void dfu_add (matcher_t *m, dfu_t *d, int t, const egroup_t *g);
unsigned dfu_qual (matcher_t *m, dfu_t *d, int t);
int dfu_choose_best_k (matcher_t *m, dfu_t *d, int t, unsigned k);
bool dfu_in_dom (matcher_t *m, int e);
int dfu_prune (matcher_t *m, const jmeta_t *j, bool excl, int u, const mres_t *rs, int n);
bool dfu_slot_fits (matcher_t *m, int u, const mres_t *slot);
void dfu_sel_add (visit_t *v, matcher_t *m, int edge, unsigned needs, bool excl,
                  visit_t *child, bool weak);
bool dfu_sel_has (visit_t *v, int edge, visit_t *child);
int dfu_explore (matcher_t *m, const jmeta_t *j, int u, const mres_t *rs, int n, bool pristine,
                 bool *excl, dfu_t *d, unsigned mult, visit_t *uv);
int dfu_finish_slot (matcher_t *m, dfu_t *d);
egroup_t *dfu_ev_next (evals_t *e);
void dfu_rec_push (matcher_t *m, int v, int level, unsigned needs, bool excl, int pedge);
/* start a walk: a fresh visit sequence (stamps cleared when it wraps) and zeroed walk counters */
void dfu_walk_begin (matcher_t *m);
/* One exclusive slot group in *eg (edges in the arena): for each of the n shapes, as many of its
 * evaluations in ds as its count asks.  -1 when they run out, or (whole) when a shape counts 0. */
int dfu_slot_group (matcher_t *m, dfu_t *ds, const mres_t *shape, int n, bool whole, const char *label,
                    egroup_t *eg);

/* dfu_flexible.c */
int dfu_match_kind_flex (matcher_t *m, int u, const mres_t *rs, int n, bool *pristine,
                         unsigned *nslots, const mres_t **next, int *nnext);
int dfu_dom_slot_flex (matcher_t *m, const jmeta_t *j, int u, const mres_t *slots, int nsl,
                       unsigned nslots, bool pristine, dfu_t *d, visit_t *uv);

/* dfu_bound.c */
bool dfu_is_ptype (const matcher_t *m, int t);
void dfu_bb_touch (mvtx_t *x);
void dfu_bb_prepare (matcher_t *m, const int *order, int n);
void dfu_bb_refresh (matcher_t *m);
int dfu_bb_usable (matcher_t *m, const mjobspec_t *js);
int dfu_bb_select (matcher_t *m, const mjobspec_t *js, const jmeta_t *j, int k,
                   selection_t *out);

/* dfu_update.c */
int dfu_apply (matcher_t *m, int64_t jobid, int64_t at, int64_t dur, bool reserved);

/* dfu_policy.c */
int dfu_discover_vtx (matcher_t *m, int u);
int dfu_finish_vtx (matcher_t *m, int u, const mres_t *rs, int n, dfu_t *d);
void dfu_dom_prepare (matcher_t *m);

#endif
