/* burst_local.c - the local burst provider: a pool node is a broker started
 * on this machine (the same canopy-broker, config and certificate, or the
 * pool's settings.cert) that joins the instance as a remote host would:
 * `--host <cluster>-<index>`, asking the lead for its rank over CURVE.  It
 * runs in a session of its own with its run directory under
 * STATEDIR/burst/<host>, so a restart of rank 0 leaves it running.  As
 * root (and unless settings.netns is false) each node gets a network
 * namespace of its own joined to this one by a veth pair with addresses
 * from settings.subnet, and its broker runs in it; when the instance's
 * endpoints cannot be reached from a namespace (ipc:// or loopback), the
 * brokers run here with one warning line.  See doc/bursting.md.  What
 * `canopy start --burst local:M` and the tests use. */
#define _GNU_SOURCE
#include "burstprov.h"
#include "errquote.h"
#include "fnv.h"
#include "privdir.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

/* pid still runs a broker for host (a pid may have been reused) */
static bool is_ours (pid_t pid, const char *host)
{
    char path[64], buf[4096];
    snprintf (path, sizeof path, "/proc/%d/cmdline", (int)pid);
    FILE *f = fopen (path, "r");
    if (!f)
        return false;
    size_t n = fread (buf, 1, sizeof buf - 1, f);
    fclose (f);
    for (size_t i = 0; i + 1 < n; i += strlen (buf + i) + 1)
        if (!strcmp (buf + i, "--host") && i + 7 < n && !strcmp (buf + i + 7, host))
            return true;
    return false;
}

/* -- can a namespace reach the instance? -------------------------------- */

/* "tcp://HOST:PORT" -> HOST (brackets kept out); false if not tcp:// */
static bool tcp_host (const char *ep, char *out, size_t len)
{
    if (!ep || strncmp (ep, "tcp://", 6))
        return false;
    const char *h = ep + 6, *colon = strrchr (h, ':');
    size_t n = colon ? (size_t)(colon - h) : strlen (h);
    if (n == 0 || n >= len)
        return false;
    memcpy (out, h, n);
    out[n] = '\0';
    return true;
}

/* HOST is (or resolves to) IPv4 addresses none of which is loopback */
static bool not_loopback (const char *host)
{
    struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res = NULL;
    if (getaddrinfo (host, NULL, &hints, &res) != 0 || !res)
        return false;
    bool ok = true;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        uint32_t ip = ntohl (((struct sockaddr_in *)a->ai_addr)->sin_addr.s_addr);
        if ((ip >> 24) == 127 || ip == 0)
            ok = false;
    }
    freeaddrinfo (res);
    return ok;
}

/* NULL if every listed host can be reached from a namespace, else why not */
static const char *unreachable (const config_t *cfg, char *why, size_t len)
{
    if (!cfg)
        return "the instance config is not known";
    if (!cfg->default_connect || strncmp (cfg->default_connect, "tcp://", 6) || !strstr (cfg->default_connect, "%h")) {
        snprintf (why, len, "default_connect '%s' is not a tcp://%%h template", cfg->default_connect ? cfg->default_connect : "");
        return why;
    }
    for (size_t i = 0; i < cfg->nhosts; i++) {
        char h[256];
        const config_host_t *ch = &cfg->hosts[i];
        if (!tcp_host (ch->connect, h, sizeof h) || !not_loopback (h)) {
            snprintf (why, len, "host %s connects at %s (not a tcp:// address off loopback)", ch->host, ch->connect);
            return why;
        }
        if (!tcp_host (ch->bind, h, sizeof h) || (strcmp (h, "*") && strcmp (h, "0.0.0.0") && !not_loopback (h))) {
            snprintf (why, len, "host %s binds %s (not a wildcard or an address off loopback)", ch->host, ch->bind);
            return why;
        }
    }
    return NULL;
}

/* namespaces for this pool: root, not opted out, and reachable; else NULL
 * (and *why says why not, when it is worth a warning) */
static bool use_netns (const burst_ctx_t *c, char *why, size_t len)
{
    *why = '\0';
    json_t *nn = json_object_get (c->pool->settings, "netns");
    if (geteuid () != 0 || (nn && json_is_false (nn)))
        return false;
    return unreachable (c->cfg, why, len) == NULL;
}

/* -- one node's namespace ----------------------------------------------- */

struct nsnames {
    char ns[128], veth[16], host_ip[16], ns_ip[16], host_cidr[24], ns_cidr[24];
};

static int names_of (const burst_ctx_t *c, const burst_ref_t *node, struct nsnames *nm, char *err, size_t errlen)
{
    const char *subnet = json_string_value (json_object_get (c->pool->settings, "subnet"));
    uint32_t net;
    if (burst_subnet_parse (subnet ? subnet : BURST_SUBNET_DEFAULT, c->pool->size, &net, err, errlen) < 0)
        return -1;
    snprintf (nm->ns, sizeof nm->ns, "%s-%08x", node->host, (unsigned)(fnv1a_str (c->workdir) & 0xffffffffu));
    snprintf (nm->veth, sizeof nm->veth, "cb%012llx", (unsigned long long)(fnv1a_str (nm->ns) & 0xffffffffffffULL));
    uint32_t h = net + 4 * node->index + 1, n = h + 1;
    snprintf (nm->host_ip, sizeof nm->host_ip, "%u.%u.%u.%u", h >> 24, h >> 16 & 255, h >> 8 & 255, h & 255);
    snprintf (nm->ns_ip, sizeof nm->ns_ip, "%u.%u.%u.%u", n >> 24, n >> 16 & 255, n >> 8 & 255, n & 255);
    snprintf (nm->host_cidr, sizeof nm->host_cidr, "%s/30", nm->host_ip);
    snprintf (nm->ns_cidr, sizeof nm->ns_cidr, "%s/30", nm->ns_ip);
    return 0;
}

/* a name this provider makes: [a-z0-9-], starting with prefix, short */
static bool our_name (const char *s, const char *prefix, size_t max)
{
    if (!s || strncmp (s, prefix, strlen (prefix)) || strlen (s) > max)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return false;
    return true;
}

/* remove a node's veth and namespace; what is not there is fine */
static void ns_remove (const char *ns, const char *veth)
{
    char e[64];
    if (veth && *veth) {
        char *a[] = { "ip", "link", "del", (char *)veth, NULL };
        burst_run (a, e, sizeof e);
    }
    if (ns && *ns) {
        char *a[] = { "ip", "netns", "del", (char *)ns, NULL };
        burst_run (a, e, sizeof e);
    }
}

static int ns_make (const struct nsnames *nm, char *err, size_t errlen)
{
    ns_remove (nm->ns, nm->veth);   /* left by a crash before its handle was saved */
    char *const steps[][12] = {
        { "ip", "netns", "add", (char *)nm->ns, NULL },
        { "ip", "link", "add", (char *)nm->veth, "type", "veth", "peer", "name", "veth0", "netns", (char *)nm->ns, NULL },
        { "ip", "addr", "add", (char *)nm->host_cidr, "dev", (char *)nm->veth, NULL },
        { "ip", "link", "set", (char *)nm->veth, "up", NULL },
        { "ip", "-n", (char *)nm->ns, "addr", "add", (char *)nm->ns_cidr, "dev", "veth0", NULL },
        { "ip", "-n", (char *)nm->ns, "link", "set", "veth0", "up", NULL },
        { "ip", "-n", (char *)nm->ns, "link", "set", "lo", "up", NULL },
        { "ip", "-n", (char *)nm->ns, "route", "add", "default", "via", (char *)nm->host_ip, NULL },
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (burst_run (steps[i], err, errlen) < 0) {
            ns_remove (nm->ns, nm->veth);
            return -1;
        }
    return 0;
}

/* -- the provider ------------------------------------------------------- */

static int start_one (const burst_ctx_t *c, burst_ref_t *node, bool netns, char *err, size_t errlen)
{
    const char *cert = json_string_value (json_object_get (c->pool->settings, "cert"));
    char dir[4096], run[4200], log[4200];
    snprintf (dir, sizeof dir, "%s/%s", c->workdir, node->host);
    snprintf (run, sizeof run, "%s/run", dir);
    snprintf (log, sizeof log, "%s/log", dir);
    char perr[512];
    if (privdir_ensure (dir, perr, sizeof perr) < 0 || privdir_ensure (run, perr, sizeof perr) < 0)
        return errfail (err, errlen, "%s", perr);
    struct nsnames nm;
    if (netns && (names_of (c, node, &nm, err, errlen) < 0 || ns_make (&nm, err, errlen) < 0))
        return -1;
    char *argv[20];
    int k = 0;
    if (netns) {
        argv[k++] = "ip";
        argv[k++] = "netns";
        argv[k++] = "exec";
        argv[k++] = nm.ns;
    }
    argv[k++] = (char *)c->broker;
    argv[k++] = "--config";
    argv[k++] = (char *)c->config;
    argv[k++] = "--host";
    argv[k++] = (char *)node->host;
    argv[k++] = "--rundir";
    argv[k++] = run;
    argv[k++] = "--cert";
    argv[k++] = (char *)(cert ? cert : c->cert);
    char lo[24];
    const char *db = c->cfg ? c->cfg->default_bind : NULL;
    if (netns) {
        argv[k++] = "--address";
        argv[k++] = nm.ns_ip;
    }
    else if (db && !strncmp (db, "tcp://", 6) && strstr (db, "%h")) {
        /* tcp:// endpoints here: a loopback address of its own, from its rank */
        uint32_t r = node->rank + 1;
        snprintf (lo, sizeof lo, "127.%u.%u.%u", 100 + (r >> 16), r >> 8 & 255, r & 255);
        argv[k++] = "--address";
        argv[k++] = lo;
    }
    argv[k] = NULL;
    pid_t pid = burst_spawn (argv, NULL, log, NULL, err, errlen);
    if (pid < 0) {
        if (netns)
            ns_remove (nm.ns, nm.veth);
        return -1;
    }
    json_decref (node->handle);
    node->handle = json_pack ("{s:i s:s}", "pid", (int)pid, "log", log);
    if (netns)
        json_object_update_new (node->handle, json_pack ("{s:s s:s s:s}", "netns", nm.ns, "veth", nm.veth, "address",
                                                         nm.ns_ip));
    return 0;
}

static int local_start (const burst_ctx_t *c, burst_ref_t *nodes, size_t n, char *err, size_t errlen)
{
    char why[512];
    bool netns = use_netns (c, why, sizeof why);
    if (!netns && *why && c->warn) {
        char msg[700];
        snprintf (msg, sizeof msg, "burst: pool %s: pool brokers run in this network namespace: %s", c->pool->name, why);
        c->warn (c->warn_arg, msg);
    }
    for (size_t i = 0; i < n; i++)
        if (start_one (c, &nodes[i], netns, err, errlen) < 0)
            return -1;   /* the manager stops the nodes started before (their handles are set) */
    return 0;
}

static int local_stop (const burst_ctx_t *c, burst_ref_t *nodes, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        pid_t pid = (pid_t)json_integer_value (json_object_get (nodes[i].handle, "pid"));
        if (pid > 0 && is_ours (pid, nodes[i].host))
            kill (pid, SIGTERM);
        /* what its start made, as the handle in the job store says (names checked: ip gets them) */
        const char *ns = json_string_value (json_object_get (nodes[i].handle, "netns"));
        const char *veth = json_string_value (json_object_get (nodes[i].handle, "veth"));
        char prefix[160];
        snprintf (prefix, sizeof prefix, "%s-", nodes[i].host);
        ns_remove (our_name (ns, prefix, 127) ? ns : NULL, our_name (veth, "cb", 15) ? veth : NULL);
    }
    burst_proc_reap ();
    return 0;
}

static int local_check (const burst_ctx_t *c, const burst_ref_t *node, char *err, size_t errlen)
{
    char why[128];
    if (burst_check_pid (node, "pid", why, sizeof why) < 0)
        return errfail (err, errlen, "its broker %s (log %s)", why,
                        json_string_value (json_object_get (node->handle, "log")));
    return 0;
}

const burst_prov_t burst_local = { "local", local_start, local_stop, local_check, NULL, false };
