/* burstkube.h - the Kubernetes objects that start a burst pool's brokers on
 * an external cluster (doc/bursting.md): a Secret with the instance
 * certificate and config, and a StatefulSet whose pods <cluster>-0,
 * <cluster>-1, ... are the pool's nodes (the pod name is the host name the
 * broker joins as, so it takes the rank kept for it).  Pure: no I/O. */
#ifndef CANOPY_BURSTKUBE_H
#define CANOPY_BURSTKUBE_H
#include <jansson.h>
#include <stdint.h>
#include "burstpool.h"

/* A v1 List of the Secret and the StatefulSet with `replicas` pods (the
 * StatefulSet and its pods annotated canopy.io/lead: the lead's endpoint,
 * canopy.io/pool-ranks: the pool's ranks).  The pool's settings: namespace
 * (default "default"), image (default "canopy:latest").  cert_text NULL: a
 * placeholder instead (for printing). */
json_t *burst_kube_render (const burst_pool_t *p, uint32_t replicas, const char *lead, const char *config_text,
                           const char *cert_text);

#endif
