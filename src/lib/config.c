/* config.c - parse and validate the instance configuration.
 *
 * Mirrors Flux's [bootstrap] table: default_port/default_bind/
 * default_connect with %h (host) and %p (port) substituted, a hosts array
 * whose "host" fields are hostlists, and per-host bind/connect overrides.
 * Every error is one line naming the field.
 */
#include "config.h"
#include "errquote.h"
#include "hostlist.h"
#include "xalloc.h"
#include "yaml_json.h"
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void config_destroy (config_t **p)
{
    if (p && *p) {
        config_t *c = *p;
        for (size_t i = 0; i < c->nhosts; i++) {
            free (c->hosts[i].host);
            free (c->hosts[i].bind);
            free (c->hosts[i].connect);
        }
        free (c->hosts);
        free (c->default_bind);
        free (c->default_connect);
        free (c->curve_cert);
        free (c->source);
        free (c->topology);
        topo_destroy (&c->topo);
        burst_pools_clear (&c->burst);
        free (c);
        *p = NULL;
    }
}

/* substitute %h and %p (and %% for a literal percent) into out, or only
 * count when out is NULL; returns the length without the NUL */
static size_t subst_run (char *out, const char *tmpl, const char *host, const char *port)
{
    size_t n = 0;
    for (const char *p = tmpl; *p; p++) {
        const char *ins = NULL;
        if (p[0] == '%' && p[1] == 'h')
            ins = host;
        else if (p[0] == '%' && p[1] == 'p')
            ins = port;
        else if (p[0] == '%' && p[1] == '%')
            ins = "%";
        if (ins) {
            size_t k = strlen (ins);
            if (out)
                memcpy (out + n, ins, k);
            n += k;
            p++;
        }
        else {
            if (out)
                out[n] = *p;
            n++;
        }
    }
    if (out)
        out[n] = '\0';
    return n;
}

/* malloc'd template with %h/%p/%% substituted; the buffer is sized exactly
 * by a counting pass, so nothing is ever cut short.  NULL if out of memory. */
static char *subst (const char *tmpl, const char *host, long port)
{
    char ps[24];
    snprintf (ps, sizeof ps, "%ld", port);
    char *out = xmalloc (subst_run (NULL, tmpl, host, ps) + 1);
    subst_run (out, tmpl, host, ps);
    return out;
}

static const char *get_str (json_t *o, const char *key, int *bad)
{
    json_t *v = json_object_get (o, key);
    if (!v)
        return NULL;
    if (!json_is_string (v)) {
        *bad = 1;
        return NULL;
    }
    return json_string_value (v);
}

int config_host_endpoints (const config_t *c, const char *host, char **bind, char **connect)
{
    *bind = subst (c->default_bind, host, c->default_port);
    *connect = subst (c->default_connect, host, c->default_port);
    if (!*bind || !*connect) {
        free (*bind);
        free (*connect);
        *bind = *connect = NULL;
        return -1;
    }
    return 0;
}

int config_rank_of (const config_t *c, const char *hostname)
{
    for (size_t i = 0; i < c->nhosts; i++)
        if (!strcmp (c->hosts[i].host, hostname))
            return (int)i;
    return -1;
}

static int known_key (const char *k, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp (k, *list))
            return 1;
    return 0;
}

/* One broker's endpoint, for finding two that share a host and endpoint. */
struct hostep {
    const char *host, *ep;
    size_t rank;
};

static int hostep_cmp (const void *a, const void *b)
{
    const struct hostep *x = a, *y = b;
    int d = strcmp (x->host, y->host);
    if (!d)
        d = strcmp (x->ep, y->ep);
    return d ? d : (x->rank > y->rank) - (x->rank < y->rank);
}

/* The same host twice is fine only as brokers with their own endpoints (a
 * local instance): two brokers binding, or reached at, one endpoint of one
 * host cannot both run.  Sorted, so n log n for big hostlists. */
static int check_duplicates (const config_t *c, char *err, size_t errlen)
{
    struct hostep *v = xcalloc (c->nhosts ? c->nhosts : 1, sizeof *v);
    int rc = 0;
    for (int which = 0; which < 2 && rc == 0; which++) {
        for (size_t r = 0; r < c->nhosts; r++)
            v[r] = (struct hostep){ c->hosts[r].host, which ? c->hosts[r].connect : c->hosts[r].bind, r };
        qsort (v, c->nhosts, sizeof *v, hostep_cmp);
        for (size_t i = 1; i < c->nhosts; i++) {
            if (strcmp (v[i].host, v[i - 1].host) || strcmp (v[i].ep, v[i - 1].ep))
                continue;
            char qh[65], qe[129];
            errfmt (err, errlen,
                      "config: host %s appears twice (ranks %zu and %zu) with the same %s "
                      "endpoint %s: list it once, or give each its own port or bind/connect",
                      errquote (qh, sizeof qh, v[i].host, (size_t)-1), v[i - 1].rank, v[i].rank,
                      which ? "connect" : "bind", errquote (qe, sizeof qe, v[i].ep, (size_t)-1));
            rc = -1;
            break;
        }
    }
    free (v);
    return rc;
}

/* What parsing needs besides the config itself: each rank's parent as
 * given (a name, or a rank in prank, -1 for none) and the hosts[] entry it
 * came from, for error messages. */
struct pstate {
    char **pname;
    json_int_t *prank;
    size_t *pentry;
    size_t cap;
    uint32_t *parents;
    bool custom;
    long dport;
    const char *dbind, *dconn;
};

static void pstate_clear (struct pstate *ps, size_t nhosts)
{
    for (size_t r = 0; ps->pname && r < nhosts; r++)
        free (ps->pname[r]);
    free (ps->pname);
    free (ps->prank);
    free (ps->pentry);
    free (ps->parents);
}

static int get_seconds (json_t *root, const char *key, double max, double *out, char *err, size_t errlen)
{
    json_t *v = json_object_get (root, key);
    if (!v)
        return 0;
    if (!json_is_number (v) || json_number_value (v) <= 0 || json_number_value (v) > max)
        return errfail (err, errlen, "config: %s must be a number of seconds > 0", key);
    *out = json_number_value (v);
    return 0;
}

/* Top-level keys and scalars: certificate, topology, endpoint templates,
 * port, liveness timing. */
static int parse_scalars (json_t *root, config_t *c, struct pstate *ps, char *err, size_t errlen)
{
    static const char *const top_keys[] = { "curve_cert", "topology", "default_port", "default_bind",
                                            "default_connect", "heartbeat", "timeout", "hosts", "size",
                                            "burst", NULL };
    char q[65];
    int bad = 0;
    const char *key;
    json_t *val;
    json_object_foreach (root, key, val)
        if (!known_key (key, top_keys))
            return errfail (err, errlen, "config: unknown key '%s'", errquote (q, sizeof q, key, (size_t)-1));
    const char *cert = get_str (root, "curve_cert", &bad);
    const char *topo = get_str (root, "topology", &bad);
    ps->dbind = get_str (root, "default_bind", &bad);
    ps->dconn = get_str (root, "default_connect", &bad);
    if (bad)
        return errfail (err, errlen, "config: curve_cert, topology, default_bind and default_connect must be strings");
    json_t *jport = json_object_get (root, "default_port");
    ps->dport = 8050;
    if (jport) {
        if (!json_is_integer (jport) || json_integer_value (jport) < 1 || json_integer_value (jport) > 65535)
            return errfail (err, errlen, "config: default_port must be an integer 1-65535");
        ps->dport = json_integer_value (jport);
    }
    c->heartbeat = 1.0;
    c->timeout = 5.0;
    if (get_seconds (root, "heartbeat", 3600, &c->heartbeat, err, errlen) < 0
        || get_seconds (root, "timeout", 86400, &c->timeout, err, errlen) < 0)
        return -1;
    if (c->timeout < 2 * c->heartbeat)
        return errfail (err, errlen, "config: timeout must be at least twice the heartbeat");
    if (cert)
        c->curve_cert = xstrdup (cert);
    c->default_port = ps->dport;
    c->default_bind = xstrdup (ps->dbind ? ps->dbind : "tcp://*:%p");
    c->default_connect = xstrdup (ps->dconn ? ps->dconn : "tcp://%h:%p");
    c->topology = xstrdup (topo ? topo : "kary:2");
    ps->custom = !strcmp (c->topology, "custom");
    return 0;
}

/* One entry of hosts: its hostlist expanded into ranks. */
static int parse_host_entry (config_t *c, struct pstate *ps, size_t idx, json_t *h, char *err, size_t errlen)
{
    static const char *const host_keys[] = { "host", "bind", "connect", "parent", "port", NULL };
    char q[65];
    int bad = 0;
    if (!json_is_object (h))
        return errfail (err, errlen, "config: hosts[%zu] must be a mapping", idx);
    const char *key;
    json_t *val;
    json_object_foreach (h, key, val)
        if (!known_key (key, host_keys))
            return errfail (err, errlen, "config: hosts[%zu]: unknown key '%s'", idx,
                            errquote (q, sizeof q, key, (size_t)-1));
    const char *expr = get_str (h, "host", &bad);
    const char *bind = get_str (h, "bind", &bad);
    const char *conn = get_str (h, "connect", &bad);
    json_t *jpar = json_object_get (h, "parent");
    json_t *jp = json_object_get (h, "port");
    if (bad || !expr)
        return errfail (err, errlen, "config: hosts[%zu]: host (a hostlist) is required; host, bind, connect are strings",
                        idx);
    long port = ps->dport;
    if (jp) {
        if (!json_is_integer (jp) || json_integer_value (jp) < 1 || json_integer_value (jp) > 65535)
            return errfail (err, errlen, "config: hosts[%zu]: port must be an integer 1-65535", idx);
        port = json_integer_value (jp);
    }
    if (jpar && !json_is_string (jpar) && !(json_is_integer (jpar) && json_integer_value (jpar) >= 0))
        return errfail (err, errlen, "config: hosts[%zu]: parent must be a host name or rank", idx);
    if (jpar && !ps->custom)
        return errfail (err, errlen, "config: hosts[%zu]: parent is only for 'topology: custom' (the topology is '%s')",
                        idx, errquote (q, sizeof q, c->topology, (size_t)-1));
    char herr[160];
    size_t nnames = 0;
    char **names = hostlist_expand (expr, &nnames, herr, sizeof herr);
    if (!names)
        return errfail (err, errlen, "config: hosts[%zu]: %s", idx, herr);
    int rc = 0;
    if (nnames > 1 && (bind || conn))
        rc = errfail (err, errlen, "config: hosts[%zu]: bind/connect overrides need a single host", idx);
    else if (c->nhosts + nnames > (1u << 20))
        rc = errfail (err, errlen, "config: too many hosts");
    size_t need = c->nhosts + nnames;
    if (rc == 0 && need > ps->cap) {
        size_t cap = ps->cap ? ps->cap : 16;
        while (cap < need)
            cap *= 2;
        c->hosts = xreallocarray (c->hosts, cap, sizeof *c->hosts);
        ps->pname = xreallocarray (ps->pname, cap, sizeof *ps->pname);
        ps->prank = xreallocarray (ps->prank, cap, sizeof *ps->prank);
        ps->pentry = xreallocarray (ps->pentry, cap, sizeof *ps->pentry);
        ps->cap = cap;
    }
    for (size_t i = 0; rc == 0 && i < nnames; i++) {
        size_t r = c->nhosts++;
        config_host_t *ch = &c->hosts[r];
        memset (ch, 0, sizeof *ch);
        ch->parent = TOPO_NONE;
        ps->pname[r] = json_is_string (jpar) ? xstrdup (json_string_value (jpar)) : NULL;
        ps->prank[r] = json_is_integer (jpar) ? json_integer_value (jpar) : -1;
        ps->pentry[r] = idx;
        ch->host = names[i];   /* taken over */
        names[i] = NULL;
        ch->bind = subst (bind ? bind : ps->dbind ? ps->dbind : "tcp://*:%p", ch->host, port);
        ch->connect = subst (conn ? conn : ps->dconn ? ps->dconn : "tcp://%h:%p", ch->host, port);
    }
    hostlist_free (names, nnames);
    return rc;
}

static int parse_hosts (json_t *root, config_t *c, struct pstate *ps, char *err, size_t errlen)
{
    json_t *hosts = json_object_get (root, "hosts");
    if (!json_is_array (hosts) || json_array_size (hosts) == 0)
        return errfail (err, errlen, "config: hosts must be a non-empty list");
    size_t idx;
    json_t *h;
    json_array_foreach (hosts, idx, h)
        if (parse_host_entry (c, ps, idx, h, err, errlen) < 0)
            return -1;
    /* the same host twice: only as brokers with their own endpoints (a
     * local instance); two brokers binding or connecting one endpoint of one
     * host cannot both run */
    return check_duplicates (c, err, errlen);
}

/* custom topology: each rank's parent by name or rank */
static int resolve_parents (config_t *c, struct pstate *ps, char *err, size_t errlen)
{
    char q[65];
    if (!ps->custom)
        return 0;
    ps->parents = xcalloc (c->nhosts, sizeof (uint32_t));
    for (size_t r = 1; r < c->nhosts; r++) {
        if (ps->pname[r]) {
            int pr = config_rank_of (c, ps->pname[r]);
            if (pr < 0)
                return errfail (err, errlen, "config: host %.64s: unknown parent '%s'", c->hosts[r].host,
                                errquote (q, sizeof q, ps->pname[r], (size_t)-1));
            c->hosts[r].parent = pr;
        }
        else if (ps->prank[r] >= 0) {
            if (ps->prank[r] >= (json_int_t)c->nhosts)
                return errfail (err, errlen,
                                "config: hosts[%zu]: parent rank %" JSON_INTEGER_FORMAT
                                " out of range: the custom topology has %zu hosts",
                                ps->pentry[r], ps->prank[r], c->nhosts);
            c->hosts[r].parent = (uint32_t)ps->prank[r];
        }
        else
            return errfail (err, errlen, "config: custom topology: host %.64s (rank %zu) has no parent",
                            c->hosts[r].host, r);
        ps->parents[r] = c->hosts[r].parent;
    }
    return 0;
}

/* size: ranks beyond the listed hosts stay free until a broker joins
 * (doc/membership.md); burst pools' ranks come after them (doc/bursting.md) */
static int parse_size (json_t *root, config_t *c, struct pstate *ps, char *err, size_t errlen)
{
    c->size = c->nhosts;
    json_t *jsize = json_object_get (root, "size");
    if (jsize) {
        if (!json_is_integer (jsize) || json_integer_value (jsize) < (json_int_t)c->nhosts
            || json_integer_value (jsize) > (1 << 20))
            return errfail (err, errlen, "config: size must be an integer from the number of hosts (%zu) to %d",
                            c->nhosts, 1 << 20);
        c->size = (size_t)json_integer_value (jsize);
    }
    c->base_size = c->size;
    if (burst_pools_parse (json_object_get (root, "burst"), (uint32_t)c->size, &c->burst, err, errlen) < 0)
        return -1;
    c->size = c->burst.total;
    if (ps->custom && c->size > c->nhosts)
        return errfail (err, errlen, "config: a custom topology cannot have ranks without hosts (size %zu, %zu hosts)",
                        c->size, c->nhosts);
    return 0;
}

config_t *config_parse (const char *text, size_t len, char *err, size_t errlen)
{
    char perr[200], terr[160];
    struct pstate ps = { 0 };
    json_t *root = yaml_json_parse (text, len, perr, sizeof perr);
    if (!root) {
        errfmt (err, errlen, "config: %s", perr);
        return NULL;
    }
    config_t *c = xcalloc (1, sizeof *c);
    int rc = -1;
    if (!json_is_object (root))
        errfmt (err, errlen, "config: top level must be a mapping");
    else if (parse_scalars (root, c, &ps, err, errlen) == 0 && parse_hosts (root, c, &ps, err, errlen) == 0
             && resolve_parents (c, &ps, err, errlen) == 0 && parse_size (root, c, &ps, err, errlen) == 0) {
        if (!(c->topo = topo_create (c->topology, c->size, ps.parents, terr, sizeof terr)))
            errfmt (err, errlen, "config: topology: %s", terr);
        else
            rc = 0;
    }
    pstate_clear (&ps, c->nhosts);
    json_decref (root);
    if (rc < 0)
        config_destroy (&c);
    return c;
}
