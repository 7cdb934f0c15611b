/* distunit.c - the unit table of a sealed distribution: walk the chunks in
 * order; a chunk longer than u becomes ceil(len/u) pieces, else a pack
 * starts at it and takes the following chunks while each is <= u, the total
 * stays <= u and the pack has at most DISTUNIT_PACK_MAX chunks.  u = 0: one
 * pack per chunk (the wire of version 1).  Pure. */
#include "distunit.h"
#include "errquote.h"
#include "xalloc.h"
#include <stdlib.h>

struct distunits {
    uint32_t u;
    size_t n, nchunks;
    distunit_t *units;
    uint32_t *first;      /* per chunk: its first unit */
};

distunits_t *distunits_new (const uint32_t *lens, size_t n, uint32_t u, char *err, size_t errlen)
{
    size_t count = 0;
    for (size_t c = 0; c < n;) {   /* first pass: how many */
        if (lens[c] == 0) {
            errfmt (err, errlen, "unit table: chunk %zu has length 0", c);
            return NULL;
        }
        if (u && lens[c] > u) {
            count += (lens[c] + (uint64_t)u - 1) / u;
            c++;
            continue;
        }
        uint64_t tot = lens[c];
        size_t k = 1;
        while (u && c + k < n && k < DISTUNIT_PACK_MAX && lens[c + k] && lens[c + k] <= u
               && tot + lens[c + k] <= u)
            tot += lens[c + k++];
        count++;
        c += k;
    }
    if (count > UINT32_MAX) {
        errfmt (err, errlen, "unit table: too many units");
        return NULL;
    }
    distunits_t *t = xcalloc (1, sizeof *t);
    t->u = u;
    t->n = count;
    t->nchunks = n;
    t->units = xcalloc (count ? count : 1, sizeof *t->units);
    t->first = xcalloc (n ? n : 1, sizeof *t->first);
    size_t j = 0;
    for (size_t c = 0; c < n;) {
        if (u && lens[c] > u) {
            uint32_t np = (lens[c] + (uint64_t)u - 1) / u;
            t->first[c] = j;
            for (uint32_t p = 0; p < np; p++) {
                distunit_t *d = &t->units[j++];
                d->chunk = c;
                d->nchunks = 1;
                d->off = p * u;
                d->len = lens[c] - d->off < u ? lens[c] - d->off : u;
                d->piece = p;
                d->npieces = np;
            }
            c++;
            continue;
        }
        distunit_t *d = &t->units[j];
        d->chunk = c;
        d->len = lens[c];
        d->nchunks = 1;
        t->first[c] = j;
        while (u && c + d->nchunks < n && d->nchunks < DISTUNIT_PACK_MAX && lens[c + d->nchunks] <= u
               && (uint64_t)d->len + lens[c + d->nchunks] <= u) {
            t->first[c + d->nchunks] = j;
            d->len += lens[c + d->nchunks++];
        }
        c += d->nchunks;
        j++;
    }
    return t;
}

void distunits_destroy (distunits_t **p)
{
    if (!p || !*p)
        return;
    free ((*p)->units);
    free ((*p)->first);
    free (*p);
    *p = NULL;
}

size_t distunits_count (const distunits_t *t)
{
    return t->n;
}

uint32_t distunits_size (const distunits_t *t)
{
    return t->u;
}

const distunit_t *distunits_get (const distunits_t *t, size_t j)
{
    return j < t->n ? &t->units[j] : NULL;
}

size_t distunits_of_chunk (const distunits_t *t, uint32_t c)
{
    return c < t->nchunks ? t->first[c] : t->n;
}

size_t distunits_nof_chunk (const distunits_t *t, uint32_t c)
{
    if (c >= t->nchunks)
        return 0;
    const distunit_t *d = &t->units[t->first[c]];
    return d->npieces ? d->npieces : 1;
}
