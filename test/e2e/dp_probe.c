/* dp_probe.c - a raw client of a broker's data endpoint, for the e2e tests:
 * sends one `archive.chunk {dist, token, idx}` request (no CURVE, no
 * instance certificate) and reports what comes back within a timeout.
 *
 * Usage: dp_probe ENDPOINT DIST TOKEN IDX [TIMEOUT_MS [OUTFILE]]
 * Exit 0 and "reply errnum=E bytes=N" if an answer came (its data frame
 * written to OUTFILE if given), 1 and "nothing" if none, 2 on usage errors. */
#include "msg.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

int main (int argc, char **argv)
{
    if (argc < 5) {
        fprintf (stderr, "usage: dp_probe ENDPOINT DIST TOKEN IDX [TIMEOUT_MS [OUTFILE]]\n");
        return 2;
    }
    int timeout = argc > 5 ? atoi (argv[5]) : 2000;
    void *ctx = zmq_ctx_new ();
    void *s = zmq_socket (ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt (s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    if (zmq_connect (s, argv[1]) < 0) {
        fprintf (stderr, "dp_probe: cannot connect to %s: %s\n", argv[1], zmq_strerror (zmq_errno ()));
        return 2;
    }
    cmsg_hdr_t h;
    cmsg_hdr_init (&h, CMSG_REQUEST, "archive.chunk");
    h.matchtag = 42;
    h.flags = CMSG_F_PEER;
    uint8_t hb[CMSG_HDR_MAX];
    size_t hl = cmsg_hdr_encode (&h, hb);
    char js[512];
    int jl = snprintf (js, sizeof js, "{\"dist\":\"%s\",\"token\":\"%s\",\"idx\":%s}", argv[2], argv[3], argv[4]);
    zmq_send (s, hb, hl, ZMQ_SNDMORE);
    zmq_send (s, js, jl, 0);
    zmq_msg_t f[3];
    int n = 0, more = 1;
    size_t sz = sizeof more;
    while (more && n < 3) {
        zmq_msg_init (&f[n]);
        if (zmq_msg_recv (&f[n], s, 0) < 0) {
            zmq_msg_close (&f[n]);
            break;
        }
        zmq_getsockopt (s, ZMQ_RCVMORE, &more, &sz);
        n++;
    }
    if (n == 0) {
        printf ("nothing\n");
        zmq_close (s);
        zmq_ctx_term (ctx);
        return 1;
    }
    cmsg_hdr_t r;
    const char *why = NULL;
    int rc = cmsg_hdr_decode (&r, zmq_msg_data (&f[0]), zmq_msg_size (&f[0]), &why);
    size_t bytes = n == 3 ? zmq_msg_size (&f[2]) : 0;
    printf ("reply errnum=%d bytes=%zu\n", rc < 0 ? -1 : r.errnum, bytes);
    if (argc > 6 && n == 3) {
        FILE *o = fopen (argv[6], "wb");
        if (o) {
            fwrite (zmq_msg_data (&f[2]), 1, bytes, o);
            fclose (o);
        }
    }
    for (int i = 0; i < n; i++)
        zmq_msg_close (&f[i]);
    zmq_close (s);
    zmq_ctx_term (ctx);
    return 0;
}
