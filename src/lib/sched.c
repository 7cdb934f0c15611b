/* sched.c - canopy's scheduler: FCFS with EASY backfill over per-core,
 * per-GPU node state.  See sched.h for the contract.
 *
 * Fitting works on counts ("views": free cores and GPUs per node); the
 * chosen cores/GPUs are picked (lowest free ids) only when a job starts.
 * A pass walks the queue in order.  While every earlier job has started,
 * the job at hand is the head: it starts if it fits.  If it does not, the
 * pass simulates the running jobs ending (by starttime + duration; no
 * duration = never) until the head fits: that time T and the resources H
 * the head would take then are its reservation.  Later jobs still start if
 * they fit now and either end by T, or fit in what stays free through T
 * (free now, and free at T minus H).  A head that cannot fit even with every
 * job gone (its nodes are down) gets no reservation and does not block.
 */
#include "sched.h"
#include "hostlist.h"
#include "idset.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* -- types -------------------------------------------------------------- */

enum { C_AND, C_OR, C_NOT, C_RANKS, C_HOSTS };

struct cons {
    int op;
    struct cons **kids;
    size_t nkids;
    idset_t *ranks;
    char **hosts;           /* sorted */
    size_t nhosts;
};

struct sched_req {
    uint32_t nnodes;        /* 0 = slots anywhere */
    uint32_t nslots;        /* per node if nnodes, else total */
    uint32_t cores, gpus;   /* per slot */
    bool exclusive;
    double duration;        /* 0 = unlimited */
    struct cons *cons;      /* NULL = any node */
    char *cons_text;        /* for messages */
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
};

/* a view: what is available per node index */
struct av {
    int cores, gpus;
};
/* one node's share of a fit */
struct take {
    size_t idx;
    int cores, gpus;
};

static int fail (char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (err, errlen, fmt, ap);
        va_end (ap);
    }
    return -1;
}

static int grow (void **p, size_t *cap, size_t need, size_t elsize)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    void *q = realloc (*p, n * elsize);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

/* -- constraints (RFC 31 subset) ---------------------------------------- */

static void cons_destroy (struct cons *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nkids; i++)
        cons_destroy (c->kids[i]);
    free (c->kids);
    idset_destroy (&c->ranks);
    hostlist_free (c->hosts, c->nhosts);
    free (c);
}

static int cmpstr (const void *a, const void *b)
{
    return strcmp (*(char *const *)a, *(char *const *)b);
}

static struct cons *cons_compile (const json_t *j, int depth, char *err, size_t errlen)
{
    if (depth > 32)
        return fail (err, errlen, "constraints nested too deeply"), NULL;
    if (!json_is_object (j) || json_object_size (j) != 1)
        return fail (err, errlen, "invalid constraints: each term must be an object with one operator"), NULL;
    void *it = json_object_iter ((json_t *)j);
    const char *op = json_object_iter_key (it);
    json_t *args = json_object_iter_value (it);
    if (!json_is_array (args))
        return fail (err, errlen, "invalid constraints: '%.30s' takes an array", op), NULL;
    struct cons *c = calloc (1, sizeof *c);
    if (!c)
        return fail (err, errlen, "out of memory"), NULL;
    size_t i;
    json_t *a;
    if (!strcmp (op, "and") || !strcmp (op, "or") || !strcmp (op, "not")) {
        c->op = op[0] == 'a' ? C_AND : op[0] == 'o' ? C_OR : C_NOT;
        c->kids = calloc (json_array_size (args) + 1, sizeof *c->kids);
        json_array_foreach (args, i, a) {
            if (!(c->kids[c->nkids] = cons_compile (a, depth + 1, err, errlen)))
                goto error;
            c->nkids++;
        }
        return c;
    }
    if (!strcmp (op, "ranks")) {
        c->op = C_RANKS;
        c->ranks = idset_new ();
        json_array_foreach (args, i, a) {
            char e[128];
            idset_t *ids = json_is_string (a) ? idset_decode (json_string_value (a), e, sizeof e) : NULL;
            if (!ids) {
                fail (err, errlen, "invalid constraints: ranks: %s",
                      json_is_string (a) ? e : "values must be strings");
                goto error;
            }
            for (uint32_t r = idset_first (ids); r != IDSET_INVALID; r = idset_next (ids, r))
                idset_set (c->ranks, r);
            idset_destroy (&ids);
        }
        return c;
    }
    if (!strcmp (op, "hostlist")) {
        c->op = C_HOSTS;
        json_array_foreach (args, i, a) {
            char e[128];
            size_t n = 0;
            char **h = json_is_string (a) ? hostlist_expand (json_string_value (a), &n, e, sizeof e) : NULL;
            if (!h) {
                fail (err, errlen, "invalid constraints: hostlist: %s",
                      json_is_string (a) ? e : "values must be strings");
                goto error;
            }
            char **m = realloc (c->hosts, (c->nhosts + n + 1) * sizeof *m);
            if (!m) {
                hostlist_free (h, n);
                fail (err, errlen, "out of memory");
                goto error;
            }
            c->hosts = m;
            memcpy (c->hosts + c->nhosts, h, n * sizeof *h);
            c->nhosts += n;
            free (h);           /* the names moved into c->hosts */
        }
        if (c->nhosts)
            qsort (c->hosts, c->nhosts, sizeof *c->hosts, cmpstr);
        return c;
    }
    fail (err, errlen, "invalid constraints: unsupported operator '%.30s' "
          "(canopy knows and, or, not, ranks, hostlist)", op);
error:
    cons_destroy (c);
    return NULL;
}

static bool cons_match (const struct cons *c, const struct node *n)
{
    if (!c)
        return true;
    switch (c->op) {
        case C_AND:
        case C_NOT: {
            bool all = true;
            for (size_t i = 0; i < c->nkids && all; i++)
                all = cons_match (c->kids[i], n);
            return c->op == C_AND ? all : !all;
        }
        case C_OR:
            for (size_t i = 0; i < c->nkids; i++)
                if (cons_match (c->kids[i], n))
                    return true;
            return false;
        case C_RANKS:
            return idset_test (c->ranks, n->rank);
        case C_HOSTS:
            return c->nhosts && n->hostname
                   && bsearch (&n->hostname, c->hosts, c->nhosts, sizeof *c->hosts, cmpstr);
    }
    return false;
}

/* -- requests ----------------------------------------------------------- */

void sched_req_destroy (sched_req_t **p)
{
    if (p && *p) {
        cons_destroy ((*p)->cons);
        free ((*p)->cons_text);
        free (*p);
        *p = NULL;
    }
}

sched_req_t *sched_req_new (uint32_t nnodes, uint32_t nslots, uint32_t cores_per_slot,
                            uint32_t gpus_per_slot, bool exclusive, double duration,
                            const json_t *constraint, char *err, size_t errlen)
{
    if (nslots < 1 || cores_per_slot < 1)
        return fail (err, errlen, "invalid request: a job needs at least one slot of at least one core"), NULL;
    if (nslots > 1000000 || cores_per_slot > 1000000 || gpus_per_slot > 1000000 || nnodes > 1000000)
        return fail (err, errlen, "invalid request: counts above 1000000"), NULL;
    if (exclusive && !nnodes)
        return fail (err, errlen, "invalid request: exclusive needs a node count"), NULL;
    if (!(duration >= 0) || !isfinite (duration))
        return fail (err, errlen, "invalid request: duration must be a number >= 0"), NULL;
    sched_req_t *r = calloc (1, sizeof *r);
    if (!r)
        return fail (err, errlen, "out of memory"), NULL;
    r->nnodes = nnodes;
    r->nslots = nslots;
    r->cores = cores_per_slot;
    r->gpus = gpus_per_slot;
    r->exclusive = exclusive;
    r->duration = duration;
    if (constraint && !json_is_null (constraint)) {
        if (!(r->cons = cons_compile (constraint, 0, err, errlen))) {
            sched_req_destroy (&r);
            return NULL;
        }
        r->cons_text = json_dumps (constraint, JSON_COMPACT);
    }
    return r;
}

static int count_of (const json_t *r, const char *what, json_int_t *out, char *err, size_t errlen)
{
    json_t *c = json_object_get (r, "count");
    if (!json_is_integer (c) || json_integer_value (c) < 0 || json_integer_value (c) > 1000000)
        return fail (err, errlen, "unsupported jobspec: %s count must be an integer 0..1000000", what);
    *out = json_integer_value (c);
    return 0;
}

sched_req_t *sched_req_from_jobspec (const json_t *js, char *err, size_t errlen)
{
    json_t *res = json_object_get (js, "resources");
    json_int_t nnodes = 0, nslots = 0, cores = 0, gpus = 0;
    bool exclusive = false;
    if (!json_is_array (res) || json_array_size (res) != 1)
        return fail (err, errlen, "unsupported jobspec: resources must be a list of one entry"), NULL;
    json_t *top = json_array_get (res, 0);
    const char *type = json_string_value (json_object_get (top, "type"));
    json_t *slot = top;
    if (type && !strcmp (type, "node")) {
        if (count_of (top, "node", &nnodes, err, errlen) < 0)
            return NULL;
        exclusive = json_is_true (json_object_get (top, "exclusive"));
        json_t *w = json_object_get (top, "with");
        if (!json_is_array (w) || json_array_size (w) != 1)
            return fail (err, errlen, "unsupported jobspec: node must hold exactly one slot"), NULL;
        slot = json_array_get (w, 0);
        type = json_string_value (json_object_get (slot, "type"));
    }
    if (!type || strcmp (type, "slot"))
        return fail (err, errlen, "unsupported jobspec: expected node->slot or slot at the top, found '%.20s'",
                     type ? type : "?"), NULL;
    if (count_of (slot, "slot", &nslots, err, errlen) < 0)
        return NULL;
    json_t *w = json_object_get (slot, "with");
    size_t i;
    json_t *c;
    if (!json_is_array (w))
        return fail (err, errlen, "unsupported jobspec: slot must hold cores"), NULL;
    json_array_foreach (w, i, c) {
        const char *t = json_string_value (json_object_get (c, "type"));
        json_int_t *dst = t && !strcmp (t, "core") ? &cores : t && !strcmp (t, "gpu") ? &gpus : NULL;
        if (!dst)
            return fail (err, errlen, "unsupported jobspec: slot holds '%.20s' (canopy knows core and gpu)",
                         t ? t : "?"), NULL;
        if (json_object_get (c, "with"))
            return fail (err, errlen, "unsupported jobspec: %s must not hold other resources", t), NULL;
        if (count_of (c, t, dst, err, errlen) < 0)
            return NULL;
    }
    json_t *sys = json_object_get (json_object_get (js, "attributes"), "system");
    json_t *d = json_object_get (sys, "duration");
    if (d && !json_is_number (d))
        return fail (err, errlen, "invalid jobspec: attributes.system.duration must be a number"), NULL;
    if (nnodes == 0 && json_is_string (json_object_get (top, "type"))
        && !strcmp (json_string_value (json_object_get (top, "type")), "node"))
        return fail (err, errlen, "invalid jobspec: node count must be at least 1"), NULL;
    return sched_req_new ((uint32_t)nnodes, (uint32_t)nslots, (uint32_t)cores, (uint32_t)gpus, exclusive,
                          d ? json_number_value (d) : 0, json_object_get (sys, "constraints"), err, errlen);
}

/* -- nodes -------------------------------------------------------------- */

sched_t *sched_new (void)
{
    return calloc (1, sizeof (sched_t));
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

int sched_node_add (sched_t *s, uint32_t rank, const char *hostname, int ncores, int ngpus,
                    char *err, size_t errlen)
{
    if (!hostname || !*hostname)
        return fail (err, errlen, "rank %u: empty hostname", rank);
    if (ncores < 1 || ncores > 65536 || ngpus < 0 || ngpus > 4096)
        return fail (err, errlen, "rank %u: bad resource counts (cores %d, gpus %d)", rank, ncores, ngpus);
    if (rank >= IDSET_MAX_ID)
        return fail (err, errlen, "rank %u: too large", rank);
    bool found;
    size_t i = node_find (s, rank, &found);
    struct node *n;
    if (found) {
        n = &s->nodes[i];
        if (n->ncores != ncores || n->ngpus != ngpus) {
            if (n->free_cores != n->ncores || n->free_gpus != n->ngpus)
                return fail (err, errlen, "rank %u: resources changed (%d cores, %d gpus -> %d, %d) "
                             "while jobs hold some", rank, n->ncores, n->ngpus, ncores, ngpus);
            uint8_t *cb = calloc (ncores, 1), *gb = calloc (ngpus ? ngpus : 1, 1);
            if (!cb || !gb) {
                free (cb);
                free (gb);
                return fail (err, errlen, "out of memory");
            }
            free (n->core_busy);
            free (n->gpu_busy);
            n->core_busy = cb;
            n->gpu_busy = gb;
            n->ncores = n->free_cores = ncores;
            n->ngpus = n->free_gpus = ngpus;
        }
        char *h = strdup (hostname);
        if (!h)
            return fail (err, errlen, "out of memory");
        free (n->hostname);
        n->hostname = h;
        n->up = true;
        return 0;
    }
    if (grow ((void **)&s->nodes, &s->capnodes, s->nnodes + 1, sizeof *s->nodes) < 0)
        return fail (err, errlen, "out of memory");
    struct node nn = { .rank = rank, .ncores = ncores, .ngpus = ngpus, .up = true,
                       .free_cores = ncores, .free_gpus = ngpus };
    nn.hostname = strdup (hostname);
    nn.core_busy = calloc (ncores, 1);
    nn.gpu_busy = calloc (ngpus ? ngpus : 1, 1);
    if (!nn.hostname || !nn.core_busy || !nn.gpu_busy) {
        free (nn.hostname);
        free (nn.core_busy);
        free (nn.gpu_busy);
        return fail (err, errlen, "out of memory");
    }
    memmove (&s->nodes[i + 1], &s->nodes[i], (s->nnodes - i) * sizeof *s->nodes);
    s->nodes[i] = nn;
    s->nnodes++;
    return 0;
}

int sched_node_set_up (sched_t *s, uint32_t rank, bool up)
{
    struct node *n = node_get (s, rank);
    if (!n)
        return -1;
    n->up = up;
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

/* -- fitting ------------------------------------------------------------ */

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

/* Fit r into view av (indexed like s->nodes).  Fills take[] (room for
 * s->nnodes) and returns how many nodes it uses, 0 if it does not fit. */
static size_t fit (const sched_t *s, const struct av *av, const sched_req_t *r, struct take *take)
{
    size_t n = 0;
    if (r->nnodes) {
        for (size_t i = 0; i < s->nnodes && n < r->nnodes; i++) {
            const struct node *nd = &s->nodes[i];
            if (!cons_match (r->cons, nd))
                continue;
            if (r->exclusive) {
                struct av whole = { nd->ncores, nd->ngpus };
                if (av[i].cores != nd->ncores || av[i].gpus != nd->ngpus
                    || slots_in (&whole, r) < (int)r->nslots)
                    continue;
                take[n++] = (struct take){ i, nd->ncores, nd->ngpus };
            }
            else {
                if (slots_in (&av[i], r) < (int)r->nslots)
                    continue;
                take[n++] = (struct take){ i, (int)(r->nslots * r->cores), (int)(r->nslots * r->gpus) };
            }
        }
        return n == r->nnodes ? n : 0;
    }
    uint32_t left = r->nslots;
    for (size_t i = 0; i < s->nnodes && left; i++) {
        if (!cons_match (r->cons, &s->nodes[i]))
            continue;
        int k = slots_in (&av[i], r);
        if (k <= 0)
            continue;
        if ((uint32_t)k > left)
            k = (int)left;
        take[n++] = (struct take){ i, k * (int)r->cores, k * (int)r->gpus };
        left -= (uint32_t)k;
    }
    return left ? 0 : n;
}

/* Free now, per node; down nodes have nothing. */
static void view_now (const sched_t *s, struct av *av)
{
    for (size_t i = 0; i < s->nnodes; i++) {
        const struct node *n = &s->nodes[i];
        av[i].cores = n->up ? n->free_cores : 0;
        av[i].gpus = n->up ? n->free_gpus : 0;
    }
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

int sched_feasible (const sched_t *s, const sched_req_t *r, char *err, size_t errlen)
{
    char what[160];
    if (!r)
        return fail (err, errlen, "no request");
    if (s->nnodes == 0)
        return fail (err, errlen, "the instance has no resources yet");
    req_describe (r, what, sizeof what);
    size_t eligible = 0;
    int maxc = 0, maxg = 0;
    long long capacity = 0;         /* slots, summed over eligible nodes */
    size_t big_enough = 0;          /* eligible nodes that hold nslots slots */
    for (size_t i = 0; i < s->nnodes; i++) {
        const struct node *n = &s->nodes[i];
        if (!cons_match (r->cons, n))
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
        return fail (err, errlen, "unsatisfiable request: no node satisfies the constraints %.100s",
                     r->cons_text ? r->cons_text : "");
    if (r->nnodes) {
        if (eligible < r->nnodes)
            return fail (err, errlen, "unsatisfiable request: %s, but the instance has only %zu node%s%s",
                         what, eligible, eligible > 1 ? "s" : "", scope);
        if (big_enough < r->nnodes)
            return fail (err, errlen, "unsatisfiable request: %s, but only %zu node%s%s %s that large "
                         "(largest: %d cores, %d gpus)", what, big_enough, big_enough == 1 ? "" : "s",
                         scope, big_enough == 1 ? "is" : "are", maxc, maxg);
        return 0;
    }
    if (capacity == 0)
        return fail (err, errlen, "unsatisfiable request: %s, but no node%s can hold one slot "
                     "(largest: %d cores, %d gpus)", what, scope, maxc, maxg);
    if (capacity < r->nslots)
        return fail (err, errlen, "unsatisfiable request: %s, but the instance%s holds at most %lld",
                     what, r->cons ? " (nodes satisfying the constraints)" : "", capacity);
    return 0;
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
        return fail (err, errlen, "no request");
    if (find_in (s->pending, s->npending, id, NULL) || find_in (s->running, s->nrunning, id, NULL))
        return fail (err, errlen, "job %llu is already known to the scheduler", (unsigned long long)id);
    if (sched_feasible (s, *req, err, errlen) < 0)
        return -1;
    struct job *j = calloc (1, sizeof *j);
    if (!j || grow ((void **)&s->pending, &s->cappending, s->npending + 1, sizeof *s->pending) < 0) {
        free (j);
        return fail (err, errlen, "out of memory");
    }
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

/* Take the lowest free ids on the nodes of take[0..n) for job j. */
static int allocate (sched_t *s, struct job *j, const struct take *take, size_t n, double now)
{
    j->alloc = calloc (n, sizeof *j->alloc);
    if (!j->alloc)
        return -1;
    for (size_t k = 0; k < n; k++) {
        struct node *nd = &s->nodes[take[k].idx];
        struct nalloc *a = &j->alloc[k];
        a->rank = nd->rank;
        a->cores = calloc (take[k].cores ? take[k].cores : 1, sizeof (int));
        a->gpus = calloc (take[k].gpus ? take[k].gpus : 1, sizeof (int));
        if (!a->cores || !a->gpus)
            return -1;          /* job_destroy cleans up; node state untouched so far for k */
        j->nalloc = k + 1;
        for (int c = 0; c < nd->ncores && a->ncores < take[k].cores; c++)
            if (!nd->core_busy[c]) {
                nd->core_busy[c] = 1;
                a->cores[a->ncores++] = c;
            }
        for (int g = 0; g < nd->ngpus && a->ngpus < take[k].gpus; g++)
            if (!nd->gpu_busy[g]) {
                nd->gpu_busy[g] = 1;
                a->gpus[a->ngpus++] = g;
            }
        nd->free_cores -= a->ncores;
        nd->free_gpus -= a->ngpus;
    }
    j->start = now;
    j->end = j->req->duration > 0 ? now + j->req->duration : INFINITY;
    return 0;
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
    give_back (s, j);
    memmove (&s->running[i], &s->running[i + 1], (s->nrunning - i - 1) * sizeof *s->running);
    s->nrunning--;
    job_destroy (j);
    return 0;
}

static int by_end (const void *a, const void *b)
{
    const struct job *x = *(struct job *const *)a, *y = *(struct job *const *)b;
    return x->end < y->end ? -1 : x->end > y->end ? 1 : 0;
}

/* The head's reservation: simulate running jobs ending in end order until
 * it fits.  On success fills th (free at T minus what the head takes) and
 * *T; returns 0.  -1 if it would not fit even with every job gone. */
static int reserve (const sched_t *s, const sched_req_t *r, const struct av *now, struct av *th,
                    struct take *take, double *T)
{
    struct job **order = malloc ((s->nrunning + 1) * sizeof *order);
    if (!order)
        return -1;
    memcpy (order, s->running, s->nrunning * sizeof *order);
    qsort (order, s->nrunning, sizeof *order, by_end);
    memcpy (th, now, s->nnodes * sizeof *th);
    int rc = -1;
    for (size_t k = 0; k < s->nrunning; k++) {
        struct job *j = order[k];
        for (size_t a = 0; a < j->nalloc; a++) {
            bool found;
            size_t idx = node_find (s, j->alloc[a].rank, &found);
            if (found && s->nodes[idx].up) {
                th[idx].cores += j->alloc[a].ncores;
                th[idx].gpus += j->alloc[a].ngpus;
            }
        }
        if (k + 1 < s->nrunning && order[k + 1]->end == j->end)
            continue;           /* release all jobs ending together first */
        size_t n = fit (s, th, r, take);
        if (n) {
            for (size_t t = 0; t < n; t++) {
                th[take[t].idx].cores -= take[t].cores;
                th[take[t].idx].gpus -= take[t].gpus;
            }
            *T = j->end;
            rc = 0;
            break;
        }
    }
    free (order);
    return rc;
}

size_t sched_schedule (sched_t *s, double now, uint64_t *ids, size_t max)
{
    size_t started = 0;
    size_t nn = s->nnodes ? s->nnodes : 1;
    struct av *av = calloc (nn, sizeof *av), *th = calloc (nn, sizeof *th), *lv = calloc (nn, sizeof *lv);
    struct take *take = calloc (nn, sizeof *take);
    bool reserved = false;
    double T = INFINITY;
    s->head_estimate = 0;
    if (!av || !th || !lv || !take)
        goto out;
    view_now (s, av);
    size_t i = 0;
    while (i < s->npending && started < max) {
        struct job *j = s->pending[i];
        size_t n = 0;
        bool long_job = false;
        if (!reserved)
            n = fit (s, av, j->req, take);
        else if (j->req->duration > 0 && isfinite (T) && now + j->req->duration <= T)
            n = fit (s, av, j->req, take);          /* done before the head needs anything */
        else {
            for (size_t k = 0; k < s->nnodes; k++) {
                lv[k].cores = av[k].cores < th[k].cores ? av[k].cores : th[k].cores;
                lv[k].gpus = av[k].gpus < th[k].gpus ? av[k].gpus : th[k].gpus;
            }
            n = fit (s, lv, j->req, take);
            long_job = true;
        }
        if (!n) {
            if (!reserved && reserve (s, j->req, av, th, take, &T) == 0) {
                reserved = true;
                s->head_estimate = isfinite (T) ? T : 0;
            }
            i++;
            continue;
        }
        if (grow ((void **)&s->running, &s->caprunning, s->nrunning + 1, sizeof *s->running) < 0)
            break;
        if (allocate (s, j, take, n, now) < 0) {
            give_back (s, j);
            for (size_t k = 0; k < j->nalloc; k++) {
                free (j->alloc[k].cores);
                free (j->alloc[k].gpus);
            }
            free (j->alloc);
            j->alloc = NULL;
            j->nalloc = 0;
            break;
        }
        for (size_t t = 0; t < n; t++) {
            av[take[t].idx].cores -= take[t].cores;
            av[take[t].idx].gpus -= take[t].gpus;
            if (long_job) {
                th[take[t].idx].cores -= take[t].cores;
                th[take[t].idx].gpus -= take[t].gpus;
            }
        }
        memmove (&s->pending[i], &s->pending[i + 1], (s->npending - i - 1) * sizeof *s->pending);
        s->npending--;
        s->running[s->nrunning++] = j;
        if (ids)
            ids[started] = j->id;
        started++;
    }
out:
    free (av);
    free (th);
    free (lv);
    free (take);
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

/* R version 1 from per-node (rank, core idset, gpu idset) triples. */
static json_t *make_R (const sched_t *s, size_t n, const uint32_t *ranks, char **cores, char **gpus,
                       double start, double end)
{
    struct rgroup *g = calloc (n + 1, sizeof *g);
    char **hosts = calloc (n + 1, sizeof *hosts);
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
    return R;
}

json_t *sched_job_R (const sched_t *s, uint64_t id)
{
    struct job *j = find_in (s->running, s->nrunning, id, NULL);
    if (!j)
        return NULL;
    /* allocations are in node (rank) order already */
    size_t n = j->nalloc;
    uint32_t *ranks = calloc (n + 1, sizeof *ranks);
    char **cores = calloc (n + 1, sizeof *cores), **gpus = calloc (n + 1, sizeof *gpus);
    for (size_t k = 0; k < n; k++) {
        ranks[k] = j->alloc[k].rank;
        cores[k] = ints_encode (j->alloc[k].cores, j->alloc[k].ncores);
        gpus[k] = ints_encode (j->alloc[k].gpus, j->alloc[k].ngpus);
    }
    json_t *R = make_R (s, n, ranks, cores, gpus, j->start, isfinite (j->end) ? j->end : 0);
    for (size_t k = 0; k < n; k++) {
        free (cores[k]);
        free (gpus[k]);
    }
    free (ranks);
    free (cores);
    free (gpus);
    return R;
}

json_t *sched_instance_R (const sched_t *s)
{
    size_t n = s->nnodes;
    uint32_t *ranks = calloc (n + 1, sizeof *ranks);
    char **cores = calloc (n + 1, sizeof *cores), **gpus = calloc (n + 1, sizeof *gpus);
    for (size_t k = 0; k < n; k++) {
        char buf[64];
        ranks[k] = s->nodes[k].rank;
        snprintf (buf, sizeof buf, s->nodes[k].ncores > 1 ? "0-%d" : "0", s->nodes[k].ncores - 1);
        cores[k] = strdup (buf);
        if (s->nodes[k].ngpus)
            snprintf (buf, sizeof buf, s->nodes[k].ngpus > 1 ? "0-%d" : "0", s->nodes[k].ngpus - 1);
        else
            buf[0] = '\0';
        gpus[k] = strdup (buf);
    }
    json_t *R = make_R (s, n, ranks, cores, gpus, 0, 0);
    for (size_t k = 0; k < n; k++) {
        free (cores[k]);
        free (gpus[k]);
    }
    free (ranks);
    free (cores);
    free (gpus);
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
        st[k].hosts = calloc (s->nnodes + 1, sizeof (char *));
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
