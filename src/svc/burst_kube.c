/* burst_kube.c - the kubernetes burst provider: the pool's Secret and
 * StatefulSet (src/lib/burstkube.c) applied with kubectl against the
 * kubeconfig in the pool's settings; the StatefulSet is scaled to the
 * nodes wanted, and both are deleted when the last node is released.
 * Settings: kubeconfig (required), namespace, image, kubectl (the program,
 * default "kubectl").  The objects are written to STATEDIR/burst/<cluster>.json
 * (mode 0600: the Secret holds the certificate) for kubectl to read, as a
 * stream of two JSON objects, not a v1 List: kubectl cannot leave the
 * validation of a List to the server and would need the OpenAPI v2 schema.
 * One kubectl at a time per cluster: a change asked for while one runs
 * (an apply, then the delete of a release) waits for it and is made on a
 * later tick (poll) with the nodes wanted then, so the last word is the
 * cluster's state, never the order two kubectls happened to finish in. */
#define _GNU_SOURCE
#include "burstkube.h"
#include "burstprov.h"
#include "errquote.h"
#include "readfile.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int write_objects (const burst_ctx_t *c, const char *path, char *err, size_t errlen)
{
    size_t len;
    char *cert = read_file (c->cert, 1 << 20, &len, err, errlen);
    if (!cert)
        return -1;
    char *cfg = read_file (c->config, 64u << 20, &len, err, errlen);
    if (!cfg) {
        free (cert);
        return -1;
    }
    json_t *objs = burst_kube_render (c->pool, c->replicas, c->lead, cfg, cert);
    free (cert);
    free (cfg);
    char tmp[4300];
    snprintf (tmp, sizeof tmp, "%s.tmp", path);
    unlink (tmp);
    int fd = open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    int rc = fd >= 0 && objs ? 0 : -1;
    size_t i;
    json_t *item;
    json_array_foreach (json_object_get (objs, "items"), i, item)
        if (rc == 0 && (json_dumpfd (item, fd, JSON_INDENT (1)) < 0 || write (fd, "\n", 1) != 1))
            rc = -1;
    if (fd >= 0 && close (fd) < 0)
        rc = -1;
    json_decref (objs);
    if (rc < 0 || rename (tmp, path) < 0) {
        unlink (tmp);
        return errfail (err, errlen, "cannot write %s: %s", path, strerror (errno));
    }
    return 0;
}

#define NCLUSTERS 64

/* the kubectl running for a cluster, and whether a change waits for it */
static struct kstate {
    char cluster[64];
    pid_t pid;
    bool pending;
    char verb[8];
} kstates[NCLUSTERS];

static struct kstate *kstate_of (const char *cluster)
{
    struct kstate *free_slot = NULL;
    for (int i = 0; i < NCLUSTERS; i++) {
        if (!strcmp (kstates[i].cluster, cluster))
            return &kstates[i];
        if (!free_slot && !kstates[i].cluster[0])
            free_slot = &kstates[i];
    }
    if (free_slot)
        snprintf (free_slot->cluster, sizeof free_slot->cluster, "%s", cluster);
    return free_slot;   /* NULL: more pools than NCLUSTERS (kubectls are then not serialized) */
}

static pid_t kubectl (const burst_ctx_t *c, const char *verb, char *err, size_t errlen)
{
    const char *prog = json_string_value (json_object_get (c->pool->settings, "kubectl"));
    const char *kc = json_string_value (json_object_get (c->pool->settings, "kubeconfig"));
    char path[4200], log[4200];
    snprintf (path, sizeof path, "%s/%s.json", c->workdir, c->cluster);
    snprintf (log, sizeof log, "%s/%s.kubectl.log", c->workdir, c->cluster);
    if (strcmp (verb, "delete") && write_objects (c, path, err, errlen) < 0)
        return -1;
    char *argv[] = { (char *)(prog ? prog : "kubectl"), "--kubeconfig", (char *)kc, (char *)verb, "-f", path,
                     !strcmp (verb, "delete") ? "--ignore-not-found" : NULL, NULL };
    return burst_spawn (argv, NULL, log, NULL, err, errlen);
}

/* Bring the cluster to c->replicas (apply, or delete at 0) now, or after
 * the kubectl still running: the pid started, 0 if deferred, -1 + err. */
static pid_t sync_cluster (const burst_ctx_t *c, char *err, size_t errlen)
{
    struct kstate *k = kstate_of (c->cluster);
    char why[128];
    if (k && k->pid > 0 && burst_proc_status (k->pid, why, sizeof why) == 1) {
        k->pending = true;
        return 0;
    }
    const char *verb = c->replicas ? "apply" : "delete";
    pid_t pid = kubectl (c, verb, err, errlen);
    if (k) {
        k->pending = false;
        k->pid = pid > 0 ? pid : 0;
        snprintf (k->verb, sizeof k->verb, "%s", verb);
    }
    return pid;
}

static int kube_start (const burst_ctx_t *c, burst_ref_t *nodes, size_t n, char *err, size_t errlen)
{
    pid_t pid = sync_cluster (c, err, errlen);
    if (pid < 0)
        return -1;
    burst_handles_set_pid (nodes, n, "kubectl_pid", pid);   /* 0 (deferred): its failure is not known here */
    return 0;
}

static int kube_stop (const burst_ctx_t *c, burst_ref_t *nodes, size_t n, char *err, size_t errlen)
{
    return sync_cluster (c, err, errlen) < 0 ? -1 : 0;
}

/* every tick: report the kubectl that ended with an error; make the change that waited */
static void kube_poll (const burst_ctx_t *c)
{
    struct kstate *k = kstate_of (c->cluster);
    char why[128], msg[700];
    if (!k || k->pid <= 0)
        return;
    int st = burst_proc_status (k->pid, why, sizeof why);
    if (st == 1)
        return;
    if (st < 0 && c->warn) {
        snprintf (msg, sizeof msg, "burst: pool %s: kubectl %s %s (log %s/%s.kubectl.log)", c->pool->name, k->verb, why,
                  c->workdir, c->cluster);
        c->warn (c->warn_arg, msg);
    }
    k->pid = 0;
    if (k->pending) {
        char err[512];
        if (sync_cluster (c, err, sizeof err) < 0 && c->warn) {
            snprintf (msg, sizeof msg, "burst: pool %s: %s", c->pool->name, err);
            c->warn (c->warn_arg, msg);
        }
    }
}

static int kube_check (const burst_ctx_t *c, const burst_ref_t *node, char *err, size_t errlen)
{
    char why[128];
    if (burst_check_pid (node, "kubectl_pid", why, sizeof why) < 0)
        return errfail (err, errlen, "kubectl apply %s (log %s/%s.kubectl.log)", why, c->workdir, c->cluster);
    return 0;
}

const burst_prov_t burst_kube = { "kubernetes", kube_start, kube_stop, kube_check, kube_poll, true };
