/* sha256.h - SHA-256 of byte buffers and its hex form (OpenSSL EVP underneath,
 * so SHA-NI is used where the CPU has it).  Pure: no I/O.  Thread-safe. */
#ifndef CANOPY_SHA256_H
#define CANOPY_SHA256_H
#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN    32
#define SHA256_HEXLEN 64

/* One-shot hash of len bytes. */
void sha256_hash (const void *data, size_t len, uint8_t out[SHA256_LEN]);

/* Lower-case hex, NUL-terminated (65 bytes). */
void sha256_hex (const uint8_t hash[SHA256_LEN], char out[SHA256_HEXLEN + 1]);

/* Parse exactly 64 hex digits (either case).  0, or -1 if malformed. */
int sha256_parse_hex (const char *hex, uint8_t out[SHA256_LEN]);

/* Incremental hashing. */
typedef struct sha256_ctx sha256_ctx_t;
sha256_ctx_t *sha256_ctx_new (void);
void sha256_ctx_update (sha256_ctx_t *c, const void *data, size_t len);
/* Writes the digest and resets the context for reuse. */
void sha256_ctx_final (sha256_ctx_t *c, uint8_t out[SHA256_LEN]);
void sha256_ctx_destroy (sha256_ctx_t **p);

#endif
