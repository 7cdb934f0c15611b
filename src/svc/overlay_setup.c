/* overlay_setup.c - a broker's overlay built in steps, and taken down.
 *
 * overlay_new checks the certificate, makes the loop and tables, learns the
 * endpoints (config and membership), locks the run directory, then opens
 * the sockets: the self channel, the child/peer ROUTER (with ZAP and its
 * monitor), the link upstream, the local clients' socket; then registers
 * the broker's own services and starts the heartbeat.  Each step fills err
 * and fails alone; overlay_destroy undoes whatever was done.
 */
#define _GNU_SOURCE
#include "overlay_int.h"
#include "clock.h"
#include "errquote.h"
#include "privdir.h"
#include "xalloc.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- socket helpers ---- */
void *ov_mksock (overlay_t *ov, int type)
{
    void *s = zmq_socket (ov->zctx, type);
    if (!s)
        return NULL;
    int hwm = HWM, linger = 0;
    zmq_setsockopt (s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (s, ZMQ_LINGER, &linger, sizeof linger);
    return s;
}

int ov_poll_add (overlay_t *ov, void *sock, zloop_fn *fn)
{
    zmq_pollitem_t item = { .socket = sock, .events = ZMQ_POLLIN };
    return zloop_poller (ov->loop, &item, fn, ov);
}

void ov_poll_end (overlay_t *ov, void *sock)
{
    zmq_pollitem_t item = { .socket = sock, .events = ZMQ_POLLIN };
    zloop_poller_end (ov->loop, &item);
}

/* The upstream link, a peer link and a joining broker's link to the lead. */
void *ov_curve_dealer (void *zctx, zcert_t *cert, const char *id, bool immediate, const char *ep)
{
    void *s = zmq_socket (zctx, ZMQ_DEALER);
    if (!s)
        return NULL;
    int hwm = HWM, linger = 0, one = 1, ivl = 200, ivlmax = 2000;
    zmq_setsockopt (s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (s, ZMQ_ROUTING_ID, id, strlen (id));
    if (immediate)
        zmq_setsockopt (s, ZMQ_IMMEDIATE, &one, sizeof one);
    zmq_setsockopt (s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt (s, ZMQ_RECONNECT_IVL_MAX, &ivlmax, sizeof ivlmax);
    zmq_setsockopt (s, ZMQ_CURVE_SERVERKEY, zcert_public_key (cert), 32);
    zmq_setsockopt (s, ZMQ_CURVE_PUBLICKEY, zcert_public_key (cert), 32);
    zmq_setsockopt (s, ZMQ_CURVE_SECRETKEY, zcert_secret_key (cert), 32);
    if (zmq_connect (s, ep) < 0) {
        int e = errno;
        zmq_close (s);
        errno = e;
        return NULL;
    }
    return s;
}

/* ---- guards: one broker per run directory and endpoint ---- */
/* The run directory is ours (privdir_ensure); lock it so that a second
 * broker given the same one refuses to start instead of taking over the
 * running one's sockets.  The lock file holds the holder's pid. */
static int lock_rundir (overlay_t *ov, char *err, size_t errlen)
{
    char path[4200];
    snprintf (path, sizeof path, "%s/lock", ov->rundir);
    int fd = open (path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return errfail (err, errlen, "%s: %s", path, strerror (errno));
    if (flock (fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        char buf[32] = "";
        ssize_t n = pread (fd, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
        buf[strcspn (buf, "\n")] = '\0';
        close (fd);
        if (e == EWOULDBLOCK)
            return errfail (err, errlen,
                            "rank %u is already running with run directory %s (pid %s): not "
                            "starting a second one",
                            ov->rank, ov->rundir, buf[0] ? buf : "?");
        return errfail (err, errlen, "%s: %s", path, strerror (e));
    }
    char pid[32];
    int n = snprintf (pid, sizeof pid, "%ld\n", (long)getpid ());
    if (ftruncate (fd, 0) < 0 || pwrite (fd, pid, n, 0) != n) {
        close (fd);
        return errfail (err, errlen, "%s: cannot write: %s", path, strerror (errno));
    }
    ov->lock_fd = fd;
    return 0;
}

/* zmq_bind on an ipc:// endpoint removes whatever socket file is there, a
 * live broker's included: refuse when something answers on it. */
static int ipc_in_use (const char *ep, char *err, size_t errlen)
{
    if (strncmp (ep, "ipc://", 6) != 0)
        return 0;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen (ep + 6) >= sizeof sa.sun_path)
        return 0;   /* zmq_bind will say so */
    strcpy (sa.sun_path, ep + 6);
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int rc = connect (fd, (struct sockaddr *)&sa, sizeof sa);
    close (fd);
    if (rc == 0)
        return errfail (err, errlen, "cannot bind %s: another broker is listening there", ep);
    return 0;
}

/* ---- the steps of overlay_new ---- */

/* The certificate: ours alone (not world-readable) and with a secret key. */
static int load_cert (overlay_t *ov, const char *certpath, char *err, size_t errlen)
{
    if (!certpath)
        return errfail (err, errlen, "no CURVE certificate configured (curve_cert)");
    struct stat st;
    if (stat (certpath, &st) < 0)
        return errfail (err, errlen, "certificate %s: %s", certpath, strerror (errno));
    if (st.st_mode & 0004)
        return errfail (err, errlen, "certificate %s is world-readable (chmod 600 it)", certpath);
    if (access (certpath, R_OK) < 0)
        return errfail (err, errlen, "certificate %s: %s", certpath, strerror (errno));
    ov->cert = zcert_load (certpath);
    if (!ov->cert || !strcmp (zcert_secret_txt (ov->cert), "0000000000000000000000000000000000000000"))
        return errfail (err, errlen, "certificate %s: not a valid CURVE certificate with a secret key",
                        certpath);
    return 0;
}

/* The loop, the tables, and this incarnation's boot id and first matchtag. */
static void init_state (overlay_t *ov, void *zctx)
{
    zsys_handler_set (NULL);
    ov->zctx = zctx ? zctx : zsys_init ();
    ov->loop = zloop_new ();
    zloop_set_nonstop (ov->loop, true);
    ov->inflight = zhashx_new ();
    zhashx_set_destructor (ov->inflight, (zhashx_destructor_fn *)zstr_free);
    ov->rpcs = zhashx_new ();
    zhashx_set_destructor (ov->rpcs, (zhashx_destructor_fn *)zstr_free);
    ov->refused = zhashx_new ();
    zhashx_set_destructor (ov->refused, (zhashx_destructor_fn *)zstr_free);
    if (getrandom (&ov->bootid, sizeof ov->bootid, 0) != sizeof ov->bootid)
        ov->bootid = (uint32_t)getpid () ^ (uint32_t)now_ms ();
    /* matchtags start at a random point, so responses still in flight to an
     * earlier incarnation of this rank do not match this one's requests */
    if (getrandom (&ov->next_matchtag, sizeof ov->next_matchtag, 0) != sizeof ov->next_matchtag)
        ov->next_matchtag = ov->bootid * 2654435761u;
    ov->parent_state = PEER_OFFLINE;
    ov->peer_socks = xcalloc (ov->size, sizeof (void *));
}

/* Work for this same broker goes through an inproc PUSH/PULL pair. */
static void open_self (overlay_t *ov)
{
    char inproc[64];
    snprintf (inproc, sizeof inproc, "inproc://self-%p", (void *)ov);
    ov->self_pull = ov_mksock (ov, ZMQ_PULL);
    ov->self_push = ov_mksock (ov, ZMQ_PUSH);
    zmq_bind (ov->self_pull, inproc);
    zmq_connect (ov->self_push, inproc);
    ov_poll_add (ov, ov->self_pull, ov_on_self);
}

/* Every broker binds a CURVE ROUTER: its children and peers connect here.
 * ZAP checks their key; a monitor logs handshakes that fail before ZAP. */
static int open_children (overlay_t *ov, const char *host, char *err, size_t errlen)
{
    const config_t *cfg = ov->cfg;
    ov->zap_sock = zmq_socket (ov->zctx, ZMQ_REP);
    if (zmq_bind (ov->zap_sock, "inproc://zeromq.zap.01") < 0)
        return errfail (err, errlen, "ZAP handler: %s", zmq_strerror (errno));
    ov_poll_add (ov, ov->zap_sock, ov_on_zap);
    ov->child_sock = ov_mksock (ov, ZMQ_ROUTER);
    int one = 1;
    zmq_setsockopt (ov->child_sock, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    zmq_setsockopt (ov->child_sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt (ov->child_sock, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt (ov->child_sock, ZMQ_ZAP_DOMAIN, "canopy", 6);
    zmq_setsockopt (ov->child_sock, ZMQ_CURVE_SECRETKEY, zcert_secret_key (ov->cert), 32);
    char mon[64];
    snprintf (mon, sizeof mon, "inproc://monitor-%p", (void *)ov);
    if (zmq_socket_monitor (ov->child_sock, mon,
                            ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        == 0) {
        ov->mon_sock = zmq_socket (ov->zctx, ZMQ_PAIR);
        zmq_connect (ov->mon_sock, mon);
        ov_poll_add (ov, ov->mon_sock, ov_on_monitor);
    }
    char *own_bind = NULL, *own_conn = NULL;
    if (ov->rank >= cfg->nhosts) {
        if (!host)
            return errfail (err, errlen, "rank %u is not listed in the config: its host name is needed",
                            ov->rank);
        if (config_host_endpoints (cfg, host, &own_bind, &own_conn) < 0)
            return errfail (err, errlen, "out of memory");
    }
    free (own_conn);
    const char *ep = ov->rank < cfg->nhosts ? cfg->hosts[ov->rank].bind : own_bind;
    /* every broker may open a peer link here at the start of a distribution:
     * a listen queue of ZeroMQ's default 100 overflowed at 128 brokers (SYNs
     * retried after 1 s, measured with nstat ListenOverflows) */
    int backlog = ov->size > 100 ? (ov->size < 4096 ? (int)ov->size : 4096) : 100;
    zmq_setsockopt (ov->child_sock, ZMQ_BACKLOG, &backlog, sizeof backlog);
    int rc = ipc_in_use (ep, err, errlen);
    if (rc == 0 && (rc = zmq_bind (ov->child_sock, ep)) < 0)
        errfmt (err, errlen, "cannot bind %s: %s", ep, zmq_strerror (errno));
    if (rc == 0)
        ov->bind_ep = xstrdup (ep);
    free (own_bind);
    if (rc < 0)
        return -1;
    ov_poll_add (ov, ov->child_sock, ov_on_child);
    return 0;
}

/* Local clients: a ROUTER on RUNDIR/local (the run directory was checked
 * and locked), every connection put to ZAP, which checks the client's uid. */
static int open_local (overlay_t *ov, char *err, size_t errlen)
{
    ov->local_path = xasprintf ("%s/local", ov->rundir);
    ov->local_uri = xasprintf ("ipc://%s", ov->local_path);
    unlink (ov->local_path);
    ov->local_sock = ov_mksock (ov, ZMQ_ROUTER);
    int one = 1;
    zmq_setsockopt (ov->local_sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt (ov->local_sock, ZMQ_ZAP_DOMAIN, LOCAL_ZAP_DOMAIN, strlen (LOCAL_ZAP_DOMAIN));
    mode_t old = umask (077);
    int rc = zmq_bind (ov->local_sock, ov->local_uri);
    umask (old);
    if (rc < 0)
        return errfail (err, errlen, "cannot bind %s: %s", ov->local_uri, zmq_strerror (errno));
    ov_poll_add (ov, ov->local_sock, ov_on_local);
    return 0;
}

overlay_t *overlay_new (const overlay_opts_t *o, char *err, size_t errlen)
{
    const config_t *cfg = o->config;
    if (o->rank >= cfg->size) {
        errfmt (err, errlen, "rank %u is not in the config (size %u)", o->rank, (unsigned)cfg->size);
        return NULL;
    }
    overlay_t *ov = xcalloc (1, sizeof *ov);
    ov->lock_fd = -1;
    ov->owner = geteuid ();
    ov->cfg = cfg;
    ov->topo = cfg->topo;
    ov->rank = o->rank;
    ov->size = cfg->size;
    ov->rundir = xstrdup (o->rundir);
    if (load_cert (ov, o->cert_path ? o->cert_path : cfg->curve_cert, err, errlen) < 0)
        goto fail;
    init_state (ov, o->zctx);
    ov_children_init (ov);
    if (ov_members_init (ov, o, err, errlen) < 0)
        goto fail;
    if (privdir_ensure (ov->rundir, err, errlen) < 0 || lock_rundir (ov, err, errlen) < 0)
        goto fail;
    open_self (ov);
    if (open_children (ov, o->address ? o->address : o->host, err, errlen) < 0)
        goto fail;
    if (ov->rank != 0 && ov_parent_connect (ov, err, errlen) < 0)
        goto fail;
    if (open_local (ov, err, errlen) < 0)
        goto fail;
    if (ov_services_init (ov, err, errlen) < 0)
        goto fail;
    int hb = (int)(cfg->heartbeat * 1000);
    ov->hb_timer = zloop_timer (ov->loop, hb > 0 ? hb : 1000, 0, ov_on_heartbeat, ov);
    if (ov->parent_sock)
        ov_report_up (ov, true); /* hello */
    return ov;
fail:
    overlay_destroy (&ov);
    return NULL;
}

/* ---- running and stopping ---- */
static int on_stop (zloop_t *loop, int timer_id, void *arg)
{
    return -1;
}

void overlay_stop (overlay_t *ov)
{
    zloop_timer (ov->loop, 1, 1, on_stop, ov);
}

int overlay_run (overlay_t *ov)
{
    zloop_start (ov->loop);
    return 0;
}

void overlay_destroy (overlay_t **p)
{
    if (!p || !*p)
        return;
    overlay_t *ov = *p;
    if (ov->parent_sock)
        ov_send_control (ov, ov->parent_sock, NULL, 0, "goodbye", 0);
    zloop_destroy (&ov->loop);
    if (ov->child_sock && ov->mon_sock)
        zmq_socket_monitor (ov->child_sock, NULL, 0);
    if (ov->probe_sock)
        zmq_close (ov->probe_sock);
    void *socks[] = { ov->parent_sock, ov->child_sock, ov->local_sock, ov->zap_sock,
                      ov->self_push, ov->self_pull, ov->mon_sock };
    for (size_t i = 0; i < sizeof socks / sizeof socks[0]; i++)
        if (socks[i])
            zmq_close (socks[i]);
    if (ov->local_path)
        unlink (ov->local_path);
    for (size_t i = 0; i < ov->nsvcs; i++)
        free (ov->svcs[i].topic);
    for (size_t i = 0; i < ov->nsubs; i++)
        free (ov->subs[i].topic);
    free (ov->svcs);
    free (ov->subs);
    ov_peer_close_all (ov);
    zhashx_destroy (&ov->inflight);
    zhashx_destroy (&ov->rpcs);
    zhashx_destroy (&ov->refused);
    if (ov->lock_fd >= 0)
        close (ov->lock_fd);
    ov_services_fini (ov);
    zcert_destroy (&ov->cert);
    for (uint32_t r = 0; r < ov->size && ov->ephost; r++) {
        free (ov->ephost[r]);
        free (ov->epconn[r]);
    }
    free (ov->ephost);
    free (ov->epconn);
    members_destroy (&ov->members);
    free (ov->members_path);
    free (ov->bind_ep);
    free (ov->children);
    free (ov->rundir);
    free (ov->local_uri);
    free (ov->local_path);
    free (ov);
    *p = NULL;
}
