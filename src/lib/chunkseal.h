/* chunkseal.h - seal and open one archive chunk with AES-256-GCM under a
 * per-distribution key, the nonce derived from (distribution id, chunk
 * index), so sealing is deterministic (doc/distribution.md, "Sealed data
 * plane").  The additional data binds the frame to (distribution, index,
 * length, the manifest's SHA-256 of the chunk): a sealer asserts that the
 * plaintext has that hash (it checks, fused with the encryption), so
 * opening needs the GCM tag only; a re-hash on open is optional.
 * Pure: no I/O.  A chunkseal_t is not thread-safe (one per thread). */
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
#define CHUNKSEAL_EBADHASH (-4)   /* authentic, but the plaintext is not the manifest's
                                   * (only with CHUNKSEAL_REHASH: its sealer erred) */

/* chunkseal_seal / chunkseal_open flags */
#define CHUNKSEAL_REHASH   1      /* also hash the plaintext and compare */

typedef struct chunkseal chunkseal_t;

/* A sealer for distribution `id` under `key`.  NULL + err. */
chunkseal_t *chunkseal_new (const uint8_t key[CHUNKSEAL_KEYLEN], const uint8_t id[CHUNKSEAL_IDLEN],
                            char *err, size_t errlen);
void chunkseal_destroy (chunkseal_t **p);

/* nonce = id || idx (big-endian) */
void chunkseal_nonce (const uint8_t id[CHUNKSEAL_IDLEN], uint32_t idx, uint8_t nonce[CHUNKSEAL_NONCELEN]);
/* The capability a requester shows: SHA-256("canopy-dataplane-token" || key)[0..15]. */
void chunkseal_token (const uint8_t key[CHUNKSEAL_KEYLEN], uint8_t token[CHUNKSEAL_TOKENLEN]);

/* Seal len bytes of chunk idx, whose SHA-256 must be hash (the
 * manifest's), from in into out (len + CHUNKSEAL_TAGLEN bytes: ciphertext,
 * then tag).  in == out is allowed (out must then have room for the tag).
 * With CHUNKSEAL_REHASH the plaintext is hashed as it is encrypted (one pass
 * through the cache) and a mismatch seals nothing (out zeroed,
 * CHUNKSEAL_EBADHASH); without, the caller vouches for the hash.  0, or -1
 * (failure) / CHUNKSEAL_EBADHASH + err. */
int chunkseal_seal (chunkseal_t *s, uint32_t idx, const uint8_t hash[32], const void *in, size_t len,
                    void *out, int flags, char *err, size_t errlen);

/* Open sealed chunk idx, expected to have SHA-256 hash, (slen = plaintext
 * length + tag) into out (slen - CHUNKSEAL_TAGLEN bytes; in == out allowed).
 * The tag check proves that a holder of the key sealed this plaintext as
 * chunk idx of this distribution with that hash; with CHUNKSEAL_REHASH the
 * plaintext's SHA-256 is computed and compared as well.  0, or CHUNKSEAL_E*
 * + err; on failure out holds no plaintext (zeroed). */
int chunkseal_open (chunkseal_t *s, uint32_t idx, const uint8_t hash[32], const void *in, size_t slen,
                    void *out, int flags, char *err, size_t errlen);

/* ---- pieces (doc/distribution.md, "Transfer units") ----
 * Bytes off .. off+len of chunk idx (length chunklen, SHA-256 hash), sealed
 * under the nonce (id XOR BE64(2^63 | off 2^27 | len)) || idx and AAD
 * "canopy-piece-v1" || id || idx || off || len || chunklen || hash, so no
 * piece nonce equals another's or a whole chunk's.  off, len < 2^27. */
void chunkseal_piece_nonce (const uint8_t id[CHUNKSEAL_IDLEN], uint32_t idx, uint32_t off, uint32_t len,
                            uint8_t nonce[CHUNKSEAL_NONCELEN]);
/* Seal the piece in[0..len-1] (the caller checked the whole chunk's hash)
 * into out (len + CHUNKSEAL_TAGLEN).  0 or -1 + err. */
int chunkseal_seal_piece (chunkseal_t *s, uint32_t idx, uint32_t off, uint32_t chunklen,
                          const uint8_t hash[32], const void *in, size_t len, void *out, char *err,
                          size_t errlen);
/* Open a sealed piece (slen = len + tag) into out.  0, or CHUNKSEAL_E* +
 * err (out zeroed). */
int chunkseal_open_piece (chunkseal_t *s, uint32_t idx, uint32_t off, uint32_t chunklen,
                          const uint8_t hash[32], const void *in, size_t slen, void *out, char *err,
                          size_t errlen);

#endif
