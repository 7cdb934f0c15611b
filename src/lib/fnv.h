/* fnv.h - FNV-1a, the one non-cryptographic hash canopy uses for its hash
 * tables (paths, names, vertex keys).  Not for anything an attacker picks
 * keys against where collisions matter: content is named by SHA-256. */
#ifndef CANOPY_FNV_H
#define CANOPY_FNV_H
#include <stddef.h>
#include <stdint.h>

#define FNV1A_INIT 1469598103934665603ULL

/* Fold n bytes into h (start from FNV1A_INIT). */
static inline uint64_t fnv1a_add (uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static inline uint64_t fnv1a (const void *data, size_t n)
{
    return fnv1a_add (FNV1A_INIT, data, n);
}

/* a NUL-terminated string */
static inline uint64_t fnv1a_str (const char *s)
{
    uint64_t h = FNV1A_INIT;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

#endif
