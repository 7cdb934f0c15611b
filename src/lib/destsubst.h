/* destsubst.h - a distribution's destination template: "{rank}" in the
 * directory given to `archive distribute -C` / `archive extract -C` stands
 * for the rank that extracts.  Pure: no I/O. */
#ifndef CANOPY_DESTSUBST_H
#define CANOPY_DESTSUBST_H
#include <stdint.h>

/* Replace every "{rank}" in tmpl with rank (decimal).  Malloc'd (xalloc). */
char *archive_dest_subst (const char *tmpl, uint32_t rank);

#endif
