/* bench_match.c - matcher figures on a generated graph of NODES nodes x 2
 * sockets x 32 cores x 4 GPUs (per socket): JGF load time, memory, and the
 * rate of match allocate + cancel for a node-level (exclusive node) and a
 * core-level jobspec under the low, high and first policies.
 *   bench_match [NODES] [NODE_JOBS] [CORE_JOBS]   (defaults 4096 2000 200)
 * Prints figures; asserts nothing. */
#include "match.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long maxrss_kb (void)
{
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

typedef struct {
    char *s;
    size_t len, cap;
} buf_t;

static void put (buf_t *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start (ap, fmt);
        int n = vsnprintf (b->s + b->len, b->cap - b->len, fmt, ap);
        va_end (ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += n;
            return;
        }
        b->cap = b->cap ? b->cap * 2 : 1 << 20;
        b->s = realloc (b->s, b->cap);
    }
}

static int uid;
static void vtx (buf_t *b, const char *type, int id, const char *path)
{
    put (b, "%s{\"id\":\"%d\",\"metadata\":{\"type\":\"%s\",\"basename\":\"%s\",\"name\":\"%s%d\","
            "\"id\":%d,\"uniq_id\":%d,\"rank\":-1,\"exclusive\":false,\"unit\":\"\",\"size\":1,"
            "\"paths\":{\"containment\":\"%s\"}}}",
         uid ? "," : "", uid, type, type, type, id, id, uid, path);
    uid++;
}

static char *gen_jgf (int nodes, size_t *len)
{
    buf_t v = {0}, e = {0};
    char path[256];
    put (&v, "{\"graph\":{\"nodes\":[");
    vtx (&v, "cluster", 0, "/cluster0");
    int ne = 0;
    for (int n = 0; n < nodes; n++) {
        int nu = uid;
        snprintf (path, sizeof (path), "/cluster0/node%d", n);
        vtx (&v, "node", n, path);
        put (&e, "%s{\"source\":\"0\",\"target\":\"%d\"}", ne++ ? "," : "", nu);
        for (int s = 0; s < 2; s++) {
            int su = uid;
            snprintf (path, sizeof (path), "/cluster0/node%d/socket%d", n, s);
            vtx (&v, "socket", s, path);
            put (&e, ",{\"source\":\"%d\",\"target\":\"%d\"}", nu, su);
            for (int c = 0; c < 32; c++) {
                snprintf (path, sizeof (path), "/cluster0/node%d/socket%d/core%d", n, s, s * 32 + c);
                put (&e, ",{\"source\":\"%d\",\"target\":\"%d\"}", su, uid);
                vtx (&v, "core", s * 32 + c, path);
            }
            for (int g = 0; g < 4; g++) {
                snprintf (path, sizeof (path), "/cluster0/node%d/socket%d/gpu%d", n, s, s * 4 + g);
                put (&e, ",{\"source\":\"%d\",\"target\":\"%d\"}", su, uid);
                vtx (&v, "gpu", s * 4 + g, path);
            }
        }
    }
    put (&v, "],\"edges\":[%s]}}", e.s);
    free (e.s);
    *len = v.len;
    return v.s;
}

static const char node_js[] =
    "version: 9999\nresources:\n  - type: node\n    count: 1\n    exclusive: true\n"
    "attributes:\n  system:\n    duration: 3600\n";
static const char core_js[] =
    "version: 9999\nresources:\n  - type: slot\n    count: 1\n    label: t\n    with:\n"
    "      - type: core\n        count: 1\nattributes:\n  system:\n    duration: 3600\n";

static void run (mgraph_t *g, const char *policy, const char *label, const char *jstext,
                 size_t jslen, int jobs)
{
    char err[256];
    matcher_t *m = matcher_new (g, policy, "CA", NULL, err, sizeof (err));
    mjobspec_t *js = mjobspec_parse (jstext, jslen, err, sizeof (err));
    if (!m || !js) {
        printf ("%s/%s: setup failed: %s\n", label, policy, err);
        return;
    }
    int64_t at;
    char *out;
    int okn = 0;
    double t0 = now ();
    for (int i = 1; i <= jobs; i++) {
        out = NULL;
        if (matcher_match (m, js, MATCH_ALLOCATE, i, &at, &out, err, sizeof (err)) == MATCH_OK)
            okn++;
        free (out);
    }
    double t1 = now ();
    for (int i = 1; i <= jobs; i++)
        matcher_cancel (m, i);
    double t2 = now ();
    printf ("%-5s %-6s jobs=%d matched=%d  allocate %.0f/s (%.3f ms each)  cancel %.0f/s  "
            "allocate+cancel %.0f/s\n",
            label, policy, jobs, okn, jobs / (t1 - t0), 1000 * (t1 - t0) / jobs,
            jobs / (t2 - t1 > 0 ? t2 - t1 : 1e-9), jobs / (t2 - t0));
    mjobspec_destroy (&js);
    matcher_destroy (&m);
}

int main (int argc, char **argv)
{
    int nodes = argc > 1 ? atoi (argv[1]) : 4096;
    int node_jobs = argc > 2 ? atoi (argv[2]) : 2000;
    int core_jobs = argc > 3 ? atoi (argv[3]) : 200;
    size_t len;
    double t0 = now ();
    char *jgf = gen_jgf (nodes, &len);
    double t1 = now ();
    long rss0 = maxrss_kb ();
    char err[256];
    mgraph_t *g = mgraph_new ();
    if (mgraph_load_jgf (g, jgf, len, err, sizeof (err)) < 0) {
        printf ("load failed: %s\n", err);
        return 1;
    }
    double t2 = now ();
    free (jgf);
    long rss1 = maxrss_kb ();
    printf ("graph: %d nodes x 2 sockets x (32 cores + 4 gpus): %d vertices, %d edges\n", nodes,
            mgraph_nvertices (g), mgraph_nedges (g));
    printf ("JGF text: %.1f MB generated in %.2f s; load %.2f s (%.0f vertices/s)\n", len / 1e6,
            t1 - t0, t2 - t1, mgraph_nvertices (g) / (t2 - t1));
    printf ("memory: max RSS %.1f MB before load, %.1f MB after (includes JSON parse peak)\n",
            rss0 / 1024.0, rss1 / 1024.0);
    double t3 = now ();
    matcher_t *m = matcher_new (g, "low", "CA", NULL, err, sizeof (err));
    printf ("matcher setup (pruning filter): %.3f s\n", now () - t3);
    matcher_destroy (&m);
    const char *pols[] = {"low", "high", "first"};
    for (int p = 0; p < 3; p++)
        run (g, pols[p], "node", node_js, sizeof (node_js) - 1, node_jobs);
    for (int p = 0; p < 3; p++)
        run (g, pols[p], "core", core_js, sizeof (core_js) - 1, core_jobs);
    printf ("max RSS at end: %.1f MB\n", maxrss_kb () / 1024.0);
    mgraph_destroy (&g);
    return 0;
}
