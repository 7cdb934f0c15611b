/* overlay.c - the routing core of one broker: where a message goes next.
 *
 * One thread, one zloop.  Messages are [header][json][data?] (see
 * doc/protocol.md).  A message is delivered to this broker's services or
 * pending RPCs, or forwarded down to the attached broker nearest its
 * destination, or up; a forwarded request is tracked until its response
 * passes back, so that when its next hop is lost it is answered here with
 * EHOSTUNREACH.  Work created by service code for this same broker (an RPC
 * to self, a response to our own RPC) is posted through an inproc socket
 * pair, so callbacks never re-enter each other.  The links themselves live
 * in overlay_parent.c, overlay_children.c and overlay_peer.c
 * (overlay_int.h lists the files).
 */
#define _GNU_SOURCE
#include "overlay_int.h"
#include "clock.h"
#include "errquote.h"
#include "xalloc.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    struct inflight *f = xmalloc (sizeof *f);
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

/* Answer, with EHOSTUNREACH, every request we forwarded to `hop`. */
void ov_fail_inflight (overlay_t *ov, uint32_t hop)
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
        ov_route (ov, &r, true);
        raw_close (&r);
    }
    zlistx_destroy (&keys);
}

/* ---- dispatch to this broker ---- */

/* The service for a topic: the exact one, else the longest prefix. */
static struct service *find_service (overlay_t *ov, const char *topic)
{
    struct service *best = NULL;
    for (size_t i = 0; i < ov->nsvcs; i++) {
        struct service *s = &ov->svcs[i];
        if (s->prefix ? !strncmp (topic, s->topic, s->len) : !strcmp (topic, s->topic))
            if (!best || s->len > best->len)
                best = s;
    }
    return best;
}

/* A request to its service, a response to its pending RPC, an event to its
 * subscribers.  False if nobody took it (a request is answered ENOSYS). */
static bool dispatch (overlay_t *ov, const cmsg_t *msg)
{
    if (msg->hdr.type == CMSG_REQUEST) {
        struct service *s = find_service (ov, msg->hdr.topic);
        if (!s) {
            overlay_respond_error (ov, &msg->hdr, ENOSYS, "no service for topic '%s'", msg->hdr.topic);
            return false;
        }
        s->cb (ov, msg, s->arg);
        return true;
    }
    if (msg->hdr.type == CMSG_RESPONSE) {
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
    bool taken = false;
    if (msg->hdr.type == CMSG_EVENT)
        for (size_t i = 0; i < ov->nsubs; i++)
            if (!strncmp (msg->hdr.topic, ov->subs[i].topic, ov->subs[i].len)) {
                ov->subs[i].cb (ov, msg, ov->subs[i].arg);
                taken = true;
            }
    return taken;
}

void ov_deliver_local (overlay_t *ov, struct raw *m)
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
    dispatch (ov, &msg);
    json_decref (msg.json);
}

static void respond_unreachable (overlay_t *ov, const cmsg_hdr_t *req, int errnum, const char *why)
{
    if (req->type != CMSG_REQUEST || (req->flags & CMSG_F_NORESPONSE))
        return;
    overlay_respond_error (ov, req, errnum, "%s", why);
}

/* Forward or deliver.  m's frames are consumed. */
void ov_route (overlay_t *ov, struct raw *m, bool from_self)
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
            ov_deliver_local (ov, m);
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
            ov_deliver_local (ov, m);
        return;
    }
    /* down to the attached broker nearest dest, or up (doc/membership.md) */
    uint32_t hop = members_next_hop (ov->topo, ov->rank, dest, ov_child_attached, ov);
    h->hops++;
    if (hop == TOPO_NONE) {
        uint32_t first = topo_next_hop (ov->topo, ov->rank, dest);
        struct child *c = ov_find_child (ov, first);
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
        struct child *c = ov_find_child (ov, hop);
        if (!c || c->state != PEER_ONLINE) {
            char why[64];
            snprintf (why, sizeof why, "rank %u is %s", hop, c && c->state == PEER_LOST ? "lost" : "offline");
            respond_unreachable (ov, h, EHOSTUNREACH, why);
            return;
        }
        cmsg_hdr_t saved = *h;
        if (raw_send (ov->child_sock, c->id, c->idlen, m) < 0) {
            ov_set_child_state (ov, c, PEER_LOST);
            respond_unreachable (ov, &saved, EHOSTUNREACH, "child link is down");
            return;
        }
        if (saved.type == CMSG_REQUEST)
            track (ov, &saved, hop);
        else
            untrack (ov, &saved);
    }
}

/* ---- responses and requests ---- */

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
    ov_route (ov, m, true);
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

int overlay_rpc (overlay_t *ov, uint32_t rank, const char *topic, json_t *json, const void *data,
                 size_t len, int flags, overlay_msg_f cb, void *arg, uint32_t *tag, char *err,
                 size_t errlen)
{
    cmsg_hdr_t h;
    if (cmsg_hdr_init (&h, CMSG_REQUEST, topic) < 0) {
        json_decref (json);
        return errfail (err, errlen, "request topic is longer than %d bytes", CMSG_TOPIC_MAX);
    }
    h.matchtag = ov_next_matchtag (ov);
    h.flags = flags;
    h.dest = rank == CANOPY_RANK_ANY ? ov->rank : rank;
    h.src = ov->rank;
    if (cb && !(flags & CMSG_F_NORESPONSE))
        ov_pending_add (ov, h.matchtag, cb, arg, flags & CMSG_F_STREAMING);
    char *s = json ? json_dumps (json, JSON_COMPACT) : NULL;
    json_decref (json);
    struct raw m;
    raw_set (&m, &h, s ? s : "", s ? strlen (s) : 0, data, len);
    free (s);
    ov_route (ov, &m, true);
    raw_close (&m);
    if (tag)
        *tag = h.matchtag;
    return 0;
}

uint32_t ov_next_matchtag (overlay_t *ov)
{
    if (++ov->next_matchtag == 0)
        ov->next_matchtag = 1;
    return ov->next_matchtag;
}

void ov_pending_add (overlay_t *ov, uint32_t matchtag, overlay_msg_f cb, void *arg, bool streaming)
{
    struct pending *p = xcalloc (1, sizeof *p);
    p->cb = cb;
    p->arg = arg;
    p->streaming = streaming;
    char key[16];
    snprintf (key, sizeof key, "%u", matchtag);
    zhashx_update (ov->rpcs, key, p);
}

uint32_t overlay_rpc_expect (overlay_t *ov, overlay_msg_f cb, void *arg, bool streaming)
{
    uint32_t tag = ov_next_matchtag (ov);
    ov_pending_add (ov, tag, cb, arg, streaming);
    return tag;
}

bool overlay_rpc_pending (overlay_t *ov, uint32_t matchtag)
{
    char key[16];
    snprintf (key, sizeof key, "%u", matchtag);
    return zhashx_lookup (ov->rpcs, key) != NULL;
}

bool overlay_deliver (overlay_t *ov, const cmsg_t *msg)
{
    if (msg->hdr.type != CMSG_REQUEST && msg->hdr.type != CMSG_RESPONSE)
        return false;
    return dispatch (ov, msg);
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

int ov_event_publish (overlay_t *ov, const char *topic, json_t *json)
{
    if (ov->rank != 0) {
        json_t *o = json_pack ("{s:s s:o}", "topic", topic, "payload", json ? json : json_object ());
        return overlay_rpc (ov, 0, "overlay.publish", o, NULL, 0, CMSG_F_NORESPONSE, NULL, NULL, NULL,
                            NULL, 0);
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
    ov_route (ov, &m, true);
    raw_close (&m);
    return 0;
}

static void add_entry (struct service **arr, size_t *n, const char *topic, overlay_msg_f cb,
                       void *arg, bool prefix)
{
    struct service *a = *arr = xreallocarray (*arr, *n + 1, sizeof **arr);
    a[*n].topic = xstrdup (topic);
    a[*n].len = strlen (topic);
    a[*n].prefix = prefix;
    a[*n].cb = cb;
    a[*n].arg = arg;
    (*n)++;
}

/* topic is exact ("exec.run") or a prefix ending in '.' ("job.") */
static void service_add (overlay_t *ov, const char *topic, overlay_msg_f cb, void *arg)
{
    size_t n = strlen (topic);
    add_entry (&ov->svcs, &ov->nsvcs, topic, cb, arg, n && topic[n - 1] == '.');
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
        service_add (ov, h->topic, h->cb, arg);
    return 0;
}

void ov_event_subscribe (overlay_t *ov, const char *prefix, overlay_msg_f cb, void *arg)
{
    add_entry (&ov->subs, &ov->nsubs, prefix, cb, arg, true);
}

/* ---- local clients and the self channel ---- */
int ov_on_local (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    overlay_t *ov = arg;
    for (int k = 0; k < 256; k++) {
        if (!ov_readable (ov->local_sock))
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
        ov_route (ov, &m, false);
        raw_close (&m);
    }
    return 0;
}

int ov_on_self (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    overlay_t *ov = arg;
    for (int k = 0; k < 256; k++) {
        if (!ov_readable (ov->self_pull))
            break;
        struct raw m;
        if (raw_recv (ov, ov->self_pull, NULL, NULL, &m) < 0)
            continue;
        ov_deliver_local (ov, &m);
        raw_close (&m);
    }
    return 0;
}

/* ---- the heartbeat tick ---- */
int ov_on_heartbeat (zloop_t *loop, int timer_id, void *arg)
{
    overlay_t *ov = arg;
    /* read what peers sent before judging their silence: after this loop
     * was busy for longer than the timeout (a slow start, a loaded host),
     * their heartbeats are queued, not missing */
    ov_on_child (loop, NULL, ov);
    if (ov->parent_sock)
        ov_on_parent (loop, NULL, ov);
    int64_t now = now_ms ();
    int64_t timeout = (int64_t)(ov->cfg->timeout * 1000);
    ov_children_tick (ov, now, timeout);
    if (ov->rank != 0)
        ov_parent_tick (ov, now, timeout);
    if (ov->rank == 0 && zlistx_size (ov->waiters))
        ov_check_waiters (ov);
    return 0;
}
