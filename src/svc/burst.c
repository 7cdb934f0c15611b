/* burst.c - the burst manager on rank 0: pool nodes asked for, joined,
 * timed out, released; state in the job store.  See burst.h and
 * doc/bursting.md. */
#define _GNU_SOURCE
#include "burst.h"
#include "burstkube.h"
#include "burstprov.h"
#include "errquote.h"
#include "hostlist.h"
#include "idset.h"
#include "jobid.h"
#include "jobspec_build.h"
#include "privdir.h"
#include "readfile.h"
#include "xalloc.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 500
#define MAX_WAITING 256

enum bstate { BN_IDLE, BN_STARTING, BN_UP, BN_DOWN };
static const char *bstate_names[] = { "burst", "starting", "up", "down" };
static const enum resource_pool_state res_state[] = { RES_POOL_BURST, RES_POOL_STARTING, RES_POOL_UP, RES_POOL_DOWN };

struct bnode {
    enum bstate st;
    double t;                /* wall clock: asked for (STARTING), joined (UP) */
    uint64_t job;            /* the job it was asked for */
    uint64_t batch;          /* one start request of the pool */
    json_t *handle;          /* the provider's */
    double idle_since;       /* UP and no job on it since (wall), 0 = busy */
    uint32_t rank;
    char host[128];
};

struct bpool {
    const burst_pool_t *cfg;
    const burst_prov_t *prov;
    struct bnode *n;
    json_t *tries;           /* {"<job id>": {"n": tries, "batch": last batch counted}} */
    uint64_t batch;
};

struct burst {
    overlay_t *ov;
    resource_svc_t *rs;
    jobdb_t *db;
    burst_hooks_t h;
    struct bpool *p;
    size_t np;
    uint32_t base;
    int timer;
    char lead[1024], config[PATH_MAX], cert[PATH_MAX], broker[PATH_MAX], workdir[PATH_MAX];
};

static double wall (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* -- the job's side ------------------------------------------------------ */

bool burst_is_burstable (const json_t *jobspec)
{
    json_t *v = json_object_get (json_object_get (json_object_get (jobspec, "attributes"), "system"), "burstable");
    return v && !json_is_false (v) && !json_is_null (v) && !(json_is_integer (v) && json_integer_value (v) == 0);
}

void burst_need_of (const json_t *jobspec, burst_need_t *need)
{
    memset (need, 0, sizeof *need);
    json_t *node = json_array_get (json_object_get (jobspec, "resources"), 0);
    const char *type = json_string_value (json_object_get (node, "type"));
    json_int_t count = json_integer_value (json_object_get (node, "count"));
    if (!type || strcmp (type, "node") || count < 1 || count > (1 << 20))
        return;
    need->nodes = (uint32_t)count;
    size_t i, k;
    json_t *slot, *r;
    json_array_foreach (json_object_get (node, "with"), i, slot) {
        json_int_t ns = json_integer_value (json_object_get (slot, "count"));
        json_array_foreach (json_object_get (slot, "with"), k, r) {
            const char *t = json_string_value (json_object_get (r, "type"));
            json_int_t c = json_integer_value (json_object_get (r, "count"));
            if (t && !strcmp (t, "core"))
                need->cores += (uint32_t)(ns * c);
            else if (t && !strcmp (t, "gpu"))
                need->gpus += (uint32_t)(ns * c);
        }
    }
}

/* -- state in the job store --------------------------------------------- */

static void persist (burst_t *b, struct bpool *p)
{
    json_t *nodes = json_array ();
    for (uint32_t i = 0; i < p->cfg->size; i++) {
        struct bnode *n = &p->n[i];
        json_array_append_new (nodes, json_pack ("{s:s s:f s:I s:I s:O?}", "state", bstate_names[n->st], "t", n->t,
                                                 "job", (json_int_t)n->job, "batch", (json_int_t)n->batch, "handle",
                                                 n->handle));
    }
    json_t *o = json_pack ("{s:s s:I s:o s:O}", "cluster", p->cfg->cluster, "batch", (json_int_t)p->batch, "nodes",
                           nodes, "tries", p->tries);
    char key[128], err[256];
    snprintf (key, sizeof key, "burst/%s", p->cfg->name);
    if (jobdb_kv_put (b->db, key, o, err, sizeof err) < 0)
        overlay_log (b->ov, "burst: pool %s: cannot save its state: %s", p->cfg->name, err);
    json_decref (o);
}

static void warn (void *arg, const char *msg)
{
    burst_t *b = arg;
    overlay_log (b->ov, "%s", msg);
}

static void ctx_of (burst_t *b, struct bpool *p, burst_ctx_t *c)
{
    uint32_t replicas = 0;
    for (uint32_t i = 0; i < p->cfg->size; i++)
        if (p->n[i].st == BN_STARTING || p->n[i].st == BN_UP)
            replicas = i + 1;
    *c = (burst_ctx_t){ .pool = p->cfg, .cluster = p->cfg->cluster, .lead = b->lead, .config = b->config,
                        .cert = b->cert, .broker = b->broker, .workdir = b->workdir, .replicas = replicas,
                        .cfg = overlay_config (b->ov), .warn = warn, .warn_arg = b };
}

static void set_state (burst_t *b, struct bnode *n, enum bstate st)
{
    n->st = st;
    resource_set_pool_state (b->rs, n->rank, res_state[st]);
    if (st == BN_IDLE || st == BN_DOWN)   /* no job is placed on it from now on */
        resource_set_down (b->rs, n->rank, st == BN_IDLE ? "released" : "burst node down");
}

static void stop_nodes (burst_t *b, struct bpool *p, uint32_t *idx, size_t k, const char *why)
{
    if (!k)
        return;
    burst_ctx_t c;
    ctx_of (b, p, &c);
    burst_ref_t *refs = xcalloc (k, sizeof *refs);
    char **hosts = xcalloc (k + 1, sizeof *hosts);
    for (size_t j = 0; j < k; j++) {
        struct bnode *n = &p->n[idx[j]];
        refs[j] = (burst_ref_t){ idx[j], n->rank, n->host, n->handle };
        hosts[j] = n->host;
    }
    char err[512];
    if (p->prov->stop (&c, refs, k, err, sizeof err) < 0)
        overlay_log (b->ov, "burst: pool %s: stopping nodes failed: %s", p->cfg->name, err);
    char *hl = hostlist_compress (hosts, k);
    overlay_log (b->ov, "burst: pool %s: released %s (%s)", p->cfg->name, hl ? hl : "?", why);
    free (hl);
    free (hosts);
    free (refs);
}

/* A node asked for did not join (or its provider failed): down; its job
 * waits again, or fails after max_tries. */
static void node_failed (burst_t *b, struct bpool *p, uint32_t i, const char *why)
{
    struct bnode *n = &p->n[i];
    overlay_log (b->ov, "burst: pool %s: node %s (rank %u) down: %s", p->cfg->name, n->host, n->rank, why);
    set_state (b, n, BN_DOWN);
    stop_nodes (b, p, &i, 1, "did not join");
    char key[32];
    snprintf (key, sizeof key, "%llu", (unsigned long long)n->job);
    json_t *t = json_object_get (p->tries, key);
    if (!t) {
        t = json_pack ("{s:i s:I}", "n", 0, "batch", (json_int_t)0);
        json_object_set_new (p->tries, key, t);
    }
    json_int_t tries = json_integer_value (json_object_get (t, "n"));
    if ((uint64_t)json_integer_value (json_object_get (t, "batch")) != n->batch) {
        tries++;
        json_object_set_new (t, "n", json_integer (tries));
        json_object_set_new (t, "batch", json_integer ((json_int_t)n->batch));
        char f58[JOBID_STRLEN];
        jobid_encode (n->job, JOBID_F58, f58, sizeof f58);
        if (tries >= p->cfg->max_tries) {
            char note[600];
            snprintf (note, sizeof note, "pool %s: %s (%lld of %u tries)", p->cfg->name, why, (long long)tries,
                      p->cfg->max_tries);
            overlay_log (b->ov, "burst: job %s: giving up: %s", f58, note);
            b->h.fail (b->h.arg, n->job, note);
        }
        else
            overlay_log (b->ov, "burst: job %s waits again (try %lld of %u failed: %s)", f58, (long long)tries,
                         p->cfg->max_tries, why);
    }
    persist (b, p);
}

static void start_nodes (burst_t *b, struct bpool *p, uint32_t k, uint64_t job)
{
    uint32_t *idx = xcalloc (k, sizeof *idx);
    size_t m = 0;
    for (uint32_t i = 0; i < p->cfg->size && m < k; i++)
        if (p->n[i].st == BN_IDLE || p->n[i].st == BN_DOWN)
            idx[m++] = i;
    p->batch++;
    double now = wall ();
    char **hosts = xcalloc (m + 1, sizeof *hosts);
    for (size_t j = 0; j < m; j++) {
        struct bnode *n = &p->n[idx[j]];
        set_state (b, n, BN_STARTING);
        n->t = now;
        n->job = job;
        n->batch = p->batch;
        n->idle_since = 0;
        hosts[j] = n->host;
    }
    persist (b, p);   /* before asking: a restart after this never asks twice */
    char *hl = hostlist_compress (hosts, m);
    char f58[JOBID_STRLEN];
    jobid_encode (job, JOBID_F58, f58, sizeof f58);
    overlay_log (b->ov, "burst: pool %s (cluster %s): starting %zu node%s %s for job %s", p->cfg->name,
                 p->cfg->cluster, m, m == 1 ? "" : "s", hl ? hl : "?", f58);
    free (hl);
    free (hosts);
    burst_ctx_t c;
    ctx_of (b, p, &c);
    burst_ref_t *refs = xcalloc (m, sizeof *refs);
    for (size_t j = 0; j < m; j++) {
        struct bnode *n = &p->n[idx[j]];
        refs[j] = (burst_ref_t){ idx[j], n->rank, n->host, json_incref (n->handle) };
    }
    char err[512];
    int rc = p->prov->start (&c, refs, m, err, sizeof err);
    for (size_t j = 0; j < m; j++) {
        struct bnode *n = &p->n[idx[j]];
        json_decref (n->handle);
        n->handle = refs[j].handle;
    }
    persist (b, p);
    if (rc < 0) {
        char why[600];
        snprintf (why, sizeof why, "the %s provider failed: %s", p->prov->name, err);
        for (size_t j = 0; j < m; j++)
            node_failed (b, p, idx[j], why);
    }
    free (refs);
    free (idx);
}

/* -- the tick ----------------------------------------------------------- */

static bool fully_free (const idset_t *fr, const idset_t *al, uint32_t r)
{
    return fr && idset_test (fr, r) && !(al && idset_test (al, r));
}

static void decide (burst_t *b)
{
    burst_job_t *jobs = xcalloc (MAX_WAITING, sizeof *jobs);
    size_t nj = b->h.waiting (b->h.arg, jobs, MAX_WAITING);
    if (nj == 0) {
        free (jobs);
        return;
    }
    json_t *l = sched_resource_list (resource_sched (b->rs));
    idset_t *fr = idset_decode (json_string_value (json_object_get (json_object_get (l, "free"), "ranks")), NULL, 0);
    idset_t *al = idset_decode (json_string_value (json_object_get (json_object_get (l, "allocated"), "ranks")), NULL, 0);
    json_decref (l);
    /* nodes starting count for the job they were asked for; those asked for
     * a job that no longer waits (it ran, or was canceled) for anyone */
    uint32_t *pfree = xcalloc (b->np + 1, sizeof *pfree), *pstart = xcalloc (b->np + 1, sizeof *pstart),
             *pidle = xcalloc (b->np + 1, sizeof *pidle), *spare = xcalloc (b->np + 1, sizeof *spare);
    for (size_t i = 0; i < b->np; i++)
        for (uint32_t k = 0; k < b->p[i].cfg->size; k++) {
            struct bnode *n = &b->p[i].n[k];
            pfree[i] += n->st == BN_UP && resource_rank_up (b->rs, n->rank) && fully_free (fr, al, n->rank);
            pidle[i] += n->st == BN_IDLE || n->st == BN_DOWN;
            if (n->st == BN_STARTING) {
                bool claimed = false;
                for (size_t j = 0; j < nj && !claimed; j++)
                    claimed = jobs[j].id == n->job;
                spare[i] += !claimed;
            }
        }
    const burst_pools_t *bp = &overlay_config (b->ov)->burst;
    /* the instance's own nodes free now, by the cores and GPUs jobs ask for */
    bool *taken = xcalloc (b->base + 1, sizeof *taken);
    for (size_t j = 0; j < nj; j++) {
        uint32_t local_total = 0, local_free = 0;
        for (uint32_t r = 0; r < b->base; r++)
            if (resource_node_fits (b->rs, r, jobs[j].need.cores, jobs[j].need.gpus)) {
                local_total++;
                local_free += !taken[r] && resource_rank_up (b->rs, r) && fully_free (fr, al, r);
            }
        for (size_t i = 0; i < b->np; i++) {
            pstart[i] = spare[i];
            for (uint32_t k = 0; k < b->p[i].cfg->size; k++)
                pstart[i] += b->p[i].n[k].st == BN_STARTING && b->p[i].n[k].job == jobs[j].id;
        }
        burst_state_t st = { .local_total = local_total, .local_free = local_free, .pool_free = pfree,
                             .pool_starting = pstart, .pool_idle = pidle };
        burst_decision_t d;
        burst_decide (bp, &jobs[j].need, true, &st, &d);
        if (d.verdict == BURST_WAIT && d.pool >= 0 && d.start > 0) {
            /* max_starting caps the pool's nodes starting at once, whoever they are for */
            uint32_t all = 0;
            for (uint32_t k = 0; k < b->p[d.pool].cfg->size; k++)
                all += b->p[d.pool].n[k].st == BN_STARTING;
            uint32_t cap = b->p[d.pool].cfg->max_starting;
            d.start = all >= cap ? 0 : d.start < cap - all ? d.start : cap - all;
        }
        if (d.verdict == BURST_WAIT && d.pool >= 0 && d.start > 0) {
            start_nodes (b, &b->p[d.pool], d.start, jobs[j].id);
            pidle[d.pool] -= d.start;
        }
        b->h.reason (b->h.arg, jobs[j].id, d.verdict == BURST_RUN ? "" : d.reason);
        /* what this job will take is not there for the next one */
        uint32_t need = jobs[j].need.nodes, take;
        for (uint32_t r = 0; need && r < b->base; r++)
            if (!taken[r] && resource_node_fits (b->rs, r, jobs[j].need.cores, jobs[j].need.gpus)
                && resource_rank_up (b->rs, r) && fully_free (fr, al, r)) {
                taken[r] = true;
                need--;
            }
        for (size_t i = 0; need && i < b->np; i++) {
            take = need < pfree[i] ? need : pfree[i];
            pfree[i] -= take;
            need -= take;
            uint32_t own = pstart[i] - spare[i];   /* its own starting nodes first, then spare ones */
            take = need < own ? need : own;
            need -= take;
            take = need < spare[i] ? need : spare[i];
            spare[i] -= take;
            need -= take;
        }
    }
    idset_destroy (&fr);
    idset_destroy (&al);
    free (taken);
    free (pfree);
    free (pstart);
    free (pidle);
    free (spare);
    free (jobs);
}

static int on_tick (zloop_t *loop, int id, void *arg)
{
    burst_t *b = arg;
    burst_proc_reap ();
    double now = wall ();
    sched_t *s = resource_sched (b->rs);
    for (size_t i = 0; i < b->np; i++) {
        struct bpool *p = &b->p[i];
        uint32_t *rel = xcalloc (p->cfg->size + 1, sizeof *rel);
        size_t nrel = 0;
        for (uint32_t k = 0; k < p->cfg->size; k++) {
            struct bnode *n = &p->n[k];
            char why[600];
            burst_ctx_t c;
            if (n->st == BN_STARTING) {
                ctx_of (b, p, &c);
                burst_ref_t ref = { k, n->rank, n->host, n->handle };
                char e[512];
                if (p->prov->check (&c, &ref, e, sizeof e) < 0) {
                    snprintf (why, sizeof why, "the %s provider failed: %s", p->prov->name, e);
                    node_failed (b, p, k, why);
                }
                else if (now - n->t > p->cfg->resume_timeout) {
                    snprintf (why, sizeof why, "did not join within the resume timeout (%gs)", p->cfg->resume_timeout);
                    node_failed (b, p, k, why);
                }
            }
            else if (n->st == BN_UP) {
                uint64_t ids[1];
                if (sched_jobs_on (s, n->rank, ids, 1) > 0)
                    n->idle_since = 0;
                else if (n->idle_since == 0)
                    n->idle_since = now;
                else if (now - n->idle_since >= p->cfg->idle_time)
                    rel[nrel++] = k;
            }
        }
        if (nrel && p->prov->from_top) {
            /* releasing a node below a busy or starting one would leave
             * its pod running (a StatefulSet scales from the top) */
            bool *held = xcalloc (p->cfg->size + 1, sizeof *held);
            for (uint32_t k = 0; k < p->cfg->size; k++)
                held[k] = p->n[k].st == BN_STARTING || p->n[k].st == BN_UP;
            for (size_t j = 0; j < nrel; j++)
                held[rel[j]] = false;
            nrel = burst_release_from_top (held, p->cfg->size, rel, nrel);
            free (held);
        }
        if (nrel) {
            for (size_t j = 0; j < nrel; j++) {
                struct bnode *n = &p->n[rel[j]];
                set_state (b, n, BN_IDLE);
                n->idle_since = 0;
                overlay_member_leave (b->ov, n->host);
            }
            char why[64];
            snprintf (why, sizeof why, "idle for %gs", p->cfg->idle_time);
            stop_nodes (b, p, rel, nrel, why);
            persist (b, p);
        }
        free (rel);
        if (p->prov->poll) {
            burst_ctx_t c;
            ctx_of (b, p, &c);
            p->prov->poll (&c);
        }
    }
    decide (b);
    return 0;
}

void burst_node_change (burst_t *b, uint32_t rank, bool up)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->np; i++) {
        struct bpool *p = &b->p[i];
        if (rank < p->cfg->first_rank || rank >= p->cfg->first_rank + p->cfg->size)
            continue;
        struct bnode *n = &p->n[rank - p->cfg->first_rank];
        if (up && n->st != BN_UP) {
            overlay_log (b->ov, "burst: pool %s: node %s (rank %u) joined%s", p->cfg->name, n->host, rank,
                         n->st == BN_STARTING ? "" : " (not asked for)");
            if (n->st != BN_STARTING)
                n->t = wall ();
            n->idle_since = 0;
            set_state (b, n, BN_UP);
            persist (b, p);
        }
        else if (!up && n->st == BN_UP) {
            set_state (b, n, BN_DOWN);
            persist (b, p);
            uint32_t k = rank - p->cfg->first_rank;
            stop_nodes (b, p, &k, 1, "went down");
        }
        return;
    }
}

/* -- services ----------------------------------------------------------- */

static struct bpool *pool_named (burst_t *b, const cmsg_t *msg)
{
    const char *name = json_string_value (json_object_get (msg->json, "pool"));
    for (size_t i = 0; name && i < b->np; i++)
        if (!strcmp (b->p[i].cfg->name, name))
            return &b->p[i];
    char q[64];
    overlay_respond_error (b->ov, &msg->hdr, ENOENT, "no burst pool '%s'",
                           errquote (q, sizeof q, name ? name : "", (size_t)-1));
    return NULL;
}

static void burst_list_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    burst_t *b = arg;
    json_t *pools = json_array ();
    double now = wall ();
    for (size_t i = 0; i < b->np; i++) {
        struct bpool *p = &b->p[i];
        json_t *counts = json_pack ("{s:i s:i s:i s:i}", "burst", 0, "starting", 0, "up", 0, "down", 0);
        json_t *hosts = json_object ();
        double first = 0;
        for (uint32_t k = 0; k < p->cfg->size; k++) {
            struct bnode *n = &p->n[k];
            const char *sn = bstate_names[n->st];
            json_object_set_new (counts, sn, json_integer (json_integer_value (json_object_get (counts, sn)) + 1));
            if (!json_object_get (hosts, sn))
                json_object_set_new (hosts, sn, json_array ());
            json_array_append_new (json_object_get (hosts, sn), json_string (n->host));
            if ((n->st == BN_STARTING || n->st == BN_UP) && (first == 0 || n->t < first))
                first = n->t;
        }
        json_array_append_new (pools, json_pack ("{s:s s:s s:s s:I s:I s:o s:o s:f}", "name", p->cfg->name, "cluster",
                                                 p->cfg->cluster, "provider", p->prov->name, "size",
                                                 (json_int_t)p->cfg->size, "first_rank",
                                                 (json_int_t)p->cfg->first_rank, "nodes", counts, "hosts", hosts,
                                                 "age", first > 0 ? now - first : 0.0));
    }
    overlay_respond (ov, &msg->hdr, json_pack ("{s:o}", "pools", pools), NULL, 0);
}

static void burst_stop_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    burst_t *b = arg;
    struct bpool *p = pool_named (b, msg);
    if (!p)
        return;
    uint32_t *rel = xcalloc (p->cfg->size + 1, sizeof *rel);
    size_t nrel = 0;
    for (uint32_t k = 0; k < p->cfg->size; k++) {
        struct bnode *n = &p->n[k];
        if (n->st == BN_STARTING || n->st == BN_UP)
            rel[nrel++] = k;
        if (n->st != BN_IDLE) {
            set_state (b, n, BN_IDLE);
            overlay_member_leave (ov, n->host);
        }
    }
    stop_nodes (b, p, rel, nrel, "stopped by hand");
    persist (b, p);
    free (rel);
    overlay_respond (ov, &msg->hdr, json_pack ("{s:s s:I}", "cluster", p->cfg->cluster, "released", (json_int_t)nrel),
                     NULL, 0);
}

static void burst_render_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    burst_t *b = arg;
    struct bpool *p = pool_named (b, msg);
    if (!p)
        return;
    char *text = NULL;
    if (p->cfg->provider == BURST_KUBERNETES) {
        size_t len;
        char err[256];
        char *cfg = read_file (b->config, 64u << 20, &len, err, sizeof err);
        json_t *o = burst_kube_render (p->cfg, p->cfg->size, b->lead, cfg ? cfg : "", NULL);
        free (cfg);
        /* one YAML document per object (kubectl validates a v1 List only with the OpenAPI v2 schema) */
        char *sec = o ? jobspec_yaml (json_array_get (json_object_get (o, "items"), 0)) : NULL;
        char *sts = o ? jobspec_yaml (json_array_get (json_object_get (o, "items"), 1)) : NULL;
        text = sec && sts ? xasprintf ("%s---\n%s", sec, sts) : NULL;
        free (sec);
        free (sts);
        json_decref (o);
    }
    else if (p->cfg->provider == BURST_COMMAND)
        text = xasprintf ("# pool %s: the command provider runs, for nodes %s-[0-%u] (ranks %u-%u):\n%s HOSTLIST\n"
                          "# with CANOPY_BURST_POOL=%s CANOPY_BURST_CLUSTER=%s CANOPY_BURST_LEAD=%s\n"
                          "# CANOPY_BURST_CONFIG=%s CANOPY_BURST_CERT=%s CANOPY_BURST_HOSTS CANOPY_BURST_RANKS\n",
                          p->cfg->name, p->cfg->cluster, p->cfg->size - 1, p->cfg->first_rank,
                          p->cfg->first_rank + p->cfg->size - 1,
                          json_string_value (json_object_get (p->cfg->settings, "resume")), p->cfg->name,
                          p->cfg->cluster, b->lead, b->config, b->cert);
    else
        text = xasprintf ("# pool %s: the local provider runs, for each node %s-N (N 0-%u, rank %u+N):\n"
                          "%s --config %s --host %s-N --rundir %s/%s-N/run --cert %s\n"
                          "# as root (unless settings.netns is false) in a network namespace of its own with\n"
                          "# --address from settings.subnet, when the instance's endpoints can be reached from one\n",
                          p->cfg->name, p->cfg->cluster, p->cfg->size - 1, p->cfg->first_rank, b->broker, b->config,
                          p->cfg->cluster, b->workdir, p->cfg->cluster,
                          json_string_value (json_object_get (p->cfg->settings, "cert"))
                              ? json_string_value (json_object_get (p->cfg->settings, "cert"))
                              : b->cert);
    if (!text) {
        overlay_respond_error (ov, &msg->hdr, EIO, "cannot render pool %s", p->cfg->name);
        return;
    }
    overlay_respond (ov, &msg->hdr, json_pack ("{s:s s:s}", "cluster", p->cfg->cluster, "text", text), NULL, 0);
    free (text);
}

static const overlay_handler_t handlers[] = {
    { "burst.list", burst_list_request },
    { "burst.stop", burst_stop_request },
    { "burst.render", burst_render_request },
    OVERLAY_HANDLER_END,
};

/* -- life --------------------------------------------------------------- */

/* This broker's config file and certificate (the broker records both in
 * the config, doc/bursting.md): pool brokers of the local provider run with
 * the same. */
static void own_args (burst_t *b, const config_t *cfg)
{
    snprintf (b->config, sizeof b->config, "%s", cfg->source ? cfg->source : "");
    const char *cert = cfg->curve_cert;
    if (!cert || !realpath (cert, b->cert))
        snprintf (b->cert, sizeof b->cert, "%s", cert ? cert : "");
    ssize_t k = readlink ("/proc/self/exe", b->broker, sizeof b->broker - 1);
    b->broker[k > 0 ? k : 0] = '\0';
    if (k <= 0)
        snprintf (b->broker, sizeof b->broker, "canopy-broker");
}

static enum bstate state_named (const char *s)
{
    for (int i = 0; s && i < 4; i++)
        if (!strcmp (s, bstate_names[i]))
            return (enum bstate)i;
    return BN_IDLE;
}

/* The pool's state from the job store after a restart: nodes asked for
 * stay asked for (their resume timeout runs on); nodes that were up must
 * join again within it. */
static void load (burst_t *b, struct bpool *p)
{
    char key[128];
    snprintf (key, sizeof key, "burst/%s", p->cfg->name);
    json_t *o = jobdb_kv_get (b->db, key);
    if (!o)
        return;
    const char *cluster = json_string_value (json_object_get (o, "cluster"));
    json_t *nodes = json_object_get (o, "nodes");
    if (!cluster || strcmp (cluster, p->cfg->cluster)) {
        overlay_log (b->ov, "burst: pool %s: its config changed (cluster %s, now %s): starting anew", p->cfg->name,
                     cluster ? cluster : "?", p->cfg->cluster);
        json_decref (o);
        return;
    }
    p->batch = (uint64_t)json_integer_value (json_object_get (o, "batch"));
    json_t *tries = json_object_get (o, "tries");
    if (json_is_object (tries)) {
        json_decref (p->tries);
        p->tries = json_incref (tries);
    }
    size_t k;
    json_t *e;
    double now = wall ();
    uint32_t busy = 0;
    json_array_foreach (nodes, k, e) {
        if (k >= p->cfg->size)
            break;
        struct bnode *n = &p->n[k];
        enum bstate st = state_named (json_string_value (json_object_get (e, "state")));
        n->t = json_number_value (json_object_get (e, "t"));
        n->job = (uint64_t)json_integer_value (json_object_get (e, "job"));
        n->batch = (uint64_t)json_integer_value (json_object_get (e, "batch"));
        json_t *h = json_object_get (e, "handle");
        n->handle = json_is_object (h) ? json_incref (h) : NULL;
        if (st == BN_UP) {   /* must come back */
            st = BN_STARTING;
            n->t = now;
        }
        busy += st == BN_STARTING;
        set_state (b, n, st);
    }
    if (busy)
        overlay_log (b->ov, "burst: pool %s: %u node%s asked for before the restart: waiting for them", p->cfg->name,
                     busy, busy == 1 ? "" : "s");
    json_decref (o);
}

burst_t *burst_new (overlay_t *ov, resource_svc_t *rs, jobdb_t *db, const char *statedir, const burst_hooks_t *h,
                    char *err, size_t errlen)
{
    const config_t *cfg = overlay_config (ov);
    burst_t *b = xcalloc (1, sizeof *b);
    b->ov = ov;
    b->rs = rs;
    b->db = db;
    b->h = *h;
    b->base = (uint32_t)cfg->base_size;
    b->timer = -1;
    snprintf (b->lead, sizeof b->lead, "%s", cfg->hosts[0].connect);
    snprintf (b->workdir, sizeof b->workdir, "%s/burst", statedir);
    own_args (b, cfg);
    if (privdir_ensure (b->workdir, err, errlen) < 0) {
        free (b);
        return NULL;
    }
    b->np = cfg->burst.n;
    b->p = xcalloc (b->np + 1, sizeof *b->p);
    for (size_t i = 0; i < b->np; i++) {
        struct bpool *p = &b->p[i];
        p->cfg = &cfg->burst.v[i];
        p->prov = p->cfg->provider == BURST_LOCAL ? &burst_local
                  : p->cfg->provider == BURST_COMMAND ? &burst_command : &burst_kube;
        p->tries = json_object ();
        p->n = xcalloc (p->cfg->size, sizeof *p->n);
        for (uint32_t k = 0; k < p->cfg->size; k++) {
            struct bnode *n = &p->n[k];
            n->rank = p->cfg->first_rank + k;
            snprintf (n->host, sizeof n->host, "%s-%u", p->cfg->cluster, k);
            char e[256];
            if (overlay_member_reserve (ov, n->rank, n->host, e, sizeof e) < 0)
                overlay_log (ov, "burst: pool %s: rank %u: %s", p->cfg->name, n->rank, e);
        }
        load (b, p);
    }
    if (overlay_handlers_add (ov, handlers, b, err, errlen) < 0) {
        burst_destroy (&b);
        return NULL;
    }
    b->timer = zloop_timer (overlay_loop (ov), TICK_MS, 0, on_tick, b);
    return b;
}

void burst_destroy (burst_t **pb)
{
    if (!pb || !*pb)
        return;
    burst_t *b = *pb;
    if (b->timer >= 0)
        zloop_timer_end (overlay_loop (b->ov), b->timer);
    for (size_t i = 0; i < b->np; i++) {
        for (uint32_t k = 0; b->p[i].n && k < b->p[i].cfg->size; k++)
            json_decref (b->p[i].n[k].handle);
        free (b->p[i].n);
        json_decref (b->p[i].tries);
    }
    free (b->p);
    free (b);
    *pb = NULL;
}
