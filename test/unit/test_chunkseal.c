/* test_chunkseal.c - chunk sealing: round trip, deterministic re-seal,
 * tampered bytes, wrong key / distribution / index / manifest hash, the
 * optional re-hash, in place. */
#include "check.h"
#include "chunkseal.h"
#include "sha256.h"
#include <stdlib.h>
#include <string.h>

int main (void)
{
    uint8_t key[32], key2[32], id[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, id2[8] = { 1, 2, 3, 4, 5, 6, 7, 9 };
    for (int i = 0; i < 32; i++) {
        key[i] = i * 7 + 1;
        key2[i] = key[i];
    }
    key2[31] ^= 1;
    char err[256];
    size_t len = (1 << 20) + 123;   /* not a multiple of the 64 KiB piece */
    uint8_t *pt = malloc (len), *ct = malloc (len + 16), *ct2 = malloc (len + 16), *out = malloc (len);
    for (size_t i = 0; i < len; i++)
        pt[i] = (uint8_t)(i * 2654435761u >> 13);
    uint8_t h[32];
    sha256_hash (pt, len, h);

    chunkseal_t *s = chunkseal_new (key, id, err, sizeof err);
    ok (s != NULL, "new");
    ok (chunkseal_seal (s, 5, h, pt, len, ct, 0, err, sizeof err) == 0, "seal");
    ok (memcmp (ct, pt, 64) != 0, "ciphertext differs from plaintext");
    ok (chunkseal_open (s, 5, h, ct, len + 16, out, CHUNKSEAL_REHASH, err, sizeof err) == 0, "open with the re-hash: %s", err);
    ok (memcmp (out, pt, len) == 0, "round trip restores the bytes");
    ok (chunkseal_open (s, 5, h, ct, len + 16, out, 0, err, sizeof err) == 0, "open, tag only");

    /* deterministic: another sealer with the same key and id, later */
    chunkseal_t *s2 = chunkseal_new (key, id, err, sizeof err);
    ok (chunkseal_seal (s2, 5, h, pt, len, ct2, 0, err, sizeof err) == 0 && memcmp (ct, ct2, len + 16) == 0,
        "re-seal of the same chunk by another sealer gives the same bytes");
    ok (chunkseal_seal (s2, 6, h, pt, len, ct2, 0, err, sizeof err) == 0 && memcmp (ct, ct2, 64) != 0,
        "another index gives another keystream");

    /* tampering: one byte of ciphertext, of the tag */
    memcpy (ct2, ct, len + 16);
    ct2[len / 2] ^= 0x01;
    ok (chunkseal_open (s, 5, h, ct2, len + 16, out, CHUNKSEAL_REHASH, err, sizeof err) == CHUNKSEAL_EBADTAG,
        "flipped ciphertext byte rejected");
    ok (strstr (err, "tag check failed") != NULL, "error says why: %s", err);
    int zero = 1;
    for (size_t i = 0; i < len; i++)
        zero &= out[i] == 0;
    ok (zero, "no plaintext left in out after a failed open");
    memcpy (ct2, ct, len + 16);
    ct2[len + 3] ^= 0x80;
    ok (chunkseal_open (s, 5, h, ct2, len + 16, out, 0, err, sizeof err) == CHUNKSEAL_EBADTAG,
        "flipped tag byte rejected");
    ok (chunkseal_open (s, 5, h, ct, len + 15, out, 0, err, sizeof err) == CHUNKSEAL_EBADTAG,
        "truncated frame rejected");
    ok (chunkseal_open (s, 5, h, ct, 10, out, 0, err, sizeof err) == CHUNKSEAL_EBADLEN,
        "frame shorter than a tag rejected");
    /* after failures the sealer still works (the hash context was reset) */
    ok (chunkseal_open (s, 5, h, ct, len + 16, out, CHUNKSEAL_REHASH, err, sizeof err) == 0, "opens again after failures");

    /* wrong key, wrong distribution, wrong index (a replayed frame) */
    chunkseal_t *wk = chunkseal_new (key2, id, err, sizeof err);
    ok (chunkseal_open (wk, 5, h, ct, len + 16, out, 0, err, sizeof err) == CHUNKSEAL_EBADTAG, "wrong key rejected");
    chunkseal_t *wd = chunkseal_new (key, id2, err, sizeof err);
    ok (chunkseal_open (wd, 5, h, ct, len + 16, out, 0, err, sizeof err) == CHUNKSEAL_EBADTAG,
        "frame of another distribution rejected");
    ok (chunkseal_open (s, 4, h, ct, len + 16, out, 0, err, sizeof err) == CHUNKSEAL_EBADTAG,
        "frame of another index rejected");

    /* the manifest's hash is bound into the tag: a frame sealed for
     * another hash (another manifest's chunk) does not open */
    uint8_t wrong[32];
    memcpy (wrong, h, 32);
    wrong[0] ^= 1;
    ok (chunkseal_open (s, 5, wrong, ct, len + 16, out, 0, err, sizeof err) == CHUNKSEAL_EBADTAG,
        "frame sealed under another manifest hash rejected: %s", err);
    /* authentic but not the manifest's bytes (a sealer that did not check):
     * only the re-hash sees it */
    ok (chunkseal_seal (s, 5, wrong, pt, len, ct2, CHUNKSEAL_REHASH, err, sizeof err) == CHUNKSEAL_EBADHASH,
        "a checked seal refuses a plaintext that is not the hash's: %s", err);
    zero = 1;
    for (size_t i = 0; i < len + 16; i++)
        zero &= ct2[i] == 0;
    ok (zero, "and leaves no frame behind");
    uint8_t *ct3 = malloc (len + 16);
    ok (chunkseal_seal (s, 5, h, pt, len, ct3, CHUNKSEAL_REHASH, err, sizeof err) == 0 && !memcmp (ct3, ct, len + 16),
        "a checked seal of the right bytes equals the unchecked one");
    free (ct3);
    ok (chunkseal_seal (s, 5, wrong, pt, len, ct2, 0, err, sizeof err) == 0, "unchecked seal asserting a wrong hash");
    ok (chunkseal_open (s, 5, wrong, ct2, len + 16, out, CHUNKSEAL_REHASH, err, sizeof err) == CHUNKSEAL_EBADHASH,
        "re-hash rejects a plaintext that is not the asserted hash's: %s", err);
    ok (chunkseal_open (s, 5, wrong, ct2, len + 16, out, 0, err, sizeof err) == 0,
        "without the re-hash the tag alone is trusted (the sealer's check)");
    ok (chunkseal_open (s, 5, h, ct, len + 16, out, CHUNKSEAL_REHASH, err, sizeof err) == 0, "opens again after a hash failure");

    /* in place, and an empty chunk */
    uint8_t *buf = malloc (len + 16);
    memcpy (buf, pt, len);
    ok (chunkseal_seal (s, 5, h, buf, len, buf, CHUNKSEAL_REHASH, err, sizeof err) == 0 && memcmp (buf, ct, len + 16) == 0,
        "in-place checked seal equals out-of-place");
    ok (chunkseal_open (s, 5, h, buf, len + 16, buf, CHUNKSEAL_REHASH, err, sizeof err) == 0 && memcmp (buf, pt, len) == 0,
        "in-place open");
    uint8_t e[16], eh[32];
    sha256_hash ("", 0, eh);
    ok (chunkseal_seal (s, 0, eh, "", 0, e, 0, err, sizeof err) == 0
        && chunkseal_open (s, 0, eh, e, 16, e, CHUNKSEAL_REHASH, err, sizeof err) == 0, "empty chunk round trip");

    /* tokens: deterministic, differ by key, differ from the key */
    uint8_t t1[16], t2[16], t3[16];
    chunkseal_token (key, t1);
    chunkseal_token (key, t2);
    chunkseal_token (key2, t3);
    ok (!memcmp (t1, t2, 16) && memcmp (t1, t3, 16) && memcmp (t1, key, 16), "token derived from the key");
    uint8_t nonce[12];
    chunkseal_nonce (id, 0x01020304, nonce);
    ok (!memcmp (nonce, id, 8) && nonce[8] == 1 && nonce[11] == 4, "nonce = id || idx big-endian");

    chunkseal_destroy (&s);
    chunkseal_destroy (&s2);
    chunkseal_destroy (&wk);
    chunkseal_destroy (&wd);
    ok (s == NULL, "destroy clears the pointer");
    free (pt);
    free (ct);
    free (ct2);
    free (out);
    free (buf);
    return done ();
}
