/* canopy.c - the canopy command line: dispatch to a subcommand. */
#include <stdio.h>
#include <string.h>
#include "cmd.h"

struct subcmd {
    const char *name;
    int (*fn) (int argc, char **argv);
    const char *help;
};

static const struct subcmd cmds[] = {
    { "start", cmd_start, "start a local instance of N brokers and run a command in it" },
    { "overlay", cmd_overlay, "show the live tree (overlay status)" },
    { "exec", cmd_exec, "run a command on a set of ranks" },
    { "ping", cmd_ping, "measure round-trip time to a rank" },
    { "topo", cmd_topo, "draw or enumerate tree topologies" },
    { "keygen", cmd_keygen, "create the instance's CURVE certificate" },
    { "archive", cmd_archive, "create, distribute, extract, list and remove archives" },
    { "image", cmd_image, "pull, import, list and remove container images (node-local store)" },
    { "submit", cmd_submit, "submit a job (prints its id)" },
    { "run", cmd_run, "run a job, follow its output, exit with its exit code" },
    { "jobs", cmd_jobs, "list jobs" },
    { "job", cmd_job, "attach to, inspect or submit a job (attach, last, info, submit)" },
    { "cancel", cmd_cancel, "cancel jobs" },
    { "resource", cmd_resource, "list the instance's resources (free, allocated, down)" },
    { "burst", cmd_burst, "burst pools: list, stop POOL, render POOL" },
    { "kube", cmd_kube, "discover Kubernetes nodes and print the broker config (kube config, watch)" },
    { "match", cmd_match, "match jobspecs against a resource graph (resource-query)" },
    { NULL, NULL, NULL },
};

static void usage (FILE *f)
{
    fprintf (f, "Usage: canopy COMMAND [ARGS...]\n       canopy --version\n\nCommands:\n");
    for (const struct subcmd *c = cmds; c->name; c++)
        fprintf (f, "  %-10s %s\n", c->name, c->help);
}

int main (int argc, char **argv)
{
    if (argc < 2) {
        usage (stderr);
        return 1;
    }
    if (!strcmp (argv[1], "-h") || !strcmp (argv[1], "--help") || !strcmp (argv[1], "help")) {
        usage (stdout);
        return 0;
    }
    if (!strcmp (argv[1], "--version") || !strcmp (argv[1], "-V")) {
        printf ("canopy %s\n", CANOPY_VERSION);
        return 0;
    }
    for (const struct subcmd *c = cmds; c->name; c++)
        if (!strcmp (argv[1], c->name))
            return c->fn (argc - 1, argv + 1);
    fprintf (stderr, "canopy: unknown command '%s' (see canopy --help)\n", argv[1]);
    return 1;
}

/* The matcher's front end lives in cmd_match.c; until it is built, say so. */
__attribute__ ((weak)) int cmd_match (int argc, char **argv)
{
    fprintf (stderr, "canopy: match is not built into this binary\n");
    return 1;
}
