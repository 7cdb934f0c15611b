/* sched.c - canopy's scheduler: a first-come first-served queue with EASY
 * backfill, placing jobs with canopy's graph matcher.  See sched.h.
 *
 * The instance's nodes form a resource graph (cluster0 -> node per rank,
 * named by its hostname -> core and gpu vertices numbered from 0), kept in
 * step as brokers join, leave and come back.  A pass walks the queue in
 * order and asks the matcher for each job, at time `now`:
 *   - until a job has a reservation, allocate-or-else-reserve: the job
 *     starts if it fits now, else the matcher reserves the earliest time it
 *     will fit, given the running jobs' expected ends (that is the head's
 *     reservation, reported by sched_head_estimate);
 *   - after that, allocate only: a later job starts if it fits now without
 *     touching what the reservation holds over the job's own duration (EASY).
 * The reservation is dropped at the end of the pass; the next pass makes it
 * again from the state of the moment.  Jobs without a time limit run for a
 * horizon (31 years) in the matcher's plan, as Fluxion gives them the
 * instance's duration; one that backfills runs that long past the head's
 * reservation, so it may never start on what the head is waiting for.  A
 * job still running past its expected end keeps its resources a little
 * longer each pass until it is released.
 *
 * The placement is the matcher's (policy "lonode": lowest ranks, lowest core
 * ids first), so `canopy match` with the same graph and jobspec places a job
 * the same way.  The per-core busy maps here mirror the matcher's running
 * allocations for `resource list`, R and a check that never trusts a match
 * onto cores still held.  Feasibility at submit is counted here for a clear
 * reason and then confirmed by the matcher's satisfiability check with every
 * node up.  Pure: no I/O, no clock (callers pass `now` in seconds).
 */
#include "sched.h"
#include "xalloc.h"
#include "errquote.h"
#include "constraint.h"
#include "hostlist.h"
#include "idset.h"
#include "match.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHED_POLICY  "lonode"
#define SCHED_PRUNE   "ALL:core,ALL:gpu"
#define HORIZON       1000000000LL  /* seconds (~31 years): "no time limit" */
#define OVERRUN_STEP  2             /* seconds a job past its end keeps its resources per pass */
#define SAT_JOBID     (-2)          /* id of satisfiability probes (never a real job) */

/* -- types -------------------------------------------------------------- */

struct sched_req {
    uint32_t nnodes;        /* 0 = slots anywhere */
    uint32_t nslots;        /* per node if nnodes, else total */
    uint32_t cores, gpus;   /* per slot */
    bool exclusive;
    double duration;        /* 0 = unlimited */
    constraint_t *cons;     /* NULL = any node */
    mjobspec_t *mjs;        /* what the matcher reads */
};

struct node {
    uint32_t rank;
    char *hostname;
    int ncores, ngpus;
    bool up;
    uint8_t *core_busy, *gpu_busy;
    int free_cores, free_gpus;
};

struct nalloc {
    uint32_t rank;
    int ncores, ngpus;
    int *cores, *gpus;
};

struct job {
    uint64_t id;
    sched_req_t *req;
    double start, end;      /* end = INFINITY without a duration */
    int64_t mend;           /* end of the job's span in the matcher's plan */
    struct nalloc *alloc;
    size_t nalloc;
};

struct sched {
    struct node *nodes;     /* sorted by rank */
    size_t nnodes, capnodes;
    struct job **pending;   /* queue order */
    size_t npending, cappending;
    struct job **running;
    size_t nrunning, caprunning;
    double head_estimate;
    mgraph_t *g;
    matcher_t *m;
    int cluster;            /* the graph's root vertex */
};

static void grow (void **p, size_t *cap, size_t need, size_t elsize)
{
    if (need <= *cap)
        return;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    *p = xrealloc (*p, n * elsize);
    *cap = n;
}

static bool node_ok (const constraint_t *c, const struct node *n)
{
    struct constraint_node cn = { .rank = n->rank, .hostname = n->hostname };
    return constraint_match (c, &cn);
}

/* -- requests ----------------------------------------------------------- */

void sched_req_destroy (sched_req_t **p)
{
    if (p && *p) {
        constraint_destroy (&(*p)->cons);
        mjobspec_destroy (&(*p)->mjs);
        free (*p);
        *p = NULL;
    }
}

/* The matcher's reading of jobspec js (not changed): a copy with the
 * duration the plan uses (whole seconds, rounded up; HORIZON if none). */
static mjobspec_t *to_matcher (const json_t *js, double duration, char *err, size_t errlen)
{
    json_t *c = json_deep_copy (js);
    json_t *attrs = c ? json_object_get (c, "attributes") : NULL;
    if (c && !json_is_object (attrs)) {
        attrs = json_object ();
        json_object_set_new (c, "attributes", attrs);
    }
    json_t *sys = attrs ? json_object_get (attrs, "system") : NULL;
    if (attrs && !json_is_object (sys)) {
        sys = json_object ();
        json_object_set_new (attrs, "system", sys);
    }
    double d = duration > 0 ? ceil (duration) : HORIZON;
    char *text = NULL;
    if (!sys || json_object_set_new (sys, "duration", json_integer ((json_int_t)(d < HORIZON ? d : HORIZON))) < 0
        || !(text = json_dumps (c, JSON_COMPACT))) {
        json_decref (c);
        return errfail (err, errlen, "out of memory"), NULL;
    }
    json_decref (c);
    mjobspec_t *m = mjobspec_parse (text, strlen (text), err, errlen);
    free (text);
    return m;
}

/* Counts checked, constraint compiled; the caller adds r->mjs. */
static sched_req_t *req_new (uint32_t nnodes, uint32_t nslots, uint32_t cores_per_slot,
                             uint32_t gpus_per_slot, bool exclusive, double duration,
                             const json_t *constraint, char *err, size_t errlen)
{
    if (nslots < 1 || cores_per_slot < 1)
        return errfail (err, errlen, "invalid request: a job needs at least one slot of at least one core"), NULL;
    if (nslots > 1000000 || cores_per_slot > 1000000 || gpus_per_slot > 1000000 || nnodes > 1000000)
        return errfail (err, errlen, "invalid request: counts above 1000000"), NULL;
    if (exclusive && !nnodes)
        return errfail (err, errlen, "invalid request: exclusive needs a node count"), NULL;
    if (!(duration >= 0) || !isfinite (duration) || duration > 9.2e18)
        return errfail (err, errlen, "invalid request: duration must be a number of seconds "
                                     "from 0 to 9.2e18"), NULL;
    sched_req_t *r = xcalloc (1, sizeof *r);
    r->nnodes = nnodes;
    r->nslots = nslots;
    r->cores = cores_per_slot;
    r->gpus = gpus_per_slot;
    r->exclusive = exclusive;
    r->duration = duration;
    if (constraint && !json_is_null (constraint) && !(r->cons = constraint_compile (constraint, err, errlen)))
        sched_req_destroy (&r);
    return r;
}

sched_req_t *sched_req_new (uint32_t nnodes, uint32_t nslots, uint32_t cores_per_slot,
                            uint32_t gpus_per_slot, bool exclusive, double duration,
                            const json_t *constraint, char *err, size_t errlen)
{
    sched_req_t *r = req_new (nnodes, nslots, cores_per_slot, gpus_per_slot, exclusive, duration,
                              constraint, err, errlen);
    if (!r)
        return NULL;
    /* the jobspec `canopy submit` would write for these counts */
    json_t *with = json_pack ("[{s:s s:I}]", "type", "core", "count", (json_int_t)cores_per_slot);
    if (gpus_per_slot)
        json_array_append_new (with, json_pack ("{s:s s:I}", "type", "gpu", "count", (json_int_t)gpus_per_slot));
    json_t *res = json_pack ("{s:s s:I s:s s:o}", "type", "slot", "count", (json_int_t)nslots, "label", "task",
                             "with", with);
    if (nnodes)
        res = json_pack ("{s:s s:I s:b s:[o]}", "type", "node", "count", (json_int_t)nnodes, "exclusive",
                         exclusive, "with", res);
    json_t *js = json_pack ("{s:i s:[o] s:[{s:[s] s:s s:{s:i}}] s:{s:{}}}", "version", 1, "resources", res,
                            "tasks", "command", "true", "slot", "task", "count", "per_slot", 1,
                            "attributes", "system");
    if (js && constraint && !json_is_null (constraint))
        json_object_set (json_object_get (json_object_get (js, "attributes"), "system"), "constraints",
                         (json_t *)constraint);
    r->mjs = js ? to_matcher (js, duration, err, errlen) : NULL;
    json_decref (js);
    if (!r->mjs) {
        if (!js)
            errfail (err, errlen, "out of memory");
        sched_req_destroy (&r);
    }
    return r;
}

static int count_of (const json_t *r, const char *what, json_int_t *out, char *err, size_t errlen)
{
    json_t *c = json_object_get (r, "count");
    if (!json_is_integer (c) || json_integer_value (c) < 0 || json_integer_value (c) > 1000000)
        return errfail (err, errlen, "unsupported jobspec: %s count must be an integer 0..1000000", what);
    *out = json_integer_value (c);
    return 0;
}

sched_req_t *sched_req_from_jobspec (const json_t *js, char *err, size_t errlen)
{
    json_t *res = json_object_get (js, "resources");
    json_int_t nnodes = 0, nslots = 0, cores = 0, gpus = 0;
    bool exclusive = false;
    if (!json_is_array (res) || json_array_size (res) != 1)
        return errfail (err, errlen, "unsupported jobspec: resources must be a list of one entry"), NULL;
    json_t *top = json_array_get (res, 0);
    const char *type = json_string_value (json_object_get (top, "type"));
    json_t *slot = top;
    if (type && !strcmp (type, "node")) {
        if (count_of (top, "node", &nnodes, err, errlen) < 0)
            return NULL;
        exclusive = json_is_true (json_object_get (top, "exclusive"));
        json_t *w = json_object_get (top, "with");
        if (!json_is_array (w) || json_array_size (w) != 1)
            return errfail (err, errlen, "unsupported jobspec: node must hold exactly one slot"), NULL;
        slot = json_array_get (w, 0);
        type = json_string_value (json_object_get (slot, "type"));
    }
    if (!type || strcmp (type, "slot"))
        return errfail (err, errlen, "unsupported jobspec: expected node->slot or slot at the top, found '%.20s'",
                     type ? type : "?"), NULL;
    if (count_of (slot, "slot", &nslots, err, errlen) < 0)
        return NULL;
    json_t *w = json_object_get (slot, "with");
    size_t i;
    json_t *c;
    if (!json_is_array (w))
        return errfail (err, errlen, "unsupported jobspec: slot must hold cores"), NULL;
    json_array_foreach (w, i, c) {
        const char *t = json_string_value (json_object_get (c, "type"));
        json_int_t *dst = t && !strcmp (t, "core") ? &cores : t && !strcmp (t, "gpu") ? &gpus : NULL;
        if (!dst)
            return errfail (err, errlen, "unsupported jobspec: slot holds '%.20s' (canopy knows core and gpu)",
                         t ? t : "?"), NULL;
        if (json_object_get (c, "with"))
            return errfail (err, errlen, "unsupported jobspec: %s must not hold other resources", t), NULL;
        if (count_of (c, t, dst, err, errlen) < 0)
            return NULL;
    }
    json_t *sys = json_object_get (json_object_get (js, "attributes"), "system");
    json_t *d = json_object_get (sys, "duration");
    if (d && !json_is_number (d))
        return errfail (err, errlen, "invalid jobspec: attributes.system.duration must be a number"), NULL;
    if (nnodes == 0 && json_is_string (json_object_get (top, "type"))
        && !strcmp (json_string_value (json_object_get (top, "type")), "node"))
        return errfail (err, errlen, "invalid jobspec: node count must be at least 1"), NULL;
    sched_req_t *r = req_new ((uint32_t)nnodes, (uint32_t)nslots, (uint32_t)cores, (uint32_t)gpus, exclusive,
                              d ? json_number_value (d) : 0, json_object_get (sys, "constraints"), err, errlen);
    if (r && !(r->mjs = to_matcher (js, r->duration, err, errlen)))
        sched_req_destroy (&r);
    return r;
}

/* -- nodes -------------------------------------------------------------- */

sched_t *sched_new (void)
{
    char err[160];
    sched_t *s = xcalloc (1, sizeof (sched_t));
    s->g = mgraph_new ();
    s->cluster = mgraph_add_vertex (s->g, "cluster", "cluster", 0, 1, NULL, -1);
    if (s->cluster < 0 || mgraph_finalize (s->g, err, sizeof err) < 0
        || !(s->m = matcher_new (s->g, SCHED_POLICY, "CA", SCHED_PRUNE, err, sizeof err)))
        goto fail;
    matcher_set_format (s->m, MFMT_RLITE);
    return s;
fail:
    sched_destroy (&s);
    return NULL;
}

static void job_destroy (struct job *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->nalloc; i++) {
        free (j->alloc[i].cores);
        free (j->alloc[i].gpus);
    }
    free (j->alloc);
    sched_req_destroy (&j->req);
    free (j);
}

void sched_destroy (sched_t **p)
{
    if (!p || !*p)
        return;
    sched_t *s = *p;
    for (size_t i = 0; i < s->nnodes; i++) {
        free (s->nodes[i].hostname);
        free (s->nodes[i].core_busy);
        free (s->nodes[i].gpu_busy);
    }
    free (s->nodes);
    for (size_t i = 0; i < s->npending; i++)
        job_destroy (s->pending[i]);
    free (s->pending);
    for (size_t i = 0; i < s->nrunning; i++)
        job_destroy (s->running[i]);
    free (s->running);
    matcher_destroy (&s->m);
    mgraph_destroy (&s->g);
    free (s);
    *p = NULL;
}

/* index of rank, or where it would go (with *found = false) */
static size_t node_find (const sched_t *s, uint32_t rank, bool *found)
{
    size_t lo = 0, hi = s->nnodes;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->nodes[mid].rank < rank)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < s->nnodes && s->nodes[lo].rank == rank;
    return lo;
}

static struct node *node_get (const sched_t *s, uint32_t rank)
{
    bool found;
    size_t i = node_find (s, rank, &found);
    return found ? &s->nodes[i] : NULL;
}

/* Put node n into the resource graph (after any vertices of its rank were
 * removed): node vertex named by hostname with id = rank, cores and gpus. */
static int graph_add_node (sched_t *s, const struct node *n, char *err, size_t errlen)
{
    int v = mgraph_add_vertex_full (s->g, "node", "node", n->hostname, n->rank, -1, 1, NULL, (int)n->rank);
    if (v < 0 || mgraph_add_edge (s->g, s->cluster, v, "containment") < 0)
        return errfail (err, errlen, "out of memory");
    for (int k = 0; k < n->ncores + n->ngpus; k++) {
        bool core = k < n->ncores;
        int c = mgraph_add_vertex (s->g, core ? "core" : "gpu", core ? "core" : "gpu",
                                   core ? k : k - n->ncores, 1, NULL, (int)n->rank);
        if (c < 0 || mgraph_add_edge (s->g, v, c, "containment") < 0)
            return errfail (err, errlen, "out of memory");
    }
    if (mgraph_finalize (s->g, err, errlen) < 0)
        return -1;
    matcher_graph_changed (s->m);
    return 0;
}

int sched_node_add (sched_t *s, uint32_t rank, const char *hostname, int ncores, int ngpus,
                    char *err, size_t errlen)
{
    if (!hostname || !*hostname)
        return errfail (err, errlen, "rank %u: empty hostname", rank);
    if (ncores < 1 || ncores > 65536 || ngpus < 0 || ngpus > 4096)
        return errfail (err, errlen, "rank %u: bad resource counts (cores %d, gpus %d)", rank, ncores, ngpus);
    if (rank >= IDSET_MAX_ID)
        return errfail (err, errlen, "rank %u: too large", rank);
    bool found;
    size_t i = node_find (s, rank, &found);
    struct node *n;
    if (found) {
        n = &s->nodes[i];
        bool changed = n->ncores != ncores || n->ngpus != ngpus;
        if (changed) {
            if (n->free_cores != n->ncores || n->free_gpus != n->ngpus)
                return errfail (err, errlen, "rank %u: resources changed (%d cores, %d gpus -> %d, %d) "
                             "while jobs hold some", rank, n->ncores, n->ngpus, ncores, ngpus);
            uint8_t *cb = xcalloc (ncores, 1), *gb = xcalloc (ngpus ? ngpus : 1, 1);
            free (n->core_busy);
            free (n->gpu_busy);
            n->core_busy = cb;
            n->gpu_busy = gb;
            n->ncores = n->free_cores = ncores;
            n->ngpus = n->free_gpus = ngpus;
        }
        bool renamed = strcmp (n->hostname, hostname) != 0;
        free (n->hostname);
        n->hostname = xstrdup (hostname);
        n->up = true;
        if (changed || renamed) {
            int64_t r = rank;
            if (matcher_remove_ranks (s->m, &r, 1, err, errlen) < 0 || graph_add_node (s, n, err, errlen) < 0)
                return -1;
        }
        matcher_set_status_rank (s->m, rank, true);
        return 0;
    }
    grow ((void **)&s->nodes, &s->capnodes, s->nnodes + 1, sizeof *s->nodes);
    struct node nn = { .rank = rank, .ncores = ncores, .ngpus = ngpus, .up = true,
                       .free_cores = ncores, .free_gpus = ngpus };
    nn.hostname = xstrdup (hostname);
    nn.core_busy = xcalloc (ncores, 1);
    nn.gpu_busy = xcalloc (ngpus ? ngpus : 1, 1);
    memmove (&s->nodes[i + 1], &s->nodes[i], (s->nnodes - i) * sizeof *s->nodes);
    s->nodes[i] = nn;
    s->nnodes++;
    return graph_add_node (s, &s->nodes[i], err, errlen);
}

int sched_node_set_up (sched_t *s, uint32_t rank, bool up)
{
    struct node *n = node_get (s, rank);
    if (!n)
        return -1;
    n->up = up;
    matcher_set_status_rank (s->m, rank, up);
    return 0;
}

size_t sched_node_count (const sched_t *s)
{
    return s->nnodes;
}

size_t sched_jobs_on (const sched_t *s, uint32_t rank, uint64_t *ids, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nrunning; i++)
        for (size_t k = 0; k < s->running[i]->nalloc; k++)
            if (s->running[i]->alloc[k].rank == rank) {
                if (n < max && ids)
                    ids[n] = s->running[i]->id;
                n++;
                break;
            }
    return n;
}

/* -- feasibility -------------------------------------------------------- */

struct av {
    int cores, gpus;
};

static int slots_in (const struct av *a, const sched_req_t *r)
{
    int k = a->cores / (int)r->cores;
    if (r->gpus) {
        int g = a->gpus / (int)r->gpus;
        if (g < k)
            k = g;
    }
    return k;
}

static void req_describe (const sched_req_t *r, char *buf, size_t len)
{
    char gp[32] = "";
    if (r->gpus)
        snprintf (gp, sizeof gp, " and %u gpu%s", r->gpus, r->gpus > 1 ? "s" : "");
    if (r->nnodes)
        snprintf (buf, len, "%u node%s%s with %u slot%s of %u core%s%s each", r->nnodes,
                  r->nnodes > 1 ? "s" : "", r->exclusive ? " (exclusive)" : "", r->nslots,
                  r->nslots > 1 ? "s" : "", r->cores, r->cores > 1 ? "s" : "", gp);
    else
        snprintf (buf, len, "%u slot%s of %u core%s%s", r->nslots, r->nslots > 1 ? "s" : "",
                  r->cores, r->cores > 1 ? "s" : "", gp);
}

/* The matcher's word, with every node up (down ones come back) and in the
 * far future (no job in the way).  0 = satisfiable. */
static int matcher_satisfiable (sched_t *s, const sched_req_t *r, char *err, size_t errlen)
{
    for (size_t i = 0; i < s->nnodes; i++)
        if (!s->nodes[i].up)
            matcher_set_status_rank (s->m, s->nodes[i].rank, true);
    int64_t at;
    char e[200] = "";
    int rc = matcher_match (s->m, r->mjs, MATCH_SATISFIABILITY, SAT_JOBID, &at, NULL, e, sizeof e);
    for (size_t i = 0; i < s->nnodes; i++)
        if (!s->nodes[i].up)
            matcher_set_status_rank (s->m, s->nodes[i].rank, false);
    if (rc == MATCH_OK)
        return 0;
    if (rc == MATCH_ERROR)
        return errfail (err, errlen, "invalid request: %s", e);
    return errfail (err, errlen, "unsatisfiable request: the matcher finds no placement for it in the "
                 "instance's resources");
}

int sched_feasible (sched_t *s, const sched_req_t *r, char *err, size_t errlen)
{
    char what[160];
    if (!r)
        return errfail (err, errlen, "no request");
    if (s->nnodes == 0)
        return errfail (err, errlen, "the instance has no resources yet");
    req_describe (r, what, sizeof what);
    size_t eligible = 0;
    int maxc = 0, maxg = 0;
    long long capacity = 0;         /* slots, summed over eligible nodes */
    size_t big_enough = 0;          /* eligible nodes that hold nslots slots */
    for (size_t i = 0; i < s->nnodes; i++) {
        const struct node *n = &s->nodes[i];
        if (!node_ok (r->cons, n))
            continue;
        eligible++;
        struct av whole = { n->ncores, n->ngpus };
        int k = slots_in (&whole, r);
        capacity += k;
        if (r->nnodes && k >= (int)r->nslots)
            big_enough++;
        if (n->ncores > maxc || (n->ncores == maxc && n->ngpus > maxg)) {
            maxc = n->ncores;
            maxg = n->ngpus;
        }
    }
    const char *scope = r->cons ? " that satisfy the constraints" : "";
    if (eligible == 0)
        return errfail (err, errlen, "unsatisfiable request: no node satisfies the constraints %.100s",
                     constraint_text (r->cons));
    if (r->nnodes) {
        if (eligible < r->nnodes)
            return errfail (err, errlen, "unsatisfiable request: %s, but the instance has only %zu node%s%s",
                         what, eligible, eligible > 1 ? "s" : "", scope);
        if (big_enough < r->nnodes)
            return errfail (err, errlen, "unsatisfiable request: %s, but only %zu node%s%s %s that large "
                         "(largest: %d cores, %d gpus)", what, big_enough, big_enough == 1 ? "" : "s",
                         scope, big_enough == 1 ? "is" : "are", maxc, maxg);
        return matcher_satisfiable (s, r, err, errlen);
    }
    if (capacity == 0)
        return errfail (err, errlen, "unsatisfiable request: %s, but no node%s can hold one slot "
                     "(largest: %d cores, %d gpus)", what, scope, maxc, maxg);
    if (capacity < r->nslots)
        return errfail (err, errlen, "unsatisfiable request: %s, but the instance%s holds at most %lld",
                     what, r->cons ? " (nodes satisfying the constraints)" : "", capacity);
    return matcher_satisfiable (s, r, err, errlen);
}

/* -- jobs --------------------------------------------------------------- */

static struct job *find_in (struct job **v, size_t n, uint64_t id, size_t *idx)
{
    for (size_t i = 0; i < n; i++)
        if (v[i]->id == id) {
            if (idx)
                *idx = i;
            return v[i];
        }
    return NULL;
}

int sched_submit (sched_t *s, uint64_t id, sched_req_t **req, char *err, size_t errlen)
{
    if (!req || !*req)
        return errfail (err, errlen, "no request");
    if (find_in (s->pending, s->npending, id, NULL) || find_in (s->running, s->nrunning, id, NULL))
        return errfail (err, errlen, "job %llu is already known to the scheduler", (unsigned long long)id);
    if (sched_feasible (s, *req, err, errlen) < 0)
        return -1;
    struct job *j = xcalloc (1, sizeof *j);
    grow ((void **)&s->pending, &s->cappending, s->npending + 1, sizeof *s->pending);
    j->id = id;
    j->req = *req;
    *req = NULL;
    s->pending[s->npending++] = j;
    return 0;
}

int sched_cancel (sched_t *s, uint64_t id)
{
    size_t i;
    struct job *j = find_in (s->pending, s->npending, id, &i);
    if (!j)
        return -1;
    memmove (&s->pending[i], &s->pending[i + 1], (s->npending - i - 1) * sizeof *s->pending);
    s->npending--;
    job_destroy (j);
    return 0;
}

size_t sched_pending_count (const sched_t *s)
{
    return s->npending;
}

int sched_queue_position (const sched_t *s, uint64_t id)
{
    size_t i;
    return find_in (s->pending, s->npending, id, &i) ? (int)i : -1;
}

double sched_head_estimate (const sched_t *s)
{
    return s->head_estimate;
}

static int *ids_of (const char *text, int *n, int limit)
{
    char e[64];
    idset_t *ids = text ? idset_decode (text, e, sizeof e) : NULL;
    if (!ids)
        return NULL;
    int *v = xcalloc ((size_t)limit + 1, sizeof *v);
    *n = 0;
    for (uint32_t x = idset_first (ids); v && x != IDSET_INVALID; x = idset_next (ids, x)) {
        if (*n >= limit || x >= (uint32_t)limit) {
            free (v);
            v = NULL;
            break;
        }
        v[(*n)++] = (int)x;
    }
    idset_destroy (&ids);
    return v;
}

/* Job j takes what the matcher chose (R_lite text), if every core and gpu
 * of it is free here.  -1 leaves every node as it was. */
static int take_alloc (sched_t *s, struct job *j, const char *rlite)
{
    json_t *rl = rlite ? json_loads (rlite, 0, NULL) : NULL;
    size_t cap = s->nnodes + 1, n = 0;
    struct nalloc *al = xcalloc (cap, sizeof *al);
    int rc = -1;
    size_t i;
    json_t *ent;
    if (!json_is_array (rl) || !al)
        goto out;
    json_array_foreach (rl, i, ent) {
        char e[64];
        json_t *ch = json_object_get (ent, "children");
        idset_t *ranks = idset_decode (json_string_value (json_object_get (ent, "rank")) ?: "", e, sizeof e);
        for (uint32_t r = ranks ? idset_first (ranks) : IDSET_INVALID; r != IDSET_INVALID;
             r = idset_next (ranks, r)) {
            struct node *nd = node_get (s, r);
            if (!nd || !nd->up || n >= cap) {
                idset_destroy (&ranks);
                goto out;
            }
            struct nalloc *a = &al[n++];
            a->rank = r;
            a->cores = ids_of (json_string_value (json_object_get (ch, "core")), &a->ncores, nd->ncores);
            a->gpus = json_object_get (ch, "gpu")
                          ? ids_of (json_string_value (json_object_get (ch, "gpu")), &a->ngpus, nd->ngpus)
                          : xcalloc (1, sizeof (int));
            if (!a->cores || !a->gpus) {
                idset_destroy (&ranks);
                goto out;
            }
            for (int c = 0; c < a->ncores; c++)
                if (nd->core_busy[a->cores[c]]) {
                    idset_destroy (&ranks);
                    goto out;
                }
            for (int g = 0; g < a->ngpus; g++)
                if (nd->gpu_busy[a->gpus[g]]) {
                    idset_destroy (&ranks);
                    goto out;
                }
        }
        if (!ranks)
            goto out;
        idset_destroy (&ranks);
    }
    if (n == 0)
        goto out;
    for (size_t k = 0; k < n; k++) {
        struct node *nd = node_get (s, al[k].rank);
        for (int c = 0; c < al[k].ncores; c++)
            nd->core_busy[al[k].cores[c]] = 1;
        for (int g = 0; g < al[k].ngpus; g++)
            nd->gpu_busy[al[k].gpus[g]] = 1;
        nd->free_cores -= al[k].ncores;
        nd->free_gpus -= al[k].ngpus;
    }
    j->alloc = al;
    j->nalloc = n;
    al = NULL;
    rc = 0;
out:
    if (al) {
        for (size_t k = 0; k < n; k++) {
            free (al[k].cores);
            free (al[k].gpus);
        }
        free (al);
    }
    json_decref (rl);
    return rc;
}

static void give_back (sched_t *s, struct job *j)
{
    for (size_t k = 0; k < j->nalloc; k++) {
        struct node *nd = node_get (s, j->alloc[k].rank);
        if (!nd)
            continue;
        for (int c = 0; c < j->alloc[k].ncores; c++)
            if (nd->core_busy[j->alloc[k].cores[c]]) {
                nd->core_busy[j->alloc[k].cores[c]] = 0;
                nd->free_cores++;
            }
        for (int g = 0; g < j->alloc[k].ngpus; g++)
            if (nd->gpu_busy[j->alloc[k].gpus[g]]) {
                nd->gpu_busy[j->alloc[k].gpus[g]] = 0;
                nd->free_gpus++;
            }
    }
}

int sched_release (sched_t *s, uint64_t id)
{
    size_t i;
    struct job *j = find_in (s->running, s->nrunning, id, &i);
    if (!j)
        return -1;
    matcher_cancel (s->m, (int64_t)id);
    give_back (s, j);
    memmove (&s->running[i], &s->running[i + 1], (s->nrunning - i - 1) * sizeof *s->running);
    s->nrunning--;
    job_destroy (j);
    return 0;
}

/* A job running past the end the plan gave it keeps its resources: the
 * matcher would otherwise offer them to others while it is being stopped. */
static void extend_overruns (sched_t *s, int64_t t)
{
    for (size_t i = 0; i < s->nrunning; i++) {
        struct job *j = s->running[i];
        if (j->mend <= t + 1 && matcher_extend (s->m, (int64_t)j->id, t + OVERRUN_STEP) == 0)
            j->mend = t + OVERRUN_STEP;
    }
}

size_t sched_schedule (sched_t *s, double now, uint64_t *ids, size_t max)
{
    size_t started = 0;
    int64_t t = (int64_t)floor (now);
    int64_t resv = -1, resv_at = 0;     /* the head's reservation this pass: job, time */
    char e[200];
    s->head_estimate = 0;
    matcher_set_now (s->m, t);
    extend_overruns (s, t);
    grow ((void **)&s->running, &s->caprunning, s->nrunning + s->npending + 1, sizeof *s->running);
    size_t i = 0;
    while (i < s->npending && started < max) {
        struct job *j = s->pending[i];
        int op = resv < 0 ? MATCH_ALLOCATE_ORELSE_RESERVE : MATCH_ALLOCATE;
        int64_t dur = (int64_t)ceil (j->req->duration);
        if (j->req->duration <= 0)      /* no limit: past the reservation, if any, by the horizon */
            dur = (resv < 0 ? 0 : resv_at - t) + HORIZON;
        mjobspec_set_duration (j->req->mjs, dur);
        int64_t at = 0;
        char *out = NULL;
        int rc = matcher_match (s->m, j->req->mjs, op, (int64_t)j->id, &at, &out, e, sizeof e);
        if (rc == MATCH_OK && at > t) {
            resv = (int64_t)j->id;
            resv_at = at;
            if (at - t < HORIZON / 2)   /* else it waits on jobs without a time limit */
                s->head_estimate = (double)at;
        }
        else if (rc == MATCH_OK && take_alloc (s, j, out) == 0) {
            j->start = now;
            j->end = j->req->duration > 0 ? now + j->req->duration : INFINITY;
            j->mend = t + dur;
            free (out);
            memmove (&s->pending[i], &s->pending[i + 1], (s->npending - i - 1) * sizeof *s->pending);
            s->npending--;
            s->running[s->nrunning++] = j;
            if (ids)
                ids[started] = j->id;
            started++;
            continue;
        }
        else if (rc == MATCH_OK)
            matcher_cancel (s->m, (int64_t)j->id);  /* onto resources still held: not now */
        free (out);
        i++;
    }
    if (resv >= 0)
        matcher_cancel (s->m, resv);
    return started;
}

/* -- R ------------------------------------------------------------------ */

static char *ints_encode (const int *v, int n)
{
    idset_t *ids = idset_new ();
    for (int i = 0; i < n; i++)
        idset_set (ids, (uint32_t)v[i]);
    char *s = idset_encode (ids);
    idset_destroy (&ids);
    return s;
}

struct rgroup {
    char *cores, *gpus;
    idset_t *ranks;
};

/* R version 1 from per-node (rank, core idset, gpu idset) triples; frees
 * the arrays and the strings in them. */
static json_t *make_R (const sched_t *s, size_t n, uint32_t *ranks, char **cores, char **gpus,
                       double start, double end)
{
    struct rgroup *g = xcalloc (n + 1, sizeof *g);
    char **hosts = xcalloc (n + 1, sizeof *hosts);
    size_t ng = 0;
    json_t *lite = json_array ();
    for (size_t k = 0; k < n; k++) {
        size_t x = 0;
        while (x < ng && (strcmp (g[x].cores, cores[k]) || strcmp (g[x].gpus, gpus[k])))
            x++;
        if (x == ng) {
            g[ng].cores = cores[k];
            g[ng].gpus = gpus[k];
            g[ng].ranks = idset_new ();
            ng++;
        }
        idset_set (g[x].ranks, ranks[k]);
        struct node *nd = node_get (s, ranks[k]);
        hosts[k] = nd ? nd->hostname : "?";
    }
    for (size_t x = 0; x < ng; x++) {
        char *r = idset_encode (g[x].ranks);
        json_t *children = json_pack ("{s:s}", "core", g[x].cores);
        if (g[x].gpus[0])
            json_object_set_new (children, "gpu", json_string (g[x].gpus));
        json_array_append_new (lite, json_pack ("{s:s s:o}", "rank", r, "children", children));
        free (r);
        idset_destroy (&g[x].ranks);
    }
    char *nl = hostlist_compress (hosts, n);
    json_t *R = json_pack ("{s:i s:{s:o s:[s] s:f s:f}}", "version", 1, "execution", "R_lite", lite,
                           "nodelist", nl ? nl : "", "starttime", start, "expiration", end);
    free (nl);
    free (hosts);
    free (g);
    for (size_t k = 0; k < n; k++) {
        free (cores[k]);
        free (gpus[k]);
    }
    free (ranks);
    free (cores);
    free (gpus);
    return R;
}

json_t *sched_job_R (const sched_t *s, uint64_t id)
{
    struct job *j = find_in (s->running, s->nrunning, id, NULL);
    if (!j)
        return NULL;
    /* allocations are in node (rank) order already */
    size_t n = j->nalloc;
    uint32_t *ranks = xcalloc (n + 1, sizeof *ranks);
    char **cores = xcalloc (n + 1, sizeof *cores), **gpus = xcalloc (n + 1, sizeof *gpus);
    for (size_t k = 0; k < n; k++) {
        ranks[k] = j->alloc[k].rank;
        cores[k] = ints_encode (j->alloc[k].cores, j->alloc[k].ncores);
        gpus[k] = ints_encode (j->alloc[k].gpus, j->alloc[k].ngpus);
    }
    json_t *R = make_R (s, n, ranks, cores, gpus, j->start, isfinite (j->end) ? j->end : 0);
    return R;
}

json_t *sched_instance_R (const sched_t *s)
{
    size_t n = s->nnodes;
    uint32_t *ranks = xcalloc (n + 1, sizeof *ranks);
    char **cores = xcalloc (n + 1, sizeof *cores), **gpus = xcalloc (n + 1, sizeof *gpus);
    for (size_t k = 0; k < n; k++) {
        char buf[64];
        ranks[k] = s->nodes[k].rank;
        snprintf (buf, sizeof buf, s->nodes[k].ncores > 1 ? "0-%d" : "0", s->nodes[k].ncores - 1);
        cores[k] = xstrdup (buf);
        if (s->nodes[k].ngpus)
            snprintf (buf, sizeof buf, s->nodes[k].ngpus > 1 ? "0-%d" : "0", s->nodes[k].ngpus - 1);
        else
            buf[0] = '\0';
        gpus[k] = xstrdup (buf);
    }
    json_t *R = make_R (s, n, ranks, cores, gpus, 0, 0);
    return R;
}

/* -- resource list ------------------------------------------------------ */

struct rstate {
    int nnodes;
    long long ncores, ngpus;
    idset_t *ranks;
    char **hosts;
    size_t nhosts;
};

static json_t *rstate_json (struct rstate *st)
{
    char *r = idset_encode (st->ranks);
    char *nl = hostlist_compress (st->hosts, st->nhosts);
    json_t *o = json_pack ("{s:i s:I s:I s:s s:s}", "nnodes", st->nnodes, "ncores", (json_int_t)st->ncores,
                           "ngpus", (json_int_t)st->ngpus, "ranks", r ? r : "", "nodelist", nl ? nl : "");
    free (r);
    free (nl);
    idset_destroy (&st->ranks);
    free (st->hosts);
    return o;
}

static void rstate_add (struct rstate *st, const struct node *n, int cores, int gpus)
{
    st->nnodes++;
    st->ncores += cores;
    st->ngpus += gpus;
    idset_set (st->ranks, n->rank);
    st->hosts[st->nhosts++] = n->hostname;
}

json_t *sched_resource_list (const sched_t *s)
{
    struct rstate st[3];        /* free, allocated, down */
    for (int k = 0; k < 3; k++) {
        memset (&st[k], 0, sizeof st[k]);
        st[k].ranks = idset_new ();
        st[k].hosts = xcalloc (s->nnodes + 1, sizeof (char *));
    }
    for (size_t i = 0; i < s->nnodes; i++) {
        const struct node *n = &s->nodes[i];
        if (!n->up) {
            rstate_add (&st[2], n, n->ncores, n->ngpus);
            continue;
        }
        if (n->free_cores || n->free_gpus)
            rstate_add (&st[0], n, n->free_cores, n->free_gpus);
        if (n->free_cores < n->ncores || n->free_gpus < n->ngpus)
            rstate_add (&st[1], n, n->ncores - n->free_cores, n->ngpus - n->free_gpus);
    }
    json_t *f = rstate_json (&st[0]), *a = rstate_json (&st[1]), *d = rstate_json (&st[2]);
    return json_pack ("{s:o s:o s:o}", "free", f, "allocated", a, "down", d);
}
