/* test_constraint.c - RFC 31 constraints at their limits: large rank sets
 * compile and match, ranks from several idsets unite, and a hostlist term
 * cannot expand past CONSTRAINT_MAX_NAMES names in all. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "constraint.h"

static constraint_t *compile (const char *text, char *err, size_t errlen)
{
    json_t *j = json_loads (text, 0, NULL);
    constraint_t *c = j ? constraint_compile (j, err, errlen) : NULL;
    json_decref (j);
    return c;
}

static bool at (const constraint_t *c, uint32_t rank, const char *host)
{
    struct constraint_node n = { rank, host, NULL, NULL };
    return constraint_match (c, &n);
}

int main (void)
{
    char err[256] = "";
    constraint_t *c = compile ("{\"ranks\":[\"1-8880830\",\"9000000\",\"3\"]}", err, sizeof err);
    ok (c != NULL, "ranks 1-8880830,9000000 compile (%s)", c ? "" : err);
    ok (c && !at (c, 0, "a") && at (c, 1, "a") && at (c, 8880830, "a") && !at (c, 8880831, "a")
            && at (c, 9000000, "a") && !at (c, 9000001, "a"),
        "ranks: the union of the idsets, nothing more");
    constraint_destroy (&c);

    c = compile ("{\"or\":[{\"hostlist\":[\"n[0-499999]\"]},{\"hostlist\":[\"m[0-499999]\"]}]}", err,
                 sizeof err);
    ok (c && at (c, 0, "n499999") && at (c, 0, "m0") && !at (c, 0, "n500000"),
        "hostlist: 1000000 names in all are accepted (%s)", c ? "" : err);
    constraint_destroy (&c);

    err[0] = '\0';
    c = compile ("{\"or\":[{\"hostlist\":[\"n[0-499999]\"]},{\"hostlist\":[\"m[0-500000]\"]}]}", err,
                 sizeof err);
    ok (!c && strstr (err, "more than 1000000 names"), "hostlist: one more name is refused: %s", err);
    constraint_destroy (&c);

    err[0] = '\0';
    c = compile ("{\"hostlist\":[\"a[0-999999]\",\"b\"]}", err, sizeof err);
    ok (!c && strstr (err, "more than 1000000 names"), "hostlist: the cap counts every entry: %s", err);
    constraint_destroy (&c);
    return done ();
}
