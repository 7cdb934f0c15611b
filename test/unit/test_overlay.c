/* test_overlay.c - overlay routing and in-flight failure in one process.
 *
 * As flux-core's overlay tests do, brokers run in this process: a single
 * broker, then a trio (rank 0 with children 1 and 2), each with its own
 * ZeroMQ context and thread, linked over ipc sockets in a temp directory.
 * A client (src/client) on each broker's local socket checks routing down,
 * up and across, that a request to a lost child fails with EHOSTUNREACH,
 * and that requests in flight over a link are answered EHOSTUNREACH when
 * the link is lost (downward and upward, from a client and from a broker's
 * own RPC).
 */
#define _GNU_SOURCE
#include "check.h"
#include "client.h"
#include "config.h"
#include "overlay.h"
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

static char dir[] = "/tmp/canopy-test-overlay-XXXXXX";

struct broker {
    overlay_t *ov;
    void *zctx;
    pthread_t th;
    bool running;
    client_t *cl;
};

/* test.hold: never answered (a request that stays in flight) */
static void test_hold_request (overlay_t *ov, const cmsg_t *msg, void *arg) {}

/* test.rpc {rank, topic}: this broker sends topic to rank with overlay_rpc
 * and answers with what came back: {errnum, errstr?, rank?} */
static void on_test_reply (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    cmsg_hdr_t *req = arg;
    json_t *o = json_pack ("{s:i}", "errnum", msg->hdr.errnum);
    json_t *v;
    if ((v = json_object_get (msg->json, "errstr")))
        json_object_set (o, "errstr", v);
    if ((v = json_object_get (msg->json, "rank")))
        json_object_set (o, "rank", v);
    overlay_respond (ov, req, o, NULL, 0);
    free (req);
}

static void test_rpc_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    json_int_t rank;
    const char *topic;
    char err[160];
    if (json_unpack (msg->json, "{s:I s:s}", "rank", &rank, "topic", &topic) < 0) {
        overlay_respond_error (ov, &msg->hdr, EINVAL, "test.rpc: needs {rank, topic}");
        return;
    }
    cmsg_hdr_t *req = malloc (sizeof *req);
    *req = msg->hdr;
    if (overlay_rpc (ov, (uint32_t)rank, topic, json_object (), NULL, 0, 0, on_test_reply, req, NULL, err,
                     sizeof err)
        < 0) {
        overlay_respond_error (ov, req, EINVAL, "%s", err);
        free (req);
    }
}

/* test.count {n}: a stream of n responses {i}, then the end (ENODATA) */
static void test_count_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    json_int_t n = 0;
    json_unpack (msg->json, "{s?I}", "n", &n);
    for (json_int_t i = 0; i < n; i++)
        overlay_respond (ov, &msg->hdr, json_pack ("{s:I}", "i", i), NULL, 0);
    overlay_respond_error (ov, &msg->hdr, ENODATA, NULL);
}

static const overlay_handler_t test_handlers[] = {
    { "test.hold", test_hold_request },
    { "test.count", test_count_request },
    { "test.rpc", test_rpc_request },
    OVERLAY_HANDLER_END,
};

static void *run (void *arg)
{
    struct broker *b = arg;
    overlay_run (b->ov);
    return NULL;
}

static config_t *make_config (int n, const char *cert)
{
    json_t *hosts = json_array ();
    for (int r = 0; r < n; r++) {
        char ep[256], host[16];
        snprintf (ep, sizeof ep, "ipc://%s/tbon-%d", dir, r);
        snprintf (host, sizeof host, "t%d", r);
        json_array_append_new (hosts, json_pack ("{s:s s:s s:s}", "host", host, "bind", ep, "connect", ep));
    }
    json_t *o = json_pack ("{s:s s:s s:f s:f s:o}", "curve_cert", cert, "topology", "kary:2", "heartbeat",
                           0.25, "timeout", 3.0, "hosts", hosts);
    char *text = json_dumps (o, 0);
    char err[256] = "";
    config_t *cfg = config_parse (text, strlen (text), err, sizeof err);
    if (!cfg)
        fprintf (stderr, "config: %s\n", err);
    free (text);
    json_decref (o);
    return cfg;
}

static bool start (struct broker *b, const config_t *cfg, uint32_t rank, const char *rundir)
{
    char err[512] = "";
    b->zctx = zmq_ctx_new ();
    overlay_opts_t o = { .config = cfg, .rank = rank, .rundir = rundir, .zctx = b->zctx };
    if (!(b->ov = overlay_new (&o, err, sizeof err))) {
        fprintf (stderr, "rank %u: %s\n", rank, err);
        return false;
    }
    if (overlay_handlers_add (b->ov, test_handlers, NULL, err, sizeof err) < 0) {
        fprintf (stderr, "rank %u: %s\n", rank, err);
        return false;
    }
    b->running = pthread_create (&b->th, NULL, run, b) == 0;
    if (!b->running)
        return false;
    b->cl = client_connect (overlay_local_uri (b->ov), err, sizeof err);
    if (!b->cl)
        fprintf (stderr, "rank %u: client: %s\n", rank, err);
    return b->cl != NULL;
}

/* Stop b's loop (overlay.shutdown) and wait for its thread.  Its sockets
 * stay open and say nothing: to its peers it falls silent, as a hung or
 * crashed broker whose connections linger. */
static void halt (struct broker *b)
{
    if (!b->running)
        return;
    char err[256];
    json_decref (client_call (b->cl, CANOPY_RANK_ANY, "overlay.shutdown", json_object (), 5000, err,
                              sizeof err));
    pthread_join (b->th, NULL);
    b->running = false;
}

static void finish (struct broker *b)
{
    halt (b);
    client_destroy (&b->cl);
    overlay_destroy (&b->ov);
    if (b->zctx)
        zmq_ctx_term (b->zctx);
    b->zctx = NULL;
}

/* client_send without data: the tag, or 0 (said on stderr) */
static uint32_t send_req (client_t *cl, uint32_t rank, const char *topic, json_t *req, int flags)
{
    char err[256];
    uint32_t tag;
    if (client_send (cl, rank, topic, req, NULL, 0, flags, &tag, err, sizeof err) < 0) {
        fprintf (stderr, "%s to %u: %s\n", topic, rank, err);
        return 0;
    }
    return tag;
}

/* One response to a request sent now: its errnum, and the payload in *out. */
static int ask (client_t *cl, uint32_t rank, const char *topic, json_t *req, json_t **out, int timeout_ms)
{
    uint32_t tag = send_req (cl, rank, topic, req, 0);
    if (!tag)
        return -1;
    cmsg_t m;
    char err[256];
    if (client_stream_next (cl, tag, &m, timeout_ms, err, sizeof err) < 0) {
        fprintf (stderr, "%s to %u: %s\n", topic, rank, err);
        return -1;
    }
    int e = m.hdr.errnum;
    if (out)
        *out = json_incref (m.json);
    client_msg_clear (&m);
    return e;
}

static json_int_t geti (json_t *o, const char *k)
{
    json_t *v = json_object_get (o, k);
    return json_is_integer (v) ? json_integer_value (v) : -1;
}

static bool errstr_has (json_t *o, const char *s)
{
    const char *e = json_string_value (json_object_get (o, "errstr"));
    return e && strstr (e, s);
}

static void test_single (const char *cert)
{
    config_t *cfg = make_config (1, cert);
    ok (cfg != NULL, "single: config parsed");
    if (!cfg)
        return;
    char rundir[512], err[512];
    snprintf (rundir, sizeof rundir, "%s/single", dir);
    struct broker b = { 0 };
    void *zctx = zmq_ctx_new ();
    overlay_opts_t o = { .config = cfg, .rank = 0, .rundir = rundir, .zctx = zctx };
    overlay_t *ov = overlay_new (&o, err, sizeof err);
    ok (ov != NULL, "single: overlay_new");
    if (!ov)
        return;
    char longtopic[400];
    memset (longtopic, 'x', sizeof longtopic - 1);
    longtopic[sizeof longtopic - 1] = '\0';
    err[0] = '\0';
    ok (overlay_rpc (ov, 0, longtopic, json_object (), NULL, 0, 0, NULL, NULL, NULL, err, sizeof err) == -1
            && strstr (err, "topic"),
        "overlay_rpc: a topic too long fails with -1 and says why (%s)", err);
    err[0] = '\0';
    ok (overlay_peer_rpc (ov, 7, "overlay.ping", json_object (), NULL, 0, 0, NULL, NULL, NULL, err, sizeof err)
                == -1
            && strstr (err, "rank 7"),
        "overlay_peer_rpc: a rank out of range fails with -1 and says why (%s)", err);
    uint32_t tag = 0;
    ok (overlay_rpc (ov, 0, "overlay.ping", json_object (), NULL, 0, CMSG_F_NORESPONSE, NULL, NULL, &tag, err,
                     sizeof err)
                == 0
            && tag != 0,
        "overlay_rpc: 0 and the matchtag on success");
    const overlay_handler_t dup[] = { { "overlay.ping", test_hold_request }, OVERLAY_HANDLER_END };
    ok (overlay_handlers_add (ov, dup, NULL, err, sizeof err) == -1 && strstr (err, "overlay.ping"),
        "a topic the broker holds is refused (%s)", err);
    overlay_destroy (&ov);
    zmq_ctx_term (zctx);

    snprintf (rundir, sizeof rundir, "%s/single2", dir);
    ok (start (&b, cfg, 0, rundir), "single: broker running, client attached");
    if (b.cl) {
        json_t *r = NULL;
        ok (ask (b.cl, CANOPY_RANK_ANY, "overlay.ping", json_pack ("{s:i}", "seq", 7), &r, 10000) == 0
                && geti (r, "rank") == 0 && geti (r, "hops") == 0 && geti (r, "seq") == 7,
            "single: ping the local broker: rank 0, 0 hops, payload echoed");
        json_decref (r);
        r = NULL;
        ok (ask (b.cl, 0, "no.such", json_object (), &r, 10000) == ENOSYS && errstr_has (r, "no.such"),
            "single: unknown topic: ENOSYS naming it");
        json_decref (r);
        r = NULL;
        ok (ask (b.cl, 5, "overlay.ping", json_object (), &r, 10000) == EINVAL,
            "single: a rank past the size: EINVAL");
        json_decref (r);
        r = NULL;
        ok (ask (b.cl, 0, "test.rpc", json_pack ("{s:i s:s}", "rank", 0, "topic", "overlay.ping"), &r, 10000) == 0
                && geti (r, "errnum") == 0 && geti (r, "rank") == 0,
            "single: the broker's own RPC to itself is answered");
        json_decref (r);
        /* a stream, read after a client_call that set its items aside */
        uint32_t t = send_req (b.cl, 0, "test.count", json_pack ("{s:i}", "n", 3), CMSG_F_STREAMING);
        r = client_call (b.cl, 0, "overlay.ping", json_object (), 10000, err, sizeof err);
        ok (r != NULL, "single: a call while a stream is open");
        json_decref (r);
        int got[4] = { -2, -2, -2, -2 };
        json_int_t seq[3] = { -1, -1, -1 };
        for (int i = 0; i < 4; i++) {
            cmsg_t m;
            got[i] = client_stream_next (b.cl, t, &m, 10000, err, sizeof err);
            if (got[i] < 0)
                break;
            if (i < 3)
                seq[i] = geti (m.json, "i");
            client_msg_clear (&m);
        }
        ok (got[0] == 1 && got[1] == 1 && got[2] == 1 && got[3] == 0 && seq[0] == 0 && seq[1] == 1 && seq[2] == 2,
            "client_stream_next: three items in order, then 0 at the end of the stream");
        t = send_req (b.cl, 0, "test.count", json_pack ("{s:i}", "n", 0), CMSG_F_STREAMING);
        cmsg_t m;
        int rc = client_stream_next (b.cl, 0, &m, 10000, err, sizeof err);
        ok (rc == 0 && m.hdr.matchtag == t, "client_stream_next: tag 0 takes any request's response");
        {   /* a topic too long for the header: -1 with the error, nothing sent */
            char topic[CMSG_TOPIC_MAX + 2];
            memset (topic, 'x', sizeof topic - 1);
            topic[sizeof topic - 1] = '\0';
            uint32_t tag = 0;
            char e2[256] = "";
            ok (client_send (b.cl, 0, topic, json_object (), NULL, 0, 0, &tag, e2, sizeof e2) == -1 && tag == 0
                    && strstr (e2, "longer than"),
                "client_send: a topic longer than CMSG_TOPIC_MAX is -1 with the error (%s)", e2);
            e2[0] = '\0';
            ok (!client_call (b.cl, 0, topic, json_object (), 1000, e2, sizeof e2) && strstr (e2, "longer than"),
                "client_call: a topic too long fails at once with the error");
        }
        if (rc >= 0)
            client_msg_clear (&m);
        errno = 0;
        ok (client_stream_next (b.cl, 0, &m, 200, err, sizeof err) == -1 && errno == ETIMEDOUT && strstr (err, "timed out"),
            "client_stream_next: nothing pending: -1, ETIMEDOUT, said in err (%s)", err);
    }
    finish (&b);
    config_destroy (&cfg);
}

static void test_trio (const char *cert)
{
    config_t *cfg = make_config (3, cert);
    ok (cfg != NULL, "trio: config parsed");
    if (!cfg)
        return;
    struct broker b[3] = { 0 };
    bool up = true;
    for (int r = 0; r < 3; r++) {
        char rundir[512];
        snprintf (rundir, sizeof rundir, "%s/r%d", dir, r);
        up = up && start (&b[r], cfg, r, rundir);
    }
    ok (up, "trio: three brokers running, a client on each");
    json_t *r = NULL;
    up = up && ask (b[0].cl, 0, "overlay.wait", json_pack ("{s:i s:f}", "online", 3, "timeout", 30.0), &r, 40000) == 0
         && geti (r, "online") == 3;
    json_decref (r);
    ok (up, "trio: all three online");
    if (!up)
        goto out;

    /* routing */
    r = NULL;
    ok (ask (b[0].cl, 2, "overlay.ping", json_object (), &r, 10000) == 0 && geti (r, "rank") == 2
            && geti (r, "hops") == 1,
        "route down: rank 0 to child 2 in 1 hop");
    json_decref (r);
    r = NULL;
    ok (ask (b[2].cl, 0, "overlay.ping", json_object (), &r, 10000) == 0 && geti (r, "rank") == 0
            && geti (r, "hops") == 1,
        "route up: rank 2 to its parent in 1 hop");
    json_decref (r);
    r = NULL;
    ok (ask (b[1].cl, 2, "overlay.ping", json_object (), &r, 10000) == 0 && geti (r, "rank") == 2
            && geti (r, "hops") == 2,
        "route across: rank 1 to rank 2 through rank 0, 2 hops");
    json_decref (r);
    r = NULL;
    ok (ask (b[1].cl, 0, "test.rpc", json_pack ("{s:i s:s}", "rank", 2, "topic", "overlay.ping"), &r, 10000) == 0
            && geti (r, "errnum") == 0 && geti (r, "rank") == 2,
        "a broker's own RPC: rank 0 asks rank 2 and gets its answer");
    json_decref (r);

    /* in flight to rank 1 when it falls silent: from a client on rank 0
     * (tracked at 0), and from rank 2's own RPC (tracked at 2 and at 0) */
    uint32_t t_client = send_req (b[0].cl, 1, "test.hold", json_object (), 0);
    uint32_t t_rpc = send_req (b[2].cl, 2, "test.rpc", json_pack ("{s:i s:s}", "rank", 1, "topic", "test.hold"), 0);
    usleep (300000);   /* both have reached rank 1 */
    halt (&b[1]);
    cmsg_t m;
    char err[256];
    int rc = client_stream_next (b[0].cl, t_client, &m, 20000, err, sizeof err);
    ok (rc == 1 && m.hdr.errnum == EHOSTUNREACH && errstr_has (m.json, "rank 1"),
        "in flight down a lost link: the client's request is answered EHOSTUNREACH (%s)",
        rc == 1 ? client_errstr (&m) : err);
    if (rc >= 0)
        client_msg_clear (&m);
    rc = client_stream_next (b[2].cl, t_rpc, &m, 20000, err, sizeof err);
    ok (rc == 1 && m.hdr.errnum == 0 && geti (m.json, "errnum") == EHOSTUNREACH,
        "in flight across a lost link: rank 2's own RPC gets EHOSTUNREACH from rank 0 (%s)",
        rc == 1 ? json_string_value (json_object_get (m.json, "errstr")) : err);
    if (rc >= 0)
        client_msg_clear (&m);
    r = NULL;
    ok (ask (b[0].cl, 1, "overlay.ping", json_object (), &r, 10000) == EHOSTUNREACH && errstr_has (r, "rank 1 is lost"),
        "a request to a lost child: EHOSTUNREACH, 'rank 1 is lost'");
    json_decref (r);
    r = NULL;
    ok (ask (b[2].cl, 1, "overlay.ping", json_object (), &r, 10000) == EHOSTUNREACH,
        "a request to a lost rank from across the tree: EHOSTUNREACH");
    json_decref (r);
    r = NULL;
    ok (ask (b[0].cl, 2, "overlay.ping", json_object (), &r, 10000) == 0 && geti (r, "rank") == 2,
        "the other child still answers");
    json_decref (r);

    /* in flight up a lost link: rank 2's request to rank 0 when 0 falls silent */
    uint32_t t_up = send_req (b[2].cl, 0, "test.hold", json_object (), 0);
    usleep (300000);
    halt (&b[0]);
    rc = client_stream_next (b[2].cl, t_up, &m, 20000, err, sizeof err);
    ok (rc == 1 && m.hdr.errnum == EHOSTUNREACH,
        "in flight up a lost link: answered EHOSTUNREACH by the child (%s)", rc == 1 ? client_errstr (&m) : err);
    if (rc >= 0)
        client_msg_clear (&m);
    r = NULL;
    ok (ask (b[2].cl, 0, "overlay.ping", json_object (), &r, 10000) == EHOSTUNREACH && errstr_has (r, "parent"),
        "a request up a lost link: EHOSTUNREACH, the parent link is down");
    json_decref (r);
out:
    for (int i = 0; i < 3; i++)
        finish (&b[i]);
    config_destroy (&cfg);
}

static int rm_one (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove (path);
}

int main (void)
{
    if (!mkdtemp (dir)) {
        perror ("mkdtemp");
        return 1;
    }
    char cert[512];
    snprintf (cert, sizeof cert, "%s/curve.cert", dir);
    zsys_handler_set (NULL);
    zcert_t *c = zcert_new ();
    int rc = zcert_save_secret (c, cert);
    zcert_destroy (&c);
    chmod (cert, 0600);
    ok (rc == 0, "instance certificate written");
    test_single (cert);
    test_trio (cert);
    nftw (dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return done ();
}
