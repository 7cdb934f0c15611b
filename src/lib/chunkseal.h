/* chunkseal.h - seal and open one archive chunk with AES-256-GCM under a
 * per-distribution key, the nonce derived from (distribution id, chunk
 * index), so sealing is deterministic (doc/distribution.md, "Sealed data
 * plane").  Open checks the GCM tag and, fused with the decryption, the
 * plaintext's SHA-256 against the manifest's.  Pure: no I/O.  A chunkseal_t
 * is not thread-safe (one per thread). */
#ifndef CANOPY_CHUNKSEAL_H
#define CANOPY_CHUNKSEAL_H
#include <stddef.h>
#include <stdint.h>

#define CHUNKSEAL_KEYLEN   32
#define CHUNKSEAL_IDLEN    8
#define CHUNKSEAL_TAGLEN   16
#define CHUNKSEAL_TOKENLEN 16
#define CHUNKSEAL_NONCELEN 12

/* chunkseal_open results */
#define CHUNKSEAL_EBADLEN  (-2)   /* sealed length is not the plaintext length + tag */
#define CHUNKSEAL_EBADTAG  (-3)   /* tag check failed: altered, wrong key or index */
#define CHUNKSEAL_EBADHASH (-4)   /* authentic, but the plaintext is not the manifest's */

typedef struct chunkseal chunkseal_t;

/* A sealer for distribution `id` under `key`.  NULL + err. */
chunkseal_t *chunkseal_new (const uint8_t key[CHUNKSEAL_KEYLEN], const uint8_t id[CHUNKSEAL_IDLEN],
                            char *err, size_t errlen);
void chunkseal_destroy (chunkseal_t **p);

/* nonce = id || idx (big-endian) */
void chunkseal_nonce (const uint8_t id[CHUNKSEAL_IDLEN], uint32_t idx, uint8_t nonce[CHUNKSEAL_NONCELEN]);
/* The capability a requester shows: SHA-256("canopy-dataplane-token" || key)[0..15]. */
void chunkseal_token (const uint8_t key[CHUNKSEAL_KEYLEN], uint8_t token[CHUNKSEAL_TOKENLEN]);

/* Seal len bytes of chunk idx from in into out (len + CHUNKSEAL_TAGLEN
 * bytes: ciphertext, then tag).  in == out is allowed (out must then have
 * room for the tag).  0, or -1 + err. */
int chunkseal_seal (chunkseal_t *s, uint32_t idx, const void *in, size_t len, void *out,
                    char *err, size_t errlen);

/* Open sealed chunk idx (slen = plaintext length + tag) into out (slen -
 * CHUNKSEAL_TAGLEN bytes; in == out allowed).  If hash is not NULL the
 * plaintext must also have that SHA-256.  0, or CHUNKSEAL_E* + err; on
 * failure out holds no plaintext (zeroed). */
int chunkseal_open (chunkseal_t *s, uint32_t idx, const void *in, size_t slen, void *out,
                    const uint8_t hash[32], char *err, size_t errlen);

#endif
