/* test_match_find.c - the rv1exec loader, find expressions (predicates,
 * and/or, parentheses, errors) and partial cancel by rank on a small
 * two-node graph built from an R. */
#include "check.h"
#include "match.h"
#include <stdlib.h>
#include <string.h>

static const char *R =
    "{\"version\": 1, \"execution\": {\"R_lite\": [{\"rank\": \"0-1\", \"children\": "
    "{\"core\": \"0-3\", \"gpu\": \"0\"}}], \"nodelist\": [\"node[0-1]\"], "
    "\"properties\": {\"fast\": \"1\"}, \"starttime\": 0, \"expiration\": 0}}";

/* two slots of one node with all of its cores */
static const char *js2 =
    "version: 9999\nresources:\n  - type: slot\n    count: 2\n    label: d\n    with:\n"
    "      - type: node\n        count: 1\n        with:\n          - type: core\n"
    "            count: 4\nattributes:\n  system:\n    duration: 100\n"
    "tasks:\n  - command: [app]\n    slot: d\n    count: {per_slot: 1}\n";

static char *find (matcher_t *m, const char *expr)
{
    char err[256] = "", *out = NULL;
    if (matcher_find (m, expr, &out, err, sizeof (err)) < 0)
        return NULL;
    return out;
}

static int count_lines (const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; p && (p = strstr (p, needle)); p += strlen (needle))
        n++;
    return n;
}

int main (void)
{
    char err[256] = "";
    mgraph_t *g = mgraph_new ();
    ok (mgraph_load_rv1exec (g, R, strlen (R), err, sizeof (err)) == 0, "rv1exec loads: %s", err);
    ok (mgraph_nvertices (g) == 1 + 2 * (1 + 4 + 1), "cluster, 2 nodes, 8 cores, 2 gpus");
    ok (mgraph_find_path (g, "/cluster0/node1/core3") >= 0, "paths follow cluster0/nodeN/coreK");
    mgraph_t *bg = mgraph_new ();
    ok (mgraph_load_rv1exec (bg, "{\"execution\": {}}", 17, err, sizeof (err)) < 0
            && strstr (err, "R_lite") && !strchr (err, '\n'),
        "missing R_lite is one clear line: %s", err);
    mgraph_destroy (&bg);

    matcher_t *m = matcher_new (g, "low", "CA", NULL, err, sizeof (err));
    ok (m != NULL, "matcher: %s", err);
    char *s = find (m, "sched-now=free");
    ok (s && count_lines (s, "core") == 8 && count_lines (s, "cluster0[1:x]") == 1,
        "all free before any job");
    free (s);
    s = find (m, "property=fast");
    ok (s && strstr (s, "node1[1:x]") && !strstr (s, "core"), "property= finds nodes");
    free (s);
    s = find (m, "names=node1 or (status=down and names=node0)");
    ok (s && strstr (s, "node1") && !strstr (s, "node0"), "or / and / parentheses");
    free (s);
    ok (find (m, "sched-now=busy") == NULL, "bad value is refused");
    ok (find (m, "nosuch=1") == NULL, "unknown predicate is refused");
    ok (find (m, "(status=up") == NULL, "unbalanced parenthesis is refused");
    ok (matcher_find (m, "bogus", &s, err, sizeof (err)) < 0 && !strchr (err, '\n'),
        "error is one line: %s", err);

    mjobspec_t *js = mjobspec_parse (js2, strlen (js2), err, sizeof (err));
    int64_t at = -1;
    char *out = NULL;
    ok (js && matcher_match (m, js, MATCH_ALLOCATE, 1, &at, &out, err, sizeof (err)) == MATCH_OK,
        "two nodes allocated");
    free (out);
    s = find (m, "sched-now=allocated");
    ok (s && count_lines (s, "core") == 8, "find sees 8 allocated cores");
    free (s);
    s = find (m, "jobid-alloc=1");
    ok (s && strstr (s, "node0") && strstr (s, "node1"), "jobid-alloc=1");
    free (s);

    int64_t r1[] = {1}, r0[] = {0}, r9[] = {9};
    bool full = true;
    ok (matcher_partial_cancel (m, 1, r9, 1, &full, err, sizeof (err)) < 0,
        "unknown rank refused: %s", err);
    ok (matcher_partial_cancel (m, 1, r1, 1, &full, err, sizeof (err)) == 0 && !full,
        "rank 1 released, job still there");
    s = find (m, "sched-now=allocated");
    ok (s && strstr (s, "node0") && !strstr (s, "node1"), "only node0 still allocated");
    free (s);
    ok (matcher_has_job (m, 1), "job 1 kept");
    /* one node is free again: a one-slot job fits, a two-slot one does not */
    ok (matcher_match (m, js, MATCH_ALLOCATE, 2, &at, &out, err, sizeof (err)) == MATCH_BUSY,
        "two nodes are not free");
    ok (matcher_partial_cancel (m, 1, r0, 1, &full, err, sizeof (err)) == 0 && full,
        "releasing rank 0 too ends the job");
    ok (!matcher_has_job (m, 1), "job 1 gone");
    s = find (m, "sched-now=allocated");
    ok (s && *s == '\0', "nothing allocated");
    free (s);
    ok (matcher_match (m, js, MATCH_ALLOCATE, 3, &at, &out, err, sizeof (err)) == MATCH_OK,
        "both nodes usable again");
    free (out);

    int64_t *ranks = NULL;
    int n = 0;
    ok (mgraph_rv1exec_ranks (R, strlen (R), &ranks, &n, err, sizeof (err)) == 0 && n == 2
            && ranks[0] == 0 && ranks[1] == 1,
        "ranks of an R");
    free (ranks);
    const char *badr = "{\"execution\": {\"R_lite\": [{\"rank\": \"-1\", \"children\": {}}]}}";
    ok (mgraph_rv1exec_ranks (badr, strlen (badr), &ranks, &n, err, sizeof (err)) < 0,
        "rank -1 refused: %s", err);

    mjobspec_destroy (&js);
    matcher_destroy (&m);
    mgraph_destroy (&g);
    return done ();
}
