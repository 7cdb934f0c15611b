/* overlay_services.c - the broker's own small services, from one handler table.
 *
 * overlay.ping (echo, with rank and hops), overlay.status (this broker's
 * links; rank 0 adds the tree), overlay.wait (rank 0: answer once N brokers
 * are online), overlay.publish (rank 0: broadcast an event sent up by
 * another rank) and overlay.shutdown (stop this broker).  doc/protocol.md
 * describes each.
 */
#define _GNU_SOURCE
#include "overlay_int.h"
#include "clock.h"
#include "xalloc.h"
#include <errno.h>
#include <stdlib.h>

struct waiter {
    cmsg_hdr_t req;
    uint32_t want;
    int64_t deadline;
};

void ov_check_waiters (overlay_t *ov)
{
    uint32_t online = overlay_online_count (ov);
    int64_t now = now_ms ();
    zlistx_t *keep = zlistx_new ();
    struct waiter *w;
    while ((w = zlistx_detach (ov->waiters, NULL))) {
        if (online >= w->want)
            overlay_respond (ov, &w->req, json_pack ("{s:I}", "online", (json_int_t)online), NULL, 0);
        else if (now > w->deadline)
            overlay_respond_error (ov, &w->req, ETIMEDOUT, "only %u of %u brokers online", online,
                                   w->want);
        else {
            zlistx_add_end (keep, w);
            continue;
        }
        free (w);
    }
    zlistx_destroy (&ov->waiters);
    ov->waiters = keep;
}

static void overlay_ping_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    json_t *o = json_deep_copy (msg->json);
    json_object_set_new (o, "rank", json_integer (ov->rank));
    json_object_set_new (o, "hops", json_integer (msg->hdr.hops));
    overlay_respond (ov, &msg->hdr, o, msg->data, msg->data_len);
}

static void overlay_status_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    const char *const *names = ov_peer_state_names;
    json_t *ch = json_array ();
    for (uint32_t i = 0; i < ov->nchildren; i++) {
        struct child *c = &ov->children[i];
        json_t *e = json_pack ("{s:I s:s s:s s:I}", "rank", (json_int_t)c->rank, "host",
                               overlay_hostname (ov, c->rank), "state", names[c->state], "online",
                               (json_int_t)c->online);
        if (topo_parent (ov->topo, c->rank) != ov->rank) {   /* attached past its parent */
            if (c->state != PEER_ONLINE) {
                json_decref (e);
                continue;
            }
            json_object_set_new (e, "attached", json_true ());
        }
        json_array_append_new (ch, e);
    }
    json_t *o = json_pack ("{s:I s:s s:I s:s s:I s:o}", "rank", (json_int_t)ov->rank, "host",
                           overlay_hostname (ov, ov->rank), "size", (json_int_t)ov->size,
                           "topology", topo_spec (ov->topo), "online",
                           (json_int_t)overlay_online_count (ov), "children", ch);
    if (ov->rank == 0) {
        json_t *par = json_array ();
        for (uint32_t r = 0; r < ov->size; r++)
            json_array_append_new (par, r ? json_integer (topo_parent (ov->topo, r)) : json_null ());
        json_object_set_new (o, "parents", par);
        json_t *hosts = json_array ();
        for (uint32_t r = 0; r < ov->size; r++)
            json_array_append_new (hosts, json_string (overlay_hostname (ov, r)));
        json_object_set_new (o, "hosts", hosts);
    }
    overlay_respond (ov, &msg->hdr, o, NULL, 0);
}

static void overlay_wait_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    json_int_t want = ov->size;
    double timeout = 30;
    const char *why = NULL;
    json_unpack (msg->json, "{s?I s?F}", "online", &want, "timeout", &timeout);
    if (ov->rank != 0) {
        why = "overlay.wait runs on rank 0";
        goto error;
    }
    if (overlay_online_count (ov) >= want) {
        overlay_respond (ov, &msg->hdr, json_pack ("{s:I}", "online", (json_int_t)overlay_online_count (ov)), NULL, 0);
        return;
    }
    struct waiter *w = xcalloc (1, sizeof *w);
    w->req = msg->hdr;
    w->want = want;
    w->deadline = now_ms () + (int64_t)(timeout * 1000);
    zlistx_add_end (ov->waiters, w);
    return;
error:
    overlay_respond_error (ov, &msg->hdr, EINVAL, "%s", why);
}

/* Rank 0 broadcasts {topic, payload} as an event (how a broker of another
 * rank publishes); answered only if a response is wanted. */
static void overlay_publish_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    const char *topic = NULL, *why = NULL;
    json_t *payload = NULL;
    if (ov->rank != 0) {
        why = "overlay.publish runs on rank 0";
        goto error;
    }
    if (json_unpack (msg->json, "{s:s s:o}", "topic", &topic, "payload", &payload) < 0
        || !json_is_object (payload)) {
        why = "overlay.publish: needs {topic, payload: {...}}";
        goto error;
    }
    if (ov_event_publish (ov, topic, json_incref (payload)) < 0) {
        why = "overlay.publish: the topic is too long";
        goto error;
    }
    overlay_respond (ov, &msg->hdr, json_object (), NULL, 0);
    return;
error:
    overlay_respond_error (ov, &msg->hdr, EINVAL, "%s", why);
}

static void overlay_shutdown_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    const char *why = json_string_value (json_object_get (msg->json, "reason"));
    if (why)
        overlay_log (ov, "shutting down: %.200s", why);
    if (!(msg->hdr.flags & CMSG_F_NORESPONSE))
        overlay_respond (ov, &msg->hdr, json_object (), NULL, 0);
    overlay_stop (ov);
}

static const overlay_handler_t handlers[] = {
    { "overlay.ping", overlay_ping_request },
    { "overlay.status", overlay_status_request },
    { "overlay.wait", overlay_wait_request },
    { "overlay.publish", overlay_publish_request },
    { "overlay.shutdown", overlay_shutdown_request },
    OVERLAY_HANDLER_END,
};

int ov_services_init (overlay_t *ov, char *err, size_t errlen)
{
    ov->waiters = zlistx_new ();
    return overlay_handlers_add (ov, handlers, NULL, err, errlen);
}

void ov_services_fini (overlay_t *ov)
{
    if (!ov->waiters)
        return;
    for (struct waiter *w = zlistx_first (ov->waiters); w; w = zlistx_next (ov->waiters))
        free (w);
    zlistx_destroy (&ov->waiters);
}
