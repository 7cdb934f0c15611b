/* overlay.c - links, routing, liveness and dispatch for one broker.
 *
 * One thread, one zloop.  Messages are [header][json][data?] (see
 * doc/protocol.md).  Messages in transit are forwarded frame by frame with
 * only the header re-encoded, so a 1 MiB chunk is never copied by a relay.
 * Work created by service code for this same broker (an RPC to self, a
 * response to our own RPC) is posted through an inproc socket pair, so
 * callbacks never re-enter each other.
 */
#define _GNU_SOURCE
#include "overlay.h"
#include "clock.h"
#include "xalloc.h"
#include "members.h"
#include "privdir.h"
#include "errquote.h"
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define HWM 200000

struct service {
    char *topic;
    size_t len;
    bool prefix;
    overlay_msg_f cb;
    void *arg;
};

struct pending {
    overlay_msg_f cb;
    void *arg;
    bool streaming;
};

struct child {
    uint32_t rank;
    int state;
    int64_t last_seen;
    uint32_t online;      /* online brokers in its subtree, as it reported */
    uint32_t bootid;
    char id[32];          /* routing id of the accepted incarnation ("RANK.NONCE") */
    size_t idlen;
    long long pid;        /* its pid and host, as its hello said */
    char host[64];
};

struct waiter {
    cmsg_hdr_t req;
    uint32_t want;
    int64_t deadline;
};

/* a message in transit: decoded header plus its payload frames */
struct raw {
    cmsg_hdr_t hdr;
    zmq_msg_t json;
    zmq_msg_t data;
    bool has_data;
};

struct overlay {
    const config_t *cfg;
    const topo_t *topo;
    uint32_t rank, size;
    zloop_t *loop;
    void *zctx;
    void *parent_sock, *child_sock, *local_sock, *zap_sock, *self_push, *self_pull, *mon_sock;
    zcert_t *cert;
    char *rundir, *local_uri, *local_path;
    struct child *children;
    uint32_t nchildren;
    int parent_state;
    int64_t parent_last_seen;
    uint32_t last_reported_online;
    zhashx_t *inflight;  /* key -> struct inflight */
    zhashx_t *rpcs;      /* matchtag -> struct pending */
    uint32_t next_matchtag;
    uint32_t bootid;
    struct service *svcs;
    size_t nsvcs;
    struct service *subs;
    size_t nsubs;
    zlistx_t *waiters;
    overlay_peer_f peer_cb;
    void *peer_arg;
    void **peer_socks;   /* direct DEALERs to other brokers, by rank (lazy) */
    int hb_timer;
    uint32_t up;         /* the rank parent_sock goes to: the parent, or an ancestor
                          * while the parent is down (doc/membership.md) */
    int64_t up_since;    /* when we started trying `up` */
    void *probe_sock;    /* while attached past the parent: a link to the parent,
                          * to move back when it answers */
    char **ephost;       /* by rank: host and connect endpoint, from the config for */
    char **epconn;       /* listed hosts, from the membership table for joined ones */
    members_t *members;  /* rank 0: the membership table (doc/membership.md) */
    char *members_path;  /* rank 0: where it is kept */
    char *bind_ep;       /* the endpoint this broker bound */
    int lock_fd;         /* flock'ed RUNDIR/lock, holding our pid */
    uid_t owner;         /* the instance owner: may use the local socket (and root) */
    zhashx_t *refused;   /* peer address -> struct refusal (log rate limit) */
    int64_t parent_refused_since;   /* the parent refuses us as a duplicate (0: no) */
    char fatal[512];     /* why the loop stopped, if it was an error */
    overlay_data_respond_f data_respond;   /* answers CMSG_F_DATA requests */
    void *data_arg;
};

#define LOCAL_ZAP_DOMAIN "canopy-local"
/* refused connections: the first from an address is logged at once, then at
 * most one line per address per REFUSAL_LOG_MS with the count in between */
#define REFUSAL_LOG_MS 20000

struct refusal {
    int64_t last_logged;
    uint64_t suppressed;
};
static void log_refusal (overlay_t *ov, const char *who, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));


void overlay_log (overlay_t *ov, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (buf, sizeof buf, fmt, ap);
    va_end (ap);
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r (&ts.tv_sec, &tm);
    fprintf (stderr, "%02d:%02d:%02d.%03ld broker[%u]: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
             ts.tv_nsec / 1000000, ov ? ov->rank : 0, buf);
}

/* ---- accessors ---- */
uint32_t overlay_rank (const overlay_t *ov) { return ov->rank; }
uint32_t overlay_size (const overlay_t *ov) { return ov->size; }
const topo_t *overlay_topo (const overlay_t *ov) { return ov->topo; }
const config_t *overlay_config (const overlay_t *ov) { return ov->cfg; }
const char *overlay_rundir (const overlay_t *ov) { return ov->rundir; }
const char *overlay_local_uri (const overlay_t *ov) { return ov->local_uri; }
zloop_t *overlay_loop (overlay_t *ov) { return ov->loop; }
void *overlay_zctx (overlay_t *ov) { return ov->zctx; }
const char *overlay_hostname (const overlay_t *ov, uint32_t r)
{
    return r < ov->size && ov->ephost[r] ? ov->ephost[r] : "?";
}
const char *overlay_connect_endpoint (const overlay_t *ov, uint32_t r) { return r < ov->size ? ov->epconn[r] : NULL; }
const char *overlay_bind_endpoint (const overlay_t *ov) { return ov->bind_ep; }
void overlay_set_peer_cb (overlay_t *ov, overlay_peer_f cb, void *arg)
{
    ov->peer_cb = cb;
    ov->peer_arg = arg;
}
const char *overlay_fatal (const overlay_t *ov)
{
    return ov->parent_refused_since ? ov->fatal : NULL;
}
bool overlay_parent_ok (const overlay_t *ov) { return ov->rank == 0 || ov->parent_state == PEER_ONLINE; }

static void *mksock (overlay_t *ov, int type);
static int poll_add (overlay_t *ov, void *sock, zloop_fn *fn);
static void *up_sock_new (overlay_t *ov, uint32_t r, bool immediate);
static void set_up (overlay_t *ov, uint32_t r, void *sock);
static struct child *find_child (const overlay_t *ov, uint32_t rank);
/* A descendant that attaches here because its parent (or a nearer
 * ancestor) is down gets an entry like a child's. */
static struct child *add_child (overlay_t *ov, uint32_t rank)
{
    struct child *v = realloc (ov->children, (ov->nchildren + 1) * sizeof *v);
    if (!v)
        return NULL;
    ov->children = v;
    struct child *c = &v[ov->nchildren++];
    memset (c, 0, sizeof *c);
    c->rank = rank;
    return c;
}

static bool child_attached (uint32_t rank, void *arg)
{
    struct child *c = find_child (arg, rank);
    return c && c->state == PEER_ONLINE;
}

static struct child *find_child (const overlay_t *ov, uint32_t rank)
{
    for (uint32_t i = 0; i < ov->nchildren; i++)
        if (ov->children[i].rank == rank)
            return &ov->children[i];
    return NULL;
}

int overlay_child_state (const overlay_t *ov, uint32_t rank)
{
    struct child *c = find_child (ov, rank);
    return c ? c->state : -1;
}

uint32_t overlay_online_count (const overlay_t *ov)
{
    uint32_t n = 1;
    for (uint32_t i = 0; i < ov->nchildren; i++)
        if (ov->children[i].state == PEER_ONLINE)
            n += ov->children[i].online;
    return n;
}

/* ---- frames ---- */
static void raw_init (struct raw *m)
{
    zmq_msg_init (&m->json);
    zmq_msg_init (&m->data);
    m->has_data = false;
}

static void raw_close (struct raw *m)
{
    zmq_msg_close (&m->json);
    zmq_msg_close (&m->data);
}

static void raw_set (struct raw *m, const cmsg_hdr_t *h, const char *json, size_t jlen,
                     const void *data, size_t dlen)
{
    m->hdr = *h;
    zmq_msg_init_size (&m->json, jlen);
    if (jlen)
        memcpy (zmq_msg_data (&m->json), json, jlen);
    zmq_msg_init (&m->data);
    m->has_data = data != NULL;
    if (data) {
        zmq_msg_close (&m->data);
        zmq_msg_init_size (&m->data, dlen);
        if (dlen)
            memcpy (zmq_msg_data (&m->data), data, dlen);
    }
}

/* Buffers for zero-copy data frames: [capacity header][data].  Released by
 * zmq (in its I/O thread) or by us, so the pool has a lock. */
#define BUF_HDR 64
#define BUF_POOL 16
#define BUF_POOL_BYTES (32u << 20)   /* kept at most */
static pthread_mutex_t bufpool_lock = PTHREAD_MUTEX_INITIALIZER;
static void *bufpool[BUF_POOL];
static size_t nbufpool, bufpool_bytes;

void *overlay_buf_new (size_t len)
{
    void *base = NULL;
    pthread_mutex_lock (&bufpool_lock);
    for (size_t i = nbufpool; i-- > 0;)
        if (*(size_t *)bufpool[i] >= len) {
            base = bufpool[i];
            bufpool_bytes -= *(size_t *)base;
            bufpool[i] = bufpool[--nbufpool];
            break;
        }
    pthread_mutex_unlock (&bufpool_lock);
    if (!base) {
        if (!(base = malloc (BUF_HDR + (len ? len : 1))))
            return NULL;
        *(size_t *)base = len;
    }
    return (char *)base + BUF_HDR;
}

void overlay_buf_free (void *buf)
{
    if (!buf)
        return;
    void *base = (char *)buf - BUF_HDR;
    pthread_mutex_lock (&bufpool_lock);
    size_t cap = *(size_t *)base;
    if (nbufpool < BUF_POOL && bufpool_bytes + cap <= BUF_POOL_BYTES) {
        bufpool[nbufpool++] = base;
        bufpool_bytes += cap;
        base = NULL;
    }
    pthread_mutex_unlock (&bufpool_lock);
    free (base);
}

static void free_data (void *data, void *hint)
{
    (void)hint;
    overlay_buf_free (data);
}

/* As raw_set with no data, then the data frame: `give` (malloc'd, owned
 * from now on, even on failure) without a copy, else a reference to
 * `share` (a received frame) if given. */
static void raw_set_frame (struct raw *m, const cmsg_hdr_t *h, const char *json, size_t jlen,
                           void *give, size_t glen, zmq_msg_t *share)
{
    raw_set (m, h, json, jlen, NULL, 0);
    if (give) {
        zmq_msg_close (&m->data);
        if (zmq_msg_init_data (&m->data, give, glen, free_data, NULL) < 0) {
            overlay_buf_free (give);
            zmq_msg_init (&m->data);
            return;
        }
        m->has_data = true;
    }
    else if (share) {
        if (zmq_msg_copy (&m->data, share) == 0)
            m->has_data = true;
    }
}

/* Send m on sock (optionally prefixed by a routing id).  Frames are moved
 * out of m (m is left empty).  Returns 0 or -1 with errno. */
static int raw_send (void *sock, const void *id, size_t idlen, struct raw *m)
{
    uint8_t hbuf[CMSG_HDR_MAX];
    size_t hlen = cmsg_hdr_encode (&m->hdr, hbuf);
    if (id && zmq_send (sock, id, idlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    if (zmq_send (sock, hbuf, hlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    if (zmq_msg_send (&m->json, sock, (m->has_data ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) < 0)
        return -1;
    if (m->has_data && zmq_msg_send (&m->data, sock, ZMQ_DONTWAIT) < 0)
        return -1;
    return 0;
}

static void drain (void *sock)
{
    int more = 1;
    size_t sz = sizeof more;
    while (zmq_getsockopt (sock, ZMQ_RCVMORE, &more, &sz) == 0 && more) {
        zmq_msg_t f;
        zmq_msg_init (&f);
        zmq_msg_recv (&f, sock, 0);
        zmq_msg_close (&f);
    }
}

/* A message is waiting (handlers drain up to 256 per wakeup) */
static bool readable (void *sock)
{
    int ev = 0;
    size_t sz = sizeof ev;
    zmq_getsockopt (sock, ZMQ_EVENTS, &ev, &sz);
    return ev & ZMQ_POLLIN;
}

static bool rcvmore (void *sock)
{
    int more = 0;
    size_t sz = sizeof more;
    zmq_getsockopt (sock, ZMQ_RCVMORE, &more, &sz);
    return more;
}

/* Receive [id?][hdr][json][data?].  Returns 0, or -1 (message dropped). */
static int raw_recv (overlay_t *ov, void *sock, char *id, size_t *idlen, struct raw *m)
{
    raw_init (m);
    if (id) {
        int n = zmq_recv (sock, id, *idlen, 0);
        if (n < 0)
            return -1;
        if ((size_t)n > *idlen || !rcvmore (sock)) {
            drain (sock);
            return -1;
        }
        *idlen = n;
    }
    zmq_msg_t hf;
    zmq_msg_init (&hf);
    if (zmq_msg_recv (&hf, sock, 0) < 0) {
        zmq_msg_close (&hf);
        return -1;
    }
    const char *why = NULL;
    int rc = cmsg_hdr_decode (&m->hdr, zmq_msg_data (&hf), zmq_msg_size (&hf), &why);
    zmq_msg_close (&hf);
    m->hdr.flags &= ~CMSG_F_DATA;   /* local only: nobody outside may claim it */
    if (rc < 0 || !rcvmore (sock)) {
        overlay_log (ov, "dropped malformed message: %s", why ? why : "missing payload frame");
        drain (sock);
        return -1;
    }
    zmq_msg_recv (&m->json, sock, 0);
    if (rcvmore (sock)) {
        zmq_msg_recv (&m->data, sock, 0);
        m->has_data = true;
        if (rcvmore (sock)) {
            overlay_log (ov, "dropped malformed message: too many frames");
            drain (sock);
            raw_close (m);
            return -1;
        }
    }
    return 0;
}

/* ---- in-flight tracking ---- */
static void inflight_key (char *key, size_t len, const cmsg_hdr_t *h)
{
    char hex[2 * CMSG_SENDER_MAX + 1];
    for (int i = 0; i < h->sender_len; i++)
        sprintf (hex + 2 * i, "%02x", h->sender[i]);
    hex[2 * h->sender_len] = '\0';
    snprintf (key, len, "%u/%s/%u", h->type == CMSG_REQUEST ? h->src : h->dest, hex, h->matchtag);
}

/* A forwarded request still owed a response: if its next hop is lost, we
 * answer it ourselves from the request's own header. */
struct inflight {
    uint32_t hop;
    cmsg_hdr_t req;
};

static void track (overlay_t *ov, const cmsg_hdr_t *h, uint32_t hop)
{
    if (h->flags & CMSG_F_NORESPONSE)
        return;
    char key[128];
    inflight_key (key, sizeof key, h);
    struct inflight *f = malloc (sizeof *f);
    if (!f)
        return;
    f->hop = hop;
    f->req = *h;
    zhashx_update (ov->inflight, key, f);
}

static void untrack (overlay_t *ov, const cmsg_hdr_t *resp)
{
    if ((resp->flags & CMSG_F_STREAMING) && resp->errnum == 0)
        return;
    char key[128];
    inflight_key (key, sizeof key, resp);
    zhashx_delete (ov->inflight, key);
}

static void route (overlay_t *ov, struct raw *m, bool from_self);

/* Answer, with EHOSTUNREACH, every request we forwarded to `hop`. */
static void fail_inflight (overlay_t *ov, uint32_t hop)
{
    zlistx_t *keys = zhashx_keys (ov->inflight);
    for (char *key = zlistx_first (keys); key; key = zlistx_next (keys)) {
        struct inflight *f = zhashx_lookup (ov->inflight, key);
        if (!f || f->hop != hop)
            continue;
        cmsg_hdr_t h;
        cmsg_hdr_make_response (&h, &f->req, ov->rank, EHOSTUNREACH);
        zhashx_delete (ov->inflight, key);
        struct raw r;
        char msg[128];
        int n = snprintf (msg, sizeof msg, "{\"errstr\":\"rank %u: link lost\"}", hop);
        raw_set (&r, &h, msg, n, NULL, 0);
        route (ov, &r, true);
        raw_close (&r);
    }
    zlistx_destroy (&keys);
}

/* ---- peer state ---- */
static void set_child_state (overlay_t *ov, struct child *c, int state)
{
    if (c->state == state)
        return;
    static const char *names[] = { "offline", "online", "lost" };
    overlay_log (ov, "child %u (%s): %s -> %s", c->rank, overlay_hostname (ov, c->rank),
                 names[c->state], names[state]);
    c->state = state;
    if (state != PEER_ONLINE) {
        c->online = 0;
        fail_inflight (ov, c->rank);
    }
    if (ov->peer_cb)
        ov->peer_cb (ov, c->rank, names[state], ov->peer_arg);
}

/* A control message (heartbeat, goodbye, refused); the json says how many
 * brokers of our subtree are online and who we are (pid, host), so that a
 * parent refusing a duplicate can name the broker that runs. */
static int send_control_json (overlay_t *ov, void *sock, const void *id, size_t idlen,
                              const char *topic, const char *js, size_t n)
{
    cmsg_hdr_t h;
    cmsg_hdr_init (&h, CMSG_CONTROL, topic);
    h.src = ov->rank;
    h.matchtag = ov->bootid;
    struct raw r;
    raw_set (&r, &h, js, n, NULL, 0);
    int rc = raw_send (sock, id, idlen, &r);
    raw_close (&r);
    return rc;
}

static int send_control (overlay_t *ov, void *sock, const void *id, size_t idlen,
                         const char *topic, uint32_t online)
{
    char js[160];
    char host[64] = "";
    gethostname (host, sizeof host - 1);
    for (char *q = host; *q; q++)
        if (*q == '"' || *q == '\\' || (unsigned char)*q < 0x20)
            *q = '?';
    int n = snprintf (js, sizeof js, "{\"online\":%u,\"pid\":%ld,\"host\":\"%s\"}", online,
                      (long)getpid (), host);
    return send_control_json (ov, sock, id, idlen, topic, js, n);
}

static void report_up (overlay_t *ov, bool force)
{
    if (ov->rank == 0 || !ov->parent_sock)
        return;
    uint32_t n = overlay_online_count (ov);
    if (!force && n == ov->last_reported_online)
        return;
    ov->last_reported_online = n;
    send_control (ov, ov->parent_sock, NULL, 0, "heartbeat", n);
}

static void check_waiters (overlay_t *ov)
{
    uint32_t online = overlay_online_count (ov);
    int64_t now = now_ms ();
    zlistx_t *keep = zlistx_new ();
    struct waiter *w;
    while ((w = zlistx_detach (ov->waiters, NULL))) {
        if (online >= w->want)
            overlay_respond (ov, &w->req, json_pack ("{s:I}", "online", (json_int_t)online), NULL, 0);
        else if (now > w->deadline)
            overlay_respond_error (ov, &w->req, ETIMEDOUT, "only %u of %u brokers online", online,
                                   w->want);
        else {
            zlistx_add_end (keep, w);
            continue;
        }
        free (w);
    }
    zlistx_destroy (&ov->waiters);
    ov->waiters = keep;
}

/* ---- dispatch to this broker ---- */
static void deliver_local (overlay_t *ov, struct raw *m)
{
    cmsg_t msg = { .hdr = m->hdr };
    size_t jlen = zmq_msg_size (&m->json);
    if (jlen) {
        json_error_t jerr;
        msg.json = json_loadb (zmq_msg_data (&m->json), jlen, 0, &jerr);
        if (!msg.json || !json_is_object (msg.json)) {
            json_decref (msg.json);
            if (m->hdr.type == CMSG_REQUEST)
                overlay_respond_error (ov, &m->hdr, EPROTO, "malformed JSON payload");
            return;
        }
    }
    else
        msg.json = json_object ();
    if (m->has_data) {
        msg.data = zmq_msg_data (&m->data);
        msg.data_len = zmq_msg_size (&m->data);
        msg.frame = &m->data;
    }
    if (m->hdr.type == CMSG_REQUEST) {
        struct service *best = NULL;
        for (size_t i = 0; i < ov->nsvcs; i++) {
            struct service *s = &ov->svcs[i];
            if (s->prefix ? !strncmp (m->hdr.topic, s->topic, s->len) : !strcmp (m->hdr.topic, s->topic))
                if (!best || s->len > best->len)
                    best = s;
        }
        if (best)
            best->cb (ov, &msg, best->arg);
        else
            overlay_respond_error (ov, &m->hdr, ENOSYS, "no service for topic '%s'", m->hdr.topic);
    }
    else if (m->hdr.type == CMSG_RESPONSE) {
        char key[16];
        snprintf (key, sizeof key, "%u", m->hdr.matchtag);
        struct pending *p = zhashx_lookup (ov->rpcs, key);
        if (p) {
            bool final = !p->streaming || m->hdr.errnum != 0;
            struct pending copy = *p;
            if (final)
                zhashx_delete (ov->rpcs, key);
            copy.cb (ov, &msg, copy.arg);
        }
    }
    else if (m->hdr.type == CMSG_EVENT) {
        for (size_t i = 0; i < ov->nsubs; i++)
            if (!strncmp (m->hdr.topic, ov->subs[i].topic, ov->subs[i].len))
                ov->subs[i].cb (ov, &msg, ov->subs[i].arg);
    }
    json_decref (msg.json);
}

static void respond_unreachable (overlay_t *ov, const cmsg_hdr_t *req, int errnum, const char *why)
{
    if (req->type != CMSG_REQUEST || (req->flags & CMSG_F_NORESPONSE))
        return;
    overlay_respond_error (ov, req, errnum, "%s", why);
}

/* Forward or deliver.  m's frames are consumed. */
static void route (overlay_t *ov, struct raw *m, bool from_self)
{
    cmsg_hdr_t *h = &m->hdr;
    if (h->type == CMSG_EVENT) {
        for (uint32_t i = 0; i < ov->nchildren; i++) {
            struct child *c = &ov->children[i];
            if (c->state != PEER_ONLINE)
                continue;
            struct raw copy;
            raw_init (&copy);
            copy.hdr = m->hdr;
            copy.hdr.hops++;
            zmq_msg_copy (&copy.json, &m->json);
            if (m->has_data) {
                zmq_msg_copy (&copy.data, &m->data);
                copy.has_data = true;
            }
            raw_send (ov->child_sock, c->id, c->idlen, &copy);
            raw_close (&copy);
        }
        if (from_self) {
            struct raw copy;
            raw_init (&copy);
            copy.hdr = m->hdr;
            zmq_msg_copy (&copy.json, &m->json);
            if (m->has_data) {
                zmq_msg_copy (&copy.data, &m->data);
                copy.has_data = true;
            }
            raw_send (ov->self_push, NULL, 0, &copy);
            raw_close (&copy);
        }
        else
            deliver_local (ov, m);
        return;
    }
    uint32_t dest = h->dest;
    if (h->type == CMSG_REQUEST && dest == CANOPY_RANK_ANY)
        dest = h->dest = ov->rank;
    if (dest >= ov->size) {
        respond_unreachable (ov, h, EINVAL, "unknown rank");
        return;
    }
    if (dest == ov->rank) {
        if (h->type == CMSG_RESPONSE && h->sender_len > 0) {
            raw_send (ov->local_sock, h->sender, h->sender_len, m);
            return;
        }
        if (from_self)
            raw_send (ov->self_push, NULL, 0, m);
        else
            deliver_local (ov, m);
        return;
    }
    /* down to the attached broker nearest dest, or up (doc/membership.md) */
    uint32_t hop = members_next_hop (ov->topo, ov->rank, dest, child_attached, ov);
    h->hops++;
    if (hop == TOPO_NONE) {
        uint32_t first = topo_next_hop (ov->topo, ov->rank, dest);
        struct child *c = find_child (ov, first);
        char why[64];
        snprintf (why, sizeof why, "rank %u is %s", first, c && c->state == PEER_LOST ? "lost" : "offline");
        respond_unreachable (ov, h, EHOSTUNREACH, why);
        return;
    }
    if (hop == MEMBERS_UP) {
        hop = ov->up;
        if (ov->parent_state != PEER_ONLINE) {
            respond_unreachable (ov, h, EHOSTUNREACH, "parent link is down");
            return;
        }
        cmsg_hdr_t saved = *h;
        if (raw_send (ov->parent_sock, NULL, 0, m) < 0) {
            respond_unreachable (ov, &saved, EHOSTUNREACH, "cannot send to parent");
            return;
        }
        if (saved.type == CMSG_REQUEST)
            track (ov, &saved, hop);
        else
            untrack (ov, &saved);
    }
    else {
        struct child *c = find_child (ov, hop);
        if (!c || c->state != PEER_ONLINE) {
            char why[64];
            snprintf (why, sizeof why, "rank %u is %s", hop, c && c->state == PEER_LOST ? "lost" : "offline");
            respond_unreachable (ov, h, EHOSTUNREACH, why);
            return;
        }
        cmsg_hdr_t saved = *h;
        if (raw_send (ov->child_sock, c->id, c->idlen, m) < 0) {
            set_child_state (ov, c, PEER_LOST);
            respond_unreachable (ov, &saved, EHOSTUNREACH, "child link is down");
            return;
        }
        if (saved.type == CMSG_REQUEST)
            track (ov, &saved, hop);
        else
            untrack (ov, &saved);
    }
}

/* ---- public send API ---- */

/* A response goes back the way its request came: over the peer link it
 * arrived on, or through the tree. */
static void send_response (overlay_t *ov, const cmsg_hdr_t *req, struct raw *m)
{
    if (req->flags & CMSG_F_PEER) {
        if (req->src == ov->rank) {
            raw_send (ov->self_push, NULL, 0, m);
            return;
        }
        char id[16];
        int n = snprintf (id, sizeof id, "p%u", req->src);
        if (ov->child_sock)
            raw_send (ov->child_sock, id, n, m); /* a vanished peer: dropped */
        return;
    }
    route (ov, m, true);
}

static int on_peer (zloop_t *loop, zmq_pollitem_t *item, void *arg);

static void *peer_sock (overlay_t *ov, uint32_t rank)
{
    if (ov->peer_socks[rank])
        return ov->peer_socks[rank];
    void *s = zmq_socket (ov->zctx, ZMQ_DEALER);
    int hwm = HWM, linger = 0, ivl = 200, ivlmax = 2000;
    zmq_setsockopt (s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt (s, ZMQ_RECONNECT_IVL_MAX, &ivlmax, sizeof ivlmax);
    char id[16];
    int n = snprintf (id, sizeof id, "p%u", ov->rank);
    zmq_setsockopt (s, ZMQ_ROUTING_ID, id, n);
    zmq_setsockopt (s, ZMQ_CURVE_SERVERKEY, zcert_public_key (ov->cert), 32);
    zmq_setsockopt (s, ZMQ_CURVE_PUBLICKEY, zcert_public_key (ov->cert), 32);
    zmq_setsockopt (s, ZMQ_CURVE_SECRETKEY, zcert_secret_key (ov->cert), 32);
    if (!ov->epconn[rank] || zmq_connect (s, ov->epconn[rank]) < 0) {
        zmq_close (s);
        return NULL;
    }
    zmq_pollitem_t item = { .socket = s, .events = ZMQ_POLLIN };
    zloop_poller (ov->loop, &item, on_peer, ov);
    ov->peer_socks[rank] = s;
    return s;
}

static int on_peer (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    overlay_t *ov = arg;
    for (int k = 0; k < 256; k++) {
        if (!readable (item->socket))
            break;
        struct raw m;
        if (raw_recv (ov, item->socket, NULL, NULL, &m) < 0)
            continue;
        if (m.hdr.type == CMSG_RESPONSE)
            deliver_local (ov, &m);
        raw_close (&m);
    }
    return 0;
}

uint32_t overlay_peer_rpc (overlay_t *ov, uint32_t rank, const char *topic, json_t *json,
                           const void *data, size_t len, int flags, overlay_msg_f cb, void *arg)
{
    if (rank >= ov->size) {
        json_decref (json);
        return 0;
    }
    cmsg_hdr_t h;
    if (cmsg_hdr_init (&h, CMSG_REQUEST, topic) < 0) {
        json_decref (json);
        return 0;
    }
    if (++ov->next_matchtag == 0)
        ov->next_matchtag = 1;
    h.matchtag = ov->next_matchtag;
    h.flags = flags | CMSG_F_PEER;
    h.dest = rank;
    h.src = ov->rank;
    h.hops = 1;
    char *s = json ? json_dumps (json, JSON_COMPACT) : NULL;
    json_decref (json);
    struct raw m;
    raw_set (&m, &h, s ? s : "", s ? strlen (s) : 0, data, len);
    free (s);
    void *sock = rank == ov->rank ? ov->self_push : peer_sock (ov, rank);
    if (!sock || raw_send (sock, NULL, 0, &m) < 0) {
        raw_close (&m);
        return 0;
    }
    raw_close (&m);
    if (cb && !(flags & CMSG_F_NORESPONSE)) {
        struct pending *p = calloc (1, sizeof *p);
        p->cb = cb;
        p->arg = arg;
        p->streaming = flags & CMSG_F_STREAMING;
        char key[16];
        snprintf (key, sizeof key, "%u", h.matchtag);
        zhashx_update (ov->rpcs, key, p);
    }
    return h.matchtag;
}
/* One response: data copied, or `give` (from overlay_buf_new, owned from
 * now on) sent without a copy, or a reference to the received frame `share`. */
static int respond_frame (overlay_t *ov, const cmsg_hdr_t *req, json_t *json, const void *data,
                          size_t len, void *give, size_t glen, zmq_msg_t *share)
{
    if (req->flags & CMSG_F_NORESPONSE) {
        json_decref (json);
        overlay_buf_free (give);
        return 0;
    }
    cmsg_hdr_t h;
    cmsg_hdr_make_response (&h, req, ov->rank, 0);
    char *s = json ? json_dumps (json, JSON_COMPACT) : NULL;
    json_decref (json);
    if (req->flags & CMSG_F_DATA) {
        if (ov->data_respond)
            ov->data_respond (ov->data_arg, &h, s ? s : "", s ? strlen (s) : 0, data, len, give,
                              glen, share);
        else
            overlay_buf_free (give);
        free (s);
        return 0;
    }
    struct raw m;
    if (give || share)
        raw_set_frame (&m, &h, s ? s : "", s ? strlen (s) : 0, give, glen, share);
    else
        raw_set (&m, &h, s ? s : "", s ? strlen (s) : 0, data, len);
    free (s);
    send_response (ov, req, &m);
    raw_close (&m);
    return 0;
}

int overlay_respond (overlay_t *ov, const cmsg_hdr_t *req, json_t *json, const void *data,
                     size_t len)
{
    return respond_frame (ov, req, json, data, len, NULL, 0, NULL);
}

int overlay_respond_give (overlay_t *ov, const cmsg_hdr_t *req, json_t *json, void *data,
                          size_t len)
{
    return respond_frame (ov, req, json, NULL, 0, data, len, NULL);
}

int overlay_respond_share (overlay_t *ov, const cmsg_hdr_t *req, json_t *json, const cmsg_t *msg)
{
    if (!msg->frame)
        return overlay_respond (ov, req, json, msg->data, msg->data_len);
    return respond_frame (ov, req, json, NULL, 0, NULL, 0, msg->frame);
}

int overlay_respond_error (overlay_t *ov, const cmsg_hdr_t *req, int errnum, const char *fmt, ...)
{
    if (req->flags & CMSG_F_NORESPONSE)
        return 0;
    char buf[512] = "";
    if (fmt) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (buf, sizeof buf, fmt, ap);
        va_end (ap);
    }
    cmsg_hdr_t h;
    cmsg_hdr_make_response (&h, req, ov->rank, errnum ? errnum : EPROTO);
    json_t *o = json_pack ("{s:s}", "errstr", buf);
    char *s = json_dumps (o, JSON_COMPACT);
    json_decref (o);
    if (req->flags & CMSG_F_DATA) {
        if (ov->data_respond)
            ov->data_respond (ov->data_arg, &h, s, strlen (s), NULL, 0, NULL, 0, NULL);
        free (s);
        return 0;
    }
    struct raw m;
    raw_set (&m, &h, s, strlen (s), NULL, 0);
    free (s);
    send_response (ov, req, &m);
    raw_close (&m);
    return 0;
}

uint32_t overlay_rpc (overlay_t *ov, uint32_t rank, const char *topic, json_t *json,
                      const void *data, size_t len, int flags, overlay_msg_f cb, void *arg)
{
    cmsg_hdr_t h;
    if (cmsg_hdr_init (&h, CMSG_REQUEST, topic) < 0) {
        json_decref (json);
        return 0;
    }
    if (++ov->next_matchtag == 0)
        ov->next_matchtag = 1;
    h.matchtag = ov->next_matchtag;
    h.flags = flags;
    h.dest = rank == CANOPY_RANK_ANY ? ov->rank : rank;
    h.src = ov->rank;
    if (cb && !(flags & CMSG_F_NORESPONSE)) {
        struct pending *p = calloc (1, sizeof *p);
        p->cb = cb;
        p->arg = arg;
        p->streaming = flags & CMSG_F_STREAMING;
        char key[16];
        snprintf (key, sizeof key, "%u", h.matchtag);
        zhashx_update (ov->rpcs, key, p);
    }
    char *s = json ? json_dumps (json, JSON_COMPACT) : NULL;
    json_decref (json);
    struct raw m;
    raw_set (&m, &h, s ? s : "", s ? strlen (s) : 0, data, len);
    free (s);
    route (ov, &m, true);
    raw_close (&m);
    return h.matchtag;
}

uint32_t overlay_rpc_expect (overlay_t *ov, overlay_msg_f cb, void *arg, bool streaming)
{
    if (++ov->next_matchtag == 0)
        ov->next_matchtag = 1;
    struct pending *p = calloc (1, sizeof *p);
    if (!p)
        return 0;
    p->cb = cb;
    p->arg = arg;
    p->streaming = streaming;
    char key[16];
    snprintf (key, sizeof key, "%u", ov->next_matchtag);
    zhashx_update (ov->rpcs, key, p);
    return ov->next_matchtag;
}

bool overlay_rpc_pending (overlay_t *ov, uint32_t matchtag)
{
    char key[16];
    snprintf (key, sizeof key, "%u", matchtag);
    return zhashx_lookup (ov->rpcs, key) != NULL;
}

bool overlay_deliver (overlay_t *ov, const cmsg_t *msg)
{
    if (msg->hdr.type == CMSG_REQUEST) {
        struct service *best = NULL;
        for (size_t i = 0; i < ov->nsvcs; i++) {
            struct service *s = &ov->svcs[i];
            if (s->prefix ? !strncmp (msg->hdr.topic, s->topic, s->len) : !strcmp (msg->hdr.topic, s->topic))
                if (!best || s->len > best->len)
                    best = s;
        }
        if (!best) {
            overlay_respond_error (ov, &msg->hdr, ENOSYS, "no service for topic '%s'", msg->hdr.topic);
            return false;
        }
        best->cb (ov, msg, best->arg);
        return true;
    }
    if (msg->hdr.type != CMSG_RESPONSE)
        return false;
    char key[16];
    snprintf (key, sizeof key, "%u", msg->hdr.matchtag);
    struct pending *p = zhashx_lookup (ov->rpcs, key);
    if (!p)
        return false;
    struct pending copy = *p;
    if (!copy.streaming || msg->hdr.errnum != 0)
        zhashx_delete (ov->rpcs, key);
    copy.cb (ov, msg, copy.arg);
    return true;
}

void overlay_set_data_responder (overlay_t *ov, overlay_data_respond_f fn, void *arg)
{
    ov->data_respond = fn;
    ov->data_arg = arg;
}

void overlay_rpc_cancel (overlay_t *ov, uint32_t matchtag)
{
    char key[16];
    snprintf (key, sizeof key, "%u", matchtag);
    zhashx_delete (ov->rpcs, key);
}

int overlay_event_publish (overlay_t *ov, const char *topic, json_t *json)
{
    if (ov->rank != 0) {
        json_t *o = json_pack ("{s:s s:o}", "topic", topic, "payload", json ? json : json_object ());
        overlay_rpc (ov, 0, "overlay.publish", o, NULL, 0, CMSG_F_NORESPONSE, NULL, NULL);
        return 0;
    }
    cmsg_hdr_t h;
    if (cmsg_hdr_init (&h, CMSG_EVENT, topic) < 0) {
        json_decref (json);
        return -1;
    }
    h.src = ov->rank;
    char *s = json ? json_dumps (json, JSON_COMPACT) : NULL;
    json_decref (json);
    struct raw m;
    raw_set (&m, &h, s ? s : "", s ? strlen (s) : 0, NULL, 0);
    free (s);
    route (ov, &m, true);
    raw_close (&m);
    return 0;
}

static int add_entry (struct service **arr, size_t *n, const char *topic, overlay_msg_f cb,
                      void *arg, bool prefix)
{
    struct service *a = *arr = xreallocarray (*arr, *n + 1, sizeof **arr);
    a[*n].topic = xstrdup (topic);
    a[*n].len = strlen (topic);
    a[*n].prefix = prefix;
    a[*n].cb = cb;
    a[*n].arg = arg;
    (*n)++;
    return 0;
}

int overlay_service_add (overlay_t *ov, const char *topic, overlay_msg_f cb, void *arg)
{
    size_t n = strlen (topic);
    return add_entry (&ov->svcs, &ov->nsvcs, topic, cb, arg, n && topic[n - 1] == '.');
}

int overlay_handlers_add (overlay_t *ov, const overlay_handler_t *tab, void *arg, char *err,
                          size_t errlen)
{
    for (const overlay_handler_t *h = tab; h->topic; h++) {
        if (!*h->topic || !h->cb)
            return errfail (err, errlen, "handler table: an empty entry before the end");
        for (size_t i = 0; i < ov->nsvcs; i++)
            if (!strcmp (ov->svcs[i].topic, h->topic))
                return errfail (err, errlen, "handler table: topic %s is registered twice", h->topic);
        for (const overlay_handler_t *g = tab; g != h; g++)
            if (!strcmp (g->topic, h->topic))
                return errfail (err, errlen, "handler table: topic %s is registered twice", h->topic);
    }
    for (const overlay_handler_t *h = tab; h->topic; h++)
        overlay_service_add (ov, h->topic, h->cb, arg);
    return 0;
}

int overlay_event_subscribe (overlay_t *ov, const char *prefix, overlay_msg_f cb, void *arg)
{
    return add_entry (&ov->subs, &ov->nsubs, prefix, cb, arg, true);
}

/* ---- socket handlers ---- */

/* A message on the child socket from a routing id that is not the one of
 * the incarnation of rank c->rank we accepted.  A broker that restarted (the
 * old connection is gone, or has been silent for the timeout) takes over;
 * a second live broker of the same rank is refused and told who runs, and
 * the running one keeps its link.  True if the sender is now current. */
static bool child_takeover (overlay_t *ov, struct child *c, const char *id, size_t idlen,
                            const struct raw *m)
{
    int64_t timeout = (int64_t)(ov->cfg->timeout * 1000);
    bool alive = false;
    if (c->idlen && c->state == PEER_ONLINE && now_ms () - c->last_seen <= timeout) {
        /* the ROUTER drops a dead connection's routing id: a mandatory send
         * to the old one fails when the old broker has gone */
        alive = send_control (ov, ov->child_sock, c->id, c->idlen, "heartbeat", 0) == 0;
    }
    if (alive) {
        if (m->hdr.type == CMSG_CONTROL && strcmp (m->hdr.topic, "goodbye") != 0) {
            char js[200];
            int n = snprintf (js, sizeof js, "{\"rank\":%u,\"pid\":%lld,\"host\":\"%s\"}",
                              c->rank, c->pid, c->host);
            send_control_json (ov, ov->child_sock, id, idlen, "refused", js, n);
            char who[48];
            snprintf (who, sizeof who, "dup %.32s", id);
            log_refusal (ov, who,
                         "refused a second broker for rank %u (%.32s): rank %u is online (pid %lld "
                         "on %s)",
                         c->rank, id, c->rank, c->pid, c->host);
        }
        return false;
    }
    if (c->idlen && c->state == PEER_ONLINE) {
        /* restarted before we noticed: fail what the old one had */
        overlay_log (ov, "child %u restarted", c->rank);
        fail_inflight (ov, c->rank);
        set_child_state (ov, c, PEER_LOST);
    }
    memcpy (c->id, id, idlen);
    c->idlen = idlen;
    return true;
}

/* ---- membership: hosts that join, the table, its spread (doc/membership.md) ---- */

static int set_endpoint (overlay_t *ov, uint32_t r, const char *host, const char *conn)
{
    char *h = strdup (host), *c = strdup (conn);
    if (!h || !c) {
        free (h);
        free (c);
        return -1;
    }
    free (ov->ephost[r]);
    free (ov->epconn[r]);
    ov->ephost[r] = h;
    ov->epconn[r] = c;
    return 0;
}

/* Take in a membership table (rank 0's, from the join answer or an event). */
static void members_apply (overlay_t *ov, json_t *table)
{
    char err[160];
    members_t *m = members_from_json (table, err, sizeof err);
    if (!m || members_size (m) != ov->size) {
        overlay_log (ov, "membership table refused: %s", m ? "another size" : err);
        members_destroy (&m);
        return;
    }
    for (uint32_t r = 0; r < ov->size; r++) {
        const member_t *e = members_get (m, r);
        if (e->state == MEMBER_HELD && r >= ov->cfg->nhosts)
            set_endpoint (ov, r, e->host, e->endpoint);
        else if (e->state == MEMBER_FREE && r >= ov->cfg->nhosts) {   /* its host left */
            free (ov->epconn[r]);
            ov->epconn[r] = NULL;
        }
    }
    members_destroy (&m);
}

static void on_members_event (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    if (ov->rank != 0)
        members_apply (ov, msg->json);
}

/* The lead's table is written whole to a temp file and renamed, so a crash
 * leaves the old one or the new one. */
static void members_save (overlay_t *ov)
{
    if (!ov->members_path)
        return;
    char tmp[4200];
    snprintf (tmp, sizeof tmp, "%s.tmp", ov->members_path);
    json_t *j = members_to_json (ov->members);
    if (json_dump_file (j, tmp, JSON_COMPACT) < 0 || rename (tmp, ov->members_path) < 0)
        overlay_log (ov, "cannot save the membership table %s: %s", ov->members_path, strerror (errno));
    json_decref (j);
}

static bool printable (const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f || s[n] == '"' || s[n] == '\\')
            return false;
    return n > 0 && n <= max;
}

/* overlay.join {host, endpoint} from a joining broker (over CURVE: it holds
 * the instance certificate): its rank by the rule of doc/membership.md. */
static void lead_join (overlay_t *ov, const char *id, size_t idlen, struct raw *m)
{
    json_t *o = json_loadb (zmq_msg_data (&m->json), zmq_msg_size (&m->json), 0, NULL);
    const char *host = NULL, *ep = NULL;
    char err[200] = "";
    long r = -1;
    if (!o || json_unpack (o, "{s:s s:s}", "host", &host, "endpoint", &ep) < 0 || !printable (host, 253)
        || !printable (ep, 1000) || (strncmp (ep, "tcp://", 6) && strncmp (ep, "ipc://", 6)))
        snprintf (err, sizeof err, "overlay.join: needs {host, endpoint} (printable, tcp:// or ipc://)");
    else if (config_rank_of (ov->cfg, host) >= 0)
        snprintf (err, sizeof err, "host %s is listed in the config at rank %d: start it with that rank", host,
                  config_rank_of (ov->cfg, host));
    else
        r = members_join (ov->members, host, ep, err, sizeof err);
    cmsg_hdr_t h;
    cmsg_hdr_make_response (&h, &m->hdr, ov->rank, r < 0 ? EINVAL : 0);
    json_t *resp;
    if (r < 0)
        resp = json_pack ("{s:s}", "errstr", err);
    else {
        set_endpoint (ov, (uint32_t)r, host, ep);
        members_save (ov);
        overlay_log (ov, "host %s joins as rank %ld (%s)", host, r, ep);
        resp = json_pack ("{s:I s:I s:o}", "rank", (json_int_t)r, "size", (json_int_t)ov->size, "members",
                          members_to_json (ov->members));
        overlay_event_publish (ov, "overlay.members", members_to_json (ov->members));
    }
    char *js = json_dumps (resp, JSON_COMPACT);
    struct raw out;
    raw_set (&out, &h, js, strlen (js), NULL, 0);
    raw_send (ov->child_sock, id, idlen, &out);
    raw_close (&out);
    free (js);
    json_decref (resp);
    json_decref (o);
}

/* Rank 0's table: the saved one, with the config's hosts fixed. */
static int members_load (overlay_t *ov, const char *statedir, char *err, size_t errlen)
{
    if (statedir && asprintf (&ov->members_path, "%s/members.json", statedir) < 0)
        return errfail (err, errlen, "out of memory");
    json_t *j = ov->members_path ? json_load_file (ov->members_path, 0, NULL) : NULL;
    if (j) {
        char e2[160];
        ov->members = members_from_json (j, e2, sizeof e2);
        json_decref (j);
        if (ov->members && members_size (ov->members) != ov->size) {
            overlay_log (ov, "membership table %s is for size %u, the config says %u: starting anew",
                         ov->members_path, members_size (ov->members), ov->size);
            members_destroy (&ov->members);
        }
        else if (!ov->members)
            overlay_log (ov, "membership table %s: %s: starting anew", ov->members_path, e2);
    }
    if (!ov->members && !(ov->members = members_new (ov->size)))
        return errfail (err, errlen, "out of memory");
    for (uint32_t r = 0; r < ov->cfg->nhosts; r++)
        if (members_fix (ov->members, r, ov->cfg->hosts[r].host, ov->cfg->hosts[r].connect, err, errlen) < 0)
            return -1;
    for (uint32_t r = ov->cfg->nhosts; r < ov->size; r++) {
        const member_t *e = members_get (ov->members, r);
        if (e->state == MEMBER_HELD && set_endpoint (ov, r, e->host, e->endpoint) < 0)
            return errfail (err, errlen, "out of memory");
    }
    return 0;
}

long overlay_member_leave (overlay_t *ov, const char *host)
{
    long r = ov->members ? members_find (ov->members, host) : -1;
    if (r < 0 || members_leave (ov->members, host) < 0)
        return -1;
    free (ov->epconn[r]);
    ov->epconn[r] = NULL;
    members_save (ov);
    overlay_event_publish (ov, "overlay.members", members_to_json (ov->members));
    return r;
}

char **overlay_member_hosts (overlay_t *ov)
{
    uint32_t n = ov->members ? members_size (ov->members) : 0, k = 0;
    char **v = calloc (n + 1, sizeof *v);
    for (uint32_t r = 0; v && r < n; r++) {
        const member_t *e = members_get (ov->members, r);
        if (e->state == MEMBER_HELD && !e->fixed)
            v[k++] = strdup (e->host);
    }
    return v;
}

long overlay_join (const config_t *cfg, const char *host, const char *address, const char *cert_path,
                   double timeout, json_t **members, char *err, size_t errlen)
{
    char *bind = NULL, *conn = NULL;
    *members = NULL;
    if (cfg->size <= cfg->nhosts)
        return errfail (err, errlen, "host '%s' is not in the config, and the config has no free ranks (size)",
                        host);
    if (config_host_endpoints (cfg, address ? address : host, &bind, &conn) < 0)
        return errfail (err, errlen, "out of memory");
    free (bind);
    zcert_t *cert = zcert_load (cert_path ? cert_path : cfg->curve_cert ? cfg->curve_cert : "");
    if (!cert) {
        free (conn);
        return errfail (err, errlen, "certificate %s: not a valid CURVE certificate",
                        cert_path ? cert_path : cfg->curve_cert ? cfg->curve_cert : "(none)");
    }
    zsys_handler_set (NULL);
    void *ctx = zsys_init ();
    void *s = zmq_socket (ctx, ZMQ_DEALER);
    uint32_t nonce = 0;
    if (getrandom (&nonce, sizeof nonce, 0) != sizeof nonce)
        nonce = (uint32_t)getpid ();
    char id[32];
    int n = snprintf (id, sizeof id, "j.%08x", nonce), linger = 0;
    zmq_setsockopt (s, ZMQ_ROUTING_ID, id, n);
    zmq_setsockopt (s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (s, ZMQ_CURVE_SERVERKEY, zcert_public_key (cert), 32);
    zmq_setsockopt (s, ZMQ_CURVE_PUBLICKEY, zcert_public_key (cert), 32);
    zmq_setsockopt (s, ZMQ_CURVE_SECRETKEY, zcert_secret_key (cert), 32);
    zcert_destroy (&cert);
    long rank = -1;
    if (zmq_connect (s, cfg->hosts[0].connect) < 0) {
        errfmt (err, errlen, "cannot connect to the lead %s: %s", cfg->hosts[0].connect, zmq_strerror (errno));
        goto out;
    }
    cmsg_hdr_t h;
    cmsg_hdr_init (&h, CMSG_REQUEST, "overlay.join");
    h.dest = 0;
    h.src = TOPO_NONE;
    h.matchtag = nonce;
    json_t *req = json_pack ("{s:s s:s}", "host", host, "endpoint", conn);
    char *js = json_dumps (req, JSON_COMPACT);
    json_decref (req);
    uint8_t hbuf[CMSG_HDR_MAX];
    size_t hlen = cmsg_hdr_encode (&h, hbuf);
    double start = zclock_mono () / 1000.0;
    int64_t next_send = 0;
    for (;;) {
        double now = zclock_mono () / 1000.0;
        if (timeout > 0 && now - start > timeout) {
            errfmt (err, errlen, "no answer from the lead %s in %.0f s", cfg->hosts[0].connect, timeout);
            break;
        }
        if (zclock_mono () >= next_send) {   /* again every 2 s: the lead may have restarted */
            zmq_send (s, hbuf, hlen, ZMQ_SNDMORE | ZMQ_DONTWAIT);
            zmq_send (s, js, strlen (js), ZMQ_DONTWAIT);
            next_send = zclock_mono () + 2000;
        }
        zmq_pollitem_t it = { .socket = s, .events = ZMQ_POLLIN };
        if (zmq_poll (&it, 1, 200) <= 0)
            continue;
        zmq_msg_t f[2];
        zmq_msg_init (&f[0]);
        zmq_msg_init (&f[1]);
        int ok = zmq_msg_recv (&f[0], s, 0) >= 0 && zmq_msg_more (&f[0]) && zmq_msg_recv (&f[1], s, 0) >= 0;
        cmsg_hdr_t rh;
        const char *why;
        json_t *o = NULL;
        if (ok && cmsg_hdr_decode (&rh, zmq_msg_data (&f[0]), zmq_msg_size (&f[0]), &why) == 0
            && rh.type == CMSG_RESPONSE && rh.matchtag == nonce)
            o = json_loadb (zmq_msg_data (&f[1]), zmq_msg_size (&f[1]), 0, NULL);
        zmq_msg_close (&f[0]);
        zmq_msg_close (&f[1]);
        if (!o)
            continue;
        json_int_t r = -1;
        const char *es = NULL;
        json_t *tab = NULL;
        if (rh.errnum) {
            json_unpack (o, "{s?s}", "errstr", &es);
            errfmt (err, errlen, "the lead refused to give this host a rank: %s", es ? es : strerror (rh.errnum));
        }
        else if (json_unpack (o, "{s:I s:o}", "rank", &r, "members", &tab) < 0 || r < 1
                 || (size_t)r >= cfg->size)
            errfmt (err, errlen, "the lead's answer to overlay.join is malformed");
        else {
            rank = (long)r;
            *members = json_incref (tab);
        }
        json_decref (o);
        break;
    }
    free (js);
out:
    zmq_close (s);
    free (conn);
    return rank;
}

static int on_child (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    overlay_t *ov = arg;
    for (int k = 0; k < 256; k++) {
        if (!readable (ov->child_sock))
            break;
        char id[32];
        size_t idlen = sizeof id - 1;
        struct raw m;
        if (raw_recv (ov, ov->child_sock, id, &idlen, &m) < 0)
            continue;
        id[idlen] = '\0';
        char *end;
        if (id[0] == 'p') {
            unsigned long pr = strtoul (id + 1, &end, 10);
            if (*end == '\0' && pr < ov->size && m.hdr.type == CMSG_REQUEST) {
                m.hdr.flags |= CMSG_F_PEER;
                m.hdr.src = pr;
                deliver_local (ov, &m);
            }
            raw_close (&m);
            continue;
        }
        if (id[0] == 'j') {   /* a host asking the lead for a rank */
            if (ov->rank == 0 && m.hdr.type == CMSG_REQUEST && !strcmp (m.hdr.topic, "overlay.join"))
                lead_join (ov, id, idlen, &m);
            raw_close (&m);
            continue;
        }
        unsigned long r = strtoul (id, &end, 10);
        struct child *c = *end == '.' && end > id ? find_child (ov, r) : NULL;
        if (!c && *end == '.' && end > id && r < ov->size && r != ov->rank
            && topo_in_subtree (ov->topo, ov->rank, r) && m.hdr.type == CMSG_CONTROL
            && strcmp (m.hdr.topic, "goodbye") != 0 && (c = add_child (ov, r)))
            overlay_log (ov, "rank %lu attaches here: its parent %u is down", r, topo_parent (ov->topo, r));
        if (!c || (m.hdr.type != CMSG_CONTROL && m.hdr.src != r && m.hdr.type == CMSG_EVENT)) {
            overlay_log (ov, "dropped message from unexpected peer '%.16s'", id);
            raw_close (&m);
            continue;
        }
        bool current = c->idlen == idlen && !memcmp (c->id, id, idlen);
        if (!current && !child_takeover (ov, c, id, idlen, &m)) {
            raw_close (&m);
            continue;
        }
        c->last_seen = now_ms ();
        if (m.hdr.type == CMSG_CONTROL) {
            if (!strcmp (m.hdr.topic, "goodbye"))
                set_child_state (ov, c, PEER_OFFLINE);
            else {
                json_t *o = json_loadb (zmq_msg_data (&m.json), zmq_msg_size (&m.json), 0, NULL);
                json_t *jn = o ? json_object_get (o, "online") : NULL;
                uint32_t online = json_is_integer (jn) ? json_integer_value (jn) : 1;
                json_t *jp = o ? json_object_get (o, "pid") : NULL;
                const char *jh = o ? json_string_value (json_object_get (o, "host")) : NULL;
                c->pid = json_is_integer (jp) ? json_integer_value (jp) : -1;
                snprintf (c->host, sizeof c->host, "%s", jh ? jh : "?");
                json_decref (o);
                bool was_online = c->state == PEER_ONLINE;
                c->bootid = m.hdr.matchtag;
                c->online = online;
                set_child_state (ov, c, PEER_ONLINE);
                if (!was_online)
                    send_control (ov, ov->child_sock, id, idlen, "heartbeat", 0);
                report_up (ov, false);
                if (ov->rank == 0)
                    check_waiters (ov);
            }
            raw_close (&m);
            continue;
        }
        if (c->state != PEER_ONLINE) {
            /* traffic from a child we thought lost: it is back */
            set_child_state (ov, c, PEER_ONLINE);
        }
        if (m.hdr.type == CMSG_EVENT) {
            raw_close (&m);
            continue;
        }
        route (ov, &m, false);
        raw_close (&m);
    }
    return 0;
}

/* The parent says another broker of our rank is online.  It may be our own
 * previous incarnation whose end the parent has not seen yet, so keep
 * saying hello; if the refusal lasts longer than the parent could take to
 * notice a dead broker, we are a duplicate: stop, naming the one running. */
static void parent_refused (overlay_t *ov, const struct raw *m)
{
    json_int_t pid = -1;
    const char *host = "?";
    json_t *o = json_loadb (zmq_msg_data ((zmq_msg_t *)&m->json), zmq_msg_size ((zmq_msg_t *)&m->json), 0, NULL);
    if (o)
        json_unpack (o, "{s?I s?s}", "pid", &pid, "host", &host);
    errfmt (ov->fatal, sizeof ov->fatal,
            "rank %u is already running (pid %lld on %s): the parent refuses a second broker of "
            "this rank",
            ov->rank, (long long)pid, host);
    json_decref (o);
    int64_t now = now_ms ();
    if (!ov->parent_refused_since) {
        ov->parent_refused_since = now;
        overlay_log (ov, "%s; retrying for %.0f s", ov->fatal, 2 * ov->cfg->timeout);
    }
    else if (now - ov->parent_refused_since > (int64_t)(2000 * ov->cfg->timeout))
        overlay_stop (ov);
}

static int on_parent (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    overlay_t *ov = arg;
    for (int k = 0; k < 256; k++) {
        if (!readable (ov->parent_sock))
            break;
        struct raw m;
        if (raw_recv (ov, ov->parent_sock, NULL, NULL, &m) < 0)
            continue;
        if (m.hdr.type == CMSG_CONTROL && !strcmp (m.hdr.topic, "refused")) {
            parent_refused (ov, &m);
            raw_close (&m);
            continue;
        }
        ov->parent_refused_since = 0;
        ov->parent_last_seen = now_ms ();
        if (ov->parent_state != PEER_ONLINE) {
            overlay_log (ov, ov->up == topo_parent (ov->topo, ov->rank) ? "parent %u online"
                                                                         : "attached to ancestor %u (the parent is down)",
                         ov->up);
            ov->parent_state = PEER_ONLINE;
            report_up (ov, true);
            if (ov->peer_cb)
                ov->peer_cb (ov, ov->up, "online", ov->peer_arg);
        }
        if (m.hdr.type == CMSG_CONTROL) {
            raw_close (&m);
            continue;
        }
        route (ov, &m, false);
        raw_close (&m);
    }
    return 0;
}

static int on_local (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    overlay_t *ov = arg;
    for (int k = 0; k < 256; k++) {
        if (!readable (ov->local_sock))
            break;
        char id[CMSG_SENDER_MAX];
        size_t idlen = sizeof id;
        struct raw m;
        if (raw_recv (ov, ov->local_sock, id, &idlen, &m) < 0)
            continue;
        if (m.hdr.type != CMSG_REQUEST) {
            raw_close (&m);
            continue;
        }
        memcpy (m.hdr.sender, id, idlen);
        m.hdr.sender_len = idlen;
        m.hdr.src = ov->rank;
        m.hdr.hops = 0;
        route (ov, &m, false);
        raw_close (&m);
    }
    return 0;
}

static int on_self (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    overlay_t *ov = arg;
    for (int k = 0; k < 256; k++) {
        if (!readable (ov->self_pull))
            break;
        struct raw m;
        if (raw_recv (ov, ov->self_pull, NULL, NULL, &m) < 0)
            continue;
        deliver_local (ov, &m);
        raw_close (&m);
    }
    return 0;
}

/* Log a refused connection from `who`: the first at once, then at most one
 * line per REFUSAL_LOG_MS per address, saying how many were refused since. */
static void log_refusal (overlay_t *ov, const char *who, const char *fmt, ...)
{
    int64_t now = now_ms ();
    struct refusal *r = zhashx_lookup (ov->refused, who);
    if (r && now - r->last_logged < REFUSAL_LOG_MS) {
        r->suppressed++;
        return;
    }
    if (!r) {
        if (zhashx_size (ov->refused) >= 4096)   /* bounded: forget old ones */
            zhashx_purge (ov->refused);
        r = calloc (1, sizeof *r);
        if (!r)
            return;
        zhashx_insert (ov->refused, who, r);
    }
    char buf[512];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (buf, sizeof buf, fmt, ap);
    va_end (ap);
    if (r->suppressed)
        overlay_log (ov, "%s (%llu more refused like it in the last %lld s)", buf,
                     (unsigned long long)r->suppressed,
                     (long long)((now - r->last_logged + 500) / 1000));
    else
        overlay_log (ov, "%s", buf);
    r->last_logged = now;
    r->suppressed = 0;
}

/* The client's uid from a ZAP address of an ipc connection: libzmq gives
 * "HOST:UID:GID:PID" there (SO_PEERCRED).  -1 if absent. */
static long long ipc_peer_uid (const char *address, long long *pid)
{
    if (!address)
        return -1;
    const char *c3 = strrchr (address, ':');
    if (!c3 || c3 == address)
        return -1;
    const char *c2 = c3 - 1;
    while (c2 > address && *c2 != ':')
        c2--;
    if (*c2 != ':' || c2 == address)
        return -1;
    const char *c1 = c2 - 1;
    while (c1 > address && *c1 != ':')
        c1--;
    if (*c1 != ':')
        return -1;
    char *end;
    long long uid = strtoll (c1 + 1, &end, 10);
    if (end != c2 || uid < 0)
        return -1;
    *pid = strtoll (c3 + 1, &end, 10);
    return uid;
}

/* ZAP: on the tree socket accept CURVE clients presenting the instance's
 * public key only; on the local socket, clients running as the instance
 * owner or root only. */
static int on_zap (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    overlay_t *ov = arg;
    zmsg_t *req = zmsg_recv (ov->zap_sock);
    if (!req)
        return 0;
    char *version = zmsg_popstr (req);
    char *reqid = zmsg_popstr (req);
    char *domain = zmsg_popstr (req);
    char *address = zmsg_popstr (req);
    char *identity = zmsg_popstr (req);
    char *mechanism = zmsg_popstr (req);
    zframe_t *key = zmsg_pop (req);
    bool okk;
    const char *why = "unknown key";
    if (domain && !strcmp (domain, LOCAL_ZAP_DOMAIN)) {
        long long pid = -1, uid = ipc_peer_uid (address, &pid);
        okk = mechanism && !strcmp (mechanism, "NULL") && uid >= 0
              && (uid == 0 || uid == (long long)ov->owner);
        if (!okk) {
            why = "not the instance owner";
            char who[64];
            snprintf (who, sizeof who, "uid %lld", uid);
            if (uid < 0)
                log_refusal (ov, "local", "refused local client: its uid is unknown (%s)",
                             address ? address : "?");
            else
                log_refusal (ov, who,
                             "refused local client pid %lld: uid %lld is not the instance owner "
                             "(uid %u) or root", pid, uid, (unsigned)ov->owner);
        }
    }
    else {
        okk = mechanism && !strcmp (mechanism, "CURVE") && key && zframe_size (key) == 32
              && !memcmp (zframe_data (key), zcert_public_key (ov->cert), 32);
        if (!okk) {
            char txt[41] = "";
            if (key && zframe_size (key) == 32)
                zmq_z85_encode (txt, zframe_data (key), 32);
            log_refusal (ov, address ? address : "?",
                         "refused connection from %s: CURVE key %s is not this instance's",
                         address ? address : "?", txt[0] ? txt : "(none)");
        }
    }
    zmsg_t *rep = zmsg_new ();
    zmsg_addstr (rep, "1.0");
    zmsg_addstr (rep, reqid ? reqid : "");
    zmsg_addstr (rep, okk ? "200" : "400");
    zmsg_addstr (rep, okk ? "OK" : why);
    zmsg_addstr (rep, okk ? "canopy" : "");
    zmsg_addmem (rep, "", 0);
    zmsg_send (&rep, ov->zap_sock);
    free (version);
    free (reqid);
    free (domain);
    free (address);
    free (identity);
    free (mechanism);
    zframe_destroy (&key);
    zmsg_destroy (&req);
    return 0;
}

/* Socket monitor on the child ROUTER: a peer with another instance's key
 * fails the CURVE handshake before ZAP is asked; log that too. */
static int on_monitor (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    overlay_t *ov = arg;
    zmq_msg_t ev, addr;
    zmq_msg_init (&ev);
    zmq_msg_init (&addr);
    if (zmq_msg_recv (&ev, ov->mon_sock, ZMQ_DONTWAIT) < 0)
        goto out;
    if (!zmq_msg_more (&ev) || zmq_msg_recv (&addr, ov->mon_sock, 0) < 0)
        goto out;
    if (zmq_msg_size (&ev) >= 6) {
        uint16_t event;
        memcpy (&event, zmq_msg_data (&ev), 2);
        char who[256];
        snprintf (who, sizeof who, "%.*s", (int)zmq_msg_size (&addr), (char *)zmq_msg_data (&addr));
        /* the monitor names our endpoint, not the peer: one key per endpoint */
        log_refusal (ov, who, "refused connection on %s: CURVE handshake failed (%s)", who,
                     event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ? "key not accepted"
                                                              : "not this instance's CURVE key");
    }
out:
    zmq_msg_close (&ev);
    zmq_msg_close (&addr);
    return 0;
}

/* The run directory is ours (privdir_ensure); lock it so that a second
 * broker given the same one refuses to start instead of taking over the
 * running one's sockets.  The lock file holds the holder's pid. */
static int lock_rundir (overlay_t *ov, char *err, size_t errlen)
{
    char path[4200];
    snprintf (path, sizeof path, "%s/lock", ov->rundir);
    int fd = open (path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return errfail (err, errlen, "%s: %s", path, strerror (errno));
    if (flock (fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        char buf[32] = "";
        ssize_t n = pread (fd, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
        buf[strcspn (buf, "\n")] = '\0';
        close (fd);
        if (e == EWOULDBLOCK)
            return errfail (err, errlen,
                            "rank %u is already running with run directory %s (pid %s): not "
                            "starting a second one",
                            ov->rank, ov->rundir, buf[0] ? buf : "?");
        return errfail (err, errlen, "%s: %s", path, strerror (e));
    }
    char pid[32];
    int n = snprintf (pid, sizeof pid, "%ld\n", (long)getpid ());
    if (ftruncate (fd, 0) < 0 || pwrite (fd, pid, n, 0) != n) {
        close (fd);
        return errfail (err, errlen, "%s: cannot write: %s", path, strerror (errno));
    }
    ov->lock_fd = fd;
    return 0;
}

/* zmq_bind on an ipc:// endpoint removes whatever socket file is there, a
 * live broker's included: refuse when something answers on it. */
static int ipc_in_use (const char *ep, char *err, size_t errlen)
{
    if (strncmp (ep, "ipc://", 6) != 0)
        return 0;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen (ep + 6) >= sizeof sa.sun_path)
        return 0;   /* zmq_bind will say so */
    strcpy (sa.sun_path, ep + 6);
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int rc = connect (fd, (struct sockaddr *)&sa, sizeof sa);
    close (fd);
    if (rc == 0)
        return errfail (err, errlen, "cannot bind %s: another broker is listening there", ep);
    return 0;
}

/* ---- upstream: the parent link, re-attachment to an ancestor ---- */

/* A DEALER to rank r's child endpoint with this process's routing id
 * ("RANK.NONCE": the parent tells a restarted broker from a second live
 * one, doc/protocol.md).  immediate: messages are not queued while the link
 * is not up (the probe). */
static void *up_sock_new (overlay_t *ov, uint32_t r, bool immediate)
{
    void *s = mksock (ov, ZMQ_DEALER);
    if (!s)
        return NULL;
    char id[32];
    int n = snprintf (id, sizeof id, "%u.%08x", ov->rank, ov->bootid);
    int one = 1, ivl = 200, ivlmax = 2000;
    zmq_setsockopt (s, ZMQ_ROUTING_ID, id, n);
    if (immediate)
        zmq_setsockopt (s, ZMQ_IMMEDIATE, &one, sizeof one);
    /* else no ZMQ_IMMEDIATE: the hello must queue until connected */
    zmq_setsockopt (s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt (s, ZMQ_RECONNECT_IVL_MAX, &ivlmax, sizeof ivlmax);
    zmq_setsockopt (s, ZMQ_CURVE_SERVERKEY, zcert_public_key (ov->cert), 32);
    zmq_setsockopt (s, ZMQ_CURVE_PUBLICKEY, zcert_public_key (ov->cert), 32);
    zmq_setsockopt (s, ZMQ_CURVE_SECRETKEY, zcert_secret_key (ov->cert), 32);
    if (!ov->epconn[r]) {   /* a free rank: no broker to connect to */
        zmq_close (s);
        errno = EHOSTUNREACH;
        return NULL;
    }
    if (zmq_connect (s, ov->epconn[r]) < 0) {
        int e = errno;
        zmq_close (s);
        errno = e;
        return NULL;
    }
    return s;
}

static void poll_end (overlay_t *ov, void *sock)
{
    zmq_pollitem_t item = { .socket = sock, .events = ZMQ_POLLIN };
    zloop_poller_end (ov->loop, &item);
}

/* Make sock (connected to rank r) the upstream link.  Requests forwarded
 * over the old link are not failed: their responses come back through
 * whichever way the tree now routes to us. */
static void set_up (overlay_t *ov, uint32_t r, void *sock)
{
    if (ov->parent_sock) {
        if (ov->parent_state == PEER_ONLINE)
            send_control (ov, ov->parent_sock, NULL, 0, "goodbye", 0);
        poll_end (ov, ov->parent_sock);
        /* what is still queued on a link that works goes out before it
         * closes (a few seconds at most) */
        int linger = 3000;
        zmq_setsockopt (ov->parent_sock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close (ov->parent_sock);
    }
    ov->parent_sock = sock;
    ov->up = r;
    ov->up_since = now_ms ();
    ov->parent_state = PEER_OFFLINE;
    ov->last_reported_online = 0;
    poll_add (ov, sock, on_parent);
    report_up (ov, true);   /* hello */
}

/* The parent answered the probe: move back under it. */
static int on_probe (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    overlay_t *ov = arg;
    void *sock = ov->probe_sock;
    ov->probe_sock = NULL;
    poll_end (ov, sock);
    overlay_log (ov, "parent %u is back: moving under it from ancestor %u", topo_parent (ov->topo, ov->rank),
                 ov->up);
    set_up (ov, topo_parent (ov->topo, ov->rank), sock);
    return on_parent (loop, NULL, ov);   /* what it sent is ours to read */
}

/* Each heartbeat: an upstream that has not answered for the timeout is
 * given up for its own parent (the nearest live ancestor is found in at
 * most `depth` timeouts); while attached past the parent, say hello to the
 * parent over the probe link. */
static void upstream_tick (overlay_t *ov, int64_t now, int64_t timeout)
{
    uint32_t parent = topo_parent (ov->topo, ov->rank);
    /* give the upstream a second timeout after it is lost before leaving it:
     * a busy broker that misses heartbeats for a moment keeps its children */
    int64_t heard = ov->parent_last_seen > ov->up_since ? ov->parent_last_seen : ov->up_since;
    if (ov->parent_state != PEER_ONLINE && ov->up != 0 && now - heard > 2 * timeout
        && !ov->parent_refused_since) {
        uint32_t next = topo_parent (ov->topo, ov->up);
        while (next != 0 && !ov->epconn[next])   /* free ranks have no broker */
            next = topo_parent (ov->topo, next);
        void *sock = up_sock_new (ov, next, false);
        if (sock) {
            overlay_log (ov, "%s %u does not answer: attaching to its parent %u",
                         ov->up == parent ? "parent" : "ancestor", ov->up, next);
            set_up (ov, next, sock);
        }
    }
    if (ov->up != parent && ov->epconn[parent]) {
        if (!ov->probe_sock && (ov->probe_sock = up_sock_new (ov, parent, true)))
            poll_add (ov, ov->probe_sock, on_probe);
        if (ov->probe_sock)
            send_control (ov, ov->probe_sock, NULL, 0, "heartbeat", overlay_online_count (ov));
    }
}

static int on_heartbeat (zloop_t *loop, int timer_id, void *arg)
{
    overlay_t *ov = arg;
    /* read what peers sent before judging their silence: after this loop
     * was busy for longer than the timeout (a slow start, a loaded host),
     * their heartbeats are queued, not missing */
    on_child (loop, NULL, ov);
    if (ov->parent_sock)
        on_parent (loop, NULL, ov);
    int64_t now = now_ms ();
    int64_t timeout = (int64_t)(ov->cfg->timeout * 1000);
    for (uint32_t i = 0; i < ov->nchildren; i++) {
        struct child *c = &ov->children[i];
        if (c->state == PEER_ONLINE) {
            if (now - c->last_seen > timeout) {
                set_child_state (ov, c, PEER_LOST);
                report_up (ov, false);
            }
            else
                send_control (ov, ov->child_sock, c->id, c->idlen, "heartbeat", 0);
        }
    }
    if (ov->rank != 0) {
        if (ov->parent_state == PEER_ONLINE && now - ov->parent_last_seen > timeout) {
            overlay_log (ov, "%s %u lost", ov->up == topo_parent (ov->topo, ov->rank) ? "parent" : "ancestor",
                         ov->up);
            ov->parent_state = PEER_LOST;
            fail_inflight (ov, ov->up);
            if (ov->peer_cb)
                ov->peer_cb (ov, ov->up, "lost", ov->peer_arg);
        }
        upstream_tick (ov, now, timeout);
        report_up (ov, true);
    }
    if (ov->rank == 0 && zlistx_size (ov->waiters))
        check_waiters (ov);
    return 0;
}

/* ---- built-in services ---- */
static void overlay_ping_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    json_t *o = json_deep_copy (msg->json);
    json_object_set_new (o, "rank", json_integer (ov->rank));
    json_object_set_new (o, "hops", json_integer (msg->hdr.hops));
    overlay_respond (ov, &msg->hdr, o, msg->data, msg->data_len);
}

static void overlay_status_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    static const char *names[] = { "offline", "online", "lost" };
    json_t *ch = json_array ();
    for (uint32_t i = 0; i < ov->nchildren; i++) {
        struct child *c = &ov->children[i];
        json_t *e = json_pack ("{s:I s:s s:s s:I}", "rank", (json_int_t)c->rank, "host",
                               overlay_hostname (ov, c->rank), "state", names[c->state], "online",
                               (json_int_t)c->online);
        if (topo_parent (ov->topo, c->rank) != ov->rank) {   /* attached past its parent */
            if (c->state != PEER_ONLINE) {
                json_decref (e);
                continue;
            }
            json_object_set_new (e, "attached", json_true ());
        }
        json_array_append_new (ch, e);
    }
    json_t *o = json_pack ("{s:I s:s s:I s:s s:I s:o}", "rank", (json_int_t)ov->rank, "host",
                           overlay_hostname (ov, ov->rank), "size", (json_int_t)ov->size,
                           "topology", topo_spec (ov->topo), "online",
                           (json_int_t)overlay_online_count (ov), "children", ch);
    if (ov->rank == 0) {
        json_t *par = json_array ();
        for (uint32_t r = 0; r < ov->size; r++)
            json_array_append_new (par, r ? json_integer (topo_parent (ov->topo, r)) : json_null ());
        json_object_set_new (o, "parents", par);
        json_t *hosts = json_array ();
        for (uint32_t r = 0; r < ov->size; r++)
            json_array_append_new (hosts, json_string (overlay_hostname (ov, r)));
        json_object_set_new (o, "hosts", hosts);
    }
    overlay_respond (ov, &msg->hdr, o, NULL, 0);
}

static void overlay_wait_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    json_int_t want = ov->size;
    double timeout = 30;
    json_unpack (msg->json, "{s?I s?F}", "online", &want, "timeout", &timeout);
    if (ov->rank != 0) {
        overlay_respond_error (ov, &msg->hdr, EINVAL, "overlay.wait runs on rank 0");
        return;
    }
    if (overlay_online_count (ov) >= want) {
        overlay_respond (ov, &msg->hdr, json_pack ("{s:I}", "online", (json_int_t)overlay_online_count (ov)), NULL, 0);
        return;
    }
    struct waiter *w = calloc (1, sizeof *w);
    w->req = msg->hdr;
    w->want = want;
    w->deadline = now_ms () + (int64_t)(timeout * 1000);
    zlistx_add_end (ov->waiters, w);
}

static void overlay_publish_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    const char *topic = NULL;
    json_t *payload = NULL;
    if (ov->rank == 0 && json_unpack (msg->json, "{s:s s:o}", "topic", &topic, "payload", &payload) == 0)
        overlay_event_publish (ov, topic, json_incref (payload));
}

static void overlay_shutdown_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    const char *why = json_string_value (json_object_get (msg->json, "reason"));
    if (why)
        overlay_log (ov, "shutting down: %.200s", why);
    if (!(msg->hdr.flags & CMSG_F_NORESPONSE))
        overlay_respond (ov, &msg->hdr, json_object (), NULL, 0);
    overlay_stop (ov);
}

/* ---- setup ---- */
static void *mksock (overlay_t *ov, int type)
{
    void *s = zmq_socket (ov->zctx, type);
    if (!s)
        return NULL;
    int hwm = HWM, linger = 0;
    zmq_setsockopt (s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (s, ZMQ_LINGER, &linger, sizeof linger);
    return s;
}

static int poll_add (overlay_t *ov, void *sock, zloop_fn *fn)
{
    zmq_pollitem_t item = { .socket = sock, .events = ZMQ_POLLIN };
    return zloop_poller (ov->loop, &item, fn, ov);
}

/* the broker's own small services */
static const overlay_handler_t handlers[] = {
    { "overlay.ping", overlay_ping_request },
    { "overlay.status", overlay_status_request },
    { "overlay.wait", overlay_wait_request },
    { "overlay.publish", overlay_publish_request },
    { "overlay.shutdown", overlay_shutdown_request },
    OVERLAY_HANDLER_END,
};


overlay_t *overlay_new (const overlay_opts_t *o, char *err, size_t errlen)
{
    overlay_t *ov = calloc (1, sizeof *ov);
    ov->lock_fd = -1;
    ov->owner = geteuid ();
    const config_t *cfg = o->config;
    ov->cfg = cfg;
    ov->topo = cfg->topo;
    ov->rank = o->rank;
    ov->size = cfg->size;
    if (o->rank >= ov->size) {
        snprintf (err, errlen, "rank %u is not in the config (size %u)", o->rank, ov->size);
        free (ov);
        return NULL;
    }
    const char *certpath = o->cert_path ? o->cert_path : cfg->curve_cert;
    if (!certpath) {
        snprintf (err, errlen, "no CURVE certificate configured (curve_cert)");
        free (ov);
        return NULL;
    }
    struct stat st;
    if (stat (certpath, &st) < 0) {
        snprintf (err, errlen, "certificate %s: %s", certpath, strerror (errno));
        free (ov);
        return NULL;
    }
    if (st.st_mode & 0004) {
        snprintf (err, errlen, "certificate %s is world-readable (chmod 600 it)", certpath);
        free (ov);
        return NULL;
    }
    if (access (certpath, R_OK) < 0) {
        snprintf (err, errlen, "certificate %s: %s", certpath, strerror (errno));
        free (ov);
        return NULL;
    }
    ov->cert = zcert_load (certpath);
    if (!ov->cert || !strcmp (zcert_secret_txt (ov->cert), "0000000000000000000000000000000000000000")) {
        snprintf (err, errlen, "certificate %s: not a valid CURVE certificate with a secret key", certpath);
        zcert_destroy (&ov->cert);
        free (ov);
        return NULL;
    }
    zsys_handler_set (NULL);
    ov->zctx = zsys_init ();
    ov->loop = zloop_new ();
    zloop_set_nonstop (ov->loop, true);
    ov->inflight = zhashx_new ();
    zhashx_set_destructor (ov->inflight, (zhashx_destructor_fn *)zstr_free);
    ov->rpcs = zhashx_new ();
    zhashx_set_destructor (ov->rpcs, (zhashx_destructor_fn *)zstr_free);
    ov->waiters = zlistx_new ();
    ov->refused = zhashx_new ();
    zhashx_set_destructor (ov->refused, (zhashx_destructor_fn *)zstr_free);
    if (getrandom (&ov->bootid, sizeof ov->bootid, 0) != sizeof ov->bootid)
        ov->bootid = (uint32_t)getpid () ^ (uint32_t)now_ms ();
    /* matchtags start at a random point, so responses still in flight to an
     * earlier incarnation of this rank do not match this one's requests */
    if (getrandom (&ov->next_matchtag, sizeof ov->next_matchtag, 0) != sizeof ov->next_matchtag)
        ov->next_matchtag = ov->bootid * 2654435761u;
    ov->rundir = strdup (o->rundir);
    ov->parent_state = PEER_OFFLINE;
    ov->ephost = calloc (ov->size, sizeof *ov->ephost);
    ov->epconn = calloc (ov->size, sizeof *ov->epconn);
    if (!ov->ephost || !ov->epconn)
        goto nomem;
    for (uint32_t r = 0; r < cfg->nhosts; r++)
        if (set_endpoint (ov, r, cfg->hosts[r].host, cfg->hosts[r].connect) < 0)
            goto nomem;
    if (o->members)
        members_apply (ov, o->members);
    if (ov->rank == 0 && members_load (ov, o->statedir, err, errlen) < 0)
        goto fail;
    ov->lock_fd = -1;
    if (privdir_ensure (ov->rundir, err, errlen) < 0 || lock_rundir (ov, err, errlen) < 0)
        goto fail;

    /* self channel */
    char inproc[64];
    snprintf (inproc, sizeof inproc, "inproc://self-%p", (void *)ov);
    ov->self_pull = mksock (ov, ZMQ_PULL);
    ov->self_push = mksock (ov, ZMQ_PUSH);
    zmq_bind (ov->self_pull, inproc);
    zmq_connect (ov->self_push, inproc);
    poll_add (ov, ov->self_pull, on_self);

    /* children */
    uint32_t nc = topo_nchildren (ov->topo, ov->rank);
    const uint32_t *ch = topo_children (ov->topo, ov->rank);
    ov->nchildren = nc;
    ov->children = calloc (nc ? nc : 1, sizeof (struct child));
    for (uint32_t i = 0; i < nc; i++)
        ov->children[i].rank = ch[i];
    ov->peer_socks = calloc (ov->size, sizeof (void *));
    {   /* every broker binds: children and peers connect here */
        ov->zap_sock = zmq_socket (ov->zctx, ZMQ_REP);
        if (zmq_bind (ov->zap_sock, "inproc://zeromq.zap.01") < 0) {
            snprintf (err, errlen, "ZAP handler: %s", zmq_strerror (errno));
            goto fail;
        }
        poll_add (ov, ov->zap_sock, on_zap);
        ov->child_sock = mksock (ov, ZMQ_ROUTER);
        int one = 1;
        zmq_setsockopt (ov->child_sock, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
        zmq_setsockopt (ov->child_sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
        zmq_setsockopt (ov->child_sock, ZMQ_CURVE_SERVER, &one, sizeof one);
        zmq_setsockopt (ov->child_sock, ZMQ_ZAP_DOMAIN, "canopy", 6);
        zmq_setsockopt (ov->child_sock, ZMQ_CURVE_SECRETKEY, zcert_secret_key (ov->cert), 32);
        char mon[64];
        snprintf (mon, sizeof mon, "inproc://monitor-%p", (void *)ov);
        if (zmq_socket_monitor (ov->child_sock, mon, ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                                                     | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) == 0) {
            ov->mon_sock = zmq_socket (ov->zctx, ZMQ_PAIR);
            zmq_connect (ov->mon_sock, mon);
            poll_add (ov, ov->mon_sock, on_monitor);
        }
        char *own_bind = NULL, *own_conn = NULL;
        if (ov->rank >= cfg->nhosts
            && (!o->host || config_host_endpoints (cfg, o->host, &own_bind, &own_conn) < 0))
            goto nomem;
        free (own_conn);
        const char *ep = ov->rank < cfg->nhosts ? cfg->hosts[ov->rank].bind : own_bind;
        int brc = ipc_in_use (ep, err, errlen);
        if (brc == 0 && (brc = zmq_bind (ov->child_sock, ep)) < 0)
            snprintf (err, errlen, "cannot bind %s: %s", ep, zmq_strerror (errno));
        if (brc == 0 && !(ov->bind_ep = strdup (ep)))
            brc = -1;
        free (own_bind);
        if (brc < 0)
            goto fail;
        poll_add (ov, ov->child_sock, on_child);
    }
    /* parent: or, when it is a free rank, the nearest ancestor that is not */
    if (ov->rank != 0) {
        uint32_t p = topo_parent (ov->topo, ov->rank);
        while (p != 0 && !ov->epconn[p])
            p = topo_parent (ov->topo, p);
        void *sock = up_sock_new (ov, p, false);
        if (!sock) {
            snprintf (err, errlen, "cannot connect to parent %s: %s", ov->epconn[p], zmq_strerror (errno));
            goto fail;
        }
        set_up (ov, p, sock);
    }
    overlay_event_subscribe (ov, "overlay.members", on_members_event, NULL);
    /* local clients (the run directory was checked and locked above) */
    if (asprintf (&ov->local_path, "%s/local", ov->rundir) < 0
        || asprintf (&ov->local_uri, "ipc://%s", ov->local_path) < 0)
        goto fail;
    unlink (ov->local_path);
    ov->local_sock = mksock (ov, ZMQ_ROUTER);
    int one = 1;
    zmq_setsockopt (ov->local_sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    /* every local connection is put to the ZAP handler, which checks the
     * client's uid (SO_PEERCRED) */
    zmq_setsockopt (ov->local_sock, ZMQ_ZAP_DOMAIN, LOCAL_ZAP_DOMAIN, strlen (LOCAL_ZAP_DOMAIN));
    mode_t old = umask (077);
    int rc = zmq_bind (ov->local_sock, ov->local_uri);
    umask (old);
    if (rc < 0) {
        snprintf (err, errlen, "cannot bind %s: %s", ov->local_uri, zmq_strerror (errno));
        goto fail;
    }
    poll_add (ov, ov->local_sock, on_local);

    if (overlay_handlers_add (ov, handlers, NULL, err, errlen) < 0)
        goto fail;
    int hb = (int)(cfg->heartbeat * 1000);
    ov->hb_timer = zloop_timer (ov->loop, hb > 0 ? hb : 1000, 0, on_heartbeat, ov);
    if (ov->parent_sock)
        report_up (ov, true); /* hello */
    return ov;
nomem:
    snprintf (err, errlen, "out of memory");
fail:
    overlay_destroy (&ov);
    return NULL;
}

static int on_stop (zloop_t *loop, int timer_id, void *arg)
{
    return -1;
}

void overlay_stop (overlay_t *ov)
{
    zloop_timer (ov->loop, 1, 1, on_stop, ov);
}

int overlay_run (overlay_t *ov)
{
    zloop_start (ov->loop);
    return 0;
}

void overlay_destroy (overlay_t **p)
{
    if (!p || !*p)
        return;
    overlay_t *ov = *p;
    if (ov->parent_sock)
        send_control (ov, ov->parent_sock, NULL, 0, "goodbye", 0);
    zloop_destroy (&ov->loop);
    if (ov->child_sock && ov->mon_sock)
        zmq_socket_monitor (ov->child_sock, NULL, 0);
    if (ov->probe_sock)
        zmq_close (ov->probe_sock);
    void *socks[] = { ov->parent_sock, ov->child_sock, ov->local_sock, ov->zap_sock,
                      ov->self_push, ov->self_pull, ov->mon_sock };
    for (size_t i = 0; i < sizeof socks / sizeof socks[0]; i++)
        if (socks[i])
            zmq_close (socks[i]);
    if (ov->local_path)
        unlink (ov->local_path);
    for (size_t i = 0; i < ov->nsvcs; i++)
        free (ov->svcs[i].topic);
    for (size_t i = 0; i < ov->nsubs; i++)
        free (ov->subs[i].topic);
    free (ov->svcs);
    free (ov->subs);
    if (ov->peer_socks) {
        for (uint32_t r = 0; r < ov->size; r++)
            if (ov->peer_socks[r])
                zmq_close (ov->peer_socks[r]);
        free (ov->peer_socks);
    }
    zhashx_destroy (&ov->inflight);
    zhashx_destroy (&ov->rpcs);
    zhashx_destroy (&ov->refused);
    if (ov->lock_fd >= 0)
        close (ov->lock_fd);
    if (ov->waiters) {
        for (struct waiter *w = zlistx_first (ov->waiters); w; w = zlistx_next (ov->waiters))
            free (w);
        zlistx_destroy (&ov->waiters);
    }
    zcert_destroy (&ov->cert);
    for (uint32_t r = 0; r < ov->size && ov->ephost; r++) {
        free (ov->ephost[r]);
        free (ov->epconn[r]);
    }
    free (ov->ephost);
    free (ov->epconn);
    members_destroy (&ov->members);
    free (ov->members_path);
    free (ov->bind_ep);
    free (ov->children);
    free (ov->rundir);
    free (ov->local_uri);
    free (ov->local_path);
    free (ov);
    *p = NULL;
}
