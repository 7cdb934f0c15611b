/* archive_ctl.c - the controller of a distribution (struct dist): plans
 * the schedule (distplan), sends every target its archive.fetch over a
 * direct peer link, aggregates their progress into the requester's stream
 * and ends with the per-rank result; a target silent for too long is lost.
 */
#define _GNU_SOURCE
#include "archive_int.h"
#include "clock.h"
#include "destsubst.h"
#include "distplan.h"
#include "xalloc.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void dist_check_end (struct dist *d);
static void dist_go_check (struct dist *d, bool force);

struct target *archive_dist_target (struct dist *d, uint32_t rank)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->t[i].rank == rank)
            return &d->t[i];
    return NULL;
}

static void dist_report (struct dist *d, bool force)
{
    int64_t now = now_ms ();
    if (!force && now - d->last_report < PROGRESS_MS)
        return;
    d->last_report = now;
    uint64_t bytes = 0;
    for (size_t i = 0; i < d->n; i++)
        bytes += d->t[i].state == 1 ? d->total : d->t[i].have;
    overlay_respond (d->svc->ov, &d->req,
                     json_pack ("{s:I s:I s:I s:I s:I s:f}", "bytes", (json_int_t)bytes, "total",
                                (json_int_t)(d->total * d->n), "done", (json_int_t)d->ndone, "failed",
                                (json_int_t)d->nfailed, "ranks", (json_int_t)d->n, "elapsed",
                                zclock_usecs () / 1e6 - d->t0),
                     NULL, 0);
}

void archive_dist_free (struct dist *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free (d->t[i].error);
        json_decref (d->t[i].upstreams);
        json_decref (d->t[i].stripes);
    }
    free (d->t);
    json_decref (d->plan);
    free (d->tl);
    free (d->name);
    free (d->schedule);
    free (d->menc);
    manifest_destroy (&d->m);
    free (d);
}

void archive_target_end (struct dist *d, struct target *t, bool ok, const char *error)
{
    if (t->state)
        return;
    t->state = ok ? 1 : 2;
    t->seconds = zclock_usecs () / 1e6 - d->t0;
    if (!ok)
        t->error = xstrdup (error ? error : "failed");
    if (ok)
        d->ndone++;
    else
        d->nfailed++;
    dist_check_end (d);
}

static void dist_check_end (struct dist *d)
{
    if (d->ndone + d->nfailed < d->n)
        return;
    dist_report (d, true);
    json_t *ranks = json_object ();
    for (size_t i = 0; i < d->n; i++) {
        struct target *t = &d->t[i];
        char key[16];
        snprintf (key, sizeof key, "%u", t->rank);
        json_t *o = json_pack ("{s:b s:f s:O}", "ok", t->state == 1, "seconds", t->seconds, "upstreams",
                               t->upstreams ? t->upstreams : json_null ());
        if (t->stripes && json_array_size (t->stripes) > 1)
            json_object_set (o, "stripes", t->stripes);
        if (t->error)
            json_object_set_new (o, "error", json_string (t->error));
        json_object_set_new (ranks, key, o);
    }
    double secs = zclock_usecs () / 1e6 - d->t0;
    overlay_respond (d->svc->ov, &d->req,
                     json_pack ("{s:o s:f s:I s:s s:s s:I s:I s:I}", "ranks", ranks, "seconds", secs,
                                "bytes", (json_int_t)d->total, "name", d->name, "schedule",
                                d->schedule, "ok", (json_int_t)d->ndone, "failed",
                                (json_int_t)d->nfailed, "unit", (json_int_t)d->unit),
                     NULL, 0);
    overlay_respond_error (d->svc->ov, &d->req, ENODATA, NULL);
    /* targets' streams end with a trailing ENODATA: drop those callbacks,
     * d is about to go */
    for (size_t i = 0; i < d->n; i++)
        if (d->t[i].tag)
            overlay_rpc_cancel (d->svc->ov, d->t[i].tag);
    void *h = zlistx_find (d->svc->dists, d);
    if (h)
        zlistx_detach (d->svc->dists, h);
    archive_dist_free (d);
    archive_release_memory ();
}

static void on_fetch_resp (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    struct dist *d = arg;
    struct target *t = NULL;
    for (size_t i = 0; i < d->n; i++)
        if (d->t[i].tag == msg->hdr.matchtag)
            t = &d->t[i];
    if (!t || t->state)
        return;
    t->last_heard = now_ms ();
    if (msg->hdr.errnum == ENODATA)
        return;
    if (msg->hdr.errnum) {
        const char *es = NULL;
        json_unpack (msg->json, "{s:s}", "errstr", &es);
        char buf[512];
        snprintf (buf, sizeof buf, "%s", es && *es ? es : strerror (msg->hdr.errnum));
        archive_target_end (d, t, false, buf);
        return;
    }
    json_int_t have = 0;
    int done = 0;
    if (json_unpack (msg->json, "{s:b}", "done", &done) == 0 && done) {
        archive_target_end (d, t, true, NULL);
        return;
    }
    if (json_unpack (msg->json, "{s:I}", "have", &have) == 0)
        t->have = have;
    json_t *miss = json_object_get (msg->json, "missing");
    for (size_t s = 0; json_is_array (miss) && s < json_array_size (miss) && s < MAX_STRIPES; s++)
        t->missing[s] = json_integer_value (json_array_get (miss, s));
    int ready = 0;
    if (d->hold && !t->ready && json_unpack (msg->json, "{s:b}", "ready", &ready) == 0 && ready) {
        t->ready = true;
        dist_go_check (d, false);
    }
    dist_report (d, false);
}

/* No arg (the distribution may be freed first): a target that ended
 * meanwhile says ENOENT, nothing to do. */
static void on_go_resp (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    (void)ov;
    (void)msg;
    (void)arg;
}

/* Links before data (doc/distribution.md): once every running target has
 * its data links up, or GO_WAIT_MS after the start (force), tell them all
 * to start pulling. */
static void dist_go_check (struct dist *d, bool force)
{
    if (!d->hold)
        return;
    size_t waiting = 0;
    for (size_t i = 0; i < d->nremote; i++)
        if (d->t[i].state == 0 && !d->t[i].ready)
            waiting++;
    if (waiting && !force)
        return;
    d->hold = false;
    overlay_t *ov = d->svc->ov;
    if (waiting)
        overlay_log (ov, "archive %s: %zu of %zu targets without their data links after %d s; starting", d->name,
                     waiting, d->nremote, GO_WAIT_MS / 1000);
    for (size_t i = 0; i < d->nremote; i++) {
        if (d->t[i].state)
            continue;
        uint32_t tag = 0;
        overlay_peer_rpc (ov, d->t[i].rank, "archive.go", json_pack ("{s:s}", "name", d->name), NULL, 0, 0,
                          on_go_resp, NULL, &tag, NULL, 0);
    }
}


static int cmp_u32 (const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

void archive_distribute_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    archive_svc_t *svc = arg;
    const char *name = NULL, *dest = NULL, *schedule = NULL, *plane = "sealed";
    json_t *targets = NULL;
    json_int_t window = DEFAULT_WINDOW, staged = 0, unit = -1;
    if (json_unpack (msg->json, "{s:s s:s s:o s?s s?I s?I s?s s?I}", "name", &name, "dest", &dest, "targets",
                     &targets, "schedule", &schedule, "window", &window, "staged", &staged,
                     "data_plane", &plane, "unit", &unit) < 0
        || !json_is_array (targets) || !(msg->hdr.flags & CMSG_F_STREAMING)) {
        overlay_respond_error (ov, &msg->hdr, EPROTO, "archive.distribute: malformed request");
        return;
    }
    if (strcmp (plane, "sealed") && strcmp (plane, "curve")) {
        overlay_respond_error (ov, &msg->hdr, EINVAL, "unknown data plane '%s' (sealed or curve)", plane);
        return;
    }
    if (unit != -1 && unit != 0 && (unit < DISTUNIT_MIN || unit > DISTUNIT_MAX)) {
        overlay_respond_error (ov, &msg->hdr, EINVAL, "unit size must be 0 or %u-%u bytes", DISTUNIT_MIN,
                               DISTUNIT_MAX);
        return;
    }
    if (window < 1 || window > 256) {
        overlay_respond_error (ov, &msg->hdr, EINVAL, "window must be 1-256");
        return;
    }
    if (!dest[0]) {
        overlay_respond_error (ov, &msg->hdr, EINVAL, "archive.distribute: empty destination directory");
        return;
    }
    char err[512];
    const manifest_t *m = cstore_archive_get (svc->cs, name, err, sizeof err);
    if (!m) {
        overlay_respond_error (ov, &msg->hdr, ENOENT, "rank %u: %s", overlay_rank (ov), err);
        return;
    }
    uint32_t me = overlay_rank (ov);
    size_t nt = json_array_size (targets);
    uint32_t *tl = xcalloc (nt ? nt : 1, sizeof (uint32_t));
    size_t k = 0;
    bool local = false;
    for (size_t i = 0; i < nt; i++) {
        json_int_t r = json_integer_value (json_array_get (targets, i));
        if (!json_is_integer (json_array_get (targets, i)) || r < 0 || r >= overlay_size (ov)) {
            free (tl);
            overlay_respond_error (ov, &msg->hdr, EINVAL, "unknown rank %lld", (long long)r);
            return;
        }
        if ((uint32_t)r == me)
            local = true;
        else
            tl[k++] = r;
    }
    qsort (tl, k, sizeof (uint32_t), cmp_u32);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (!u || tl[u - 1] != tl[i])
            tl[u++] = tl[i];
    k = u;
    if (!schedule)   /* not forced: the model's choice for this many targets */
        schedule = distplan_default (k, m->nchunks);
    json_t *plan = distplan_stripes (overlay_topo (ov), me, tl, k, schedule, staged, err, sizeof err);
    if (!plan) {
        free (tl);
        overlay_respond_error (ov, &msg->hdr, EINVAL, "%s", err);
        return;
    }
    /* transfer units (doc/distribution.md): forced, or chosen for this run;
     * the CURVE plane moves chunks */
    uint64_t total = 0;
    for (size_t i = 0; i < m->nchunks; i++)
        total += m->chunks[i].len;
    if (strcmp (plane, "sealed"))
        unit = 0;
    else if (unit < 0)
        unit = distplan_unit_size (total, m->nchunks, m->chunk_size, k, staged ? "chain" : schedule);
    json_t *seal = NULL;   /* sealed data plane: the distribution's id and key, for archive.fetch */
    if (!strcmp (plane, "sealed") && k > 0
        && !(seal = svc->dp ? dataplane_dist_create (svc->dp, name, m, unit, err, sizeof err) : NULL)) {
        json_decref (plan);
        free (tl);
        overlay_respond_error (ov, &msg->hdr, svc->dp ? EIO : ENOTSUP, "rank %u: %s", me,
                               svc->dp ? err : "no data plane here (see its log); use --data-plane curve");
        return;
    }
    /* what archive.fetch carries: the manifest's head (doc/archive.md) */
    size_t headlen = 0;
    char *head = cstore_archive_head (svc->cs, name, &headlen, err, sizeof err);
    if (!head) {
        json_decref (plan);
        json_decref (seal);
        free (tl);
        overlay_respond_error (ov, &msg->hdr, EIO, "rank %u: %s", me, err);
        return;
    }
    struct dist *d = xcalloc (1, sizeof *d);
    d->svc = svc;
    d->req = msg->hdr;
    d->name = xstrdup (name);
    d->schedule = xstrdup (staged ? "staged" : schedule);
    d->unit = unit;
    d->menc = head;
    d->menclen = headlen;
    d->total = total;
    d->n = k + (local ? 1 : 0);
    d->t = xcalloc (d->n ? d->n : 1, sizeof (struct target));
    d->t0 = zclock_usecs () / 1e6;
    d->local_target = local;
    d->plan = json_incref (plan);
    d->tl = xcalloc (k ? k : 1, sizeof (uint32_t));
    memcpy (d->tl, tl, k * sizeof (uint32_t));
    d->nremote = k;
    d->window = window;
    d->chunk_size = m->chunk_size;
    d->last_watch = d->started = now_ms ();
    d->hold = seal != NULL;
    zlistx_add_end (svc->dists, d);
    overlay_log (ov, "archive %s: distributing %llu bytes to %zu ranks (%s, units of %u bytes)", name,
                 (unsigned long long)d->total, d->n, d->schedule, d->unit);
    for (size_t i = 0; i < k; i++) {
        struct target *t = &d->t[i];
        t->rank = tl[i];
        for (int s = 0; s < MAX_STRIPES; s++)
            t->missing[s] = t->gap[s] = t->seen[s] = -1;
        t->stripes = json_incref (json_array_get (plan, i));
        t->upstreams = json_incref (json_array_get (t->stripes, 0));
        /* over a direct peer link, not the tree: a target below a dead
         * broker still gets its orders and reports back */
        t->last_heard = now_ms ();
        json_t *fj = json_pack ("{s:s s:s s:O s:O s:I}", "name", name, "dest", dest, "upstreams",
                                t->upstreams, "stripes", t->stripes, "window", window);
        if (seal) {
            json_object_set (fj, "seal", seal);
            json_object_set_new (fj, "hold", json_true ());
        }
        t->tag = 0;
        if (overlay_peer_rpc (ov, tl[i], "archive.fetch", fj, d->menc, d->menclen, CMSG_F_STREAMING,
                              on_fetch_resp, d, &t->tag, NULL, 0) < 0)
            archive_target_end (d, t, false, "cannot send request");
    }
    json_decref (plan);
    json_decref (seal);
    free (tl);
    if (local) {
        struct target *t = &d->t[k];
        t->rank = me;
        struct bgjob *b = xcalloc (1, sizeof *b);
        b->kind = BG_EXTRACT;
        b->m = manifest_ref (m);
        b->dist = d;
        b->name = xstrdup (name);
        b->dest = archive_dest_subst (dest, me);
        if (archive_bg_start (svc, b) < 0) {
            archive_bg_free (b);
            archive_target_end (d, t, false, "cannot start local extract");
        }
    }
    if (d->n == 0)
        dist_check_end (d);
}


void archive_ctl_tick (archive_svc_t *svc, int64_t now)
{
    /* controllers: a target silent for too long is lost (targets report
     * every PROGRESS_MS) */
    zlistx_t *ds = zlistx_dup (svc->dists);
    for (struct dist *d = zlistx_first (ds); d; d = zlistx_next (ds)) {
        bool ended = false;
        for (size_t i = 0; !ended && i < d->n; i++) {   /* ended first: d may be freed */
            struct target *t = &d->t[i];
            if (t->state == 0 && t->rank != overlay_rank (svc->ov) && now - t->last_heard > TARGET_SILENT_MS) {
                overlay_rpc_cancel (svc->ov, t->tag);
                char why[128];
                snprintf (why, sizeof why, "rank %u: no word for %d s (lost)", t->rank, TARGET_SILENT_MS / 1000);
                archive_target_end (d, t, false, why);
                /* the last target's end frees the distribution: ask the
                 * list, not the counts (they need not agree with when
                 * dist_check_end ends it) */
                ended = !zlistx_find (svc->dists, d);
            }
        }
        if (!ended) {
            if (d->hold)
                dist_go_check (d, now - d->started > GO_WAIT_MS);
            dist_report (d, false);
            archive_slow_watch (d, now);
        }
    }
    zlistx_destroy (&ds);
}
