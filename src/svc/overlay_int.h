/* overlay_int.h - the overlay's insides, shared by the files it is split
 * into (private: only src/svc/overlay*.c include it; services use overlay.h).
 *
 * The split follows roles, as flux-core's overlay does:
 *   overlay.c          routing core: dispatch, in-flight tracking, RPCs,
 *                      responses, the service table, events, the heartbeat tick
 *   overlay_setup.c    construction in steps, teardown, socket helpers
 *   overlay_frame.c    frames of a message in transit, the data buffer pool,
 *                      control messages
 *   overlay_parent.c   upstream: the parent link, re-attachment to an
 *                      ancestor, the probe back to the parent
 *   overlay_children.c downstream: children, takeover by a restarted child,
 *                      child heartbeats
 *   overlay_peer.c     direct peer links (bulk data between any two brokers)
 *   overlay_auth.c     who may connect: ZAP, the handshake monitor, the
 *                      rate-limited log of refusals
 *   overlay_members.c  membership: the overlay.join handler, the table, its spread
 *   overlay_services.c the broker's own small services (ping, status, wait,
 *                      publish, shutdown)
 */
#ifndef CANOPY_OVERLAY_INT_H
#define CANOPY_OVERLAY_INT_H
#include "overlay.h"
#include "members.h"
#include <sys/types.h>
#include <zmq.h>

#define HWM 200000
#define LOCAL_ZAP_DOMAIN "canopy-local"
/* refused connections: the first from an address is logged at once, then at
 * most one line per address per REFUSAL_LOG_MS with the count in between */
#define REFUSAL_LOG_MS 20000

struct service {
    char *topic;
    size_t len;
    bool prefix;
    overlay_msg_f cb;
    void *arg;
};

struct pending {
    overlay_msg_f cb;
    void *arg;
    bool streaming;
};

struct child {
    uint32_t rank;
    int state;
    int64_t last_seen;
    uint32_t online;      /* online brokers in its subtree, as it reported */
    uint32_t bootid;
    char id[32];          /* routing id of the accepted incarnation ("RANK.NONCE") */
    size_t idlen;
    long long pid;        /* its pid and host, as its hello said */
    char host[64];
};

/* a message in transit: decoded header plus its payload frames */
struct raw {
    cmsg_hdr_t hdr;
    zmq_msg_t json;
    zmq_msg_t data;
    bool has_data;
};

struct overlay {
    const config_t *cfg;
    const topo_t *topo;
    uint32_t rank, size;
    zloop_t *loop;
    void *zctx;
    void *parent_sock, *child_sock, *local_sock, *zap_sock, *self_push, *self_pull, *mon_sock;
    zcert_t *cert;
    char *rundir, *local_uri, *local_path;
    struct child *children;
    uint32_t nchildren;
    int parent_state;
    int64_t parent_last_seen;
    uint32_t last_reported_online;
    zhashx_t *inflight;  /* key -> struct inflight */
    zhashx_t *rpcs;      /* matchtag -> struct pending */
    uint32_t next_matchtag;
    uint32_t bootid;
    struct service *svcs;
    size_t nsvcs;
    struct service *subs;
    size_t nsubs;
    zlistx_t *waiters;   /* overlay.wait requests not answered yet */
    overlay_peer_f peer_cb;
    void *peer_arg;
    void **peer_socks;   /* direct DEALERs to other brokers, by rank (lazy) */
    int hb_timer;
    uint32_t up;         /* the rank parent_sock goes to: the parent, or an ancestor
                          * while the parent is down (doc/membership.md) */
    int64_t up_since;    /* when we started trying `up` */
    void *probe_sock;    /* while attached past the parent: a link to the parent,
                          * to move back when it answers */
    char **ephost;       /* by rank: host and connect endpoint, from the config for */
    char **epconn;       /* listed hosts, from the membership table for joined ones */
    members_t *members;  /* rank 0: the membership table (doc/membership.md) */
    char *members_path;  /* rank 0: where it is kept */
    char *bind_ep;       /* the endpoint this broker bound */
    int lock_fd;         /* flock'ed RUNDIR/lock, holding our pid */
    uid_t owner;         /* the instance owner: may use the local socket (and root) */
    zhashx_t *refused;   /* peer address -> struct refusal (log rate limit) */
    int64_t parent_refused_since;   /* the parent refuses us as a duplicate (0: no) */
    char fatal[512];     /* why the loop stopped, if it was an error */
    overlay_data_respond_f data_respond;   /* answers CMSG_F_DATA requests */
    void *data_arg;
};

extern const char *const ov_peer_state_names[];   /* "offline", "online", "lost" */

/* ---- overlay_frame.c ---- */
void raw_init (struct raw *m);
void raw_close (struct raw *m);
/* header h, a copy of json, a copy of data if not NULL */
void raw_set (struct raw *m, const cmsg_hdr_t *h, const char *json, size_t jlen, const void *data,
              size_t dlen);
/* As raw_set with no data, then the data frame: `give` (from
 * overlay_buf_new, owned from now on, even on failure) without a copy, else
 * a reference to `share` (a received frame) if given. */
void raw_set_frame (struct raw *m, const cmsg_hdr_t *h, const char *json, size_t jlen, void *give,
                    size_t glen, zmq_msg_t *share);
/* Send m on sock (optionally prefixed by a routing id).  Frames are moved
 * out of m (m is left empty).  Returns 0 or -1 with errno. */
int raw_send (void *sock, const void *id, size_t idlen, struct raw *m);
/* Receive [id?][hdr][json][data?].  Returns 0, or -1 (message dropped). */
int raw_recv (overlay_t *ov, void *sock, char *id, size_t *idlen, struct raw *m);
/* A message is waiting (handlers drain up to 256 per wakeup) */
bool ov_readable (void *sock);
/* A control message (heartbeat, goodbye) saying how many brokers of our
 * subtree are online and who we are (pid, host); _json sends js as is
 * (refused). */
int ov_send_control (overlay_t *ov, void *sock, const void *id, size_t idlen, const char *topic,
                     uint32_t online);
int ov_send_control_json (overlay_t *ov, void *sock, const void *id, size_t idlen,
                          const char *topic, const char *js, size_t n);

/* ---- overlay.c ---- */
/* Forward or deliver.  m's frames are consumed. */
void ov_route (overlay_t *ov, struct raw *m, bool from_self);
void ov_deliver_local (overlay_t *ov, struct raw *m);
/* Answer, with EHOSTUNREACH, every request we forwarded to `hop`. */
void ov_fail_inflight (overlay_t *ov, uint32_t hop);
/* The next matchtag (never 0), and a pending RPC's continuation under it. */
uint32_t ov_next_matchtag (overlay_t *ov);
void ov_pending_add (overlay_t *ov, uint32_t matchtag, overlay_msg_f cb, void *arg, bool streaming);
/* Events: the overlay's own (overlay.members, rank 0 to every broker).
 * Rank 0 broadcasts down the tree; elsewhere the event goes to rank 0 first
 * (overlay.publish).  Subscribers match topic prefixes.  json is stolen. */
int ov_event_publish (overlay_t *ov, const char *topic, json_t *json);
void ov_event_subscribe (overlay_t *ov, const char *prefix, overlay_msg_f cb, void *arg);
int ov_on_heartbeat (zloop_t *loop, int timer_id, void *arg);
int ov_on_local (zloop_t *loop, zmq_pollitem_t *item, void *arg);
int ov_on_self (zloop_t *loop, zmq_pollitem_t *item, void *arg);

/* ---- overlay_setup.c ---- */
void *ov_mksock (overlay_t *ov, int type);
int ov_poll_add (overlay_t *ov, void *sock, zloop_fn *fn);
void ov_poll_end (overlay_t *ov, void *sock);
/* A DEALER holding the instance's CURVE keys (the server's key is the same
 * instance key), routing id `id`, connected to ep.  immediate: messages are
 * not queued while the link is not up.  NULL with errno on failure. */
void *ov_curve_dealer (void *zctx, zcert_t *cert, const char *id, bool immediate, const char *ep);

/* ---- overlay_parent.c ---- */
/* Connect to the parent (or, when it is a free rank, the nearest ancestor
 * that is not) and say hello. */
int ov_parent_connect (overlay_t *ov, char *err, size_t errlen);
int ov_on_parent (zloop_t *loop, zmq_pollitem_t *item, void *arg);
/* Tell the parent our subtree's online count (if changed, or force). */
void ov_report_up (overlay_t *ov, bool force);
/* Each heartbeat: judge the upstream's silence, move up or back. */
void ov_parent_tick (overlay_t *ov, int64_t now, int64_t timeout);

/* ---- overlay_children.c ---- */
void ov_children_init (overlay_t *ov);
struct child *ov_find_child (const overlay_t *ov, uint32_t rank);
bool ov_child_attached (uint32_t rank, void *arg);   /* members_next_hop's test */
void ov_set_child_state (overlay_t *ov, struct child *c, int state);
int ov_on_child (zloop_t *loop, zmq_pollitem_t *item, void *arg);
/* Each heartbeat: children silent for the timeout are lost, others get ours. */
void ov_children_tick (overlay_t *ov, int64_t now, int64_t timeout);

/* ---- overlay_peer.c ---- */
void ov_peer_close_all (overlay_t *ov);

/* ---- overlay_auth.c ---- */
void ov_log_refusal (overlay_t *ov, const char *who, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
int ov_on_zap (zloop_t *loop, zmq_pollitem_t *item, void *arg);
int ov_on_monitor (zloop_t *loop, zmq_pollitem_t *item, void *arg);

/* ---- overlay_members.c ---- */
/* The endpoints of the config's hosts, then of joined hosts (from o->members
 * on a joined broker, or from the table rank 0 keeps in o->statedir). */
int ov_members_init (overlay_t *ov, const overlay_opts_t *o, char *err, size_t errlen);
/* overlay.join from a joining broker (routing id `id` on the child socket) */
void ov_lead_join (overlay_t *ov, const char *id, size_t idlen, struct raw *m);

/* ---- overlay_services.c ---- */
int ov_services_init (overlay_t *ov, char *err, size_t errlen);
void ov_services_fini (overlay_t *ov);
/* Answer the overlay.wait requests whose count is reached or time is up. */
void ov_check_waiters (overlay_t *ov);

#endif
