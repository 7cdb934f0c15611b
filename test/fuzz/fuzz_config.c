/* fuzz_config.c - config_parse on arbitrary text.  A config that parses
 * must be internally consistent: every host has endpoints, the topology
 * covers every host, custom parents match the tree. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char err[256];
    err[0] = '\0';
    config_t *c = config_parse ((const char *)data, size, err, sizeof err);
    if (!c) {
        if (strncmp (err, "config: ", 8) || strchr (err, '\n'))
            abort (); /* one line naming the problem */
        return 0;
    }
    if (c->nhosts == 0 || !c->topo || c->size < c->nhosts || topo_size (c->topo) != c->size || !c->topology
        || !c->default_bind || !c->default_connect)
        abort ();
    if (!(c->timeout >= 2 * c->heartbeat) || c->heartbeat <= 0)
        abort ();
    int custom = !strcmp (c->topology, "custom");
    for (size_t i = 0; i < c->nhosts; i++) {
        config_host_t *h = &c->hosts[i];
        if (!h->host || !*h->host || !h->bind || !h->connect)
            abort ();
        if (i < 100 && config_rank_of (c, h->host) > (int)i)
            abort (); /* (rank_of is linear: check the first few only) */
        if (custom && i > 0 && topo_parent (c->topo, i) != h->parent)
            abort ();
    }
    if (c->nhosts <= 1000) {
        char *d = topo_draw (c->topo, NULL, NULL, NULL);
        free (d);
    }
    config_destroy (&c);
    return 0;
}
