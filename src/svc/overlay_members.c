/* overlay_members.c - membership: hosts that join, the table, its spread.
 *
 * Hosts listed in the config hold fixed ranks; others ask the lead (rank 0)
 * for one with overlay.join (ov_lead_join, below; overlay_join is the
 * joining broker's side).  The lead keeps the table in its state directory
 * and spreads every change as the overlay.members event; each broker learns
 * from it where joined ranks listen (doc/membership.md).
 */
#define _GNU_SOURCE
#include "overlay_int.h"
#include "errquote.h"
#include "xalloc.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static void set_endpoint (overlay_t *ov, uint32_t r, const char *host, const char *conn)
{
    char *h = xstrdup (host), *c = xstrdup (conn);
    free (ov->ephost[r]);
    free (ov->epconn[r]);
    ov->ephost[r] = h;
    ov->epconn[r] = c;
}

/* Take in a membership table (rank 0's, from the join answer or an event). */
static void members_apply (overlay_t *ov, json_t *table)
{
    char err[160];
    members_t *m = members_from_json (table, err, sizeof err);
    if (!m || members_size (m) != ov->size) {
        overlay_log (ov, "membership table refused: %s", m ? "another size" : err);
        members_destroy (&m);
        return;
    }
    for (uint32_t r = 0; r < ov->size; r++) {
        const member_t *e = members_get (m, r);
        if (e->state == MEMBER_HELD && r >= ov->cfg->nhosts)
            set_endpoint (ov, r, e->host, e->endpoint);
        else if (e->state == MEMBER_FREE && r >= ov->cfg->nhosts) {   /* its host left */
            free (ov->epconn[r]);
            ov->epconn[r] = NULL;
        }
    }
    members_destroy (&m);
}

static void on_members_event (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    if (ov->rank != 0)
        members_apply (ov, msg->json);
}

/* The lead's table is written whole to a temp file and renamed, so a crash
 * leaves the old one or the new one. */
static void members_save (overlay_t *ov)
{
    if (!ov->members_path)
        return;
    char tmp[4200];
    snprintf (tmp, sizeof tmp, "%s.tmp", ov->members_path);
    json_t *j = members_to_json (ov->members);
    if (json_dump_file (j, tmp, JSON_COMPACT) < 0 || rename (tmp, ov->members_path) < 0)
        overlay_log (ov, "cannot save the membership table %s: %s", ov->members_path, strerror (errno));
    json_decref (j);
}

static bool printable (const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f || s[n] == '"' || s[n] == '\\')
            return false;
    return n > 0 && n <= max;
}

/* overlay.join {host, endpoint} from a joining broker (over CURVE: it holds
 * the instance certificate): its rank by the rule of doc/membership.md. */
void ov_lead_join (overlay_t *ov, const char *id, size_t idlen, struct raw *m)
{
    json_t *o = json_loadb (zmq_msg_data (&m->json), zmq_msg_size (&m->json), 0, NULL);
    const char *host = NULL, *ep = NULL;
    char err[200] = "";
    long r = -1;
    if (!o || json_unpack (o, "{s:s s:s}", "host", &host, "endpoint", &ep) < 0 || !printable (host, 253)
        || !printable (ep, 1000) || (strncmp (ep, "tcp://", 6) && strncmp (ep, "ipc://", 6)))
        snprintf (err, sizeof err, "overlay.join: needs {host, endpoint} (printable, tcp:// or ipc://)");
    else if (config_rank_of (ov->cfg, host) >= 0)
        snprintf (err, sizeof err, "host %s is listed in the config at rank %d: start it with that rank", host,
                  config_rank_of (ov->cfg, host));
    else
        r = members_join (ov->members, host, ep, err, sizeof err);
    cmsg_hdr_t h;
    cmsg_hdr_make_response (&h, &m->hdr, ov->rank, r < 0 ? EINVAL : 0);
    json_t *resp;
    if (r < 0)
        resp = json_pack ("{s:s}", "errstr", err);
    else {
        set_endpoint (ov, (uint32_t)r, host, ep);
        members_save (ov);
        overlay_log (ov, "host %s joins as rank %ld (%s)", host, r, ep);
        resp = json_pack ("{s:I s:I s:o}", "rank", (json_int_t)r, "size", (json_int_t)ov->size, "members",
                          members_to_json (ov->members));
        ov_event_publish (ov, "overlay.members", members_to_json (ov->members));
    }
    char *js = json_dumps (resp, JSON_COMPACT);
    struct raw out;
    raw_set (&out, &h, js, strlen (js), NULL, 0);
    raw_send (ov->child_sock, id, idlen, &out);
    raw_close (&out);
    free (js);
    json_decref (resp);
    json_decref (o);
}

/* Rank 0's table: the saved one, with the config's hosts fixed. */
static int members_load (overlay_t *ov, const char *statedir, char *err, size_t errlen)
{
    if (statedir)
        ov->members_path = xasprintf ("%s/members.json", statedir);
    json_t *j = ov->members_path ? json_load_file (ov->members_path, 0, NULL) : NULL;
    if (j) {
        char e2[160];
        ov->members = members_from_json (j, e2, sizeof e2);
        json_decref (j);
        if (ov->members && members_size (ov->members) != ov->size) {
            overlay_log (ov, "membership table %s is for size %u, the config says %u: starting anew",
                         ov->members_path, members_size (ov->members), ov->size);
            members_destroy (&ov->members);
        }
        else if (!ov->members)
            overlay_log (ov, "membership table %s: %s: starting anew", ov->members_path, e2);
    }
    if (!ov->members)
        ov->members = members_new (ov->size);
    for (uint32_t r = 0; r < ov->cfg->nhosts; r++)
        if (members_fix (ov->members, r, ov->cfg->hosts[r].host, ov->cfg->hosts[r].connect, err, errlen) < 0)
            return -1;
    for (uint32_t r = ov->cfg->nhosts; r < ov->size; r++) {
        const member_t *e = members_get (ov->members, r);
        if (e->state == MEMBER_HELD)
            set_endpoint (ov, r, e->host, e->endpoint);
    }
    return 0;
}

int ov_members_init (overlay_t *ov, const overlay_opts_t *o, char *err, size_t errlen)
{
    ov->ephost = xcalloc (ov->size, sizeof *ov->ephost);
    ov->epconn = xcalloc (ov->size, sizeof *ov->epconn);
    for (uint32_t r = 0; r < ov->cfg->nhosts; r++)
        set_endpoint (ov, r, ov->cfg->hosts[r].host, ov->cfg->hosts[r].connect);
    if (o->members)
        members_apply (ov, o->members);
    if (ov->rank == 0 && members_load (ov, o->statedir, err, errlen) < 0)
        return -1;
    ov_event_subscribe (ov, "overlay.members", on_members_event, NULL);
    return 0;
}

long overlay_member_leave (overlay_t *ov, const char *host)
{
    long r = ov->members ? members_find (ov->members, host) : -1;
    if (r < 0 || members_leave (ov->members, host) < 0)
        return -1;
    free (ov->epconn[r]);
    ov->epconn[r] = NULL;
    members_save (ov);
    ov_event_publish (ov, "overlay.members", members_to_json (ov->members));
    return r;
}

int overlay_member_reserve (overlay_t *ov, uint32_t rank, const char *host, char *err, size_t errlen)
{
    if (!ov->members)
        return errfail (err, errlen, "the membership table is on rank 0");
    return members_reserve (ov->members, rank, host, err, errlen);
}

char **overlay_member_hosts (overlay_t *ov)
{
    uint32_t n = ov->members ? members_size (ov->members) : 0, k = 0;
    char **v = xcalloc (n + 1, sizeof *v);
    for (uint32_t r = 0; r < n; r++) {
        const member_t *e = members_get (ov->members, r);
        if (e->state == MEMBER_HELD && !e->fixed)
            v[k++] = xstrdup (e->host);
    }
    return v;
}

long overlay_join (const config_t *cfg, const char *host, const char *address, const char *cert_path,
                   double timeout, json_t **members, char *err, size_t errlen)
{
    char *bind = NULL, *conn = NULL;
    *members = NULL;
    if (cfg->size <= cfg->nhosts)
        return errfail (err, errlen, "host '%s' is not in the config, and the config has no free ranks (size)",
                        host);
    if (config_host_endpoints (cfg, address ? address : host, &bind, &conn) < 0)
        return errfail (err, errlen, "out of memory");
    free (bind);
    zcert_t *cert = zcert_load (cert_path ? cert_path : cfg->curve_cert ? cfg->curve_cert : "");
    if (!cert) {
        free (conn);
        return errfail (err, errlen, "certificate %s: not a valid CURVE certificate",
                        cert_path ? cert_path : cfg->curve_cert ? cfg->curve_cert : "(none)");
    }
    zsys_handler_set (NULL);
    void *ctx = zsys_init ();
    uint32_t nonce = 0;
    if (getrandom (&nonce, sizeof nonce, 0) != sizeof nonce)
        nonce = (uint32_t)getpid ();
    char id[32];
    snprintf (id, sizeof id, "j.%08x", nonce);
    void *s = ov_curve_dealer (ctx, cert, id, false, cfg->hosts[0].connect);
    zcert_destroy (&cert);
    if (!s) {
        free (conn);
        return errfail (err, errlen, "cannot connect to the lead %s: %s", cfg->hosts[0].connect,
                        zmq_strerror (errno));
    }
    long rank = -1;
    cmsg_hdr_t h;
    cmsg_hdr_init (&h, CMSG_REQUEST, "overlay.join");
    h.dest = 0;
    h.src = TOPO_NONE;
    h.matchtag = nonce;
    json_t *req = json_pack ("{s:s s:s}", "host", host, "endpoint", conn);
    char *js = json_dumps (req, JSON_COMPACT);
    json_decref (req);
    uint8_t hbuf[CMSG_HDR_MAX];
    size_t hlen = cmsg_hdr_encode (&h, hbuf);
    double start = zclock_mono () / 1000.0;
    int64_t next_send = 0;
    for (;;) {
        double now = zclock_mono () / 1000.0;
        if (timeout > 0 && now - start > timeout) {
            errfmt (err, errlen, "no answer from the lead %s in %.0f s", cfg->hosts[0].connect, timeout);
            break;
        }
        if (zclock_mono () >= next_send) {   /* again every 2 s: the lead may have restarted */
            zmq_send (s, hbuf, hlen, ZMQ_SNDMORE | ZMQ_DONTWAIT);
            zmq_send (s, js, strlen (js), ZMQ_DONTWAIT);
            next_send = zclock_mono () + 2000;
        }
        zmq_pollitem_t it = { .socket = s, .events = ZMQ_POLLIN };
        if (zmq_poll (&it, 1, 200) <= 0)
            continue;
        zmq_msg_t f[2];
        zmq_msg_init (&f[0]);
        zmq_msg_init (&f[1]);
        int ok = zmq_msg_recv (&f[0], s, 0) >= 0 && zmq_msg_more (&f[0]) && zmq_msg_recv (&f[1], s, 0) >= 0;
        cmsg_hdr_t rh;
        const char *why;
        json_t *o = NULL;
        if (ok && cmsg_hdr_decode (&rh, zmq_msg_data (&f[0]), zmq_msg_size (&f[0]), &why) == 0
            && rh.type == CMSG_RESPONSE && rh.matchtag == nonce)
            o = json_loadb (zmq_msg_data (&f[1]), zmq_msg_size (&f[1]), 0, NULL);
        zmq_msg_close (&f[0]);
        zmq_msg_close (&f[1]);
        if (!o)
            continue;
        json_int_t r = -1;
        const char *es = NULL;
        json_t *tab = NULL;
        if (rh.errnum) {
            json_unpack (o, "{s?s}", "errstr", &es);
            errfmt (err, errlen, "the lead refused to give this host a rank: %s", es ? es : strerror (rh.errnum));
        }
        else if (json_unpack (o, "{s:I s:o}", "rank", &r, "members", &tab) < 0 || r < 1
                 || (size_t)r >= cfg->size)
            errfmt (err, errlen, "the lead's answer to overlay.join is malformed");
        else {
            rank = (long)r;
            *members = json_incref (tab);
        }
        json_decref (o);
        break;
    }
    free (js);
    zmq_close (s);
    free (conn);
    return rank;
}
