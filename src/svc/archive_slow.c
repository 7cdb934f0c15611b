/* archive_slow.c - the controller's watch for slow targets
 * (doc/distribution.md, "Slow targets").
 *
 * Twice a second, for every running target whose upstream in some stripe is
 * a target, the gap between the chunks of that stripe it lacks and those its
 * upstream lacks (targets report both per stripe): in a healthy pipeline
 * about one.  A gap above window + 2 chunks that grew by 2 or more at each
 * of three looks in a row is a lagging target (below a finished upstream,
 * which the gap only nears: getting under half the units a look that the
 * upstream got while it ran); whether it or its upstream is
 * the slow one is told by the upstream's other downstreams (one of them
 * keeping up: the lagging one is slow; all lagging: the upstream is), and
 * in a chain, where there is no other, by a second lagging downstream of the
 * same upstream.  The slow node is made a leaf (distreplan) and every
 * target whose lists changed is told (archive.replan).
 */
#define _GNU_SOURCE
#include "archive_int.h"
#include "clock.h"
#include "distplan.h"
#include "distreplan.h"
#include "xalloc.h"
#include <stdlib.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define WATCH_MS 500
#define LAG_ROUNDS 3     /* looks in a row a target must lag to be judged */
#define SUSPECT_ROUNDS 4 /* ... to name its upstream by the second-downstream rule */
#define GRACE_MS 2000   /* a target given a new upstream is not judged this long */
#define GROWTH 2     /* chunks a lagging gap grows by at least, a look */

/* the remote target of rank (t[i] is tl[i], sorted), or NULL */
static struct target *target_of (struct dist *d, int64_t rank)
{
    int i = rank < 0 || rank > UINT32_MAX ? -1 : distplan_index (d->tl, d->nremote, (uint32_t)rank);
    return i < 0 ? NULL : &d->t[i];
}

/* chunks of stripe s rank lacks: the source and a finished target none;
 * -1 if it has not said */
static int64_t missing_of (struct dist *d, int64_t rank, size_t s)
{
    struct target *t = target_of (d, rank);
    return !t || t->state == 1 ? 0 : t->missing[s];
}

/* No arg: the distribution may be over (and freed) before the answer comes;
 * the target's error names the archive. */
static void on_replan_resp (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    (void)arg;
    /* a target that ended meanwhile answers ENOENT: nothing lost, its
     * downstreams fall back as for any finished upstream */
    if (msg->hdr.errnum && msg->hdr.errnum != ENOENT && msg->hdr.errnum != ENODATA) {
        const char *es = NULL;
        json_unpack (msg->json, "{s:s}", "errstr", &es);
        overlay_log (ov, "archive: replan refused by rank %u: %s", msg->hdr.src,
                     es ? es : strerror (msg->hdr.errnum));
    }
}

/* Make slow a leaf.  behind: the rank it lagged behind, or -1 when its
 * downstreams named it. */
static void move (struct dist *d, struct target *slow, int64_t behind, const char *why)
{
    overlay_t *ov = d->svc->ov;
    char err[256];
    slow->moved = true;
    slow->moved_for = behind;
    d->nmoves++;
    /* a node moved earlier for lagging behind this one was blamed for this
     * one's slowness: no longer known slow, it may take a leaf's place (the
     * slow one goes below it, not beside it, sharing its upstream) and be
     * judged again */
    char cleared[64] = "";
    for (size_t i = 0; i < d->nremote; i++)
        if (d->t[i].moved && &d->t[i] != slow && d->t[i].moved_for == (int64_t)slow->rank) {
            d->t[i].moved = false;
            size_t l = strlen (cleared);
            snprintf (cleared + l, sizeof cleared - l, "%s%u", l ? "," : "; cleared rank ", d->t[i].rank);
        }
    uint32_t *avoid = xcalloc (d->nremote, sizeof (uint32_t));
    size_t navoid = 0;
    for (size_t i = 0; i < d->nremote; i++)
        if (d->t[i].moved && &d->t[i] != slow)
            avoid[navoid++] = d->t[i].rank;
    json_t *np = distreplan_move (d->plan, d->tl, d->nremote, overlay_rank (ov), slow->rank, avoid, navoid, err,
                                  sizeof err);
    free (avoid);
    if (!np) {
        overlay_log (ov, "archive %s: rank %u is slow (%s) but stays: %s", d->name, slow->rank, why, err);
        return;
    }
    size_t told = 0;
    for (size_t i = 0; i < d->nremote; i++) {
        struct target *t = &d->t[i];
        json_t *st = json_array_get (np, i);
        if (json_equal (st, json_array_get (d->plan, i)))
            continue;
        for (size_t s = 0; s < json_array_size (st); s++)
            if (distreplan_parent (np, i, s) != distreplan_parent (d->plan, i, s)) {
                /* it catches up from its new upstream, which serves that from
                 * its disk meanwhile: neither is judged for a while */
                t->judge_after = now_ms () + GRACE_MS;
                struct target *nu = target_of (d, distreplan_parent (np, i, s));
                if (nu)
                    nu->judge_after = now_ms () + GRACE_MS;
            }
        json_decref (t->stripes);
        json_decref (t->upstreams);
        t->stripes = json_incref (st);
        t->upstreams = json_incref (json_array_get (st, 0));
        if (t->state)
            continue;
        uint32_t tag = 0;
        if (overlay_peer_rpc (ov, t->rank, "archive.replan", json_pack ("{s:s s:O}", "name", d->name, "stripes", st),
                              NULL, 0, 0, on_replan_resp, NULL, &tag, NULL, 0)
            == 0)
            told++;
    }
    json_decref (d->plan);
    d->plan = np;
    /* gaps to new upstreams start from scratch: a downstream that was held
     * back trails its new upstream by much, and that is no lag */
    for (size_t i = 0; i < d->nremote; i++) {
        d->t[i].lag_rounds = 0;
        for (int s = 0; s < MAX_STRIPES; s++)
            d->t[i].gap[s] = -1;
    }
    overlay_log (ov, "archive %s: rank %u is slow (%s): moved to a leaf, %zu targets told%s", d->name, slow->rank,
                 why, told, cleared);
}

/* Round trips.  A link that is the bottleneck keeps a standing queue at its
 * sending end, and everything else sent through it waits there too: a slow
 * sender's answers to the controller come late, a slow receiver's requests
 * from the controller do.  So where a lagging downstream has no sibling to
 * compare with (a chain), the one of the two with the long round trip is
 * the slow one.  Every look the controller pings each running target over
 * its peer link (overlay.ping echoes the payload, which names the
 * distribution: no state outlives it) four times a second and keeps the
 * last eight. */
static int64_t now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void on_ping_resp (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    (void)ov;
    archive_svc_t *svc = arg;
    const char *name;
    json_int_t started, sent, rank;
    if (msg->hdr.errnum
        || json_unpack (msg->json, "{s:s s:I s:I s:I}", "dist", &name, "started", &started, "sent", &sent, "rank",
                        &rank))
        return;
    for (struct dist *d = zlistx_first (svc->dists); d; d = zlistx_next (svc->dists)) {
        if (d->started != started || strcmp (d->name, name))
            continue;
        struct target *t = rank >= 0 && rank <= UINT32_MAX ? archive_dist_target (d, (uint32_t)rank) : NULL;
        if (t) {
            t->rtt_us[t->nrtt++ % 8] = now_us () - sent;
            t->ping_out = false;
        }
        return;
    }
}

/* the median of its last eight round trips, or -1 (not the shortest: a
 * sender's queue under TCP fills and drains, and the shortest of eight on
 * the 16-host emulation was a drained one) */
static int cmp_i64 (const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int64_t rtt_of (const struct target *t)
{
    if (t->nrtt < 4)
        return -1;
    size_t n = t->nrtt < 8 ? t->nrtt : 8;
    int64_t v[8];
    memcpy (v, t->rtt_us, n * sizeof v[0]);
    qsort (v, n, sizeof v[0], cmp_i64);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* a round trip this much longer than the other's, and twice it, is a
 * standing queue (not a ratio alone: the controller's own queue, when it is
 * the source and sends all the time, delays both alike; seen on the 16-host
 * emulation, a 50 Mbit/s sender's shortest of four: 13.4-25.8 ms, its
 * downstream's 3.4-8.3 ms; the shortest of eight 5.0-6.8 ms, too little) */
#define QUEUE_US 5000
#define PING_MS 250

static void ping_targets (struct dist *d)
{
    overlay_t *ov = d->svc->ov;
    for (size_t i = 0; i < d->nremote; i++) {
        struct target *t = &d->t[i];
        if (t->state || t->ping_out)
            continue;
        json_t *o = json_pack ("{s:s s:I s:I}", "dist", d->name, "started", (json_int_t)d->started, "sent",
                               (json_int_t)now_us ());
        if (overlay_peer_rpc (ov, t->rank, "overlay.ping", o, NULL, 0, 0, on_ping_resp, d->svc, NULL, NULL, 0) == 0)
            t->ping_out = true;
    }
}

void archive_slow_watch (struct dist *d, int64_t now)
{
    size_t maxmoves = 2 + d->nremote / 8;   /* a chain's slow sender takes two */
    if (!d->plan || d->nremote < 3 || d->nmoves >= maxmoves)
        return;
    if (now - d->last_ping >= PING_MS) {
        d->last_ping = now;
        ping_targets (d);
    }
    if (now - d->last_watch < WATCH_MS)
        return;
    d->last_watch = now;
    uint32_t me = overlay_rank (d->svc->ov);
    size_t ns = json_array_size (json_array_get (d->plan, 0));
    if (ns > MAX_STRIPES)
        return;
    /* targets count what they miss in transfer units (doc/distribution.md,
     * "Transfer units"): a chunk's worth of pieces counts as one chunk */
    int64_t upc = d->unit && d->unit < d->chunk_size ? (d->chunk_size + d->unit - 1) / d->unit : 1;
    int64_t big = ((int64_t)d->window + 2) * upc;   /* chunks, in units */
    /* what each running target got this look, per stripe (progress[i*ns+s]),
     * and its average, which a finished one keeps */
    int64_t *progress = xcalloc (d->nremote * ns, sizeof (int64_t));
    for (size_t i = 0; i < d->nremote; i++) {
        struct target *t = &d->t[i];
        for (size_t s = 0; s < ns; s++) {
            if (t->state || t->missing[s] < 0)
                continue;
            int64_t got = t->seen[s] >= 0 && t->seen[s] > t->missing[s] ? t->seen[s] - t->missing[s] : 0;
            progress[i * ns + s] = got;
            if (t->seen[s] >= 0)
                t->rate[s] = t->rate[s] > 0 ? (t->rate[s] + (double)got) / 2 : (double)got;
            t->seen[s] = t->missing[s];
        }
    }
    /* look: who lags, in which stripe the most */
    int *worst = xcalloc (d->nremote, sizeof (int));
    for (size_t i = 0; i < d->nremote; i++) {
        struct target *t = &d->t[i];
        worst[i] = -1;
        if (t->state) {
            t->lag_rounds = 0;
            continue;
        }
        bool lag = false;
        int64_t wgap = 0;
        for (size_t s = 0; s < ns; s++) {
            int64_t p = distreplan_parent (d->plan, i, s);
            int64_t mp = p < 0 || p == me ? -1 : missing_of (d, p, s);
            if (mp < 0 || t->missing[s] < 0) {
                t->gap[s] = -1;
                continue;
            }
            int64_t gap = t->missing[s] > mp ? t->missing[s] - mp : 0;
            bool falling = t->gap[s] >= 0 && gap >= t->gap[s] + GROWTH * upc;
            /* a finished upstream has everything, so the gap to it only
             * shrinks: there a downstream lags when it gets under half of
             * what that upstream got a look while it ran (a slow sender
             * that finished early still holds its downstreams back) */
            struct target *up = target_of (d, p);
            if (up && up->state == 1 && t->gap[s] >= 0) {
                double r = up->rate[s];
                falling = r >= 2.0 * GROWTH * upc && (double)progress[i * ns + s] < r / 2;
            }
            if (gap > big && falling && gap > wgap) {
                lag = true;
                wgap = gap;
                worst[i] = (int)s;
            }
            t->gap[s] = gap;
        }
        t->lag_rounds = lag ? t->lag_rounds + 1 : 0;
    }
    free (progress);
    /* judge: at most one move a look */
    for (size_t i = 0; i < d->nremote; i++) {
        struct target *t = &d->t[i];
        if (t->lag_rounds < LAG_ROUNDS || worst[i] < 0 || t->moved || now < t->judge_after)
            continue;   /* a moved node is known slow: its lag says nothing of its new upstream */
        size_t s = worst[i];
        int64_t p = distreplan_parent (d->plan, i, s);
        struct target *up = target_of (d, p);
        if (!up)
            continue;
        if (up->state == 0 && !up->moved && up->lag_rounds > 0 && now >= up->judge_after)
            continue;   /* its upstream falls behind too: judge that one first (a slow
                         * sender's own requests and ACKs queue behind its data) */
        bool sibling_ok = false, siblings = false;
        for (size_t j = 0; j < d->nremote; j++) {
            if (j == i || distreplan_parent (d->plan, j, s) != p || d->t[j].state)
                continue;
            siblings = true;
            if (d->t[j].lag_rounds == 0)
                sibling_ok = true;
        }
        char why[160];
        int64_t ru = rtt_of (up), rt = rtt_of (t);
        if (!siblings && !up->suspect && !up->moved && rt >= 0 && ru - rt >= QUEUE_US && ru >= 2 * rt) {
            snprintf (why, sizeof why, "its downstream falls behind it in stripe %zu, and its answers wait: "
                      "%.1f ms a round trip, %.1f ms to rank %u", s, ru / 1000.0, rt / 1000.0, t->rank);
            t->lag_rounds = 0;
            move (d, up, -1, why);
            break;
        }
        if (!sibling_ok && !siblings && up->suspect && t->lag_rounds < SUSPECT_ROUNDS)
            continue;   /* the weakest evidence: wait for more */
        if (sibling_ok || (!siblings && !up->suspect)) {
            int w = snprintf (why, sizeof why, "%lld chunks behind rank %u in stripe %zu, and falling back",
                              (long long)(t->gap[s] / upc), up->rank, s);
            if (!siblings && ru >= 0 && rt >= 0 && w > 0 && (size_t)w < sizeof why)
                snprintf (why + w, sizeof why - w, "; round trips %.1f ms, %.1f ms to rank %u", rt / 1000.0,
                          ru / 1000.0, up->rank);
            up->suspect = true;
            t->lag_rounds = 0;
            move (d, t, up->rank, why);
            break;
        }
        if (up->moved)
            continue;
        snprintf (why, sizeof why, "%s downstream%s fall%s behind it in stripe %zu",
                  siblings ? "all its" : "a second", siblings ? "s" : "", siblings ? "" : "s", s);
        t->lag_rounds = 0;
        move (d, up, -1, why);
        break;
    }
    free (worst);
}
