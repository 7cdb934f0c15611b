/* burstprov.h - the one interface of burst providers (doc/bursting.md):
 * what the burst manager hands a provider to start or stop nodes of a pool
 * (the lead's endpoint, the instance certificate and config, the nodes'
 * host names and the ranks they take), and a provider's three calls.  One
 * file per provider: burst_local.c, burst_command.c, burst_kube.c.  Also
 * the small process helper they share (programs run without blocking the
 * broker's loop; their exit status collected later). */
#ifndef CANOPY_BURSTPROV_H
#define CANOPY_BURSTPROV_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "burstpool.h"
#include "config.h"

/* What joining needs, for one pool. */
typedef struct burst_ctx {
    const burst_pool_t *pool;
    const char *cluster;     /* <pool>-<8 hex>: the external cluster's name */
    const char *lead;        /* the lead's endpoint, as the config gives it */
    const char *config;      /* path of the instance config */
    const char *cert;        /* path of the instance certificate */
    const char *broker;      /* the canopy-broker program */
    const char *workdir;     /* STATEDIR/burst: the provider's own files (private) */
    uint32_t replicas;       /* nodes wanted up after this call (kubernetes scales to it) */
    const config_t *cfg;     /* the instance config (its hosts' endpoints) */
    void (*warn) (void *arg, const char *msg);   /* one line for the broker's log */
    void *warn_arg;
} burst_ctx_t;

/* One node a call is about. */
typedef struct burst_ref {
    uint32_t index, rank;    /* index in the pool; the rank it takes */
    const char *host;        /* <cluster>-<index>: the name it joins as */
    json_t *handle;          /* the provider's own record of it (pid...), kept in the job store */
} burst_ref_t;

typedef struct burst_prov {
    const char *name;
    /* Ask for nodes; may set each node's handle (owned by the caller after).
     * -1 + err if the request could not even be made. */
    int (*start) (const burst_ctx_t *c, burst_ref_t *nodes, size_t n, char *err, size_t errlen);
    /* Give nodes back (released, timed out, or stopped by hand). */
    int (*stop) (const burst_ctx_t *c, burst_ref_t *nodes, size_t n, char *err, size_t errlen);
    /* A node asked for but not joined yet: 0 still starting, -1 + err if the
     * provider knows it failed (its program exited with an error). */
    int (*check) (const burst_ctx_t *c, const burst_ref_t *node, char *err, size_t errlen);
    /* Every tick, for the pool (may be NULL): work the provider put off. */
    void (*poll) (const burst_ctx_t *c);
    /* Nodes can go away only from the highest index down (a StatefulSet's
     * scale): an idle node is released only when no node above it is busy
     * or starting (it stays up, usable, until then). */
    bool from_top;
} burst_prov_t;

extern const burst_prov_t burst_local, burst_command, burst_kube;

/* Run argv with extra environment (NULL-terminated "K=V" list, may be NULL)
 * in a session of its own, stdout and stderr appended to logpath, stdin
 * from stdin_path (NULL: /dev/null).  The pid, or -1 + err. */
pid_t burst_spawn (char *const argv[], char *const env[], const char *logpath, const char *stdin_path, char *err,
                   size_t errlen);
/* Run argv (no shell) to its end, at most 10 s: 0 if it exited with status
 * 0, else -1 + err with the command, how it ended and its first line of
 * output. */
int burst_run (char *const argv[], char *err, size_t errlen);
/* A program started here: 1 still running (or not ours: unknown), 0 exited
 * with status 0, -1 exited otherwise (err says how). */
int burst_proc_status (pid_t pid, char *err, size_t errlen);
/* Every node's handle becomes {key: pid}: one program started for them all
 * (a resume program, kubectl). */
void burst_handles_set_pid (burst_ref_t *nodes, size_t n, const char *key, pid_t pid);
/* The program in the node's handle's key: -1 + why if it exited with an
 * error, else 0 (running, done, or none). */
int burst_check_pid (const burst_ref_t *node, const char *key, char *why, size_t whylen);
/* Every node's handle's "pid" that is still a child: reap without waiting. */
void burst_proc_reap (void);

#endif
