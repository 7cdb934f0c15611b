/* burst_command.c - the command burst provider, as Slurm's ResumeProgram
 * and SuspendProgram: the pool's settings.resume program is run with the
 * nodes' hostlist as its argument and the join settings in its environment
 * (below), and must arrange for a broker to start on each host with
 * `canopy-broker --config CONFIG --host HOST` (any cloud can be scripted);
 * settings.suspend is run the same way on release.  A resume program that
 * exits non-zero fails its nodes at once.
 *   CANOPY_BURST_POOL     the pool's name
 *   CANOPY_BURST_CLUSTER  <pool>-<hash>, the external cluster's name
 *   CANOPY_BURST_HOSTS    the hostlist (also $1)
 *   CANOPY_BURST_HOSTNAMES the same names, separated by spaces
 *   CANOPY_BURST_RANKS    the ranks they take (an idset, in hostlist order)
 *   CANOPY_BURST_LEAD     the lead's endpoint
 *   CANOPY_BURST_CONFIG   the instance config's path
 *   CANOPY_BURST_CERT     the instance certificate's path */
#define _GNU_SOURCE
#include "burstprov.h"
#include "errquote.h"
#include "hostlist.h"
#include "idset.h"
#include "xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pid_t run (const burst_ctx_t *c, const char *which, burst_ref_t *nodes, size_t n, char *err, size_t errlen)
{
    const char *prog = json_string_value (json_object_get (c->pool->settings, which));
    char **hosts = xcalloc (n + 1, sizeof *hosts);
    idset_t *ranks = idset_new ();
    for (size_t i = 0; i < n; i++) {
        hosts[i] = (char *)nodes[i].host;
        idset_set (ranks, nodes[i].rank);
    }
    char *hl = hostlist_compress (hosts, n);
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        total += strlen (hosts[i]) + 1;
    char *names = xcalloc (total, 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat (names, " ");
        strcat (names, hosts[i]);
    }
    char *rk = idset_encode (ranks);
    free (hosts);
    idset_destroy (&ranks);
    char *env[] = {
        xasprintf ("CANOPY_BURST_POOL=%s", c->pool->name), xasprintf ("CANOPY_BURST_CLUSTER=%s", c->cluster),
        xasprintf ("CANOPY_BURST_HOSTS=%s", hl ? hl : ""),  xasprintf ("CANOPY_BURST_RANKS=%s", rk ? rk : ""),
        xasprintf ("CANOPY_BURST_LEAD=%s", c->lead),       xasprintf ("CANOPY_BURST_CONFIG=%s", c->config),
        xasprintf ("CANOPY_BURST_CERT=%s", c->cert),       xasprintf ("CANOPY_BURST_HOSTNAMES=%s", names),
        NULL,
    };
    char log[4200];
    snprintf (log, sizeof log, "%s/%s.%s.log", c->workdir, c->cluster, which);
    char *argv[] = { (char *)prog, hl ? hl : "", NULL };
    pid_t pid = burst_spawn (argv, env, log, NULL, err, errlen);
    /* putenv keeps the strings in the child only: ours can go */
    for (size_t i = 0; env[i]; i++)
        free (env[i]);
    free (hl);
    free (rk);
    free (names);
    return pid;
}

static int command_start (const burst_ctx_t *c, burst_ref_t *nodes, size_t n, char *err, size_t errlen)
{
    pid_t pid = run (c, "resume", nodes, n, err, errlen);
    if (pid < 0)
        return -1;
    burst_handles_set_pid (nodes, n, "resume_pid", pid);
    return 0;
}

static int command_stop (const burst_ctx_t *c, burst_ref_t *nodes, size_t n, char *err, size_t errlen)
{
    return run (c, "suspend", nodes, n, err, errlen) < 0 ? -1 : 0;
}

static int command_check (const burst_ctx_t *c, const burst_ref_t *node, char *err, size_t errlen)
{
    char why[128];
    if (burst_check_pid (node, "resume_pid", why, sizeof why) < 0)
        return errfail (err, errlen, "the resume program %s (log %s/%s.resume.log)", why, c->workdir, c->cluster);
    return 0;
}

const burst_prov_t burst_command = { "command", command_start, command_stop, command_check, NULL, false };
