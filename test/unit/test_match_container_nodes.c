/* test_match_container_nodes.c - containers sharing nodes: a graph where
 * every node sits under two containers, and the three
 * jobspecs (one container with two nodes; two containers; two containers
 * each with a slot of two nodes).  Checks which vertices each match gets,
 * that a node taken through one container is unavailable through the
 * other, and that cancel gives it back. */
#include "check.h"
#include "match.h"
#include <stdlib.h>
#include <string.h>

static char *slurp (const char *name, size_t *len)
{
    const char *src = getenv ("CANOPY_SRCDIR");
    char path[1024];
    snprintf (path, sizeof (path), "%s/test/data/match/%s", src ? src : ".", name);
    FILE *f = fopen (path, "rb");
    if (!f)
        return NULL;
    fseek (f, 0, SEEK_END);
    long n = ftell (f);
    fseek (f, 0, SEEK_SET);
    char *b = malloc (n + 1);
    *len = fread (b, 1, n, f);
    b[*len] = '\0';
    fclose (f);
    return b;
}

static mjobspec_t *js_load (const char *name)
{
    size_t len;
    char err[256];
    char *t = slurp (name, &len);
    if (!t)
        return NULL;
    mjobspec_t *js = mjobspec_parse (t, len, err, sizeof (err));
    free (t);
    return js;
}

static int count_lines (const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr (p, needle)); p++)
        n++;
    return n;
}

int main (void)
{
    size_t len;
    char err[256] = "";
    char *text = slurp ("shared-containers.json", &len);
    ok (text != NULL, "read shared-containers.json");
    if (!text)
        return done ();
    mgraph_t *g = mgraph_new ();
    ok (mgraph_load_jgf (g, text, len, err, sizeof (err)) == 0, "load JGF (%s)", err);
    free (text);
    ok (mgraph_nvertices (g) == 15, "15 vertices");
    matcher_t *m = matcher_new (g, "low", "CA", NULL, err, sizeof (err));
    ok (m != NULL, "matcher (%s)", err);

    mjobspec_t *one = js_load ("one-container-two-nodes.yaml");
    mjobspec_t *two = js_load ("two-containers.yaml");
    mjobspec_t *slot2 = js_load ("two-containers-slot-two-nodes.yaml");
    ok (one && two && slot2, "parse the three jobspecs");

    int64_t at = -1;
    char *out = NULL;
    /* jobspec 1: one container, two nodes */
    int rc = matcher_match (m, one, MATCH_ALLOCATE, 1, &at, &out, err, sizeof (err));
    ok (rc == MATCH_OK && at == 0, "one container with two nodes matches now");
    ok (out && strstr (out, "node0[1:x]") && strstr (out, "node1[1:x]")
            && strstr (out, "container0[1:s]") && !strstr (out, "container1"),
        "job 1 gets node0, node1 through container0");
    free (out);
    /* jobspec 2: two containers, one node each: nodes 0-1 are taken via
     * container0, so container1 must not hand them out again */
    rc = matcher_match (m, two, MATCH_ALLOCATE, 2, &at, &out, err, sizeof (err));
    ok (rc == MATCH_OK, "two containers match");
    ok (out && strstr (out, "container0") && strstr (out, "container1")
            && !strstr (out, "node0[") && !strstr (out, "node1[")
            && strstr (out, "node2[1:x]") && strstr (out, "node3[1:x]"),
        "job 2 gets node2 and node3, not the nodes job 1 holds via the other container");
    free (out);
    /* everything is taken now, through either parent */
    rc = matcher_match (m, one, MATCH_ALLOCATE, 3, &at, &out, err, sizeof (err));
    ok (rc == MATCH_BUSY, "no node is free through either container");
    free (out);
    rc = matcher_match (m, slot2, MATCH_ALLOCATE_W_SATISFIABILITY, 4, &at, &out, err,
                        sizeof (err));
    ok (rc == MATCH_BUSY, "two slots of two nodes: busy but satisfiable");
    free (out);
    ok (matcher_cancel (m, 1) == 0 && matcher_cancel (m, 2) == 0, "cancel jobs 1 and 2");
    ok (matcher_cancel (m, 2) < 0, "cancel of an unknown job fails");

    /* jobspec 3: two containers each with a slot of two nodes: four
     * distinct nodes, two through each container */
    rc = matcher_match (m, slot2, MATCH_ALLOCATE, 5, &at, &out, err, sizeof (err));
    ok (rc == MATCH_OK, "two containers each with a slot of two nodes match");
    ok (out && count_lines (out, "[1:x]") == 4, "four exclusive nodes");
    const char *names[] = {"node0", "node1", "node2", "node3"};
    int seen_all = 1;
    for (int i = 0; i < 4; i++)
        if (!out || count_lines (out, names[i]) != 1)
            seen_all = 0;
    ok (seen_all, "each node appears exactly once");
    const char *c0 = out ? strstr (out, "container0") : NULL;
    const char *c1 = out ? strstr (out, "container1") : NULL;
    ok (c0 && c1 && c0 < c1 && strstr (out, "node1[1:x]") < c0 && strstr (out, "node2[1:x]") > c0,
        "node0-1 under container0, node2-3 under container1");
    free (out);
    rc = matcher_match (m, two, MATCH_ALLOCATE_ORELSE_RESERVE, 6, &at, &out, err, sizeof (err));
    ok (rc == MATCH_OK && at == 3600, "two containers reserve at 3600 once all nodes are busy");
    free (out);
    rc = matcher_match (m, slot2, MATCH_SATISFIABILITY, 7, &at, &out, err, sizeof (err));
    ok (rc == MATCH_OK, "jobspec 3 is satisfiable");
    free (out);

    mjobspec_destroy (&one);
    mjobspec_destroy (&two);
    mjobspec_destroy (&slot2);
    matcher_destroy (&m);
    mgraph_destroy (&g);
    return done ();
}
