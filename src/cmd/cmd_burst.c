/* cmd_burst.c - canopy burst list | stop POOL | render POOL: the instance's
 * burst pools (doc/bursting.md) with their external clusters' names, nodes
 * by state and age; release a pool's nodes by hand; print the objects or
 * commands a pool's provider would use, without running them. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"

static void fsd (double s, char *buf, size_t len)
{
    if (s <= 0)
        snprintf (buf, len, "-");
    else if (s < 60)
        snprintf (buf, len, "%.3gs", s);
    else if (s < 3600)
        snprintf (buf, len, "%.3gm", s / 60);
    else
        snprintf (buf, len, "%.3gh", s / 3600);
}

/* The instance has no pools: no burst service on rank 0. */
static void no_pools (const char *sub, const char *err)
{
    if (strstr (err, "no service for topic"))
        die ("burst %s: this instance has no burst pools (config key burst, or canopy start --burst local:M)", sub);
    die ("burst %s: %s", sub, err);
}

static int list (client_t *cl, bool json)
{
    char err[512];
    json_t *r = client_call (cl, 0, "burst.list", json_object (), 30000, err, sizeof err);
    if (!r)
        no_pools ("list", err);
    json_t *pools = json_object_get (r, "pools");
    if (json) {
        char *s = json_dumps (pools, JSON_INDENT (2));
        printf ("%s\n", s);
        free (s);
    }
    else {
        printf ("%-12s %-22s %-10s %5s %5s %8s %5s %5s %6s\n", "POOL", "CLUSTER", "PROVIDER", "NODES", "BURST",
                "STARTING", "UP", "DOWN", "AGE");
        size_t i;
        json_t *p;
        json_array_foreach (pools, i, p) {
            json_t *n = json_object_get (p, "nodes");
            char age[32];
            fsd (json_number_value (json_object_get (p, "age")), age, sizeof age);
            printf ("%-12s %-22s %-10s %5lld %5lld %8lld %5lld %5lld %6s\n",
                    json_string_value (json_object_get (p, "name")), json_string_value (json_object_get (p, "cluster")),
                    json_string_value (json_object_get (p, "provider")),
                    (long long)json_integer_value (json_object_get (p, "size")),
                    (long long)json_integer_value (json_object_get (n, "burst")),
                    (long long)json_integer_value (json_object_get (n, "starting")),
                    (long long)json_integer_value (json_object_get (n, "up")),
                    (long long)json_integer_value (json_object_get (n, "down")), age);
        }
    }
    json_decref (r);
    return 0;
}

int cmd_burst (int argc, char **argv)
{
    if (cmd_help_asked (argc, argv) || argc < 2) {
        printf ("Usage: canopy burst list [--json]\n       canopy burst stop POOL\n       canopy burst render POOL\n");
        return argc < 2 ? 1 : 0;
    }
    const char *sub = argv[1];
    bool json = false;
    if (!strcmp (sub, "list")) {
        for (int i = 2; i < argc; i++) {
            if (!strcmp (argv[i], "--json"))
                json = true;
            else
                die ("burst list: unknown option '%.60s' (--json)", argv[i]);
        }
        client_t *cl = cmd_connect ();
        int rc = list (cl, json);
        client_destroy (&cl);
        return rc;
    }
    if (strcmp (sub, "stop") && strcmp (sub, "render"))
        die ("burst: unknown subcommand '%.40s' (list, stop, render)", sub);
    if (argc != 3)
        die ("burst %s: needs one POOL", sub);
    client_t *cl = cmd_connect ();
    char err[512], topic[32];
    snprintf (topic, sizeof topic, "burst.%s", sub);
    json_t *r = client_call (cl, 0, topic, json_pack ("{s:s}", "pool", argv[2]), 60000, err, sizeof err);
    if (!r)
        no_pools (sub, err);
    if (!strcmp (sub, "stop"))
        printf ("released %lld node(s) of %s\n", (long long)json_integer_value (json_object_get (r, "released")),
                json_string_value (json_object_get (r, "cluster")));
    else
        fputs (json_string_value (json_object_get (r, "text")), stdout);
    json_decref (r);
    client_destroy (&cl);
    return 0;
}
