/* jobs.c - the job manager on rank 0.  See jobs.h.
 *
 * Every change of a job is an event appended to its log in the job store
 * (jobdb_event, one committed transaction), then applied to the in-memory
 * shadow of its row.  Active jobs live in memory; inactive ones only in the
 * store.  A job runs through:
 *   submit -> (dependency-add/remove) -> depend -> sched queue -> alloc ->
 *   jobexec.start on each allocated rank -> start -> task output and status
 *   -> finish -> release -> clean.
 * Exceptions (cancel, timeout, node-failure, exec, dependency) end a job
 * early: pending jobs are cleaned at once; running ones get SIGTERM, and
 * SIGKILL after a grace period, and end when every rank has reported.
 */
#define _GNU_SOURCE
#include "jobs.h"
#include "burst.h"
#include "jobdb.h"
#include "jobdeps.h"
#include "errquote.h"
#include "idset.h"
#include "jobid.h"
#include "jobspec_build.h"
#include "sched.h"
#include "taskmap.h"
#include "xalloc.h"
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define KILL_GRACE_MS 5000

struct job;

struct execrank {
    struct job *job;
    int idx;
    uint32_t tag;
    bool done, started;
};

struct job {
    jobs_svc_t *js;
    jobid_t id;
    char f58[JOBID_STRLEN];
    json_t *jobspec;
    jobdb_job_t rec;            /* shadow of the stored row */
    sched_req_t *req;           /* until handed to the scheduler */
    jobdeps_t deps;
    bool in_queue, holds;       /* queued in sched / holding resources */
    json_t *R;
    taskmap_entry_t *map;
    int nmap;
    struct execrank *er;
    int nexec, ranks_left, nstarted;
    bool start_logged, fatal, finishing;
    int worst;
    bool have_status;
    int kill_timer, expire_timer;
    zlistx_t *watchers;         /* cmsg_hdr_t * of job.attach requests */
    bool burstable;             /* may use burst pools' nodes (doc/bursting.md) */
    burst_need_t need;          /* whole nodes it asks for (0: not by nodes) */
    char reason[200];           /* why it waits in SCHED (the burst manager's), "" if nothing to say */
};

struct deferred {
    cmsg_hdr_t hdr;
    json_t *json;
};

struct jobs_svc {
    overlay_t *ov;
    resource_svc_t *rs;
    sched_t *sched;
    jobdb_t *db;
    jobid_gen_t *gen;
    zhashx_t *active;           /* "%llu" -> struct job */
    zlistx_t *deferred;         /* submits waiting for the resource set */
    uint64_t *recovered;        /* pending after a restart, to queue when ready */
    size_t nrecovered;
    json_t *orphans;            /* [{id, ranks}] of jobs LOST at restart: kill their tasks */
    int sched_timer;
    bool going;                 /* ready work done */
    burst_t *burst;             /* the burst manager, when the config has pools */
};

static void job_finish (struct job *j);
static void deps_notify (jobs_svc_t *js, jobid_t target);
static void request_sched (jobs_svc_t *js);

static double now_wall (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void key_of (jobid_t id, char *buf, size_t len)
{
    snprintf (buf, len, "%llu", (unsigned long long)id);
}

static struct job *job_lookup (jobs_svc_t *js, jobid_t id)
{
    char k[32];
    key_of (id, k, sizeof k);
    return zhashx_lookup (js->active, k);
}

static const char *host_of (jobs_svc_t *js, uint32_t rank)
{
    return resource_hostname (js->rs, rank);
}

/* -- job objects -------------------------------------------------------- */

static struct job *job_new (jobs_svc_t *js, jobid_t id, json_t *jobspec)
{
    struct job *j = xcalloc (1, sizeof *j);
    j->js = js;
    j->id = id;
    jobid_encode (id, JOBID_F58, j->f58, sizeof j->f58);
    j->jobspec = jobspec;
    j->kill_timer = j->expire_timer = -1;
    j->burstable = burst_is_burstable (jobspec);
    burst_need_of (jobspec, &j->need);
    j->watchers = zlistx_new ();
    zlistx_set_destructor (j->watchers, NULL);
    char k[32];
    key_of (id, k, sizeof k);
    zhashx_insert (js->active, k, j);
    return j;
}

static void job_free (struct job *j)
{
    jobs_svc_t *js = j->js;
    zloop_t *loop = overlay_loop (js->ov);
    if (j->kill_timer >= 0)
        zloop_timer_end (loop, j->kill_timer);
    if (j->expire_timer >= 0)
        zloop_timer_end (loop, j->expire_timer);
    for (int i = 0; i < j->nexec; i++)
        if (!j->er[i].done && j->er[i].tag)
            overlay_rpc_cancel (js->ov, j->er[i].tag);
    cmsg_hdr_t *h;
    while ((h = zlistx_detach (j->watchers, NULL)))
        free (h);
    zlistx_destroy (&j->watchers);
    json_decref (j->jobspec);
    json_decref (j->R);
    sched_req_destroy (&j->req);
    jobdeps_clear (&j->deps);
    taskmap_free (j->map, j->nmap);
    free (j->er);
    jobdb_job_clear (&j->rec);
    free (j);
}

/* Append an event (context stolen, may be NULL) and apply it to the shadow. */
static int job_event (struct job *j, const char *name, json_t *ctx)
{
    jobs_svc_t *js = j->js;
    char err[256];
    double t = now_wall ();
    int rc = jobdb_event (js->db, j->id, t, name, ctx, err, sizeof err);
    if (rc == 0)
        rc = job_state_apply (&j->rec, t, name, ctx, err, sizeof err);
    if (rc < 0)
        overlay_log (js->ov, "job %s: event %s: %s", j->f58, name, err);
    json_decref (ctx);
    return rc;
}

static json_t *final_of (const jobdb_job_t *r)
{
    return json_pack ("{s:s s:s s:i s:i s:s? s:b}", "state", job_state_name (r->state), "result",
                      job_result_name (r->result), "status", r->status, "exitcode",
                      r->status >= 0 ? job_exit_code (r->status) : 1, "exception", r->exception,
                      "ran", r->t_run > 0);
}

/* The job reached INACTIVE: tell watchers, forget it, wake dependents. */
static void job_inactive (struct job *j)
{
    jobs_svc_t *js = j->js;
    jobid_t id = j->id;
    cmsg_hdr_t *h;
    for (h = zlistx_first (j->watchers); h; h = zlistx_next (j->watchers)) {
        overlay_respond (js->ov, h, final_of (&j->rec), NULL, 0);
        overlay_respond_error (js->ov, h, ENODATA, NULL);
    }
    char k[32];
    key_of (id, k, sizeof k);
    zhashx_delete (js->active, k);
    job_free (j);
    deps_notify (js, id);
    request_sched (js);
}

static void job_kill (struct job *j, int sig)
{
    for (int i = 0; i < j->nexec; i++)
        if (!j->er[i].done)
            overlay_rpc (j->js->ov, j->map[j->er[i].idx].rank, "jobexec.kill",
                         json_pack ("{s:s s:i}", "id", j->f58, "signal", sig), NULL, 0, CMSG_F_NORESPONSE,
                         NULL, NULL, NULL, NULL, 0);
}

static int on_kill_timer (zloop_t *loop, int id, void *arg)
{
    struct job *j = arg;
    j->kill_timer = -1;
    overlay_log (j->js->ov, "job %s: tasks still running after %d ms: SIGKILL", j->f58, KILL_GRACE_MS);
    job_kill (j, SIGKILL);
    return 0;
}

/* Raise a fatal exception.  May free j. */
static void job_exception (struct job *j, const char *type, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
static void job_exception (struct job *j, const char *type, const char *fmt, ...)
{
    char note[512];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (note, sizeof note, fmt, ap);
    va_end (ap);
    jobs_svc_t *js = j->js;
    job_state_t was = j->rec.state;
    j->fatal = true;
    if (job_event (j, "exception", json_pack ("{s:s s:i s:s}", "type", type, "severity", 0, "note", note)) < 0)
        return;
    if (was == JOB_DEPEND || was == JOB_SCHED) {
        if (j->in_queue) {
            sched_cancel (js->sched, j->id);
            j->in_queue = false;
        }
        job_event (j, "clean", NULL);
        job_inactive (j);
        return;
    }
    if (j->ranks_left == 0) {
        job_finish (j);
        return;
    }
    job_kill (j, SIGTERM);
    if (j->kill_timer < 0)
        j->kill_timer = zloop_timer (overlay_loop (js->ov), KILL_GRACE_MS, 1, on_kill_timer, j);
}

/* Every rank is done: finish, release, clean.  Frees j. */

/* The ranks an R (RFC 20) allocates: the union of its R_lite entries. */
static idset_t *R_ranks (const json_t *R)
{
    json_t *lite = json_object_get (json_object_get (R, "execution"), "R_lite");
    idset_t *all = idset_new ();
    size_t i;
    json_t *e;
    json_array_foreach (lite, i, e) {
        idset_t *s = idset_decode (json_string_value (json_object_get (e, "rank")), NULL, 0);
        for (uint32_t r = s ? idset_first (s) : IDSET_INVALID; r != IDSET_INVALID; r = idset_next (s, r))
            idset_set (all, r);
        idset_destroy (&s);
    }
    return all;
}

static void job_finish (struct job *j)
{
    if (j->finishing)
        return;
    j->finishing = true;
    jobs_svc_t *js = j->js;
    int status = j->have_status ? j->worst : (j->fatal ? SIGKILL : 1 << 8);
    if (j->rec.status == -1)
        job_event (j, "finish", json_pack ("{s:i}", "status", status));
    if (j->holds) {
        sched_release (js->sched, j->id);
        j->holds = false;
        idset_t *all = R_ranks (j->R);
        char *rs = idset_encode (all);
        idset_destroy (&all);
        job_event (j, "release", json_pack ("{s:s s:b}", "ranks", rs ? rs : "", "final", 1));
        free (rs);
    }
    job_event (j, "clean", NULL);
    job_inactive (j);
}

/* -- dependencies (the rules: src/lib/jobdeps.c) ------------------------ */

static void dep_target (jobs_svc_t *js, jobid_t id, jobdep_target_t *t)
{
    memset (t, 0, sizeof *t);
    struct job *x = job_lookup (js, id);
    jobdb_job_t r;
    const jobdb_job_t *rec = x ? &x->rec : jobdb_get (js->db, id, &r) == 0 ? &r : NULL;
    if (!rec)
        return;
    t->found = true;
    t->state = rec->state;
    t->result = rec->result;
    t->ran = rec->t_run > 0;
    if (!x)
        jobdb_job_clear (&r);
}

/* The scheduler's request for a jobspec.  With burst pools, a job that is
 * not burstable is kept to the instance's own ranks. */
static sched_req_t *sched_req_of (jobs_svc_t *js, const json_t *spec, char *err, size_t errlen)
{
    const config_t *cfg = overlay_config (js->ov);
    if (!cfg->burst.n || burst_is_burstable (spec))
        return sched_req_from_jobspec (spec, err, errlen);
    json_t *copy = json_deep_copy (spec);
    json_t *attrs = json_object_get (copy, "attributes");
    if (!json_is_object (attrs))
        json_object_set_new (copy, "attributes", (attrs = json_object ()));
    json_t *sys = json_object_get (attrs, "system");
    if (!json_is_object (sys))
        json_object_set_new (attrs, "system", (sys = json_object ()));
    char ranks[32];
    snprintf (ranks, sizeof ranks, "0-%zu", cfg->base_size - 1);
    json_t *own = json_pack ("{s:[s]}", "ranks", ranks);
    json_t *c = json_object_get (sys, "constraints");
    json_object_set_new (sys, "constraints", c ? json_pack ("{s:[O o]}", "and", c, own) : own);
    sched_req_t *req = sched_req_from_jobspec (copy, err, errlen);
    json_decref (copy);
    return req;
}

/* Queue a job whose dependencies are all met.  May free j. */
static void job_enqueue (struct job *j)
{
    jobs_svc_t *js = j->js;
    char err[256];
    if (!j->req) {
        j->req = sched_req_of (js, j->jobspec, err, sizeof err);
        if (!j->req) {
            job_exception (j, "alloc", "%s", err);
            return;
        }
    }
    if (sched_submit (js->sched, j->id, &j->req, err, sizeof err) < 0) {
        job_exception (j, "alloc", "%s", err);
        return;
    }
    j->in_queue = true;
    request_sched (js);
}

/* Re-evaluate a DEPEND job's dependencies.  May free j. */
static void deps_eval (struct job *j)
{
    if (j->rec.state != JOB_DEPEND)
        return;
    for (size_t i = 0; i < j->deps.n; i++) {
        if (j->deps.done[i])
            continue;
        char why[160] = "", desc[64];
        jobdep_target_t t;
        jobdep_describe (&j->deps.v[i], desc, sizeof desc);
        dep_target (j->js, j->deps.v[i].id, &t);
        enum jobdep_status s = jobdep_status (&j->deps.v[i], &t, why, sizeof why);
        if (s == JOBDEP_MET) {
            j->deps.done[i] = true;
            job_event (j, "dependency-remove", json_pack ("{s:s}", "description", desc));
        }
        else if (s == JOBDEP_NEVER) {
            job_exception (j, "dependency", "dependency %s can never be met: %s", desc, why);
            return;
        }
    }
    if (!jobdeps_all_done (&j->deps))
        return;
    if (job_event (j, "depend", NULL) < 0)
        return;
    job_enqueue (j);
}

static int id_cmp (const void *a, const void *b)
{
    jobid_t x = *(const jobid_t *)a, y = *(const jobid_t *)b;
    return (x > y) - (x < y);
}

/* `target` changed state: re-evaluate the jobs waiting on it. */
static void deps_notify (jobs_svc_t *js, jobid_t target)
{
    size_t n = 0, cap = 0;
    jobid_t *ids = NULL;
    for (struct job *j = zhashx_first (js->active); j; j = zhashx_next (js->active)) {
        if (j->rec.state != JOB_DEPEND || !jobdeps_waits_on (&j->deps, target))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            ids = xreallocarray (ids, cap, sizeof *ids);
        }
        ids[n++] = j->id;
    }
    /* in submit order, so chains resolve oldest first */
    if (n > 1)
        qsort (ids, n, sizeof *ids, id_cmp);
    for (size_t k = 0; k < n; k++) {
        struct job *j = job_lookup (js, ids[k]);
        if (j)
            deps_eval (j);
    }
    free (ids);
}

/* -- execution ---------------------------------------------------------- */

static void watchers_send (struct job *j, json_t *o, const void *data, size_t len)
{
    for (cmsg_hdr_t *h = zlistx_first (j->watchers); h; h = zlistx_next (j->watchers))
        overlay_respond (j->js->ov, h, json_incref (o), data, len);
    json_decref (o);
}

static void on_exec (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    struct execrank *er = arg;
    struct job *j = er->job;
    jobs_svc_t *js = j->js;
    uint32_t rank = j->map[er->idx].rank;
    if (er->done)
        return;
    if (msg->hdr.errnum) {
        er->done = true;
        er->tag = 0;
        j->ranks_left--;
        if (msg->hdr.errnum != ENODATA && !j->fatal) {
            const char *why = json_string_value (json_object_get (msg->json, "errstr"));
            bool lost = msg->hdr.errnum == EHOSTUNREACH;
            job_exception (j, lost ? "node-failure" : "exec", "rank %u (%s)%s: %s", rank, host_of (js, rank),
                           lost ? " lost" : "", why && *why ? why : strerror (msg->hdr.errnum));
            return;     /* j may be gone */
        }
        if (j->ranks_left == 0)
            job_finish (j);
        return;
    }
    const char *stream = NULL;
    int task = 0, status = 0, started = 0;
    if (json_unpack (msg->json, "{s:s s:i}", "stream", &stream, "task", &task) == 0) {
        if (jobdb_output_append (js->db, j->id, stream, task, msg->data, msg->data_len) < 0)
            overlay_log (ov, "job %s: output lost: job store write failed", j->f58);
        watchers_send (j, json_pack ("{s:s s:i}", "stream", stream, "task", task), msg->data, msg->data_len);
    }
    else if (json_unpack (msg->json, "{s:i s:i}", "task", &task, "status", &status) == 0) {
        if (!j->have_status || status > j->worst)
            j->worst = status;
        j->have_status = true;
    }
    else if (json_unpack (msg->json, "{s:i}", "started", &started) == 0) {
        if (!er->started) {
            er->started = true;
            j->nstarted++;
        }
        if (j->nstarted == j->nexec && !j->start_logged) {
            j->start_logged = true;
            job_event (j, "start", NULL);
            deps_notify (js, j->id);
        }
    }
}

static int on_expire (zloop_t *loop, int id, void *arg)
{
    struct job *j = arg;
    j->expire_timer = -1;
    if (!j->fatal) {
        double d = json_number_value (json_object_get (json_object_get (json_object_get (j->jobspec, "attributes"),
                                                                         "system"), "duration"));
        job_exception (j, "timeout", "resource allocation expired (time limit %gs)", d);
    }
    return 0;
}

/* The job was allocated R: start its tasks.  May free j. */
static void job_exec (struct job *j)
{
    jobs_svc_t *js = j->js;
    char err[256];
    int n = taskmap_build (j->jobspec, j->R, &j->map, err, sizeof err);
    if (n < 0) {
        j->map = NULL;
        job_exception (j, "exec", "cannot lay out tasks: %s", err);
        return;
    }
    j->nmap = n;
    j->er = xcalloc (n, sizeof *j->er);
    json_t *sys = json_object_get (json_object_get (j->jobspec, "attributes"), "system");
    json_t *cmd = json_object_get (json_array_get (json_object_get (j->jobspec, "tasks"), 0), "command");
    json_t *env = json_object_get (sys, "environment");
    const char *cwd = json_string_value (json_object_get (sys, "cwd"));
    json_t *nl = json_object_get (json_object_get (j->R, "execution"), "nodelist");
    char *nodelist = NULL;
    size_t nlen = 0;
    FILE *f = open_memstream (&nodelist, &nlen);
    size_t i;
    json_t *v;
    json_array_foreach (nl, i, v)
        fprintf (f, "%s%s", i ? "," : "", json_string_value (v) ? json_string_value (v) : "");
    fclose (f);
    int size = taskmap_ntasks (j->map, n);
    for (int k = 0; k < n; k++) {
        if (j->map[k].count == 0)
            continue;
        struct execrank *er = &j->er[j->nexec];
        er->job = j;
        er->idx = k;
        j->nexec++;
        j->ranks_left++;
    }
    for (int x = 0; x < j->nexec; x++) {
        struct execrank *er = &j->er[x];
        taskmap_entry_t *m = &j->map[er->idx];
        json_t *req = json_pack ("{s:s s:O s:i s:i s:i s:i s:s s:s s:s}", "id", j->f58, "cmd", cmd, "first",
                                 m->first, "count", m->count, "size", size, "nnodes", n, "nodelist", nodelist,
                                 "cores", m->cores, "gpus", m->gpus);
        if (json_is_object (env))
            json_object_set (req, "env", env);
        if (cwd)
            json_object_set_new (req, "cwd", json_string (cwd));
        overlay_rpc (js->ov, m->rank, "jobexec.start", req, NULL, 0, CMSG_F_STREAMING, on_exec, er, &er->tag, NULL, 0);
    }
    free (nodelist);
    double exp = json_number_value (json_object_get (json_object_get (j->R, "execution"), "expiration"));
    if (exp > 0) {
        double ms = (exp - now_wall ()) * 1000;
        j->expire_timer = zloop_timer (overlay_loop (js->ov), ms < 1 ? 1 : (size_t)ms, 1, on_expire, j);
    }
}

static int on_sched_timer (zloop_t *loop, int id, void *arg)
{
    jobs_svc_t *js = arg;
    js->sched_timer = -1;
    uint64_t ids[64];
    size_t n;
    do {
        n = sched_schedule (js->sched, now_wall (), ids, 64);
        for (size_t k = 0; k < n; k++) {
            struct job *j = job_lookup (js, ids[k]);
            if (!j) {
                sched_release (js->sched, ids[k]);
                continue;
            }
            j->in_queue = false;
            j->holds = true;
            j->R = sched_job_R (js->sched, j->id);
            if (job_event (j, "alloc", json_pack ("{s:O}", "R", j->R)) < 0) {
                job_exception (j, "alloc", "job store write failed");
                continue;
            }
            job_exec (j);
        }
    } while (n == 64);
    return 0;
}

static void request_sched (jobs_svc_t *js)
{
    if (js->sched_timer < 0 && js->going)
        js->sched_timer = zloop_timer (overlay_loop (js->ov), 1, 1, on_sched_timer, js);
}

/* -- resources going down ------------------------------------------------ */

static void on_resource_change (resource_svc_t *rs, uint32_t rank, bool up, const char *why, void *arg)
{
    jobs_svc_t *js = arg;
    burst_node_change (js->burst, rank, up);
    if (up) {
        request_sched (js);
        return;
    }
    size_t n = 0, cap = 0;
    jobid_t *ids = NULL;
    for (struct job *j = zhashx_first (js->active); j; j = zhashx_next (js->active))
        for (int x = 0; x < j->nexec; x++)
            if (!j->er[x].done && j->map[j->er[x].idx].rank == rank) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 16;
                    ids = xreallocarray (ids, cap, sizeof *ids);
                }
                ids[n++] = j->id;
                break;
            }
    for (size_t k = 0; k < n; k++) {
        struct job *j = job_lookup (js, ids[k]);
        if (!j)
            continue;
        for (int x = 0; x < j->nexec; x++) {
            struct execrank *er = &j->er[x];
            if (!er->done && j->map[er->idx].rank == rank) {
                er->done = true;
                if (er->tag)
                    overlay_rpc_cancel (js->ov, er->tag);
                er->tag = 0;
                j->ranks_left--;
            }
        }
        if (!j->fatal)
            job_exception (j, "node-failure", "rank %u (%s) lost: %s", rank, host_of (js, rank), why);
        else if (j->ranks_left == 0)
            job_finish (j);
    }
    free (ids);
}

/* -- submit ------------------------------------------------------------- */

static int check_jobspec (const json_t *js, char *err, size_t errlen)
{
    json_t *v;
    if (!json_is_object (js))
        return errfail (err, errlen, "invalid jobspec: must be a mapping");
    v = json_object_get (js, "version");
    if (!json_is_integer (v) || json_integer_value (v) != 1)
        return errfail (err, errlen, "invalid jobspec: version must be 1");
    json_t *tasks = json_object_get (js, "tasks");
    if (!json_is_array (tasks) || json_array_size (tasks) != 1)
        return errfail (err, errlen, "invalid jobspec: tasks must be a list of one entry");
    json_t *t = json_array_get (tasks, 0);
    json_t *cmd = json_object_get (t, "command");
    if (!json_is_array (cmd) || json_array_size (cmd) == 0)
        return errfail (err, errlen, "invalid jobspec: tasks[0].command must be a non-empty list");
    size_t i;
    json_array_foreach (cmd, i, v)
        if (!json_is_string (v))
            return errfail (err, errlen, "invalid jobspec: tasks[0].command[%zu] is not a string", i);
    json_t *count = json_object_get (t, "count");
    json_t *ps = json_object_get (count, "per_slot"), *tot = json_object_get (count, "total");
    if (!json_is_object (count) || (!ps == !tot) || (ps && (!json_is_integer (ps) || json_integer_value (ps) < 1))
        || (tot && (!json_is_integer (tot) || json_integer_value (tot) < 1 || json_integer_value (tot) > 1000000)))
        return errfail (err, errlen, "invalid jobspec: tasks[0].count needs per_slot or total (an integer >= 1)");
    json_t *sys = json_object_get (json_object_get (js, "attributes"), "system");
    if (sys && !json_is_object (sys))
        return errfail (err, errlen, "invalid jobspec: attributes.system must be a mapping");
    v = json_object_get (sys, "duration");
    if (v && (!json_is_number (v) || json_number_value (v) < 0 || !isfinite (json_number_value (v))))
        return errfail (err, errlen, "invalid jobspec: attributes.system.duration must be a number >= 0");
    v = json_object_get (sys, "cwd");
    if (v && !json_is_string (v))
        return errfail (err, errlen, "invalid jobspec: attributes.system.cwd must be a string");
    v = json_object_get (sys, "environment");
    if (v) {
        const char *k;
        json_t *e;
        if (!json_is_object (v))
            return errfail (err, errlen, "invalid jobspec: attributes.system.environment must be a mapping");
        json_object_foreach (v, k, e)
            if (!json_is_string (e))
                return errfail (err, errlen, "invalid jobspec: environment %.40s is not a string", k);
    }
    return 0;
}

/* With burst pools: a job larger than the instance's own nodes (or, when
 * burstable, than those and the pools' together) is refused, with the
 * numbers (doc/bursting.md). */
static bool burst_reject (jobs_svc_t *js, const json_t *spec, char *err, size_t errlen)
{
    const config_t *cfg = overlay_config (js->ov);
    burst_need_t need;
    burst_need_of (spec, &need);
    if (!cfg->burst.n || need.nodes == 0)
        return false;
    uint32_t *zero = xcalloc (cfg->burst.n, sizeof *zero);
    burst_state_t st = { .local_total = (uint32_t)cfg->base_size, .local_free = 0, .pool_free = zero,
                         .pool_starting = zero, .pool_idle = zero };
    burst_decision_t d;
    burst_decide (&cfg->burst, &need, burst_is_burstable (spec), &st, &d);
    free (zero);
    if (d.verdict != BURST_REJECT)
        return false;
    errfmt (err, errlen, "%s", d.reason);
    return true;
}

static int dep_find_known (jobs_svc_t *js, const jobspec_dep_t *d)
{
    if (job_lookup (js, d->id))
        return 0;
    jobdb_job_t r;
    if (jobdb_get (js->db, d->id, &r) < 0)
        return -1;
    jobdb_job_clear (&r);
    return 0;
}

static void do_submit (jobs_svc_t *js, const cmsg_hdr_t *hdr, json_t *in)
{
    overlay_t *ov = js->ov;
    json_t *spec = json_object_get (in, "jobspec");
    json_int_t userid = 0;
    char err[512];
    json_unpack (in, "{s?I}", "userid", &userid);
    if (check_jobspec (spec, err, sizeof err) < 0) {
        overlay_respond_error (ov, hdr, EINVAL, "%s", err);
        return;
    }
    sched_req_t *req = sched_req_of (js, spec, err, sizeof err);
    if (!req) {
        overlay_respond_error (ov, hdr, EINVAL, "%s", err);
        return;
    }
    if (burst_reject (js, spec, err, sizeof err)) {
        sched_req_destroy (&req);
        overlay_respond_error (ov, hdr, ENOSPC, "%s", err);
        return;
    }
    jobdeps_t deps;
    if (jobdeps_from_jobspec (spec, &deps, err, sizeof err) < 0) {
        sched_req_destroy (&req);
        overlay_respond_error (ov, hdr, EINVAL, "%s", err);
        return;
    }
    for (size_t i = 0; i < deps.n; i++)
        if (dep_find_known (js, &deps.v[i]) < 0) {
            char d[64];
            jobdep_describe (&deps.v[i], d, sizeof d);
            overlay_respond_error (ov, hdr, ENOENT, "dependency %s: no such job", d);
            goto fail;
        }
    if (sched_feasible (js->sched, req, err, sizeof err) < 0) {
        overlay_respond_error (ov, hdr, ENOSPC, "%s", err);
        goto fail;
    }
    jobid_t id;
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    if (jobid_gen_next (js->gen, (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, &id) < 0) {
        overlay_respond_error (ov, hdr, ERANGE, "cannot issue a job id: clock out of range");
        goto fail;
    }
    char *text = json_dumps (spec, JSON_COMPACT);
    int rc = jobdb_submit (js->db, id, (uint32_t)userid, text, now_wall (), err, sizeof err);
    free (text);
    if (rc < 0) {
        overlay_respond_error (ov, hdr, EIO, "%s", err);
        goto fail;
    }
    struct job *j = job_new (js, id, json_incref (spec));
    jobdb_get (js->db, id, &j->rec);
    j->req = req;
    j->deps = deps;
    char idnum[32];
    jobid_encode (id, JOBID_DEC, idnum, sizeof idnum);
    overlay_respond (ov, hdr, json_pack ("{s:s s:s}", "id", j->f58, "jobid", idnum), NULL, 0);
    for (size_t i = 0; i < deps.n; i++) {
        char d[64];
        jobdep_describe (&deps.v[i], d, sizeof d);
        job_event (j, "dependency-add", json_pack ("{s:s}", "description", d));
    }
    deps_eval (j);
    return;
fail:
    sched_req_destroy (&req);
    jobdeps_clear (&deps);
}

static void job_submit_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    jobs_svc_t *js = arg;
    if (!js->going) {
        struct deferred *d = xcalloc (1, sizeof *d);
        d->hdr = msg->hdr;
        d->json = json_incref (msg->json);
        zlistx_add_end (js->deferred, d);
        return;
    }
    do_submit (js, &msg->hdr, msg->json);
}

/* -- queries ------------------------------------------------------------ */

static int parse_id (jobs_svc_t *js, const cmsg_t *msg, jobid_t *id)
{
    const char *s = NULL;
    char err[160];
    if (json_unpack (msg->json, "{s:s}", "id", &s) < 0) {
        overlay_respond_error (js->ov, &msg->hdr, EINVAL, "request needs a job id");
        return -1;
    }
    if (jobid_parse (s, id, err, sizeof err) < 0) {
        overlay_respond_error (js->ov, &msg->hdr, EINVAL, "%s", err);
        return -1;
    }
    return 0;
}

/* A job's record for job.list and job.info: data only (`canopy jobs`
 * formats the time and the INFO column), plus what only the job manager
 * knows: pending dependencies, queue position and estimated start, and the
 * reason a pending job waits. */
static json_t *job_json (jobs_svc_t *js, const jobdb_job_t *r)
{
    char f58[JOBID_STRLEN];
    jobid_encode (r->id, JOBID_F58, f58, sizeof f58);
    json_t *o = json_pack ("{s:s s:I s:s s:s s:s s:i s:i s:f s:f s:f s:f s:f s:i s:s?}", "id", f58, "userid",
                           (json_int_t)r->userid, "name", r->name ? r->name : "", "state", job_state_name (r->state),
                           "result", job_result_name (r->result), "ntasks", r->ntasks, "nnodes", r->nnodes,
                           "t_submit", r->t_submit, "t_run", r->t_run, "t_cleanup", r->t_cleanup, "t_inactive",
                           r->t_inactive, "now", now_wall (), "status", r->status, "exception", r->exception);
    struct job *j = r->state != JOB_INACTIVE ? job_lookup (js, r->id) : NULL;
    if (r->state == JOB_DEPEND && j)
        json_object_set_new (o, "dependencies", jobdeps_pending (&j->deps));
    if (r->state == JOB_SCHED) {
        int pos = sched_queue_position (js->sched, r->id);
        double est = sched_head_estimate (js->sched);
        if (pos >= 0)
            json_object_set_new (o, "queue_position", json_integer (pos + 1));
        if (pos == 0 && est > 0)
            json_object_set_new (o, "t_estimate", json_real (est));
        if (j && j->reason[0])
            json_object_set_new (o, "reason", json_string (j->reason));
    }
    if ((r->state == JOB_RUN || r->state == JOB_CLEANUP) && r->R) {
        json_t *R = json_loads (r->R, 0, NULL);
        json_t *nl = json_object_get (json_object_get (R, "execution"), "nodelist");
        if (json_is_array (nl))
            json_object_set (o, "nodelist", nl);
        json_decref (R);
    }
    return o;
}

struct listctx {
    jobs_svc_t *js;
    json_t *a;
};

static int list_cb (const jobdb_job_t *j, void *arg)
{
    struct listctx *c = arg;
    json_array_append_new (c->a, job_json (c->js, j));
    return 0;
}

static void job_list_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    jobs_svc_t *js = arg;
    int all = 0;
    json_int_t userid = -1;
    json_unpack (msg->json, "{s?b s?I}", "all", &all, "userid", &userid);
    struct listctx c = { js, json_array () };
    if (jobdb_list (js->db, all, userid < 0 ? UINT32_MAX : (uint32_t)userid, list_cb, &c) < 0) {
        json_decref (c.a);
        overlay_respond_error (ov, &msg->hdr, EIO, "job store: cannot list jobs");
        return;
    }
    overlay_respond (ov, &msg->hdr, json_pack ("{s:o}", "jobs", c.a), NULL, 0);
}

static void job_info_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    jobs_svc_t *js = arg;
    jobid_t id;
    if (parse_id (js, msg, &id) < 0)
        return;
    jobdb_job_t r;
    if (jobdb_get (js->db, id, &r) < 0) {
        overlay_respond_error (ov, &msg->hdr, ENOENT, "job %s: no such job",
                               json_string_value (json_object_get (msg->json, "id")));
        return;
    }
    json_t *spec = json_loads (r.jobspec, 0, NULL);
    json_t *R = r.R ? json_loads (r.R, 0, NULL) : NULL;
    json_t *o = json_pack ("{s:o s:o s:o s:o}", "job", job_json (js, &r), "jobspec", spec ? spec : json_null (),
                           "R", R ? R : json_null (), "eventlog", jobdb_eventlog (js->db, id, 0));
    jobdb_job_clear (&r);
    overlay_respond (ov, &msg->hdr, o, NULL, 0);
}

static void job_last_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    jobs_svc_t *js = arg;
    json_int_t userid = -1;
    json_unpack (msg->json, "{s?I}", "userid", &userid);
    jobid_t id = jobdb_last (js->db, userid < 0 ? UINT32_MAX : (uint32_t)userid);
    if (id == 0) {
        overlay_respond_error (ov, &msg->hdr, ENOENT, "no jobs have been submitted");
        return;
    }
    char f58[JOBID_STRLEN];
    jobid_encode (id, JOBID_F58, f58, sizeof f58);
    overlay_respond (ov, &msg->hdr, json_pack ("{s:s}", "id", f58), NULL, 0);
}

static void job_cancel_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    jobs_svc_t *js = arg;
    jobid_t id;
    if (parse_id (js, msg, &id) < 0)
        return;
    const char *note = NULL;
    json_unpack (msg->json, "{s?s}", "message", &note);
    struct job *j = job_lookup (js, id);
    char f58[JOBID_STRLEN];
    jobid_encode (id, JOBID_F58, f58, sizeof f58);
    if (!j) {
        jobdb_job_t r;
        if (jobdb_get (js->db, id, &r) == 0) {
            jobdb_job_clear (&r);
            overlay_respond_error (ov, &msg->hdr, EINVAL, "job %s is inactive", f58);
        }
        else
            overlay_respond_error (ov, &msg->hdr, ENOENT, "job %s: no such job", f58);
        return;
    }
    overlay_respond (ov, &msg->hdr, json_object (), NULL, 0);
    if (!j->fatal)
        job_exception (j, "cancel", "%s", note && *note ? note : "canceled by user");
}

struct attachctx {
    jobs_svc_t *js;
    const cmsg_hdr_t *hdr;
};

static int attach_cb (const char *stream, int rank, const void *data, size_t len, int64_t seq, void *arg)
{
    struct attachctx *c = arg;
    overlay_respond (c->js->ov, c->hdr, json_pack ("{s:s s:i}", "stream", stream, "task", rank), data, len);
    return 0;
}

static void job_attach_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    jobs_svc_t *js = arg;
    jobid_t id;
    if (!(msg->hdr.flags & CMSG_F_STREAMING)) {
        overlay_respond_error (ov, &msg->hdr, EPROTO, "job.attach must be a streaming request");
        return;
    }
    if (parse_id (js, msg, &id) < 0)
        return;
    jobdb_job_t r;
    if (jobdb_get (js->db, id, &r) < 0) {
        char f58[JOBID_STRLEN];
        jobid_encode (id, JOBID_F58, f58, sizeof f58);
        overlay_respond_error (ov, &msg->hdr, ENOENT, "job %s: no such job", f58);
        return;
    }
    char f58[JOBID_STRLEN];
    jobid_encode (id, JOBID_F58, f58, sizeof f58);
    overlay_respond (ov, &msg->hdr, json_pack ("{s:s s:s}", "id", f58, "state", job_state_name (r.state)), NULL, 0);
    struct attachctx c = { js, &msg->hdr };
    jobdb_output_read (js->db, id, 0, attach_cb, &c);
    struct job *j = job_lookup (js, id);
    if (j) {
        cmsg_hdr_t *h = xmalloc (sizeof *h);
        *h = msg->hdr;
        zlistx_add_end (j->watchers, h);
    }
    else {
        overlay_respond (ov, &msg->hdr, final_of (&r), NULL, 0);
        overlay_respond_error (ov, &msg->hdr, ENODATA, NULL);
    }
    jobdb_job_clear (&r);
}

/* -- start-up and recovery ---------------------------------------------- */

/* Dependencies met before the restart (their dependency-remove events). */
static void eventlog_removed (jobs_svc_t *js, struct job *j)
{
    json_t *log = jobdb_eventlog (js->db, j->id, 0);
    size_t i;
    json_t *e;
    json_array_foreach (log, i, e) {
        const char *name = json_string_value (json_object_get (e, "name"));
        if (name && !strcmp (name, "dependency-remove"))
            jobdeps_mark (&j->deps,
                          json_string_value (json_object_get (json_object_get (e, "context"), "description")));
    }
    json_decref (log);
}

/* After a restart: pending jobs back in memory (attach, list and cancel
 * see them at once); they are queued only once resources are known. */
static void load_recovered (jobs_svc_t *js)
{
    for (size_t i = 0; i < js->nrecovered; i++) {
        jobdb_job_t r;
        if (jobdb_get (js->db, js->recovered[i], &r) < 0)
            continue;
        json_t *spec = json_loads (r.jobspec, 0, NULL);
        struct job *j = job_new (js, r.id, spec ? spec : json_object ());
        j->rec = r;
        char err[256];
        if (jobdeps_from_jobspec (j->jobspec, &j->deps, err, sizeof err) < 0)
            memset (&j->deps, 0, sizeof j->deps);   /* it was accepted at submit: cannot happen */
        eventlog_removed (js, j);
        overlay_log (js->ov, "job %s: %s after restart: queued again", j->f58, job_state_name (r.state));
    }
}

static void requeue_recovered (jobs_svc_t *js)
{
    /* in id order: SCHED jobs keep their place in the queue */
    for (size_t i = 0; i < js->nrecovered; i++) {
        struct job *j = job_lookup (js, js->recovered[i]);
        if (!j)
            continue;
        if (j->rec.state == JOB_SCHED)
            job_enqueue (j);
        else
            deps_eval (j);
    }
    free (js->recovered);
    js->recovered = NULL;
    js->nrecovered = 0;
}

static void on_ready (resource_svc_t *rs, void *arg)
{
    jobs_svc_t *js = arg;
    if (js->going)
        return;
    js->going = true;
    /* tasks of jobs that were running when rank 0 went away */
    size_t i;
    json_t *o;
    json_array_foreach (js->orphans, i, o) {
        idset_t *s = idset_decode (json_string_value (json_object_get (o, "ranks")), NULL, 0);
        for (uint32_t r = s ? idset_first (s) : IDSET_INVALID; r != IDSET_INVALID; r = idset_next (s, r))
            if (r < overlay_size (js->ov))
                overlay_rpc (js->ov, r, "jobexec.kill",
                             json_pack ("{s:O s:i}", "id", json_object_get (o, "id"), "signal", SIGKILL), NULL, 0,
                             CMSG_F_NORESPONSE, NULL, NULL, NULL, NULL, 0);
        idset_destroy (&s);
    }
    json_array_clear (js->orphans);
    requeue_recovered (js);
    struct deferred *d;
    while ((d = zlistx_detach (js->deferred, NULL))) {
        do_submit (js, &d->hdr, d->json);
        json_decref (d->json);
        free (d);
    }
    request_sched (js);
}

static int orphan_cb (const jobdb_job_t *j, void *arg)
{
    json_t *a = arg;
    if (j->state != JOB_RUN && j->state != JOB_CLEANUP)
        return 0;
    json_t *R = j->R ? json_loads (j->R, 0, NULL) : NULL;
    idset_t *all = R_ranks (R);
    char *rs = idset_encode (all);
    char f58[JOBID_STRLEN];
    jobid_encode (j->id, JOBID_F58, f58, sizeof f58);
    json_array_append_new (a, json_pack ("{s:s s:s}", "id", f58, "ranks", rs ? rs : ""));
    free (rs);
    idset_destroy (&all);
    json_decref (R);
    return 0;
}
/* -- the burst manager's view of the queue ------------------------------ */

static int job_id_cmp (const void *a, const void *b)
{
    const burst_job_t *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

static size_t burst_waiting (void *arg, burst_job_t *out, size_t max)
{
    jobs_svc_t *js = arg;
    size_t n = 0;
    for (struct job *j = zhashx_first (js->active); j && n < max; j = zhashx_next (js->active))
        if (j->rec.state == JOB_SCHED && j->in_queue && j->burstable && j->need.nodes > 0)
            out[n++] = (burst_job_t){ j->id, j->need };
    qsort (out, n, sizeof *out, job_id_cmp);   /* ids grow with submit time: queue order */
    return n;
}

static void burst_reason (void *arg, uint64_t id, const char *reason)
{
    struct job *j = job_lookup (arg, id);
    if (j)
        snprintf (j->reason, sizeof j->reason, "%s", reason);
}

static void burst_fail (void *arg, uint64_t id, const char *note)
{
    struct job *j = job_lookup (arg, id);
    if (j && !j->fatal)
        job_exception (j, "burst", "%s", note);
}

static const overlay_handler_t handlers[] = {
    { "job.submit", job_submit_request },
    { "job.list", job_list_request },
    { "job.info", job_info_request },
    { "job.last", job_last_request },
    { "job.cancel", job_cancel_request },
    { "job.attach", job_attach_request },
    OVERLAY_HANDLER_END,
};


jobs_svc_t *jobs_svc_new (overlay_t *ov, resource_svc_t *rs, const char *statedir, char *err, size_t errlen)
{
    char path[4096];
    mkdir (statedir, 0700);
    snprintf (path, sizeof path, "%s/jobs.db", statedir);
    jobs_svc_t *js = xcalloc (1, sizeof *js);
    js->ov = ov;
    js->rs = rs;
    js->sched = resource_sched (rs);
    js->sched_timer = -1;
    js->active = zhashx_new ();
    js->deferred = zlistx_new ();
    js->orphans = json_array ();
    if (!(js->db = jobdb_open (path, err, errlen))) {
        jobs_svc_destroy (&js);
        return NULL;
    }
    jobdb_list (js->db, false, UINT32_MAX, orphan_cb, js->orphans);
    int lost = jobdb_recover (js->db, now_wall (), &js->recovered, &js->nrecovered, err, errlen);
    if (lost < 0) {
        jobs_svc_destroy (&js);
        return NULL;
    }
    if (lost > 0 || js->nrecovered > 0)
        overlay_log (ov, "jobs: recovered: %d job%s LOST (were running), %zu pending", lost, lost == 1 ? "" : "s",
                     js->nrecovered);
    js->gen = jobid_gen_new (0, jobdb_max_id (js->db));
    load_recovered (js);
    if (overlay_handlers_add (ov, handlers, js, err, errlen) < 0) {
        jobs_svc_destroy (&js);
        return NULL;
    }
    if (overlay_config (ov)->burst.n) {
        burst_hooks_t h = { burst_waiting, burst_reason, burst_fail, js };
        if (!(js->burst = burst_new (ov, rs, js->db, statedir, &h, err, errlen))) {
            jobs_svc_destroy (&js);
            return NULL;
        }
    }
    resource_set_notify (rs, on_resource_change, on_ready, js);
    if (resource_ready (rs))
        on_ready (rs, js);
    return js;
}

void jobs_svc_destroy (jobs_svc_t **p)
{
    if (!p || !*p)
        return;
    jobs_svc_t *js = *p;
    if (js->rs)
        resource_set_notify (js->rs, NULL, NULL, NULL);
    if (js->sched_timer >= 0)
        zloop_timer_end (overlay_loop (js->ov), js->sched_timer);
    burst_destroy (&js->burst);
    struct job *j;
    while ((j = zhashx_first (js->active))) {
        for (cmsg_hdr_t *h = zlistx_first (j->watchers); h; h = zlistx_next (j->watchers))
            overlay_respond_error (js->ov, h, ESHUTDOWN, "the job manager is shutting down (job %s stays %s)",
                                   j->f58, job_state_name (j->rec.state));
        char k[32];
        key_of (j->id, k, sizeof k);
        zhashx_delete (js->active, k);
        job_free (j);
    }
    zhashx_destroy (&js->active);
    struct deferred *d;
    while (js->deferred && (d = zlistx_detach (js->deferred, NULL))) {
        json_decref (d->json);
        free (d);
    }
    zlistx_destroy (&js->deferred);
    json_decref (js->orphans);
    free (js->recovered);
    jobid_gen_destroy (&js->gen);
    jobdb_close (&js->db);
    free (js);
    *p = NULL;
}
