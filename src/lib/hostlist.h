/* hostlist.h - hostlist expressions as Flux and Slurm write them:
 * "node[0-15],login,io[01-04]".  Pure. */
#ifndef CANOPY_HOSTLIST_H
#define CANOPY_HOSTLIST_H
#include <stddef.h>

/* Expand into a malloc'd array of malloc'd names (order kept, duplicates
 * kept).  NULL + one-line err on bad input.  Free with hostlist_free. */
char **hostlist_expand (const char *expr, size_t *n, char *err, size_t errlen);
void hostlist_free (char **hosts, size_t n);
/* Compress adjacent names with a common prefix: ["n0","n1","n3"] -> "n[0-1,3]". */
char *hostlist_compress (char *const *hosts, size_t n);

#endif
