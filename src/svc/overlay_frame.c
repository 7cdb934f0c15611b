/* overlay_frame.c - a message in transit as frames, and the pool of data buffers.
 *
 * A message crossing the overlay is [header][json][data?] (doc/protocol.md).
 * A relay keeps the frames it received and re-encodes only the header, so a
 * 1 MiB chunk is never copied; data a service hands over for a response is
 * sent without a copy from a small pool of recycled buffers.  Control
 * messages (hello, heartbeat, goodbye, refused) are built here too.
 */
#define _GNU_SOURCE
#include "overlay_int.h"
#include "xalloc.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void raw_init (struct raw *m)
{
    zmq_msg_init (&m->json);
    zmq_msg_init (&m->data);
    m->has_data = false;
}

void raw_close (struct raw *m)
{
    zmq_msg_close (&m->json);
    zmq_msg_close (&m->data);
}

void raw_set (struct raw *m, const cmsg_hdr_t *h, const char *json, size_t jlen,
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
        base = xmalloc (BUF_HDR + (len ? len : 1));
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

void raw_set_frame (struct raw *m, const cmsg_hdr_t *h, const char *json, size_t jlen,
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

int raw_send (void *sock, const void *id, size_t idlen, struct raw *m)
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

bool ov_readable (void *sock)
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

int raw_recv (overlay_t *ov, void *sock, char *id, size_t *idlen, struct raw *m)
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

/* A control message (heartbeat, goodbye, refused); the json says how many
 * brokers of our subtree are online and who we are (pid, host), so that a
 * parent refusing a duplicate can name the broker that runs. */
int ov_send_control_json (overlay_t *ov, void *sock, const void *id, size_t idlen,
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

int ov_send_control (overlay_t *ov, void *sock, const void *id, size_t idlen,
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
    return ov_send_control_json (ov, sock, id, idlen, topic, js, n);
}
