/* distunit.h - the transfer units of a sealed distribution
 * (doc/distribution.md, "Transfer units"): pieces of chunks longer than the
 * unit size u, packs of consecutive small chunks.  A pure function of (the
 * manifest's chunk lengths, u), so every broker computes the same table. */
#ifndef CANOPY_DISTUNIT_H
#define CANOPY_DISTUNIT_H
#include <stddef.h>
#include <stdint.h>

#define DISTUNIT_PACK_MAX 64        /* chunks in one pack at most */
#define DISTUNIT_MIN (16u << 10)    /* the smallest unit size a run may force */
#define DISTUNIT_MAX (64u << 20)    /* the largest (MANIFEST_CHUNK_MAX) */

typedef struct {
    uint32_t chunk;       /* first chunk */
    uint32_t nchunks;     /* chunks in it (1 for a piece) */
    uint32_t off;         /* byte offset within the chunk (0 for a pack) */
    uint32_t len;         /* bytes: the piece's, or the pack's total */
    uint32_t piece;       /* piece index within its chunk (0 for a pack) */
    uint32_t npieces;     /* pieces of that chunk; 0: this unit is a pack */
} distunit_t;

typedef struct distunits distunits_t;

/* The table for chunks of lengths lens[0..n-1] (each >= 1) and unit size u
 * (0: every chunk a pack of one).  NULL + err (a zero length, too many
 * units). */
distunits_t *distunits_new (const uint32_t *lens, size_t n, uint32_t u, char *err, size_t errlen);
void distunits_destroy (distunits_t **p);
size_t distunits_count (const distunits_t *t);
uint32_t distunits_size (const distunits_t *t);   /* u */
const distunit_t *distunits_get (const distunits_t *t, size_t j);
/* The first unit holding chunk c (its unit, or its first piece). */
size_t distunits_of_chunk (const distunits_t *t, uint32_t c);
/* Units holding chunk c: 1 for a pack member, npieces for a split chunk. */
size_t distunits_nof_chunk (const distunits_t *t, uint32_t c);

#endif
