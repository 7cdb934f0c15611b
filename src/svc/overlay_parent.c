/* overlay_parent.c - the upstream side: the link to the parent.
 *
 * A broker other than rank 0 keeps one DEALER upstream: to its parent, or,
 * while the parent does not answer, to the nearest ancestor that does
 * (doc/membership.md).  While attached past the parent it probes the parent
 * and moves back under it once it answers.  The parent may refuse us as a
 * second live broker of our rank; if that lasts, we stop.
 */
#define _GNU_SOURCE
#include "overlay_int.h"
#include "clock.h"
#include "errquote.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>

void ov_report_up (overlay_t *ov, bool force)
{
    if (ov->rank == 0 || !ov->parent_sock)
        return;
    uint32_t n = overlay_online_count (ov);
    if (!force && n == ov->last_reported_online)
        return;
    ov->last_reported_online = n;
    ov_send_control (ov, ov->parent_sock, NULL, 0, "heartbeat", n);
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

int ov_on_parent (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    overlay_t *ov = arg;
    for (int k = 0; k < 256; k++) {
        if (!ov_readable (ov->parent_sock))
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
            ov_report_up (ov, true);
            if (ov->peer_cb)
                ov->peer_cb (ov, ov->up, "online", ov->peer_arg);
        }
        if (m.hdr.type == CMSG_CONTROL) {
            raw_close (&m);
            continue;
        }
        ov_route (ov, &m, false);
        raw_close (&m);
    }
    return 0;
}

/* A DEALER to rank r's child endpoint with this process's routing id
 * ("RANK.NONCE": the parent tells a restarted broker from a second live
 * one, doc/protocol.md).  immediate: messages are not queued while the link
 * is not up (the probe); otherwise the hello queues until connected. */
static void *up_sock_new (overlay_t *ov, uint32_t r, bool immediate)
{
    if (!ov->epconn[r]) {   /* a free rank: no broker to connect to */
        errno = EHOSTUNREACH;
        return NULL;
    }
    char id[32];
    snprintf (id, sizeof id, "%u.%08x", ov->rank, ov->bootid);
    return ov_curve_dealer (ov->zctx, ov->cert, id, immediate, ov->epconn[r]);
}

/* Make sock (connected to rank r) the upstream link.  Requests forwarded
 * over the old link are not failed: their responses come back through
 * whichever way the tree now routes to us. */
static void set_up (overlay_t *ov, uint32_t r, void *sock)
{
    if (ov->parent_sock) {
        if (ov->parent_state == PEER_ONLINE)
            ov_send_control (ov, ov->parent_sock, NULL, 0, "goodbye", 0);
        ov_poll_end (ov, ov->parent_sock);
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
    ov_poll_add (ov, sock, ov_on_parent);
    ov_report_up (ov, true);   /* hello */
}

/* The parent answered the probe: move back under it. */
static int on_probe (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    overlay_t *ov = arg;
    void *sock = ov->probe_sock;
    ov->probe_sock = NULL;
    ov_poll_end (ov, sock);
    overlay_log (ov, "parent %u is back: moving under it from ancestor %u", topo_parent (ov->topo, ov->rank),
                 ov->up);
    set_up (ov, topo_parent (ov->topo, ov->rank), sock);
    return ov_on_parent (loop, NULL, ov);   /* what it sent is ours to read */
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
            ov_poll_add (ov, ov->probe_sock, on_probe);
        if (ov->probe_sock)
            ov_send_control (ov, ov->probe_sock, NULL, 0, "heartbeat", overlay_online_count (ov));
    }
}

void ov_parent_tick (overlay_t *ov, int64_t now, int64_t timeout)
{
    if (ov->parent_state == PEER_ONLINE && now - ov->parent_last_seen > timeout) {
        overlay_log (ov, "%s %u lost", ov->up == topo_parent (ov->topo, ov->rank) ? "parent" : "ancestor",
                     ov->up);
        ov->parent_state = PEER_LOST;
        ov_fail_inflight (ov, ov->up);
        if (ov->peer_cb)
            ov->peer_cb (ov, ov->up, "lost", ov->peer_arg);
    }
    upstream_tick (ov, now, timeout);
    ov_report_up (ov, true);
}

int ov_parent_connect (overlay_t *ov, char *err, size_t errlen)
{
    uint32_t p = topo_parent (ov->topo, ov->rank);
    while (p != 0 && !ov->epconn[p])
        p = topo_parent (ov->topo, p);
    void *sock = up_sock_new (ov, p, false);
    if (!sock)
        return errfail (err, errlen, "cannot connect to parent %s: %s", ov->epconn[p] ? ov->epconn[p] : "?",
                        zmq_strerror (errno));
    set_up (ov, p, sock);
    return 0;
}
