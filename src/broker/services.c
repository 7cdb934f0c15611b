/* services.c - start and stop the broker's services in dependency order. */
#include "services.h"
#include "exec.h"
#include <stdlib.h>

struct services {
    exec_svc_t *exec;
};

services_t *services_new (overlay_t *ov, const char *statedir, char *err, size_t errlen)
{
    services_t *s = calloc (1, sizeof *s);
    s->exec = exec_svc_new (ov);
    return s;
}

void services_destroy (services_t **p)
{
    if (!p || !*p)
        return;
    exec_svc_destroy (&(*p)->exec);
    free (*p);
    *p = NULL;
}
