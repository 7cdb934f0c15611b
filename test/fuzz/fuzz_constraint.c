/* fuzz_constraint.c - RFC 31 constraint JSON (a jobspec's --requires, from
 * any client) into constraint_compile, then tested against a few nodes: no
 * crash, no hang, one-line errors, and the compiled text compiles again to
 * a constraint that gives the same answers. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "constraint.h"

static bool has_prop (const char *name, void *arg)
{
    (void)arg;
    return !strcmp (name, "gpu") || !strcmp (name, "amd") || !strcmp (name, "x86_64");
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char err[256];
    if (size > 65536)
        return 0;
    json_error_t je;
    json_t *j = json_loadb ((const char *)data, size, JSON_DECODE_ANY, &je);
    if (!j)
        return 0;
    err[0] = '\0';
    constraint_t *c = constraint_compile (j, err, sizeof err);
    if (!c && (!err[0] || strchr (err, '\n')))
        abort (); /* bad input gets one line of error */
    if (c) {
        static const struct constraint_node nodes[] = {
            { 0, "node0", has_prop, NULL }, { 1, "node1", NULL, NULL },
            { 7, "fluke17", has_prop, NULL }, { 4294967295u, "x", has_prop, NULL },
        };
        const char *text = constraint_text (c);
        json_t *j2 = text ? json_loads (text, 0, NULL) : NULL;
        constraint_t *c2 = j2 ? constraint_compile (j2, err, sizeof err) : NULL;
        if (text && !c2)
            abort (); /* what compiled once compiles again from its own text */
        for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++)
            if (c2 && constraint_match (c, &nodes[i]) != constraint_match (c2, &nodes[i]))
                abort ();
        constraint_destroy (&c2);
        json_decref (j2);
        constraint_destroy (&c);
    }
    json_decref (j);
    return 0;
}
