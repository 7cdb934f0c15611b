/* kube.h - the lead's watch of Kubernetes nodes (doc/kubernetes.md): nodes
 * are listed and watched with the in-cluster settings in a thread of their
 * own; in the broker's loop a deleted node's host leaves the instance (its
 * rank is freed, its running jobs fail with the reason) and a cluster with
 * more eligible nodes than the instance has ranks is reported.  Rank 0 only. */
#ifndef CANOPY_KUBE_H
#define CANOPY_KUBE_H
#include <stdbool.h>
#include <stddef.h>
#include "overlay.h"
#include "resource.h"

typedef struct kube_svc kube_svc_t;

typedef struct kube_svc_opts {
    const char *selector;          /* label selector for the nodes that count, or NULL */
    bool include_control_plane;
} kube_svc_opts_t;

kube_svc_t *kube_svc_new (overlay_t *ov, resource_svc_t *rs, const kube_svc_opts_t *o, char *err,
                          size_t errlen);
void kube_svc_destroy (kube_svc_t **p);

#endif
