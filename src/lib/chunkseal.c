/* chunkseal.c - AES-256-GCM seal/open of chunks with nonces derived from
 * (distribution id, index) and the manifest's hash in the additional data;
 * an optional re-hash on open is fused with the decryption in cache-sized
 * pieces.  OpenSSL EVP underneath (AES-NI, SHA-NI). */
#include "chunkseal.h"
#include "xalloc.h"
#include "errquote.h"
#include "sha256.h"
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define PIECE (64 * 1024)   /* decrypt then hash this much while it is in L2 */

struct chunkseal {
    EVP_CIPHER_CTX *enc, *dec;
    sha256_ctx_t *sha;
    uint8_t id[CHUNKSEAL_IDLEN];
};

static const char AAD_TAG[] = "canopy-chunk-v2";

void chunkseal_nonce (const uint8_t id[CHUNKSEAL_IDLEN], uint32_t idx, uint8_t nonce[CHUNKSEAL_NONCELEN])
{
    memcpy (nonce, id, CHUNKSEAL_IDLEN);
    nonce[8] = idx >> 24;
    nonce[9] = idx >> 16;
    nonce[10] = idx >> 8;
    nonce[11] = idx;
}

void chunkseal_token (const uint8_t key[CHUNKSEAL_KEYLEN], uint8_t token[CHUNKSEAL_TOKENLEN])
{
    static const char label[] = "canopy-dataplane-token";
    uint8_t buf[sizeof label - 1 + CHUNKSEAL_KEYLEN], h[SHA256_LEN];
    memcpy (buf, label, sizeof label - 1);
    memcpy (buf + sizeof label - 1, key, CHUNKSEAL_KEYLEN);
    sha256_hash (buf, sizeof buf, h);
    memcpy (token, h, CHUNKSEAL_TOKENLEN);
}

chunkseal_t *chunkseal_new (const uint8_t key[CHUNKSEAL_KEYLEN], const uint8_t id[CHUNKSEAL_IDLEN],
                            char *err, size_t errlen)
{
    chunkseal_t *s = xcalloc (1, sizeof *s);
    if (!s) {
        errfail (err, errlen, "chunkseal: out of memory");
        return NULL;
    }
    memcpy (s->id, id, CHUNKSEAL_IDLEN);
    s->enc = EVP_CIPHER_CTX_new ();
    s->dec = EVP_CIPHER_CTX_new ();
    s->sha = sha256_ctx_new ();
    if (!s->enc || !s->dec || !s->sha
        || EVP_EncryptInit_ex (s->enc, EVP_aes_256_gcm (), NULL, NULL, NULL) != 1
        || EVP_CIPHER_CTX_ctrl (s->enc, EVP_CTRL_GCM_SET_IVLEN, CHUNKSEAL_NONCELEN, NULL) != 1
        || EVP_EncryptInit_ex (s->enc, NULL, NULL, key, NULL) != 1
        || EVP_DecryptInit_ex (s->dec, EVP_aes_256_gcm (), NULL, NULL, NULL) != 1
        || EVP_CIPHER_CTX_ctrl (s->dec, EVP_CTRL_GCM_SET_IVLEN, CHUNKSEAL_NONCELEN, NULL) != 1
        || EVP_DecryptInit_ex (s->dec, NULL, NULL, key, NULL) != 1) {
        errfail (err, errlen, "chunkseal: cannot set up AES-256-GCM");
        chunkseal_destroy (&s);
        return NULL;
    }
    return s;
}

void chunkseal_destroy (chunkseal_t **p)
{
    if (!p || !*p)
        return;
    EVP_CIPHER_CTX_free ((*p)->enc);
    EVP_CIPHER_CTX_free ((*p)->dec);
    sha256_ctx_destroy (&(*p)->sha);
    free (*p);
    *p = NULL;
}

/* AAD: label || id || idx || len || SHA-256, so a frame answers one
 * question only, and only with the manifest's bytes */
static size_t aad (const chunkseal_t *s, uint32_t idx, uint64_t len, const uint8_t hash[SHA256_LEN],
                   uint8_t *out)
{
    size_t n = sizeof AAD_TAG - 1;
    memcpy (out, AAD_TAG, n);
    memcpy (out + n, s->id, CHUNKSEAL_IDLEN);
    n += CHUNKSEAL_IDLEN;
    for (int i = 3; i >= 0; i--)
        out[n++] = idx >> (8 * i);
    for (int i = 7; i >= 0; i--)
        out[n++] = len >> (8 * i);
    memcpy (out + n, hash, SHA256_LEN);
    return n + SHA256_LEN;
}

int chunkseal_seal (chunkseal_t *s, uint32_t idx, const uint8_t hash[32], const void *in, size_t len,
                    void *out, int flags, char *err, size_t errlen)
{
    bool rehash = flags & CHUNKSEAL_REHASH;
    uint8_t nonce[CHUNKSEAL_NONCELEN], a[96];
    chunkseal_nonce (s->id, idx, nonce);
    size_t alen = aad (s, idx, len, hash, a);
    int n = 0;
    const uint8_t *ip = in;
    uint8_t *op = out;
    if (EVP_EncryptInit_ex (s->enc, NULL, NULL, NULL, nonce) != 1
        || EVP_EncryptUpdate (s->enc, NULL, &n, a, (int)alen) != 1)
        return errfail (err, errlen, "chunkseal: seal of chunk %u failed", idx);
    /* with the hash: each piece is hashed, then encrypted while it is in L2
     * (before, since in may be out); without: one pass in 1 GiB pieces */
    size_t piece = rehash ? PIECE : (1u << 30);
    for (size_t off = 0; off < len;) {
        size_t k = len - off < piece ? len - off : piece;
        if (rehash)
            sha256_ctx_update (s->sha, ip + off, k);
        if (EVP_EncryptUpdate (s->enc, op + off, &n, ip + off, (int)k) != 1) {
            uint8_t junk[SHA256_LEN];
            if (rehash)
                sha256_ctx_final (s->sha, junk);
            return errfail (err, errlen, "chunkseal: seal of chunk %u failed", idx);
        }
        off += k;
    }
    uint8_t h[SHA256_LEN];
    if (rehash)
        sha256_ctx_final (s->sha, h);
    if (EVP_EncryptFinal_ex (s->enc, op + len, &n) != 1
        || EVP_CIPHER_CTX_ctrl (s->enc, EVP_CTRL_GCM_GET_TAG, CHUNKSEAL_TAGLEN, op + len) != 1)
        return errfail (err, errlen, "chunkseal: seal of chunk %u failed", idx);
    if (rehash && memcmp (h, hash, SHA256_LEN)) {
        memset (out, 0, len + CHUNKSEAL_TAGLEN);
        errfmt (err, errlen, "chunk %u: SHA-256 does not match the manifest; not sealed", idx);
        return CHUNKSEAL_EBADHASH;
    }
    return 0;
}

int chunkseal_open (chunkseal_t *s, uint32_t idx, const uint8_t hash[32], const void *in, size_t slen,
                    void *out, int flags, char *err, size_t errlen)
{
    bool rehash = flags & CHUNKSEAL_REHASH;
    if (slen < CHUNKSEAL_TAGLEN) {
        errfmt (err, errlen, "sealed chunk %u: %zu bytes, shorter than its tag", idx, slen);
        return CHUNKSEAL_EBADLEN;
    }
    size_t len = slen - CHUNKSEAL_TAGLEN;
    uint8_t nonce[CHUNKSEAL_NONCELEN], a[96], tag[CHUNKSEAL_TAGLEN];
    memcpy (tag, (const uint8_t *)in + len, CHUNKSEAL_TAGLEN);   /* in may be out */
    chunkseal_nonce (s->id, idx, nonce);
    size_t alen = aad (s, idx, len, hash, a);
    int n = 0;
    const uint8_t *ip = in;
    uint8_t *op = out;
    if (EVP_DecryptInit_ex (s->dec, NULL, NULL, NULL, nonce) != 1
        || EVP_DecryptUpdate (s->dec, NULL, &n, a, (int)alen) != 1) {
        errfmt (err, errlen, "sealed chunk %u: cannot decrypt", idx);
        return CHUNKSEAL_EBADTAG;
    }
    /* without a re-hash: one pass (in 1 GiB pieces: int lengths in EVP) */
    size_t piece = rehash ? PIECE : (1u << 30);
    for (size_t off = 0; off < len;) {
        size_t k = len - off < piece ? len - off : piece;
        if (EVP_DecryptUpdate (s->dec, op + off, &n, ip + off, (int)k) != 1) {
            uint8_t junk[SHA256_LEN];
            if (rehash)
                sha256_ctx_final (s->sha, junk);   /* reset for the next open */
            memset (out, 0, len);
            errfmt (err, errlen, "sealed chunk %u: cannot decrypt", idx);
            return CHUNKSEAL_EBADTAG;
        }
        if (rehash)
            sha256_ctx_update (s->sha, op + off, k);
        off += k;
    }
    uint8_t h[SHA256_LEN];
    if (rehash)
        sha256_ctx_final (s->sha, h);
    if (EVP_CIPHER_CTX_ctrl (s->dec, EVP_CTRL_GCM_SET_TAG, CHUNKSEAL_TAGLEN, tag) != 1
        || EVP_DecryptFinal_ex (s->dec, op + len, &n) != 1) {
        memset (out, 0, len);
        errfmt (err, errlen, "sealed chunk %u: tag check failed (altered, or not sealed for this "
                "distribution and index)", idx);
        return CHUNKSEAL_EBADTAG;
    }
    if (rehash && memcmp (h, hash, SHA256_LEN)) {
        memset (out, 0, len);
        errfmt (err, errlen, "sealed chunk %u: SHA-256 does not match the manifest", idx);
        return CHUNKSEAL_EBADHASH;
    }
    return 0;
}

/* ---- pieces: a chunk's bytes off..off+len (doc/distribution.md,
 * "Transfer units").  The nonce's first 8 bytes are id XOR E with E's top
 * bit set and (off, len) in its low 54 bits: injective in (off, len) and
 * never id itself (a whole chunk's). */
static const char PIECE_TAG[] = "canopy-piece-v1";

void chunkseal_piece_nonce (const uint8_t id[CHUNKSEAL_IDLEN], uint32_t idx, uint32_t off, uint32_t len,
                            uint8_t nonce[CHUNKSEAL_NONCELEN])
{
    chunkseal_nonce (id, idx, nonce);
    uint64_t e = (1ull << 63) | ((uint64_t)(off & ((1u << 27) - 1)) << 27) | (len & ((1u << 27) - 1));
    for (int i = 0; i < 8; i++)
        nonce[i] ^= (uint8_t)(e >> (8 * (7 - i)));
}

static size_t piece_aad (const chunkseal_t *s, uint32_t idx, uint32_t off, uint32_t len, uint64_t chunklen,
                         const uint8_t hash[SHA256_LEN], uint8_t *out)
{
    size_t n = sizeof PIECE_TAG - 1;
    memcpy (out, PIECE_TAG, n);
    memcpy (out + n, s->id, CHUNKSEAL_IDLEN);
    n += CHUNKSEAL_IDLEN;
    uint32_t v[3] = { idx, off, len };
    for (int k = 0; k < 3; k++)
        for (int i = 3; i >= 0; i--)
            out[n++] = v[k] >> (8 * i);
    for (int i = 7; i >= 0; i--)
        out[n++] = chunklen >> (8 * i);
    memcpy (out + n, hash, SHA256_LEN);
    return n + SHA256_LEN;
}

static bool piece_ok (uint32_t off, size_t len, uint32_t chunklen)
{
    return off < (1u << 27) && len < (1u << 27) && len > 0 && (uint64_t)off + len <= chunklen;
}

int chunkseal_seal_piece (chunkseal_t *s, uint32_t idx, uint32_t off, uint32_t chunklen,
                          const uint8_t hash[32], const void *in, size_t len, void *out, char *err,
                          size_t errlen)
{
    if (!piece_ok (off, len, chunklen))
        return errfail (err, errlen, "chunkseal: piece %u+%zu of chunk %u (%u bytes) out of range", off, len,
                        idx, chunklen);
    uint8_t nonce[CHUNKSEAL_NONCELEN], a[128];
    chunkseal_piece_nonce (s->id, idx, off, len, nonce);
    size_t alen = piece_aad (s, idx, off, len, chunklen, hash, a);
    int n = 0;
    uint8_t *op = out;
    if (EVP_EncryptInit_ex (s->enc, NULL, NULL, NULL, nonce) != 1
        || EVP_EncryptUpdate (s->enc, NULL, &n, a, (int)alen) != 1
        || EVP_EncryptUpdate (s->enc, op, &n, in, (int)len) != 1
        || EVP_EncryptFinal_ex (s->enc, op + len, &n) != 1
        || EVP_CIPHER_CTX_ctrl (s->enc, EVP_CTRL_GCM_GET_TAG, CHUNKSEAL_TAGLEN, op + len) != 1)
        return errfail (err, errlen, "chunkseal: seal of chunk %u piece at %u failed", idx, off);
    return 0;
}

int chunkseal_open_piece (chunkseal_t *s, uint32_t idx, uint32_t off, uint32_t chunklen,
                          const uint8_t hash[32], const void *in, size_t slen, void *out, char *err,
                          size_t errlen)
{
    if (slen <= CHUNKSEAL_TAGLEN || !piece_ok (off, slen - CHUNKSEAL_TAGLEN, chunklen)) {
        errfmt (err, errlen, "sealed piece of chunk %u at %u: bad length %zu", idx, off, slen);
        return CHUNKSEAL_EBADLEN;
    }
    size_t len = slen - CHUNKSEAL_TAGLEN;
    uint8_t nonce[CHUNKSEAL_NONCELEN], a[128], tag[CHUNKSEAL_TAGLEN];
    memcpy (tag, (const uint8_t *)in + len, CHUNKSEAL_TAGLEN);
    chunkseal_piece_nonce (s->id, idx, off, len, nonce);
    size_t alen = piece_aad (s, idx, off, len, chunklen, hash, a);
    int n = 0;
    uint8_t *op = out;
    if (EVP_DecryptInit_ex (s->dec, NULL, NULL, NULL, nonce) != 1
        || EVP_DecryptUpdate (s->dec, NULL, &n, a, (int)alen) != 1
        || EVP_DecryptUpdate (s->dec, op, &n, in, (int)len) != 1
        || EVP_CIPHER_CTX_ctrl (s->dec, EVP_CTRL_GCM_SET_TAG, CHUNKSEAL_TAGLEN, tag) != 1
        || EVP_DecryptFinal_ex (s->dec, op + len, &n) != 1) {
        memset (out, 0, len);
        errfmt (err, errlen, "sealed piece of chunk %u at %u: tag check failed (altered, or not sealed for "
                "this distribution, chunk and offset)", idx, off);
        return CHUNKSEAL_EBADTAG;
    }
    return 0;
}
