/* msg.h - canopy's message: a header, a JSON payload and an optional blob.
 *
 * Every request, response, event and control message that crosses a link
 * (broker to broker, or client to broker) is one of these, carried as a
 * ZeroMQ multipart message: [header][json][data?].  This file encodes and
 * decodes the header frame and names the decoded message (cmsg_t); see
 * doc/protocol.md for the wire format.
 * Pure: no I/O.
 */
#ifndef CANOPY_MSG_H
#define CANOPY_MSG_H
#include <jansson.h>
#include <stdint.h>
#include <stddef.h>

enum cmsg_type {
    CMSG_REQUEST = 1,
    CMSG_RESPONSE = 2,
    CMSG_EVENT = 4,
    CMSG_CONTROL = 8,
};

enum cmsg_flags {
    CMSG_F_STREAMING = 1,   /* request: many responses, ended by errnum ENODATA */
    CMSG_F_NORESPONSE = 2,  /* request: no response is wanted */
    CMSG_F_PEER = 4,        /* request sent over a direct peer link, answered on it */
    CMSG_F_DATA = 8,        /* local only, never on the wire: a request the data plane handed
                             * to a service (answered through it), or a response whose data
                             * the data plane opened and verified (src/svc/dataplane.c) */
};

/* Control messages (CMSG_CONTROL: link keep-alive) are told apart by topic:
 * "heartbeat" (both ways; a child's first one is its hello), "goodbye"
 * (child -> parent: clean shutdown), "refused" (parent -> a second broker
 * of a running rank).  Their matchtag is the sender's boot id. */

#define CANOPY_RANK_ANY   0xFFFFFFFFu  /* the broker the client is attached to */
#define CANOPY_RANK_UP    0xFFFFFFFEu  /* unused on the wire; reserved */
#define CMSG_MAGIC        0xC7
#define CMSG_VERSION      1
#define CMSG_TOPIC_MAX    255
#define CMSG_SENDER_MAX   32
#define CMSG_HDR_FIXED    28
#define CMSG_HDR_MAX      (CMSG_HDR_FIXED + CMSG_SENDER_MAX + CMSG_TOPIC_MAX)

typedef struct cmsg_hdr {
    uint8_t type;
    uint16_t flags;
    uint32_t dest;       /* request: target rank; response: origin rank */
    uint32_t src;        /* request: origin rank; response: responding rank */
    uint32_t matchtag;   /* chosen by the sender of a request; echoed */
    int32_t errnum;      /* response: 0 or an errno value */
    uint16_t hops;       /* brokers this message has crossed */
    uint8_t sender_len;  /* origin client's id at its broker; 0 = the broker */
    uint8_t topic_len;
    uint8_t sender[CMSG_SENDER_MAX];
    char topic[CMSG_TOPIC_MAX + 1];
} cmsg_hdr_t;

/* A received message, decoded: its header, its payload parsed, its data
 * frame.  The overlay hands one to services and RPC continuations (valid
 * during the callback only); the client library returns them to commands
 * (src/client/client.h, freed with client_msg_clear). */
typedef struct cmsg {
    cmsg_hdr_t hdr;
    json_t *json;        /* parsed payload (never NULL: {} if empty) */
    const void *data;    /* optional data frame */
    size_t data_len;
    void *frame;         /* the overlay's: the frame holding data (NULL in a client) */
} cmsg_t;

/* Fill a header; topic is truncated-proof (returns -1 if too long). */
int cmsg_hdr_init (cmsg_hdr_t *h, uint8_t type, const char *topic);

/* Encode h into buf (at least CMSG_HDR_MAX bytes).  Returns bytes written. */
size_t cmsg_hdr_encode (const cmsg_hdr_t *h, uint8_t *buf);

/* Decode; returns 0, or -1 with a reason in *why if the frame is malformed. */
int cmsg_hdr_decode (cmsg_hdr_t *h, const uint8_t *buf, size_t len, const char **why);

/* Turn a request header into the header of its response. */
void cmsg_hdr_make_response (cmsg_hdr_t *resp, const cmsg_hdr_t *req, uint32_t myrank, int errnum);

const char *cmsg_type_name (int type);

#endif
