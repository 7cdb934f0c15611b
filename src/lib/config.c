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
#include "yaml_json.h"
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
        free (c->topology);
        topo_destroy (&c->topo);
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
    char *out = malloc (subst_run (NULL, tmpl, host, ps) + 1);
    if (out)
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

/* grow a per-rank array to hold at least `need` elements */
static int reserve (void **v, size_t *cap, size_t need, size_t elsize)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *nv = realloc (*v, c * elsize);
    if (!nv)
        return -1;
    *v = nv;
    *cap = c;
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
    struct hostep *v = malloc ((c->nhosts ? c->nhosts : 1) * sizeof *v);
    if (!v) {
        snprintf (err, errlen, "config: out of memory");
        return -1;
    }
    int rc = 0;
    for (int which = 0; which < 2 && rc == 0; which++) {
        for (size_t r = 0; r < c->nhosts; r++)
            v[r] = (struct hostep){ c->hosts[r].host, which ? c->hosts[r].connect : c->hosts[r].bind, r };
        qsort (v, c->nhosts, sizeof *v, hostep_cmp);
        for (size_t i = 1; i < c->nhosts; i++) {
            if (strcmp (v[i].host, v[i - 1].host) || strcmp (v[i].ep, v[i - 1].ep))
                continue;
            char qh[65], qe[129];
            snprintf (err, errlen,
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

config_t *config_parse (const char *text, size_t len, char *err, size_t errlen)
{
    static const char *const top_keys[] = { "curve_cert", "topology", "default_port",
                                            "default_bind", "default_connect", "heartbeat",
                                            "timeout", "hosts", "size", NULL };
    static const char *const host_keys[] = { "host", "bind", "connect", "parent", "port", NULL };
    char perr[200], q[65];
    config_t *c = NULL;
    int bad = 0, failed = 1;
    /* everything the failure path frees: per-rank parent as given (a name,
     * or a rank in prank with TOPO_NONE meaning none) and the hosts[] entry
     * each rank came from, for error messages */
    char **names = NULL;
    size_t nnames = 0;
    char **pname = NULL;
    json_int_t *prank = NULL;
    size_t *pentry = NULL;
    size_t cap_hosts = 0, cap_pname = 0, cap_prank = 0, cap_pentry = 0;
    uint32_t *parents = NULL;
    json_t *root = yaml_json_parse (text, len, perr, sizeof perr);
    if (!root) {
        snprintf (err, errlen, "config: %s", perr);
        return NULL;
    }
    if (!json_is_object (root)) {
        snprintf (err, errlen, "config: top level must be a mapping");
        goto fail;
    }
    const char *key;
    json_t *val;
    json_object_foreach (root, key, val) {
        if (!known_key (key, top_keys)) {
            snprintf (err, errlen, "config: unknown key '%s'", errquote (q, sizeof q, key, (size_t)-1));
            goto fail;
        }
    }
    if (!(c = calloc (1, sizeof *c)))
        goto nomem;
    const char *cert = get_str (root, "curve_cert", &bad);
    const char *topo = get_str (root, "topology", &bad);
    const char *dbind = get_str (root, "default_bind", &bad);
    const char *dconn = get_str (root, "default_connect", &bad);
    if (bad) {
        snprintf (err, errlen, "config: curve_cert, topology, default_bind and default_connect must be strings");
        goto fail;
    }
    json_t *jport = json_object_get (root, "default_port");
    long dport = 8050;
    if (jport) {
        if (!json_is_integer (jport) || json_integer_value (jport) < 1
            || json_integer_value (jport) > 65535) {
            snprintf (err, errlen, "config: default_port must be an integer 1-65535");
            goto fail;
        }
        dport = json_integer_value (jport);
    }
    c->heartbeat = 1.0;
    c->timeout = 5.0;
    json_t *jhb = json_object_get (root, "heartbeat"), *jto = json_object_get (root, "timeout");
    if (jhb) {
        if (!json_is_number (jhb) || json_number_value (jhb) <= 0 || json_number_value (jhb) > 3600) {
            snprintf (err, errlen, "config: heartbeat must be a number of seconds > 0");
            goto fail;
        }
        c->heartbeat = json_number_value (jhb);
    }
    if (jto) {
        if (!json_is_number (jto) || json_number_value (jto) <= 0 || json_number_value (jto) > 86400) {
            snprintf (err, errlen, "config: timeout must be a number of seconds > 0");
            goto fail;
        }
        c->timeout = json_number_value (jto);
    }
    if (c->timeout < 2 * c->heartbeat) {
        snprintf (err, errlen, "config: timeout must be at least twice the heartbeat");
        goto fail;
    }
    if (cert && !(c->curve_cert = strdup (cert)))
        goto nomem;
    c->default_port = dport;
    if (!(c->default_bind = strdup (dbind ? dbind : "tcp://*:%p"))
        || !(c->default_connect = strdup (dconn ? dconn : "tcp://%h:%p")))
        goto nomem;
    if (!(c->topology = strdup (topo ? topo : "kary:2")))
        goto nomem;
    int custom = !strcmp (c->topology, "custom");
    json_t *hosts = json_object_get (root, "hosts");
    if (!json_is_array (hosts) || json_array_size (hosts) == 0) {
        snprintf (err, errlen, "config: hosts must be a non-empty list");
        goto fail;
    }
    size_t idx;
    json_t *h;
    json_array_foreach (hosts, idx, h) {
        if (!json_is_object (h)) {
            snprintf (err, errlen, "config: hosts[%zu] must be a mapping", idx);
            goto fail;
        }
        json_object_foreach (h, key, val) {
            if (!known_key (key, host_keys)) {
                snprintf (err, errlen, "config: hosts[%zu]: unknown key '%s'", idx,
                          errquote (q, sizeof q, key, (size_t)-1));
                goto fail;
            }
        }
        const char *expr = get_str (h, "host", &bad);
        const char *bind = get_str (h, "bind", &bad);
        const char *conn = get_str (h, "connect", &bad);
        json_t *jpar = json_object_get (h, "parent");
        json_t *jp = json_object_get (h, "port");
        if (bad || !expr) {
            snprintf (err, errlen, "config: hosts[%zu]: host (a hostlist) is required; host, bind, connect are strings", idx);
            goto fail;
        }
        long port = dport;
        if (jp) {
            if (!json_is_integer (jp) || json_integer_value (jp) < 1 || json_integer_value (jp) > 65535) {
                snprintf (err, errlen, "config: hosts[%zu]: port must be an integer 1-65535", idx);
                goto fail;
            }
            port = json_integer_value (jp);
        }
        if (jpar && !json_is_string (jpar)
            && !(json_is_integer (jpar) && json_integer_value (jpar) >= 0)) {
            snprintf (err, errlen, "config: hosts[%zu]: parent must be a host name or rank", idx);
            goto fail;
        }
        if (jpar && !custom) {
            snprintf (err, errlen,
                      "config: hosts[%zu]: parent is only for 'topology: custom' (the topology is '%s')",
                      idx, errquote (q, sizeof q, c->topology, (size_t)-1));
            goto fail;
        }
        char herr[160];
        if (!(names = hostlist_expand (expr, &nnames, herr, sizeof herr))) {
            nnames = 0;
            snprintf (err, errlen, "config: hosts[%zu]: %s", idx, herr);
            goto fail;
        }
        if (nnames > 1 && (bind || conn)) {
            snprintf (err, errlen, "config: hosts[%zu]: bind/connect overrides need a single host", idx);
            goto fail;
        }
        if (c->nhosts + nnames > (1u << 20)) {
            snprintf (err, errlen, "config: too many hosts");
            goto fail;
        }
        size_t need = c->nhosts + nnames;
        if (reserve ((void **)&c->hosts, &cap_hosts, need, sizeof *c->hosts) < 0
            || reserve ((void **)&pname, &cap_pname, need, sizeof *pname) < 0
            || reserve ((void **)&prank, &cap_prank, need, sizeof *prank) < 0
            || reserve ((void **)&pentry, &cap_pentry, need, sizeof *pentry) < 0)
            goto nomem;
        for (size_t i = 0; i < nnames; i++) {
            size_t r = c->nhosts;
            config_host_t *ch = &c->hosts[r];
            /* count the rank first so that config_destroy frees what follows */
            memset (ch, 0, sizeof *ch);
            ch->parent = TOPO_NONE;
            pname[r] = NULL;
            prank[r] = -1;
            pentry[r] = idx;
            c->nhosts++;
            ch->host = names[i]; /* taken over */
            names[i] = NULL;
            ch->bind = subst (bind ? bind : dbind ? dbind : "tcp://*:%p", ch->host, port);
            ch->connect = subst (conn ? conn : dconn ? dconn : "tcp://%h:%p", ch->host, port);
            if (!ch->bind || !ch->connect)
                goto nomem;
            if (json_is_string (jpar)) {
                if (!(pname[r] = strdup (json_string_value (jpar))))
                    goto nomem;
            }
            else if (jpar)
                prank[r] = json_integer_value (jpar);
        }
        hostlist_free (names, nnames);
        names = NULL;
        nnames = 0;
    }
    /* the same host twice: only as brokers with their own endpoints (a
     * local instance); two brokers binding or connecting one endpoint of one
     * host cannot both run */
    if (check_duplicates (c, err, errlen) < 0)
        goto fail;
    /* custom topology: resolve parents by name or rank */
    if (custom) {
        if (!(parents = calloc (c->nhosts, sizeof (uint32_t))))
            goto nomem;
        for (size_t r = 1; r < c->nhosts; r++) {
            if (pname[r]) {
                int pr = config_rank_of (c, pname[r]);
                if (pr < 0) {
                    snprintf (err, errlen, "config: host %.64s: unknown parent '%s'", c->hosts[r].host,
                              errquote (q, sizeof q, pname[r], (size_t)-1));
                    goto fail;
                }
                c->hosts[r].parent = pr;
            }
            else if (prank[r] >= 0) {
                if (prank[r] >= (json_int_t)c->nhosts) {
                    snprintf (err, errlen,
                              "config: hosts[%zu]: parent rank %" JSON_INTEGER_FORMAT
                              " out of range: the custom topology has %zu hosts",
                              pentry[r], prank[r], c->nhosts);
                    goto fail;
                }
                c->hosts[r].parent = (uint32_t)prank[r];
            }
            else {
                snprintf (err, errlen, "config: custom topology: host %.64s (rank %zu) has no parent",
                          c->hosts[r].host, r);
                goto fail;
            }
            parents[r] = c->hosts[r].parent;
        }
    }
    /* size: ranks beyond the listed hosts stay free until a broker joins
     * (doc/membership.md) */
    c->size = c->nhosts;
    json_t *jsize = json_object_get (root, "size");
    if (jsize) {
        if (!json_is_integer (jsize) || json_integer_value (jsize) < (json_int_t)c->nhosts
            || json_integer_value (jsize) > (1 << 20)) {
            snprintf (err, errlen, "config: size must be an integer from the number of hosts (%zu) to %d",
                      c->nhosts, 1 << 20);
            goto fail;
        }
        c->size = (size_t)json_integer_value (jsize);
        if (custom && c->size > c->nhosts) {
            snprintf (err, errlen, "config: a custom topology cannot have ranks without hosts (size %zu, %zu hosts)",
                      c->size, c->nhosts);
            goto fail;
        }
    }
    char terr[160];
    c->topo = topo_create (c->topology, c->size, parents, terr, sizeof terr);
    if (!c->topo) {
        snprintf (err, errlen, "config: topology: %s", terr);
        goto fail;
    }
    failed = 0;
    goto done;
nomem:
    snprintf (err, errlen, "config: out of memory");
fail:
done:
    for (size_t r = 0; c && r < c->nhosts; r++)
        free (pname[r]);
    free (pname);
    free (prank);
    free (pentry);
    free (parents);
    hostlist_free (names, nnames);
    json_decref (root);
    if (failed)
        config_destroy (&c);
    return c;
}
