/* cmd_kube.c - canopy kube config|watch: node discovery through the
 * Kubernetes API with the in-cluster settings (doc/kubernetes.md), run once,
 * so an operator sees what canopy sees. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"
#include "xalloc.h"
#include "kubeapi.h"
#include "kubenodes.h"

static const char usage_text[] =
    "Usage: canopy kube config [--selector LABELS] [--include-control-plane] [--lead NODE]\n"
    "                          [--port P] [--topo SPEC] [--cert PATH] [--size N]\n"
    "       canopy kube watch [--selector LABELS] [--timeout SECS] [--count N]\n"
    "  config: list the nodes once and print the broker config canopy would start with\n"
    "  watch:  list, then print node changes as they come (relisting after 410 Gone)\n"
    "  Settings as in a pod: KUBERNETES_SERVICE_HOST/PORT and the service-account token and\n"
    "  ca.crt (CANOPY_KUBE_SA_DIR overrides /var/run/secrets/kubernetes.io/serviceaccount).\n";

/* A whole number lo..hi given to an option, or dies with msg. */
static long num_arg (const char *arg, long lo, long hi, const char *msg)
{
    char *end;
    errno = 0;
    long v = strtol (arg, &end, 10);
    if (end == arg || *end || errno || v < lo || v > hi)
        die ("%s", msg);
    return v;
}

/* The Kubernetes API with the in-cluster settings, or dies. */
static kubeapi_t *kube_connect (void)
{
    char err[512];
    kubeapi_t *k = kubeapi_new_incluster (err, sizeof err);
    if (!k)
        die ("%s", err);
    return k;
}

static int kube_config (int argc, char **argv)
{
    static const struct option opts[] = {
        { "selector", required_argument, 0, 'l' }, { "include-control-plane", no_argument, 0, 'C' },
        { "lead", required_argument, 0, 'L' },     { "port", required_argument, 0, 'p' },
        { "topo", required_argument, 0, 't' },     { "cert", required_argument, 0, 'c' },
        { "size", required_argument, 0, 'n' },     { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    kube_render_opts_t o = { .port = 8050 };
    const char *selector = NULL;
    int ch;
    optind = 1;
    while ((ch = getopt_long (argc, argv, "l:CL:p:t:c:n:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'l': selector = optarg; break;
        case 'C': o.include_control_plane = true; break;
        case 'L': o.lead = optarg; break;
        case 'p': o.port = (int)num_arg (optarg, 1, 65535, "kube config: --port must be 1..65535"); break;
        case 't': o.topology = optarg; break;
        case 'c': o.cert = optarg; break;
        case 'n': o.size = (size_t)num_arg (optarg, 1, 1000000, "kube config: --size must be 1..1000000"); break;
        case 'h': fputs (usage_text, stdout); return 0;
        default: die ("kube config: see canopy kube --help");
        }
    }
    if (optind < argc)
        die ("kube config: unexpected argument %s", argv[optind]);
    char err[512];
    kubeapi_t *k = kube_connect ();
    kube_nodeset_t s = { 0 };
    char *rv = NULL;
    if (kubeapi_list_nodes (k, selector, &s, &rv, err, sizeof err) < 0)
        die ("%s", err);
    o.source = kubeapi_server (k);
    char *text = kube_config_render (&s, &o, err, sizeof err);
    if (!text)
        die ("%s", err);
    fputs (text, stdout);
    free (text);
    free (rv);
    kube_nodeset_clear (&s);
    kubeapi_destroy (&k);
    return 0;
}

struct watch_state {
    kube_nodeset_t *s;
    char **rv;
    long count, seen;
    int relist;
};

static void print_node (char op, const kube_node_t *n)
{
    printf ("%c %s %s%s%s%s\n", op, n->name, n->addr, n->ready ? " ready" : " not-ready",
            n->control_plane ? " control-plane" : "", n->leaving ? " leaving" : "");
}

static int on_event (const kube_event_t *ev, void *arg)
{
    struct watch_state *w = arg;
    if (ev->type == KUBE_ERROR) {
        if (ev->code == 410) {   /* too old: list again */
            printf ("# 410 Gone: relisting\n");
            w->relist = 1;
            return 1;
        }
        fprintf (stderr, "canopy: kube watch: API error %d: %s\n", ev->code, ev->message);
        return 2;
    }
    free (*w->rv);
    *w->rv = xstrdup (ev->rv);
    if (ev->type == KUBE_BOOKMARK) {
        printf ("# bookmark %s\n", ev->rv);
    } else {
        kube_node_t n = { .name = xstrdup (ev->node.name), .addr = xstrdup (ev->node.addr),
                          .ready = ev->node.ready, .control_plane = ev->node.control_plane,
                          .leaving = ev->node.leaving, .lead = ev->node.lead };
        if (ev->type == KUBE_DELETED) {
            if (kube_nodeset_del (w->s, n.name))
                print_node ('-', &n);
            kube_node_clear (&n);
        } else {
            const kube_node_t *old = kube_nodeset_get (w->s, n.name);
            char op = old ? '~' : '+';
            if (old && old->ready == n.ready && old->leaving == n.leaving && !strcmp (old->addr, n.addr))
                op = 0;   /* a change canopy does not care about (status heartbeat) */
            if (op)
                print_node (op, &n);
            kube_nodeset_put (w->s, &n);
        }
    }
    fflush (stdout);
    w->seen++;
    return w->count && w->seen >= w->count ? 3 : 0;
}

static int kube_watch (int argc, char **argv)
{
    static const struct option opts[] = {
        { "selector", required_argument, 0, 'l' }, { "timeout", required_argument, 0, 'T' },
        { "count", required_argument, 0, 'n' },    { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    const char *selector = NULL;
    int timeout = 0;
    long count = 0;
    int ch;
    optind = 1;
    while ((ch = getopt_long (argc, argv, "l:T:n:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'l': selector = optarg; break;
        case 'T':
            timeout = (int)num_arg (optarg, 1, INT_MAX, "kube watch: --timeout must be a whole number of seconds >= 1");
            break;
        case 'n': count = num_arg (optarg, 1, LONG_MAX, "kube watch: --count must be >= 1"); break;
        case 'h': fputs (usage_text, stdout); return 0;
        default: die ("kube watch: see canopy kube --help");
        }
    }
    char err[512];
    kubeapi_t *k = kube_connect ();
    kube_nodeset_t s = { 0 };
    char *rv = NULL;
    struct watch_state w = { .s = &s, .rv = &rv, .count = count };
    double deadline = timeout ? cmd_now () + timeout : 0;
    int list = 1;
    for (;;) {
        if (list) {
            kube_nodeset_clear (&s);
            free (rv);
            rv = NULL;
            if (kubeapi_list_nodes (k, selector, &s, &rv, err, sizeof err) < 0)
                die ("%s", err);
            printf ("# listed %zu nodes at resourceVersion %s\n", s.n, rv ? rv : "?");
            for (size_t i = 0; i < s.n; i++)
                print_node ('=', &s.v[i]);
            fflush (stdout);
        }
        int left = deadline ? (int)(deadline - cmd_now () + 0.999) : 0;
        if (deadline && left <= 0)
            break;
        w.relist = 0;
        int rc = kubeapi_watch_nodes (k, selector, rv, left, on_event, &w, err, sizeof err);
        if (rc < 0)
            die ("%s", err);
        if (rc == 2)
            exit (1);
        if (rc == 3 || (deadline && cmd_now () >= deadline))
            break;
        list = w.relist;   /* else the server ended the stream: watch on from rv */
    }
    free (rv);
    kube_nodeset_clear (&s);
    kubeapi_destroy (&k);
    return 0;
}

int cmd_kube (int argc, char **argv)
{
    if (argc < 2 || !strcmp (argv[1], "--help") || !strcmp (argv[1], "-h")) {
        fputs (usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    if (!strcmp (argv[1], "config"))
        return kube_config (argc - 1, argv + 1);
    if (!strcmp (argv[1], "watch"))
        return kube_watch (argc - 1, argv + 1);
    die ("kube: unknown subcommand %s (config, watch)", argv[1]);
}
