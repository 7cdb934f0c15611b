/* find.c - Fluxion's `find` expressions over the graph: predicates
 * status=up|down, sched-now=allocated|free, sched-future=reserved|free,
 * jobid-alloc|jobid-span|jobid-tag|jobid-reserved=ID, property=NAME,
 * names=HOSTLIST, agfilter=true|false, joined with and/or and parentheses.
 * Matching vertices (and their ancestors) are written in the match format. */
#include "mdfu.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int matcher_find (matcher_t *m, const char *expr, char **out, char *err, size_t errlen)
{
    (void)m;
    (void)expr;
    *out = NULL;
    snprintf (err, errlen, "find: not implemented");
    return -1;
}
