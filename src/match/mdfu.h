/* mdfu.h - the matcher object and its emission records, shared by the
 * traverser (dfu*.c; its own records are in dfu_impl.h), the writers
 * (writers.c, rwriters.c) and find (find.c). */
#ifndef CANOPY_MDFU_H
#define CANOPY_MDFU_H
#include "mint.h"

/* one emitted vertex of a match, in post-order */
typedef struct {
    int v;
    int level;          /* 0 = root */
    unsigned needs;
    bool excl;
    int pedge;          /* edge from the parent record's vertex, -1 at root */
    int parent;         /* index of parent record, -1 at root */
} mrec_t;

#define VX_EXCL 1      /* held exclusively (the vertex's planner has the job's span) */
#define VX_COUNTED 2   /* a prune type whose units count in the subtree totals above */
typedef struct {
    int64_t jobid;
    int64_t at, dur;
    bool reserved;
    /* what to undo: per vertex touched */
    int *verts;
    unsigned char *vexcl;   /* per vertex: VX_EXCL, VX_COUNTED */
    int nverts;
    bool bb_unsafe;     /* shares a prune-type vertex in time with another job, or was
                         * partially cancelled: agg counts may exceed what is busy */
} mjob_t;

typedef struct arena_blk {
    struct arena_blk *next;
    size_t used, cap;
    char data[];
} arena_blk_t;

struct matcher {
    mgraph_t *g;
    const constraint_t *cons;  /* the constraints of the match under way */
    int dom;                   /* dominant subsystem */
    int *subs;
    int nsubs;
    bool high;                 /* compare: prefer higher scores */
    bool node_centric, node_excl, stop_on_1, variation;
    bool flexible;             /* sibling slots are alternatives (or-slots) */
    int node_type, slot_type;
    unsigned char *xtypes;     /* types whose exclusive vertices bring their subtree */
    int nxtypes;
    int64_t ml_scores, ml_factor;
    /* pruning filter */
    int *ptypes;               /* prune types (graph type ids) */
    int *panchor;              /* anchor type per prune type, -1 = ALL */
    int nprune;
    bool agg_ready;
    int fmt;
    int64_t now;
    unsigned seq;
    unsigned preorder, postorder;
    unsigned visits, visit_budget;
    unsigned char *banned;     /* per edge, for the current match */
    int nbanned_cap;
    arena_blk_t *arena;
    mjob_t *jobs;
    int njobs, capjobs;
    int64_t span_seq;
    /* last emission */
    mrec_t *recs;
    int nrecs, caprecs;
    int64_t last_at, last_dur;
    int conflict_edge;
    int64_t *eweight;          /* first-match edge order, updated after allocations */
    int neweight;
    /* best-bound search (low/high, one exact slot): see dfu.c */
    bool bb_graph;             /* the dominant subsystem is a tree, ids in -1..2^31 */
    bool bb_stale;             /* vertex bounds need a full recount */
    unsigned bb_epoch;         /* the graph's bb_epoch when this matcher made them */
    unsigned char *bb_kok;     /* per prune type: 1 usable, 2 every vertex of it has size 1 */
    int nunsafe;               /* jobs with bb_unsafe set */
    bool bb_off;               /* tests: always the full traversal */
    unsigned bb_used;          /* selections the search made */
};

void *ar_alloc (matcher_t *m, size_t n);
/* dfu.c: the job record of jobid, or NULL */
mjob_t *mdfu_job (const matcher_t *m, int64_t jobid);
/* writers.c */
char *mw_write (matcher_t *m, const mrec_t *recs, int n, int64_t jobid, int64_t at, int64_t dur);
char *mw_write_find (matcher_t *m, const int *verts, const int *levels, int n);

#endif
