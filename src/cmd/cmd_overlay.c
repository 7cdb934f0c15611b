/* cmd_overlay.c - canopy overlay status: draw the live tree.
 *
 * Asks rank 0 for its children's states, then each online child for its
 * own, level by level (all requests of a level in flight at once).  Ranks
 * below a lost or offline broker cannot be asked; they show its state.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"
#include "xalloc.h"
#include "topo.h"

struct view {
    uint32_t size;
    char **host;
    const char **state;
    char label[512];
};

static const char *label (uint32_t r, void *arg)
{
    struct view *v = arg;
    snprintf (v->label, sizeof v->label, "%s: %s", v->host[r] ? v->host[r] : "?",
              v->state[r] ? v->state[r] : "unknown");
    return v->label;
}

int cmd_overlay (int argc, char **argv)
{
    if (cmd_help_asked (argc, argv)) {
        printf ("Usage: canopy overlay status [--json] [--timeout SECS]\n");
        return 0;
    }
    if (argc < 2 || strcmp (argv[1], "status"))
        die ("Usage: canopy overlay status [--json] [--timeout SECS]");
    bool as_json = false;
    double timeout = 5;
    for (int i = 2; i < argc; i++) {
        if (!strcmp (argv[i], "--json"))
            as_json = true;
        else if (!strcmp (argv[i], "--timeout") && i + 1 < argc)
            timeout = strtod (argv[++i], NULL);
        else
            die ("overlay status: unknown argument '%s'", argv[i]);
    }
    client_t *c = cmd_connect ();
    char err[256];
    json_t *root = client_call (c, 0, "overlay.status", json_object (), timeout * 1000, err, sizeof err);
    if (!root)
        die ("overlay status: %s", err);
    json_int_t size = 0;
    const char *spec = "kary:2";
    json_unpack (root, "{s:I s:s}", "size", &size, "topology", &spec);
    json_t *parents = json_object_get (root, "parents");
    uint32_t *par = NULL;
    if (json_is_array (parents) && json_array_size (parents) == (size_t)size) {
        par = xcalloc (size, sizeof (uint32_t));
        for (json_int_t r = 1; r < size; r++)
            par[r] = json_integer_value (json_array_get (parents, r));
    }
    topo_t *t = topo_create (spec, size, par, err, sizeof err);
    free (par);
    if (!t)
        die ("overlay status: %s", err);
    struct view v = { .size = size };
    v.host = xcalloc (size, sizeof (char *));
    v.state = xcalloc (size, sizeof (char *));
    v.state[0] = "online";
    json_t *hosts = json_object_get (root, "hosts");
    for (size_t r = 0; r < json_array_size (hosts) && r < (size_t)size; r++)
        v.host[r] = xstrdup (json_string_value (json_array_get (hosts, r)) ?: "?");
    char *asked = xcalloc (size, 1);
    /* BFS over online brokers */
    json_t *level = json_array ();
    json_array_append_new (level, root);
    while (json_array_size (level)) {
        json_t *next = json_array ();
        size_t i;
        json_t *st;
        json_array_foreach (level, i, st) {
            json_int_t rank;
            const char *host;
            json_unpack (st, "{s:I s:s}", "rank", &rank, "host", &host);
            free (v.host[rank]);
            v.host[rank] = xstrdup (host);
            size_t k;
            json_t *ch;
            json_array_foreach (json_object_get (st, "children"), k, ch) {
                json_int_t cr;
                const char *cs, *chost;
                if (json_unpack (ch, "{s:I s:s s:s}", "rank", &cr, "state", &cs, "host", &chost) < 0
                    || cr < 0 || cr >= size)
                    continue;
                json_t *att = json_object_get (ch, "attached");
                if (json_is_true (att)) {   /* its parent is down: it hangs on this broker */
                    char *via = NULL;
                    if (asprintf (&via, "%s (attached to %lld)", cs, (long long)rank) < 0)
                        via = NULL;
                    v.state[cr] = via ? via : xstrdup (cs);
                }
                else if (!v.state[cr] || strncmp (v.state[cr], "online (attached", 16))
                    v.state[cr] = xstrdup (cs);
                free (v.host[cr]);
                v.host[cr] = xstrdup (chost);
            }
        }
        /* ask the online children of this level, all at once */
        uint32_t *tags = xcalloc (json_array_size (level) * 64 + 1, sizeof (uint32_t));
        size_t ntags = 0;
        json_array_foreach (level, i, st) {
            size_t k;
            json_t *ch;
            json_array_foreach (json_object_get (st, "children"), k, ch) {
                json_int_t cr;
                const char *cs;
                if (json_unpack (ch, "{s:I s:s}", "rank", &cr, "state", &cs) < 0 || strcmp (cs, "online"))
                    continue;
                if (asked[cr])   /* reported twice (moving between parents) */
                    continue;
                asked[cr] = 1;
                tags = xrealloc (tags, (ntags + 1) * sizeof *tags);
                tags[ntags++] = cmd_send (c, cr, "overlay.status", json_object (), 0);
            }
        }
        for (size_t n = 0; n < ntags; n++) {
            cmsg_t m;
            if (client_stream_next (c, 0, &m, timeout * 1000, NULL, 0) < 0)
                break;
            if (m.hdr.errnum == 0)
                json_array_append (next, m.json);
            else if (m.hdr.src < size)
                v.state[m.hdr.src] = "unreachable";
            client_msg_clear (&m);
        }
        free (tags);
        json_decref (level);
        level = next;
    }
    json_decref (level);
    free (asked);
    /* ranks below a non-online broker inherit its state, unless they
     * attached to an ancestor and reported themselves */
    for (uint32_t r = 1; r < size; r++) {
        uint32_t p = topo_parent (t, r);
        bool attached = v.state[r] && !strncmp (v.state[r], "online (attached", 16);
        if (!attached && (!v.state[r] || (v.state[p] && strncmp (v.state[p], "online", 6))))
            v.state[r] = v.state[p] && strncmp (v.state[p], "online", 6) ? v.state[p] : "unknown";
    }
    if (as_json) {
        json_t *arr = json_array ();
        for (uint32_t r = 0; r < size; r++) {
            long long att = -1;
            bool is_att = sscanf (v.state[r], "online (attached to %lld)", &att) == 1;
            json_t *e = json_pack ("{s:I s:s s:s s:o}", "rank", (json_int_t)r, "host", v.host[r] ? v.host[r] : "",
                                   "state", is_att ? "online" : v.state[r], "parent",
                                   r ? json_integer (topo_parent (t, r)) : json_null ());
            if (is_att)
                json_object_set_new (e, "attached_to", json_integer (att));
            json_array_append_new (arr, e);
        }
        char *s = json_dumps (arr, JSON_INDENT (1));
        printf ("%s\n", s);
        free (s);
        json_decref (arr);
    }
    else {
        char *s = topo_draw (t, label, NULL, &v);
        fputs (s, stdout);
        free (s);
    }
    topo_destroy (&t);
    client_destroy (&c);
    return 0;
}
