/* overlay_children.c - the downstream side: children and their liveness.
 *
 * Children (and descendants that attach here while their parent is down)
 * connect to this broker's ROUTER with a routing id "RANK.NONCE".  Their
 * hello and heartbeats keep them online; silence for the timeout makes them
 * lost, and what was forwarded to them fails (overlay.c).  A restarted child
 * takes over its rank; a second live one is refused (doc/protocol.md).
 */
#define _GNU_SOURCE
#include "overlay_int.h"
#include "clock.h"
#include "xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const ov_peer_state_names[] = { "offline", "online", "lost" };

/* The children the topology gives this rank, all offline until they say hello. */
void ov_children_init (overlay_t *ov)
{
    uint32_t nc = topo_nchildren (ov->topo, ov->rank);
    const uint32_t *ch = topo_children (ov->topo, ov->rank);
    ov->nchildren = nc;
    ov->children = xcalloc (nc ? nc : 1, sizeof (struct child));
    for (uint32_t i = 0; i < nc; i++)
        ov->children[i].rank = ch[i];
}

/* A descendant that attaches here because its parent (or a nearer
 * ancestor) is down gets an entry like a child's. */
static struct child *add_child (overlay_t *ov, uint32_t rank)
{
    ov->children = xreallocarray (ov->children, ov->nchildren + 1, sizeof *ov->children);
    struct child *c = &ov->children[ov->nchildren++];
    memset (c, 0, sizeof *c);
    c->rank = rank;
    return c;
}

bool ov_child_attached (uint32_t rank, void *arg)
{
    struct child *c = ov_find_child (arg, rank);
    return c && c->state == PEER_ONLINE;
}

struct child *ov_find_child (const overlay_t *ov, uint32_t rank)
{
    for (uint32_t i = 0; i < ov->nchildren; i++)
        if (ov->children[i].rank == rank)
            return &ov->children[i];
    return NULL;
}

int overlay_child_state (const overlay_t *ov, uint32_t rank)
{
    struct child *c = ov_find_child (ov, rank);
    return c ? c->state : -1;
}

uint32_t overlay_online_count (const overlay_t *ov)
{
    uint32_t n = 1;
    for (uint32_t i = 0; i < ov->nchildren; i++)
        if (ov->children[i].state == PEER_ONLINE)
            n += ov->children[i].online;
    return n;
}

void ov_set_child_state (overlay_t *ov, struct child *c, int state)
{
    if (c->state == state)
        return;
    const char *const *names = ov_peer_state_names;
    overlay_log (ov, "child %u (%s): %s -> %s", c->rank, overlay_hostname (ov, c->rank),
                 names[c->state], names[state]);
    c->state = state;
    if (state != PEER_ONLINE) {
        c->online = 0;
        ov_fail_inflight (ov, c->rank);
    }
    if (ov->peer_cb)
        ov->peer_cb (ov, c->rank, names[state], ov->peer_arg);
}

void ov_children_tick (overlay_t *ov, int64_t now, int64_t timeout)
{
    for (uint32_t i = 0; i < ov->nchildren; i++) {
        struct child *c = &ov->children[i];
        if (c->state == PEER_ONLINE) {
            if (now - c->last_seen > timeout) {
                ov_set_child_state (ov, c, PEER_LOST);
                ov_report_up (ov, false);
            }
            else
                ov_send_control (ov, ov->child_sock, c->id, c->idlen, "heartbeat", 0);
        }
    }
}

/* A message on the child socket from a routing id that is not the one of
 * the incarnation of rank c->rank we accepted.  A broker that restarted (the
 * old connection is gone, or has been silent for the timeout) takes over;
 * a second live broker of the same rank is refused and told who runs, and
 * the running one keeps its link.  True if the sender is now current. */
static bool child_takeover (overlay_t *ov, struct child *c, const char *id, size_t idlen,
                            const struct raw *m)
{
    int64_t timeout = (int64_t)(ov->cfg->timeout * 1000);
    bool alive = false;
    if (c->idlen && c->state == PEER_ONLINE && now_ms () - c->last_seen <= timeout) {
        /* the ROUTER drops a dead connection's routing id: a mandatory send
         * to the old one fails when the old broker has gone */
        alive = ov_send_control (ov, ov->child_sock, c->id, c->idlen, "heartbeat", 0) == 0;
    }
    if (alive) {
        if (m->hdr.type == CMSG_CONTROL && strcmp (m->hdr.topic, "goodbye") != 0) {
            char js[200];
            int n = snprintf (js, sizeof js, "{\"rank\":%u,\"pid\":%lld,\"host\":\"%s\"}",
                              c->rank, c->pid, c->host);
            ov_send_control_json (ov, ov->child_sock, id, idlen, "refused", js, n);
            char who[48];
            snprintf (who, sizeof who, "dup %.32s", id);
            ov_log_refusal (ov, who,
                         "refused a second broker for rank %u (%.32s): rank %u is online (pid %lld "
                         "on %s)",
                         c->rank, id, c->rank, c->pid, c->host);
        }
        return false;
    }
    if (c->idlen && c->state == PEER_ONLINE) {
        /* restarted before we noticed: fail what the old one had */
        overlay_log (ov, "child %u restarted", c->rank);
        ov_fail_inflight (ov, c->rank);
        ov_set_child_state (ov, c, PEER_LOST);
    }
    memcpy (c->id, id, idlen);
    c->idlen = idlen;
    return true;
}
int ov_on_child (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    overlay_t *ov = arg;
    for (int k = 0; k < 256; k++) {
        if (!ov_readable (ov->child_sock))
            break;
        char id[32];
        size_t idlen = sizeof id - 1;
        struct raw m;
        if (raw_recv (ov, ov->child_sock, id, &idlen, &m) < 0)
            continue;
        id[idlen] = '\0';
        char *end;
        if (id[0] == 'p') {
            unsigned long pr = strtoul (id + 1, &end, 10);
            if (*end == '\0' && pr < ov->size && m.hdr.type == CMSG_REQUEST) {
                m.hdr.flags |= CMSG_F_PEER;
                m.hdr.src = pr;
                ov_deliver_local (ov, &m);
            }
            raw_close (&m);
            continue;
        }
        if (id[0] == 'j') {   /* a host asking the lead for a rank */
            if (ov->rank == 0 && m.hdr.type == CMSG_REQUEST && !strcmp (m.hdr.topic, "overlay.join"))
                ov_lead_join (ov, id, idlen, &m);
            raw_close (&m);
            continue;
        }
        unsigned long r = strtoul (id, &end, 10);
        struct child *c = *end == '.' && end > id ? ov_find_child (ov, r) : NULL;
        if (!c && *end == '.' && end > id && r < ov->size && r != ov->rank
            && topo_in_subtree (ov->topo, ov->rank, r) && m.hdr.type == CMSG_CONTROL
            && strcmp (m.hdr.topic, "goodbye") != 0 && (c = add_child (ov, r)))
            overlay_log (ov, "rank %lu attaches here: its parent %u is down", r, topo_parent (ov->topo, r));
        if (!c || (m.hdr.type != CMSG_CONTROL && m.hdr.src != r && m.hdr.type == CMSG_EVENT)) {
            overlay_log (ov, "dropped message from unexpected peer '%.16s'", id);
            raw_close (&m);
            continue;
        }
        bool current = c->idlen == idlen && !memcmp (c->id, id, idlen);
        if (!current && !child_takeover (ov, c, id, idlen, &m)) {
            raw_close (&m);
            continue;
        }
        c->last_seen = now_ms ();
        if (m.hdr.type == CMSG_CONTROL) {
            if (!strcmp (m.hdr.topic, "goodbye"))
                ov_set_child_state (ov, c, PEER_OFFLINE);
            else {
                json_t *o = json_loadb (zmq_msg_data (&m.json), zmq_msg_size (&m.json), 0, NULL);
                json_t *jn = o ? json_object_get (o, "online") : NULL;
                uint32_t online = json_is_integer (jn) ? json_integer_value (jn) : 1;
                json_t *jp = o ? json_object_get (o, "pid") : NULL;
                const char *jh = o ? json_string_value (json_object_get (o, "host")) : NULL;
                c->pid = json_is_integer (jp) ? json_integer_value (jp) : -1;
                snprintf (c->host, sizeof c->host, "%s", jh ? jh : "?");
                json_decref (o);
                bool was_online = c->state == PEER_ONLINE;
                c->bootid = m.hdr.matchtag;
                c->online = online;
                ov_set_child_state (ov, c, PEER_ONLINE);
                if (!was_online)
                    ov_send_control (ov, ov->child_sock, id, idlen, "heartbeat", 0);
                ov_report_up (ov, false);
                if (ov->rank == 0)
                    ov_check_waiters (ov);
            }
            raw_close (&m);
            continue;
        }
        if (c->state != PEER_ONLINE) {
            /* traffic from a child we thought lost: it is back */
            ov_set_child_state (ov, c, PEER_ONLINE);
        }
        if (m.hdr.type == CMSG_EVENT) {
            raw_close (&m);
            continue;
        }
        ov_route (ov, &m, false);
        raw_close (&m);
    }
    return 0;
}
