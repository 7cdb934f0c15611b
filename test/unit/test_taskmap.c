/* test_taskmap.c - task layout over an allocation: node-level and slot-level
 * jobspecs, per_slot and total counts, idle nodes, malformed R. */
#include "check.h"
#include "taskmap.h"
#include "jobspec_build.h"
#include <stdlib.h>
#include <string.h>

static json_t *spec (int N, int n, int c, int g, bool excl)
{
    char *argv[] = { "true", NULL };
    jobspec_opts_t o = { .nnodes = N, .ntasks = n, .cores_per_task = c, .gpus_per_task = g,
                         .exclusive = excl, .argc = 1, .argv = argv };
    char err[256];
    json_t *js = jobspec_build (&o, err, sizeof err);
    if (!js)
        fprintf (stderr, "jobspec_build: %s\n", err);
    return js;
}

static json_t *R (const char *lite)
{
    char buf[1024];
    snprintf (buf, sizeof buf, "{\"version\":1,\"execution\":{\"R_lite\":%s,\"nodelist\":[\"n\"]}}", lite);
    return json_loads (buf, 0, NULL);
}

static int layout (json_t *js, json_t *r, char *out, size_t len)
{
    taskmap_entry_t *m;
    char err[256];
    int n = taskmap_build (js, r, &m, err, sizeof err);
    if (n < 0) {
        snprintf (out, len, "error: %s", err);
        json_decref (js);
        json_decref (r);
        return -1;
    }
    size_t o = 0;
    for (int i = 0; i < n; i++)
        o += snprintf (out + o, len - o, "%s%u:%d+%d[%s|%s]", i ? " " : "", m[i].rank, m[i].first, m[i].count,
                       m[i].cores, m[i].gpus);
    taskmap_free (m, n);
    json_decref (js);
    json_decref (r);
    return n;
}

int main (void)
{
    char s[512];
    layout (spec (0, 3, 1, 0, false), R ("[{\"rank\":\"0\",\"children\":{\"core\":\"0-1\"}},"
                                          "{\"rank\":\"1\",\"children\":{\"core\":\"0\"}}]"), s, sizeof s);
    ok (!strcmp (s, "0:0+2[0-1|] 1:2+1[0|]"), "slots spread: 2 on rank 0, 1 on rank 1 (%s)", s);
    layout (spec (0, 2, 2, 1, false), R ("[{\"rank\":\"3\",\"children\":{\"core\":\"0-3\",\"gpu\":\"0-1\"}}]"), s,
            sizeof s);
    ok (!strcmp (s, "3:0+2[0-3|0-1]"), "-n2 -c2 -g1 on one node: 2 tasks (%s)", s);
    layout (spec (2, 4, 1, 0, false), R ("[{\"rank\":\"0-1\",\"children\":{\"core\":\"0-1\"}}]"), s, sizeof s);
    ok (!strcmp (s, "0:0+2[0-1|] 1:2+2[0-1|]"), "-N2 -n4: two per node (%s)", s);
    layout (spec (2, 3, 1, 0, false), R ("[{\"rank\":\"1,3\",\"children\":{\"core\":\"0-1\"}}]"), s, sizeof s);
    ok (!strcmp (s, "1:0+2[0-1|] 3:2+1[0-1|]"), "-N2 -n3 (total): 2 then 1 (%s)", s);
    layout (spec (2, 0, 0, 0, true), R ("[{\"rank\":\"0-1\",\"children\":{\"core\":\"0-7\"}}]"), s, sizeof s);
    ok (!strcmp (s, "0:0+1[0-7|] 1:1+1[0-7|]"), "-N2 --exclusive: one task per node, not one per core (%s)", s);
    layout (spec (0, 1, 1, 0, false), R ("[{\"rank\":\"5\",\"children\":{\"core\":\"1\"}}]"), s, sizeof s);
    ok (!strcmp (s, "5:0+1[1|]"), "single task on rank 5 core 1 (%s)", s);
    /* R ranks out of order are sorted */
    layout (spec (0, 2, 1, 0, false), R ("[{\"rank\":\"4\",\"children\":{\"core\":\"0\"}},"
                                          "{\"rank\":\"2\",\"children\":{\"core\":\"0\"}}]"), s, sizeof s);
    ok (!strcmp (s, "2:0+1[0|] 4:1+1[0|]"), "entries in rank order (%s)", s);
    /* failures */
    ok (layout (spec (0, 4, 1, 0, false), R ("[{\"rank\":\"0\",\"children\":{\"core\":\"0-1\"}}]"), s, sizeof s) < 0
        && strstr (s, "holds 2 of the 4 tasks"), "allocation too small: %s", s);
    ok (layout (spec (0, 1, 1, 0, false), R ("[]"), s, sizeof s) < 0, "empty R_lite refused: %s", s);
    ok (layout (spec (0, 1, 1, 0, false), R ("[{\"rank\":\"x\",\"children\":{\"core\":\"0\"}}]"), s, sizeof s) < 0,
        "bad rank idset refused: %s", s);
    ok (layout (spec (0, 2, 1, 0, false), R ("[{\"rank\":\"0\",\"children\":{\"core\":\"0\"}},"
                                              "{\"rank\":\"0\",\"children\":{\"core\":\"1\"}}]"), s, sizeof s) < 0
        && strstr (s, "twice"), "duplicate rank refused: %s", s);
    ok (layout (json_pack ("{s:i}", "version", 1), R ("[{\"rank\":\"0\",\"children\":{\"core\":\"0\"}}]"), s,
                sizeof s) < 0, "jobspec without resources refused: %s", s);
    return done ();
}
