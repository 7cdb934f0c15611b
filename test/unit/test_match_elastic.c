/* test_match_elastic.c - the graph changing under the matcher and the
 * flexible traverser: attach a JGF subgraph, remove by path and by rank,
 * update from an rv1exec R, or-slots and xor_slot alternatives, the
 * variation policy, and the rv1/JGF writers. */
#include "check.h"
#include "match.h"
#include <stdlib.h>
#include <string.h>

/* cluster c0 -> node0 (rank 0), node1 (rank 1) -> socket0 -> core0-3, gpu0 */
static char *jgf_node (int rank, int uniq0, bool with_root)
{
    char *s = malloc (8192);
    int n = 0;
    n += sprintf (s + n, "{\"graph\": {\"nodes\": [");
    if (with_root)
        n += sprintf (s + n, "{\"id\": \"0\", \"metadata\": {\"type\": \"cluster\", \"basename\": "
                             "\"c\", \"name\": \"c0\", \"id\": 0, \"paths\": {\"containment\": "
                             "\"/c0\"}}},");
    n += sprintf (s + n,
                  "{\"id\": \"%d\", \"metadata\": {\"type\": \"node\", \"name\": \"node%d\", "
                  "\"id\": %d, \"rank\": %d, \"paths\": {\"containment\": \"/c0/node%d\"}}},",
                  uniq0, rank, rank, rank, rank);
    n += sprintf (s + n,
                  "{\"id\": \"%d\", \"metadata\": {\"type\": \"socket\", \"id\": 0, \"rank\": %d, "
                  "\"paths\": {\"containment\": \"/c0/node%d/socket0\"}}},",
                  uniq0 + 1, rank, rank);
    for (int k = 0; k < 4; k++)
        n += sprintf (s + n,
                      "{\"id\": \"%d\", \"metadata\": {\"type\": \"core\", \"id\": %d, \"rank\": "
                      "%d, \"paths\": {\"containment\": \"/c0/node%d/socket0/core%d\"}}},",
                      uniq0 + 2 + k, k, rank, rank, k);
    n += sprintf (s + n,
                  "{\"id\": \"%d\", \"metadata\": {\"type\": \"gpu\", \"id\": 0, \"rank\": %d, "
                  "\"paths\": {\"containment\": \"/c0/node%d/socket0/gpu0\"}}}",
                  uniq0 + 6, rank, rank);
    n += sprintf (s + n, "], \"edges\": [");
    n += sprintf (s + n, "{\"source\": \"0\", \"target\": \"%d\"},", uniq0);
    n += sprintf (s + n, "{\"source\": \"%d\", \"target\": \"%d\"}", uniq0, uniq0 + 1);
    for (int k = 0; k < 5; k++)
        n += sprintf (s + n, ",{\"source\": \"%d\", \"target\": \"%d\"}", uniq0 + 1,
                      uniq0 + 2 + k);
    sprintf (s + n, "]}}");
    return s;
}

static mjobspec_t *jp (const char *s)
{
    char err[256];
    mjobspec_t *j = mjobspec_parse (s, strlen (s), err, sizeof (err));
    if (!j)
        printf ("# jobspec: %s\n", err);
    return j;
}

#define TAIL "attributes:\n  system:\n    duration: 100\ntasks:\n  - command: [app]\n" \
             "    slot: d\n    count: {per_slot: 1}\n"

/* per socket: "small" (2 cores + the gpu) or "big" (3 cores) */
static const char *js_or =
    "version: 9999\nresources:\n  - type: socket\n    count: 1\n    with:\n"
    "      - type: slot\n        count: 1\n        label: d\n        with:\n"
    "          - type: core\n            count: 2\n          - type: gpu\n            count: 1\n"
    "      - type: slot\n        count: 1\n        label: d\n        with:\n"
    "          - type: core\n            count: 3\n" TAIL;

static const char *js_xor =
    "version: 9999\nresources:\n  - type: socket\n    count: 1\n    with:\n"
    "      - type: xor_slot\n        count: 1\n        label: d\n        with:\n"
    "          - type: core\n            count: 2\n          - type: gpu\n            count: 1\n"
    "      - type: xor_slot\n        count: 1\n        label: d\n        with:\n"
    "          - type: core\n            count: 3\n" TAIL;

static const char *js_node =
    "version: 9999\nresources:\n  - type: slot\n    count: 1\n    label: d\n    with:\n"
    "      - type: node\n        count: 1\n" TAIL;

static int count (const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; p && (p = strstr (p, needle)); p += strlen (needle))
        n++;
    return n;
}

int main (void)
{
    char err[512] = "";
    int64_t at;
    char *out = NULL;

    /* ---- attach and remove ---- */
    mgraph_t *g = mgraph_new ();
    char *n0 = jgf_node (0, 1, true), *n1 = jgf_node (1, 8, true);
    ok (mgraph_load_jgf (g, n0, strlen (n0), err, sizeof (err)) == 0, "one node loads: %s", err);
    matcher_t *m = matcher_new (g, "low", "CA", NULL, err, sizeof (err));
    ok (m != NULL, "matcher: %s", err);
    mjobspec_t *node = jp (js_node);
    ok (matcher_match (m, node, MATCH_ALLOCATE, 1, &at, &out, err, sizeof (err)) == MATCH_OK,
        "node0 allocated");
    free (out);
    ok (matcher_match (m, node, MATCH_ALLOCATE, 2, &at, &out, err, sizeof (err)) == MATCH_BUSY,
        "no second node yet");
    ok (mgraph_attach_jgf (g, n1, strlen (n1), err, sizeof (err)) == 0, "attach node1: %s", err);
    matcher_graph_changed (m);
    ok (mgraph_find_path (g, "/c0/node1/socket0/core3") >= 0 && mgraph_nvertices (g) == 15,
        "node1 added, the shared root reused");
    ok (matcher_match (m, node, MATCH_ALLOCATE, 2, &at, &out, err, sizeof (err)) == MATCH_OK
            && out && strstr (out, "node1[1:x]"),
        "the attached node is matched");
    free (out);
    const char *other_root = "{\"graph\": {\"nodes\": [{\"id\": \"99\", \"metadata\": {\"type\": "
                             "\"cluster\", \"name\": \"z0\", \"paths\": {\"containment\": "
                             "\"/z0\"}}}], \"edges\": []}}";
    ok (mgraph_attach_jgf (g, other_root, strlen (other_root), err, sizeof (err)) < 0
            && strstr (err, "root") && !strchr (err, '\n'),
        "a second root is refused: %s", err);
    ok (matcher_cancel (m, 1) == 0 && matcher_cancel (m, 2) == 0, "cancel both");
    ok (matcher_remove_path (m, "/c0/node1", err, sizeof (err)) == 0
            && mgraph_find_path (g, "/c0/node1/socket0") < 0,
        "remove node1 by path");
    ok (matcher_remove_path (m, "/c0/nope", err, sizeof (err)) < 0, "unknown path refused");
    ok (matcher_match (m, node, MATCH_ALLOCATE, 3, &at, &out, err, sizeof (err)) == MATCH_OK
            && out && strstr (out, "node0"),
        "node0 still matches");
    free (out);
    ok (matcher_match (m, node, MATCH_ALLOCATE, 4, &at, &out, err, sizeof (err)) == MATCH_BUSY,
        "removed node1 is gone");
    int64_t r0[] = {0};
    ok (matcher_cancel (m, 3) == 0 && matcher_remove_ranks (m, r0, 1, err, sizeof (err)) == 0,
        "remove rank 0");
    ok (matcher_match (m, node, MATCH_ALLOCATE, 5, &at, &out, err, sizeof (err)) != MATCH_OK,
        "no node left");
    matcher_destroy (&m);
    mgraph_destroy (&g);

    /* ---- update from an R, rv1 and JGF writers ---- */
    const char *R = "{\"version\": 1, \"execution\": {\"R_lite\": [{\"rank\": \"0-2\", "
                    "\"children\": {\"core\": \"0-3\"}}], \"nodelist\": [\"n[0-2]\"]}}";
    const char *R1 = "{\"version\": 1, \"execution\": {\"R_lite\": [{\"rank\": \"1\", "
                     "\"children\": {\"core\": \"0-3\"}}], \"nodelist\": [\"n1\"]}}";
    const char *Rbad = "{\"version\": 1, \"execution\": {\"R_lite\": [{\"rank\": \"1\", "
                       "\"children\": {\"asic\": \"0\"}}], \"nodelist\": [\"n1\"]}}";
    g = mgraph_new ();
    ok (mgraph_load_rv1exec (g, R, strlen (R), err, sizeof (err)) == 0, "R loads: %s", err);
    m = matcher_new (g, "high", "CA", NULL, err, sizeof (err));
    ok (matcher_update_rv1exec (m, R1, strlen (R1), 7, 0, 100, &out, err, sizeof (err)) == 0
            && out && strstr (out, "n1[1:x]") && count (out, "core") == 4,
        "update marks rank 1 and its cores");
    free (out);
    ok (matcher_update_rv1exec (m, Rbad, strlen (Rbad), 8, 0, 100, &out, err, sizeof (err)) < 0
            && strstr (err, "asic"),
        "update naming a type the graph lacks fails: %s", err);
    ok (matcher_update_rv1exec (m, R1, strlen (R1), 7, 0, 100, &out, err, sizeof (err)) < 0,
        "update of an existing job id fails");
    matcher_set_format (m, MFMT_RV1_NOSCHED);
    mjobspec_t *two = jp ("version: 9999\nresources:\n  - type: slot\n    count: 2\n"
                          "    label: d\n    with:\n      - type: node\n        count: 1\n"
                          "        with:\n          - type: core\n            count: 4\n" TAIL);
    ok (two && matcher_match (m, two, MATCH_ALLOCATE, 9, &at, &out, err, sizeof (err)) == MATCH_OK
            && out
            && strstr (out, "\"R_lite\": [{\"rank\": \"0,2\", \"children\": {\"core\": \"0-3\"}}]")
            && strstr (out, "\"nodelist\": [\"n[0,2]\"]") && strstr (out, "\"expiration\": 100"),
        "rv1: ranks with the same children share an entry: %s", out ? out : "");
    free (out);
    matcher_set_format (m, MFMT_JGF);
    ok (matcher_cancel (m, 9) == 0
            && matcher_match (m, two, MATCH_ALLOCATE, 10, &at, &out, err, sizeof (err))
                   == MATCH_OK
            && out && strstr (out, "{\"graph\": {\"nodes\": [")
            && strstr (out, "\"type\": \"core\", \"id\": 0, \"rank\": 0, \"exclusive\": true")
            && strstr (out, "\"edges\": [{\"source\": "),
        "JGF: Fluxion's shorthand metadata");
    free (out);
    mjobspec_destroy (&two);
    matcher_destroy (&m);
    mgraph_destroy (&g);

    /* ---- flexible traverser ---- */
    g = mgraph_new ();
    ok (mgraph_load_jgf (g, n0, strlen (n0), err, sizeof (err)) == 0, "graph for or-slots");
    m = matcher_new (g, "high", "CA", NULL, err, sizeof (err));
    mjobspec_t *jor = jp (js_or), *jxor = jp (js_xor);
    ok (jor && matcher_match (m, jor, MATCH_ALLOCATE, 1, &at, &out, err, sizeof (err))
                   == MATCH_ERROR,
        "sibling slots need the flexible traverser: %s", err);
    matcher_set_flexible (m, true);
    ok (matcher_match (m, jor, MATCH_ALLOCATE, 1, &at, &out, err, sizeof (err)) == MATCH_OK && out
            && count (out, "core") == 2 && strstr (out, "gpu0"),
        "or-slots: the best one (with the gpu) is taken");
    free (out);
    ok (matcher_match (m, jor, MATCH_ALLOCATE, 2, &at, &out, err, sizeof (err)) == MATCH_BUSY,
        "then neither fits the 2 cores left");
    ok (matcher_cancel (m, 1) == 0, "cancel");
    mjobspec_t *big = jp ("version: 9999\nresources:\n  - type: slot\n    count: 1\n"
                          "    label: d\n    with:\n      - type: gpu\n        count: 1\n" TAIL);
    ok (big && matcher_match (m, big, MATCH_ALLOCATE, 3, &at, &out, err, sizeof (err)) == MATCH_OK,
        "take the gpu");
    free (out);
    ok (jxor && matcher_match (m, jxor, MATCH_ALLOCATE, 4, &at, &out, err, sizeof (err)) == MATCH_OK
            && out && count (out, "core") == 3 && !strstr (out, "gpu"),
        "xor_slot: the first alternative fails, the second is used");
    free (out);
    mjobspec_destroy (&big);
    mjobspec_destroy (&jor);
    mjobspec_destroy (&jxor);
    matcher_destroy (&m);
    mgraph_destroy (&g);

    /* ---- variation policy ---- */
    g = mgraph_new ();
    mgraph_load_jgf (g, n0, strlen (n0), err, sizeof (err));
    mgraph_attach_jgf (g, n1, strlen (n1), err, sizeof (err));
    m = matcher_new (g, "variation", "CA", NULL, err, sizeof (err));
    ok (m && matcher_set_property (m, "/c0/node0", "perf_class", "7") == 0
            && matcher_set_property (m, "/c0/node1", "perf_class", "2") == 0,
        "perf classes set");
    ok (matcher_match (m, node, MATCH_ALLOCATE, 1, &at, &out, err, sizeof (err)) == MATCH_OK
            && out && strstr (out, "node1"),
        "variation: the lower perf_class first");
    free (out);
    matcher_destroy (&m);
    mgraph_destroy (&g);

    mjobspec_destroy (&node);
    free (n0);
    free (n1);
    return done ();
}
