/* cmd_resource.c - canopy resource list: the instance's resources by state
 * (free, allocated, down; burst and starting for burst pools' nodes) as
 * flux resource list prints them; canopy
 * resource R: the instance's resource set as R (RFC 20), as flux resource R. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"

int cmd_resource (int argc, char **argv)
{
    bool json = false, rout = false;
    int i = 1;
    if (cmd_help_asked (argc, argv)) {   /* also canopy resource list --help */
        printf ("Usage: canopy resource list [--json]\n       canopy resource R\n");
        return 0;
    }
    if (argc >= 2 && !strcmp (argv[1], "list"))
        i = 2;
    else if (argc >= 2 && !strcmp (argv[1], "R")) {
        i = 2;
        rout = true;
        if (argc > 2)
            die ("resource R: unexpected argument '%.60s'", argv[2]);
    }
    else if (argc >= 2 && argv[1][0] != '-')
        die ("resource: unknown subcommand '%.40s' (list, R)", argv[1]);
    for (; i < argc; i++) {
        if (!strcmp (argv[i], "--json"))
            json = true;
        else
            die ("resource list: unknown option '%.60s' (--json)", argv[i]);
    }
    client_t *cl = cmd_connect ();
    char err[512];
    json_t *r = client_call (cl, 0, "resource.list", json_object (), 30000, err, sizeof err);
    if (!r)
        die ("resource list: %s", err);
    if (rout) {
        char *s = json_dumps (json_object_get (r, "R"), JSON_COMPACT);
        if (!s)
            die ("resource R: the instance's R is missing from the answer");
        printf ("%s\n", s);
        free (s);
    }
    else if (json) {
        json_object_del (r, "R");
        char *s = json_dumps (r, JSON_INDENT (2));
        printf ("%s\n", s);
        free (s);
    }
    else {
        /* burst and starting: burst pools' nodes (doc/bursting.md), only when there are pools */
        static const char *states[] = { "free", "allocated", "burst", "starting", "down" };
        printf ("%10s %6s %6s %5s %s\n", "STATE", "NNODES", "NCORES", "NGPUS", "NODELIST");
        for (int k = 0; k < 5; k++) {
            json_t *s = json_object_get (r, states[k]);
            if (!s)
                continue;
            printf ("%10s %6lld %6lld %5lld %s\n", states[k], (long long)json_integer_value (json_object_get (s, "nnodes")),
                    (long long)json_integer_value (json_object_get (s, "ncores")),
                    (long long)json_integer_value (json_object_get (s, "ngpus")),
                    json_string_value (json_object_get (s, "nodelist")) ? json_string_value (json_object_get (s, "nodelist"))
                                                                         : "");
        }
    }
    json_decref (r);
    client_destroy (&cl);
    return 0;
}
