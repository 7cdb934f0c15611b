/* dataplane.c - sealed chunks on their own sockets (doc/distribution.md,
 * "Sealed data plane").
 *
 * One ROUTER per broker (NULL mechanism) serves `archive.chunk {dist, token,
 * idx}`; one DEALER per upstream asks.  Every request must show the
 * distribution's token, else it gets no answer.  A request is answered from
 * the distribution's cache of verified sealed frames, else handed to the
 * archive service as a CMSG_F_DATA request; its response comes back through
 * the overlay's data responder, where plaintext is checked against the
 * manifest's SHA-256 and sealed, the hash bound into the seal (deterministically, so a re-seal equals the
 * source's seal) and a sealed frame being forwarded goes out untouched.
 * The store reads what it hands over for sealing unchecked (that hash is
 * the check), unless it knows the bytes good (read from a file unchanged
 * since its bytes were hashed: then they are sealed without a hash); a
 * mismatch is asked for again with a verified read, so the store reports
 * and marks the damage as on any read.
 * Received frames are opened and verified before anyone sees them.
 * What travels is a transfer unit (doc/distribution.md, "Transfer units";
 * src/lib/distunit.c): a piece of a chunk, sealed on its own (its nonce and
 * AAD bind chunk, offset and length) from the whole chunk after its hash is
 * checked, or a pack of small chunks, each sealed as a whole chunk.
 */
#define _GNU_SOURCE
#include "dataplane.h"
#include "clock.h"
#include "chunkseal.h"
#include "distunit.h"
#include "sha256.h"
#include "xalloc.h"
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define DP_CACHE 32                  /* verified sealed units kept per distribution, at least */
#define DP_CACHE_BYTES (32u << 20)   /* ... or this many bytes of units */
#define DP_MAX_DISTS 64
#define DP_IDLE_MS (10 * 60 * 1000)  /* a distribution unused this long is forgotten */
#define DP_REQ_MAX_MS (10 * 60 * 1000)
#define DP_HWM 200000
#define DP_LOG_MS 60000              /* at most one refusal line per minute */
#define DP_SREQ_MAX 4096             /* requests handed to the archive service, waiting */
#define DP_EARLY_MAX 1024             /* requests kept for distributions not registered yet */
#define DP_EARLY_MS 5000              /* ... for at most this long */
#define DP_ASK_RETRY_MS 2000         /* an endpoint lookup unanswered this long: ask again */
#define DP_SILENT_MS 10000           /* a peer silent this long with requests out: ask its
                                      * endpoint again (it may have restarted elsewhere) */

struct cached {
    bool used;
    uint32_t idx;
    zmq_msg_t msg;
};

struct dist {
    char idhex[2 * CHUNKSEAL_IDLEN + 1];
    char *name;
    uint8_t id[CHUNKSEAL_IDLEN], key[CHUNKSEAL_KEYLEN], token[CHUNKSEAL_TOKENLEN];
    chunkseal_t *seal;
    size_t nchunks;
    uint8_t (*hash)[SHA256_LEN];
    uint32_t *len;
    distunits_t *ut;                 /* its transfer units (doc/distribution.md) */
    int64_t last_used;
    struct cached *cache;            /* direct-mapped by unit index */
    size_t ncache;
    uint64_t n_opened, n_cached, n_forwarded, n_sealed, n_logged;   /* chunks, logged when idle */
    uint64_t n_known;                /* of n_sealed: known good, sealed without a hash */
};

struct creq {                        /* a request of ours, waiting for its answer */
    uint32_t tag, rank, idx;
    bool ping;                       /* dataplane.ping: the link is up, nothing else */
    char idhex[2 * CHUNKSEAL_IDLEN + 1];
    int64_t t;
};

struct sreq {                        /* a request to us, handed to the archive service */
    uint32_t stag;
    uint8_t rid[256];
    size_t ridlen;
    cmsg_hdr_t req;                  /* the requester's header */
    char idhex[2 * CHUNKSEAL_IDLEN + 1];
    uint32_t idx;
    int64_t t;
    bool unchecked;                  /* the store did not hash it: seal_plain does */
};

struct early {                       /* a request for a distribution not registered yet */
    uint8_t rid[256];
    size_t ridlen;
    cmsg_hdr_t h;
    char idhex[2 * CHUNKSEAL_IDLEN + 1];
    uint8_t tok[CHUNKSEAL_TOKENLEN];
    json_int_t idx;
    int64_t t;
    char addr[64];
};

enum { P_NONE, P_ASKING, P_READY };

struct peer {
    dataplane_t *dp;
    uint32_t rank;
    int state;
    void *sock;
    zlistx_t *queue;                 /* matchtags waiting for the endpoint */
    int64_t last_rx;                 /* last answer on sock */
    int64_t ready_at;                /* when it became P_READY */
    int64_t asked_at;                /* when it became P_ASKING */
    int64_t last_ask;                /* when the lookup was last sent */
    bool answered;                   /* something came back on sock since it was opened */
    uint32_t ask_tag;                /* its matchtag */
    bool stale;
};

struct dataplane {
    overlay_t *ov;
    void *router;
    char *uri;
    zhashx_t *dists;                 /* idhex -> struct dist */
    struct peer *peers;              /* by rank */
    zhashx_t *creqs;                 /* tag -> struct creq */
    zhashx_t *sreqs;                 /* stag -> struct sreq */
    zlistx_t *early;                 /* struct early, oldest first */
    int early_timer;                 /* one-shot early_serve, or -1 */
    zlistx_t *recheck;               /* struct sreq: read again, verified (on_respond) */
    int recheck_timer;               /* one-shot recheck_serve, or -1 */
    uint32_t next_stag;
    int64_t last_refusal_log;
    uint64_t refused;
    uint64_t n_reasked;
    int64_t last_reask_log;
    int timer;
    zmq_msg_t *cur_frame;            /* sealed frame being delivered (verified) */
    char cur_id[2 * CHUNKSEAL_IDLEN + 1];
    uint32_t cur_idx;
    long corrupt_every, nsent;       /* CANOPY_TEST_CORRUPT_SEALED */
};

static void hex (const uint8_t *b, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[b[i] >> 4];
        out[2 * i + 1] = hx[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static int unhex (const char *s, uint8_t *out, size_t n)
{
    if (!s || strlen (s) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf (s + 2 * i, "%2x", &v) != 1 || !strchr ("0123456789abcdefABCDEF", s[2 * i])
            || !strchr ("0123456789abcdefABCDEF", s[2 * i + 1]))
            return -1;
        out[i] = v;
    }
    return 0;
}

static void keyfmt (char *key, size_t len, uint32_t v)
{
    snprintf (key, len, "%u", v);
}

/* ---- distributions ---- */

static void dist_free (void **item)
{
    struct dist *d = *item;
    if (!d)
        return;
    for (size_t i = 0; d->cache && i < d->ncache; i++)
        if (d->cache[i].used)
            zmq_msg_close (&d->cache[i].msg);
    free (d->cache);
    distunits_destroy (&d->ut);
    chunkseal_destroy (&d->seal);
    OPENSSL_cleanse (d->key, sizeof d->key);
    free (d->hash);
    free (d->len);
    free (d->name);
    free (d);
    *item = NULL;
}

static struct dist *dist_find (dataplane_t *dp, const char *idhex)
{
    return idhex ? zhashx_lookup (dp->dists, idhex) : NULL;
}

/* forget the least recently used distributions beyond the cap */
static void dists_trim (dataplane_t *dp, size_t keep)
{
    while (zhashx_size (dp->dists) > keep) {
        struct dist *old = NULL;
        for (struct dist *d = zhashx_first (dp->dists); d; d = zhashx_next (dp->dists))
            if (!old || d->last_used < old->last_used)
                old = d;
        zhashx_delete (dp->dists, old->idhex);
    }
}

static int early_serve (zloop_t *loop, int timer_id, void *arg);

static struct dist *dist_add (dataplane_t *dp, const char *name, const manifest_t *m, uint32_t unit,
                              const uint8_t id[CHUNKSEAL_IDLEN], const uint8_t key[CHUNKSEAL_KEYLEN],
                              char *err, size_t errlen)
{
    char idhex[2 * CHUNKSEAL_IDLEN + 1];
    hex (id, CHUNKSEAL_IDLEN, idhex);
    struct dist *d = dist_find (dp, idhex);
    if (d) {   /* the same distribution again (e.g. source and target): keep one */
        if (CRYPTO_memcmp (d->key, key, CHUNKSEAL_KEYLEN) || d->nchunks != m->nchunks
            || distunits_size (d->ut) != unit) {
            snprintf (err, errlen, "data plane: distribution %s registered with another key", idhex);
            return NULL;
        }
        d->last_used = now_ms ();
        return d;
    }
    d = xcalloc (1, sizeof *d);
    if (!d || !(d->hash = xcalloc (m->nchunks ? m->nchunks : 1, SHA256_LEN))
        || !(d->len = xcalloc (m->nchunks ? m->nchunks : 1, sizeof (uint32_t)))
        || !(d->name = xstrdup (name))) {
        void *p = d;
        dist_free (&p);
        snprintf (err, errlen, "data plane: out of memory");
        return NULL;
    }
    memcpy (d->idhex, idhex, sizeof idhex);
    memcpy (d->id, id, CHUNKSEAL_IDLEN);
    memcpy (d->key, key, CHUNKSEAL_KEYLEN);
    chunkseal_token (key, d->token);
    d->nchunks = m->nchunks;
    for (size_t i = 0; i < m->nchunks; i++) {
        memcpy (d->hash[i], m->chunks[i].hash, SHA256_LEN);
        d->len[i] = m->chunks[i].len;
    }
    d->ut = distunits_new (d->len, d->nchunks, unit, err, errlen);
    d->seal = d->ut ? chunkseal_new (key, id, err, errlen) : NULL;
    if (!d->seal) {
        void *p = d;
        dist_free (&p);
        return NULL;
    }
    d->ncache = unit && DP_CACHE_BYTES / unit > DP_CACHE ? DP_CACHE_BYTES / unit : DP_CACHE;
    d->cache = xcalloc (d->ncache, sizeof *d->cache);
    d->last_used = now_ms ();
    dists_trim (dp, DP_MAX_DISTS - 1);
    zhashx_insert (dp->dists, d->idhex, d);
    if (zlistx_size (dp->early) && dp->early_timer < 0)
        dp->early_timer = zloop_timer (overlay_loop (dp->ov), 1, 1, early_serve, dp);
    overlay_log (dp->ov, "archive %s: sealed distribution %s on data plane %s (%zu units of %u bytes)", name,
                 d->idhex, dp->uri, distunits_count (d->ut), unit);
    /* test hook: tokens (never keys) for a raw client of the data endpoint */
    const char *tf = getenv ("CANOPY_TEST_DP_TOKENS");
    FILE *f = tf ? fopen (tf, "a") : NULL;
    if (f) {
        char tok[2 * CHUNKSEAL_TOKENLEN + 1];
        hex (d->token, CHUNKSEAL_TOKENLEN, tok);
        fprintf (f, "%u %s %s %s\n", overlay_rank (dp->ov), name, d->idhex, tok);
        fclose (f);
    }
    return d;
}

/* the cache of sealed units, direct-mapped: consecutive units never evict
 * each other */
static zmq_msg_t *cache_get (struct dist *d, uint32_t idx)
{
    struct cached *c = &d->cache[idx % d->ncache];
    return c->used && c->idx == idx ? &c->msg : NULL;
}

static void cache_put (struct dist *d, uint32_t idx, zmq_msg_t *frame)
{
    if (cache_get (d, idx))
        return;
    struct cached *c = &d->cache[idx % d->ncache];
    if (c->used)
        zmq_msg_close (&c->msg);
    zmq_msg_init (&c->msg);
    c->used = zmq_msg_copy (&c->msg, frame) == 0;
    c->idx = idx;
}

json_t *dataplane_dist_create (dataplane_t *dp, const char *name, const manifest_t *m, uint32_t unit,
                               char *err, size_t errlen)
{
    uint8_t id[CHUNKSEAL_IDLEN], key[CHUNKSEAL_KEYLEN];
    if (getrandom (id, sizeof id, 0) != sizeof id || getrandom (key, sizeof key, 0) != sizeof key) {
        snprintf (err, errlen, "data plane: no random bytes: %s", strerror (errno));
        return NULL;
    }
    struct dist *d = dist_add (dp, name, m, unit, id, key, err, errlen);
    OPENSSL_cleanse (key, sizeof key);
    if (!d)
        return NULL;
    char khex[2 * CHUNKSEAL_KEYLEN + 1];
    hex (d->key, CHUNKSEAL_KEYLEN, khex);
    json_t *o = json_pack ("{s:s s:s s:I}", "dist", d->idhex, "key", khex, "unit", (json_int_t)unit);
    OPENSSL_cleanse (khex, sizeof khex);
    return o;
}

char *dataplane_dist_join (dataplane_t *dp, const char *name, const manifest_t *m, const json_t *seal,
                           char *err, size_t errlen)
{
    const char *ids = NULL, *ks = NULL;
    json_int_t unit = 0;
    uint8_t id[CHUNKSEAL_IDLEN], key[CHUNKSEAL_KEYLEN];
    if (json_unpack ((json_t *)seal, "{s:s s:s s?I}", "dist", &ids, "key", &ks, "unit", &unit) < 0
        || unhex (ids, id, sizeof id) < 0 || unhex (ks, key, sizeof key) < 0 || unit < 0
        || unit > DISTUNIT_MAX) {
        snprintf (err, errlen, "archive.fetch: malformed seal (needs dist: 16 and key: 64 hex digits, "
                  "unit 0-%u)", DISTUNIT_MAX);
        return NULL;
    }
    struct dist *d = dist_add (dp, name, m, unit, id, key, err, errlen);
    OPENSSL_cleanse (key, sizeof key);
    return d ? xstrdup (d->idhex) : NULL;
}

/* ---- frames ---- */

static void buf_free_cb (void *data, void *hint)
{
    (void)hint;
    overlay_buf_free (data);
}

/* Receive one multipart message into f[0..max-1]; returns the frame count, or
 * -1 if it had more than max frames (dropped). */
static int recv_multi (void *sock, zmq_msg_t *f, int max)
{
    int n = 0, more = 1;
    size_t sz = sizeof more;
    while (more) {
        zmq_msg_t tmp, *m = n < max ? &f[n] : &tmp;
        zmq_msg_init (m);
        if (zmq_msg_recv (m, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (m);
            break;
        }
        if (zmq_getsockopt (sock, ZMQ_RCVMORE, &more, &sz) < 0)
            more = 0;
        if (m == &tmp)
            zmq_msg_close (m);
        n++;
    }
    if (n > max) {
        for (int i = 0; i < max; i++)
            zmq_msg_close (&f[i]);
        return -1;
    }
    return n;
}

static bool readable (void *sock)
{
    int ev = 0;
    size_t sz = sizeof ev;
    zmq_getsockopt (sock, ZMQ_EVENTS, &ev, &sz);
    return ev & ZMQ_POLLIN;
}

/* [rid?][hdr][json][data?]; data (if any) is moved out of *data */
static int send_msg (void *sock, const uint8_t *rid, size_t ridlen, const cmsg_hdr_t *h,
                     const char *json, size_t jlen, zmq_msg_t *data)
{
    uint8_t hb[CMSG_HDR_MAX];
    size_t hl = cmsg_hdr_encode (h, hb);
    if (rid && zmq_send (sock, rid, ridlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    if (zmq_send (sock, hb, hl, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    if (zmq_send (sock, json, jlen, (data ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) < 0)
        return -1;
    if (data && zmq_msg_send (data, sock, ZMQ_DONTWAIT) < 0)
        return -1;
    return 0;
}

/* ---- server side ---- */

static void refuse (dataplane_t *dp, const char *addr, const char *why)
{
    dp->refused++;
    int64_t now = now_ms ();
    if (now - dp->last_refusal_log < DP_LOG_MS)
        return;
    dp->last_refusal_log = now;
    overlay_log (dp->ov, "data plane: refused a request from %s: %s (%llu refused so far)",
                 addr ? addr : "?", why, (unsigned long long)dp->refused);
}

static void send_to_requester (dataplane_t *dp, const uint8_t *rid, size_t ridlen,
                               const cmsg_hdr_t *req, int errnum, const char *json, size_t jlen,
                               zmq_msg_t *data)
{
    cmsg_hdr_t h;
    cmsg_hdr_make_response (&h, req, overlay_rank (dp->ov), errnum);
    if (data && dp->corrupt_every > 0 && ++dp->nsent % dp->corrupt_every == 0
        && zmq_msg_size (data) > 0) {
        /* fault injection: a private copy with one byte flipped (the shared
         * and cached frames stay intact) */
        zmq_msg_t bad;
        zmq_msg_init_size (&bad, zmq_msg_size (data));
        memcpy (zmq_msg_data (&bad), zmq_msg_data (data), zmq_msg_size (data));
        ((uint8_t *)zmq_msg_data (&bad))[zmq_msg_size (data) / 2] ^= 0x5a;
        overlay_log (dp->ov, "test: corrupting a sealed chunk sent to rank %u", req->src);
        zmq_msg_move (data, &bad);   /* releases the shared reference */
        zmq_msg_close (&bad);
    }
    send_msg (dp->router, rid, ridlen, &h, json, jlen, data); /* a vanished peer: dropped */
}

/* What the archive service is asked for unit j: {name, idx, n, unit, u}:
 * chunks idx..idx+n-1 (a piece's whole chunk), for unit j of the table of
 * unit size u (doc/distribution.md, "Transfer units"). */
static json_t *unit_request_json (const struct dist *d, json_int_t j)
{
    const distunit_t *u = distunits_get (d->ut, j);
    return json_pack ("{s:s s:I s:I s:I s:I}", "name", d->name, "idx", (json_int_t)u->chunk, "n",
                      (json_int_t)u->nchunks, "unit", j, "u", (json_int_t)distunits_size (d->ut));
}

/* Hand s (taken over) to the archive service as a fresh request; its
 * answer comes to on_respond.  s->unchecked: its store need not hash the
 * bytes (seal_plain does, and a mismatch comes back as a verified read). */
static void sreq_deliver (dataplane_t *dp, struct dist *d, struct sreq *s)
{
    if (++dp->next_stag == 0)
        dp->next_stag = 1;
    s->stag = dp->next_stag;
    s->t = now_ms ();
    char key[16];
    keyfmt (key, sizeof key, s->stag);
    zhashx_update (dp->sreqs, key, s);
    cmsg_t msg = { .hdr = s->req };
    msg.hdr.matchtag = s->stag;
    msg.hdr.flags = CMSG_F_DATA;
    /* src: the requester's rank as it says (it showed the token), so the
     * archive service tells its downstreams apart (one progress note per
     * downstream and stripe); the answer comes here whatever src says */
    msg.hdr.dest = overlay_rank (dp->ov);
    msg.hdr.src = s->req.src < overlay_size (dp->ov) ? s->req.src : msg.hdr.dest;
    msg.hdr.sender_len = 0;
    msg.json = unit_request_json (d, s->idx);
    if (s->unchecked)
        json_object_set_new (msg.json, "sealer_hashes", json_true ());
    overlay_deliver (dp->ov, &msg);
    json_decref (msg.json);
}

/* Requests whose unchecked read did not match (on_respond), handed to the
 * archive service again for a verified read: from a one-shot timer, not
 * from inside the response that failed. */
static int recheck_serve (zloop_t *loop, int timer_id, void *arg)
{
    dataplane_t *dp = arg;
    (void)loop;
    (void)timer_id;
    dp->recheck_timer = -1;
    struct sreq *s;
    while ((s = zlistx_detach (dp->recheck, NULL))) {
        struct dist *d = dist_find (dp, s->idhex);
        if (d && zhashx_size (dp->sreqs) < DP_SREQ_MAX)
            sreq_deliver (dp, d, s);
        else
            free (s);   /* forgotten meanwhile: the requester's stall timer moves on */
    }
    return 0;
}

/* Answer a request that passed the token check. */
static void serve_request (dataplane_t *dp, struct dist *d, const uint8_t *rid, size_t ridlen,
                           const cmsg_hdr_t *hp, json_int_t idx)
{
    cmsg_hdr_t h = *hp;
    if (idx < 0 || (size_t)idx >= distunits_count (d->ut)) {
        char js[128];
        int jl = snprintf (js, sizeof js, "{\"errstr\":\"no unit %lld\"}", (long long)idx);
        send_to_requester (dp, rid, ridlen, &h, EINVAL, js, jl, NULL);
        return;
    }
    d->last_used = now_ms ();
    zmq_msg_t *c = cache_get (d, idx);
    if (c) {
        d->n_cached++;
        zmq_msg_t copy;
        zmq_msg_init (&copy);
        zmq_msg_copy (&copy, c);
        send_to_requester (dp, rid, ridlen, &h, 0, "", 0, &copy);
        zmq_msg_close (&copy);
        return;
    }
    if (zhashx_size (dp->sreqs) >= DP_SREQ_MAX) {   /* bounded, whoever asks */
        static const char busy[] = "{\"errstr\":\"too many requests waiting here\"}";
        send_to_requester (dp, rid, ridlen, &h, EAGAIN, busy, sizeof busy - 1, NULL);
        return;
    }
    struct sreq *s = xcalloc (1, sizeof *s);
    memcpy (s->rid, rid, ridlen);
    s->ridlen = ridlen;
    s->req = h;
    memcpy (s->idhex, d->idhex, sizeof s->idhex);
    s->idx = idx;
    s->unchecked = true;
    sreq_deliver (dp, d, s);
}

/* Check a request's token against distribution d and serve it, else
 * refuse it (no answer). */
static void check_and_serve (dataplane_t *dp, struct dist *d, const uint8_t *rid, size_t ridlen,
                             const cmsg_hdr_t *h, const uint8_t tok[CHUNKSEAL_TOKENLEN],
                             json_int_t idx, const char *addr)
{
    if (CRYPTO_memcmp (tok, d->token, CHUNKSEAL_TOKENLEN)) {
        refuse (dp, addr, "bad token");
        return;
    }
    serve_request (dp, d, rid, ridlen, h, idx);
}

static void handle_request (dataplane_t *dp, zmq_msg_t *f, int n)
{
    cmsg_hdr_t h;
    const char *why = NULL;
    const char *addr = n > 1 ? zmq_msg_gets (&f[1], "Peer-Address") : NULL;
    if (n < 3 || n > 4 || zmq_msg_size (&f[0]) > sizeof ((struct sreq *)0)->rid
        || cmsg_hdr_decode (&h, zmq_msg_data (&f[1]), zmq_msg_size (&f[1]), &why) < 0
        || h.type != CMSG_REQUEST || (strcmp (h.topic, "archive.chunk") && strcmp (h.topic, "dataplane.ping"))) {
        refuse (dp, addr, "not a chunk request");
        return;
    }
    if (!strcmp (h.topic, "dataplane.ping")) {   /* says nothing but "here": no token needed */
        h.flags &= CMSG_F_PEER;
        send_to_requester (dp, zmq_msg_data (&f[0]), zmq_msg_size (&f[0]), &h, 0, "{}", 2, NULL);
        return;
    }
    h.flags &= CMSG_F_PEER;
    json_error_t jerr;
    json_t *o = json_loadb (zmq_msg_data (&f[2]), zmq_msg_size (&f[2]), 0, &jerr);
    const char *ids = NULL, *ts = NULL;
    json_int_t idx = -1;
    uint8_t tok[CHUNKSEAL_TOKENLEN], id[CHUNKSEAL_IDLEN];
    if (!o || json_unpack (o, "{s:s s:s s:I}", "dist", &ids, "token", &ts, "idx", &idx) < 0
        || unhex (ids, id, sizeof id) < 0 || unhex (ts, tok, sizeof tok) < 0) {
        json_decref (o);
        refuse (dp, addr, "malformed request");
        return;
    }
    char idhex[2 * CHUNKSEAL_IDLEN + 1];
    hex (id, sizeof id, idhex);
    json_decref (o);
    const uint8_t *rid = zmq_msg_data (&f[0]);
    size_t ridlen = zmq_msg_size (&f[0]);
    struct dist *d = dist_find (dp, idhex);
    if (d) {
        check_and_serve (dp, d, rid, ridlen, &h, tok, idx, addr);
        return;
    }
    /* Not registered here (yet): the controller starts every target at
     * once, so a downstream's first requests can arrive before this
     * broker's own archive.fetch.  Keep them (no answer: nothing is said
     * about distributions unknown here) until the distribution registers,
     * for at most DP_EARLY_MS, then drop them as refused. */
    if (zlistx_size (dp->early) >= DP_EARLY_MAX) {
        refuse (dp, addr, "unknown distribution (too many waiting)");
        return;
    }
    struct early *e = xcalloc (1, sizeof *e);
    memcpy (e->rid, rid, ridlen);
    e->ridlen = ridlen;
    e->h = h;
    memcpy (e->idhex, idhex, sizeof idhex);
    memcpy (e->tok, tok, sizeof tok);
    e->idx = idx;
    e->t = now_ms ();
    snprintf (e->addr, sizeof e->addr, "%s", addr ? addr : "?");
    zlistx_add_end (dp->early, e);
}

/* Serve the requests kept for distributions that are registered now (a
 * one-shot timer after a registration: by then the archive service has set
 * up the transfer the registration came with). */
static int early_serve (zloop_t *loop, int timer_id, void *arg)
{
    dataplane_t *dp = arg;
    (void)loop;
    (void)timer_id;
    dp->early_timer = -1;
    struct early *e = zlistx_first (dp->early);
    while (e) {
        struct early *next = zlistx_next (dp->early);
        struct dist *d = dist_find (dp, e->idhex);
        if (d) {
            zlistx_detach (dp->early, zlistx_find (dp->early, e));
            check_and_serve (dp, d, e->rid, e->ridlen, &e->h, e->tok, e->idx, e->addr);
            free (e);
            next = zlistx_first (dp->early);   /* the list changed: walk again */
        }
        e = next;
    }
    return 0;
}

static int on_router (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    dataplane_t *dp = arg;
    (void)loop;
    for (int k = 0; k < 256 && readable (dp->router); k++) {
        zmq_msg_t f[4];
        int n = recv_multi (dp->router, f, 4);
        if (n < 0)
            continue;
        handle_request (dp, f, n);
        for (int i = 0; i < n; i++)
            zmq_msg_close (&f[i]);
    }
    return 0;
}

/* Seal plaintext p of chunk idx into *out (a fresh frame).  The seal binds
 * the manifest's SHA-256 of the chunk and targets check only the tag, so
 * this is where the hash is checked, on the very bytes sealed, unless the
 * read that gave them knew them good (known: doc/archive.md, "Hashed
 * files"; then they are sealed as they are).  A chunk
 * that is not the manifest's becomes a frame that fails the tag check, so
 * no (key, nonce) seals a stranger's bytes; then false (on_respond has the
 * store read it again, verified, if its first read was unchecked). */
static bool seal_plain (dataplane_t *dp, struct dist *d, uint32_t idx, const void *p, size_t len,
                        bool known, zmq_msg_t *out)
{
    (void)dp;
    char err[256];
    bool good = len == d->len[idx];
    uint8_t *buf = overlay_buf_new (len + CHUNKSEAL_TAGLEN);
    int sf = known ? 0 : CHUNKSEAL_REHASH;
    if (good && chunkseal_seal (d->seal, idx, d->hash[idx], p, len, buf, sf, err, sizeof err) == 0) {
        zmq_msg_init_data (out, buf, len + CHUNKSEAL_TAGLEN, buf_free_cb, NULL);
        cache_put (d, idx, out);
        d->n_sealed++;
        d->n_known += known;
        return true;
    }
    memset (buf, 0, len + CHUNKSEAL_TAGLEN);
    zmq_msg_init_data (out, buf, len + CHUNKSEAL_TAGLEN, buf_free_cb, NULL);
    return false;
}

/* Seal plaintext p of unit j (doc/distribution.md, "Transfer units") into
 * *out (a fresh frame).  A pack: its chunks one after another, each sealed
 * whole with its hash checked (as seal_plain).  A piece: p is its whole
 * chunk, whose SHA-256 is checked once; then this piece and the chunk's
 * next ones (as many as the cache holds) are sealed into the cache, so the
 * other pieces are not hashed again.  Bytes that are not the manifest's
 * become a zeroed frame that fails the tag.  Returns whether it sealed
 * (false: on_respond reads it again, verified, if the read was unchecked). */
static bool seal_unit (dataplane_t *dp, struct dist *d, uint32_t j, const void *p, size_t len, bool known,
                       zmq_msg_t *out)
{
    (void)dp;
    const distunit_t *u = distunits_get (d->ut, j);
    char err[256];
    bool good = true;
    if (!u->npieces) {
        size_t slen = (size_t)u->len + (size_t)u->nchunks * CHUNKSEAL_TAGLEN;
        uint8_t *buf = overlay_buf_new (slen);
        good = buf && len == u->len;
        for (size_t k = 0, ip = 0, op = 0; good && k < u->nchunks; k++) {
            uint32_t c = u->chunk + k;
            good = chunkseal_seal (d->seal, c, d->hash[c], (const uint8_t *)p + ip, d->len[c], buf + op,
                                   known ? 0 : CHUNKSEAL_REHASH, err, sizeof err) == 0;
            ip += d->len[c];
            op += d->len[c] + CHUNKSEAL_TAGLEN;
        }
        if (!buf) {
            zmq_msg_init (out);
            return false;
        }
        if (!good)
            memset (buf, 0, slen);
        zmq_msg_init_data (out, buf, slen, buf_free_cb, NULL);
        if (good) {
            cache_put (d, j, out);
            d->n_sealed += u->nchunks;
            d->n_known += known ? u->nchunks : 0;
        }
        return good;
    }
    uint32_t c = u->chunk;
    uint8_t h[SHA256_LEN];
    good = len == d->len[c];
    if (good && !known) {
        sha256_hash (p, len, h);
        good = !memcmp (h, d->hash[c], SHA256_LEN);
    }
    if (!good) {
        uint8_t *buf = overlay_buf_new (u->len + CHUNKSEAL_TAGLEN);
        if (!buf) {
            zmq_msg_init (out);
            return false;
        }
        memset (buf, 0, u->len + CHUNKSEAL_TAGLEN);
        zmq_msg_init_data (out, buf, u->len + CHUNKSEAL_TAGLEN, buf_free_cb, NULL);
        return false;
    }
    d->n_sealed++;
    d->n_known += known;
    size_t last = j - u->piece + u->npieces;   /* one past the chunk's last piece */
    if (last > j + d->ncache / 2)
        last = j + d->ncache / 2;
    if (last <= j)
        last = j + 1;
    bool have_out = false;
    for (size_t k = j; k < last; k++) {
        const distunit_t *v = distunits_get (d->ut, k);
        if (k != j && cache_get (d, k))
            continue;
        uint8_t *buf = overlay_buf_new (v->len + CHUNKSEAL_TAGLEN);
        if (!buf || chunkseal_seal_piece (d->seal, c, v->off, d->len[c], d->hash[c], (const uint8_t *)p + v->off,
                                          v->len, buf, err, sizeof err) < 0) {
            overlay_buf_free (buf);
            break;
        }
        zmq_msg_t f;
        zmq_msg_init_data (&f, buf, v->len + CHUNKSEAL_TAGLEN, buf_free_cb, NULL);
        if (k == j) {
            zmq_msg_init (out);
            zmq_msg_copy (out, &f);
            have_out = true;
        }
        cache_put (d, k, &f);
        zmq_msg_close (&f);
    }
    if (!have_out)
        zmq_msg_init (out);
    return have_out;
}

static void on_respond (void *arg, const cmsg_hdr_t *resp, const char *json, size_t jlen,
                        const void *data, size_t len, void *give, size_t glen, zmq_msg_t *share)
{
    dataplane_t *dp = arg;
    char key[16];
    keyfmt (key, sizeof key, resp->matchtag);
    struct sreq *sp = zhashx_lookup (dp->sreqs, key);
    if (!sp) {
        overlay_buf_free (give);
        return;
    }
    struct sreq sv = *sp, *s = &sv;
    zhashx_delete (dp->sreqs, key);
    struct dist *d = dist_find (dp, s->idhex);
    if (!resp->errnum && d && !(give || share || data) && jlen > 2) {
        /* a progress note ({filling, have, idle_ms}, doc/distribution.md):
         * passed on as it is, without data */
        send_to_requester (dp, s->ridlen ? s->rid : NULL, s->ridlen, &s->req, 0, json, jlen, NULL);
        return;
    }
    if (resp->errnum || !d || !(give || share || data)) {
        overlay_buf_free (give);
        static const char gone[] = "{\"errstr\":\"distribution forgotten here\"}";
        int e = resp->errnum ? resp->errnum : d ? EPROTO : EAGAIN;
        send_to_requester (dp, s->ridlen ? s->rid : NULL, s->ridlen, &s->req, e,
                           resp->errnum || d ? json : gone, resp->errnum || d ? jlen : sizeof gone - 1,
                           NULL);
        return;
    }
    zmq_msg_t out;
    bool good = true;
    /* bytes the local store or extraction says are known good (hashed by
     * that read, or from a file unchanged since its bytes were hashed):
     * sealed without a hash; only on a first read (the re-read after a
     * mismatch is always hashed again) */
    bool known = false;
    if (s->unchecked && give && jlen > 2) {
        json_t *o = json_loadb (json, jlen, 0, NULL);
        known = json_is_true (json_object_get (o, "verified"));
        json_decref (o);
    }
    if (share && share == dp->cur_frame && !strcmp (dp->cur_id, s->idhex) && dp->cur_idx == s->idx) {
        zmq_msg_init (&out);   /* the verified sealed frame just received: forward it */
        zmq_msg_copy (&out, share);
        d->n_forwarded++;
    }
    else if (distunits_size (d->ut)) {   /* units (doc/distribution.md, "Transfer units") */
        if (share)
            good = seal_unit (dp, d, s->idx, zmq_msg_data (share), zmq_msg_size (share), false, &out);
        else
            good = seal_unit (dp, d, s->idx, give ? give : data, give ? glen : len, known, &out);
    }
    else if (share)   /* a plaintext frame from elsewhere (a CURVE transfer) */
        good = seal_plain (dp, d, s->idx, zmq_msg_data (share), zmq_msg_size (share), false, &out);
    else if (give)    /* read by svc_chunk from the store (unchecked) or the extraction */
        good = seal_plain (dp, d, s->idx, give, glen, known, &out);
    else
        good = seal_plain (dp, d, s->idx, data, len, false, &out);
    overlay_buf_free (give);
    if (!good && s->unchecked) {
        /* the store read it without a hash (the seal's is the check): read
         * it again, verified, so a damaged copy is found, marked and
         * reported by the store exactly as on any read, and the requester
         * gets its EBADMSG (doc/distribution.md, "Faults") */
        zmq_msg_close (&out);
        overlay_log (dp->ov, "archive %s: %s %u does not match its manifest here; reading it again, "
                     "verified", d->name, distunits_size (d->ut) ? "unit" : "chunk", s->idx);
        struct sreq *r = xcalloc (1, sizeof *r);
        *r = *s;
        r->unchecked = false;
        zlistx_add_end (dp->recheck, r);
        if (dp->recheck_timer < 0)
            dp->recheck_timer = zloop_timer (overlay_loop (dp->ov), 1, 1, recheck_serve, dp);
        return;
    }
    if (!good)
        overlay_log (dp->ov, "archive %s: %s %u does not match its manifest here; sent as corrupt",
                     d->name, distunits_size (d->ut) ? "unit" : "chunk", s->idx);
    send_to_requester (dp, s->rid, s->ridlen, &s->req, 0, json, jlen, &out);
    zmq_msg_close (&out);
}

/* ---- client side ---- */

static int on_dealer (zloop_t *loop, zmq_pollitem_t *item, void *arg);
static void on_endpoint (overlay_t *ov, const cmsg_t *msg, void *arg);

static void deliver_error (dataplane_t *dp, uint32_t tag, int errnum, const char *why)
{
    if (!overlay_rpc_pending (dp->ov, tag))
        return;
    cmsg_t msg = { 0 };
    cmsg_hdr_init (&msg.hdr, CMSG_RESPONSE, "archive.chunk");
    msg.hdr.matchtag = tag;
    msg.hdr.errnum = errnum;
    msg.hdr.dest = overlay_rank (dp->ov);
    msg.json = json_pack ("{s:s}", "errstr", why);
    overlay_deliver (dp->ov, &msg);
    json_decref (msg.json);
}

static int send_creq (dataplane_t *dp, struct peer *p, struct creq *c)
{
    cmsg_hdr_t h;
    cmsg_hdr_init (&h, CMSG_REQUEST, c->ping ? "dataplane.ping" : "archive.chunk");
    h.matchtag = c->tag;
    h.src = overlay_rank (dp->ov);
    h.dest = p->rank;
    h.flags = CMSG_F_PEER;
    if (c->ping)
        return send_msg (p->sock, NULL, 0, &h, "{}", 2, NULL);
    struct dist *d = dist_find (dp, c->idhex);
    if (!d)
        return -1;
    char tok[2 * CHUNKSEAL_TOKENLEN + 1], js[160];
    hex (d->token, CHUNKSEAL_TOKENLEN, tok);
    int jl = snprintf (js, sizeof js, "{\"dist\":\"%s\",\"token\":\"%s\",\"idx\":%u}", d->idhex, tok, c->idx);
    return send_msg (p->sock, NULL, 0, &h, js, jl, NULL);
}

static void fail_queue (dataplane_t *dp, struct peer *p, const char *why)
{
    zlistx_t *q = p->queue;
    p->queue = zlistx_new ();
    for (void *t = zlistx_first (q); t; t = zlistx_next (q)) {
        uint32_t tag = (uintptr_t)t;
        char key[16];
        keyfmt (key, sizeof key, tag);
        zhashx_delete (dp->creqs, key);
        deliver_error (dp, tag, EHOSTUNREACH, why);
    }
    zlistx_destroy (&q);
}

static void on_endpoint (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    dataplane_t *dp = arg;
    uint32_t rank = msg->hdr.src;
    if (rank >= overlay_size (ov))
        return;
    struct peer *p = &dp->peers[rank];
    if (p->state != P_ASKING)
        return;
    const char *uri = NULL;
    char why[1200];
    if (msg->hdr.errnum || json_unpack (msg->json, "{s:s}", "uri", &uri) < 0) {
        const char *es = NULL;
        json_unpack (msg->json, "{s:s}", "errstr", &es);
        snprintf (why, sizeof why, "rank %u has no data endpoint (%s)", rank,
                  es ? es : msg->hdr.errnum ? strerror (msg->hdr.errnum) : "malformed answer");
        p->state = P_NONE;
        fail_queue (dp, p, why);
        return;
    }
    /* tcp: the peer's port on the host we reach it at; ipc: as given */
    char ep[512];
    const char *conn = overlay_connect_endpoint (ov, rank);
    if (!conn) {   /* its host left the instance meanwhile */
        snprintf (why, sizeof why, "rank %u has no endpoint (a free rank)", rank);
        p->state = P_NONE;
        fail_queue (dp, p, why);
        return;
    }
    const char *port = strrchr (uri, ':');
    const char *hend = strrchr (conn, ':');
    if (!strncmp (uri, "tcp://", 6) && !strncmp (conn, "tcp://", 6) && port && hend)
        snprintf (ep, sizeof ep, "%.*s%s", (int)(hend - conn), conn, port);
    else
        snprintf (ep, sizeof ep, "%s", uri);
    void *s = zmq_socket (overlay_zctx (ov), ZMQ_DEALER);
    int hwm = DP_HWM, linger = 0, ivl = 200, ivlmax = 2000;
    zmq_setsockopt (s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt (s, ZMQ_RECONNECT_IVL_MAX, &ivlmax, sizeof ivlmax);
    if (zmq_connect (s, ep) < 0) {
        snprintf (why, sizeof why, "rank %u: cannot connect to data endpoint %s: %s", rank, ep,
                  zmq_strerror (errno));
        zmq_close (s);
        p->state = P_NONE;
        fail_queue (dp, p, why);
        return;
    }
    zmq_pollitem_t item = { .socket = s, .events = ZMQ_POLLIN };
    zloop_poller (overlay_loop (ov), &item, on_dealer, p);
    p->sock = s;
    p->state = P_READY;
    p->last_rx = now_ms ();
    for (void *t = zlistx_first (p->queue); t; t = zlistx_next (p->queue)) {
        char key[16];
        keyfmt (key, sizeof key, (uint32_t)(uintptr_t)t);
        struct creq *c = zhashx_lookup (dp->creqs, key);
        if (c && overlay_rpc_pending (ov, c->tag))
            send_creq (dp, p, c);
    }
    zlistx_purge (p->queue);
    p->ready_at = now_ms ();
    p->answered = false;
}

static uint32_t creq_start (dataplane_t *dp, struct dist *d, uint32_t rank, uint32_t idx, bool ping,
                            overlay_msg_f cb, void *arg);

uint32_t dataplane_chunk_rpc (dataplane_t *dp, const char *dist, uint32_t rank, uint32_t idx,
                              overlay_msg_f cb, void *arg)
{
    struct dist *d = dist_find (dp, dist);
    if (!d || rank >= overlay_size (dp->ov))
        return 0;
    d->last_used = now_ms ();
    return creq_start (dp, d, rank, idx, false, cb, arg);
}

uint32_t dataplane_ping (dataplane_t *dp, uint32_t rank, overlay_msg_f cb, void *arg)
{
    if (rank >= overlay_size (dp->ov))
        return 0;
    return creq_start (dp, NULL, rank, 0, true, cb, arg);
}

static uint32_t creq_start (dataplane_t *dp, struct dist *d, uint32_t rank, uint32_t idx, bool ping,
                            overlay_msg_f cb, void *arg)
{
    overlay_t *ov = dp->ov;
    struct peer *p = &dp->peers[rank];
    if (p->state == P_NONE) {
        if (overlay_peer_rpc (ov, rank, "dataplane.endpoint", json_object (), NULL, 0, 0, on_endpoint, dp,
                              &p->ask_tag, NULL, 0) < 0)
            return 0;
        p->state = P_ASKING;
        p->asked_at = p->last_ask = now_ms ();
    }
    uint32_t tag = overlay_rpc_expect (ov, cb, arg, false);
    struct creq *c = xcalloc (1, sizeof *c);
    if (!tag || !c) {
        free (c);
        if (tag)
            overlay_rpc_cancel (ov, tag);
        return 0;
    }
    c->tag = tag;
    c->rank = rank;
    c->idx = idx;
    c->ping = ping;
    if (d)
        memcpy (c->idhex, d->idhex, sizeof c->idhex);
    c->t = now_ms ();
    char key[16];
    keyfmt (key, sizeof key, tag);
    zhashx_update (dp->creqs, key, c);
    if (p->state == P_READY) {
        if (send_creq (dp, p, c) < 0) {
            zhashx_delete (dp->creqs, key);
            overlay_rpc_cancel (ov, tag);
            return 0;
        }
    }
    else
        zlistx_add_end (p->queue, (void *)(uintptr_t)tag);
    return tag;
}

/* Open sealed unit j (frame f) under the nonces and AAD of what was asked
 * for and deliver its plaintext (a piece, or the pack's chunks one after
 * another) as the response msg; a unit that fails any tag goes with no data
 * (a corrupt unit). */
static void unit_open_deliver (dataplane_t *dp, struct peer *p, struct dist *d, uint32_t j, cmsg_t *msg,
                               zmq_msg_t *f)
{
    overlay_t *ov = dp->ov;
    const distunit_t *u = distunits_get (d->ut, j);
    size_t slen = zmq_msg_size (f);
    const uint8_t *in = zmq_msg_data (f);
    uint8_t *buf = overlay_buf_new (u->len ? u->len : 1);
    char err[256] = "out of memory";
    int rc = buf ? 0 : CHUNKSEAL_EBADLEN;
    if (!rc && u->npieces)
        rc = chunkseal_open_piece (d->seal, u->chunk, u->off, d->len[u->chunk], d->hash[u->chunk], in, slen, buf,
                                   err, sizeof err);
    else if (!rc) {
        if (slen != (size_t)u->len + (size_t)u->nchunks * CHUNKSEAL_TAGLEN) {
            snprintf (err, sizeof err, "unit %u: %zu bytes, not its %u chunks sealed", j, slen, u->nchunks);
            rc = CHUNKSEAL_EBADLEN;
        }
        for (size_t k = 0, ip = 0, op = 0; !rc && k < u->nchunks; k++) {
            uint32_t c = u->chunk + k;
            rc = chunkseal_open (d->seal, c, d->hash[c], in + ip, d->len[c] + CHUNKSEAL_TAGLEN, buf + op, 0, err,
                                 sizeof err);
            ip += d->len[c] + CHUNKSEAL_TAGLEN;
            op += d->len[c];
        }
    }
    if (rc == 0) {
        d->n_opened += u->nchunks;
        msg->hdr.flags |= CMSG_F_DATA;
        msg->data = buf;
        msg->data_len = u->len;
        msg->frame = f;
        cache_put (d, j, f);
        dp->cur_frame = f;
        memcpy (dp->cur_id, d->idhex, sizeof dp->cur_id);
        dp->cur_idx = j;
        overlay_deliver (ov, msg);
        dp->cur_frame = NULL;
    }
    else {
        overlay_log (ov, "archive %s: sealed chunk from rank %u rejected: unit %u: %s", d->name, p->rank, j,
                     err);
        overlay_deliver (ov, msg);   /* no data: counted as a corrupt unit */
    }
    overlay_buf_free (buf);
}

static void handle_response (dataplane_t *dp, struct peer *p, zmq_msg_t *f, int n)
{
    overlay_t *ov = dp->ov;
    p->last_rx = now_ms ();
    if (!p->answered) {   /* the stall timer counts from the link's first answer */
        p->answered = true;
        p->ready_at = p->last_rx;
    }
    cmsg_hdr_t h;
    const char *why = NULL;
    if (n < 2 || cmsg_hdr_decode (&h, zmq_msg_data (&f[0]), zmq_msg_size (&f[0]), &why) < 0
        || h.type != CMSG_RESPONSE)
        return;
    h.flags &= ~CMSG_F_DATA;
    char key[16];
    keyfmt (key, sizeof key, h.matchtag);
    struct creq *c = zhashx_lookup (dp->creqs, key);
    if (!c || c->rank != p->rank)
        return;
    uint32_t idx = c->idx;
    bool ping = c->ping;
    char idhex[sizeof c->idhex];
    memcpy (idhex, c->idhex, sizeof idhex);
    zhashx_delete (dp->creqs, key);
    if (!overlay_rpc_pending (ov, h.matchtag))
        return;   /* cancelled: nobody wants it, do not even open it */
    if (ping) {
        cmsg_t pm = { .hdr = h };
        pm.json = json_object ();
        overlay_deliver (ov, &pm);
        json_decref (pm.json);
        return;
    }
    cmsg_t msg = { .hdr = h };
    json_error_t jerr;
    msg.json = zmq_msg_size (&f[1]) ? json_loadb (zmq_msg_data (&f[1]), zmq_msg_size (&f[1]), 0, &jerr)
                                    : json_object ();
    if (!msg.json || !json_is_object (msg.json)) {
        json_decref (msg.json);
        msg.json = json_object ();
    }
    struct dist *d = dist_find (dp, idhex);
    if (!h.errnum && n == 3 && d && distunits_size (d->ut)) {
        unit_open_deliver (dp, p, d, idx, &msg, &f[2]);
    }
    else if (!h.errnum && n == 3 && d) {
        size_t slen = zmq_msg_size (&f[2]);
        size_t len = slen >= CHUNKSEAL_TAGLEN ? slen - CHUNKSEAL_TAGLEN : 0;
        uint8_t *buf = overlay_buf_new (len);
        char err[256];
        /* the tag alone: it binds the manifest's SHA-256, which the sealer
         * checked (seal_plain) */
        int rc = buf ? chunkseal_open (d->seal, idx, d->hash[idx], zmq_msg_data (&f[2]), slen, buf, 0,
                                       err, sizeof err)
                     : CHUNKSEAL_EBADLEN;
        if (rc == 0 && len == d->len[idx]) {
            d->n_opened++;
            msg.hdr.flags |= CMSG_F_DATA;
            msg.data = buf;
            msg.data_len = len;
            msg.frame = &f[2];
            cache_put (d, idx, &f[2]);
            dp->cur_frame = &f[2];
            memcpy (dp->cur_id, idhex, sizeof dp->cur_id);
            dp->cur_idx = idx;
            overlay_deliver (ov, &msg);
            dp->cur_frame = NULL;
        }
        else {
            overlay_log (ov, "archive %s: sealed chunk from rank %u rejected: %s", d->name, p->rank,
                         buf ? err : "out of memory");
            overlay_deliver (ov, &msg);   /* no data: counted as a corrupt chunk */
        }
        overlay_buf_free (buf);
    }
    else if (!h.errnum && !d) {
        msg.hdr.errnum = EIO;
        json_object_set_new (msg.json, "errstr", json_string ("data plane: distribution forgotten"));
        overlay_deliver (ov, &msg);
    }
    else
        overlay_deliver (ov, &msg);
    json_decref (msg.json);
}

static int on_dealer (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    struct peer *p = arg;
    (void)loop;
    for (int k = 0; k < 256 && p->sock && readable (p->sock); k++) {
        zmq_msg_t f[3];
        int n = recv_multi (p->sock, f, 3);
        if (n < 0)
            continue;
        handle_response (p->dp, p, f, n);
        for (int i = 0; i < n; i++)
            zmq_msg_close (&f[i]);
    }
    return 0;
}

/* ---- setup ---- */

static void dataplane_endpoint_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    dataplane_t *dp = arg;
    overlay_respond (ov, &msg->hdr, json_pack ("{s:s}", "uri", dp->uri), NULL, 0);
}

static int on_timer (zloop_t *loop, int timer_id, void *arg)
{
    dataplane_t *dp = arg;
    (void)loop;
    (void)timer_id;
    int64_t now = now_ms ();
    zlistx_t *keys = zhashx_keys (dp->creqs);
    for (char *k = zlistx_first (keys); k; k = zlistx_next (keys)) {
        struct creq *c = zhashx_lookup (dp->creqs, k);
        struct peer *p = &dp->peers[c->rank];
        bool pending = overlay_rpc_pending (dp->ov, c->tag);
        if (pending && p->state == P_READY && now - c->t > DP_SILENT_MS && now - p->last_rx > DP_SILENT_MS)
            p->stale = true;
        if (now - c->t > DP_REQ_MAX_MS || !pending)
            zhashx_delete (dp->creqs, k);   /* a queued tag without its creq is skipped */
    }
    zlistx_destroy (&keys);
    for (uint32_t r = 0; r < overlay_size (dp->ov); r++) {
        /* a lookup unanswered for DP_ASK_RETRY_MS (seen at 128 brokers
         * starting at once): ask again, through the tree this time */
        struct peer *p = &dp->peers[r];
        if (p->state != P_ASKING || now - p->last_ask < DP_ASK_RETRY_MS)
            continue;
        overlay_rpc_cancel (dp->ov, p->ask_tag);
        p->last_ask = now;
        p->ask_tag = 0;
        overlay_rpc (dp->ov, r, "dataplane.endpoint", json_object (), NULL, 0, 0, on_endpoint, dp, &p->ask_tag,
                     NULL, 0);
        dp->n_reasked++;
        if (now - dp->last_reask_log >= DP_LOG_MS) {
            dp->last_reask_log = now;
            overlay_log (dp->ov, "data plane: no answer from rank %u to the endpoint lookup for %d s; asking "
                         "again through the tree (%llu such lookups so far)", r, DP_ASK_RETRY_MS / 1000,
                         (unsigned long long)dp->n_reasked);
        }
    }
    for (uint32_t r = 0; r < overlay_size (dp->ov); r++) {
        struct peer *p = &dp->peers[r];
        if (!p->stale)
            continue;
        p->stale = false;
        zmq_pollitem_t item = { .socket = p->sock };
        zloop_poller_end (overlay_loop (dp->ov), &item);
        zmq_close (p->sock);
        p->sock = NULL;
        p->state = P_NONE;
        /* ask again and send what is still wanted on the new connection */
        for (struct creq *c = zhashx_first (dp->creqs); c; c = zhashx_next (dp->creqs))
            if (c->rank == r)
                zlistx_add_end (p->queue, (void *)(uintptr_t)c->tag);
        if (overlay_peer_rpc (dp->ov, r, "dataplane.endpoint", json_object (), NULL, 0, 0, on_endpoint, dp,
                              &p->ask_tag, NULL, 0) == 0) {
            p->state = P_ASKING;
            p->asked_at = p->last_ask = now_ms ();
        }
        overlay_log (dp->ov, "data plane: rank %u silent for %d s with requests out; asking for its "
                     "endpoint again", r, DP_SILENT_MS / 1000);
    }
    struct early *e;
    while ((e = zlistx_first (dp->early)) && now - e->t > DP_EARLY_MS) {
        refuse (dp, e->addr, "unknown distribution");
        free (zlistx_detach (dp->early, NULL));
    }
    keys = zhashx_keys (dp->sreqs);
    for (char *k = zlistx_first (keys); k; k = zlistx_next (keys)) {
        struct sreq *s = zhashx_lookup (dp->sreqs, k);
        if (now - s->t > DP_REQ_MAX_MS)
            zhashx_delete (dp->sreqs, k);
    }
    zlistx_destroy (&keys);
    keys = zhashx_keys (dp->dists);
    for (char *k = zlistx_first (keys); k; k = zlistx_next (keys)) {
        struct dist *d = zhashx_lookup (dp->dists, k);
        uint64_t n = d->n_opened + d->n_cached + d->n_forwarded + d->n_sealed;
        if (n != d->n_logged && now - d->last_used > 2000) {
            d->n_logged = n;
            overlay_log (dp->ov, "archive %s: sealed distribution %s: %llu chunks opened here; served "
                         "%llu from the cache, %llu forwarded on arrival, %llu sealed here (%llu of them "
                         "known good, not hashed again)", d->name,
                         d->idhex, (unsigned long long)d->n_opened, (unsigned long long)d->n_cached,
                         (unsigned long long)d->n_forwarded, (unsigned long long)d->n_sealed,
                         (unsigned long long)d->n_known);
        }
        if (now - d->last_used > DP_IDLE_MS)
            zhashx_delete (dp->dists, k);
    }
    zlistx_destroy (&keys);
    return 0;
}

static void free_item (void **item)
{
    free (*item);
    *item = NULL;
}
static const overlay_handler_t handlers[] = {
    { "dataplane.endpoint", dataplane_endpoint_request },
    OVERLAY_HANDLER_END,
};


dataplane_t *dataplane_new (overlay_t *ov, char *err, size_t errlen)
{
    const char *bind = overlay_bind_endpoint (ov);
    if (!bind) {
        snprintf (err, errlen, "data plane: this broker has no bound endpoint");
        return NULL;
    }
    char ep[512];
    if (!strncmp (bind, "tcp://", 6) && strrchr (bind, ':') > bind + 5)
        snprintf (ep, sizeof ep, "%.*s:*", (int)(strrchr (bind, ':') - bind), bind);
    else if (!strncmp (bind, "ipc://", 6))
        snprintf (ep, sizeof ep, "ipc://%s/data", overlay_rundir (ov));
    else {
        snprintf (err, errlen, "data plane: cannot derive a data endpoint from %s", bind);
        return NULL;
    }
    dataplane_t *dp = xcalloc (1, sizeof *dp);
    if (!dp) {
        snprintf (err, errlen, "data plane: out of memory");
        return NULL;
    }
    dp->ov = ov;
    dp->router = zmq_socket (overlay_zctx (ov), ZMQ_ROUTER);
    int hwm = DP_HWM, linger = 0, one = 1;
    int64_t maxmsg = 4096;   /* requests are small: never buffer a stranger's megabytes */
    zmq_setsockopt (dp->router, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (dp->router, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (dp->router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (dp->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt (dp->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    uint32_t n = overlay_size (ov);   /* downstreams connect at once (as the overlay's) */
    int backlog = n > 100 ? (n < 4096 ? (int)n : 4096) : 100;
    zmq_setsockopt (dp->router, ZMQ_BACKLOG, &backlog, sizeof backlog);
    if (!strncmp (ep, "ipc://", 6))
        unlink (ep + 6);
    if (zmq_bind (dp->router, ep) < 0) {
        snprintf (err, errlen, "data plane: cannot bind %s: %s", ep, zmq_strerror (errno));
        zmq_close (dp->router);
        free (dp);
        return NULL;
    }
    char last[512] = "";
    size_t ll = sizeof last;
    zmq_getsockopt (dp->router, ZMQ_LAST_ENDPOINT, last, &ll);
    dp->uri = xstrdup (last);
    dp->dists = zhashx_new ();
    zhashx_set_destructor (dp->dists, dist_free);
    dp->creqs = zhashx_new ();
    zhashx_set_destructor (dp->creqs, free_item);
    dp->sreqs = zhashx_new ();
    zhashx_set_destructor (dp->sreqs, free_item);
    dp->early = zlistx_new ();
    zlistx_set_destructor (dp->early, free_item);
    dp->early_timer = -1;
    dp->recheck = zlistx_new ();
    zlistx_set_destructor (dp->recheck, free_item);
    dp->recheck_timer = -1;
    dp->peers = xcalloc (overlay_size (ov), sizeof *dp->peers);
    for (uint32_t r = 0; r < overlay_size (ov); r++) {
        dp->peers[r].dp = dp;
        dp->peers[r].rank = r;
        dp->peers[r].queue = zlistx_new ();
    }
    const char *ce = getenv ("CANOPY_TEST_CORRUPT_SEALED");
    dp->corrupt_every = ce ? atol (ce) : 0;
    zmq_pollitem_t item = { .socket = dp->router, .events = ZMQ_POLLIN };
    zloop_poller (overlay_loop (ov), &item, on_router, dp);
    dp->timer = zloop_timer (overlay_loop (ov), 1000, 0, on_timer, dp);
    overlay_set_data_responder (ov, on_respond, dp);
    if (overlay_handlers_add (ov, handlers, dp, err, errlen) < 0) {
        dataplane_destroy (&dp);
        return NULL;
    }
    return dp;
}

int64_t dataplane_link_since (const dataplane_t *dp, uint32_t rank)
{
    if (rank >= overlay_size (dp->ov))
        return 0;
    const struct peer *p = &dp->peers[rank];
    if (p->state == P_READY && p->answered)
        return p->ready_at;
    /* being looked up, or connected but nothing back yet (a TCP connection
     * opened through a saturated link can wait seconds for its SYN to get
     * through): not the upstream's time, for a while */
    if (p->state == P_ASKING || p->state == P_READY) {
        int64_t now = now_ms ();
        return now - p->asked_at < DP_SILENT_MS ? now : p->asked_at + DP_SILENT_MS;
    }
    return 0;
}

const char *dataplane_uri (const dataplane_t *dp)
{
    return dp->uri;
}

void dataplane_destroy (dataplane_t **pp)
{
    if (!pp || !*pp)
        return;
    dataplane_t *dp = *pp;
    overlay_t *ov = dp->ov;
    overlay_set_data_responder (ov, NULL, NULL);
    zloop_t *loop = overlay_loop (ov);
    if (loop) {
        zmq_pollitem_t item = { .socket = dp->router };
        zloop_poller_end (loop, &item);
        zloop_timer_end (loop, dp->timer);
        if (dp->early_timer >= 0)
            zloop_timer_end (loop, dp->early_timer);
        if (dp->recheck_timer >= 0)
            zloop_timer_end (loop, dp->recheck_timer);
    }
    for (uint32_t r = 0; r < overlay_size (ov); r++) {
        struct peer *p = &dp->peers[r];
        if (p->sock) {
            if (loop) {
                zmq_pollitem_t item = { .socket = p->sock };
                zloop_poller_end (loop, &item);
            }
            zmq_close (p->sock);
        }
        zlistx_destroy (&p->queue);
    }
    free (dp->peers);
    zmq_close (dp->router);
    if (dp->uri && !strncmp (dp->uri, "ipc://", 6))
        unlink (dp->uri + 6);
    zhashx_destroy (&dp->dists);
    zhashx_destroy (&dp->creqs);
    zhashx_destroy (&dp->sreqs);
    zlistx_destroy (&dp->early);
    zlistx_destroy (&dp->recheck);
    free (dp->uri);
    free (dp);
    *pp = NULL;
}
