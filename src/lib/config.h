/* config.h - the instance configuration (doc/config.md): hosts, endpoints,
 * topology, CURVE certificate path, liveness timing, burst pools.  Parsed from YAML or
 * JSON text; pure (the caller reads the file). */
#ifndef CANOPY_CONFIG_H
#define CANOPY_CONFIG_H
#include <stddef.h>
#include <stdint.h>
#include "burstpool.h"
#include "topo.h"

typedef struct config_host {
    char *host;      /* hostname */
    char *bind;      /* endpoint this broker binds for its children */
    char *connect;   /* endpoint its children connect to */
    uint32_t parent; /* custom topology: parent rank (TOPO_NONE otherwise) */
} config_host_t;

typedef struct config {
    size_t nhosts;
    config_host_t *hosts;    /* index = rank, for the hosts listed */
    size_t size;             /* ranks in the instance (>= nhosts; the rest join later),
                              * burst pools' ranks included */
    size_t base_size;        /* the instance's own ranks (the key `size`): pool ranks follow */
    burst_pools_t burst;     /* the burst pools (doc/bursting.md), key `burst` */
    char *default_bind;      /* templates with %h and %p, for hosts that join */
    char *default_connect;
    long default_port;
    char *curve_cert;        /* path; NULL = none given (the broker's --cert replaces it) */
    char *source;            /* absolute path of the file it was read from, set by its reader
                              * (the local burst provider starts brokers with the same); or NULL */
    char *topology;          /* spec string */
    topo_t *topo;
    double heartbeat;        /* seconds between heartbeats */
    double timeout;          /* silence after which a peer is lost */
} config_t;

config_t *config_parse (const char *text, size_t len, char *err, size_t errlen);
void config_destroy (config_t **p);
/* Rank whose host equals hostname, or -1.  If several match (a local
 * instance), the first. */
int config_rank_of (const config_t *c, const char *hostname);
/* The bind and connect endpoints of a host that is not listed (the default
 * templates with its name); malloc'd, -1 if out of memory. */
int config_host_endpoints (const config_t *c, const char *host, char **bind, char **connect);

#endif
