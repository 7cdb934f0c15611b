/* match.h - canopy's graph matcher: public API.
 *
 * A resource graph (vertices with type/name/id/size, edges per subsystem),
 * jobspecs, and a depth-first matcher modelled on Fluxion's DFU traverser:
 * policies low/high/first/lonode/hinode/lonodex/hinodex/firstnodex/
 * variation and custom "policy=.. node_centric=.. node_exclusive=..
 * stop_on_1_matches=.." strings; allocate, allocate-or-reserve in time,
 * satisfiability, cancel, status changes and find.  A jobspec's RFC 31
 * constraints (attributes.system.constraints: ranks, hostlist, properties,
 * and/or/not) restrict which node vertices it may use.  Unlike Fluxion, a vertex
 * may have several parents in the containment subsystem (see doc/match.md).
 *
 * The library does no file or stdio I/O: loaders take text buffers and
 * writers return malloc'd strings.  Errors come back as one line in errbuf.
 */
#ifndef CANOPY_MATCH_H
#define CANOPY_MATCH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

typedef struct mgraph mgraph_t;
typedef struct mjobspec mjobspec_t;
typedef struct matcher matcher_t;

/* ---- resource graph (mgraph.c, grug.c, jgf.c) ---- */
mgraph_t *mgraph_new (void);
void mgraph_destroy (mgraph_t **g);
/* GRUG GraphML generation recipe (libxml2). */
int mgraph_load_grug (mgraph_t *g, const char *text, size_t len, char *err, size_t errlen);
/* JSON Graph Format as Fluxion writes it. */
int mgraph_load_jgf (mgraph_t *g, const char *text, size_t len, char *err, size_t errlen);
/* Attach a JGF subgraph: vertices whose containment path exists are
 * reused, the rest added (a second root is refused).  Call
 * matcher_graph_changed on matchers of g afterwards. */
int mgraph_attach_jgf (mgraph_t *g, const char *text, size_t len, char *err, size_t errlen);
/* Fluxion's rv1exec (R with R_lite, no scheduling key). */
int mgraph_load_rv1exec (mgraph_t *g, const char *text, size_t len, char *err, size_t errlen);
int mgraph_nvertices (const mgraph_t *g);
int mgraph_nedges (const mgraph_t *g);
/* Index of the vertex whose path in subsystem `subsys` is `path`, or -1. */
int mgraph_find_path (const mgraph_t *g, const char *path);
const char *mgraph_vertex_name (const mgraph_t *g, int v);
const char *mgraph_vertex_type (const mgraph_t *g, int v);
/* Add a vertex/edge by hand (tests, benchmarks).  Returns index or -1. */
int mgraph_add_vertex (mgraph_t *g, const char *type, const char *basename, int64_t id,
                       int64_t size, const char *unit, int rank);
/* ... with an explicit name (else basename + id) and uniq_id (-1: index). */
int mgraph_add_vertex_full (mgraph_t *g, const char *type, const char *basename,
                            const char *name, int64_t id, int64_t uniq_id, int64_t size,
                            const char *unit, int rank);
int mgraph_add_edge (mgraph_t *g, int src, int dst, const char *subsystem);
/* Compute missing paths and the root of each subsystem; call after loading. */
int mgraph_finalize (mgraph_t *g, char *err, size_t errlen);

/* ---- jobspec (jobspec.c) ---- */
mjobspec_t *mjobspec_parse (const char *text, size_t len, char *err, size_t errlen);
void mjobspec_destroy (mjobspec_t **js);
int64_t mjobspec_duration (const mjobspec_t *js);
/* Override the duration (seconds, > 0) a match plans for. */
void mjobspec_set_duration (mjobspec_t *js, int64_t seconds);

/* ---- matcher (dfu.c, writers.c, find.c) ---- */
enum match_op {
    MATCH_ALLOCATE = 0,
    MATCH_ALLOCATE_ORELSE_RESERVE,
    MATCH_ALLOCATE_W_SATISFIABILITY,
    MATCH_SATISFIABILITY,
};
enum match_format {
    MFMT_SIMPLE = 0,
    MFMT_PRETTY_SIMPLE,
    MFMT_JGF,
    MFMT_RLITE,
    MFMT_RV1,
    MFMT_RV1_NOSCHED,
};
/* Result codes of matcher_match. */
enum match_result {
    MATCH_OK = 0,        /* matched: *at says when (0 = now) */
    MATCH_BUSY = 1,      /* not now (and not later for allocate_orelse_reserve) */
    MATCH_UNSAT = 2,     /* can never be satisfied by this graph */
    MATCH_ERROR = 3,     /* bad request; errbuf says why */
};

/* policy: a Fluxion policy name or custom option string.
 * subsystems: "CA", "PA", "C+PA", "IBA", ... or a comma list of names.
 * prune: "ALL:core,ALL:gpu" style; NULL for the default "ALL:core". */
matcher_t *matcher_new (mgraph_t *g, const char *policy, const char *subsystems,
                        const char *prune, char *err, size_t errlen);
void matcher_destroy (matcher_t **m);
int matcher_set_format (matcher_t *m, int fmt);
/* Fluxion's flexible traverser: sibling slots in a jobspec are or-slots,
 * the matcher packs as many as fit and takes the best. */
void matcher_set_flexible (matcher_t *m, bool flexible);
/* The graph gained vertices or edges: recount subtree totals (jobs kept). */
void matcher_graph_changed (matcher_t *m);
/* Remove the subtree at path, or every vertex of the given ranks, from the
 * graph (Fluxion's remove): their edges and paths go, jobs are kept.
 * -1 with errbuf set if the path is unknown or is the root. */
int matcher_remove_path (matcher_t *m, const char *path, char *err, size_t errlen);
int matcher_remove_ranks (matcher_t *m, const int64_t *ranks, int n, char *err, size_t errlen);
/* Match jobspec js with the given op as job `jobid`.  On MATCH_OK *out gets
 * the match written in the matcher's format (malloc'd) and *at the start.
 * sat reports satisfiability (false only if proven unsatisfiable). */
int matcher_match (matcher_t *m, const mjobspec_t *js, int op, int64_t jobid, int64_t *at,
                   char **out, char *err, size_t errlen);
/* Release a job's allocation or reservation.  -1 if unknown. */
int matcher_cancel (matcher_t *m, int64_t jobid);
bool matcher_has_job (const matcher_t *m, int64_t jobid);
/* Release the part of job `jobid` on the given broker ranks (Fluxion's
 * partial cancel).  *full is set when nothing of the job is left (the job
 * is then gone).  -1 with errbuf set if the job is unknown or reserved or
 * a rank is not in the graph; the job is then unchanged. */
int matcher_partial_cancel (matcher_t *m, int64_t jobid, const int64_t *ranks, int nranks,
                            bool *full, char *err, size_t errlen);
/* Ranks named by an R (rv1exec: execution.R_lite) or a JGF (vertex ranks)
 * text; *ranks is malloc'd.  -1 with errbuf set on bad input. */
int mgraph_rv1exec_ranks (const char *text, size_t len, int64_t **ranks, int *n, char *err,
                          size_t errlen);
/* Record job `jobid` on the vertices an rv1exec R names (Fluxion's update
 * allocate): [at, at+dur), written like a match into *out.  -1 with errbuf
 * set if the R names something the graph lacks or the job exists. */
int matcher_update_rv1exec (matcher_t *m, const char *text, size_t len, int64_t jobid,
                            int64_t at, int64_t dur, char **out, char *err, size_t errlen);
int mgraph_jgf_ranks (const char *text, size_t len, int64_t **ranks, int *n, char *err,
                      size_t errlen);
/* Mark the subtree at path up or down.  -1 if the path is unknown. */
int matcher_set_status (matcher_t *m, const char *path, bool up);
int matcher_get_status (matcher_t *m, const char *path, bool *up);
/* Mark every vertex of broker rank `rank` up or down.  -1 if none. */
int matcher_set_status_rank (matcher_t *m, int64_t rank, bool up);
/* Move the end of allocated job `jobid` to `end` (a job running past its
 * expected end keeps its resources).  -1 if unknown or reserved. */
int matcher_extend (matcher_t *m, int64_t jobid, int64_t end);
/* Find vertices matching a Fluxion find expression; *out as the format.
 * Returns 0, or -1 with errbuf set for a bad expression. */
int matcher_find (matcher_t *m, const char *expr, char **out, char *err, size_t errlen);
/* Traversal statistics of the last match. */
unsigned matcher_preorder_count (const matcher_t *m);
unsigned matcher_postorder_count (const matcher_t *m);
/* Set the "now" used as the base of allocations (default 0). */
void matcher_set_now (matcher_t *m, int64_t now);
int matcher_set_property (matcher_t *m, const char *path, const char *key, const char *value);
/* Properties of the vertex at path as "k=v\n" lines (malloc'd), or NULL. */
char *matcher_get_properties (matcher_t *m, const char *path, int *found);

#endif
