/* archive_target.c - the target side of a distribution: one struct xfer
 * per archive.fetch pulls the chunks it lacks from its upstreams and serves
 * archive.chunk to its own downstreams (doc/distribution.md).
 *
 *  - pulling: a window of requests per stripe for transfer units (unit j
 *    travels stripe j mod nstripes, one upstream each; a unit is a piece of
 *    a chunk or a pack of small chunks, doc/distribution.md, "Transfer
 *    units"; one chunk each on the CURVE plane), each chunk verified and
 *    written (extract.c) once all its pieces are in; on errors or stalls a
 *    stripe moves to its next fallback upstream;
 *  - serving: archive.chunk is answered from the content store, or from a
 *    transfer in progress, parking requests for chunks not here yet; a
 *    request parked for NOTE_MS gets a progress note instead, so an upstream
 *    alive and still filling never counts as stalled.
 */
#define _GNU_SOURCE
#include "archive_int.h"
#include "clock.h"
#include "destsubst.h"
#include "xalloc.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* the stall timer; CANOPY_TEST_STALL_MS shortens it for tests */
static int64_t stall_ms (void)
{
    static int64_t v;
    if (!v) {
        const char *e = getenv ("CANOPY_TEST_STALL_MS");
        v = e && atol (e) > 0 ? atol (e) : STALL_MS;
    }
    return v;
}

/* a request parked this long gets a progress note (at most one per
 * downstream and stripe this often) */
static int64_t note_ms (void)
{
    return stall_ms () / 5;
}

/* Fault injection for tests: CANOPY_TEST_SLOW=MS or RANK:MS makes every
 * target (or only RANK) take MS per received chunk, like a slow disk. */
static void test_slow (overlay_t *ov)
{
    static long ms = -1, rank = -1;
    if (ms < 0) {
        const char *e = getenv ("CANOPY_TEST_SLOW");
        const char *c = e ? strchr (e, ':') : NULL;
        ms = c ? atol (c + 1) : e ? atol (e) : 0;
        rank = c ? atol (e) : -1;
    }
    if (ms > 0 && (rank < 0 || (uint32_t)rank == overlay_rank (ov)))
        usleep (ms * 1000);
}

static void xfer_pump (struct xfer *xf);
static void xfer_finish (struct xfer *xf, int errnum, const char *errstr);
static void rescue_drop_all (struct xfer *xf);
static void xfer_begin (struct xfer *xf, bool listed);
static void xfer_warm (struct xfer *xf);
static struct stripe *stripe_of (struct xfer *xf, uint32_t idx)
{
    return &xf->st[idx % xf->nst];
}

static struct xfer *find_xfer (archive_svc_t *svc, const char *name)
{
    for (struct xfer *xf = zlistx_first (svc->xfers); xf; xf = zlistx_next (svc->xfers))
        if (!strcmp (xf->name, name))
            return xf;
    return NULL;
}

/* Read chunks idx..idx+n-1 of xf's extraction into one buffer and answer req
 * with it (a unit's plaintext: a pack's chunks, or a piece's whole chunk,
 * which the data plane seals). */
static void serve_chunks_from_xfer (struct xfer *xf, const cmsg_hdr_t *req, uint32_t idx, uint32_t nc)
{
    archive_svc_t *svc = xf->svc;
    char err[256];
    size_t len = 0;
    for (uint32_t k = 0; k < nc; k++)
        len += xf->m->chunks[idx + k].len;
    /* read straight into the buffer the response frame takes over */
    uint8_t *buf = overlay_buf_new (len);
    ssize_t n = 0;
    for (uint32_t k = 0; k < nc && n >= 0; k++) {
        size_t cl = xf->m->chunks[idx + k].len;
        ssize_t r = extract_read (xf->x, idx + k, buf + n, cl, err, sizeof err);
        n = r == (ssize_t)cl ? n + r : r < 0 ? r : -EIO;
    }
    if (n < 0) {
        overlay_buf_free (buf);
        overlay_respond_error (svc->ov, req, EIO, "rank %u: %s", overlay_rank (svc->ov),
                               buf ? err : "out of memory");
    }
    else {
        /* extract_read's bytes are verified (a temporary file only this
         * broker wrote, after checking each chunk, or a re-hashed one): the
         * data plane's sealer need not hash them again */
        xf->served_disk++;
        overlay_respond_give (svc->ov, req, json_pack ("{s:b}", "verified", 1), buf, n);
    }
}

static void serve_from_xfer (struct xfer *xf, const cmsg_hdr_t *req, uint32_t idx)
{
    serve_chunks_from_xfer (xf, req, idx, 1);
}

/* ---- units (doc/distribution.md, "Transfer units") ---- */

struct cbuf {                 /* a chunk assembling from its pieces */
    uint8_t *buf;
    uint32_t have;            /* pieces in */
};

static void cbuf_free (void **p)
{
    struct cbuf *b = *p;
    if (b) {
        free (b->buf);
        free (b);
    }
    *p = NULL;
}

static struct cbuf *asm_get (struct xfer *xf, uint32_t c, bool create)
{
    char key[16];
    snprintf (key, sizeof key, "%u", c);
    struct cbuf *b = zhashx_lookup (xf->asms, key);
    if (!b && create) {
        b = xcalloc (1, sizeof *b);
        b->buf = xmalloc (xf->m->chunks[c].len);
        zhashx_update (xf->asms, key, b);
    }
    return b;
}

static void asm_drop (struct xfer *xf, uint32_t c)
{
    char key[16];
    snprintf (key, sizeof key, "%u", c);
    zhashx_delete (xf->asms, key);
}

/* every chunk of unit j is written */
static bool unit_have (const struct xfer *xf, size_t j)
{
    const distunit_t *u = distunits_get (xf->ut, j);
    for (uint32_t k = 0; k < u->nchunks; k++)
        if (!extract_have (xf->x, u->chunk + k))
            return false;
    return true;
}

static bool unit_done (const struct xfer *xf, size_t j)
{
    return xf->ugot[j] || unit_have (xf, j);
}

/* unit j is here (its bytes counted now) */
static void unit_mark (struct xfer *xf, size_t j, uint64_t bytes)
{
    if (xf->ugot[j])
        return;
    xf->ugot[j] = 1;
    struct stripe *st = &xf->st[j % xf->nst];
    if (st->missing)
        st->missing--;
    xf->bytes_have += bytes;
}

/* no request out for unit j any more: the pump may ask again */
static void unrequest (struct xfer *xf, size_t j)
{
    xf->requested[j] = 0;
    struct stripe *st = &xf->st[j % xf->nst];
    if (j < st->cursor)
        st->cursor = j;
}

/* Chunk c is written: its units are here (a rescue, or the last piece). */
static void chunk_written (struct xfer *xf, uint32_t c)
{
    xf->fetched_chunks++;
    size_t j0 = distunits_of_chunk (xf->ut, c), nu = distunits_nof_chunk (xf->ut, c);
    for (size_t j = j0; j < j0 + nu; j++)
        if (!xf->ugot[j] && unit_have (xf, j))
            unit_mark (xf, j, distunits_get (xf->ut, j)->len);
    asm_drop (xf, c);
}

/* Requests parked on units of chunk c that are whole here now: read back. */
static void serve_parked_have (struct xfer *xf, uint32_t c)
{
    size_t j0 = distunits_of_chunk (xf->ut, c), nu = distunits_nof_chunk (xf->ut, c);
    struct parked *p = zlistx_first (xf->parked);
    while (p) {
        struct parked *next = zlistx_next (xf->parked);
        if (p->idx >= j0 && p->idx < j0 + nu && unit_have (xf, p->idx)) {
            zlistx_detach (xf->parked, zlistx_find (xf->parked, p));
            const distunit_t *u = distunits_get (xf->ut, p->idx);
            serve_chunks_from_xfer (xf, &p->req, u->chunk, u->nchunks);
            free (p);
            next = zlistx_first (xf->parked);   /* the list changed: walk again */
        }
        p = next;
    }
}

/* Put unit j's plaintext (msg->data): a pack's chunks written one by one, a
 * piece copied into its chunk's assembly, the chunk written when its last
 * piece is in.  CMSG_F_DATA: opened by the data plane (its tag binds the
 * manifest's hash), else each chunk is hashed (extract_put).  0, or
 * EXTRACT_ECORRUPT, or -errno + err. */
static int unit_put (struct xfer *xf, uint32_t j, const cmsg_t *msg, char *err, size_t errlen)
{
    const distunit_t *u = distunits_get (xf->ut, j);
    bool verified = msg->hdr.flags & CMSG_F_DATA;
    if (msg->data_len != u->len)
        return verified ? -EPROTO : EXTRACT_ECORRUPT;
    const uint8_t *data = msg->data;
    if (!u->npieces) {
        uint64_t newbytes = 0;
        size_t off = 0;
        for (uint32_t k = 0; k < u->nchunks; k++) {
            uint32_t c = u->chunk + k, cl = xf->m->chunks[c].len;
            if (!extract_have (xf->x, c)) {
                int rc = verified ? extract_put_verified (xf->x, c, data + off, cl, err, errlen)
                                  : extract_put (xf->x, c, data + off, cl, err, errlen);
                if (rc)
                    return rc;
                test_slow (xf->svc->ov);
                newbytes += cl;
                xf->fetched_chunks++;
            }
            off += cl;
        }
        unit_mark (xf, j, newbytes);
        return 0;
    }
    uint32_t c = u->chunk;
    if (extract_have (xf->x, c)) {
        unit_mark (xf, j, 0);
        return 0;
    }
    struct cbuf *b = asm_get (xf, c, true);
    if (!xf->ugot[j]) {
        memcpy (b->buf + u->off, data, u->len);
        b->have++;
        unit_mark (xf, j, u->len);
    }
    if (b->have < u->npieces)
        return 0;
    int rc = verified ? extract_put_verified (xf->x, c, b->buf, xf->m->chunks[c].len, err, errlen)
                      : extract_put (xf->x, c, b->buf, xf->m->chunks[c].len, err, errlen);
    if (rc) {   /* fetch the whole chunk again */
        size_t j0 = distunits_of_chunk (xf->ut, c);
        for (size_t k = j0; k < j0 + u->npieces; k++)
            if (xf->ugot[k]) {
                xf->ugot[k] = 0;
                xf->st[k % xf->nst].missing++;
                xf->bytes_have -= distunits_get (xf->ut, k)->len;
                unrequest (xf, k);
            }
        asm_drop (xf, c);
        return rc;
    }
    test_slow (xf->svc->ov);
    chunk_written (xf, c);
    serve_parked_have (xf, c);
    return 0;
}

static void fail_parked (struct xfer *xf, const char *why)
{
    struct parked *p;
    while ((p = zlistx_detach (xf->parked, NULL))) {
        overlay_respond_error (xf->svc->ov, &p->req, EIO, "rank %u: %s", overlay_rank (xf->svc->ov), why);
        free (p);
    }
}

static void xfer_finish (struct xfer *xf, int errnum, const char *errstr)
{
    archive_svc_t *svc = xf->svc;
    overlay_t *ov = svc->ov;
    xf->finished = true;
    if (xf->page_tag)
        overlay_rpc_cancel (ov, xf->page_tag);
    xf->page_tag = 0;
    zlistx_t *keys = zhashx_keys (xf->tags);
    for (char *k = zlistx_first (keys); k; k = zlistx_next (keys))
        overlay_rpc_cancel (ov, strtoul (k, NULL, 10));
    zlistx_destroy (&keys);
    keys = zhashx_keys (xf->rescues);
    for (char *k = zlistx_first (keys); k; k = zlistx_next (keys))
        overlay_rpc_cancel (ov, strtoul (k, NULL, 10));
    zlistx_destroy (&keys);
    rescue_drop_all (xf);
    if (errnum) {
        fail_parked (xf, errstr);
        /* later requests for it get this at once rather than "not here yet",
         * so downstream targets move on without waiting for a stall */
        zhashx_update (svc->failed, xf->name, xstrdup (errstr ? errstr : "failed"));
        extract_abort (&xf->x);
        overlay_log (ov, "archive %s: fetch failed: %s", xf->name, errstr);
        overlay_respond_error (ov, &xf->req, errnum, "%s", errstr);
    }
    else {
        double secs = zclock_usecs () / 1e6 - xf->t0;
        overlay_respond (ov, &xf->req,
                         json_pack ("{s:b s:f s:I s:I s:I}", "done", 1, "seconds", secs, "bytes",
                                    (json_int_t)xf->bytes_total, "chunks",
                                    (json_int_t)xf->fetched_chunks, "corrupt",
                                    (json_int_t)xf->corrupt_total),
                         NULL, 0);
        overlay_respond_error (ov, &xf->req, ENODATA, NULL);
        overlay_log (ov, "archive %s: complete in %.3f s (%llu bytes; served %llu chunks on arrival, "
                     "%llu read back)", xf->name, secs, (unsigned long long)xf->bytes_total,
                     (unsigned long long)xf->served_mem, (unsigned long long)xf->served_disk);
    }
    void *h = zlistx_find (svc->xfers, xf);
    if (h)
        zlistx_detach (svc->xfers, h);
    archive_xfer_free (xf);
    archive_release_memory ();
}

/* Stripe s's upstream failed or stalled: cancel that stripe's requests and
 * move one step along its fallbacks (its upstream's upstream ... the source). */
/* Cancel stripe s's outstanding requests (they go to a new upstream). */
static void stripe_cancel (struct xfer *xf, int s)
{
    overlay_t *ov = xf->svc->ov;
    struct stripe *st = &xf->st[s];
    zlistx_t *keys = zhashx_keys (xf->tags);
    for (char *k = zlistx_first (keys); k; k = zlistx_next (keys)) {
        uint32_t idx = (uintptr_t)zhashx_lookup (xf->tags, k) - 1;
        if ((int)(idx % xf->nst) != s)
            continue;
        overlay_rpc_cancel (ov, strtoul (k, NULL, 10));
        unrequest (xf, idx);
        zhashx_delete (xf->tags, k);
    }
    zlistx_destroy (&keys);
    st->inflight = 0;
    st->corrupt = 0;
}

static void xfer_switch_upstream (struct xfer *xf, int s, const char *why)
{
    overlay_t *ov = xf->svc->ov;
    struct stripe *st = &xf->st[s];
    uint32_t old = st->ups[st->upi];
    stripe_cancel (xf, s);
    if (++st->upi >= st->nups) {
        char msg[300];
        snprintf (msg, sizeof msg, "no upstream left (last: rank %u: %s)", old, why);
        xfer_finish (xf, EHOSTUNREACH, msg);
        return;
    }
    if (xf->nst > 1)
        overlay_log (ov, "archive %s: stripe %d: upstream rank %u failed (%s); now pulling from rank %u",
                     xf->name, s, old, why, st->ups[st->upi]);
    else
        overlay_log (ov, "archive %s: upstream rank %u failed (%s); now pulling from rank %u", xf->name,
                     old, why, st->ups[st->upi]);
    st->last_progress = now_ms ();
    xfer_pump (xf);
}

/* A progress note instead of a chunk: the upstream parked the request for
 * NOTE_MS and says how far it is.  It counts as progress while the upstream
 * itself is not stalled (its own stripe had progress within STALL_MS). */
static void on_note (struct xfer *xf, struct stripe *st, const cmsg_t *msg)
{
    json_int_t idle = stall_ms ();
    json_unpack (msg->json, "{s:I}", "idle_ms", &idle);
    if (idle < stall_ms ())
        st->last_progress = now_ms ();
    xfer_pump (xf);   /* ask again: it parks again until the chunk comes */
}

/* Unit idx is in (put, or here already): serve the downstream requests
 * parked on it (msg: with its sealed frame, forwarded untouched), finish
 * the transfer when it was the last one, else ask for more.  msg NULL: a
 * rescue wrote a chunk (serve_parked_have served its units). */
static void unit_arrived (struct xfer *xf, uint32_t idx, const cmsg_t *msg)
{
    overlay_t *ov = xf->svc->ov;
    struct stripe *st = stripe_of (xf, idx);
    char err[256];
    st->corrupt = 0;
    st->last_progress = now_ms ();
    /* serve downstream requests parked on this unit */
    struct parked *p = zlistx_first (xf->parked);
    while (p) {
        struct parked *next = zlistx_next (xf->parked);
        if (msg && p->idx == idx) {
            void *h = zlistx_find (xf->parked, p);
            zlistx_detach (xf->parked, h);
            overlay_respond_share (ov, &p->req, NULL, msg);
            xf->served_mem++;
            free (p);
            /* the list changed: restart the walk */
            next = zlistx_first (xf->parked);
        }
        p = next;
    }
    if (extract_missing (xf->x) == 0) {
        if (extract_done (xf->x, err, sizeof err) < 0) {
            xfer_finish (xf, EIO, err);
            return;
        }
        char aerr[256];
        if (extract_setid_dropped (xf->x))
            overlay_log (ov, "archive %s: dropped setuid/setgid bits of %zu files (never restored)",
                         xf->name, extract_setid_dropped (xf->x));
        extract_destroy (&xf->x);
        if (cstore_archive_adopt (xf->svc->cs, xf->m, xf->dest, CSTORE_REPLACE | CSTORE_VERIFIED, aerr, sizeof aerr) < 0)
            overlay_log (ov, "archive %s: cannot record in content store: %s", xf->name, aerr);
        xfer_finish (xf, 0, NULL);
        return;
    }
    xfer_pump (xf);
}

/* ---- a damaged chunk at the source: another rank's verified copy ----
 * The source answered EBADMSG for chunk idx (its copy no longer matches the
 * manifest; it marked the archive damaged).  Rather than fail, ask the other
 * ranks one after another over the CURVE links for that chunk: a rank that
 * holds the archive (an earlier distribution, verified when it arrived)
 * serves it from its store, verified again here before it is written.  Only
 * when no rank has it does the transfer fail, with the source's message. */
struct rescue {
    uint32_t idx;             /* the chunk */
    uint32_t unit;            /* the unit it was asked for in */
    uint32_t next;            /* the next rank to ask */
    uint32_t source;          /* the rank whose copy is damaged */
    char *why;
};

static void rescue_free (void **p)
{
    struct rescue *r = *p;
    if (r) {
        free (r->why);
        free (r);
    }
    *p = NULL;
}

static void on_rescue (overlay_t *ov, const cmsg_t *msg, void *arg);

/* forget every rescue in flight (their rpcs cancelled or moot) */
static void rescue_drop_all (struct xfer *xf)
{
    void *r;
    while ((r = zhashx_first (xf->rescues))) {
        zhashx_delete (xf->rescues, zhashx_cursor (xf->rescues));
        rescue_free (&r);
    }
}

static void rescue_try (struct xfer *xf, struct rescue *r)
{
    overlay_t *ov = xf->svc->ov;
    uint32_t me = overlay_rank (ov), size = overlay_size (ov);
    while (r->next < size) {
        uint32_t cand = r->next++;
        if (cand == me || cand == r->source)
            continue;
        char hex[SHA256_HEXLEN + 1];
        sha256_hex (xf->m->chunks[r->idx].hash, hex);
        uint32_t tag = 0;
        if (overlay_peer_rpc (ov, cand, "archive.chunk",
                              json_pack ("{s:s s:I s:s s:I}", "name", xf->name, "idx", (json_int_t)r->idx,
                                         "hash", hex, "len", (json_int_t)xf->m->chunks[r->idx].len),
                              NULL, 0, 0, on_rescue, xf, &tag, NULL, 0) < 0 || !tag)
            continue;
        char key[16];
        snprintf (key, sizeof key, "%u", tag);
        zhashx_update (xf->rescues, key, r);
        return;
    }
    char msg[700];
    snprintf (msg, sizeof msg, "%s; no other rank holds a verified copy", r->why);
    rescue_free ((void **)&r);
    xfer_finish (xf, EBADMSG, msg);
}

static void rescue_start (struct xfer *xf, uint32_t unit, uint32_t idx, uint32_t source, const char *why)
{
    struct rescue *r = xcalloc (1, sizeof *r);
    r->idx = idx;
    r->unit = unit;
    r->source = source;
    r->why = xstrdup (why);
    xf->requested[unit] = 1;   /* the pump leaves it to the rescue */
    overlay_log (xf->svc->ov, "archive %s: %s; asking the other ranks for a verified copy", xf->name, why);
    rescue_try (xf, r);
}

static void on_rescue (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    struct xfer *xf = arg;
    char key[16];
    snprintf (key, sizeof key, "%u", msg->hdr.matchtag);
    struct rescue *r = zhashx_lookup (xf->rescues, key);
    if (!r || xf->finished)
        return;
    zhashx_delete (xf->rescues, key);
    uint32_t from = msg->hdr.src;
    char err[256];
    bool got = !msg->hdr.errnum && msg->data;   /* else: not there, an error, or a note */
    int rc = got && !extract_have (xf->x, r->idx)
                 ? extract_put (xf->x, r->idx, msg->data, msg->data_len, err, sizeof err) : 0;
    if (got && rc == 0) {
        overlay_log (ov, "archive %s: chunk %u, damaged at rank %u, taken from rank %u's verified copy",
                     xf->name, r->idx, r->source, from);
        uint32_t idx = r->idx, unit = r->unit;
        rescue_free ((void **)&r);
        chunk_written (xf, idx);
        serve_parked_have (xf, idx);
        if (!unit_done (xf, unit))
            unrequest (xf, unit);   /* the rest of its pack: asked again */
        unit_arrived (xf, unit, NULL);
        return;
    }
    if (got && rc != EXTRACT_ECORRUPT) {   /* a write error here: no other copy helps */
        rescue_free ((void **)&r);
        xfer_finish (xf, -rc, err);
        return;
    }
    rescue_try (xf, r);   /* not there, not verified, a note: the next rank */
}

static void on_chunk (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    struct xfer *xf = arg;
    char key[16];
    snprintf (key, sizeof key, "%u", msg->hdr.matchtag);
    uintptr_t v = (uintptr_t)zhashx_lookup (xf->tags, key);
    if (!v)
        return;
    uint32_t idx = v - 1;   /* the unit */
    struct stripe *st = stripe_of (xf, idx);
    int s = idx % xf->nst;
    zhashx_delete (xf->tags, key);
    st->inflight--;
    unrequest (xf, idx);
    if (msg->hdr.errnum == EAGAIN)
        return; /* upstream has no such transfer (yet): the tick retries, and
                 * the stall timer moves on if that lasts */
    if (msg->hdr.errnum && unit_done (xf, idx)) {   /* here meanwhile (a rescue of its chunk) */
        xfer_pump (xf);
        return;
    }
    if (msg->hdr.errnum) {
        const char *es = NULL;
        json_unpack (msg->json, "{s:s}", "errstr", &es);
        if (msg->hdr.errnum == EBADMSG && st->upi + 1 >= st->nups) {
            /* the last resort (the source) holds a damaged copy: no point
             * in waiting; another rank's verified copy, or fail now with
             * its message */
            /* a unit's first chunk not here (a pack: the others follow,
             * one rescue at a time, as the unit is asked for again) */
            const distunit_t *u = distunits_get (xf->ut, idx);
            uint32_t c = u->chunk;
            while (c + 1 < u->chunk + u->nchunks && extract_have (xf->x, c))
                c++;
            rescue_start (xf, idx, c, st->ups[st->upi], es ? es : "damaged at the source");   /* may free xf */
            return;
        }
        xfer_switch_upstream (xf, s, es ? es : strerror (msg->hdr.errnum));
        return;
    }
    if (!msg->data && json_object_get (msg->json, "filling")) {
        on_note (xf, st, msg);
        return;
    }
    char err[256];
    /* CMSG_F_DATA: the data plane opened it and checked its tag (which
     * binds the manifest's SHA-256) already */
    int rc = !msg->data ? EXTRACT_ECORRUPT : unit_done (xf, idx) ? 0 : unit_put (xf, idx, msg, err, sizeof err);
    if (rc == EXTRACT_ECORRUPT) {
        xf->corrupt_total++;
        overlay_log (ov, "archive %s: %s %u from rank %u is corrupt, fetching again", xf->name,
                     distunits_size (xf->ut) ? "unit" : "chunk", idx, st->ups[st->upi]);
        /* several corrupt chunks in a row: try the next upstream (the
         * source, last in the list, is retried for as long as it answers) */
        if (++st->corrupt > CORRUPT_MAX && st->upi + 1 < st->nups) {
            xfer_switch_upstream (xf, s, "too many corrupt chunks");
            return;
        }
        xfer_pump (xf);
        return;
    }
    if (rc < 0) {
        xfer_finish (xf, -rc, err);
        return;
    }
    unit_arrived (xf, idx, msg);
}

/* Keep `uwindow` unit requests outstanding on each stripe, lowest missing
 * units of that stripe first.  A piece of a chunk not assembling yet waits
 * while ASM chunks are (their pieces come first). */
static void xfer_pump (struct xfer *xf)
{
    overlay_t *ov = xf->svc->ov;
    if (xf->hold)
        return;   /* links first (xfer_warm): archive.go starts the data */
    size_t nu = distunits_count (xf->ut);
    for (int s = 0; s < xf->nst; s++) {
        struct stripe *st = &xf->st[s];
        while (st->cursor < nu && unit_done (xf, st->cursor))
            st->cursor += xf->nst;
        size_t j = st->cursor;
        while (st->inflight < xf->uwindow) {
            while (j < nu && (xf->requested[j] || unit_done (xf, j)))
                j += xf->nst;
            if (j >= nu)
                break;
            const distunit_t *u = distunits_get (xf->ut, j);
            if (u->npieces && !asm_get (xf, u->chunk, false) && zhashx_size (xf->asms) >= xf->asm_max) {
                st->last_progress = now_ms ();   /* our own limit, not the upstream's silence */
                break;
            }
            if (u->npieces)
                asm_get (xf, u->chunk, true);
            uint32_t idx = j;
            uint32_t up = st->ups[st->upi];
            uint32_t tag = 0;
            if (xf->seal)
                tag = dataplane_chunk_rpc (xf->svc->dp, xf->seal, up, idx, on_chunk, xf);
            else
                overlay_peer_rpc (ov, up, "archive.chunk",
                                  json_pack ("{s:s s:I}", "name", xf->name, "idx", (json_int_t)idx), NULL, 0, 0,
                                  on_chunk, xf, &tag, NULL, 0);
            if (!tag) {
                xfer_switch_upstream (xf, s, "cannot open a peer link");
                return; /* it pumped again (or xf is gone) */
            }
            char key[16];
            snprintf (key, sizeof key, "%u", tag);
            zhashx_update (xf->tags, key, (void *)(uintptr_t)(idx + 1));
            xf->requested[idx] = 1;
            st->inflight++;
            j += xf->nst;
        }
    }
}

void archive_xfer_free (struct xfer *xf)
{
    if (!xf)
        return;
    for (int s = 0; s < 2 * MAX_STRIPES; s++)
        if (xf->warm_tags[s])
            overlay_rpc_cancel (xf->svc->ov, xf->warm_tags[s]);
    struct parked *p;
    while ((p = zlistx_detach (xf->parked, NULL)))
        free (p);
    zlistx_destroy (&xf->parked);
    zhashx_destroy (&xf->noted);
    zhashx_destroy (&xf->tags);
    if (xf->rescues)
        rescue_drop_all (xf);
    zhashx_destroy (&xf->rescues);
    if (xf->x)
        extract_destroy (&xf->x);
    manifest_destroy (&xf->m);
    manifest_asm_destroy (&xf->masm);
    json_decref (xf->sealreq);
    free (xf->requested);
    free (xf->ugot);
    zhashx_destroy (&xf->asms);
    distunits_destroy (&xf->ut);
    free (xf->seal);
    for (int s = 0; s < MAX_STRIPES; s++)
        free (xf->st[s].ups);
    free (xf->name);
    free (xf->dest);
    if (xf->lockfd >= 0)
        close (xf->lockfd);   /* the next broker waiting for dest goes on */
    free (xf);
}


static bool stripes_valid (json_t *v, bool single, uint32_t size)
{
    if (!json_is_array (v))
        return false;
    size_t ns = single ? 1 : json_array_size (v);
    if (ns < 1 || ns > MAX_STRIPES)
        return false;
    for (size_t s = 0; s < ns; s++) {
        json_t *l = single ? v : json_array_get (v, s);
        if (!json_is_array (l) || json_array_size (l) == 0)
            return false;
        size_t i;
        json_t *r;
        json_array_foreach (l, i, r)
            if (!json_is_integer (r) || json_integer_value (r) < 0 || json_integer_value (r) >= size)
                return false;
    }
    return true;
}

/* Target xf cannot go on: respond with the error (and free it), or, once
 * listed, finish it with the error. */
static void xfer_fail (struct xfer *xf, bool listed, int errnum, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));
static void xfer_fail (struct xfer *xf, bool listed, int errnum, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, sizeof msg, fmt, ap);
    va_end (ap);
    if (listed)
        xfer_finish (xf, errnum, msg);
    else {
        overlay_respond_error (xf->svc->ov, &xf->req, errnum, "%s", msg);
        archive_xfer_free (xf);
    }
}

/* The manifest is here (decoded whole, or assembled from its pages): join
 * the sealed distribution, prepare dest, take its lock (or wait for it),
 * then begin. */
static void xfer_ready (struct xfer *xf, manifest_t *m, bool listed)
{
    archive_svc_t *svc = xf->svc;
    overlay_t *ov = svc->ov;
    char err[512];
    xf->m = m;
    json_int_t unit = 0;
    if (xf->sealreq)
        json_unpack (xf->sealreq, "{s?I}", "unit", &unit);
    if (unit < 0 || unit > DISTUNIT_MAX) {
        xfer_fail (xf, listed, EPROTO, "rank %u: archive.fetch: bad unit size %lld", overlay_rank (ov),
                   (long long)unit);
        return;
    }
    if (xf->sealreq) {
        if (!(xf->seal = svc->dp ? dataplane_dist_join (svc->dp, xf->name, m, xf->sealreq, err, sizeof err)
                                 : NULL)) {
            xfer_fail (xf, listed, svc->dp ? EPROTO : ENOTSUP, "rank %u: %s", overlay_rank (ov),
                       svc->dp ? err : "no data plane here (see its log)");
            return;
        }
        json_decref (xf->sealreq);
        xf->sealreq = NULL;
    }
    /* transfer units: the same table as every other broker's */
    uint32_t *lens = xcalloc (m->nchunks ? m->nchunks : 1, sizeof (uint32_t));
    for (size_t i = 0; i < m->nchunks; i++)
        lens[i] = m->chunks[i].len;
    xf->unit = unit;
    xf->ut = distunits_new (lens, m->nchunks, unit, err, sizeof err);
    free (lens);
    if (!xf->ut) {
        xfer_fail (xf, listed, EPROTO, "rank %u: archive %s: %s", overlay_rank (ov), xf->name, err);
        return;
    }
    size_t nu = distunits_count (xf->ut);
    xf->requested = xcalloc (nu ? nu : 1, 1);
    xf->ugot = xcalloc (nu ? nu : 1, 1);
    xf->asms = zhashx_new ();
    zhashx_set_destructor (xf->asms, cbuf_free);
    xf->asm_max = m->chunk_size && ASM_BYTES / m->chunk_size > 2 ? ASM_BYTES / m->chunk_size : 2;
    if (xf->asm_max > ASM_MAX)
        xf->asm_max = ASM_MAX;
    /* window chunks' worth of units: the bytes in flight per link as before */
    uint32_t cs = m->chunk_size ? m->chunk_size : MANIFEST_CHUNK_DEFAULT;
    uint64_t uw = (uint64_t)xf->window * (unit && unit < cs ? (cs + unit - 1) / unit : 1);
    xf->uwindow = uw > UNIT_WINDOW_MAX ? (xf->window > UNIT_WINDOW_MAX ? xf->window : UNIT_WINDOW_MAX) : uw;
    for (size_t i = 0; i < m->nchunks; i++)
        xf->bytes_total += m->chunks[i].len;
    /* requests parked while the manifest came in: an index past its table
     * has no unit */
    struct parked *p = zlistx_first (xf->parked);
    while (p) {
        struct parked *next = zlistx_next (xf->parked);
        if (p->idx >= nu) {
            zlistx_detach (xf->parked, zlistx_find (xf->parked, p));
            overlay_respond_error (ov, &p->req, EINVAL, "archive %s: no unit %u", xf->name, p->idx);
            free (p);
            next = zlistx_first (xf->parked);
        }
        p = next;
    }
    if (archive_mkdir_p (xf->dest) < 0) {
        int e = errno;
        xfer_fail (xf, listed, e, "rank %u: cannot create %s: %s", overlay_rank (ov), xf->dest, strerror (e));
        return;
    }
    int lk = extract_lock (xf->dest, false, err, sizeof err);
    if (lk == -EWOULDBLOCK) {
        /* another broker of this host is extracting into dest: wait (the
         * tick retries the lock), then take what it left (xfer_begin) */
        xf->waiting = true;
        if (!listed)
            zlistx_add_end (svc->xfers, xf);
        overlay_log (ov, "archive %s: %s is being extracted by another broker on this host; waiting",
                     xf->name, xf->dest);
        overlay_respond (ov, &xf->req, json_pack ("{s:I s:b}", "have", (json_int_t)0, "waiting", 1),
                         NULL, 0);
        return;
    }
    if (lk < 0) {
        xfer_fail (xf, listed, EIO, "rank %u: %s", overlay_rank (ov), err);
        return;
    }
    xf->lockfd = lk;
    xfer_begin (xf, listed);
}

/* the source: the last upstream of stripe 0 */
static uint32_t xfer_source (const struct xfer *xf)
{
    return xf->st[0].ups[xf->st[0].nups - 1];
}

static void on_page (overlay_t *ov, const cmsg_t *msg, void *arg);

/* Ask the source for the next manifest page, or, with every page in, go on
 * with the assembled manifest (doc/archive.md, "Manifest pages"). */
static void xfer_page_next (struct xfer *xf)
{
    overlay_t *ov = xf->svc->ov;
    char err[512];
    size_t next = manifest_asm_next (xf->masm);
    if (next >= manifest_asm_npages (xf->masm)) {
        manifest_t *m = manifest_asm_finish (xf->masm, err, sizeof err);
        manifest_asm_destroy (&xf->masm);
        xf->page_tag = 0;
        if (!m) {
            xfer_fail (xf, true, EPROTO, "rank %u: archive %s: bad manifest: %s", overlay_rank (ov), xf->name, err);
            return;
        }
        xf->loading = false;
        xfer_ready (xf, m, true);
        return;
    }
    xf->page_sent = now_ms ();
    xf->page_tag = 0;
    char perr[256];
    if (overlay_peer_rpc (ov, xfer_source (xf), "archive.mpage",
                          json_pack ("{s:s s:I}", "name", xf->name, "page", (json_int_t)next), NULL, 0, 0, on_page,
                          xf, &xf->page_tag, perr, sizeof perr) < 0)
        xf->page_tag = 0;
    if (!xf->page_tag)
        xfer_fail (xf, true, EHOSTUNREACH, "rank %u: cannot ask rank %u for the manifest", overlay_rank (ov),
                   xfer_source (xf));
}

static void on_page (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    struct xfer *xf = arg;
    if (msg->hdr.matchtag != xf->page_tag || !xf->masm)
        return;
    xf->page_tag = 0;
    size_t page = manifest_asm_next (xf->masm);
    char err[512];
    if (msg->hdr.errnum || !msg->data) {
        const char *es = NULL;
        json_unpack (msg->json, "{s:s}", "errstr", &es);
        xfer_fail (xf, true, msg->hdr.errnum ? msg->hdr.errnum : EPROTO,
                   "rank %u: manifest page %zu from rank %u: %s", overlay_rank (ov), page, xfer_source (xf),
                   es ? es : msg->hdr.errnum ? strerror (msg->hdr.errnum) : "no data");
        return;
    }
    if (manifest_asm_page (xf->masm, msg->data, msg->data_len, err, sizeof err) < 0) {
        xfer_fail (xf, true, EPROTO, "rank %u: archive %s: %s", overlay_rank (ov), xf->name, err);
        return;
    }
    xfer_page_next (xf);
}

void archive_fetch_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    archive_svc_t *svc = arg;
    const char *name = NULL, *dest = NULL;
    json_t *ups = NULL, *stripes = NULL;
    json_int_t window = DEFAULT_WINDOW;
    if (json_unpack (msg->json, "{s:s s:s s:o s?I s?o}", "name", &name, "dest", &dest, "upstreams", &ups,
                     "window", &window, "stripes", &stripes) < 0
        || !stripes_valid (stripes ? stripes : ups, !stripes, overlay_size (ov)) || window < 1
        || window > 256 || !msg->data) {
        overlay_respond_error (ov, &msg->hdr, EPROTO, "archive.fetch: malformed request");
        return;
    }
    if (find_xfer (svc, name)) {
        overlay_respond_error (ov, &msg->hdr, EBUSY, "archive %s: a transfer is already running here", name);
        return;
    }
    zhashx_delete (svc->failed, name);
    char err[512];
    /* the data is the manifest's head (its pages are fetched next), or,
     * from an older controller, the whole manifest */
    bool paged = manifest_is_head (msg->data, msg->data_len);
    manifest_asm_t *masm = NULL;
    manifest_t *m = NULL;
    if (paged ? !(masm = manifest_asm_new (msg->data, msg->data_len, err, sizeof err))
              : !(m = manifest_decode (msg->data, msg->data_len, err, sizeof err))) {
        overlay_respond_error (ov, &msg->hdr, EPROTO, "archive %s: bad manifest: %s", name, err);
        return;
    }
    if (masm && strcmp (manifest_asm_name (masm), name)) {
        overlay_respond_error (ov, &msg->hdr, EPROTO, "archive %s: the manifest is of archive %s", name,
                               manifest_asm_name (masm));
        manifest_asm_destroy (&masm);
        return;
    }
    struct xfer *xf = xcalloc (1, sizeof *xf);
    xf->svc = svc;
    xf->name = xstrdup (name);
    xf->dest = archive_dest_subst (dest, overlay_rank (ov));
    xf->req = msg->hdr;
    xf->window = window;
    xf->sealreq = json_incref (json_object_get (msg->json, "seal"));
    xf->hold = xf->sealreq && json_is_true (json_object_get (msg->json, "hold"));
    xf->hold_since = now_ms ();
    xf->nst = stripes ? json_array_size (stripes) : 1;
    for (int s = 0; s < xf->nst; s++) {
        json_t *l = stripes ? json_array_get (stripes, s) : ups;
        struct stripe *st = &xf->st[s];
        st->nups = json_array_size (l);
        st->ups = xcalloc (st->nups, sizeof (uint32_t));
        for (size_t i = 0; i < st->nups; i++)
            st->ups[i] = json_integer_value (json_array_get (l, i));
        st->last_progress = now_ms ();
        st->cursor = s;
    }
    xf->tags = zhashx_new ();
    xf->rescues = zhashx_new ();   /* values freed by hand (rescue_drop_all) */
    xf->parked = zlistx_new ();
    xf->noted = zhashx_new ();
    xf->t0 = zclock_usecs () / 1e6;
    xf->lockfd = -1;
    if (!masm) {
        xfer_ready (xf, m, false);
        return;
    }
    xf->masm = masm;
    xf->loading = true;
    zlistx_add_end (svc->xfers, xf);
    overlay_respond (ov, &msg->hdr, json_pack ("{s:I}", "have", (json_int_t)0), NULL, 0);
    xfer_page_next (xf);
}

/* archive.mpage {name, page}: a page of an archive's manifest, straight
 * from the content store (a distribution's source answers its targets). */
void archive_mpage_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    archive_svc_t *svc = arg;
    const char *name = NULL;
    json_int_t page = -1;
    if (json_unpack (msg->json, "{s:s s:I}", "name", &name, "page", &page) < 0 || page < 0) {
        overlay_respond_error (ov, &msg->hdr, EPROTO, "archive.mpage: malformed request");
        return;
    }
    char err[512];
    size_t len = 0;
    char *text = manifest_name_valid (name) ? cstore_manifest_page (svc->cs, name, page, &len, err, sizeof err)
                                            : NULL;
    if (!text) {
        overlay_respond_error (ov, &msg->hdr, ENOENT, "rank %u: %s", overlay_rank (ov),
                               manifest_name_valid (name) ? err : "invalid archive name");
        return;
    }
    overlay_respond (ov, &msg->hdr, NULL, text, len);
    free (text);
}

/* Start (or, after waiting for the lock, resume) target xf: the extraction
 * (identical files already in dest are kept), then pull what is missing. */
static void xfer_begin (struct xfer *xf, bool listed)
{
    archive_svc_t *svc = xf->svc;
    overlay_t *ov = svc->ov;
    manifest_t *m = xf->m;
    const char *name = xf->name;
    char err[512];
    xf->waiting = false;
    for (int s = 0; s < xf->nst; s++)
        xf->st[s].last_progress = now_ms ();
    xf->x = extract_new (m, xf->dest, EXTRACT_KEEP_SAME, err, sizeof err);
    if (!xf->x) {
        if (listed)
            xfer_finish (xf, errno == ENOSPC ? ENOSPC : EIO, err);
        else {
            overlay_respond_error (ov, &xf->req, errno == ENOSPC ? ENOSPC : EIO, "%s", err);
            archive_xfer_free (xf);
        }
        return;
    }
    if (extract_kept (xf->x))
        overlay_log (ov, "archive %s: %zu entries already in %s and identical (kept)", name,
                     extract_kept (xf->x), xf->dest);
    for (size_t i = 0; i < m->nchunks; i++)
        if (extract_have (xf->x, i))
            xf->bytes_have += m->chunks[i].len;
    for (size_t j = 0; j < distunits_count (xf->ut); j++) {
        struct stripe *st = &xf->st[j % xf->nst];
        if (unit_have (xf, j))
            xf->ugot[j] = 1;
        else
            st->missing++;
    }
    if (!listed)
        zlistx_add_end (svc->xfers, xf);
    if (extract_missing (xf->x) < m->nchunks)
        overlay_log (ov, "archive %s: resumed %zu of %zu chunks already here", name,
                     m->nchunks - extract_missing (xf->x), m->nchunks);
    overlay_respond (ov, &xf->req, json_pack ("{s:I s:I}", "have", (json_int_t)xf->bytes_have,
                                               "resumed", (json_int_t)(m->nchunks - extract_missing (xf->x))),
                     NULL, 0);
    if (extract_missing (xf->x) == 0) {
        extract_done (xf->x, err, sizeof err);
        extract_destroy (&xf->x);
        cstore_archive_adopt (svc->cs, xf->m, xf->dest, CSTORE_REPLACE | CSTORE_VERIFIED, err, sizeof err);
        xfer_finish (xf, 0, NULL);
        return;
    }
    if (xf->hold)
        xfer_warm (xf);
    xfer_pump (xf);
}

/* A ping answered (or failed: the data requests will find out again). */
static void on_warm (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    struct xfer *xf = arg;
    for (int s = 0; msg && s < 2 * MAX_STRIPES; s++)
        if (xf->warm_tags[s] == msg->hdr.matchtag)
            xf->warm_tags[s] = 0;
    if (xf->warming > 0 && --xf->warming == 0)
        overlay_respond (ov, &xf->req, json_pack ("{s:I s:b}", "have", (json_int_t)xf->bytes_have, "ready", 1),
                         NULL, 0);
}

/* Links before data (doc/distribution.md): open the data link to every
 * stripe's upstream and first fallback and ping it; tell the controller
 * "ready" when all answered.  No request then reaches an upstream that has
 * not registered the distribution, no handshake waits behind chunks, and a
 * switch to the first fallback finds its link open. */
static void xfer_warm (struct xfer *xf)
{
    archive_svc_t *svc = xf->svc;
    uint32_t seen[2 * MAX_STRIPES];
    int nseen = 0;
    xf->warming = 1;   /* held until every ping is out */
    for (int k = 0; k < 2 * xf->nst; k++) {   /* each stripe's upstream, then its first fallback */
        struct stripe *st = &xf->st[k % xf->nst];
        size_t at = st->upi + k / xf->nst;
        if (at >= st->nups)
            continue;
        uint32_t up = st->ups[at];
        bool dup = false;
        for (int i = 0; i < nseen; i++)
            dup = dup || seen[i] == up;
        if (dup || !svc->dp)
            continue;
        seen[nseen++] = up;
        if ((xf->warm_tags[k] = dataplane_ping (svc->dp, up, on_warm, xf)))
            xf->warming++;
    }
    on_warm (svc->ov, NULL, xf);
}

/* ================= server side ================= */

/* archive.chunk {name, idx, hash, len}: another target's rescue of a chunk
 * damaged at its source.  Answered at once, never parked: from this
 * broker's transfer of the archive if the chunk is here, else from any
 * archive in the store that holds those bytes (content-addressed, verified
 * when read), else EAGAIN. */
static void verified_copy_request (archive_svc_t *svc, struct xfer *xf, const cmsg_t *msg, uint32_t idx)
{
    overlay_t *ov = svc->ov;
    const char *hex = NULL;
    json_int_t len = 0;
    uint8_t hash[SHA256_LEN];
    if (json_unpack (msg->json, "{s:s s:I}", "hash", &hex, "len", &len) < 0 || sha256_parse_hex (hex, hash) < 0
        || len < 1 || len > MANIFEST_CHUNK_MAX) {
        overlay_respond_error (ov, &msg->hdr, EPROTO, "archive.chunk: malformed request");
        return;
    }
    if (xf && !xf->finished && !xf->loading && !xf->waiting && idx < xf->m->nchunks
        && xf->m->chunks[idx].len == len && !memcmp (xf->m->chunks[idx].hash, hash, SHA256_LEN)
        && extract_have (xf->x, idx)) {
        serve_from_xfer (xf, &msg->hdr, idx);
        return;
    }
    uint8_t *buf = overlay_buf_new (len);
    char err[512];
    ssize_t n = buf ? cstore_chunk_read_hash (svc->cs, hash, len, buf, len, err, sizeof err) : -ENOMEM;
    if (n != len) {
        overlay_buf_free (buf);
        overlay_respond_error (ov, &msg->hdr, EAGAIN, "rank %u: no verified copy of that chunk here",
                               overlay_rank (ov));
        return;
    }
    overlay_respond_give (ov, &msg->hdr, NULL, buf, n);
}

void archive_chunk_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    archive_svc_t *svc = arg;
    const char *name = NULL;
    json_int_t idx = -1, nc = 1, unit = -1, usz = 0;
    if (json_unpack (msg->json, "{s:s s:I s?I s?I s?I}", "name", &name, "idx", &idx, "n", &nc, "unit", &unit,
                     "u", &usz) < 0 || idx < 0 || nc < 1 || nc > DISTUNIT_PACK_MAX) {
        overlay_respond_error (ov, &msg->hdr, EPROTO, "archive.chunk: malformed request");
        return;
    }
    struct xfer *xf = find_xfer (svc, name);
    /* from the data plane: unit `unit` of the table of unit size usz, chunks
     * idx..idx+nc-1 (doc/distribution.md, "Transfer units"); a transfer here
     * parks and serves by unit */
    json_int_t ux = unit >= 0 ? unit : idx;
    if (json_object_get (msg->json, "hash")) {
        verified_copy_request (svc, xf, msg, idx);
        return;
    }
    if (xf && !xf->finished && xf->loading) {
        /* its manifest is still coming: alive and about to fill, so park the
         * request (progress notes keep the downstream's stall timer going);
         * an index past the table is refused once the manifest is in */
        struct parked *p = xcalloc (1, sizeof *p);
        p->req = msg->hdr;
        p->idx = ux;
        p->since = now_ms ();
        zlistx_add_end (xf->parked, p);
        return;
    }
    if (xf && !xf->finished && xf->waiting) {
        /* nothing here until the other extraction into our dest is done:
         * send the downstream on to its next upstream at once */
        overlay_respond_error (ov, &msg->hdr, EBUSY, "rank %u: waiting for another extraction into %s",
                               overlay_rank (ov), xf->dest);
        return;
    }
    if (xf && !xf->finished) {
        if ((size_t)ux >= distunits_count (xf->ut)) {
            overlay_respond_error (ov, &msg->hdr, EINVAL, "archive %s: no unit %lld", name, (long long)ux);
            return;
        }
        if (unit >= 0 && (uint32_t)usz != xf->unit) {
            overlay_respond_error (ov, &msg->hdr, EAGAIN, "rank %u: archive %s moves in units of %u bytes here",
                                   overlay_rank (ov), name, xf->unit);
            return;
        }
        if (unit_have (xf, ux)) {
            const distunit_t *u = distunits_get (xf->ut, ux);
            serve_chunks_from_xfer (xf, &msg->hdr, u->chunk, u->nchunks);
            return;
        }
        struct parked *p = xcalloc (1, sizeof *p);
        p->req = msg->hdr;
        p->idx = ux;
        p->since = now_ms ();
        zlistx_add_end (xf->parked, p);
        return;
    }
    char err[256];
    const manifest_t *m = cstore_archive_get (svc->cs, name, err, sizeof err);
    if (!m) {
        const char *why = zhashx_lookup (svc->failed, name);
        if (why)
            overlay_respond_error (ov, &msg->hdr, EIO, "rank %u: its transfer failed: %s",
                                   overlay_rank (ov), why);
        else
            overlay_respond_error (ov, &msg->hdr, EAGAIN, "archive %s not here yet", name);
        return;
    }
    if ((size_t)idx + nc > m->nchunks) {
        overlay_respond_error (ov, &msg->hdr, EINVAL, "archive %s: no chunk %lld", name,
                               (long long)(idx + nc - 1));
        return;
    }
    size_t len = 0;
    for (json_int_t k = 0; k < nc; k++)
        len += m->chunks[idx + k].len;
    uint8_t *buf = overlay_buf_new (len);
    if (!buf) {
        overlay_respond_error (ov, &msg->hdr, ENOMEM, "rank %u: out of memory", overlay_rank (ov));
        return;
    }
    char cerr[512] = "short read";
    /* the data plane's sealer hashes what it seals: no second hash here (a
     * mismatch comes back as a request without sealer_hashes, read and
     * reported below as ever; doc/distribution.md, "Sealed data plane") */
    int rflags = (msg->hdr.flags & CMSG_F_DATA) && json_is_true (json_object_get (msg->json, "sealer_hashes"))
                     ? CSTORE_READ_CALLER_HASHES : 0;
    ssize_t n = 0;   /* a unit's chunks one after another */
    bool known = true;   /* every one known good (the sealer need not hash) */
    for (json_int_t k = 0; k < nc && n >= 0; k++) {
        size_t cl = m->chunks[idx + k].len;
        bool v = false;
        ssize_t r = cstore_chunk_read_flags (svc->cs, name, idx + k, buf + n, cl, rflags, &v, cerr, sizeof cerr);
        n = r < 0 ? r : r != (ssize_t)cl ? -EIO : n + r;
        known = known && v;
    }
    if (n == -EBADMSG) {
        /* what this store holds no longer matches its hash (a corrupt blob,
         * a changed source or extracted file): the store marked the archive
         * damaged; say so at once, so the target moves to another upstream
         * or, when this is its last (the source), fails with this message */
        overlay_buf_free (buf);
        overlay_log (ov, "%s", cerr);
        overlay_respond_error (ov, &msg->hdr, EBADMSG, "rank %u: %s", overlay_rank (ov), cerr);
    }
    else if (n < 0) { /* not here (yet): the downstream retries (and its
                       * stall timer moves on if it lasts) */
        overlay_buf_free (buf);
        overlay_respond_error (ov, &msg->hdr, EAGAIN, "rank %u: %s", overlay_rank (ov), cerr);
    }
    else {
        /* fault injection for tests: CANOPY_TEST_CORRUPT=N flips a byte in
         * every Nth chunk this broker serves from its store */
        static long served;
        const char *ci = getenv ("CANOPY_TEST_CORRUPT");
        if (ci && atol (ci) > 0 && ++served % atol (ci) == 0 && n > 0) {
            buf[n / 2] ^= 0x5a;
            known = false;   /* bytes gone bad after the read: not known good */
            overlay_log (ov, "test: corrupting chunk %lld of %s", (long long)idx, name);
        }
        /* known good bytes: the data plane's sealer need not hash them
         * (doc/distribution.md, "One hash at the source") */
        overlay_respond_give (ov, &msg->hdr, rflags && known ? json_pack ("{s:b}", "verified", 1) : NULL, buf, n);
    }
}


/* Requests parked for NOTE_MS get a progress note instead of the chunk
 * (doc/distribution.md, "Stall rule"): how many bytes this relay has and
 * how long since its own stripe last made progress, so the downstream
 * knows it is alive and filling; the downstream asks again. */
static void xfer_note_parked (struct xfer *xf, int64_t now)
{
    /* at most one note per downstream and stripe every note_ms: one live
     * note is enough to keep that stripe's stall timer going, and each
     * note costs a message and a request again on both sides */
    struct parked *p = zlistx_first (xf->parked);
    while (p) {
        struct parked *next = zlistx_next (xf->parked);
        if (now - p->since >= note_ms ()) {
            char key[32];
            snprintf (key, sizeof key, "%u:%u", p->req.src, p->idx % xf->nst);
            int64_t last = (int64_t)(intptr_t)zhashx_lookup (xf->noted, key);
            if (!last || now - last >= note_ms ()) {
                zhashx_update (xf->noted, key, (void *)(intptr_t)now);
                zlistx_detach (xf->parked, zlistx_find (xf->parked, p));
                struct stripe *st = stripe_of (xf, p->idx);
                overlay_respond (xf->svc->ov, &p->req,
                                 json_pack ("{s:b s:I s:I}", "filling", 1, "have", (json_int_t)xf->bytes_have,
                                            "idle_ms", (json_int_t)(now - st->last_progress)),
                                 NULL, 0);
                free (p);
                next = zlistx_first (xf->parked);   /* the list changed: walk again */
            }
        }
        p = next;
    }
}


void archive_target_tick (archive_svc_t *svc, int64_t now)
{
    /* targets: progress reports, retries after EAGAIN, stall detection */
    struct xfer *xf = zlistx_first (svc->xfers);
    while (xf) {
        struct xfer *next = zlistx_next (svc->xfers);
        if (now - xf->last_report >= PROGRESS_MS) {
            xf->last_report = now;
            json_t *miss = json_array ();   /* per stripe: the controller's slow watch */
            for (int s = 0; s < xf->nst && !xf->loading; s++)
                json_array_append_new (miss, json_integer ((json_int_t)xf->st[s].missing));
            overlay_respond (svc->ov, &xf->req,
                             json_pack ("{s:I s:o}", "have", (json_int_t)xf->bytes_have, "missing", miss), NULL, 0);
        }
        if (xf->loading) {
            if (now - xf->page_sent > SOURCE_GIVEUP_MS) {
                xfer_finish (xf, ETIMEDOUT, "no manifest page from the source (stalled)");
                break;   /* the list changed */
            }
            xfer_note_parked (xf, now);
            xf = next;
            continue;
        }
        if (xf->waiting) {
            char lerr[256];
            int lk = extract_lock (xf->dest, false, lerr, sizeof lerr);
            if (lk == -EWOULDBLOCK) {
                xf = next;
                continue;
            }
            if (lk < 0) {
                xfer_finish (xf, EIO, lerr);
                break;   /* the list changed */
            }
            xf->lockfd = lk;
            xfer_begin (xf, true);
            break;   /* xf may be gone: the next tick goes on */
        }
        xfer_note_parked (xf, now);
        if (xf->hold && now - xf->hold_since > HOLD_MAX_MS) {   /* no archive.go: start anyway */
            overlay_log (svc->ov, "archive %s: no word to start for %d s; starting", xf->name, HOLD_MAX_MS / 1000);
            xf->hold = false;
            for (int s = 0; s < xf->nst; s++)
                xf->st[s].last_progress = now;
        }
        if (xf->hold) {   /* no requests out: nothing can stall */
            xf = next;
            continue;
        }
        bool gone = false;
        for (int s = 0; s < xf->nst && !gone; s++) {
            struct stripe *st = &xf->st[s];
            if (st->missing == 0)
                continue;   /* this stripe is complete: nothing to wait for */
            if (xf->seal && svc->dp) {   /* the data link's lookup is not the upstream's silence */
                int64_t ready = dataplane_link_since (svc->dp, st->ups[st->upi]);
                if (ready > st->last_progress)
                    st->last_progress = ready;
            }
            if (now - st->last_progress > stall_ms () && st->upi + 1 >= st->nups
                && now - st->last_progress < SOURCE_GIVEUP_MS) {
                /* the source is the last resort: a slow share of its link is
                 * no reason to fail; ask again */
            }
            else if (now - st->last_progress > stall_ms ()) {
                xfer_switch_upstream (xf, s, "no data (stalled)");
                gone = true; /* xf may be gone and the list changed: the next tick goes on */
            }
        }
        if (gone)
            break;
        xfer_pump (xf);
        xf = next;
    }
}

/* The running transfer name that msg (verb) is about, if msg comes from its
 * controller; else NULL, msg answered with the error. */
static struct xfer *controllers_xfer (archive_svc_t *svc, const cmsg_t *msg, const char *name, const char *verb)
{
    overlay_t *ov = svc->ov;
    struct xfer *xf = find_xfer (svc, name);
    if (!xf || xf->finished) {
        overlay_respond_error (ov, &msg->hdr, ENOENT, "archive %s: no transfer runs here", name);
        return NULL;
    }
    if (msg->hdr.src != xf->req.src) {
        overlay_respond_error (ov, &msg->hdr, EPERM, "archive %s: %s from rank %u, not the controller (rank %u)",
                               name, verb, msg->hdr.src, xf->req.src);
        return NULL;
    }
    return xf;
}

/* archive.replan {name, stripes}: the controller moved a slow target out of
 * the way (doc/distribution.md, "Slow targets"); take the new upstream lists
 * and pull from the new first upstream of any stripe that changed. */
void archive_replan_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    archive_svc_t *svc = arg;
    const char *name = NULL;
    json_t *stripes = NULL;
    if (json_unpack (msg->json, "{s:s s:o}", "name", &name, "stripes", &stripes) < 0
        || !stripes_valid (stripes, false, overlay_size (ov))) {
        overlay_respond_error (ov, &msg->hdr, EPROTO, "archive.replan: malformed request");
        return;
    }
    struct xfer *xf = controllers_xfer (svc, msg, name, "replan");
    if (!xf)
        return;
    if ((int)json_array_size (stripes) != xf->nst) {
        overlay_respond_error (ov, &msg->hdr, EPROTO, "archive %s: replan with %zu stripes, the transfer has %d",
                               name, json_array_size (stripes), xf->nst);
        return;
    }
    for (int s = 0; s < xf->nst; s++) {
        json_t *l = json_array_get (stripes, s);
        struct stripe *st = &xf->st[s];
        uint32_t old = st->ups[st->upi];
        uint32_t first = json_integer_value (json_array_get (l, 0));
        if (first != old && xf->x)
            stripe_cancel (xf, s);
        free (st->ups);
        st->nups = json_array_size (l);
        st->ups = xcalloc (st->nups, sizeof (uint32_t));
        for (size_t i = 0; i < st->nups; i++)
            st->ups[i] = json_integer_value (json_array_get (l, i));
        st->upi = 0;
        if (first != old) {
            st->last_progress = now_ms ();
            overlay_log (ov, "archive %s: stripe %d: now pulling from rank %u instead of rank %u (replanned)",
                         name, s, first, old);
        }
    }
    overlay_respond (ov, &msg->hdr, json_object (), NULL, 0);
    if (xf->x && !xf->loading && !xf->waiting)
        xfer_pump (xf);
}

/* archive.go {name}: every target's links are up (or the controller waited
 * long enough): start pulling. */
void archive_go_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    archive_svc_t *svc = arg;
    const char *name = NULL;
    if (json_unpack (msg->json, "{s:s}", "name", &name) < 0) {
        overlay_respond_error (ov, &msg->hdr, EPROTO, "archive.go: malformed request");
        return;
    }
    struct xfer *xf = controllers_xfer (svc, msg, name, "go");
    if (!xf)
        return;
    overlay_respond (ov, &msg->hdr, json_object (), NULL, 0);
    if (!xf->hold)
        return;
    xf->hold = false;
    for (int s = 0; s < xf->nst; s++)
        xf->st[s].last_progress = now_ms ();
    if (xf->x && !xf->loading && !xf->waiting)
        xfer_pump (xf);
}
