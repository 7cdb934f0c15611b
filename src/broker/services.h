/* services.h - the set of services every broker runs, started and stopped
 * together (exec, content, jobs...). */
#ifndef CANOPY_SERVICES_H
#define CANOPY_SERVICES_H
#include "overlay.h"

typedef struct services services_t;
services_t *services_new (overlay_t *ov, const char *statedir, char *err, size_t errlen);
void services_destroy (services_t **p);

#endif
