/* idset.h - sets of small non-negative integers (ranks, cores), with the
 * compact text form Flux uses: "0-3,7,9-10" (RFC 22).  Pure. */
#ifndef CANOPY_IDSET_H
#define CANOPY_IDSET_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IDSET_INVALID  UINT32_MAX
#define IDSET_MAX_ID   (1u << 24)   /* refuse ids past 16M: no instance is that big */

typedef struct idset idset_t;

idset_t *idset_new (void);
void idset_destroy (idset_t **p);
idset_t *idset_copy (const idset_t *s);
/* Parse "0-3,7" (also "[0-3]").  NULL + one-line err on bad input. */
idset_t *idset_decode (const char *text, char *err, size_t errlen);
/* Malloc'd "0-3,7"; "" for empty. */
char *idset_encode (const idset_t *s);
int idset_set (idset_t *s, uint32_t id);
int idset_range_set (idset_t *s, uint32_t lo, uint32_t hi);
void idset_clear (idset_t *s, uint32_t id);
bool idset_test (const idset_t *s, uint32_t id);
size_t idset_count (const idset_t *s);
/* Iteration: first id, or IDSET_INVALID; next id after `prev`. */
uint32_t idset_first (const idset_t *s);
uint32_t idset_next (const idset_t *s, uint32_t prev);
uint32_t idset_last (const idset_t *s);
void idset_subtract (idset_t *s, const idset_t *other);
/* s |= other, a word at a time.  -1 (s unchanged) if out of memory. */
int idset_union (idset_t *s, const idset_t *other);
bool idset_equal (const idset_t *a, const idset_t *b);

#endif
