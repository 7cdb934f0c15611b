/* mint.h - internal structures shared by the matcher's files.
 *
 * Not installed, not for callers: the graph's vertex and edge records, the
 * span planner, the parsed jobspec tree.
 */
#ifndef CANOPY_MINT_H
#define CANOPY_MINT_H
#include "match.h"
#include "constraint.h"
#include "sbuf.h"
#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>

#define MT_INF INT64_MAX

/* the string buffer is src/lib/sbuf.h */

/* ---- span planner (mplan.c): amounts used over time, per vertex ---- */
typedef struct {
    int64_t start, end;   /* [start, end) */
    int64_t amount;
    int64_t id;
} mspan_t;
typedef struct {
    int64_t total;
    mspan_t *s;
    int n, cap;
} mplan_t;
int64_t mplan_avail (const mplan_t *p, int64_t at, int64_t dur);
int64_t mplan_add (mplan_t *p, int64_t at, int64_t dur, int64_t amount, int64_t id);
int mplan_rem (mplan_t *p, int64_t id);
int64_t mplan_span_amount (const mplan_t *p, int64_t id);
int64_t mplan_reduce (mplan_t *p, int64_t id, int64_t amount);
int mplan_set_end (mplan_t *p, int64_t id, int64_t end);
void mplan_free (mplan_t *p);
int64_t mt_end (int64_t at, int64_t dur);

/* ---- graph ---- */
typedef struct {
    char *key, *val;
} mprop_t;

typedef struct {
    int subsys;
    char *path;
} mpath_t;

typedef struct {
    int type;            /* interned type */
    char *basename, *name, *unit;
    int64_t id, uniq_id, size;
    int rank;
    bool up;
    bool jgf_excl;       /* "exclusive" as read from JGF */
    mprop_t *props;
    int nprops;
    mpath_t *paths;
    int npaths;
    int *out, nout, capout;   /* out-edge indices, in insertion order */
    int *in, nin, capin;      /* in-edge indices */
    int ndom_in;              /* in-edges in the dominant-capable containment */
    mplan_t plan;             /* units of this vertex in use */
    mplan_t xchk;             /* exclusive holders over time (total 1<<30) */
    mplan_t *agg;             /* per prune type: units of that type below, used */
    int64_t *aggtot;          /* per prune type: total units below (incl. self) */
    struct mbb *bb;           /* per prune type, where agg is: bounds for the best-bound search */
    bool bb_old;              /* a job below came or went: recount bb before use */
    int nalloc, nresv;        /* jobs holding this vertex (allocated/reserved) */
    unsigned stamp, gray;     /* traversal bookkeeping */
    unsigned emit_stamp;
    int emit_count;
    bool removed;             /* detached by matcher_remove_* */
    bool multi;               /* reachable from the dominant root by more than one path */
} mvtx_t;

/* What the best-bound search (dfu.c) knows of the vertices of one prune
 * type strictly below a vertex: the least and greatest id among those with
 * no span at all (clean) and among all of them, and the units of the ones
 * holding a span (dirty).  Empty sets have min > max. */
typedef struct mbb {
    int64_t cmin, cmax;
    int64_t amin, amax;
    int64_t dunits;
} mbb_t;

typedef struct {
    int src, dst;
    int subsys;
    int pos;             /* position in src's out list */
    char *relation;      /* "contains" etc */
} medge_t;

#define MG_MAXTYPES 4096
/* Limits checked when a graph is finalized (doc/match.md): the longest
 * chain of edges of one subsystem (the traversals recurse once per level)
 * and a vertex's size (counts are carried in 32 bits). */
#define MG_MAXDEPTH 1000
#define MG_MAXSIZE 4294967295LL
struct mgraph {
    mvtx_t *v;
    int nv, capv;
    medge_t *e;
    int ne, cape;
    char **types;
    int ntypes, captypes;
    char **subsys;
    int nsubsys, capsubsys;
    /* path index: open addressing, value = vertex index */
    char **hkeys;
    int *hvals;
    int hcap, hn;
    int *roots;        /* per subsystem: root vertex or -1 */
    int64_t next_uniq;
    unsigned seq;      /* traversal sequence, shared by matchers */
    int nmatchers;     /* matchers made on this graph and not destroyed */
    unsigned bb_epoch; /* bumped when a matcher makes or frees the vertex bounds */
};

int mg_intern_type (mgraph_t *g, const char *type);
int mg_type_lookup (const mgraph_t *g, const char *type);
int mg_intern_subsys (mgraph_t *g, const char *name);
int mg_subsys_lookup (const mgraph_t *g, const char *name);
int mg_add_path (mgraph_t *g, int v, int subsys, const char *path);
/* every vertex not removed, parents before children in subsystem s
 * (malloc'd, *n of them); NULL if the edges of s form a cycle, with
 * *cyc (if given) set to a vertex on it */
int *mg_topo (const mgraph_t *g, int s, int *n, int *cyc);
/* a vertex's path in s for error messages: the path, else its name */
const char *mg_vname (const mgraph_t *g, int v);
const char *mg_path (const mgraph_t *g, int v, int subsys);
int mg_set_prop (mgraph_t *g, int v, const char *k, const char *val);
void mg_clear_vertex (mgraph_t *g, int v);
int mgraph_rv1exec_mark (mgraph_t *g, const char *text, size_t len, unsigned char *mark,
                         char *err, size_t errlen);
int mgraph_add_vertex_full (mgraph_t *g, const char *type, const char *basename,
                            const char *name, int64_t id, int64_t uniq_id, int64_t size,
                            const char *unit, int rank);

/* ---- jobspec ---- */
typedef struct mres {
    int type_is_slot;        /* "slot" or "xor_slot" */
    int xor;                 /* "xor_slot": exactly one sibling xor_slot is used */
    char *type;
    int tid;                 /* interned in the graph at match time, -1 unknown */
    unsigned cmin, cmax;
    char oper;
    int operand;
    char *unit;
    int excl;                /* -1 unspecified, 0 false, 1 true */
    char *label;
    struct mres *with;
    int nwith;
    /* pruning aggregate: count per prune type below, per one of this */
    int64_t *udata;
} mres_t;

struct mjobspec {
    mres_t *res;
    int nres;
    int64_t duration;
    char **task_slots;
    int ntasks;
    json_t *constraint;      /* attributes.system.constraints, or NULL */
    constraint_t *cons;      /* ... compiled; node vertices must match it */
    json_t *raw;
};

unsigned mres_calc_count (const mres_t *r, unsigned qc);
/* xor_slot expansion: how many plain alternatives a resource list has
 * (capped), and the k-th of them (xor siblings replaced by one chosen
 * slot, outer choices first) as a new tree sharing strings with rs. */
unsigned long mres_alt_count (const mres_t *rs, int n);
mres_t *mres_alt_build (const mres_t *rs, int n, unsigned long k, int *nout);
void mres_alt_free (mres_t *rs, int n);
unsigned mres_effective_max (const mres_t *r);

#endif
