/* fuzz_kube.c - NodeList pages and watch events from a hostile API server.
 * What parses must be safe to render: names are DNS names, addresses hold
 * no byte outside [A-Za-z0-9.:-], and a rendered config parses again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "kubenodes.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char err[256];
    kube_nodeset_t s = { 0 };
    char *rv = NULL, *cont = NULL;
    if (kube_nodelist_parse ((const char *)data, size, &s, &rv, &cont, err, sizeof err) < 0) {
        if (strncmp (err, "kube: ", 6) || strchr (err, '\n'))
            abort ();
    } else {
        kube_render_opts_t o = { .include_control_plane = true };
        char *y = kube_config_render (&s, &o, err, sizeof err);
        if (y) {
            config_t *c = config_parse (y, strlen (y), err, sizeof err);
            if (!c)
                abort ();   /* what we render, we must read */
            config_destroy (&c);
            free (y);
        }
    }
    free (rv);
    free (cont);
    kube_nodeset_clear (&s);
    kube_event_t ev;
    if (kube_event_parse ((const char *)data, size, &ev, err, sizeof err) == 0)
        kube_event_clear (&ev);
    return 0;
}
