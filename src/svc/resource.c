/* resource.c - node reports to rank 0, the instance's resource set, up/down.
 * See resource.h for the protocol and the liveness rules. */
#define _GNU_SOURCE
#include "resource.h"
#include "hostlist.h"
#include "hwres.h"
#include "errquote.h"
#include "idset.h"
#include "xalloc.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROBE_MS 1000      /* ranks that are up */
#define PROBE_FAST_MS 200  /* ranks not (yet) up */
#define HELLO_MS 100
#define READY_GRACE_S 10.0

struct rnode {
    bool known, up;
    enum resource_pool_state pool;   /* RES_POOL_NONE: not a burst pool's rank */
    int ncores, ngpus;               /* as last reported */
    uint32_t bootid;
    uint32_t probe_tag;     /* resource.get in flight, 0 if none */
    double probe_sent;
    char host[HWRES_HOSTLEN];
};

struct resource_svc {
    overlay_t *ov;
    uint32_t rank, size;
    hwres_t self;
    uint32_t bootid;
    /* rank > 0 */
    int hello_timer;
    uint32_t hello_tag;
    /* rank 0 */
    sched_t *sched;
    struct rnode *nodes;
    int probe_timer;
    double t_start;
    bool ready;
    zlistx_t *waiting;      /* resource.list requests until ready */
    resource_change_f change;
    resource_ready_f ready_cb;
    void *cb_arg;
};

static double now_s (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static json_t *report (resource_svc_t *rs)
{
    return json_pack ("{s:i s:I s:o}", "rank", (int)rs->rank, "bootid", (json_int_t)rs->bootid, "hwres",
                      hwres_to_json (&rs->self));
}

sched_t *resource_sched (resource_svc_t *rs) { return rs->sched; }
bool resource_ready (const resource_svc_t *rs) { return rs->ready; }
bool resource_rank_up (const resource_svc_t *rs, uint32_t rank)
{
    return rs->nodes && rank < rs->size && rs->nodes[rank].up;
}

bool resource_node_fits (const resource_svc_t *rs, uint32_t rank, uint32_t cores, uint32_t gpus)
{
    return rs->nodes && rank < rs->size && rs->nodes[rank].known && (uint32_t)rs->nodes[rank].ncores >= cores
           && (uint32_t)rs->nodes[rank].ngpus >= gpus;
}

const char *resource_hostname (const resource_svc_t *rs, uint32_t rank)
{
    if (rs->nodes && rank < rs->size && (rs->nodes[rank].known || rs->nodes[rank].pool))
        return rs->nodes[rank].host;
    return overlay_hostname (rs->ov, rank);
}

void resource_set_notify (resource_svc_t *rs, resource_change_f change, resource_ready_f ready, void *arg)
{
    rs->change = change;
    rs->ready_cb = ready;
    rs->cb_arg = arg;
}

static void list_respond (resource_svc_t *rs, const cmsg_hdr_t *hdr);

static void check_ready (resource_svc_t *rs)
{
    if (rs->ready)
        return;
    uint32_t up = 0, want = 0;   /* burst pools' ranks come later, on demand */
    for (uint32_t r = 0; r < rs->size; r++)
        if (!rs->nodes[r].pool) {
            up += rs->nodes[r].up;
            want++;
        }
    if (up == want || now_s () - rs->t_start >= READY_GRACE_S) {
        rs->ready = true;
        if (up < want)
            overlay_log (rs->ov, "resource: %u of %u ranks reported; going ahead without the rest", up, want);
        cmsg_hdr_t *h;
        while ((h = zlistx_detach (rs->waiting, NULL))) {
            list_respond (rs, h);
            free (h);
        }
        if (rs->ready_cb)
            rs->ready_cb (rs, rs->cb_arg);
    }
}

static void set_down (resource_svc_t *rs, uint32_t rank, const char *why)
{
    struct rnode *n = &rs->nodes[rank];
    if (!n->up)
        return;
    n->up = false;
    sched_node_set_up (rs->sched, rank, false);
    overlay_log (rs->ov, "resource: rank %u (%s) down: %s", rank, n->host, why);
    if (rs->change)
        rs->change (rs, rank, false, why, rs->cb_arg);
}

void resource_set_down (resource_svc_t *rs, uint32_t rank, const char *why)
{
    if (rank < rs->size)
        set_down (rs, rank, why);
}

/* A report from `rank` (hello or probe answer) */
static int node_report (resource_svc_t *rs, const json_t *o, char *err, size_t errlen)
{
    int rank = -1;
    json_int_t bootid = 0;
    json_t *hw = NULL;
    hwres_t h;
    if (json_unpack ((json_t *)o, "{s:i s:I s:o}", "rank", &rank, "bootid", &bootid, "hwres", &hw) < 0
        || rank < 0 || (uint32_t)rank >= rs->size) {
        return errfail (err, errlen, "resource report: needs rank (< size), bootid and hwres");
    }
    if (hwres_from_json (hw, &h, err, errlen) < 0)
        return -1;
    struct rnode *n = &rs->nodes[rank];
    /* a burst pool's node counts only while asked for (a released or
     * failed one may still answer for a moment before it stops) */
    if (n->pool && n->pool != RES_POOL_STARTING && n->pool != RES_POOL_UP)
        return 0;
    if (n->up && n->bootid != (uint32_t)bootid)
        set_down (rs, rank, "broker restarted");
    if (n->up)
        return 0;
    if (sched_node_add (rs->sched, rank, h.hostname, h.ncores, h.ngpus, err, errlen) < 0)
        return -1;
    bool back = n->known;
    n->known = n->up = true;
    n->bootid = (uint32_t)bootid;
    n->ncores = h.ncores;
    n->ngpus = h.ngpus;
    snprintf (n->host, sizeof n->host, "%s", h.hostname);
    overlay_log (rs->ov, "resource: rank %u (%s) %s: %d cores, %d gpus", rank, h.hostname,
                 back ? "back up" : "up", h.ncores, h.ngpus);
    if (rs->change)
        rs->change (rs, rank, true, back ? "rejoined" : "joined", rs->cb_arg);
    check_ready (rs);
    return 0;
}

/* -- services ----------------------------------------------------------- */

static void resource_get_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    overlay_respond (ov, &msg->hdr, report (arg), NULL, 0);
}

static void resource_hello_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    resource_svc_t *rs = arg;
    char err[256];
    if (!rs->sched) {
        overlay_respond_error (ov, &msg->hdr, EINVAL, "resource.hello goes to rank 0");
        return;
    }
    if (node_report (rs, msg->json, err, sizeof err) < 0) {
        overlay_log (ov, "resource: report from rank %u refused: %s", msg->hdr.src, err);
        overlay_respond_error (ov, &msg->hdr, EINVAL, "%s", err);
        return;
    }
    overlay_respond (ov, &msg->hdr, json_object (), NULL, 0);
}

static char *nodelist_of (resource_svc_t *rs, const idset_t *ranks)
{
    size_t n = idset_count (ranks), k = 0;
    char **hosts = xcalloc (n + 1, sizeof *hosts);
    for (uint32_t r = idset_first (ranks); r != IDSET_INVALID; r = idset_next (ranks, r))
        hosts[k++] = rs->nodes[r].known || rs->nodes[r].pool ? rs->nodes[r].host : (char *)overlay_hostname (rs->ov, r);
    char *s = hostlist_compress (hosts, k);
    free (hosts);
    return s ? s : xstrdup ("");
}

static void resource_list_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    resource_svc_t *rs = arg;
    if (!rs->sched) {
        overlay_respond_error (ov, &msg->hdr, EINVAL, "resource.list goes to rank 0");
        return;
    }
    if (!rs->ready) {   /* answer once every rank reported (or the grace ran out) */
        cmsg_hdr_t *h = xmalloc (sizeof *h);
        *h = msg->hdr;
        zlistx_add_end (rs->waiting, h);
        return;
    }
    list_respond (rs, &msg->hdr);
}

/* Burst pools' ranks that are not up: `burst` (can be started) and
 * `starting` rows of their own instead of `down` (doc/bursting.md). */
static void pool_rows (resource_svc_t *rs, json_t *l)
{
    json_t *down = json_object_get (l, "down");
    idset_t *dr = idset_decode (json_string_value (json_object_get (down, "ranks")), NULL, 0);
    static const char *names[] = { [RES_POOL_BURST] = "burst", [RES_POOL_STARTING] = "starting" };
    const burst_pools_t *bp = &overlay_config (rs->ov)->burst;
    json_int_t dn = 0, dc = 0, dg = 0;
    json_unpack (down, "{s?I s?I s?I}", "nnodes", &dn, "ncores", &dc, "ngpus", &dg);
    for (int st = RES_POOL_BURST; st <= RES_POOL_STARTING; st++) {
        idset_t *ids = idset_new ();
        json_int_t n = 0, c = 0, g = 0;
        for (uint32_t r = 0; r < rs->size; r++) {
            const burst_pool_t *p = burst_pool_of_rank (bp, r);
            if (rs->nodes[r].pool != (enum resource_pool_state)st || rs->nodes[r].up || !p)
                continue;
            idset_set (ids, r);
            n++;
            c += p->cores;
            g += p->gpus;
            if (dr && idset_test (dr, r)) {
                idset_clear (dr, r);
                dn--;
                dc -= p->cores;
                dg -= p->gpus;
            }
        }
        char *rk = idset_encode (ids);
        json_object_set_new (l, names[st], json_pack ("{s:I s:I s:I s:s}", "nnodes", n, "ncores", c, "ngpus", g,
                                                      "ranks", rk ? rk : ""));
        free (rk);
        idset_destroy (&ids);
    }
    if (dr && down) {
        char *rk = idset_encode (dr);
        json_object_set_new (down, "ranks", json_string (rk ? rk : ""));
        json_object_set_new (down, "nnodes", json_integer (dn < 0 ? 0 : dn));
        json_object_set_new (down, "ncores", json_integer (dc < 0 ? 0 : dc));
        json_object_set_new (down, "ngpus", json_integer (dg < 0 ? 0 : dg));
        free (rk);
    }
    idset_destroy (&dr);
}

void resource_set_pool_state (resource_svc_t *rs, uint32_t rank, enum resource_pool_state st)
{
    if (rs->nodes && rank < rs->size && rs->nodes[rank].pool)
        rs->nodes[rank].pool = st;
}

/* Rank 0: every burst pool's node is known before it joins, down, with the
 * pool's cores and GPUs and its name <cluster>-<index>, so a burstable job
 * that needs it is feasible (doc/bursting.md). */
static int pool_nodes_add (resource_svc_t *rs, char *err, size_t errlen)
{
    const burst_pools_t *bp = &overlay_config (rs->ov)->burst;
    for (size_t i = 0; i < bp->n; i++)
        for (uint32_t k = 0; k < bp->v[i].size; k++) {
            uint32_t r = bp->v[i].first_rank + k;
            if (r >= rs->size)
                return errfail (err, errlen, "resource: burst pool %s: rank %u outside the instance", bp->v[i].name, r);
            struct rnode *n = &rs->nodes[r];
            snprintf (n->host, sizeof n->host, "%s-%u", bp->v[i].cluster, k);
            n->pool = RES_POOL_BURST;
            if (sched_node_add (rs->sched, r, n->host, (int)bp->v[i].cores, (int)bp->v[i].gpus, err, errlen) < 0)
                return -1;
            sched_node_set_up (rs->sched, r, false);
        }
    return 0;
}

static void list_respond (resource_svc_t *rs, const cmsg_hdr_t *hdr)
{
    overlay_t *ov = rs->ov;
    json_t *l = sched_resource_list (rs->sched);
    /* ranks that never reported count as down, as in flux resource list */
    json_t *down = json_object_get (l, "down");
    idset_t *dr = idset_decode (json_string_value (json_object_get (down, "ranks")), NULL, 0);
    if (!dr)
        dr = idset_new ();
    int extra = 0;
    for (uint32_t r = 0; r < rs->size; r++)
        if (!rs->nodes[r].known && !rs->nodes[r].pool && !idset_test (dr, r)) {
            idset_set (dr, r);
            extra++;
        }
    if (extra) {
        json_int_t nn = 0;
        json_unpack (down, "{s:I}", "nnodes", &nn);
        char *s = idset_encode (dr);
        json_object_set_new (down, "nnodes", json_integer (nn + extra));
        json_object_set_new (down, "ranks", json_string (s));
        free (s);
    }
    idset_destroy (&dr);
    pool_rows (rs, l);
    /* node lists from the reported host names (config names if unknown) */
    const char *key;
    json_t *row;
    json_object_foreach (l, key, row) {
        idset_t *ids = idset_decode (json_string_value (json_object_get (row, "ranks")), NULL, 0);
        if (ids) {
            char *nl = nodelist_of (rs, ids);
            json_object_set_new (row, "nodelist", json_string (nl));
            free (nl);
        }
        idset_destroy (&ids);
    }
    json_object_set_new (l, "R", sched_instance_R (rs->sched));   /* every known node, up or down */
    json_object_set_new (l, "ready", json_boolean (rs->ready));
    json_object_set_new (l, "size", json_integer (rs->size));
    overlay_respond (ov, hdr, l, NULL, 0);
}

/* -- rank 0: probes ----------------------------------------------------- */

static void on_probe (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    resource_svc_t *rs = arg;
    uint32_t rank = msg->hdr.src;
    /* find the node this tag belongs to (errors come from a relay, whose src differs) */
    for (uint32_t r = 0; r < rs->size; r++)
        if (rs->nodes[r].probe_tag == msg->hdr.matchtag) {
            rank = r;
            break;
        }
    if (rank >= rs->size || rs->nodes[rank].probe_tag != msg->hdr.matchtag)
        return;
    rs->nodes[rank].probe_tag = 0;
    if (msg->hdr.errnum) {
        const char *why = json_string_value (json_object_get (msg->json, "errstr"));
        set_down (rs, rank, why && *why ? why : strerror (msg->hdr.errnum));
        return;
    }
    char err[256];
    if (node_report (rs, msg->json, err, sizeof err) < 0)
        overlay_log (ov, "resource: report from rank %u refused: %s", rank, err);
}

static int on_probe_timer (zloop_t *loop, int id, void *arg)
{
    resource_svc_t *rs = arg;
    double now = now_s ();
    for (uint32_t r = 1; r < rs->size; r++) {
        struct rnode *n = &rs->nodes[r];
        if (n->up && now - n->probe_sent < PROBE_MS / 1000.0 - 0.01)
            continue;
        if (n->probe_tag) {
            /* no answer for long: forget it and ask again (the overlay answers
             * for lost links, so this is only a safety net) */
            if (now - n->probe_sent < 30)
                continue;
            overlay_rpc_cancel (rs->ov, n->probe_tag);
            n->probe_tag = 0;
        }
        n->probe_sent = now;
        overlay_rpc (rs->ov, r, "resource.get", json_object (), NULL, 0, 0, on_probe, rs, &n->probe_tag, NULL, 0);
    }
    check_ready (rs);
    return 0;
}

/* -- rank > 0: hello ---------------------------------------------------- */

static int on_hello_timer (zloop_t *loop, int id, void *arg);

static void on_hello_reply (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    resource_svc_t *rs = arg;
    if (msg->hdr.matchtag != rs->hello_tag)
        return;
    rs->hello_tag = 0;
    if (msg->hdr.errnum == 0 && rs->hello_timer >= 0) {
        zloop_timer_end (overlay_loop (ov), rs->hello_timer);
        rs->hello_timer = -1;
    }
    else if (msg->hdr.errnum == EINVAL)
        overlay_log (ov, "resource: rank 0 refused this node: %s",
                     json_string_value (json_object_get (msg->json, "errstr")));
}

static int on_hello_timer (zloop_t *loop, int id, void *arg)
{
    resource_svc_t *rs = arg;
    if (rs->hello_tag || !overlay_parent_ok (rs->ov))
        return 0;
    overlay_rpc (rs->ov, 0, "resource.hello", report (rs), NULL, 0, 0, on_hello_reply, rs, &rs->hello_tag, NULL, 0);
    return 0;
}

/* -- life --------------------------------------------------------------- */

/* This node's report.  A broker that joined (its host is not in the
 * config) reports the host name it joined as (--host), not the kernel's:
 * that is the name the instance knows it by. */
static int discover (overlay_t *ov, uint32_t rank, hwres_t *h, char *err, size_t errlen)
{
    const char *fake = getenv ("CANOPY_FAKE_RESOURCES");
    char *saved = NULL;
    if (fake && strstr (fake, "%r")) {
        saved = xstrdup (fake);
        char buf[1024];
        size_t o = 0;
        for (const char *p = fake; *p && o < sizeof buf - 16; p++) {
            if (p[0] == '%' && p[1] == 'r') {
                o += snprintf (buf + o, sizeof buf - o, "%u", rank);
                p++;
            }
            else
                buf[o++] = *p;
        }
        buf[o] = '\0';
        setenv ("CANOPY_FAKE_RESOURCES", buf, 1);
    }
    int rc = hwres_discover (h, err, errlen);
    if (saved) {
        setenv ("CANOPY_FAKE_RESOURCES", saved, 1);
        free (saved);
    }
    const char *joined_as = overlay_hostname (ov, rank);
    if (rc == 0 && rank >= overlay_config (ov)->nhosts && joined_as && *joined_as && strcmp (joined_as, "?")
        && !(fake && strstr (fake, "host=")))
        snprintf (h->hostname, sizeof h->hostname, "%s", joined_as);
    return rc;
}
static const overlay_handler_t handlers[] = {
    { "resource.get", resource_get_request },
    { "resource.hello", resource_hello_request },
    { "resource.list", resource_list_request },
    OVERLAY_HANDLER_END,
};


resource_svc_t *resource_svc_new (overlay_t *ov, char *err, size_t errlen)
{
    resource_svc_t *rs = xcalloc (1, sizeof *rs);
    rs->ov = ov;
    rs->rank = overlay_rank (ov);
    rs->size = overlay_size (ov);
    rs->hello_timer = rs->probe_timer = -1;
    if (discover (ov, rs->rank, &rs->self, err, errlen) < 0) {
        free (rs);
        return NULL;
    }
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    rs->bootid = (uint32_t)(ts.tv_sec * 1000003u ^ ts.tv_nsec ^ ((uint32_t)getpid () << 16));
    if (rs->bootid == 0)
        rs->bootid = 1;
    if (overlay_handlers_add (ov, handlers, rs, err, errlen) < 0) {
        resource_svc_destroy (&rs);
        return NULL;
    }
    if (rs->rank == 0) {
        rs->sched = sched_new ();
        rs->nodes = xcalloc (rs->size, sizeof *rs->nodes);
        rs->waiting = zlistx_new ();
        rs->t_start = now_s ();
        json_t *me = report (rs);
        if (node_report (rs, me, err, errlen) < 0) {
            json_decref (me);
            resource_svc_destroy (&rs);
            return NULL;
        }
        json_decref (me);
        if (pool_nodes_add (rs, err, errlen) < 0) {
            resource_svc_destroy (&rs);
            return NULL;
        }
        rs->probe_timer = zloop_timer (overlay_loop (ov), PROBE_FAST_MS, 0, on_probe_timer, rs);
    }
    else
        rs->hello_timer = zloop_timer (overlay_loop (ov), HELLO_MS, 0, on_hello_timer, rs);
    return rs;
}

void resource_svc_destroy (resource_svc_t **p)
{
    if (!p || !*p)
        return;
    resource_svc_t *rs = *p;
    if (rs->hello_timer >= 0)
        zloop_timer_end (overlay_loop (rs->ov), rs->hello_timer);
    if (rs->probe_timer >= 0)
        zloop_timer_end (overlay_loop (rs->ov), rs->probe_timer);
    if (rs->hello_tag)
        overlay_rpc_cancel (rs->ov, rs->hello_tag);
    for (uint32_t r = 0; rs->nodes && r < rs->size; r++)
        if (rs->nodes[r].probe_tag)
            overlay_rpc_cancel (rs->ov, rs->nodes[r].probe_tag);
    cmsg_hdr_t *h;
    while (rs->waiting && (h = zlistx_detach (rs->waiting, NULL)))
        free (h);
    zlistx_destroy (&rs->waiting);
    sched_destroy (&rs->sched);
    free (rs->nodes);
    free (rs);
    *p = NULL;
}
