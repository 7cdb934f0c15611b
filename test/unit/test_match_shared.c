/* test_match_shared.c - two containers that contain the same two nodes,
 * under every policy: `container[2] -> node[1] -> core[2] (exclusive)`
 * matches as on a tree-shaped copy of the graph (one node through each
 * container), the JGF writer gives each node the path of the parent it was
 * matched through, find lists a shared node under both parents, and
 * set-status/get-status take the path through either parent. */
#include "check.h"
#include "match.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static char buf[1 << 16];
static size_t blen;

static void put (const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    blen += vsnprintf (buf + blen, sizeof (buf) - blen, fmt, ap);
    va_end (ap);
}

static int uid;
static int vtx (const char *type, int id, const char *path)
{
    put ("%s{\"id\":\"%d\",\"metadata\":{\"type\":\"%s\",\"basename\":\"%s\",\"name\":\"%s%d\","
         "\"id\":%d,\"uniq_id\":%d,\"rank\":-1,\"size\":1,\"paths\":{\"containment\":\"%s\"}}}",
         uid ? "," : "", uid, type, type, type, id, id, uid, path);
    return uid++;
}

/* shared: both containers contain node0 and node1 (written under
 * container0); tree: each container has its own node0 and node1 */
static char *gen (bool shared)
{
    int edges[64][2], ne = 0;
    char path[128];
    blen = 0;
    uid = 0;
    put ("{\"graph\":{\"nodes\":[");
    int c = vtx ("cluster", 0, "/cluster0");
    int k[2];
    for (int i = 0; i < 2; i++) {
        snprintf (path, sizeof (path), "/cluster0/container%d", i);
        k[i] = vtx ("container", i, path);
        edges[ne][0] = c, edges[ne++][1] = k[i];
    }
    for (int i = 0; i < (shared ? 1 : 2); i++) {
        for (int n = 0; n < 2; n++) {
            snprintf (path, sizeof (path), "/cluster0/container%d/node%d", i, n);
            int nv = vtx ("node", n, path);
            for (int p = 0; p < 2; p++)
                if (shared || p == i)
                    edges[ne][0] = k[p], edges[ne++][1] = nv;
            for (int q = 0; q < 4; q++) {
                snprintf (path, sizeof (path), "/cluster0/container%d/node%d/core%d", i, n, q);
                int cv = vtx ("core", q, path);
                edges[ne][0] = nv, edges[ne++][1] = cv;
            }
        }
    }
    put ("],\"edges\":[");
    for (int i = 0; i < ne; i++)
        put ("%s{\"source\":\"%d\",\"target\":\"%d\"}", i ? "," : "", edges[i][0], edges[i][1]);
    put ("]}}");
    return strdup (buf);
}

static const char js_text[] = "version: 9999\nresources:\n  - type: container\n    count: 2\n"
                              "    with:\n      - type: node\n        count: 1\n        with:\n"
                              "          - type: core\n            count: 2\n"
                              "            exclusive: true\n"
                              "attributes:\n  system:\n    duration: 3600\n";

static int count (const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; p && (p = strstr (p, needle)); p++)
        n++;
    return n;
}

static mgraph_t *load (bool shared)
{
    char err[256];
    char *t = gen (shared);
    mgraph_t *g = mgraph_new ();
    if (mgraph_load_jgf (g, t, strlen (t), err, sizeof (err)) < 0) {
        printf ("# load: %s\n", err);
        mgraph_destroy (&g);
    }
    free (t);
    return g;
}

/* does each container get one node, two different nodes, in `out` (simple) */
static bool one_node_each (const char *out)
{
    return out && count (out, "container0[") == 1 && count (out, "container1[") == 1
           && count (out, "node0[") == 1 && count (out, "node1[") == 1;
}

int main (void)
{
    static const char *pols[] = {"low",    "high",    "first",   "lonode",     "hinode",
                                 "lonodex", "hinodex", "firstnodex", "variation", "locality"};
    char err[256];
    mjobspec_t *js = mjobspec_parse (js_text, sizeof (js_text) - 1, err, sizeof (err));
    ok (js != NULL, "jobspec (%s)", err);
    if (!js)
        return done ();
    for (size_t p = 0; p < sizeof (pols) / sizeof (pols[0]); p++) {
        const char *pol = pols[p];
        bool nodex = strstr (pol, "nodex") != NULL;
        int64_t at;
        char *out = NULL;
        /* the tree-shaped copy, for reference */
        mgraph_t *tg = load (false);
        matcher_t *tm = tg ? matcher_new (tg, pol, "CA", NULL, err, sizeof (err)) : NULL;
        int trc = tm ? matcher_match (tm, js, MATCH_ALLOCATE, 1, &at, &out, err, sizeof (err))
                     : MATCH_ERROR;
        ok (trc == MATCH_OK, "%s: matches on the tree-shaped copy", pol);
        free (out);
        matcher_destroy (&tm);
        mgraph_destroy (&tg);

        mgraph_t *g = load (true);
        matcher_t *m = g ? matcher_new (g, pol, "CA", NULL, err, sizeof (err)) : NULL;
        ok (m != NULL, "%s: matcher on the shared graph (%s)", pol, err);
        if (!m) {
            mgraph_destroy (&g);
            continue;
        }
        out = NULL;
        int rc = matcher_match (m, js, MATCH_ALLOCATE, 1, &at, &out, err, sizeof (err));
        ok (rc == MATCH_OK && one_node_each (out),
            "%s: job 1 gets one node through each container", pol);
        free (out);
        out = NULL;
        /* each node has 2 of 4 cores left (none under a node-exclusive policy) */
        rc = matcher_match (m, js, MATCH_ALLOCATE, 2, &at, &out, err, sizeof (err));
        if (nodex)
            ok (rc == MATCH_BUSY, "%s: job 2 is busy (nodes are exclusive)", pol);
        else
            ok (rc == MATCH_OK && one_node_each (out) && count (out, "core") == 4,
                "%s: job 2 gets the other two cores of each node", pol);
        free (out);
        out = NULL;
        rc = matcher_match (m, js, MATCH_ALLOCATE, 3, &at, &out, err, sizeof (err));
        ok (rc == MATCH_BUSY, "%s: job 3 is busy", pol);
        free (out);
        out = NULL;
        matcher_cancel (m, 1);
        matcher_cancel (m, 2);

        /* JGF: the node reached through container1 has container1's path */
        matcher_set_format (m, MFMT_JGF);
        rc = matcher_match (m, js, MATCH_ALLOCATE, 4, &at, &out, err, sizeof (err));
        ok (rc == MATCH_OK && out
                && (strstr (out, "\"/cluster0/container1/node0\"")
                    || strstr (out, "\"/cluster0/container1/node1\""))
                && (strstr (out, "\"/cluster0/container0/node0\"")
                    || strstr (out, "\"/cluster0/container0/node1\""))
                && (strstr (out, "\"/cluster0/container1/node0/core")
                    || strstr (out, "\"/cluster0/container1/node1/core")),
            "%s: -F jgf writes the path of the parent each node was matched through", pol);
        free (out);
        out = NULL;
        matcher_cancel (m, 4);
        matcher_set_format (m, MFMT_SIMPLE);

        /* find: each shared node under both parents */
        ok (matcher_find (m, "status=up", &out, err, sizeof (err)) == 0
                && count (out, "node0[") == 2 && count (out, "node1[") == 2
                && count (out, "core0[") == 4,
            "%s: find lists each shared node (and its cores) under both containers", pol);
        free (out);
        out = NULL;

        /* status through the other parent's path */
        bool up = true;
        ok (matcher_set_status (m, "/cluster0/container1/node1", false) == 0
                && matcher_get_status (m, "/cluster0/container0/node1", &up) == 0 && !up
                && matcher_get_status (m, "/cluster0/container1/node1/core3", &up) == 0 && !up,
            "%s: set-status takes the path through container1", pol);
        ok (mgraph_find_path (g, "/cluster0/container2/node1") < 0
                && mgraph_find_path (g, "/cluster0/container1/node9") < 0,
            "%s: paths through no parent are still unknown", pol);
        rc = matcher_match (m, js, MATCH_ALLOCATE, 5, &at, &out, err, sizeof (err));
        ok (rc == MATCH_BUSY, "%s: with node1 down no two nodes are left", pol);
        free (out);
        matcher_set_status (m, "/cluster0/container1/node1", true);
        matcher_destroy (&m);
        mgraph_destroy (&g);
    }
    mjobspec_destroy (&js);
    return done ();
}
