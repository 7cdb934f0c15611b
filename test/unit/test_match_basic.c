/* test_match_basic.c - the matcher on small hand-made inputs: GRUG and JGF
 * loading, jobspec errors that name the field, low/high/first policies,
 * allocate/reserve/cancel in time, satisfiability, status up/down. */
#include "check.h"
#include "match.h"
#include <stdlib.h>
#include <string.h>

static const char *grug =
    "<?xml version=\"1.0\"?>\n"
    "<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\">\n"
    "<key id=\"root\" for=\"node\" attr.name=\"root\" attr.type=\"int\"><default>0</default></key>\n"
    "<key id=\"type\" for=\"node\" attr.name=\"type\" attr.type=\"string\"/>\n"
    "<key id=\"basename\" for=\"node\" attr.name=\"basename\" attr.type=\"string\"/>\n"
    "<key id=\"size\" for=\"node\" attr.name=\"size\" attr.type=\"long\"><default>1</default></key>\n"
    "<key id=\"id_scope\" for=\"edge\" attr.name=\"id_scope\" attr.type=\"int\"><default>0</default></key>\n"
    "<key id=\"multi_scale\" for=\"edge\" attr.name=\"multi_scale\" attr.type=\"int\"><default>1</default></key>\n"
    "<graph id=\"t\" edgedefault=\"directed\">\n"
    "<node id=\"c\"><data key=\"root\">1</data><data key=\"type\">cluster</data><data key=\"basename\">t</data></node>\n"
    "<node id=\"n\"><data key=\"type\">node</data><data key=\"basename\">node</data></node>\n"
    "<node id=\"s\"><data key=\"type\">socket</data><data key=\"basename\">socket</data></node>\n"
    "<node id=\"k\"><data key=\"type\">core</data><data key=\"basename\">core</data></node>\n"
    "<edge source=\"c\" target=\"n\"><data key=\"multi_scale\">2</data></edge>\n"
    "<edge source=\"n\" target=\"s\"><data key=\"multi_scale\">2</data></edge>\n"
    "<edge source=\"s\" target=\"k\"><data key=\"id_scope\">1</data><data key=\"multi_scale\">4</data></edge>\n"
    "</graph></graphml>\n";

static const char *js_core =
    "version: 9999\nresources:\n  - type: slot\n    count: 1\n    label: d\n    with:\n"
    "      - type: core\n        count: 1\nattributes:\n  system:\n    duration: 100\n"
    "tasks:\n  - command: [app]\n    slot: d\n    count: {per_slot: 1}\n";

static const char *js_node =
    "version: 9999\nresources:\n  - type: node\n    count: 2\n    with:\n"
    "      - type: slot\n        count: 1\n        label: d\n        with:\n"
    "          - type: socket\n            count: 2\n            with:\n"
    "              - type: core\n                count: 4\n"
    "attributes:\n  system:\n    duration: 50\n"
    "tasks:\n  - command: [app]\n    slot: d\n    count: {per_slot: 1}\n";

static mjobspec_t *jp (const char *s)
{
    char err[256];
    return mjobspec_parse (s, strlen (s), err, sizeof (err));
}

static int bad (const char *s, const char *want)
{
    char err[256] = "";
    mjobspec_t *j = mjobspec_parse (s, strlen (s), err, sizeof (err));
    int good = j == NULL && strstr (err, want) != NULL && !strchr (err, '\n');
    if (!good)
        printf ("# error was: %s\n", err);
    mjobspec_destroy (&j);
    return good;
}

static mgraph_t *load (void)
{
    char err[256];
    mgraph_t *g = mgraph_new ();
    if (mgraph_load_grug (g, grug, strlen (grug), err, sizeof (err)) < 0) {
        printf ("# %s\n", err);
        mgraph_destroy (&g);
    }
    return g;
}

int main (void)
{
    char err[256] = "";
    mgraph_t *g = load ();
    ok (g != NULL, "GRUG recipe loads");
    if (!g)
        return done ();
    ok (mgraph_nvertices (g) == 1 + 2 + 4 + 16, "cluster, 2 nodes, 4 sockets, 16 cores");
    ok (mgraph_find_path (g, "/t0/node1/socket1/core7") >= 0, "core ids are per node (id_scope 1)");
    ok (mgraph_find_path (g, "/t0/node1/socket1/core3") < 0, "no core3 under socket1");

    /* jobspec errors name the field */
    ok (bad ("version: 9999\n", "resources"), "missing resources");
    ok (bad ("version: 7\nresources: []\n", "version"), "bad version");
    ok (bad ("version: 9999\nresources:\n  - count: 1\n", "type"), "missing type");
    ok (bad ("version: 9999\nresources:\n  - type: node\n    count: 0\n", "count"), "count 0");
    ok (bad ("version: 9999\nresources:\n  - type: node\n    count: 1\n    exclusive: 3\n",
             "exclusive"),
        "exclusive not a bool");
    ok (bad ("version: 9999\nresources:\n  - type: slot\n    count: 1\n    with:\n"
             "      - type: core\n        count: 1\n",
             "label"),
        "slot without label");
    ok (bad ("version: 9999\nresources:\n  - type: node\n    count: 1\nattributes:\n"
             "  system:\n    duration: -5\n",
             "duration"),
        "negative duration");
    ok (bad ("version: 9999\nresources:\n  - type: node\n    count: {min: 2, max: 1}\n",
             "count.max"),
        "max < min");
    ok (bad ("version: 9999\nresources: [\n", "jobspec"), "YAML syntax error");

    mjobspec_t *core = jp (js_core), *node = jp (js_node);
    ok (core && node, "valid jobspecs parse");
    ok (mjobspec_duration (core) == 100, "duration read");

    int64_t at;
    char *out = NULL;
    /* low policy: core0 of node0 first */
    matcher_t *m = matcher_new (g, "low", "CA", NULL, err, sizeof (err));
    ok (m != NULL, "low matcher");
    ok (matcher_match (m, core, MATCH_ALLOCATE, 1, &at, &out, err, sizeof (err)) == MATCH_OK
            && out && strstr (out, "core0[1:x]") && strstr (out, "node0[1:s]"),
        "low picks node0 core0");
    free (out);
    ok (matcher_match (m, core, MATCH_ALLOCATE, 2, &at, &out, err, sizeof (err)) == MATCH_OK
            && out && strstr (out, "core0[1:x]") && strstr (out, "node1[1:s]"),
        "then the lowest-scoring free slot: node1 core0");
    free (out);
    /* both nodes, 8 cores each: busy now (2 cores used on node0), reserved at 100 */
    ok (matcher_match (m, node, MATCH_ALLOCATE, 3, &at, &out, err, sizeof (err)) == MATCH_BUSY,
        "two whole nodes: busy now");
    ok (matcher_match (m, node, MATCH_ALLOCATE_ORELSE_RESERVE, 4, &at, &out, err, sizeof (err))
                == MATCH_OK
            && at == 100,
        "reserved at 100, when the core jobs end (at=%lld)", (long long)at);
    free (out);
    ok (matcher_cancel (m, 4) == 0, "cancel reservation");
    ok (matcher_cancel (m, 1) == 0 && matcher_cancel (m, 2) == 0, "cancel the core jobs");
    ok (matcher_match (m, node, MATCH_ALLOCATE, 5, &at, &out, err, sizeof (err)) == MATCH_OK
            && at == 0,
        "after cancel the nodes are free now");
    free (out);
    ok (matcher_cancel (m, 5) == 0, "cancel");
    /* status */
    ok (matcher_set_status (m, "/t0/node0", false) == 0, "mark node0 down");
    ok (matcher_match (m, node, MATCH_ALLOCATE_W_SATISFIABILITY, 6, &at, &out, err, sizeof (err))
            == MATCH_UNSAT,
        "node down: two nodes unsatisfiable (Fluxion counts only nodes that are up)");
    ok (matcher_match (m, core, MATCH_ALLOCATE, 7, &at, &out, err, sizeof (err)) == MATCH_OK
            && out && strstr (out, "node1"),
        "core job avoids the down node");
    free (out);
    bool up = true;
    ok (matcher_get_status (m, "/t0/node0/socket0", &up) == 0 && !up, "down reaches children");
    ok (matcher_set_status (m, "/t0/node0", true) == 0, "mark node0 up");
    ok (matcher_set_status (m, "/nope", true) < 0, "unknown path");
    matcher_destroy (&m);

    /* high policy: last core of node1 */
    m = matcher_new (g, "high", "CA", NULL, err, sizeof (err));
    ok (matcher_match (m, core, MATCH_ALLOCATE, 1, &at, &out, err, sizeof (err)) == MATCH_OK
            && out && strstr (out, "core7[1:x]") && strstr (out, "socket1[1:s]"),
        "high picks a core7");
    free (out);
    matcher_destroy (&m);
    m = matcher_new (g, "policy=low node_centric=true", "CA", NULL, err, sizeof (err));
    ok (m != NULL, "custom policy string accepted");
    matcher_destroy (&m);
    m = matcher_new (g, "policy=sideways", "CA", NULL, err, sizeof (err));
    ok (m == NULL && strstr (err, "low or high"), "bad custom policy rejected");
    m = matcher_new (g, "lonodex", "CA", NULL, err, sizeof (err));
    ok (matcher_match (m, core, MATCH_ALLOCATE, 1, &at, &out, err, sizeof (err)) == MATCH_OK
            && out && strstr (out, "node0[1:x]") && strstr (out, "core7[1:x]"),
        "lonodex takes a whole node for one core");
    free (out);
    ok (matcher_match (m, core, MATCH_ALLOCATE, 2, &at, &out, err, sizeof (err)) == MATCH_OK
            && out && strstr (out, "node1[1:x]"),
        "and the next job gets the other node");
    free (out);
    ok (matcher_match (m, core, MATCH_ALLOCATE, 3, &at, &out, err, sizeof (err)) == MATCH_BUSY,
        "then nothing");
    matcher_destroy (&m);
    /* unknown type */
    m = matcher_new (g, "low", "CA", NULL, err, sizeof (err));
    mjobspec_t *gpu = jp ("version: 9999\nresources:\n  - type: gpux\n    count: 1\n");
    ok (gpu && matcher_match (m, gpu, MATCH_ALLOCATE, 1, &at, &out, err, sizeof (err))
                   == MATCH_ERROR
            && strstr (err, "known"),
        "an unknown type is an error");
    mjobspec_destroy (&gpu);
    gpu = jp ("version: 9999\nresources:\n  - type: gpu\n    count: 1\n");
    ok (gpu && matcher_match (m, gpu, MATCH_SATISFIABILITY, 1, &at, &out, err, sizeof (err))
                   == MATCH_UNSAT,
        "a standard type the graph lacks is unsatisfiable, as in Fluxion");
    mjobspec_destroy (&gpu);
    mjobspec_t *big = jp ("version: 9999\nresources:\n  - type: slot\n    count: 1\n    label: d\n"
                          "    with:\n      - type: core\n        count: 99\n");
    ok (matcher_match (m, big, MATCH_ALLOCATE_ORELSE_RESERVE, 2, &at, &out, err, sizeof (err))
            == MATCH_UNSAT,
        "99 cores: unsatisfiable");
    mjobspec_destroy (&big);
    matcher_destroy (&m);

    /* JGF errors */
    mgraph_t *j = mgraph_new ();
    ok (mgraph_load_jgf (j, "{\"graph\":{\"nodes\":[]}}", 22, err, sizeof (err)) < 0
            && strstr (err, "nodes"),
        "JGF without nodes is refused");
    mgraph_destroy (&j);
    j = mgraph_new ();
    const char *bad_edge = "{\"graph\":{\"nodes\":[{\"id\":\"0\",\"metadata\":{\"type\":\"node\"}}],"
                           "\"edges\":[{\"source\":\"0\",\"target\":\"9\"}]}}";
    ok (mgraph_load_jgf (j, bad_edge, strlen (bad_edge), err, sizeof (err)) < 0
            && strstr (err, "unknown vertex"),
        "JGF edge to an unknown vertex is refused");
    mgraph_destroy (&j);

    mjobspec_destroy (&core);
    mjobspec_destroy (&node);
    mgraph_destroy (&g);
    return done ();
}
