/* burst_local.c - the local burst provider: a pool node is a broker started
 * on this machine (the same canopy-broker, config and certificate, or the
 * pool's settings.cert) that joins the instance as a remote host would:
 * `--host <cluster>-<index>`, asking the lead for its rank over CURVE.  It
 * runs in a session of its own with its run directory under
 * STATEDIR/burst/<host>, so a restart of rank 0 leaves it running.  Not in
 * network namespaces (yet): on loopback or ipc:// endpoints, as the config
 * says.  What `canopy start --burst local:M` and the tests use. */
#define _GNU_SOURCE
#include "burstprov.h"
#include "errquote.h"
#include "privdir.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static int local_start (const burst_ctx_t *c, burst_ref_t *nodes, size_t n, char *err, size_t errlen)
{
    const char *cert = json_string_value (json_object_get (c->pool->settings, "cert"));
    for (size_t i = 0; i < n; i++) {
        char dir[4096], run[4200], log[4200];
        snprintf (dir, sizeof dir, "%s/%s", c->workdir, nodes[i].host);
        snprintf (run, sizeof run, "%s/run", dir);
        snprintf (log, sizeof log, "%s/log", dir);
        char perr[512];
        if (privdir_ensure (dir, perr, sizeof perr) < 0 || privdir_ensure (run, perr, sizeof perr) < 0)
            return errfail (err, errlen, "%s", perr);
        char *argv[12];
        int k = 0;
        argv[k++] = (char *)c->broker;
        argv[k++] = "--config";
        argv[k++] = (char *)c->config;
        argv[k++] = "--host";
        argv[k++] = (char *)nodes[i].host;
        argv[k++] = "--rundir";
        argv[k++] = run;
        argv[k++] = "--cert";
        argv[k++] = (char *)(cert ? cert : c->cert);
        argv[k] = NULL;
        pid_t pid = burst_spawn (argv, NULL, log, NULL, err, errlen);
        if (pid < 0)
            return -1;
        json_decref (nodes[i].handle);
        nodes[i].handle = json_pack ("{s:i s:s}", "pid", (int)pid, "log", log);
    }
    return 0;
}

static int local_stop (const burst_ctx_t *c, burst_ref_t *nodes, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        pid_t pid = (pid_t)json_integer_value (json_object_get (nodes[i].handle, "pid"));
        if (pid > 0 && is_ours (pid, nodes[i].host))
            kill (pid, SIGTERM);
    }
    burst_proc_reap ();
    return 0;
}

static int local_check (const burst_ctx_t *c, const burst_ref_t *node, char *err, size_t errlen)
{
    pid_t pid = (pid_t)json_integer_value (json_object_get (node->handle, "pid"));
    char why[128];
    if (pid > 0 && burst_proc_status (pid, why, sizeof why) < 0)
        return errfail (err, errlen, "its broker %s (log %s)", why,
                        json_string_value (json_object_get (node->handle, "log")));
    return 0;
}

const burst_prov_t burst_local = { "local", local_start, local_stop, local_check };
