/* test_msg.c - message header codec: the exact wire layout of
 * doc/protocol.md, encode/decode round trips, and every truncation or
 * corruption rejected with a reason. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "msg.h"

static int same_hdr (const cmsg_hdr_t *a, const cmsg_hdr_t *b)
{
    return a->type == b->type && a->flags == b->flags && a->dest == b->dest && a->src == b->src
           && a->matchtag == b->matchtag && a->errnum == b->errnum && a->hops == b->hops
           && a->sender_len == b->sender_len && a->topic_len == b->topic_len
           && !memcmp (a->sender, b->sender, a->sender_len)
           && !strcmp (a->topic, b->topic);
}

/* decode must fail with a reason containing `want` */
static void rejected (const uint8_t *buf, size_t len, const char *want, const char *what)
{
    cmsg_hdr_t h;
    const char *why = NULL;
    int rc = cmsg_hdr_decode (&h, buf, len, &why);
    ok (rc == -1 && why && strstr (why, want), "%s rejected: %s", what, why ? why : "(no reason)");
}

int main (void)
{
    uint8_t buf[CMSG_HDR_MAX + 16];
    cmsg_hdr_t h, d;
    const char *why;

    /* init */
    ok (cmsg_hdr_init (&h, CMSG_REQUEST, "overlay.ping") == 0 && h.type == CMSG_REQUEST
            && h.topic_len == 12 && !strcmp (h.topic, "overlay.ping") && h.sender_len == 0
            && h.flags == 0 && h.dest == 0 && h.errnum == 0,
        "init: type, topic, zeroed fields");
    char long_topic[300];
    memset (long_topic, 't', sizeof long_topic - 1);
    long_topic[299] = '\0';
    ok (cmsg_hdr_init (&h, CMSG_EVENT, long_topic) == -1, "init refuses a 299-byte topic");
    long_topic[CMSG_TOPIC_MAX] = '\0';
    ok (cmsg_hdr_init (&h, CMSG_EVENT, long_topic) == 0 && h.topic_len == CMSG_TOPIC_MAX,
        "init takes a 255-byte topic");
    ok (cmsg_hdr_init (&h, CMSG_CONTROL, NULL) == 0 && h.topic_len == 0 && h.topic[0] == '\0',
        "init with NULL topic");

    /* exact layout */
    cmsg_hdr_init (&h, CMSG_RESPONSE, "ab");
    h.flags = 0x0201;
    h.hops = 0x0403;
    h.dest = 0x11223344;
    h.src = 0xA1B2C3D4;
    h.matchtag = 0xDEADBEEF;
    h.errnum = -2;
    h.sender_len = 3;
    memcpy (h.sender, "xyz", 3);
    memset (buf, 0xEE, sizeof buf);
    size_t n = cmsg_hdr_encode (&h, buf);
    static const uint8_t want[] = { 0xC7, 0x01, 0x02, 0x00, 0x01, 0x02, 0x03, 0x04,
                                    0x44, 0x33, 0x22, 0x11, 0xD4, 0xC3, 0xB2, 0xA1,
                                    0xEF, 0xBE, 0xAD, 0xDE, 0xFE, 0xFF, 0xFF, 0xFF,
                                    0x03, 0x02, 0x00, 0x00, 'x',  'y',  'z',  'a',
                                    'b' };
    ok (n == sizeof want && !memcmp (buf, want, sizeof want), "encoded bytes match doc/protocol.md");
    ok (buf[n] == 0xEE, "encode writes nothing past its length");
    ok (cmsg_hdr_decode (&d, buf, n, &why) == 0 && same_hdr (&h, &d), "decode of that frame");
    ok (d.errnum == -2 && d.dest == 0x11223344, "negative errnum and high bits survive");

    /* round trips over types, sender and topic lengths */
    int rt_bad = 0, count = 0;
    int types[] = { CMSG_REQUEST, CMSG_RESPONSE, CMSG_EVENT, CMSG_CONTROL };
    size_t slens[] = { 0, 1, 31, 32 }, tlens[] = { 0, 1, 100, 255 };
    for (size_t a = 0; a < 4; a++)
        for (size_t b = 0; b < 4; b++)
            for (size_t c = 0; c < 4; c++) {
                char topic[256];
                for (size_t i = 0; i < tlens[c]; i++)
                    topic[i] = 'a' + (i % 26);
                topic[tlens[c]] = '\0';
                cmsg_hdr_init (&h, types[a], topic);
                h.sender_len = slens[b];
                for (size_t i = 0; i < slens[b]; i++)
                    h.sender[i] = (uint8_t)(i * 37); /* binary, includes 0 */
                h.flags = CMSG_F_STREAMING | CMSG_F_NORESPONSE;
                h.hops = 65535;
                h.dest = CANOPY_RANK_ANY;
                h.src = (uint32_t)a * 1000 + b;
                h.matchtag = 0xFFFFFFFF - c;
                h.errnum = ENODATA;
                n = cmsg_hdr_encode (&h, buf);
                memset (&d, 0x5A, sizeof d);
                if (n != CMSG_HDR_FIXED + slens[b] + tlens[c]
                    || cmsg_hdr_decode (&d, buf, n, NULL) != 0 || !same_hdr (&h, &d)
                    || d.topic[d.topic_len] != '\0')
                    rt_bad++;
                count++;
            }
    ok (!rt_bad, "%d type/sender/topic combinations round trip", count);
    ok (CMSG_HDR_MAX == 28 + 32 + 255, "CMSG_HDR_MAX is 315");

    /* a valid frame to damage */
    cmsg_hdr_init (&h, CMSG_REQUEST, "exec.run");
    h.sender_len = 4;
    memcpy (h.sender, "cli1", 4);
    n = cmsg_hdr_encode (&h, buf);
    ok (cmsg_hdr_decode (&d, buf, n, &why) == 0, "base frame (%zu bytes) decodes", n);

    /* every truncation */
    int trunc_bad = 0;
    for (size_t len = 0; len < n; len++) {
        why = NULL;
        if (cmsg_hdr_decode (&d, buf, len, &why) != -1 || !why || !*why)
            trunc_bad++;
    }
    ok (!trunc_bad, "all %zu truncations rejected with a reason", n);
    rejected (buf, 0, "too short", "empty frame");
    rejected (buf, CMSG_HDR_FIXED - 1, "too short", "27 bytes");
    rejected (buf, CMSG_HDR_FIXED, "length mismatch", "fixed part only");
    rejected (buf, n - 1, "length mismatch", "one byte short");
    {
        uint8_t big[CMSG_HDR_MAX + 16];
        memcpy (big, buf, n);
        big[n] = 'x';
        rejected (big, n + 1, "length mismatch", "one trailing byte");
    }

    /* corruptions of each checked field */
    uint8_t bad[CMSG_HDR_MAX];
    memcpy (bad, buf, n);
    bad[0] = 0xC6;
    rejected (bad, n, "magic", "wrong magic");
    memcpy (bad, buf, n);
    bad[1] = 2;
    rejected (bad, n, "version", "version 2");
    memcpy (bad, buf, n);
    bad[1] = 0;
    rejected (bad, n, "version", "version 0");
    int type_bad = 0;
    for (int t = 0; t < 256; t++) {
        memcpy (bad, buf, n);
        bad[2] = t;
        int valid = t == 1 || t == 2 || t == 4 || t == 8;
        why = NULL;
        int rc = cmsg_hdr_decode (&d, bad, n, &why);
        if (valid ? rc != 0 || d.type != t : rc != -1 || !why || !strstr (why, "type"))
            type_bad++;
    }
    ok (!type_bad, "only types 1, 2, 4, 8 accepted; the rest rejected naming the type");
    memcpy (bad, buf, n);
    bad[24] = 33;
    rejected (bad, n, "sender", "sender length 33");
    memcpy (bad, buf, n);
    bad[24] = 255;
    rejected (bad, n, "sender", "sender length 255");
    memcpy (bad, buf, n);
    bad[24] = 5; /* one more sender byte: total no longer matches */
    rejected (bad, n, "length mismatch", "sender length off by one");
    memcpy (bad, buf, n);
    bad[25] = 9;
    rejected (bad, n, "length mismatch", "topic length off by one");
    memcpy (bad, buf, n);
    bad[25] = 255;
    rejected (bad, n, "length mismatch", "topic length 255 on a short frame");
    memcpy (bad, buf, n);
    bad[n - 1] = '\0';
    rejected (bad, n, "NUL", "NUL at end of topic");
    memcpy (bad, buf, n);
    bad[CMSG_HDR_FIXED + 4] = '\0';
    rejected (bad, n, "NUL", "NUL at start of topic");
    /* a NUL in the sender is fine: it is binary */
    memcpy (bad, buf, n);
    bad[CMSG_HDR_FIXED] = '\0';
    ok (cmsg_hdr_decode (&d, bad, n, &why) == 0 && d.sender[0] == 0, "NUL in sender id accepted");
    /* decode with why == NULL must not crash */
    ok (cmsg_hdr_decode (&d, buf, 3, NULL) == -1, "decode tolerates why == NULL");

    /* maximum-size frame, exactly */
    memset (long_topic, 'q', CMSG_TOPIC_MAX);
    long_topic[CMSG_TOPIC_MAX] = '\0';
    cmsg_hdr_init (&h, CMSG_EVENT, long_topic);
    h.sender_len = CMSG_SENDER_MAX;
    memset (h.sender, 0xAB, CMSG_SENDER_MAX);
    n = cmsg_hdr_encode (&h, buf);
    ok (n == CMSG_HDR_MAX && cmsg_hdr_decode (&d, buf, n, &why) == 0 && same_hdr (&h, &d)
            && strlen (d.topic) == CMSG_TOPIC_MAX,
        "largest header (%zu bytes) round trips", n);

    /* responses */
    cmsg_hdr_init (&h, CMSG_REQUEST, "overlay.ping");
    h.src = 7;
    h.dest = 3;
    h.matchtag = 99;
    h.hops = 4;
    h.flags = CMSG_F_STREAMING | CMSG_F_NORESPONSE;
    h.sender_len = 2;
    memcpy (h.sender, "c9", 2);
    cmsg_hdr_make_response (&d, &h, 3, ENOENT);
    ok (d.type == CMSG_RESPONSE && d.dest == 7 && d.src == 3 && d.errnum == ENOENT && d.hops == 0
            && d.matchtag == 99 && d.flags == CMSG_F_STREAMING && d.sender_len == 2
            && !memcmp (d.sender, "c9", 2) && !strcmp (d.topic, "overlay.ping"),
        "make_response: swaps ranks, keeps matchtag/sender/topic, keeps only STREAMING");
    h.flags = CMSG_F_NORESPONSE;
    cmsg_hdr_make_response (&d, &h, 3, 0);
    ok (d.flags == 0 && d.errnum == 0, "make_response drops NORESPONSE");

    ok (!strcmp (cmsg_type_name (CMSG_REQUEST), "request")
            && !strcmp (cmsg_type_name (CMSG_RESPONSE), "response")
            && !strcmp (cmsg_type_name (CMSG_EVENT), "event")
            && !strcmp (cmsg_type_name (CMSG_CONTROL), "control")
            && !strcmp (cmsg_type_name (3), "unknown") && !strcmp (cmsg_type_name (-1), "unknown"),
        "type names");
    return done ();
}
