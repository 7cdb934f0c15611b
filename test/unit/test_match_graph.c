/* test_match_graph.c - graphs the matcher must refuse or survive: a size of
 * 2^32 and more, a cycle, two containment roots, a duplicate uniq_id or
 * path (each refused naming the vertex), and containment chains 1,000,
 * 10,000 and 100,000 deep generated here (the first loads, matches and is
 * found; the others are refused past the documented depth limit, never a
 * crash). */
#include "check.h"
#include "match.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *s;
    size_t len, cap;
} buf_t;

static void put (buf_t *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start (ap, fmt);
        int n = vsnprintf (b->s ? b->s + b->len : NULL, b->cap - b->len, fmt, ap);
        va_end (ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += n;
            return;
        }
        b->cap = b->cap ? b->cap * 2 : 4096;
        while (b->cap - b->len <= (size_t)n)
            b->cap *= 2;
        b->s = realloc (b->s, b->cap);
    }
}

static void vtx (buf_t *b, bool comma, int uid, const char *type, int id, long long size,
                 const char *path)
{
    put (b, "%s{\"id\":\"%d\",\"metadata\":{\"type\":\"%s\",\"basename\":\"%s\",\"id\":%d,"
            "\"uniq_id\":%d,\"rank\":-1,\"size\":%lld,\"paths\":{\"containment\":\"%s\"}}}",
         comma ? "," : "", uid, type, type, id, uid, size, path);
}

/* load text; returns 0 or -1 with err */
static int load (const char *text, char *err, size_t errlen)
{
    mgraph_t *g = mgraph_new ();
    err[0] = '\0';
    int rc = mgraph_load_jgf (g, text, strlen (text), err, errlen);
    mgraph_destroy (&g);
    return rc;
}

/* a cluster with one node of size `size`, plus extra edges/vertices */
static char *small (long long size, const char *extra_nodes, const char *extra_edges)
{
    buf_t b = {0};
    put (&b, "{\"graph\":{\"nodes\":[");
    vtx (&b, false, 0, "cluster", 0, 1, "/cluster0");
    vtx (&b, true, 1, "node", 0, size, "/cluster0/node0");
    vtx (&b, true, 2, "core", 0, 1, "/cluster0/node0/core0");
    put (&b, "%s],\"edges\":[{\"source\":\"0\",\"target\":\"1\"},{\"source\":\"1\",\"target\":\"2\"}%s]}}",
         extra_nodes, extra_edges);
    return b.s;
}

/* cluster -> level0 -> level1 -> ... -> level(depth-2) -> node -> core */
static char *chain (int depth)
{
    buf_t b = {0}, e = {0};
    char path[64];
    put (&b, "{\"graph\":{\"nodes\":[");
    /* paths are left to the loader (they would be depth^2 bytes) */
    put (&b, "{\"id\":\"0\",\"metadata\":{\"type\":\"cluster\",\"id\":0,\"uniq_id\":0}}");
    int prev = 0;
    for (int i = 1; i <= depth; i++) {
        const char *type = i == depth ? "core" : i == depth - 1 ? "node" : "level";
        put (&b, ",{\"id\":\"%d\",\"metadata\":{\"type\":\"%s\",\"id\":%d,\"uniq_id\":%d}}", i,
             type, i, i);
        put (&e, "%s{\"source\":\"%d\",\"target\":\"%d\"}", prev ? "," : "", prev, i);
        prev = i;
    }
    (void)path;
    put (&b, "],\"edges\":[%s]}}", e.s);
    free (e.s);
    return b.s;
}

static const char core_js[] = "version: 9999\nresources:\n  - type: node\n    count: 1\n"
                              "    with:\n      - type: slot\n        count: 1\n"
                              "        label: t\n        with:\n"
                              "          - type: core\n            count: 1\n"
                              "attributes:\n  system:\n    duration: 60\n";

int main (void)
{
    char err[512];
    char *t;

    /* sizes: 2^32 - 1 is the largest; 2^32 and 2^32 + 1 are refused */
    t = small (4294967295LL, "", "");
    ok (load (t, err, sizeof (err)) == 0, "size 2^32-1 loads (%s)", err);
    free (t);
    t = small (4294967297LL, "", "");
    ok (load (t, err, sizeof (err)) < 0 && strstr (err, "/cluster0/node0")
            && strstr (err, "4294967297") && strstr (err, "limit 4294967295"),
        "size 2^32+1 refused naming the vertex and the limit: %s", err);
    free (t);
    t = small (4294967296LL, "", "");
    ok (load (t, err, sizeof (err)) < 0 && strstr (err, "limit"), "size 2^32 refused: %s", err);
    free (t);

    /* a cycle: core0 -> node0 */
    t = small (1, "", ",{\"source\":\"2\",\"target\":\"1\"}");
    ok (load (t, err, sizeof (err)) < 0 && strstr (err, "cycle")
            && (strstr (err, "/cluster0/node0") || strstr (err, "/cluster0/node0/core0")),
        "a cycle is refused naming a vertex on it: %s", err);
    free (t);

    /* two roots: a second cluster with no parent */
    buf_t x = {0};
    vtx (&x, true, 3, "cluster", 1, 1, "/cluster1");
    t = small (1, x.s, "");
    ok (load (t, err, sizeof (err)) < 0 && strstr (err, "two roots") && strstr (err, "/cluster1"),
        "two containment roots refused naming both: %s", err);
    free (t);
    free (x.s);

    /* a duplicate uniq_id */
    x = (buf_t){0};
    put (&x, ",{\"id\":\"3\",\"metadata\":{\"type\":\"core\",\"id\":1,\"uniq_id\":2,"
             "\"paths\":{\"containment\":\"/cluster0/node0/core1\"}}}");
    t = small (1, x.s, ",{\"source\":\"1\",\"target\":\"3\"}");
    ok (load (t, err, sizeof (err)) < 0 && strstr (err, "uniq_id 2")
            && strstr (err, "/cluster0/node0/core1"),
        "a duplicate uniq_id refused naming the vertices: %s", err);
    free (t);
    free (x.s);

    /* a duplicate path */
    x = (buf_t){0};
    vtx (&x, true, 3, "core", 1, 1, "/cluster0/node0/core0");
    t = small (1, x.s, ",{\"source\":\"1\",\"target\":\"3\"}");
    ok (load (t, err, sizeof (err)) < 0 && strstr (err, "/cluster0/node0/core0"),
        "a duplicate path refused naming it: %s", err);
    free (t);
    free (x.s);

    /* depth 1000 (the limit) loads, matches, finds, cancels */
    t = chain (1000);
    mgraph_t *g = mgraph_new ();
    ok (mgraph_load_jgf (g, t, strlen (t), err, sizeof (err)) == 0, "a 1000-deep chain loads (%s)",
        err);
    free (t);
    const char *pols[] = {"low", "high", "first", "lonodex"};
    mjobspec_t *js = mjobspec_parse (core_js, sizeof (core_js) - 1, err, sizeof (err));
    ok (js != NULL, "jobspec (%s)", err);
    for (int p = 0; p < 4 && js; p++) {
        matcher_t *m = matcher_new (g, pols[p], "CA", NULL, err, sizeof (err));
        ok (m != NULL, "matcher %s on the 1000-deep chain (%s)", pols[p], err);
        if (!m)
            continue;
        int64_t at;
        char *out = NULL;
        int rc = matcher_match (m, js, MATCH_ALLOCATE, 1, &at, &out, err, sizeof (err));
        ok (rc == MATCH_OK && out && strstr (out, "core1000[1:x]") && strstr (out, "level1[1:s]"),
            "%s: the core at depth 1000 is matched", pols[p]);
        free (out);
        out = NULL;
        rc = matcher_match (m, js, MATCH_ALLOCATE, 2, &at, &out, err, sizeof (err));
        ok (rc == MATCH_BUSY, "%s: a second job is busy", pols[p]);
        free (out);
        out = NULL;
        ok (matcher_find (m, "sched-now=allocated", &out, err, sizeof (err)) == 0 && out
                && strstr (out, "core1000"),
            "%s: find walks the chain", pols[p]);
        free (out);
        ok (matcher_cancel (m, 1) == 0, "%s: cancel", pols[p]);
        matcher_destroy (&m);
    }
    mjobspec_destroy (&js);
    mgraph_destroy (&g);

    /* deeper: refused with the limit named */
    int deep[] = {1002, 10000, 100000};
    for (int i = 0; i < 3; i++) {
        t = chain (deep[i]);
        ok (load (t, err, sizeof (err)) < 0 && strstr (err, "deeper than the limit of 1000"),
            "a %d-deep chain is refused: %s", deep[i], err);
        free (t);
    }
    return done ();
}
