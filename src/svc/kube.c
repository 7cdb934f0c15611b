/* kube.c - the lead's watch of Kubernetes nodes (doc/kubernetes.md).
 *
 * A thread lists the nodes, then watches them from the list's
 * resourceVersion (bookmarks on, a new list after 410 Gone or an ERROR
 * event, a growing pause after a failure: 1, 2, 4 ... 30 s), and posts what
 * it learns as JSON over an inproc socket.  In the broker's loop: a deleted
 * node's host leaves the instance (its rank is freed and marked down with
 * the reason, so its running jobs fail with it); after a list, the hosts
 * that hold ranks but whose nodes are gone leave too, and a cluster with
 * more eligible nodes than the instance has ranks is reported, naming the
 * limit.  Brokers already joined keep working whatever the API does. */
#define _GNU_SOURCE
#include "kube.h"
#include "xalloc.h"
#include "kubeapi.h"
#include "kubenodes.h"
#include "errquote.h"
#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WATCH_SECS 60
#define BACKOFF_MAX_S 30

struct kube_svc {
    overlay_t *ov;
    resource_svc_t *rs;
    kubeapi_t *api;
    char *selector;
    bool include_cp;
    zsock_t *pull;
    char endpoint[64];
    pthread_t th;
    bool started;
    volatile int stop;
};

static json_t *node_json (const kube_node_t *n)
{
    return json_pack ("{s:s s:s s:b s:b s:b}", "name", n->name, "addr", n->addr, "ready", n->ready,
                      "control_plane", n->control_plane, "leaving", n->leaving);
}

static void post (zsock_t *push, json_t *o)
{
    char *s = json_dumps (o, JSON_COMPACT);
    if (s)
        zstr_send (push, s);
    free (s);
    json_decref (o);
}

struct watch_ctx {
    kube_svc_t *k;
    zsock_t *push;
    int relist;
    char *rv;        /* the newest resourceVersion seen: where to watch on from */
};

static int on_event (const kube_event_t *ev, void *arg)
{
    struct watch_ctx *w = arg;
    static const char *names[] = { "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR" };
    if (ev->type == KUBE_ERROR) {
        post (w->push, json_pack ("{s:s s:s}", "op", "error", "error",
                                  ev->code == 410 ? "watch expired (410 Gone): listing again" : ev->message));
        w->relist = 1;
        return 1;
    }
    free (w->rv);
    w->rv = xstrdup (ev->rv);
    if (ev->type != KUBE_BOOKMARK)
        post (w->push, json_pack ("{s:s s:s s:o}", "op", "event", "type", names[ev->type], "node",
                                  node_json (&ev->node)));
    return w->k->stop ? 1 : 0;
}

static void pause_s (kube_svc_t *k, int secs)
{
    for (int i = 0; i < secs * 10 && !k->stop; i++)
        usleep (100000);
}

/* A list or watch failed: say so (with the pause before the next try),
 * pause, and double the next pause, up to BACKOFF_MAX_S. */
static void retry_later (kube_svc_t *k, zsock_t *push, const char *err, int *backoff)
{
    post (push, json_pack ("{s:s s:s s:i}", "op", "error", "error", err, "retry", *backoff));
    pause_s (k, *backoff);
    *backoff = *backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : *backoff * 2;
}

static void *watch_main (void *arg)
{
    kube_svc_t *k = arg;
    zsock_t *push = zsock_new_push (k->endpoint);
    int backoff = 1;
    char err[512];
    while (!k->stop) {
        kube_nodeset_t s = { 0 };
        char *rv = NULL;
        if (kubeapi_list_nodes (k->api, k->selector, &s, &rv, err, sizeof err) < 0) {
            if (!k->stop)
                retry_later (k, push, err, &backoff);
            continue;
        }
        json_t *nodes = json_array ();
        for (size_t i = 0; i < s.n; i++)
            json_array_append_new (nodes, node_json (&s.v[i]));
        post (push, json_pack ("{s:s s:o}", "op", "list", "nodes", nodes));
        kube_nodeset_clear (&s);
        backoff = 1;
        struct watch_ctx w = { .k = k, .push = push, .rv = rv };
        while (!k->stop && !w.relist) {
            int rc = kubeapi_watch_nodes (k->api, k->selector, w.rv, WATCH_SECS, on_event, &w, err, sizeof err);
            if (rc < 0) {
                if (!k->stop)
                    retry_later (k, push, err, &backoff);
                break;   /* list again: events may have been missed */
            }
            /* the stream ended (the server's timeout): watch on from the
             * newest version seen (a 410 then means list again) */
        }
        free (w.rv);
    }
    zsock_destroy (&push);
    return NULL;
}

static void leave (kube_svc_t *k, const char *host, const char *why)
{
    long r = overlay_member_leave (k->ov, host);
    if (r < 0)
        return;
    char reason[320];
    snprintf (reason, sizeof reason, "node %s %s", host, why);
    overlay_log (k->ov, "kube: %s: rank %ld is free again", reason, r);
    resource_set_down (k->rs, (uint32_t)r, reason);
    /* its broker, if it still runs (the pod is going too), must not come
     * back under that rank: tell it to stop */
    overlay_rpc (k->ov, (uint32_t)r, "overlay.shutdown", json_pack ("{s:s}", "reason", reason), NULL, 0,
                 CMSG_F_NORESPONSE, NULL, NULL, NULL, NULL, 0);
}

static void on_list (kube_svc_t *k, json_t *nodes)
{
    size_t i, eligible = 0;
    json_t *n;
    json_array_foreach (nodes, i, n) {
        int ready = 0, cp = 0, leaving = 0;
        json_unpack (n, "{s:b s:b s:b}", "ready", &ready, "control_plane", &cp, "leaving", &leaving);
        if (ready && !leaving && (!cp || k->include_cp))
            eligible++;
    }
    uint32_t size = overlay_size (k->ov);
    overlay_log (k->ov, "kube: %zu nodes listed, %zu eligible, instance size %u", json_array_size (nodes), eligible,
                 size);
    if (eligible > size)
        overlay_log (k->ov, "kube: the cluster has %zu eligible nodes but the instance has %u ranks: %zu will "
                            "not get a rank (raise size)",
                     eligible, size, eligible - size);
    /* hosts holding ranks whose nodes are gone (deleted while we were not
     * watching) */
    char **hosts = overlay_member_hosts (k->ov);
    for (char **h = hosts; h && *h; h++) {
        bool found = false;
        json_array_foreach (nodes, i, n) {
            const char *name = json_string_value (json_object_get (n, "name"));
            if (name && !strcmp (name, *h))
                found = true;
        }
        if (!found)
            leave (k, *h, "is no longer in the cluster");
        free (*h);
    }
    free (hosts);
}

static int on_post (zloop_t *loop, zsock_t *sock, void *arg)
{
    kube_svc_t *k = arg;
    char *s = zstr_recv (sock);
    json_t *o = s ? json_loads (s, 0, NULL) : NULL;
    free (s);
    const char *op = o ? json_string_value (json_object_get (o, "op")) : NULL;
    if (op && !strcmp (op, "list"))
        on_list (k, json_object_get (o, "nodes"));
    else if (op && !strcmp (op, "error")) {
        json_t *retry = json_object_get (o, "retry");
        overlay_log (k->ov, "%s%s", json_string_value (json_object_get (o, "error")) ?: "?",
                     json_is_integer (retry) ? "; brokers already joined keep working; retrying" : "");
    }
    else if (op && !strcmp (op, "event")) {
        const char *type = json_string_value (json_object_get (o, "type"));
        json_t *n = json_object_get (o, "node");
        const char *name = json_string_value (json_object_get (n, "name"));
        if (type && name && !strcmp (type, "DELETED"))
            leave (k, name, "was removed from the cluster");
        else if (type && name && json_is_true (json_object_get (n, "leaving")))
            overlay_log (k->ov, "kube: node %s is cordoned or being removed", name);
    }
    json_decref (o);
    return 0;
}

kube_svc_t *kube_svc_new (overlay_t *ov, resource_svc_t *rs, const kube_svc_opts_t *o, char *err,
                          size_t errlen)
{
    kube_svc_t *k = xcalloc (1, sizeof *k);
    k->ov = ov;
    k->rs = rs;
    k->include_cp = o->include_control_plane;
    if (o->selector)
        k->selector = xstrdup (o->selector);
    if (!(k->api = kubeapi_new_incluster (err, errlen)))
        goto fail;
    kubeapi_set_abort (k->api, &k->stop);
    snprintf (k->endpoint, sizeof k->endpoint, "inproc://kube-%p", (void *)k);
    char bind[80];
    snprintf (bind, sizeof bind, "@%s", k->endpoint);
    if (!(k->pull = zsock_new_pull (bind))) {
        errfail (err, errlen, "kube: cannot bind %s: %s", k->endpoint, zmq_strerror (errno));
        goto fail;
    }
    snprintf (k->endpoint, sizeof k->endpoint, ">inproc://kube-%p", (void *)k);
    zloop_reader (overlay_loop (ov), k->pull, on_post, k);
    if (pthread_create (&k->th, NULL, watch_main, k) != 0) {
        errfail (err, errlen, "cannot start the node watch thread");
        goto fail;
    }
    k->started = true;
    overlay_log (ov, "kube: watching nodes at %s%s%s", kubeapi_server (k->api), k->selector ? " with selector " : "",
                 k->selector ? k->selector : "");
    return k;
fail:
    kube_svc_destroy (&k);
    return NULL;
}

void kube_svc_destroy (kube_svc_t **p)
{
    if (!p || !*p)
        return;
    kube_svc_t *k = *p;
    k->stop = 1;
    if (k->started)
        pthread_join (k->th, NULL);
    if (k->pull) {
        zloop_reader_end (overlay_loop (k->ov), k->pull);
        zsock_destroy (&k->pull);
    }
    kubeapi_destroy (&k->api);
    free (k->selector);
    free (k);
    *p = NULL;
}
