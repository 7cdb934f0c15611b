/* overlay_auth.c - who may connect to a broker, and the log of who was refused.
 *
 * The tree and peer ROUTER accepts CURVE clients presenting this instance's
 * public key only; the local socket accepts processes running as the
 * instance owner or root only (ZAP, with the uid libzmq reads through
 * SO_PEERCRED).  A handshake that fails before ZAP is asked is seen through
 * a socket monitor.  Refusals are logged at most once per address per
 * REFUSAL_LOG_MS, with the count of those not logged.
 */
#define _GNU_SOURCE
#include "overlay_int.h"
#include "clock.h"
#include "xalloc.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct refusal {
    int64_t last_logged;
    uint64_t suppressed;
};

/* Log a refused connection from `who`: the first at once, then at most one
 * line per REFUSAL_LOG_MS per address, saying how many were refused since. */
void ov_log_refusal (overlay_t *ov, const char *who, const char *fmt, ...)
{
    int64_t now = now_ms ();
    struct refusal *r = zhashx_lookup (ov->refused, who);
    if (r && now - r->last_logged < REFUSAL_LOG_MS) {
        r->suppressed++;
        return;
    }
    if (!r) {
        if (zhashx_size (ov->refused) >= 4096)   /* bounded: forget old ones */
            zhashx_purge (ov->refused);
        r = xcalloc (1, sizeof *r);
        zhashx_insert (ov->refused, who, r);
    }
    char buf[512];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (buf, sizeof buf, fmt, ap);
    va_end (ap);
    if (r->suppressed)
        overlay_log (ov, "%s (%llu more refused like it in the last %lld s)", buf,
                     (unsigned long long)r->suppressed,
                     (long long)((now - r->last_logged + 500) / 1000));
    else
        overlay_log (ov, "%s", buf);
    r->last_logged = now;
    r->suppressed = 0;
}

/* The client's uid from a ZAP address of an ipc connection: libzmq gives
 * "HOST:UID:GID:PID" there (SO_PEERCRED).  -1 if absent. */
static long long ipc_peer_uid (const char *address, long long *pid)
{
    if (!address)
        return -1;
    const char *c3 = strrchr (address, ':');
    if (!c3 || c3 == address)
        return -1;
    const char *c2 = c3 - 1;
    while (c2 > address && *c2 != ':')
        c2--;
    if (*c2 != ':' || c2 == address)
        return -1;
    const char *c1 = c2 - 1;
    while (c1 > address && *c1 != ':')
        c1--;
    if (*c1 != ':')
        return -1;
    char *end;
    long long uid = strtoll (c1 + 1, &end, 10);
    if (end != c2 || uid < 0)
        return -1;
    *pid = strtoll (c3 + 1, &end, 10);
    return uid;
}

/* ZAP: on the tree socket accept CURVE clients presenting the instance's
 * public key only; on the local socket, clients running as the instance
 * owner or root only. */
int ov_on_zap (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    overlay_t *ov = arg;
    zmsg_t *req = zmsg_recv (ov->zap_sock);
    if (!req)
        return 0;
    char *version = zmsg_popstr (req);
    char *reqid = zmsg_popstr (req);
    char *domain = zmsg_popstr (req);
    char *address = zmsg_popstr (req);
    char *identity = zmsg_popstr (req);
    char *mechanism = zmsg_popstr (req);
    zframe_t *key = zmsg_pop (req);
    bool okk;
    const char *why = "unknown key";
    if (domain && !strcmp (domain, LOCAL_ZAP_DOMAIN)) {
        long long pid = -1, uid = ipc_peer_uid (address, &pid);
        okk = mechanism && !strcmp (mechanism, "NULL") && uid >= 0
              && (uid == 0 || uid == (long long)ov->owner);
        if (!okk) {
            why = "not the instance owner";
            char who[64];
            snprintf (who, sizeof who, "uid %lld", uid);
            if (uid < 0)
                ov_log_refusal (ov, "local", "refused local client: its uid is unknown (%s)",
                             address ? address : "?");
            else
                ov_log_refusal (ov, who,
                             "refused local client pid %lld: uid %lld is not the instance owner "
                             "(uid %u) or root", pid, uid, (unsigned)ov->owner);
        }
    }
    else {
        okk = mechanism && !strcmp (mechanism, "CURVE") && key && zframe_size (key) == 32
              && !memcmp (zframe_data (key), zcert_public_key (ov->cert), 32);
        if (!okk) {
            char txt[41] = "";
            if (key && zframe_size (key) == 32)
                zmq_z85_encode (txt, zframe_data (key), 32);
            ov_log_refusal (ov, address ? address : "?",
                         "refused connection from %s: CURVE key %s is not this instance's",
                         address ? address : "?", txt[0] ? txt : "(none)");
        }
    }
    zmsg_t *rep = zmsg_new ();
    zmsg_addstr (rep, "1.0");
    zmsg_addstr (rep, reqid ? reqid : "");
    zmsg_addstr (rep, okk ? "200" : "400");
    zmsg_addstr (rep, okk ? "OK" : why);
    zmsg_addstr (rep, okk ? "canopy" : "");
    zmsg_addmem (rep, "", 0);
    zmsg_send (&rep, ov->zap_sock);
    free (version);
    free (reqid);
    free (domain);
    free (address);
    free (identity);
    free (mechanism);
    zframe_destroy (&key);
    zmsg_destroy (&req);
    return 0;
}

/* Socket monitor on the child ROUTER: a peer with another instance's key
 * fails the CURVE handshake before ZAP is asked; log that too. */
int ov_on_monitor (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    overlay_t *ov = arg;
    zmq_msg_t ev, addr;
    zmq_msg_init (&ev);
    zmq_msg_init (&addr);
    if (zmq_msg_recv (&ev, ov->mon_sock, ZMQ_DONTWAIT) < 0)
        goto out;
    if (!zmq_msg_more (&ev) || zmq_msg_recv (&addr, ov->mon_sock, 0) < 0)
        goto out;
    if (zmq_msg_size (&ev) >= 6) {
        uint16_t event;
        memcpy (&event, zmq_msg_data (&ev), 2);
        char who[256];
        snprintf (who, sizeof who, "%.*s", (int)zmq_msg_size (&addr), (char *)zmq_msg_data (&addr));
        /* the monitor names our endpoint, not the peer: one key per endpoint */
        ov_log_refusal (ov, who, "refused connection on %s: CURVE handshake failed (%s)", who,
                     event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ? "key not accepted"
                                                              : "not this instance's CURVE key");
    }
out:
    zmq_msg_close (&ev);
    zmq_msg_close (&addr);
    return 0;
}
