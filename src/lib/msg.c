/* msg.c - encode and decode canopy's message header (doc/protocol.md).
 *
 * Little-endian, fixed 28-byte prefix then sender id and topic bytes.  A
 * hand-written codec: the header is on the hot path of every chunk, and a
 * fixed binary layout is both smaller and faster than any serializer.
 */
#include "msg.h"
#include <string.h>

static void put16 (uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static void put32 (uint8_t *p, uint32_t v)
{
    p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24;
}
static uint16_t get16 (const uint8_t *p) { return p[0] | (uint16_t)p[1] << 8; }
static uint32_t get32 (const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int cmsg_hdr_init (cmsg_hdr_t *h, uint8_t type, const char *topic)
{
    size_t n = topic ? strlen (topic) : 0;
    memset (h, 0, sizeof *h);
    if (n > CMSG_TOPIC_MAX)
        return -1;
    h->type = type;
    h->topic_len = n;
    memcpy (h->topic, topic ? topic : "", n);
    h->topic[n] = '\0';
    return 0;
}

size_t cmsg_hdr_encode (const cmsg_hdr_t *h, uint8_t *buf)
{
    buf[0] = CMSG_MAGIC;
    buf[1] = CMSG_VERSION;
    buf[2] = h->type;
    buf[3] = 0;
    put16 (buf + 4, h->flags);
    put16 (buf + 6, h->hops);
    put32 (buf + 8, h->dest);
    put32 (buf + 12, h->src);
    put32 (buf + 16, h->matchtag);
    put32 (buf + 20, (uint32_t)h->errnum);
    buf[24] = h->sender_len;
    buf[25] = h->topic_len;
    put16 (buf + 26, 0);
    memcpy (buf + CMSG_HDR_FIXED, h->sender, h->sender_len);
    memcpy (buf + CMSG_HDR_FIXED + h->sender_len, h->topic, h->topic_len);
    return CMSG_HDR_FIXED + h->sender_len + h->topic_len;
}

int cmsg_hdr_decode (cmsg_hdr_t *h, const uint8_t *buf, size_t len, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    if (len < CMSG_HDR_FIXED) {
        *why = "header too short";
        return -1;
    }
    if (buf[0] != CMSG_MAGIC || buf[1] != CMSG_VERSION) {
        *why = "bad magic or version";
        return -1;
    }
    memset (h, 0, sizeof *h);
    h->type = buf[2];
    if (h->type != CMSG_REQUEST && h->type != CMSG_RESPONSE && h->type != CMSG_EVENT
        && h->type != CMSG_CONTROL) {
        *why = "unknown message type";
        return -1;
    }
    h->flags = get16 (buf + 4);
    h->hops = get16 (buf + 6);
    h->dest = get32 (buf + 8);
    h->src = get32 (buf + 12);
    h->matchtag = get32 (buf + 16);
    h->errnum = (int32_t)get32 (buf + 20);
    h->sender_len = buf[24];
    h->topic_len = buf[25];
    if (h->sender_len > CMSG_SENDER_MAX) {
        *why = "sender id too long";
        return -1;
    }
    if ((size_t)CMSG_HDR_FIXED + h->sender_len + h->topic_len != len) {
        *why = "header length mismatch";
        return -1;
    }
    memcpy (h->sender, buf + CMSG_HDR_FIXED, h->sender_len);
    memcpy (h->topic, buf + CMSG_HDR_FIXED + h->sender_len, h->topic_len);
    h->topic[h->topic_len] = '\0';
    if (memchr (h->topic, '\0', h->topic_len)) {
        *why = "NUL in topic";
        return -1;
    }
    return 0;
}

void cmsg_hdr_make_response (cmsg_hdr_t *resp, const cmsg_hdr_t *req, uint32_t myrank, int errnum)
{
    *resp = *req;
    resp->type = CMSG_RESPONSE;
    resp->dest = req->src;
    resp->src = myrank;
    resp->errnum = errnum;
    resp->hops = 0;
    resp->flags = req->flags & CMSG_F_STREAMING;
}

const char *cmsg_type_name (int type)
{
    switch (type) {
    case CMSG_REQUEST: return "request";
    case CMSG_RESPONSE: return "response";
    case CMSG_EVENT: return "event";
    case CMSG_CONTROL: return "control";
    }
    return "unknown";
}
