/* test_match_rv1exec.c - the rv1exec reader at its edges: ranks listed out
 * of order across R_lite entries get the host at their position among all
 * ranks; a node with many children loads; a nodelist past the bound is
 * refused with one line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "match.h"

static int load (mgraph_t *g, const char *text, char *err, size_t errlen)
{
    return mgraph_load_rv1exec (g, text, strlen (text), err, errlen);
}

int main (void)
{
    char err[256] = "";
    mgraph_t *g = mgraph_new ();
    /* ranks 7, 2, 5 in that order: sorted 2,5,7 -> hosts a, b, c */
    int rc = load (g, "{\"version\":1,\"execution\":{\"R_lite\":["
                      "{\"rank\":\"7\",\"children\":{\"core\":\"0\"}},"
                      "{\"rank\":\"2,5\",\"children\":{\"core\":\"0-1\"}}],"
                      "\"nodelist\":[\"a\",\"b\",\"c\"]}}", err, sizeof err);
    ok (rc == 0, "three ranks over two entries load (%s)", rc ? err : "");
    ok (mgraph_find_path (g, "/cluster0/a/core0") >= 0 && mgraph_find_path (g, "/cluster0/a/core1") >= 0
            && mgraph_find_path (g, "/cluster0/b/core1") >= 0
            && mgraph_find_path (g, "/cluster0/c/core0") >= 0
            && mgraph_find_path (g, "/cluster0/c/core1") < 0,
        "rank 2 is host a, 5 is b, 7 is c (with their cores)");
    mgraph_destroy (&g);

    g = mgraph_new ();
    rc = load (g, "{\"version\":1,\"execution\":{\"R_lite\":[{\"rank\":\"0\",\"children\":"
                  "{\"core\":\"0-49999\"}}],\"nodelist\":[\"wide\"]}}", err, sizeof err);
    ok (rc == 0 && mgraph_nvertices (g) == 50002 && mgraph_nedges (g) == 50001,
        "a node with 50000 cores loads (rc %d, %d vertices)", rc, mgraph_nvertices (g));
    mgraph_destroy (&g);

    g = mgraph_new ();
    err[0] = '\0';
    rc = load (g, "{\"version\":1,\"execution\":{\"R_lite\":[{\"rank\":\"0\",\"children\":"
                  "{\"core\":\"0\"}}],\"nodelist\":[\"a[0-999999]\",\"b\"]}}", err, sizeof err);
    ok (rc < 0 && strstr (err, "more than 1000000 hosts") && !strchr (err, '\n'),
        "a nodelist of 1000001 hosts is refused: %s", err);
    mgraph_destroy (&g);
    return done ();
}
