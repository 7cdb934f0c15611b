/* archive.c - archive services: create/list/remove/purge/extract on this
 * broker, and pipelined distribution between brokers (doc/distribution.md).
 *
 * Three roles live here:
 *  - server: answers archive.chunk from downstream peers, from the content
 *    store or from a transfer in progress (parking requests for chunks that
 *    have not arrived yet);
 *  - target (struct xfer): pulls the chunks it lacks from its upstream with
 *    a window of requests (one upstream per stripe: chunk i travels stripe
 *    i mod nstripes), verifies and writes them (extract.c), moves to a
 *    fallback upstream of that stripe on errors or stalls; an upstream that
 *    parks a request answers it after NOTE_MS with a progress note, so an
 *    upstream alive and still filling never counts as stalled;
 *  - controller (struct dist): plans the schedule, starts every target,
 *    aggregates progress and the per-rank result.
 * Long local work (create, local extract) runs in a thread so heartbeats and
 * forwarding never stop.
 */
#define _GNU_SOURCE
#include "archive.h"
#include "clock.h"
#include "cstore.h"
#include "dataplane.h"
#include "distplan.h"
#include "extract.h"
#include "manifest.h"
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#define DEFAULT_WINDOW 8
#define STALL_MS 5000
#define SOURCE_GIVEUP_MS 60000   /* no data from the source for this long: fail */
#define CORRUPT_MAX 3
#define PROGRESS_MS 250
#define TARGET_SILENT_MS 10000   /* loaded hosts on saturated links can be silent for seconds */
#define MAX_STRIPES 2

struct archive_svc {
    overlay_t *ov;
    char *statedir;
    cstore_t *cs;
    zlistx_t *xfers;
    zlistx_t *dists;
    zlistx_t *bgjobs;
    zhashx_t *failed;     /* archive name -> why its last transfer here failed */
    int tick;
    dataplane_t *dp;          /* sealed data plane (NULL: cannot bind, CURVE only) */
};

static void free_str (void **p)
{
    free (*p);
    *p = NULL;
}

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

char *archive_dest_subst (const char *tmpl, uint32_t rank)
{
    char r[16];
    int rl = snprintf (r, sizeof r, "%u", rank);
    size_t cap = strlen (tmpl) * 2 + 32, n = 0;
    char *out = malloc (cap);
    for (const char *p = tmpl; *p;) {
        if (!strncmp (p, "{rank}", 6)) {
            if (n + rl + 1 > cap)
                out = realloc (out, cap = (n + rl) * 2 + 1);
            memcpy (out + n, r, rl);
            n += rl;
            p += 6;
        }
        else {
            if (n + 2 > cap)
                out = realloc (out, cap *= 2);
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    return out;
}

/* mkdir -p; 0 or -1 with errno */
static int mkdir_p (const char *path)
{
    char *p = strdup (path);
    for (char *s = p + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            if (mkdir (p, 0755) < 0 && errno != EEXIST) {
                free (p);
                return -1;
            }
            *s = '/';
        }
    }
    int rc = mkdir (p, 0755) < 0 && errno != EEXIST ? -1 : 0;
    free (p);
    return rc;
}

/* ================= target side: struct xfer ================= */

struct parked {
    cmsg_hdr_t req;
    uint32_t idx;
    int64_t since;            /* parked (or last noted) at */
};

/* one stripe of a target's transfer: the chunks idx with idx % nstripes ==
 * this stripe's number, pulled from ups[upi] */
struct stripe {
    uint32_t *ups;
    size_t nups, upi;
    uint32_t inflight;
    int64_t last_progress;    /* data, a live progress note, or a switch */
    int corrupt;
    size_t missing;           /* chunks of this stripe not here yet */
};

struct xfer {
    archive_svc_t *svc;
    char *name, *dest;
    manifest_t *m;
    extract_t *x;
    cmsg_hdr_t req;           /* the archive.fetch request */
    struct stripe st[MAX_STRIPES];
    int nst;
    uint32_t window;          /* requests outstanding per stripe */
    uint8_t *requested;       /* per chunk: a request is outstanding */
    zhashx_t *tags;           /* matchtag -> idx+1 */
    zlistx_t *parked;
    zhashx_t *noted;          /* "downstream:stripe" -> time of its last progress note */
    uint64_t bytes_have, bytes_total;
    int64_t last_report;
    double t0;
    bool finished;            /* done or failed: serve from the store */
    uint64_t fetched_chunks, corrupt_total;
    uint64_t served_mem, served_disk;   /* chunks served downstream: on arrival, read back */
    int lockfd;               /* extract_lock on dest: one extraction per directory */
    bool waiting;             /* for another broker of this host extracting into dest */
    char *seal;               /* sealed data plane: the distribution id; NULL: CURVE peer links */
};

static void xfer_pump (struct xfer *xf);
static void xfer_free (struct xfer *xf);

/* A transfer's manifest copies, decode buffers and chunk messages are freed
 * at its end, but glibc keeps freed heap (the broker sets a high
 * M_TRIM_THRESHOLD so chunk buffers are reused): give it back to the
 * system once a transfer, distribution or background job is over. */
static void release_memory (void)
{
    malloc_trim (0);
}
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
        zhashx_update (svc->failed, xf->name, strdup (errstr ? errstr : "failed"));
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
    xfer_free (xf);
    release_memory ();
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

static void xfer_free (struct xfer *xf)
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

/* upstreams: one list (single) or 1..MAX_STRIPES lists of ranks < size */
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

static void archive_fetch_request (overlay_t *ov, const cmsg_t *msg, void *arg)
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
    struct xfer *xf = calloc (1, sizeof *xf);
    xf->seal = sealid;
    xf->svc = svc;
    xf->name = strdup (name);
    xf->dest = d;
    xf->m = m;
    xf->req = msg->hdr;
    xf->window = window;
    xf->nst = stripes ? json_array_size (stripes) : 1;
    for (int s = 0; s < xf->nst; s++) {
        json_t *l = stripes ? json_array_get (stripes, s) : ups;
        struct stripe *st = &xf->st[s];
        st->nups = json_array_size (l);
        st->ups = calloc (st->nups, sizeof (uint32_t));
        for (size_t i = 0; i < st->nups; i++)
            st->ups[i] = json_integer_value (json_array_get (l, i));
        st->last_progress = now_ms ();
    }
    xf->tags = zhashx_new ();
    xf->parked = zlistx_new ();
    xf->noted = zhashx_new ();
    xf->requested = calloc (m->nchunks ? m->nchunks : 1, 1);
    xf->t0 = zclock_usecs () / 1e6;
    for (size_t i = 0; i < m->nchunks; i++)
        xf->bytes_total += m->chunks[i].len;
    xf->lockfd = -1;
    if (mkdir_p (d) < 0) {
        int e = errno;
        overlay_respond_error (ov, &msg->hdr, e, "rank %u: cannot create %s: %s", overlay_rank (ov), d, strerror (e));
        xfer_free (xf);
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
        xfer_free (xf);
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
            xfer_free (xf);
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

static void archive_chunk_request (overlay_t *ov, const cmsg_t *msg, void *arg)
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
        struct parked *p = calloc (1, sizeof *p);
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

/* ================= controller: struct dist ================= */

struct target {
    uint32_t rank;
    uint32_t tag;
    int64_t last_heard;
    int state;             /* 0 running, 1 ok, 2 failed */
    double seconds;
    uint64_t have;
    char *error;
    json_t *upstreams;     /* stripe 0's list */
    json_t *stripes;       /* every stripe's list */
};

struct dist {
    archive_svc_t *svc;
    cmsg_hdr_t req;
    char *name, *schedule;
    manifest_t *m;
    char *menc;
    size_t menclen;
    struct target *t;
    size_t n, ndone, nfailed;
    uint64_t total;        /* bytes per target */
    double t0;
    int64_t last_report;
    bool local_target;     /* the source itself is a target */
};

static void dist_check_end (struct dist *d);

static struct target *dist_target (struct dist *d, uint32_t rank)
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

static void dist_free (struct dist *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free (d->t[i].error);
        json_decref (d->t[i].upstreams);
        json_decref (d->t[i].stripes);
    }
    free (d->t);
    free (d->name);
    free (d->schedule);
    free (d->menc);
    manifest_destroy (&d->m);
    free (d);
}

static void target_end (struct dist *d, struct target *t, bool ok, const char *error)
{
    if (t->state)
        return;
    t->state = ok ? 1 : 2;
    t->seconds = zclock_usecs () / 1e6 - d->t0;
    if (!ok)
        t->error = strdup (error ? error : "failed");
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
                     json_pack ("{s:o s:f s:I s:s s:s s:I s:I}", "ranks", ranks, "seconds", secs,
                                "bytes", (json_int_t)d->total, "name", d->name, "schedule",
                                d->schedule, "ok", (json_int_t)d->ndone, "failed",
                                (json_int_t)d->nfailed),
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
    dist_free (d);
    release_memory ();
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
        target_end (d, t, false, buf);
        return;
    }
    json_int_t have = 0;
    int done = 0;
    if (json_unpack (msg->json, "{s:b}", "done", &done) == 0 && done) {
        target_end (d, t, true, NULL);
        return;
    }
    if (json_unpack (msg->json, "{s:I}", "have", &have) == 0)
        t->have = have;
    dist_report (d, false);
}

/* ================= background work (create, local extract) ================= */

enum { BG_CREATE, BG_EXTRACT };

struct bgjob {
    archive_svc_t *svc;
    int kind;
    cmsg_hdr_t req;
    struct dist *dist;        /* local extract that is part of a distribution */
    char *name, *dir, *dest;
    char **paths;
    size_t npaths;
    int flags;
    uint32_t chunk_size;
    int fd[2];
    pthread_t th;
    int rc;
    char err[512];
    json_t *result;
    double t0;
};

static void *bg_main (void *arg)
{
    struct bgjob *b = arg;
    cstore_t *cs = cstore_new (b->svc->statedir, b->err, sizeof b->err);
    if (!cs) {
        b->rc = -1;
        goto out;
    }
    if (b->kind == BG_CREATE) {
        const manifest_t *m = cstore_archive_create (cs, b->name, b->dir, (const char *const *)b->paths,
                                                     b->npaths, b->flags, b->chunk_size, b->err,
                                                     sizeof b->err);
        if (!m)
            b->rc = -1;
        else {
            size_t files = 0;
            for (size_t i = 0; i < m->nentries; i++)
                if (m->entries[i].type == MANIFEST_FILE)
                    files++;
            b->result = json_pack ("{s:s s:I s:I s:I s:I}", "name", b->name, "entries",
                                   (json_int_t)m->nentries, "files", (json_int_t)files, "bytes",
                                   (json_int_t)m->total_size, "chunks", (json_int_t)m->nchunks);
            if (cstore_warning (cs))
                json_object_set_new (b->result, "warning", json_string (cstore_warning (cs)));
        }
    }
    else {
        const manifest_t *m = cstore_archive_get (cs, b->name, b->err, sizeof b->err);
        if (m && mkdir_p (b->dest) < 0) {
            snprintf (b->err, sizeof b->err, "cannot create %s: %s", b->dest, strerror (errno));
            b->rc = -1;
        }
        else if (!m || extract_archive (cs, b->name, b->dest, EXTRACT_KEEP_SAME, b->err, sizeof b->err) < 0)
            b->rc = -1;
        else
            b->result = json_pack ("{s:s s:I s:s}", "name", b->name, "bytes", (json_int_t)m->total_size,
                                   "dest", b->dest);
    }
    cstore_destroy (&cs);
out:
    if (write (b->fd[1], "x", 1) < 0) {
    }
    return NULL;
}

static void bg_free (struct bgjob *b)
{
    for (size_t i = 0; i < b->npaths; i++)
        free (b->paths[i]);
    free (b->paths);
    free (b->name);
    free (b->dir);
    free (b->dest);
    json_decref (b->result);
    close (b->fd[0]);
    close (b->fd[1]);
    free (b);
}

static int on_bg_done (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    struct bgjob *b = arg;
    archive_svc_t *svc = b->svc;
    char c;
    if (read (b->fd[0], &c, 1) != 1)
        return 0;
    pthread_join (b->th, NULL);
    zmq_pollitem_t it = { .fd = b->fd[0] };
    zloop_poller_end (loop, &it);
    double secs = zclock_usecs () / 1e6 - b->t0;
    if (b->kind == BG_CREATE) {
        /* the thread wrote through its own handle: reopen ours so no stale
         * manifest stays cached */
        char err[256];
        cstore_t *fresh = cstore_new (svc->statedir, err, sizeof err);
        if (fresh) {
            cstore_destroy (&svc->cs);
            svc->cs = fresh;
        }
    }
    if (b->dist) {
        struct target *t = dist_target (b->dist, overlay_rank (svc->ov));
        if (t)
            target_end (b->dist, t, b->rc == 0, b->err);
    }
    else if (b->rc < 0)
        overlay_respond_error (svc->ov, &b->req, EIO, "%s", b->err);
    else {
        json_object_set_new (b->result, "seconds", json_real (secs));
        overlay_respond (svc->ov, &b->req, json_incref (b->result), NULL, 0);
    }
    void *h = zlistx_find (svc->bgjobs, b);
    if (h)
        zlistx_detach (svc->bgjobs, h);
    bg_free (b);
    release_memory ();
    return 0;
}

static int bg_start (archive_svc_t *svc, struct bgjob *b)
{
    b->svc = svc;
    b->t0 = zclock_usecs () / 1e6;
    if (pipe (b->fd) < 0)
        return -1;
    zmq_pollitem_t it = { .fd = b->fd[0], .events = ZMQ_POLLIN };
    zloop_poller (overlay_loop (svc->ov), &it, on_bg_done, b);
    zlistx_add_end (svc->bgjobs, b);
    if (pthread_create (&b->th, NULL, bg_main, b) != 0) {
        zloop_poller_end (overlay_loop (svc->ov), &it);
        return -1;
    }
    return 0;
}

/* ================= request handlers ================= */

static void archive_create_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    archive_svc_t *svc = arg;
    const char *name = NULL, *dir = NULL;
    json_t *paths = NULL;
    int reference = 0, replace = 0;
    json_int_t chunk = 0;
    if (json_unpack (msg->json, "{s:s s:s s:o s?b s?b s?I}", "name", &name, "dir", &dir, "paths", &paths,
                     "reference", &reference, "replace", &replace, "chunk_size", &chunk) < 0
        || !json_is_array (paths) || json_array_size (paths) == 0) {
        overlay_respond_error (ov, &msg->hdr, EPROTO, "archive.create: needs name, dir and paths");
        return;
    }
    if (!manifest_name_valid (name)) {
        overlay_respond_error (ov, &msg->hdr, EINVAL,
                               "invalid archive name '%s' (1-128 of A-Z a-z 0-9 . _ -, no leading '.')", name);
        return;
    }
    for (struct bgjob *o = zlistx_first (svc->bgjobs); o; o = zlistx_next (svc->bgjobs))
        if (o->kind == BG_CREATE && !strcmp (o->name, name)) {
            overlay_respond_error (ov, &msg->hdr, EBUSY, "archive %s is being created", name);
            return;
        }
    struct bgjob *b = calloc (1, sizeof *b);
    b->kind = BG_CREATE;
    b->req = msg->hdr;
    b->name = strdup (name);
    b->dir = strdup (dir);
    b->npaths = json_array_size (paths);
    b->paths = calloc (b->npaths, sizeof (char *));
    for (size_t i = 0; i < b->npaths; i++) {
        const char *p = json_string_value (json_array_get (paths, i));
        b->paths[i] = strdup (p ? p : "");
    }
    b->flags = (reference ? CSTORE_REFERENCE : CSTORE_COPY) | (replace ? CSTORE_REPLACE : 0);
    b->chunk_size = chunk;
    if (bg_start (svc, b) < 0) {
        overlay_respond_error (ov, &msg->hdr, EIO, "archive.create: cannot start worker");
        bg_free (b);
    }
}

static void archive_extract_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    archive_svc_t *svc = arg;
    const char *name = NULL, *dest = NULL;
    if (json_unpack (msg->json, "{s:s s:s}", "name", &name, "dest", &dest) < 0) {
        overlay_respond_error (ov, &msg->hdr, EPROTO, "archive.extract: needs name and dest");
        return;
    }
    if (!dest[0]) {
        overlay_respond_error (ov, &msg->hdr, EINVAL, "archive.extract: empty destination directory");
        return;
    }
    char err[256];
    if (!cstore_archive_get (svc->cs, name, err, sizeof err)) {
        overlay_respond_error (ov, &msg->hdr, ENOENT, "rank %u: %s", overlay_rank (ov), err);
        return;
    }
    struct bgjob *b = calloc (1, sizeof *b);
    b->kind = BG_EXTRACT;
    b->req = msg->hdr;
    b->name = strdup (name);
    b->dest = archive_dest_subst (dest, overlay_rank (ov));
    if (bg_start (svc, b) < 0) {
        overlay_respond_error (ov, &msg->hdr, EIO, "archive.extract: cannot start worker");
        bg_free (b);
    }
}

static void archive_list_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    archive_svc_t *svc = arg;
    char err[256];
    json_t *l = cstore_archive_list (svc->cs, err, sizeof err);
    if (!l)
        overlay_respond_error (ov, &msg->hdr, EIO, "%s", err);
    else
        overlay_respond (ov, &msg->hdr, json_pack ("{s:o s:I}", "archives", l, "rank", (json_int_t)overlay_rank (ov)), NULL, 0);
}

static void archive_remove_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    archive_svc_t *svc = arg;
    const char *name = NULL;
    if (json_unpack (msg->json, "{s:s}", "name", &name) < 0) {
        overlay_respond_error (ov, &msg->hdr, EPROTO, "archive.remove: needs name");
        return;
    }
    char err[256];
    int rc = cstore_archive_remove (svc->cs, name, err, sizeof err);
    if (rc < 0)
        overlay_respond_error (ov, &msg->hdr, rc == -ENOENT ? ENOENT : EIO, "%s", err);
    else
        overlay_respond (ov, &msg->hdr, json_object (), NULL, 0);
}

static void archive_purge_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    archive_svc_t *svc = arg;
    char err[256];
    int n = cstore_purge (svc->cs, err, sizeof err);
    if (n < 0)
        overlay_respond_error (ov, &msg->hdr, EIO, "%s", err);
    else
        overlay_respond (ov, &msg->hdr, json_pack ("{s:i}", "removed", n), NULL, 0);
}

static int cmp_u32 (const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void archive_distribute_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    archive_svc_t *svc = arg;
    const char *name = NULL, *dest = NULL, *schedule = NULL, *plane = "sealed";
    json_t *targets = NULL;
    json_int_t window = DEFAULT_WINDOW, staged = 0;
    if (json_unpack (msg->json, "{s:s s:s s:o s?s s?I s?I s?s}", "name", &name, "dest", &dest, "targets",
                     &targets, "schedule", &schedule, "window", &window, "staged", &staged,
                     "data_plane", &plane) < 0
        || !json_is_array (targets) || !(msg->hdr.flags & CMSG_F_STREAMING)) {
        overlay_respond_error (ov, &msg->hdr, EPROTO, "archive.distribute: malformed request");
        return;
    }
    if (strcmp (plane, "sealed") && strcmp (plane, "curve")) {
        overlay_respond_error (ov, &msg->hdr, EINVAL, "unknown data plane '%s' (sealed or curve)", plane);
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
    uint32_t *tl = calloc (nt ? nt : 1, sizeof (uint32_t));
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
    json_t *seal = NULL;   /* sealed data plane: the distribution's id and key, for archive.fetch */
    if (!strcmp (plane, "sealed") && k > 0
        && !(seal = svc->dp ? dataplane_dist_create (svc->dp, name, m, err, sizeof err) : NULL)) {
        json_decref (plan);
        free (tl);
        overlay_respond_error (ov, &msg->hdr, svc->dp ? EIO : ENOTSUP, "rank %u: %s", me,
                               svc->dp ? err : "no data plane here (see its log); use --data-plane curve");
        return;
    }
    struct dist *d = calloc (1, sizeof *d);
    d->svc = svc;
    d->req = msg->hdr;
    d->name = strdup (name);
    d->schedule = strdup (staged ? "staged" : schedule);
    /* only the encoding and the total are needed: no second copy of the
     * manifest (memory grows with the number of files) */
    d->menc = manifest_encode (m, &d->menclen);
    for (size_t i = 0; i < m->nchunks; i++)
        d->total += m->chunks[i].len;
    d->n = k + (local ? 1 : 0);
    d->t = calloc (d->n ? d->n : 1, sizeof (struct target));
    d->t0 = zclock_usecs () / 1e6;
    d->local_target = local;
    zlistx_add_end (svc->dists, d);
    overlay_log (ov, "archive %s: distributing %llu bytes to %zu ranks (%s)", name,
                 (unsigned long long)d->total, d->n, d->schedule);
    for (size_t i = 0; i < k; i++) {
        struct target *t = &d->t[i];
        t->rank = tl[i];
        t->stripes = json_incref (json_array_get (plan, i));
        t->upstreams = json_incref (json_array_get (t->stripes, 0));
        /* over a direct peer link, not the tree: a target below a dead
         * broker still gets its orders and reports back */
        t->last_heard = now_ms ();
        json_t *fj = json_pack ("{s:s s:s s:O s:O s:I}", "name", name, "dest", dest, "upstreams",
                                t->upstreams, "stripes", t->stripes, "window", window);
        if (seal)
            json_object_set (fj, "seal", seal);
        t->tag = 0;
        if (overlay_peer_rpc (ov, tl[i], "archive.fetch", fj, d->menc, d->menclen, CMSG_F_STREAMING,
                              on_fetch_resp, d, &t->tag, NULL, 0) < 0)
            target_end (d, t, false, "cannot send request");
    }
    json_decref (plan);
    json_decref (seal);
    free (tl);
    if (local) {
        struct target *t = &d->t[k];
        t->rank = me;
        struct bgjob *b = calloc (1, sizeof *b);
        b->kind = BG_EXTRACT;
        b->dist = d;
        b->name = strdup (name);
        b->dest = archive_dest_subst (dest, me);
        if (bg_start (svc, b) < 0) {
            bg_free (b);
            target_end (d, t, false, "cannot start local extract");
        }
    }
    if (d->n == 0)
        dist_check_end (d);
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

static int on_tick (zloop_t *loop, int timer_id, void *arg)
{
    archive_svc_t *svc = arg;
    int64_t now = now_ms ();
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
                target_end (d, t, false, why);
                /* the last target's end frees the distribution: ask the
                 * list, not the counts (they need not agree with when
                 * dist_check_end ends it) */
                ended = !zlistx_find (svc->dists, d);
            }
        }
        if (!ended)
            dist_report (d, false);
    }
    zlistx_destroy (&ds);
    return 0;
}
static const overlay_handler_t handlers[] = {
    { "archive.create", archive_create_request },
    { "archive.extract", archive_extract_request },
    { "archive.list", archive_list_request },
    { "archive.remove", archive_remove_request },
    { "archive.purge", archive_purge_request },
    { "archive.distribute", archive_distribute_request },
    { "archive.fetch", archive_fetch_request },
    { "archive.chunk", archive_chunk_request },
    OVERLAY_HANDLER_END,
};


archive_svc_t *archive_svc_new (overlay_t *ov, const char *statedir, char *err, size_t errlen)
{
    archive_svc_t *svc = calloc (1, sizeof *svc);
    svc->ov = ov;
    svc->statedir = strdup (statedir);
    svc->cs = cstore_new (statedir, err, errlen);
    if (!svc->cs) {
        free (svc->statedir);
        free (svc);
        return NULL;
    }
    svc->xfers = zlistx_new ();
    svc->dists = zlistx_new ();
    svc->bgjobs = zlistx_new ();
    svc->failed = zhashx_new ();
    zhashx_set_destructor (svc->failed, free_str);
    if (overlay_handlers_add (ov, handlers, svc, err, errlen) < 0) {
        archive_svc_destroy (&svc);
        return NULL;
    }
    svc->tick = zloop_timer (overlay_loop (ov), 100, 0, on_tick, svc);
    char derr[256];
    if (!(svc->dp = dataplane_new (ov, derr, sizeof derr)))
        overlay_log (ov, "%s: sealed distributions refused", derr);
    return svc;
}

void archive_svc_destroy (archive_svc_t **p)
{
    if (!p || !*p)
        return;
    archive_svc_t *svc = *p;
    struct bgjob *b;
    while ((b = zlistx_detach (svc->bgjobs, NULL))) {
        pthread_join (b->th, NULL);
        bg_free (b);
    }
    struct xfer *xf;
    while ((xf = zlistx_detach (svc->xfers, NULL)))
        xfer_free (xf); /* keeps partial state for a resume */
    struct dist *d;
    while ((d = zlistx_detach (svc->dists, NULL)))
        dist_free (d);
    zlistx_destroy (&svc->xfers);
    zlistx_destroy (&svc->dists);
    zlistx_destroy (&svc->bgjobs);
    zhashx_destroy (&svc->failed);
    dataplane_destroy (&svc->dp);
    cstore_destroy (&svc->cs);
    free (svc->statedir);
    free (svc);
    *p = NULL;
}
