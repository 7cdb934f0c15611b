/* kubenodes.h - Kubernetes Node objects as canopy sees them: a NodeList or a
 * watch event turned into host records, and the set of hosts turned into a
 * broker configuration (doc/kubernetes.md).  Pure: no I/O. */
#ifndef CANOPY_KUBENODES_H
#define CANOPY_KUBENODES_H
#include <stdbool.h>
#include <stddef.h>

typedef struct kube_node {
    char *name;          /* metadata.name */
    char *addr;          /* InternalIP, else Hostname address, else the name */
    bool ready;          /* condition Ready is True */
    bool control_plane;  /* node-role.kubernetes.io/control-plane (or master) label */
    bool leaving;        /* cordoned, being deleted, or marked by the autoscaler */
    bool lead;           /* label canopy.io/lead=true */
} kube_node_t;

typedef struct kube_nodeset {
    kube_node_t *v;      /* sorted by name, names unique */
    size_t n, cap;
} kube_nodeset_t;

enum kube_event_type { KUBE_ADDED, KUBE_MODIFIED, KUBE_DELETED, KUBE_BOOKMARK, KUBE_ERROR };

typedef struct kube_event {
    enum kube_event_type type;
    kube_node_t node;    /* ADDED, MODIFIED, DELETED */
    char *rv;            /* the object's resourceVersion (all but ERROR) */
    int code;            /* ERROR: the Status code (410: too old, list again) */
    char *message;       /* ERROR: the Status message */
} kube_event_t;

void kube_node_clear (kube_node_t *n);
void kube_nodeset_clear (kube_nodeset_t *s);
/* Insert or replace by name (takes ownership of n's strings). */
int kube_nodeset_put (kube_nodeset_t *s, kube_node_t *n);
/* Remove by name; 1 if it was there. */
int kube_nodeset_del (kube_nodeset_t *s, const char *name);
const kube_node_t *kube_nodeset_get (const kube_nodeset_t *s, const char *name);

/* One page of a NodeList: adds its items to s; *rv and *cont (malloc'd, may
 * be NULL) get metadata.resourceVersion and metadata.continue.  -1 with err
 * filled when the text is not a v1 NodeList (a Status object's message is
 * quoted). */
int kube_nodelist_parse (const char *text, size_t len, kube_nodeset_t *s, char **rv, char **cont,
                         char *err, size_t errlen);

/* The message of a v1 Status object (an error answer) copied into msg as
 * one line; 0, or -1 when the text is not a Status. */
int kube_status_message (const char *text, size_t len, char *msg, size_t size);

/* One line of a watch stream. */
int kube_event_parse (const char *text, size_t len, kube_event_t *ev, char *err, size_t errlen);
void kube_event_clear (kube_event_t *ev);

typedef struct kube_render_opts {
    const char *lead;            /* node name for rank 0, or NULL */
    bool include_control_plane;
    int port;                    /* default 8050 */
    const char *topology;        /* default kary:2 */
    const char *cert;            /* default /etc/canopy/curve.cert */
    size_t size;                 /* 0: as many ranks as eligible nodes */
    const char *source;          /* shown in the head comment */
} kube_render_opts_t;

/* Why a node is not eligible, or NULL when it is. */
const char *kube_node_skip_reason (const kube_node_t *n, bool include_control_plane);

/* Order eligible nodes into ranks (doc/kubernetes.md: lead first, then by
 * name).  Fills idx[] (size s->n) with node indexes in rank order and returns
 * how many, or -1 with err filled (no eligible node, lead unknown or not
 * eligible, two labelled leads, more nodes than o->size). */
int kube_rank_order (const kube_nodeset_t *s, const kube_render_opts_t *o, size_t *idx, char *err,
                     size_t errlen);

/* The broker configuration (doc/config.md) as YAML text, malloc'd. */
char *kube_config_render (const kube_nodeset_t *s, const kube_render_opts_t *o, char *err,
                          size_t errlen);

#endif
