/* sha256.c - SHA-256 via OpenSSL EVP (SHA-NI where available), hex codec.
 * The EVP_MD is fetched once; each call uses a fresh or reused context. */
#include "sha256.h"
#include "xalloc.h"
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static EVP_MD *md_;
static pthread_once_t md_once_ = PTHREAD_ONCE_INIT;

static void md_init (void)
{
    md_ = EVP_MD_fetch (NULL, "SHA256", NULL);
}

static const EVP_MD *md (void)
{
    pthread_once (&md_once_, md_init);
    return md_ ? md_ : EVP_sha256 ();
}

struct sha256_ctx {
    EVP_MD_CTX *c;
};

void sha256_hash (const void *data, size_t len, uint8_t out[SHA256_LEN])
{
    unsigned int n = SHA256_LEN;
    if (!EVP_Digest (data, len, out, &n, md (), NULL))
        abort ();   /* cannot happen with a valid md; never return a wrong hash */
}

void sha256_hex (const uint8_t hash[SHA256_LEN], char out[SHA256_HEXLEN + 1])
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < SHA256_LEN; i++) {
        out[2 * i] = hx[hash[i] >> 4];
        out[2 * i + 1] = hx[hash[i] & 15];
    }
    out[SHA256_HEXLEN] = '\0';
}

static int hexval (char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int sha256_parse_hex (const char *hex, uint8_t out[SHA256_LEN])
{
    if (!hex)
        return -1;
    for (int i = 0; i < SHA256_LEN; i++) {
        int hi = hexval (hex[2 * i]);
        if (hi < 0)
            return -1;
        int lo = hexval (hex[2 * i + 1]);
        if (lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return hex[SHA256_HEXLEN] == '\0' ? 0 : -1;
}

sha256_ctx_t *sha256_ctx_new (void)
{
    sha256_ctx_t *c = xcalloc (1, sizeof *c);
    if (!(c->c = EVP_MD_CTX_new ()) || !EVP_DigestInit_ex (c->c, md (), NULL)) {
        EVP_MD_CTX_free (c->c);
        free (c);
        return NULL;
    }
    return c;
}

void sha256_ctx_update (sha256_ctx_t *c, const void *data, size_t len)
{
    if (!EVP_DigestUpdate (c->c, data, len))
        abort ();
}

void sha256_ctx_final (sha256_ctx_t *c, uint8_t out[SHA256_LEN])
{
    unsigned int n = SHA256_LEN;
    if (!EVP_DigestFinal_ex (c->c, out, &n) || !EVP_DigestInit_ex (c->c, md (), NULL))
        abort ();
}

void sha256_ctx_destroy (sha256_ctx_t **p)
{
    if (p && *p) {
        EVP_MD_CTX_free ((*p)->c);
        free (*p);
        *p = NULL;
    }
}
