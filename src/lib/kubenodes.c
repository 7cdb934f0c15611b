/* kubenodes.c - Kubernetes Node objects as canopy sees them: NodeList pages
 * and watch events parsed into host records, and a set of hosts rendered as
 * a broker configuration (doc/kubernetes.md).  Pure: no I/O.
 *
 * API answers are input like any other: names and addresses are checked
 * against what Kubernetes allows (DNS subdomain names, IP or host addresses)
 * before they are written into a config, so a hostile answer cannot inject
 * YAML or endpoints. */
#define _GNU_SOURCE
#include "kubenodes.h"
#include "xalloc.h"
#include "errquote.h"
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 253

void kube_node_clear (kube_node_t *n)
{
    if (!n)
        return;
    free (n->name);
    free (n->addr);
    memset (n, 0, sizeof *n);
}

void kube_nodeset_clear (kube_nodeset_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        kube_node_clear (&s->v[i]);
    free (s->v);
    memset (s, 0, sizeof *s);
}

/* index of name, or -(insertion point + 1) */
static long find (const kube_nodeset_t *s, const char *name)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp (s->v[mid].name, name);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

int kube_nodeset_put (kube_nodeset_t *s, kube_node_t *n)
{
    long i = find (s, n->name);
    if (i >= 0) {
        kube_node_clear (&s->v[i]);
        s->v[i] = *n;
    } else {
        size_t at = (size_t)(-i - 1);
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 16;
            s->v = xrealloc (s->v, cap * sizeof *s->v);
            s->cap = cap;
        }
        memmove (&s->v[at + 1], &s->v[at], (s->n - at) * sizeof *s->v);
        s->v[at] = *n;
        s->n++;
    }
    memset (n, 0, sizeof *n);
    return 0;
}

int kube_nodeset_del (kube_nodeset_t *s, const char *name)
{
    long i = find (s, name);
    if (i < 0)
        return 0;
    kube_node_clear (&s->v[i]);
    memmove (&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof *s->v);
    s->n--;
    return 1;
}

const kube_node_t *kube_nodeset_get (const kube_nodeset_t *s, const char *name)
{
    long i = find (s, name);
    return i >= 0 ? &s->v[i] : NULL;
}

/* RFC 1123 subdomain: lowercase alphanumerics, '-' and '.', starting and
 * ending with an alphanumeric, at most 253 bytes (what Kubernetes allows for
 * a Node name). */
static int valid_name (const char *s)
{
    size_t n = strlen (s);
    if (n == 0 || n > NAME_MAX_LEN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && c != '-' && c != '.')
            return 0;
        if ((i == 0 || i == n - 1) && !alnum)
            return 0;
    }
    return 1;
}

/* An IPv4/IPv6 address or a host name: letters, digits, '.', '-', ':' */
static int valid_addr (const char *s)
{
    size_t n = strlen (s);
    if (n == 0 || n > NAME_MAX_LEN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.'
              || c == '-' || c == ':'))
            return 0;
    }
    return 1;
}

static const char *jstr (json_t *o, const char *key)
{
    json_t *v = json_object_get (o, key);
    return json_is_string (v) ? json_string_value (v) : NULL;
}

static int node_from_json (json_t *obj, kube_node_t *out, char *err, size_t errlen)
{
    char q[80];
    memset (out, 0, sizeof *out);
    json_t *meta = json_object_get (obj, "metadata");
    const char *name = json_is_object (meta) ? jstr (meta, "name") : NULL;
    if (!name)
        return errfail (err, errlen, "kube: a node has no metadata.name");
    if (!valid_name (name))
        return errfail (err, errlen, "kube: node name '%s' is not a DNS subdomain name",
                        errquote (q, sizeof q, name, (size_t)-1));
    json_t *labels = json_object_get (meta, "labels");
    if (json_is_object (labels)) {
        if (json_object_get (labels, "node-role.kubernetes.io/control-plane")
            || json_object_get (labels, "node-role.kubernetes.io/master"))
            out->control_plane = true;
        const char *l = jstr (labels, "canopy.io/lead");
        if (l && !strcmp (l, "true"))
            out->lead = true;
    }
    if (json_object_get (meta, "deletionTimestamp"))
        out->leaving = true;
    json_t *spec = json_object_get (obj, "spec");
    if (json_is_object (spec)) {
        if (json_is_true (json_object_get (spec, "unschedulable")))
            out->leaving = true;
        json_t *taints = json_object_get (spec, "taints"), *t;
        size_t i;
        if (json_is_array (taints))
            json_array_foreach (taints, i, t) {
                const char *k = json_is_object (t) ? jstr (t, "key") : NULL;
                if (k && !strcmp (k, "ToBeDeletedByClusterAutoscaler"))
                    out->leaving = true;
            }
    }
    const char *internal = NULL, *hostname = NULL;
    json_t *status = json_object_get (obj, "status");
    if (json_is_object (status)) {
        json_t *addrs = json_object_get (status, "addresses"), *a;
        size_t i;
        if (json_is_array (addrs))
            json_array_foreach (addrs, i, a) {
                const char *type = json_is_object (a) ? jstr (a, "type") : NULL;
                const char *addr = json_is_object (a) ? jstr (a, "address") : NULL;
                if (!type || !addr)
                    continue;
                if (!internal && !strcmp (type, "InternalIP"))
                    internal = addr;
                else if (!hostname && !strcmp (type, "Hostname"))
                    hostname = addr;
            }
        json_t *conds = json_object_get (status, "conditions"), *c;
        if (json_is_array (conds))
            json_array_foreach (conds, i, c) {
                const char *type = json_is_object (c) ? jstr (c, "type") : NULL;
                const char *st = json_is_object (c) ? jstr (c, "status") : NULL;
                if (type && !strcmp (type, "Ready"))
                    out->ready = st && !strcmp (st, "True");
            }
    }
    const char *addr = internal ? internal : hostname ? hostname : name;
    if (!valid_addr (addr))
        return errfail (err, errlen, "kube: node %s: address '%s' is not an IP address or host name",
                        name, errquote (q, sizeof q, addr, (size_t)-1));
    out->name = xstrdup (name);
    out->addr = xstrdup (addr);
    return 0;
}

/* A Status object ({"kind": "Status", "message": ...}) as an error line. */
static int status_error (json_t *root, char *err, size_t errlen)
{
    char q[200];
    const char *msg = jstr (root, "message");
    json_t *code = json_object_get (root, "code");
    return errfail (err, errlen, "kube: API answered %lld: %s",
                    json_is_integer (code) ? (long long)json_integer_value (code) : 0LL,
                    msg ? errquote (q, sizeof q, msg, (size_t)-1) : "(no message)");
}

int kube_status_message (const char *text, size_t len, char *msg, size_t size)
{
    json_t *root = json_loadb (text, len, 0, NULL);
    const char *kind = json_is_object (root) ? jstr (root, "kind") : NULL;
    const char *m = kind && !strcmp (kind, "Status") ? jstr (root, "message") : NULL;
    if (m)
        errquote (msg, size, m, (size_t)-1);
    json_decref (root);
    return m ? 0 : -1;
}

int kube_nodelist_parse (const char *text, size_t len, kube_nodeset_t *s, char **rv, char **cont,
                         char *err, size_t errlen)
{
    json_error_t je;
    char q[120];
    *rv = *cont = NULL;
    json_t *root = json_loadb (text, len, 0, &je);
    if (!root)
        return errfail (err, errlen, "kube: the node list is not JSON: %s",
                        errquote (q, sizeof q, je.text, (size_t)-1));
    int rc = -1;
    const char *kind = json_is_object (root) ? jstr (root, "kind") : NULL;
    if (kind && !strcmp (kind, "Status")) {
        status_error (root, err, errlen);
        goto out;
    }
    if (!kind || strcmp (kind, "NodeList")) {
        errfail (err, errlen, "kube: expected a NodeList, got %s",
                 kind ? errquote (q, sizeof q, kind, (size_t)-1) : "no kind");
        goto out;
    }
    json_t *items = json_object_get (root, "items"), *it;
    if (!json_is_array (items) && !json_is_null (items)) {
        errfail (err, errlen, "kube: NodeList items is not an array");
        goto out;
    }
    size_t i;
    json_array_foreach (items, i, it) {
        kube_node_t n;
        if (!json_is_object (it)) {
            errfail (err, errlen, "kube: NodeList item %zu is not an object", i);
            goto out;
        }
        if (node_from_json (it, &n, err, errlen) < 0)
            goto out;
        if (kube_nodeset_get (s, n.name)) {
            errfail (err, errlen, "kube: node %s is listed twice", n.name);
            kube_node_clear (&n);
            goto out;
        }
        if (kube_nodeset_put (s, &n) < 0) {
            kube_node_clear (&n);
            errfail (err, errlen, "kube: out of memory");
            goto out;
        }
    }
    json_t *meta = json_object_get (root, "metadata");
    const char *r = json_is_object (meta) ? jstr (meta, "resourceVersion") : NULL;
    const char *c = json_is_object (meta) ? jstr (meta, "continue") : NULL;
    if (r && *r)
        *rv = xstrdup (r);
    if (c && *c)
        *cont = xstrdup (c);
    rc = 0;
out:
    json_decref (root);
    return rc;
}

void kube_event_clear (kube_event_t *ev)
{
    kube_node_clear (&ev->node);
    free (ev->rv);
    free (ev->message);
    memset (ev, 0, sizeof *ev);
}

int kube_event_parse (const char *text, size_t len, kube_event_t *ev, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        enum kube_event_type type;
    } types[] = { { "ADDED", KUBE_ADDED }, { "MODIFIED", KUBE_MODIFIED }, { "DELETED", KUBE_DELETED },
                  { "BOOKMARK", KUBE_BOOKMARK }, { "ERROR", KUBE_ERROR } };
    json_error_t je;
    char q[120];
    memset (ev, 0, sizeof *ev);
    json_t *root = json_loadb (text, len, 0, &je);
    if (!root)
        return errfail (err, errlen, "kube: a watch event is not JSON: %s",
                        errquote (q, sizeof q, je.text, (size_t)-1));
    int rc = -1;
    const char *type = json_is_object (root) ? jstr (root, "type") : NULL;
    json_t *obj = json_is_object (root) ? json_object_get (root, "object") : NULL;
    size_t i;
    for (i = 0; type && i < sizeof types / sizeof types[0]; i++)
        if (!strcmp (type, types[i].name))
            break;
    if (!type || i == sizeof types / sizeof types[0]) {
        errfail (err, errlen, "kube: unknown watch event type %s",
                 type ? errquote (q, sizeof q, type, (size_t)-1) : "(none)");
        goto out;
    }
    ev->type = types[i].type;
    if (!json_is_object (obj)) {
        errfail (err, errlen, "kube: %s event without an object", type);
        goto out;
    }
    if (ev->type == KUBE_ERROR) {
        json_t *code = json_object_get (obj, "code");
        const char *msg = jstr (obj, "message");
        ev->code = json_is_integer (code) ? (int)json_integer_value (code) : 0;
        ev->message = xstrdup (msg ? msg : "");
        rc = ev->message ? 0 : errfail (err, errlen, "kube: out of memory");
        goto out;
    }
    json_t *meta = json_object_get (obj, "metadata");
    const char *r = json_is_object (meta) ? jstr (meta, "resourceVersion") : NULL;
    if (!r || !*r) {
        errfail (err, errlen, "kube: %s event without metadata.resourceVersion", type);
        goto out;
    }
    ev->rv = xstrdup (r);
    if (ev->type != KUBE_BOOKMARK && node_from_json (obj, &ev->node, err, errlen) < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0)
        kube_event_clear (ev);
    json_decref (root);
    return rc;
}

const char *kube_node_skip_reason (const kube_node_t *n, bool include_control_plane)
{
    if (!n->ready)
        return "not Ready";
    if (n->leaving)
        return "cordoned or being removed";
    if (n->control_plane && !include_control_plane)
        return "control-plane node (--include-control-plane to use it)";
    return NULL;
}

int kube_rank_order (const kube_nodeset_t *s, const kube_render_opts_t *o, size_t *idx, char *err,
                     size_t errlen)
{
    char q[80];
    long lead = -1;
    size_t n = 0;
    if (o->lead) {
        lead = find (s, o->lead);
        if (lead < 0)
            return errfail (err, errlen, "kube: lead node %s is not in the node list",
                            errquote (q, sizeof q, o->lead, (size_t)-1));
        const char *why = kube_node_skip_reason (&s->v[lead], o->include_control_plane);
        if (why)
            return errfail (err, errlen, "kube: lead node %s cannot be used: %s", o->lead, why);
    } else {
        for (size_t i = 0; i < s->n; i++) {
            if (!s->v[i].lead || kube_node_skip_reason (&s->v[i], o->include_control_plane))
                continue;
            if (lead >= 0)
                return errfail (err, errlen, "kube: two nodes are labelled canopy.io/lead=true: %s and %s",
                                s->v[lead].name, s->v[i].name);
            lead = (long)i;
        }
    }
    size_t first = lead >= 0;   /* rank 0 is kept for the lead */
    for (size_t i = 0; i < s->n; i++)
        if (!kube_node_skip_reason (&s->v[i], o->include_control_plane) && (long)i != lead)
            idx[first + n++] = i;
    if (lead >= 0) {
        idx[0] = (size_t)lead;
        n++;
    }
    if (n == 0)
        return errfail (err, errlen, "kube: no eligible node among %zu listed", s->n);
    if (o->size && n > o->size)
        return errfail (err, errlen, "kube: %zu eligible nodes but the instance has %zu ranks (--size)", n,
                        o->size);
    return (int)n;
}

char *kube_config_render (const kube_nodeset_t *s, const kube_render_opts_t *o, char *err,
                          size_t errlen)
{
    size_t *idx = xcalloc (s->n ? s->n : 1, sizeof *idx);
    int n = kube_rank_order (s, o, idx, err, errlen);
    if (n < 0) {
        free (idx);
        return NULL;
    }
    char *buf = NULL;
    size_t blen = 0;
    FILE *f = open_memstream (&buf, &blen);
    if (!f) {
        free (idx);
        errfail (err, errlen, "kube: out of memory");
        return NULL;
    }
    int port = o->port > 0 ? o->port : 8050;
    fprintf (f, "# canopy kube config: %d of %zu nodes%s%s; rank 0 (lead) %s\n", n, s->n,
             o->source ? " from " : "", o->source ? o->source : "", s->v[idx[0]].name);
    fprintf (f, "curve_cert: %s\n", o->cert ? o->cert : "/etc/canopy/curve.cert");
    fprintf (f, "topology: %s\n", o->topology ? o->topology : "kary:2");
    fprintf (f, "default_port: %d\n", port);
    fprintf (f, "default_bind: \"tcp://*:%%p\"\n");
    fprintf (f, "hosts:\n");
    for (int r = 0; r < n; r++) {
        const kube_node_t *nd = &s->v[idx[r]];
        int v6 = strchr (nd->addr, ':') != NULL;
        fprintf (f, "  - host: %s   # rank %d\n    connect: \"tcp://%s%s%s:%d\"\n", nd->name, r,
                 v6 ? "[" : "", nd->addr, v6 ? "]" : "", port);
    }
    for (size_t i = 0; i < s->n; i++) {
        const char *why = kube_node_skip_reason (&s->v[i], o->include_control_plane);
        if (why)
            fprintf (f, "# skipped %s: %s\n", s->v[i].name, why);
    }
    fclose (f);
    free (idx);
    return buf;
}
