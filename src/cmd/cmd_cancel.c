/* cmd_cancel.c - canopy cancel [-m MESSAGE] ID...: raise a cancel exception
 * on each job (pending jobs end at once, running ones get SIGTERM, then
 * SIGKILL).  Exit 1 if any id was bad, unknown or already inactive. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"
#include "jobid.h"

int cmd_cancel (int argc, char **argv)
{
    static struct option opts[] = {
        { "message", required_argument, 0, 'm' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    const char *message = NULL;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long (argc, argv, "+:m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': message = optarg; break;
        case 'h': printf ("Usage: canopy cancel [-m MESSAGE] ID...\n"); return 0;
        case ':': die ("cancel: option %s needs a value", argv[optind - 1]);
        default: die ("cancel: unknown option '%.60s' (see canopy cancel --help)", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        die ("cancel: no job id given (Usage: canopy cancel [-m MESSAGE] ID...)");
    for (int i = optind; i < argc; i++) {
        jobid_t id;
        char err[512];
        if (jobid_parse (argv[i], &id, err, sizeof err) < 0)
            die ("cancel: %s", err);
    }
    client_t *cl = cmd_connect ();
    int rc = 0;
    for (int i = optind; i < argc; i++) {
        char err[512];
        json_t *req = json_pack ("{s:s}", "id", argv[i]);
        if (message)
            json_object_set_new (req, "message", json_string (message));
        json_t *r = client_call (cl, 0, "job.cancel", req, 30000, err, sizeof err);
        if (!r) {
            fprintf (stderr, "canopy: cancel: %s\n", err);
            rc = 1;
        }
        json_decref (r);
    }
    client_destroy (&cl);
    return rc;
}
