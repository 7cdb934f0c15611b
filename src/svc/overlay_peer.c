/* overlay_peer.c - direct links between any two brokers, beside the tree.
 *
 * For bulk data (doc/distribution.md) a broker sends a request straight to
 * another rank over a DEALER to its endpoint, opened on first use, with the
 * routing id "pRANK"; the answer comes back on the same link (CMSG_F_PEER).
 * The receiving side is the child ROUTER (overlay_children.c).
 */
#define _GNU_SOURCE
#include "overlay_int.h"
#include "errquote.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int on_peer (zloop_t *loop, zmq_pollitem_t *item, void *arg);

static void *peer_sock (overlay_t *ov, uint32_t rank)
{
    if (ov->peer_socks[rank])
        return ov->peer_socks[rank];
    if (!ov->epconn[rank])
        return NULL;
    char id[16];
    snprintf (id, sizeof id, "p%u", ov->rank);
    void *s = ov_curve_dealer (ov->zctx, ov->cert, id, false, ov->epconn[rank]);
    if (!s)
        return NULL;
    ov_poll_add (ov, s, on_peer);
    ov->peer_socks[rank] = s;
    return s;
}

static int on_peer (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    overlay_t *ov = arg;
    for (int k = 0; k < 256; k++) {
        if (!ov_readable (item->socket))
            break;
        struct raw m;
        if (raw_recv (ov, item->socket, NULL, NULL, &m) < 0)
            continue;
        if (m.hdr.type == CMSG_RESPONSE)
            ov_deliver_local (ov, &m);
        raw_close (&m);
    }
    return 0;
}

int overlay_peer_rpc (overlay_t *ov, uint32_t rank, const char *topic, json_t *json,
                      const void *data, size_t len, int flags, overlay_msg_f cb, void *arg,
                      uint32_t *tag, char *err, size_t errlen)
{
    if (rank >= ov->size) {
        json_decref (json);
        return errfail (err, errlen, "%s: rank %u is not in this instance (size %u)", topic, rank,
                        ov->size);
    }
    cmsg_hdr_t h;
    if (cmsg_hdr_init (&h, CMSG_REQUEST, topic) < 0) {
        json_decref (json);
        return errfail (err, errlen, "request topic is longer than %d bytes", CMSG_TOPIC_MAX);
    }
    h.matchtag = ov_next_matchtag (ov);
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
    if (!sock) {
        raw_close (&m);
        return errfail (err, errlen, "%s: no peer link to rank %u (%s)", topic, rank,
                        ov->epconn[rank] ? zmq_strerror (errno) : "no broker holds it");
    }
    if (raw_send (sock, NULL, 0, &m) < 0) {
        int e = errno;
        raw_close (&m);
        return errfail (err, errlen, "%s: cannot send to rank %u: %s", topic, rank, zmq_strerror (e));
    }
    raw_close (&m);
    if (cb && !(flags & CMSG_F_NORESPONSE))
        ov_pending_add (ov, h.matchtag, cb, arg, flags & CMSG_F_STREAMING);
    if (tag)
        *tag = h.matchtag;
    return 0;
}

void ov_peer_close_all (overlay_t *ov)
{
    if (!ov->peer_socks)
        return;
    for (uint32_t r = 0; r < ov->size; r++)
        if (ov->peer_socks[r])
            zmq_close (ov->peer_socks[r]);
    free (ov->peer_socks);
    ov->peer_socks = NULL;
}
