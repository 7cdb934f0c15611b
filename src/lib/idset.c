/* idset.c - a growable bitmap with RFC 22-style text encoding.
 *
 * Hand-written: Debian packages no idset library (flux-core's is internal),
 * and a bitmap plus a range parser is a page of code.
 */
#include "idset.h"
#include "xalloc.h"
#include "errquote.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct idset {
    uint64_t *w;
    size_t nwords;
    size_t count;
};

idset_t *idset_new (void)
{
    return xcalloc (1, sizeof (idset_t));
}

void idset_destroy (idset_t **p)
{
    if (p && *p) {
        free ((*p)->w);
        free (*p);
        *p = NULL;
    }
}

idset_t *idset_copy (const idset_t *s)
{
    idset_t *c = idset_new ();
    if (!c)
        return NULL;
    if (s->nwords) {
        c->w = xmalloc (s->nwords * 8);
        memcpy (c->w, s->w, s->nwords * 8);
    }
    c->nwords = s->nwords;
    c->count = s->count;
    return c;
}

static int grow (idset_t *s, uint32_t id)
{
    size_t need = id / 64 + 1;
    if (need <= s->nwords)
        return 0;
    size_t n = s->nwords ? s->nwords : 4;
    while (n < need)
        n *= 2;
    uint64_t *w = xrealloc (s->w, n * 8);
    memset (w + s->nwords, 0, (n - s->nwords) * 8);
    s->w = w;
    s->nwords = n;
    return 0;
}

int idset_set (idset_t *s, uint32_t id)
{
    if (id >= IDSET_MAX_ID || grow (s, id) < 0)
        return -1;
    uint64_t bit = 1ull << (id % 64);
    if (!(s->w[id / 64] & bit)) {
        s->w[id / 64] |= bit;
        s->count++;
    }
    return 0;
}

/* set lo..hi inclusive a word at a time; all or nothing */
int idset_range_set (idset_t *s, uint32_t lo, uint32_t hi)
{
    if (lo > hi)
        return 0;
    if (hi >= IDSET_MAX_ID || grow (s, hi) < 0)
        return -1;
    size_t wlo = lo / 64, whi = hi / 64;
    for (size_t wi = wlo; wi <= whi; wi++) {
        uint64_t mask = ~0ull;
        if (wi == wlo)
            mask &= ~0ull << (lo % 64);
        if (wi == whi)
            mask &= ~0ull >> (63 - hi % 64);
        s->count += __builtin_popcountll (mask & ~s->w[wi]);
        s->w[wi] |= mask;
    }
    return 0;
}

void idset_clear (idset_t *s, uint32_t id)
{
    if (id / 64 < s->nwords) {
        uint64_t bit = 1ull << (id % 64);
        if (s->w[id / 64] & bit) {
            s->w[id / 64] &= ~bit;
            s->count--;
        }
    }
}

bool idset_test (const idset_t *s, uint32_t id)
{
    return id / 64 < s->nwords && (s->w[id / 64] >> (id % 64)) & 1;
}

size_t idset_count (const idset_t *s)
{
    return s->count;
}

uint32_t idset_next (const idset_t *s, uint32_t prev)
{
    uint64_t start = prev == IDSET_INVALID ? 0 : (uint64_t)prev + 1;
    for (uint64_t wi = start / 64; wi < s->nwords; wi++) {
        uint64_t w = s->w[wi];
        if (wi == start / 64)
            w &= ~0ull << (start % 64);
        if (w)
            return wi * 64 + __builtin_ctzll (w);
    }
    return IDSET_INVALID;
}

uint32_t idset_first (const idset_t *s)
{
    return idset_next (s, IDSET_INVALID);
}

uint32_t idset_last (const idset_t *s)
{
    for (size_t wi = s->nwords; wi-- > 0;)
        if (s->w[wi])
            return wi * 64 + 63 - __builtin_clzll (s->w[wi]);
    return IDSET_INVALID;
}

void idset_subtract (idset_t *s, const idset_t *o)
{
    for (uint32_t i = idset_first (o); i != IDSET_INVALID; i = idset_next (o, i))
        idset_clear (s, i);
}

int idset_union (idset_t *s, const idset_t *o)
{
    uint32_t last = idset_last (o);
    if (last == IDSET_INVALID)
        return 0;
    if (grow (s, last) < 0)
        return -1;
    for (size_t wi = 0; wi <= last / 64; wi++) {
        s->count += __builtin_popcountll (o->w[wi] & ~s->w[wi]);
        s->w[wi] |= o->w[wi];
    }
    return 0;
}

bool idset_equal (const idset_t *a, const idset_t *b)
{
    if (a->count != b->count)
        return false;
    for (uint32_t i = idset_first (a); i != IDSET_INVALID; i = idset_next (a, i))
        if (!idset_test (b, i))
            return false;
    return true;
}

static int parse_uint (const char **pp, uint32_t *out)
{
    const char *p = *pp;
    if (!isdigit ((unsigned char)*p))
        return -1;
    uint64_t v = 0;
    while (isdigit ((unsigned char)*p)) {
        v = v * 10 + (*p - '0');
        if (v >= IDSET_MAX_ID)
            return -2;
        p++;
    }
    *out = v;
    *pp = p;
    return 0;
}

idset_t *idset_decode (const char *text, char *err, size_t errlen)
{
    idset_t *s = idset_new ();
    const char *p = text;
    size_t len = strlen (text);
    int bracket = 0;
    char q[65];
    if (!s)
        return NULL;
    if (len && p[0] == '[') {
        if (p[len - 1] != ']')
            goto bad;
        bracket = 1;
        p++;
    }
    if (*p == '\0' || (bracket && *p == ']'))
        return s; /* empty set */
    for (;;) {
        uint32_t lo, hi;
        int rc = parse_uint (&p, &lo);
        if (rc == -2)
            goto toobig;
        if (rc < 0)
            goto bad;
        hi = lo;
        if (*p == '-') {
            p++;
            rc = parse_uint (&p, &hi);
            if (rc == -2)
                goto toobig;
            if (rc < 0 || hi < lo)
                goto bad;
        }
        if (idset_range_set (s, lo, hi) < 0)
            goto toobig;
        if (*p == ',') {
            p++;
            continue;
        }
        if (bracket && p[0] == ']' && p[1] == '\0')
            break;
        if (!bracket && *p == '\0')
            break;
        goto bad;
    }
    return s;
bad:
    if (errlen)
        snprintf (err, errlen, "invalid idset '%s' (expected e.g. 0-3,7)",
                  errquote (q, sizeof q, text, len));
    idset_destroy (&s);
    return NULL;
toobig:
    if (errlen)
        snprintf (err, errlen, "idset '%s': id too large", errquote (q, sizeof q, text, len));
    idset_destroy (&s);
    return NULL;
}

char *idset_encode (const idset_t *s)
{
    size_t cap = 64, len = 0;
    char *buf = xmalloc (cap);
    buf[0] = '\0';
    uint32_t i = idset_first (s);
    while (i != IDSET_INVALID) {
        uint32_t lo = i, hi = i;
        uint32_t n;
        while ((n = idset_next (s, hi)) == hi + 1)
            hi = n;
        char tmp[32];
        int k = lo == hi ? snprintf (tmp, sizeof tmp, "%s%u", len ? "," : "", lo)
                         : snprintf (tmp, sizeof tmp, "%s%u-%u", len ? "," : "", lo, hi);
        if (len + k + 1 > cap) {
            while (len + k + 1 > cap)
                cap *= 2;
            buf = xrealloc (buf, cap);
        }
        memcpy (buf + len, tmp, k + 1);
        len += k;
        i = n;
    }
    return buf;
}
