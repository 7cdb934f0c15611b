/* archive_target.c - the target side of a distribution: one struct xfer
 * per archive.fetch pulls the chunks it lacks from its upstreams and serves
 * archive.chunk to its own downstreams (doc/distribution.md).
 *
 *  - pulling: a window of requests per stripe (chunk i travels stripe
 *    i mod nstripes, one upstream each), each chunk verified and written
 *    (extract.c); on errors or stalls a stripe moves to its next fallback
 *    upstream;
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
static void xfer_begin (struct xfer *xf, bool listed);
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

static void serve_from_xfer (struct xfer *xf, const cmsg_hdr_t *req, uint32_t idx)
{
    archive_svc_t *svc = xf->svc;
    char err[256];
    size_t len = xf->m->chunks[idx].len;
    /* read straight into the buffer the response frame takes over */
    uint8_t *buf = overlay_buf_new (len);
    ssize_t n = buf ? extract_read (xf->x, idx, buf, len, err, sizeof err) : -ENOMEM;
    if (n < 0) {
        overlay_buf_free (buf);
        overlay_respond_error (svc->ov, req, EIO, "rank %u: %s", overlay_rank (svc->ov),
                               buf ? err : "out of memory");
    }
    else {
        xf->served_disk++;
        overlay_respond_give (svc->ov, req, NULL, buf, n);
    }
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
    zlistx_t *keys = zhashx_keys (xf->tags);
    for (char *k = zlistx_first (keys); k; k = zlistx_next (keys))
        overlay_rpc_cancel (ov, strtoul (k, NULL, 10));
    zlistx_destroy (&keys);
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
static void xfer_switch_upstream (struct xfer *xf, int s, const char *why)
{
    overlay_t *ov = xf->svc->ov;
    struct stripe *st = &xf->st[s];
    uint32_t old = st->ups[st->upi];
    zlistx_t *keys = zhashx_keys (xf->tags);
    for (char *k = zlistx_first (keys); k; k = zlistx_next (keys)) {
        uint32_t idx = (uintptr_t)zhashx_lookup (xf->tags, k) - 1;
        if ((int)(idx % xf->nst) != s)
            continue;
        overlay_rpc_cancel (ov, strtoul (k, NULL, 10));
        xf->requested[idx] = 0;
        zhashx_delete (xf->tags, k);
    }
    zlistx_destroy (&keys);
    st->inflight = 0;
    st->corrupt = 0;
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

static void on_chunk (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    struct xfer *xf = arg;
    char key[16];
    snprintf (key, sizeof key, "%u", msg->hdr.matchtag);
    uintptr_t v = (uintptr_t)zhashx_lookup (xf->tags, key);
    if (!v)
        return;
    uint32_t idx = v - 1;
    struct stripe *st = stripe_of (xf, idx);
    int s = idx % xf->nst;
    zhashx_delete (xf->tags, key);
    st->inflight--;
    xf->requested[idx] = 0;
    if (msg->hdr.errnum == EAGAIN)
        return; /* upstream has no such transfer (yet): the tick retries, and
                 * the stall timer moves on if that lasts */
    if (msg->hdr.errnum) {
        const char *es = NULL;
        json_unpack (msg->json, "{s:s}", "errstr", &es);
        if (msg->hdr.errnum == EBADMSG && st->upi + 1 >= st->nups) {
            /* the last resort (the source) holds a damaged copy: no point
             * in waiting, fail now with its message */
            xfer_finish (xf, EBADMSG, es ? es : "damaged at the source");
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
    bool had = extract_have (xf->x, idx);
    /* CMSG_F_DATA: the data plane opened it and checked its SHA-256 already */
    int rc = had ? 0
             : (msg->hdr.flags & CMSG_F_DATA) ? extract_put_verified (xf->x, idx, msg->data, msg->data_len, err, sizeof err)
                                             : extract_put (xf->x, idx, msg->data, msg->data_len, err, sizeof err);
    if (rc == EXTRACT_ECORRUPT) {
        xf->corrupt_total++;
        overlay_log (ov, "archive %s: chunk %u from rank %u is corrupt, fetching again", xf->name, idx,
                     st->ups[st->upi]);
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
    test_slow (ov);
    if (!had && st->missing)
        st->missing--;
    xf->fetched_chunks++;
    st->corrupt = 0;
    xf->bytes_have += msg->data_len;
    st->last_progress = now_ms ();
    /* serve downstream requests parked on this chunk */
    struct parked *p = zlistx_first (xf->parked);
    while (p) {
        struct parked *next = zlistx_next (xf->parked);
        if (p->idx == idx) {
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

/* Keep `window` requests outstanding on each stripe, lowest missing chunks
 * of that stripe first. */
static void xfer_pump (struct xfer *xf)
{
    overlay_t *ov = xf->svc->ov;
    for (int s = 0; s < xf->nst; s++) {
        struct stripe *st = &xf->st[s];
        int64_t from = s;
        while (st->inflight < xf->window) {
            int64_t idx = extract_next_missing (xf->x, from);
            while (idx >= 0 && (xf->requested[idx] || idx % xf->nst != s))
                idx = extract_next_missing (xf->x, idx + 1);
            if (idx < 0)
                break;
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
            from = idx + 1;
        }
    }
}

void archive_xfer_free (struct xfer *xf)
{
    if (!xf)
        return;
    struct parked *p;
    while ((p = zlistx_detach (xf->parked, NULL)))
        free (p);
    zlistx_destroy (&xf->parked);
    zhashx_destroy (&xf->noted);
    zhashx_destroy (&xf->tags);
    if (xf->x)
        extract_destroy (&xf->x);
    manifest_destroy (&xf->m);
    free (xf->requested);
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
    manifest_t *m = manifest_decode (msg->data, msg->data_len, err, sizeof err);
    if (!m) {
        overlay_respond_error (ov, &msg->hdr, EPROTO, "archive %s: bad manifest: %s", name, err);
        return;
    }
    json_t *seal = json_object_get (msg->json, "seal");
    char *sealid = NULL;
    if (seal && !(sealid = svc->dp ? dataplane_dist_join (svc->dp, name, m, seal, err, sizeof err) : NULL)) {
        overlay_respond_error (ov, &msg->hdr, svc->dp ? EPROTO : ENOTSUP, "rank %u: %s", overlay_rank (ov),
                               svc->dp ? err : "no data plane here (see its log)");
        manifest_destroy (&m);
        return;
    }
    char *d = archive_dest_subst (dest, overlay_rank (ov));
    struct xfer *xf = xcalloc (1, sizeof *xf);
    xf->seal = sealid;
    xf->svc = svc;
    xf->name = xstrdup (name);
    xf->dest = d;
    xf->m = m;
    xf->req = msg->hdr;
    xf->window = window;
    xf->nst = stripes ? json_array_size (stripes) : 1;
    for (int s = 0; s < xf->nst; s++) {
        json_t *l = stripes ? json_array_get (stripes, s) : ups;
        struct stripe *st = &xf->st[s];
        st->nups = json_array_size (l);
        st->ups = xcalloc (st->nups, sizeof (uint32_t));
        for (size_t i = 0; i < st->nups; i++)
            st->ups[i] = json_integer_value (json_array_get (l, i));
        st->last_progress = now_ms ();
    }
    xf->tags = zhashx_new ();
    xf->parked = zlistx_new ();
    xf->noted = zhashx_new ();
    xf->requested = xcalloc (m->nchunks ? m->nchunks : 1, 1);
    xf->t0 = zclock_usecs () / 1e6;
    for (size_t i = 0; i < m->nchunks; i++)
        xf->bytes_total += m->chunks[i].len;
    xf->lockfd = -1;
    if (archive_mkdir_p (d) < 0) {
        int e = errno;
        overlay_respond_error (ov, &msg->hdr, e, "rank %u: cannot create %s: %s", overlay_rank (ov), d, strerror (e));
        archive_xfer_free (xf);
        return;
    }
    int lk = extract_lock (d, false, err, sizeof err);
    if (lk == -EWOULDBLOCK) {
        /* another broker of this host is extracting into d: wait (the tick
         * retries the lock), then take what it left (xfer_begin) */
        xf->waiting = true;
        zlistx_add_end (svc->xfers, xf);
        overlay_log (ov, "archive %s: %s is being extracted by another broker on this host; waiting",
                     name, d);
        overlay_respond (ov, &msg->hdr, json_pack ("{s:I s:b}", "have", (json_int_t)0, "waiting", 1),
                         NULL, 0);
        return;
    }
    if (lk < 0) {
        overlay_respond_error (ov, &msg->hdr, EIO, "rank %u: %s", overlay_rank (ov), err);
        archive_xfer_free (xf);
        return;
    }
    xf->lockfd = lk;
    xfer_begin (xf, false);
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
    for (size_t i = 0; i < m->nchunks; i++) {
        if (extract_have (xf->x, i))
            xf->bytes_have += m->chunks[i].len;
        else
            xf->st[i % xf->nst].missing++;
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
    xfer_pump (xf);
}

/* ================= server side ================= */

void archive_chunk_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    archive_svc_t *svc = arg;
    const char *name = NULL;
    json_int_t idx = -1;
    if (json_unpack (msg->json, "{s:s s:I}", "name", &name, "idx", &idx) < 0 || idx < 0) {
        overlay_respond_error (ov, &msg->hdr, EPROTO, "archive.chunk: malformed request");
        return;
    }
    struct xfer *xf = find_xfer (svc, name);
    if (xf && !xf->finished && xf->waiting) {
        /* nothing here until the other extraction into our dest is done:
         * send the downstream on to its next upstream at once */
        overlay_respond_error (ov, &msg->hdr, EBUSY, "rank %u: waiting for another extraction into %s",
                               overlay_rank (ov), xf->dest);
        return;
    }
    if (xf && !xf->finished) {
        if ((size_t)idx >= xf->m->nchunks) {
            overlay_respond_error (ov, &msg->hdr, EINVAL, "archive %s: no chunk %lld", name, (long long)idx);
            return;
        }
        if (extract_have (xf->x, idx)) {
            serve_from_xfer (xf, &msg->hdr, idx);
            return;
        }
        struct parked *p = xcalloc (1, sizeof *p);
        p->req = msg->hdr;
        p->idx = idx;
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
    if ((size_t)idx >= m->nchunks) {
        overlay_respond_error (ov, &msg->hdr, EINVAL, "archive %s: no chunk %lld", name, (long long)idx);
        return;
    }
    size_t len = m->chunks[idx].len;
    uint8_t *buf = overlay_buf_new (len);
    if (!buf) {
        overlay_respond_error (ov, &msg->hdr, ENOMEM, "rank %u: out of memory", overlay_rank (ov));
        return;
    }
    char cerr[512];
    ssize_t n = cstore_chunk_read (svc->cs, name, idx, buf, len, cerr, sizeof cerr);
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
            overlay_log (ov, "test: corrupting chunk %lld of %s", (long long)idx, name);
        }
        overlay_respond_give (ov, &msg->hdr, NULL, buf, n);
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
            overlay_respond (svc->ov, &xf->req, json_pack ("{s:I}", "have", (json_int_t)xf->bytes_have), NULL, 0);
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
