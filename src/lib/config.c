/* config.c - parse and validate the instance configuration.
 *
 * Mirrors Flux's [bootstrap] table: default_port/default_bind/
 * default_connect with %h (host) and %p (port) substituted, a hosts array
 * whose "host" fields are hostlists, and per-host bind/connect overrides.
 * Every error is one line naming the field.
 */
#include "config.h"
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
        free (c->curve_cert);
        free (c->topology);
        topo_destroy (&c->topo);
        free (c);
        *p = NULL;
    }
}

/* substitute %h and %p (and %% for a literal percent) */
static char *subst (const char *tmpl, const char *host, long port)
{
    size_t cap = strlen (tmpl) + strlen (host) * 4 + 64;
    char *out = malloc (cap), *o = out;
    for (const char *p = tmpl; *p; p++) {
        if (p[0] == '%' && p[1] == 'h') {
            o += sprintf (o, "%s", host);
            p++;
        }
        else if (p[0] == '%' && p[1] == 'p') {
            o += sprintf (o, "%ld", port);
            p++;
        }
        else if (p[0] == '%' && p[1] == '%') {
            *o++ = '%';
            p++;
        }
        else
            *o++ = *p;
        if ((size_t)(o - out) + strlen (host) + 32 > cap)
            break;
    }
    *o = '\0';
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

config_t *config_parse (const char *text, size_t len, char *err, size_t errlen)
{
    static const char *const top_keys[] = { "curve_cert", "topology", "default_port",
                                            "default_bind", "default_connect", "heartbeat",
                                            "timeout", "hosts", NULL };
    static const char *const host_keys[] = { "host", "bind", "connect", "parent", "port", NULL };
    char perr[200];
    json_t *root = yaml_json_parse (text, len, perr, sizeof perr);
    config_t *c = NULL;
    int bad = 0;
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
            snprintf (err, errlen, "config: unknown key '%.64s'", key);
            goto fail;
        }
    }
    c = calloc (1, sizeof *c);
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
    c->curve_cert = cert ? strdup (cert) : NULL;
    c->topology = strdup (topo ? topo : "kary:2");
    json_t *hosts = json_object_get (root, "hosts");
    if (!json_is_array (hosts) || json_array_size (hosts) == 0) {
        snprintf (err, errlen, "config: hosts must be a non-empty list");
        goto fail;
    }
    size_t idx;
    json_t *h;
    char **parent_names = NULL;
    size_t nparent = 0;
    json_array_foreach (hosts, idx, h) {
        if (!json_is_object (h)) {
            snprintf (err, errlen, "config: hosts[%zu] must be a mapping", idx);
            goto fail;
        }
        json_object_foreach (h, key, val) {
            if (!known_key (key, host_keys)) {
                snprintf (err, errlen, "config: hosts[%zu]: unknown key '%.64s'", idx, key);
                goto fail_pn;
            }
        }
        const char *expr = get_str (h, "host", &bad);
        const char *bind = get_str (h, "bind", &bad);
        const char *conn = get_str (h, "connect", &bad);
        json_t *jpar = json_object_get (h, "parent");
        json_t *jp = json_object_get (h, "port");
        if (bad || !expr) {
            snprintf (err, errlen, "config: hosts[%zu]: host (a hostlist) is required; host, bind, connect are strings", idx);
            goto fail_pn;
        }
        long port = dport;
        if (jp) {
            if (!json_is_integer (jp) || json_integer_value (jp) < 1 || json_integer_value (jp) > 65535) {
                snprintf (err, errlen, "config: hosts[%zu]: port must be an integer 1-65535", idx);
                goto fail_pn;
            }
            port = json_integer_value (jp);
        }
        size_t n;
        char herr[160];
        char **names = hostlist_expand (expr, &n, herr, sizeof herr);
        if (!names) {
            snprintf (err, errlen, "config: hosts[%zu]: %s", idx, herr);
            goto fail_pn;
        }
        if (n > 1 && (bind || conn)) {
            snprintf (err, errlen, "config: hosts[%zu]: bind/connect overrides need a single host", idx);
            hostlist_free (names, n);
            goto fail_pn;
        }
        if (c->nhosts + n > (1u << 20)) {
            snprintf (err, errlen, "config: too many hosts");
            hostlist_free (names, n);
            goto fail_pn;
        }
        c->hosts = realloc (c->hosts, (c->nhosts + n) * sizeof (config_host_t));
        parent_names = realloc (parent_names, (c->nhosts + n) * sizeof (char *));
        for (size_t i = 0; i < n; i++) {
            config_host_t *ch = &c->hosts[c->nhosts];
            ch->host = strdup (names[i]);
            ch->bind = subst (bind ? bind : dbind ? dbind : "tcp://*:%p", names[i], port);
            ch->connect = subst (conn ? conn : dconn ? dconn : "tcp://%h:%p", names[i], port);
            ch->parent = TOPO_NONE;
            parent_names[c->nhosts] = NULL;
            if (jpar) {
                if (json_is_string (jpar))
                    parent_names[c->nhosts] = strdup (json_string_value (jpar));
                else if (json_is_integer (jpar) && json_integer_value (jpar) >= 0)
                    ch->parent = json_integer_value (jpar);
                else {
                    snprintf (err, errlen, "config: hosts[%zu]: parent must be a host name or rank", idx);
                    c->nhosts++;
                    nparent = c->nhosts;
                    hostlist_free (names, n);
                    goto fail_pn;
                }
            }
            c->nhosts++;
            nparent = c->nhosts;
        }
        hostlist_free (names, n);
    }
    /* custom topology: resolve parents */
    uint32_t *parents = NULL;
    if (!strcmp (c->topology, "custom")) {
        parents = calloc (c->nhosts, sizeof (uint32_t));
        for (size_t r = 1; r < c->nhosts; r++) {
            if (parent_names[r]) {
                int pr = config_rank_of (c, parent_names[r]);
                if (pr < 0) {
                    snprintf (err, errlen, "config: host %s: unknown parent '%.64s'", c->hosts[r].host,
                              parent_names[r]);
                    free (parents);
                    goto fail_pn;
                }
                c->hosts[r].parent = pr;
            }
            if (c->hosts[r].parent == TOPO_NONE) {
                snprintf (err, errlen, "config: custom topology: host %s (rank %zu) has no parent",
                          c->hosts[r].host, r);
                free (parents);
                goto fail_pn;
            }
            parents[r] = c->hosts[r].parent;
        }
    }
    char terr[160];
    c->topo = topo_create (c->topology, c->nhosts, parents, terr, sizeof terr);
    free (parents);
    if (!c->topo) {
        snprintf (err, errlen, "config: topology: %s", terr);
        goto fail_pn;
    }
    for (size_t i = 0; i < nparent; i++)
        free (parent_names[i]);
    free (parent_names);
    json_decref (root);
    return c;
fail_pn:
    for (size_t i = 0; i < nparent; i++)
        free (parent_names[i]);
    free (parent_names);
fail:
    json_decref (root);
    config_destroy (&c);
    return NULL;
}
