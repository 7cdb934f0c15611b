/* rv1exec.c - load a resource graph from Fluxion's rv1exec form of R
 * (execution.R_lite: ranks with core/gpu id sets, nodelist hostnames):
 * cluster -> node (one per rank) -> core, gpu.  Text in, no I/O. */
#include "mint.h"
#include <stdio.h>
#include <string.h>

int mgraph_load_rv1exec (mgraph_t *g, const char *text, size_t len, char *err, size_t errlen)
{
    (void)g;
    (void)text;
    (void)len;
    snprintf (err, errlen, "rv1exec: not implemented");
    return -1;
}
