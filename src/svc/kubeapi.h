/* kubeapi.h - a client of the Kubernetes API for Node objects only: list
 * (paged) and watch, with the service account's token and CA as a pod has
 * them (doc/kubernetes.md).  libcurl does HTTP and TLS. */
#ifndef CANOPY_KUBEAPI_H
#define CANOPY_KUBEAPI_H
#include <stddef.h>
#include "kubenodes.h"

typedef struct kubeapi kubeapi_t;

/* In-cluster settings: KUBERNETES_SERVICE_HOST/PORT and the service account
 * directory (CANOPY_KUBE_SA_DIR, default
 * /var/run/secrets/kubernetes.io/serviceaccount) with token and ca.crt. */
kubeapi_t *kubeapi_new_incluster (char *err, size_t errlen);
/* Explicit settings: server "https://host:port", bearer token, CA file. */
kubeapi_t *kubeapi_new (const char *server, const char *token, const char *ca_path, char *err,
                        size_t errlen);
void kubeapi_destroy (kubeapi_t **p);
const char *kubeapi_server (const kubeapi_t *k);
/* Requests in progress end (as errors) soon after *flag becomes non-zero:
 * how a thread watching nodes is stopped. */
void kubeapi_set_abort (kubeapi_t *k, volatile int *flag);

/* List every node (pages of 500) matching selector (NULL: all) into s;
 * *rv gets the list's resourceVersion (malloc'd). */
int kubeapi_list_nodes (kubeapi_t *k, const char *selector, kube_nodeset_t *s, char **rv, char *err,
                        size_t errlen);

/* Watch nodes from resourceVersion rv, calling cb for each event until cb
 * returns non-zero (returned as is), the server ends the stream (0), or
 * timeout_s seconds pass (0; the server is asked for the same timeout).
 * -1 with err on a transport or protocol error. */
typedef int (*kubeapi_event_f) (const kube_event_t *ev, void *arg);
int kubeapi_watch_nodes (kubeapi_t *k, const char *selector, const char *rv, int timeout_s,
                         kubeapi_event_f cb, void *arg, char *err, size_t errlen);

#endif
