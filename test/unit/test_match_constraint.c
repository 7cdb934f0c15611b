/* test_match_constraint.c - RFC 31 constraints in the matcher (ranks,
 * hostlist, properties, and/or/not on node vertices), malformed constraints
 * refused at parse, status by broker rank, and a running job's end moved
 * later (matcher_extend). */
#include "check.h"
#include "match.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char err[256];

/* cluster0 -> 4 nodes named host0..host3 (rank = id), 2 cores each;
 * host2 has property "bigmem". */
static mgraph_t *graph (void)
{
    mgraph_t *g = mgraph_new ();
    int c = mgraph_add_vertex (g, "cluster", "cluster", 0, 1, NULL, -1);
    for (int r = 0; r < 4; r++) {
        char h[16];
        snprintf (h, sizeof h, "host%d", r);
        int n = mgraph_add_vertex_full (g, "node", "host", h, r, -1, 1, NULL, r);
        mgraph_add_edge (g, c, n, "containment");
        for (int k = 0; k < 2; k++)
            mgraph_add_edge (g, n, mgraph_add_vertex (g, "core", "core", k, 1, NULL, r), "containment");
    }
    if (mgraph_finalize (g, err, sizeof err) < 0)
        printf ("# finalize: %s\n", err);
    return g;
}

static mjobspec_t *js (int nnodes, const char *cons, int duration)
{
    char text[1024];
    snprintf (text, sizeof text,
              "{\"version\":1,\"resources\":[{\"type\":\"node\",\"count\":%d,\"with\":[{\"type\":\"slot\","
              "\"count\":1,\"label\":\"t\",\"with\":[{\"type\":\"core\",\"count\":1}]}]}],"
              "\"tasks\":[{\"command\":[\"x\"],\"slot\":\"t\",\"count\":{\"per_slot\":1}}],"
              "\"attributes\":{\"system\":{\"duration\":%d%s%s}}}",
              nnodes, duration, cons ? ",\"constraints\":" : "", cons ? cons : "");
    mjobspec_t *j = mjobspec_parse (text, strlen (text), err, sizeof err);
    if (!j)
        printf ("# parse: %s\n", err);
    return j;
}

/* ranks of a match, as "1,3" (R_lite output), or "busy"/"unsat"/"error" */
static const char *place (matcher_t *m, int nnodes, const char *cons, int op, int64_t id)
{
    static char buf[128];
    mjobspec_t *j = js (nnodes, cons, 10);
    int64_t at;
    char *out = NULL;
    int rc = j ? matcher_match (m, j, op, id, &at, &out, err, sizeof err) : MATCH_ERROR;
    mjobspec_destroy (&j);
    if (rc != MATCH_OK) {
        free (out);
        return rc == MATCH_BUSY ? "busy" : rc == MATCH_UNSAT ? "unsat" : "error";
    }
    json_t *rl = json_loads (out, 0, NULL);
    free (out);
    buf[0] = '\0';
    size_t i;
    json_t *e;
    json_array_foreach (rl, i, e)
        snprintf (buf + strlen (buf), sizeof buf - strlen (buf), "%s%s", i ? "," : "",
                  json_string_value (json_object_get (e, "rank")));
    json_decref (rl);
    return buf;
}

int main (void)
{
    mgraph_t *g = graph ();
    matcher_t *m = matcher_new (g, "lonode", "CA", NULL, err, sizeof err);
    ok (m != NULL, "matcher on a 4-node graph: %s", m ? "" : err);
    matcher_set_format (m, MFMT_RLITE);
    int A = MATCH_ALLOCATE, S = MATCH_SATISFIABILITY;

    ok (!strcmp (place (m, 2, NULL, A, 1), "0,1"), "no constraint: lowest ranks");
    matcher_cancel (m, 1);
    ok (!strcmp (place (m, 2, "{\"ranks\":[\"2-3\"]}", A, 2), "2,3"), "ranks 2-3");
    matcher_cancel (m, 2);
    ok (!strcmp (place (m, 1, "{\"hostlist\":[\"host[1,3]\"]}", A, 3), "1"), "hostlist host[1,3]: host1 first");
    matcher_cancel (m, 3);
    ok (!strcmp (place (m, 1, "{\"properties\":[\"bigmem\"]}", S, 4), "unsat"),
        "property nobody has yet: unsatisfiable");
    ok (matcher_set_property (m, "/cluster0/host2", "bigmem", "") == 0, "host2 gets property bigmem");
    ok (!strcmp (place (m, 1, "{\"properties\":[\"bigmem\"]}", A, 5), "2"), "properties [bigmem]: host2");
    matcher_cancel (m, 5);
    ok (!strcmp (place (m, 3, "{\"properties\":[\"^bigmem\"]}", A, 6), "0,1,3"), "properties [^bigmem]: not host2");
    matcher_cancel (m, 6);
    ok (!strcmp (place (m, 4, "{\"properties\":[\"^bigmem\"]}", S, 7), "unsat"), "4 nodes without bigmem: unsat");
    ok (!strcmp (place (m, 2, "{\"not\":[{\"ranks\":[\"0-1\"]}]}", A, 8), "2,3"), "not ranks 0-1");
    matcher_cancel (m, 8);
    ok (!strcmp (place (m, 2, "{\"or\":[{\"ranks\":[\"3\"]},{\"hostlist\":[\"host1\"]}]}", A, 9), "1,3"),
        "or: rank 3 or host1");
    matcher_cancel (m, 9);
    ok (!strcmp (place (m, 1, "{\"and\":[{\"ranks\":[\"0-2\"]},{\"hostlist\":[\"host2,host3\"]}]}", A, 10), "2"),
        "and: ranks 0-2 and host2/3");
    matcher_cancel (m, 10);
    ok (!strcmp (place (m, 1, "{\"ranks\":[\"7\"]}", S, 11), "unsat"), "a rank not in the graph: unsat");
    /* RFC 31 integer ranks, alone or mixed with idset strings */
    ok (!strcmp (place (m, 2, "{\"ranks\":[1, 3]}", A, 15), "1,3"), "integer ranks [1, 3]");
    matcher_cancel (m, 15);
    ok (!strcmp (place (m, 2, "{\"ranks\":[0, \"2\"]}", A, 16), "0,2"), "ranks [0, \"2\"]");
    matcher_cancel (m, 16);
    ok (js (1, "{\"ranks\":[-1]}", 10) == NULL && strstr (err, "-1 is not a rank"),
        "a negative rank refused: %s", err);
    ok (js (1, "{\"ranks\":[1.5]}", 10) == NULL && strstr (err, "strings or integers"),
        "a real rank refused: %s", err);

    /* malformed constraints: refused at parse, naming the field */
    ok (js (1, "{\"colour\":[\"x\"]}", 10) == NULL && strstr (err, "constraints") && strstr (err, "colour"),
        "unknown operator refused: %s", err);
    ok (js (1, "{\"ranks\":\"0-1\"}", 10) == NULL && strstr (err, "array"), "ranks not a list: %s", err);
    ok (js (1, "{\"ranks\":[\"1-\"]}", 10) == NULL, "bad idset: %s", err);
    ok (js (1, "{\"hostlist\":[\"h[1-\"]}", 10) == NULL, "bad hostlist: %s", err);
    ok (js (1, "{\"ranks\":[\"1\"],\"hostlist\":[\"h\"]}", 10) == NULL, "two operators in one term: %s", err);
    ok (js (1, "[1]", 10) == NULL, "not an object: %s", err);

    /* status by rank */
    ok (matcher_set_status_rank (m, 0, false) == 0, "rank 0 down");
    ok (!strcmp (place (m, 1, NULL, A, 12), "1"), "rank 0 down: rank 1 used");
    matcher_cancel (m, 12);
    ok (!strcmp (place (m, 4, NULL, A, 13), "busy") || !strcmp (place (m, 4, NULL, A, 13), "unsat"),
        "4 nodes with one down: not now");
    ok (matcher_set_status_rank (m, 0, true) == 0 && !strcmp (place (m, 1, NULL, A, 14), "0"), "rank 0 up again");
    matcher_cancel (m, 14);
    ok (matcher_set_status_rank (m, 9, false) == -1, "status of an unknown rank: -1");

    /* extend: job 20 holds a core of every node over [0,10); a job needing
     * every core is reserved at its end, t=10, until that end moves later */
    ok (!strcmp (place (m, 4, NULL, A, 20), "0,1,2,3"), "job 20 on all 4 nodes for 10 s");
    const char *t8 = "{\"version\":1,\"resources\":[{\"type\":\"node\",\"count\":4,\"with\":"
                     "[{\"type\":\"slot\",\"count\":2,\"label\":\"t\",\"with\":[{\"type\":\"core\","
                     "\"count\":1}]}]}],\"tasks\":[{\"command\":[\"x\"],\"slot\":\"t\",\"count\":"
                     "{\"per_slot\":1}}],\"attributes\":{\"system\":{\"duration\":5}}}";
    mjobspec_t *j8 = mjobspec_parse (t8, strlen (t8), err, sizeof err);
    int64_t at = -1;
    char *out = NULL;
    int rc = j8 ? matcher_match (m, j8, MATCH_ALLOCATE, 21, &at, &out, err, sizeof err) : -1;
    ok (rc == MATCH_BUSY, "every core: busy now (rc %d)", rc);
    rc = j8 ? matcher_match (m, j8, MATCH_ALLOCATE_ORELSE_RESERVE, 22, &at, &out, err, sizeof err) : -1;
    free (out);
    out = NULL;
    ok (rc == MATCH_OK && at == 10, "... reserved at job 20's end, t=10 (at %lld)", (long long)at);
    matcher_cancel (m, 22);
    ok (matcher_extend (m, 20, 12) == 0, "job 20 extended to t=12");
    rc = j8 ? matcher_match (m, j8, MATCH_ALLOCATE_ORELSE_RESERVE, 23, &at, &out, err, sizeof err) : -1;
    free (out);
    ok (rc == MATCH_OK && at == 12, "... now reserved at t=12 (at %lld)", (long long)at);
    ok (matcher_extend (m, 23, 20) == -1, "extend of a reservation: -1");
    ok (matcher_extend (m, 99, 20) == -1, "extend of an unknown job: -1");
    mjobspec_destroy (&j8);
    matcher_destroy (&m);
    mgraph_destroy (&g);
    return done ();
}
