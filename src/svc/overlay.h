/* overlay.h - a broker's links, message routing, liveness and service table.
 *
 * The overlay owns the broker's sockets (parent DEALER, child ROUTER, local
 * client ROUTER), routes requests/responses/events through the tree
 * (doc/protocol.md), and dispatches requests addressed to this broker to
 * services registered by topic.  Services (exec, content, jobs) are written
 * against this interface only.  The implementation is split by role over
 * src/svc/overlay*.c (overlay_int.h lists the files).
 */
#ifndef CANOPY_OVERLAY_H
#define CANOPY_OVERLAY_H
#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "msg.h"
#include "config.h"

typedef struct overlay overlay_t;

/* Services and RPC continuations get a cmsg_t (msg.h), valid only during
 * the callback; copy its `hdr` to respond later. */

typedef void (*overlay_msg_f) (overlay_t *ov, const cmsg_t *msg, void *arg);
/* Called when a child (or the parent) changes state. */
typedef void (*overlay_peer_f) (overlay_t *ov, uint32_t rank, const char *state, void *arg);

enum peer_state { PEER_OFFLINE = 0, PEER_ONLINE, PEER_LOST };

typedef struct overlay_opts {
    const config_t *config;
    uint32_t rank;
    const char *rundir;     /* local socket lives here */
    const char *cert_path;  /* CURVE certificate (overrides config) */
    const char *host;       /* this broker's host name (joined hosts: required) */
    const char *address;    /* a joined host: %h of its endpoints (NULL: host), as sent when joining */
    const char *statedir;   /* rank 0 keeps the membership table here */
    json_t *members;        /* a joined broker: the table from the lead's answer */
    void *zctx;             /* ZeroMQ context, kept by the caller (NULL: czmq's, zsys_init).
                             * Brokers sharing a process need one each: each binds its
                             * own ZAP handler (test/unit/test_overlay.c) */
} overlay_opts_t;

/* Ask the lead (rank 0) for a rank for `host`, which is not listed in the
 * config (doc/membership.md); others will connect to it at the config's
 * default_connect with address (or, if NULL, host) for %h; waits up to
 * timeout seconds (0: forever).
 * Returns the rank and the membership table in *members, or -1 with err. */
long overlay_join (const config_t *cfg, const char *host, const char *address, const char *cert_path,
                   double timeout, json_t **members, char *err, size_t errlen);

/* Rank 0: host left the cluster for good (its node was deleted): its rank
 * becomes free (doc/membership.md) and the table is spread.  Returns the
 * rank it held, or -1 (not a member, or a host listed in the config). */
long overlay_member_leave (overlay_t *ov, const char *host);
/* Rank 0: keep free rank `rank` for `host` (a burst pool's node): it gets
 * that rank when it joins, no other host does (members_reserve). */
int overlay_member_reserve (overlay_t *ov, uint32_t rank, const char *host, char *err, size_t errlen);
/* Rank 0: the hosts that hold ranks they joined for (malloc'd array of
 * strdup'd names, NULL-terminated). */
char **overlay_member_hosts (overlay_t *ov);

overlay_t *overlay_new (const overlay_opts_t *o, char *err, size_t errlen);
void overlay_destroy (overlay_t **p);

/* Run the event loop until overlay_stop (or a signal). */
int overlay_run (overlay_t *ov);
void overlay_stop (overlay_t *ov);

uint32_t overlay_rank (const overlay_t *ov);
uint32_t overlay_size (const overlay_t *ov);
const topo_t *overlay_topo (const overlay_t *ov);
const config_t *overlay_config (const overlay_t *ov);
const char *overlay_rundir (const overlay_t *ov);
const char *overlay_local_uri (const overlay_t *ov);
zloop_t *overlay_loop (overlay_t *ov);
void *overlay_zctx (overlay_t *ov);
const char *overlay_hostname (const overlay_t *ov, uint32_t rank);
/* Where others connect to rank (NULL for a free rank), and the endpoint
 * this broker bound (config hosts for listed ranks, the membership table
 * and the config's defaults for joined ones). */
const char *overlay_connect_endpoint (const overlay_t *ov, uint32_t rank);
const char *overlay_bind_endpoint (const overlay_t *ov);
int overlay_child_state (const overlay_t *ov, uint32_t child);
bool overlay_parent_ok (const overlay_t *ov);
/* Why the broker must stop with an error (the parent refuses it as a second
 * live broker of its rank), or NULL. */
const char *overlay_fatal (const overlay_t *ov);

/* A service's handlers, declared once as a static table ending with
 * OVERLAY_HANDLER_END:
 *     static const overlay_handler_t handlers[] = {
 *         { "exec.run", exec_run_request },
 *         OVERLAY_HANDLER_END,
 *     };
 * and registered with one call whose result the constructor checks.  A
 * topic is exact ("exec.run") or a prefix ending in '.' ("job."); a request
 * goes to the exact topic, else to the longest prefix. */
typedef struct overlay_handler {
    const char *topic;
    overlay_msg_f cb;
} overlay_handler_t;
#define OVERLAY_HANDLER_END { NULL, NULL }

/* Register every handler of tab with arg.  A topic another service already
 * holds, or an empty one, is refused (-1, err says which) and nothing of
 * tab is registered. */
int overlay_handlers_add (overlay_t *ov, const overlay_handler_t *tab, void *arg, char *err,
                          size_t errlen);

/* Respond to a request (hdr copied from the request).  json is stolen (may
 * be NULL).  data may be NULL. */
int overlay_respond (overlay_t *ov, const cmsg_hdr_t *req, json_t *json, const void *data,
                     size_t len);
int overlay_respond_error (overlay_t *ov, const cmsg_hdr_t *req, int errnum, const char *fmt, ...);
/* A buffer of len bytes for overlay_respond_give, from a small pool of
 * recycled buffers (a 1 MiB chunk buffer freshly from malloc costs page
 * faults); never NULL (xalloc.h).  overlay_buf_free returns one unused. */
void *overlay_buf_new (size_t len);
void overlay_buf_free (void *buf);
/* Respond with a data frame that is not copied: data (from overlay_buf_new)
 * is handed over and released, possibly by another thread, once sent. */
int overlay_respond_give (overlay_t *ov, const cmsg_hdr_t *req, json_t *json, void *data,
                          size_t len);
/* Respond with the data frame of a received message, shared, not copied
 * (call during msg's callback). */
int overlay_respond_share (overlay_t *ov, const cmsg_hdr_t *req, json_t *json, const cmsg_t *msg);

/* Send a request from this broker to rank; cb gets every response (for
 * streaming requests until errnum ENODATA or another error).  A request the
 * tree cannot carry (an unknown or unreachable rank) is answered like any
 * other, with its error response to cb.  The request's matchtag goes to
 * *tag (if tag is not NULL).  Returns 0, or -1 with err (a topic longer than
 * CMSG_TOPIC_MAX; cb is not called).  json is stolen. */
int overlay_rpc (overlay_t *ov, uint32_t rank, const char *topic, json_t *json, const void *data,
                 size_t len, int flags, overlay_msg_f cb, void *arg, uint32_t *tag, char *err,
                 size_t errlen);
/* Like overlay_rpc, but sent straight to `rank` over a direct peer link
 * (a DEALER to its endpoint, opened on first use), not through the tree.
 * For bulk data between any two brokers (doc/distribution.md).  Also -1
 * with err when rank is out of range or has no endpoint (a free rank), or
 * the link cannot take the message. */
int overlay_peer_rpc (overlay_t *ov, uint32_t rank, const char *topic, json_t *json,
                      const void *data, size_t len, int flags, overlay_msg_f cb, void *arg,
                      uint32_t *tag, char *err, size_t errlen);

/* For a transport outside the overlay (src/svc/dataplane.c): register a
 * pending RPC and get its matchtag (never 0; overlay_rpc_cancel forgets it
 * as any other); overlay_rpc_pending says whether it is still wanted. */
uint32_t overlay_rpc_expect (overlay_t *ov, overlay_msg_f cb, void *arg, bool streaming);
bool overlay_rpc_pending (overlay_t *ov, uint32_t matchtag);
/* Hand a message received elsewhere to this broker: a request to its
 * service, a response to its pending RPC.  False if nobody took it. */
bool overlay_deliver (overlay_t *ov, const cmsg_t *msg);
/* Responses to requests flagged CMSG_F_DATA go to this hook instead of a
 * socket: resp is the response header, json its payload text, and its data
 * frame is `data` (copied, may be NULL), or `give` (from overlay_buf_new,
 * owned by the hook from now on) or `share` (a received frame, referenced). */
typedef void (*overlay_data_respond_f) (void *arg, const cmsg_hdr_t *resp, const char *json,
                                        size_t jlen, const void *data, size_t len, void *give,
                                        size_t glen, zmq_msg_t *share);
void overlay_set_data_responder (overlay_t *ov, overlay_data_respond_f fn, void *arg);

/* Forget a pending RPC (its later responses are dropped). */
void overlay_rpc_cancel (overlay_t *ov, uint32_t matchtag);

/* Peer state changes (children and parent) */
void overlay_set_peer_cb (overlay_t *ov, overlay_peer_f cb, void *arg);

/* Register an extra service for the whole subtree count (rank 0). */
uint32_t overlay_online_count (const overlay_t *ov);

void overlay_log (overlay_t *ov, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

#endif
