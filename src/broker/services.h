/* services.h - the set of services every broker runs, started and stopped
 * together (exec, content, jobs...). */
#ifndef CANOPY_SERVICES_H
#define CANOPY_SERVICES_H
#include "overlay.h"
#include "kube.h"

typedef struct services services_t;
services_t *services_new (overlay_t *ov, const char *statedir, char *err, size_t errlen);
/* Rank 0 on Kubernetes: watch the cluster's nodes (kube.h). */
int services_watch_kube (services_t *s, overlay_t *ov, const kube_svc_opts_t *o, char *err, size_t errlen);
void services_destroy (services_t **p);

#endif
