/* health.h - the broker's health endpoints for Kubernetes probes (and any
 * load balancer): GET /livez is 200 while the broker's loop runs, GET
 * /readyz is 200 while the broker is also joined to the tree (rank 0, or its
 * upstream link online), 503 with the reason otherwise.  A small HTTP
 * server in a thread of libmicrohttpd's; the loop reports its state with
 * health_update() (doc/kubernetes.md). */
#ifndef CANOPY_HEALTH_H
#define CANOPY_HEALTH_H
#include <stdbool.h>
#include <stddef.h>

typedef struct health health_t;

/* listen: "PORT", ":PORT" (every address) or "IPV4:PORT". */
health_t *health_new (const char *listen, double stale_after, char *err, size_t errlen);
void health_destroy (health_t **p);
/* From the broker's loop, a few times a second: the loop is alive; ready
 * or not, and why not. */
void health_update (health_t *h, bool ready, const char *why);

#endif
