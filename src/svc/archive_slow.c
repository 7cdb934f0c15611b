/* archive_slow.c - the controller's watch for slow targets
 * (doc/distribution.md, "Slow targets").
 *
 * Once a second, for every running target whose upstream in some stripe is
 * a target, the gap between what its upstream has and what it has: in a
 * healthy pipeline about a chunk.  A gap above window + 2 chunks that grew
 * for two looks in a row is a lagging target; whether it or its upstream is
 * the slow one is told by the upstream's other downstreams (one of them
 * keeping up: the lagging one is slow; all lagging: the upstream is), and
 * in a chain, where there is no other, by a second lagging downstream of the
 * same upstream.  The slow node is made a leaf (distreplan) and every
 * target whose lists changed is told (archive.replan).
 */
#define _GNU_SOURCE
#include "archive_int.h"
#include "distreplan.h"
#include "xalloc.h"
#include <stdlib.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define WATCH_MS 1000
#define LAG_ROUNDS 2

static struct target *target_of (struct dist *d, int64_t rank)
{
    for (size_t i = 0; i < d->nremote; i++)
        if (d->t[i].rank == rank)
            return &d->t[i];
    return NULL;
}

/* bytes rank has: the source and a finished target have everything */
static uint64_t have_of (struct dist *d, int64_t rank)
{
    struct target *t = target_of (d, rank);
    return !t || t->state == 1 ? d->total : t->have;
}

static void on_replan_resp (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    struct dist *d = arg;
    /* a target that ended meanwhile answers ENOENT: nothing lost, its
     * downstreams fall back as for any finished upstream */
    if (msg->hdr.errnum && msg->hdr.errnum != ENOENT && msg->hdr.errnum != ENODATA) {
        const char *es = NULL;
        json_unpack (msg->json, "{s:s}", "errstr", &es);
        overlay_log (ov, "archive %s: replan refused by rank %u: %s", d->name, msg->hdr.src,
                     es ? es : strerror (msg->hdr.errnum));
    }
}

static void move (struct dist *d, struct target *slow, const char *why)
{
    overlay_t *ov = d->svc->ov;
    char err[256];
    slow->moved = true;
    d->nmoves++;
    json_t *np = distreplan_move (d->plan, d->tl, d->nremote, overlay_rank (ov), slow->rank, err, sizeof err);
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
        json_decref (t->stripes);
        json_decref (t->upstreams);
        t->stripes = json_incref (st);
        t->upstreams = json_incref (json_array_get (st, 0));
        if (t->state)
            continue;
        uint32_t tag = 0;
        if (overlay_peer_rpc (ov, t->rank, "archive.replan", json_pack ("{s:s s:O}", "name", d->name, "stripes", st),
                              NULL, 0, 0, on_replan_resp, d, &tag, NULL, 0)
            == 0)
            told++;
    }
    json_decref (d->plan);
    d->plan = np;
    overlay_log (ov, "archive %s: rank %u is slow (%s): moved to a leaf, %zu targets told", d->name, slow->rank,
                 why, told);
}

void archive_slow_watch (struct dist *d, int64_t now)
{
    if (!d->plan || d->nremote < 3 || now - d->last_watch < WATCH_MS)
        return;
    d->last_watch = now;
    size_t maxmoves = d->nremote / 8 > 1 ? d->nremote / 8 : 1;
    if (d->nmoves >= maxmoves)
        return;
    uint32_t me = overlay_rank (d->svc->ov);
    size_t ns = json_array_size (json_array_get (d->plan, 0));
    if (ns > MAX_STRIPES)
        return;
    uint64_t big = ((uint64_t)d->window + 2) * d->chunk_size;
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
        uint64_t wgap = 0;
        for (size_t s = 0; s < ns; s++) {
            int64_t p = distreplan_parent (d->plan, i, s);
            if (p < 0 || p == me) {
                t->gap[s] = 0;
                continue;
            }
            uint64_t hp = have_of (d, p), h = t->have;
            uint64_t gap = hp > h ? hp - h : 0;
            if (gap > big && gap > t->gap[s] && gap > wgap) {
                lag = true;
                wgap = gap;
                worst[i] = (int)s;
            }
            t->gap[s] = gap;
        }
        t->lag_rounds = lag ? t->lag_rounds + 1 : 0;
    }
    /* judge: at most one move a look */
    for (size_t i = 0; i < d->nremote; i++) {
        struct target *t = &d->t[i];
        if (t->lag_rounds < LAG_ROUNDS || worst[i] < 0 || t->moved)
            continue;   /* a moved node is known slow: its lag says nothing of its new upstream */
        size_t s = worst[i];
        int64_t p = distreplan_parent (d->plan, i, s);
        struct target *up = target_of (d, p);
        if (!up)
            continue;
        bool sibling_ok = false, siblings = false;
        for (size_t j = 0; j < d->nremote; j++) {
            if (j == i || distreplan_parent (d->plan, j, s) != p || d->t[j].state)
                continue;
            siblings = true;
            if (d->t[j].lag_rounds == 0)
                sibling_ok = true;
        }
        char why[160];
        if (sibling_ok || (!siblings && !up->suspect)) {
            snprintf (why, sizeof why, "%llu bytes behind rank %u in stripe %zu, and falling back",
                      (unsigned long long)t->gap[s], up->rank, s);
            up->suspect = true;
            t->lag_rounds = 0;
            move (d, t, why);
            break;
        }
        if (up->moved)
            continue;
        snprintf (why, sizeof why, "%s downstream%s fall%s behind it in stripe %zu",
                  siblings ? "all its" : "a second", siblings ? "s" : "", siblings ? "" : "s", s);
        t->lag_rounds = 0;
        move (d, up, why);
        break;
    }
    free (worst);
}
