/* broker.c - canopy-broker: the daemon that runs on every node.
 *
 * Loads the config, finds its rank, opens its links (overlay), registers
 * the services and runs the event loop until told to stop (SIGTERM, SIGINT
 * or overlay.shutdown).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include "config.h"
#include "readfile.h"
#include "xalloc.h"
#include "exec.h"
#include "health.h"
#include "overlay.h"
#include "privdir.h"
#include "services.h"

static const char *prog = "canopy-broker";

static void usage (FILE *f)
{
    fprintf (f,
             "Usage: canopy-broker --config FILE [--rank N] [--rundir DIR] [--statedir DIR]\n"
             "                     [--cert PATH] [--join-timeout SECS] [--host NAME] [--address ADDR]\n"
             "                     [--kubernetes [--kube-selector LABELS] [--kube-control-plane]]\n"
             "                     [--health [ADDRESS:]PORT]\n"
             "       canopy-broker --version\n");
}

struct joinwatch {
    overlay_t *ov;
    int failed;
};

static int on_join_timeout (zloop_t *loop, int timer_id, void *arg)
{
    struct joinwatch *jw = arg;
    if (!overlay_parent_ok (jw->ov)) {
        uint32_t p = topo_parent (overlay_topo (jw->ov), overlay_rank (jw->ov));
        fprintf (stderr, "%s: cannot reach parent rank %u at %s\n", prog, p,
                 overlay_config (jw->ov)->hosts[p].connect);
        jw->failed = 1;
        return -1;
    }
    return 0;
}

static int on_signal (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    struct signalfd_siginfo si;
    if (read (item->fd, &si, sizeof si) == sizeof si)
        overlay_log (arg, "signal %d: shutting down", si.ssi_signo);
    return -1;
}

/* Tell the health endpoints (--health) that the loop runs, and whether
 * this broker is joined to the tree. */
struct health_ctx {
    health_t *h;
    overlay_t *ov;
};
static int health_tick (zloop_t *loop, int id, void *arg)
{
    struct health_ctx *hc = arg;
    if (!hc->h)
        return 0;
    bool ok = overlay_parent_ok (hc->ov);
    health_update (hc->h, ok, ok ? "" : "the link to the tree (parent or ancestor) is not up");
    return 0;
}

int main (int argc, char **argv)
{
    const char *cfgpath = NULL, *rundir = NULL, *statedir = NULL, *cert = NULL, *hostopt = NULL;
    const char *address = NULL, *health_addr = NULL;
    bool kubernetes = false;
    kube_svc_opts_t ko = { 0 };
    long rank = -1;
    double join_timeout = 0;
    static struct option opts[] = {
        { "config", required_argument, 0, 'c' }, { "rank", required_argument, 0, 'r' },
        { "rundir", required_argument, 0, 'd' }, { "statedir", required_argument, 0, 's' },
        { "cert", required_argument, 0, 'k' },   { "join-timeout", required_argument, 0, 'j' },
        { "help", no_argument, 0, 'h' },         { "version", no_argument, 0, 'V' },
        { "host", required_argument, 0, 'H' },   { "address", required_argument, 0, 'A' },
        { "kubernetes", no_argument, 0, 'K' },   { "kube-selector", required_argument, 0, 'S' },
        { "kube-control-plane", no_argument, 0, 'C' }, { "health", required_argument, 0, 'L' },
        { 0, 0, 0, 0 },
    };
    int c;
    while ((c = getopt_long (argc, argv, "c:r:h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'c': cfgpath = optarg; break;
        case 'r':
            rank = strtol (optarg, &end, 10);
            if (*end || end == optarg || rank < 0) {
                fprintf (stderr, "%s: invalid rank '%s'\n", prog, optarg);
                return 1;
            }
            break;
        case 'd': rundir = optarg; break;
        case 's': statedir = optarg; break;
        case 'k': cert = optarg; break;
        case 'H': hostopt = optarg; break;
        case 'A': address = optarg; break;
        case 'K': kubernetes = true; break;
        case 'S': ko.selector = optarg; break;
        case 'C': ko.include_control_plane = true; break;
        case 'L': health_addr = optarg; break;
        case 'j': join_timeout = strtod (optarg, NULL); break;
        case 'h': usage (stdout); return 0;
        case 'V': printf ("canopy %s\n", CANOPY_VERSION); return 0;
        default: usage (stderr); return 1;
        }
    }
    if (!cfgpath) {
        fprintf (stderr, "%s: --config is required\n", prog);
        return 1;
    }
    char err[512];
    size_t len;
    char *text = read_file (cfgpath, 64u << 20, &len, err, sizeof err);
    if (!text) {
        fprintf (stderr, "%s: %s\n", prog, err);
        return 1;
    }
    config_t *cfg = config_parse (text, len, err, sizeof err);
    free (text);
    if (!cfg) {
        fprintf (stderr, "%s: %s: %s\n", prog, cfgpath, err);
        return 1;
    }
    /* where the config and the certificate are, for services that start
     * brokers like this one (the local burst provider) */
    char *abs = realpath (cfgpath, NULL);
    cfg->source = abs ? abs : xstrdup (cfgpath);
    if (cert) {
        char *c = realpath (cert, NULL);
        free (cfg->curve_cert);
        cfg->curve_cert = c ? c : xstrdup (cert);
    }
    /* on Kubernetes the downward API gives the node's name and address */
    if (kubernetes && !hostopt && getenv ("NODE_NAME") && *getenv ("NODE_NAME"))
        hostopt = getenv ("NODE_NAME");
    if (kubernetes && !address && getenv ("NODE_IP") && *getenv ("NODE_IP"))
        address = getenv ("NODE_IP");
    /* this broker's host: --host (on Kubernetes, the node name), else the
     * host name, else its short form */
    char host[256] = "";
    if (hostopt)
        snprintf (host, sizeof host, "%s", hostopt);
    else {
        gethostname (host, sizeof host - 1);
        char *dot = strchr (host, '.');
        if (config_rank_of (cfg, host) < 0 && dot)
            *dot = '\0';
    }
    json_t *members = NULL;
    if (rank < 0) {
        rank = config_rank_of (cfg, host);
        if (rank < 0 && cfg->size > cfg->nhosts) {   /* not listed: ask the lead for a rank */
            rank = overlay_join (cfg, host, address, cert, join_timeout, &members, err, sizeof err);
            if (rank < 0) {
                fprintf (stderr, "%s: join as %s: %s\n", prog, host, err);
                config_destroy (&cfg);
                return 1;
            }
        }
        else if (rank < 0) {
            fprintf (stderr, "%s: host '%s' is not in the config (use --rank)\n", prog, host);
            config_destroy (&cfg);
            return 1;
        }
    }
    else if (rank >= (long)cfg->nhosts && rank < (long)cfg->size) {
        fprintf (stderr, "%s: rank %ld has no host in the config: start without --rank to join\n", prog, rank);
        config_destroy (&cfg);
        return 1;
    }
    if (rank >= (long)cfg->size) {
        fprintf (stderr, "%s: rank %ld is not in the config (size %zu)\n", prog, rank, cfg->size);
        config_destroy (&cfg);
        return 1;
    }
    char defrun[4200];
    if (!rundir) {
        if (privdir_default_rundir ((unsigned)rank, defrun, sizeof defrun, err, sizeof err) < 0) {
            fprintf (stderr, "%s: run directory: %s\n", prog, err);
            config_destroy (&cfg);
            return 1;
        }
        rundir = defrun;
    }
    char defstate[4300];
    if (!statedir) {
        snprintf (defstate, sizeof defstate, "%s/state", rundir);
        statedir = defstate;
    }
    signal (SIGPIPE, SIG_IGN);
    /* chunks are 1 MiB messages: keep such buffers in the heap for reuse
     * instead of a fresh (zeroed) mmap per chunk */
    mallopt (M_MMAP_THRESHOLD, 64 << 20);
    mallopt (M_TRIM_THRESHOLD, 256 << 20);
    /* One malloc arena for the process.  The archive's background threads
     * (create, local extract) allocate the most; in a thread arena of their
     * own, much of what they free stays there (after a 100,000-file create
     * with the M_MMAP_THRESHOLD above, 23 of its 41 MB stayed resident
     * through malloc_trim; 4 with one arena) and the loop's next manifest
     * comes on top.  With one arena the loop reuses it
     * (bench/archive_mem.sh).  Those threads do little malloc work, so the
     * shared lock costs nothing measurable. */
    mallopt (M_ARENA_MAX, 1);
    sigset_t mask;
    sigemptyset (&mask);
    sigaddset (&mask, SIGTERM);
    sigaddset (&mask, SIGINT);
    sigaddset (&mask, SIGHUP);
    sigprocmask (SIG_BLOCK, &mask, NULL);
    int sfd = signalfd (-1, &mask, SFD_CLOEXEC);

    overlay_opts_t oo = { .config = cfg, .rank = rank, .rundir = rundir, .cert_path = cert,
                          .host = host, .address = address, .statedir = statedir, .members = members };
    overlay_t *ov = overlay_new (&oo, err, sizeof err);
    json_decref (members);
    if (!ov) {
        fprintf (stderr, "%s: %s\n", prog, err);
        config_destroy (&cfg);
        return 1;
    }
    services_t *svcs = services_new (ov, statedir, err, sizeof err);
    if (!svcs) {
        fprintf (stderr, "%s: %s\n", prog, err);
        overlay_destroy (&ov);
        config_destroy (&cfg);
        return 1;
    }
    if (kubernetes && services_watch_kube (svcs, ov, &ko, err, sizeof err) < 0) {
        fprintf (stderr, "%s: %s\n", prog, err);
        services_destroy (&svcs);
        overlay_destroy (&ov);
        config_destroy (&cfg);
        return 1;
    }
    health_t *health = NULL;
    if (health_addr) {
        /* the loop is dead for the probes after 3 heartbeat timeouts without a tick */
        if (!(health = health_new (health_addr, 3 * cfg->timeout + 2, err, sizeof err))) {
            fprintf (stderr, "%s: %s\n", prog, err);
            services_destroy (&svcs);
            overlay_destroy (&ov);
            config_destroy (&cfg);
            return 1;
        }
        static struct health_ctx hc;
        hc.h = health;
        hc.ov = ov;
        zloop_timer (overlay_loop (ov), 500, 0, health_tick, &hc);
    }
    zmq_pollitem_t it = { .fd = sfd, .events = ZMQ_POLLIN };
    zloop_poller (overlay_loop (ov), &it, on_signal, ov);
    struct joinwatch jw = { .ov = ov };
    if (join_timeout > 0 && rank > 0)
        zloop_timer (overlay_loop (ov), (size_t)(join_timeout * 1000), 1, on_join_timeout, &jw);
    overlay_log (ov, "up: %s (%s, size %u), local %s", overlay_hostname (ov, rank),
                 topo_spec (overlay_topo (ov)), overlay_size (ov), overlay_local_uri (ov));
    overlay_run (ov);
    int failed = jw.failed;
    if (overlay_fatal (ov)) {
        fprintf (stderr, "%s: %s\n", prog, overlay_fatal (ov));
        failed = 1;
    }
    health_destroy (&health);
    services_destroy (&svcs);
    overlay_destroy (&ov);
    config_destroy (&cfg);
    close (sfd);
    return failed ? 1 : 0;
}
