/* client.c - DEALER connection from a command to the local broker.
 * A socket monitor reports the connection dropping (the broker died), so a
 * command waiting on an answer or a stream fails with ECONNRESET instead of
 * waiting forever: ZeroMQ itself would just reconnect quietly. */
#include "client.h"
#include "errquote.h"
#include "xalloc.h"
#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct client {
    void *ctx;           /* own context: commands never wait in zmq_ctx_term at exit */
    void *sock;
    void *mon;           /* PAIR: DISCONNECTED (and refused handshake) events of sock */
    bool refused;        /* the broker refused us (not the instance owner) */
    uint32_t next_tag;
    zlistx_t *backlog;   /* cmsg_t* received while waiting for another tag */
};

client_t *client_connect (const char *uri, char *err, size_t errlen)
{
    if (!uri)
        uri = getenv ("CANOPY_URI");
    if (!uri || !*uri) {
        snprintf (err, errlen, "CANOPY_URI is not set (run inside 'canopy start', or set it)");
        return NULL;
    }
    if (!strncmp (uri, "ipc://", 6)) {
        struct stat st;
        if (stat (uri + 6, &st) < 0) {
            snprintf (err, errlen, "cannot connect to broker at %s: %s", uri, strerror (errno));
            return NULL;
        }
    }
    client_t *c = xcalloc (1, sizeof *c);
    c->ctx = zmq_ctx_new ();
    c->sock = zmq_socket (c->ctx, ZMQ_DEALER);
    int linger = 0, hwm = 0;
    zmq_setsockopt (c->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (c->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (c->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    /* the monitor before the connection, so no event of it is missed */
    char ep[64];
    snprintf (ep, sizeof ep, "inproc://client-monitor-%p", (void *)c);
    if (zmq_socket_monitor (c->sock, ep, ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) == 0) {
        c->mon = zmq_socket (c->ctx, ZMQ_PAIR);
        zmq_setsockopt (c->mon, ZMQ_LINGER, &linger, sizeof linger);
        if (zmq_connect (c->mon, ep) < 0) {
            zmq_close (c->mon);
            c->mon = NULL;
        }
    }
    c->backlog = zlistx_new ();
    if (zmq_connect (c->sock, uri) < 0) {
        snprintf (err, errlen, "cannot connect to broker at %s: %s", uri, zmq_strerror (errno));
        client_destroy (&c);
        return NULL;
    }
    return c;
}

/* Read pending monitor events; true if the connection to the broker has
 * dropped. */
static bool lost (client_t *c)
{
    bool down = false;
    while (c->mon) {
        zmq_msg_t ev, addr;
        zmq_msg_init (&ev);
        if (zmq_msg_recv (&ev, c->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&ev);
            break;
        }
        uint16_t event = 0;
        if (zmq_msg_size (&ev) >= 2)
            memcpy (&event, zmq_msg_data (&ev), 2);
        zmq_msg_close (&ev);
        zmq_msg_init (&addr);   /* second frame: the endpoint */
        zmq_msg_recv (&addr, c->mon, ZMQ_DONTWAIT);
        zmq_msg_close (&addr);
        if (event == ZMQ_EVENT_DISCONNECTED)
            down = true;
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {   /* the broker's ZAP said no */
            c->refused = true;
            down = true;
        }
    }
    return down;
}

void client_msg_clear (cmsg_t *m)
{
    json_decref (m->json);
    free ((void *)m->data);
    memset (m, 0, sizeof *m);
}

void client_destroy (client_t **p)
{
    if (!p || !*p)
        return;
    client_t *c = *p;
    cmsg_t *m;
    while ((m = zlistx_detach (c->backlog, NULL))) {
        client_msg_clear (m);
        free (m);
    }
    zlistx_destroy (&c->backlog);
    if (c->mon) {
        zmq_socket_monitor (c->sock, NULL, 0);
        zmq_close (c->mon);
    }
    zmq_close (c->sock);
    zmq_ctx_term (c->ctx);
    free (c);
    *p = NULL;
}

int client_send (client_t *c, uint32_t rank, const char *topic, json_t *json, const void *data, size_t len,
                 int flags, uint32_t *tag, char *err, size_t errlen)
{
    cmsg_hdr_t h;
    if (cmsg_hdr_init (&h, CMSG_REQUEST, topic) < 0) {
        json_decref (json);
        return errfail (err, errlen, "request topic is longer than %d bytes", CMSG_TOPIC_MAX);
    }
    if (++c->next_tag == 0)
        c->next_tag = 1;
    h.matchtag = c->next_tag;
    h.dest = rank;
    h.flags = flags;
    uint8_t hbuf[CMSG_HDR_MAX];
    size_t hlen = cmsg_hdr_encode (&h, hbuf);
    char *s = json ? json_dumps (json, JSON_COMPACT) : NULL;
    json_decref (json);
    zmq_send (c->sock, hbuf, hlen, ZMQ_SNDMORE);
    zmq_send (c->sock, s ? s : "", s ? strlen (s) : 0, data ? ZMQ_SNDMORE : 0);
    if (data)
        zmq_send (c->sock, data, len, 0);
    free (s);
    *tag = h.matchtag;
    return 0;
}

static int recv_one (client_t *c, cmsg_t *m, int timeout_ms)
{
    zmq_pollitem_t it[2] = { { .socket = c->sock, .events = ZMQ_POLLIN },
                             { .socket = c->mon, .events = ZMQ_POLLIN } };
    int64_t deadline = timeout_ms >= 0 ? zclock_mono () + timeout_ms : -1;
    for (;;) {
        long left = deadline < 0 ? -1 : (long)(deadline - zclock_mono ());
        int rc = zmq_poll (it, c->mon ? 2 : 1, deadline < 0 ? -1 : left > 0 ? left : 0);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (it[0].revents & ZMQ_POLLIN)
            break;              /* answers already here come first */
        if (lost (c)) {
            errno = c->refused ? EACCES : ECONNRESET;
            return -1;
        }
    }
    zmq_msg_t f[3];
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t tmp;
        zmq_msg_init (&tmp);
        if (zmq_msg_recv (&tmp, c->sock, 0) < 0) {
            zmq_msg_close (&tmp);
            for (int i = 0; i < n; i++)
                zmq_msg_close (&f[i]);
            return -1;
        }
        more = zmq_msg_more (&tmp);
        if (n < 3)
            f[n++] = tmp;
        else
            zmq_msg_close (&tmp);
    }
    memset (m, 0, sizeof *m);
    int ret = -1;
    if (n >= 2 && cmsg_hdr_decode (&m->hdr, zmq_msg_data (&f[0]), zmq_msg_size (&f[0]), NULL) == 0) {
        if (zmq_msg_size (&f[1]))
            m->json = json_loadb (zmq_msg_data (&f[1]), zmq_msg_size (&f[1]), 0, NULL);
        if (!m->json)
            m->json = json_object ();
        if (n == 3) {
            m->data_len = zmq_msg_size (&f[2]);
            void *d = xmalloc (m->data_len ? m->data_len : 1);
            memcpy (d, zmq_msg_data (&f[2]), m->data_len);
            m->data = d;
        }
        ret = 0;
    }
    for (int i = 0; i < n; i++)
        zmq_msg_close (&f[i]);
    if (ret < 0)
        errno = EPROTO;
    return ret;
}

/* What went wrong when nothing came (errno from recv_one), in words. */
static const char *recv_error (void)
{
    return errno == ETIMEDOUT ? "no answer from broker (timed out)"
           : errno == EACCES  ? "the broker refused the connection (only the instance owner and "
                                "root may use it)"
                              : strerror (errno);
}

/* The first message set aside by client_call that answers tag (0: any). */
static bool from_backlog (client_t *c, uint32_t tag, cmsg_t *m)
{
    for (cmsg_t *q = zlistx_first (c->backlog); q; q = zlistx_next (c->backlog))
        if (tag == 0 || q->hdr.matchtag == tag) {
            zlistx_detach_cur (c->backlog);
            *m = *q;
            free (q);
            return true;
        }
    return false;
}

int client_stream_next (client_t *c, uint32_t tag, cmsg_t *m, int timeout_ms, char *err,
                        size_t errlen)
{
    if (!from_backlog (c, tag, m)) {
        int64_t deadline = timeout_ms >= 0 ? zclock_mono () + timeout_ms : -1;
        for (;;) {
            int left = deadline < 0 ? -1 : (int)(deadline > zclock_mono () ? deadline - zclock_mono () : 0);
            if (recv_one (c, m, left) < 0) {
                int e = errno;
                errfmt (err, errlen, "%s", recv_error ());
                errno = e;
                return -1;
            }
            if (tag == 0 || m->hdr.matchtag == tag)
                break;
            client_msg_clear (m);
        }
    }
    return m->hdr.errnum == ENODATA ? 0 : 1;
}

const char *client_errstr (const cmsg_t *m)
{
    const char *s = NULL;
    if (m->json && json_unpack (m->json, "{s:s}", "errstr", &s) == 0 && s && *s)
        return s;
    return strerror (m->hdr.errnum);
}

json_t *client_call (client_t *c, uint32_t rank, const char *topic, json_t *json, int timeout_ms,
                     char *err, size_t errlen)
{
    uint32_t tag;
    if (client_send (c, rank, topic, json, NULL, 0, 0, &tag, err, errlen) < 0)
        return NULL;
    for (;;) {
        cmsg_t m;
        if (recv_one (c, &m, timeout_ms) < 0) {
            errfmt (err, errlen, "%s: %s", topic, recv_error ());
            return NULL;
        }
        if (m.hdr.matchtag != tag) {
            cmsg_t *q = xmalloc (sizeof *q);
            *q = m;
            zlistx_add_end (c->backlog, q);
            continue;
        }
        if (m.hdr.errnum) {
            snprintf (err, errlen, "%s", client_errstr (&m));
            client_msg_clear (&m);
            return NULL;
        }
        json_t *o = m.json;
        m.json = NULL;
        client_msg_clear (&m);
        return o;
    }
}
