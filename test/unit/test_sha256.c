/* test_sha256.c - SHA-256 against FIPS 180-2 vectors, hex codec, incremental API. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "sha256.h"

static const char *hexof (const void *d, size_t n, char out[65])
{
    uint8_t h[SHA256_LEN];
    sha256_hash (d, n, h);
    sha256_hex (h, out);
    return out;
}

int main (void)
{
    char hex[65];
    ok (!strcmp (hexof ("", 0, hex), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        "empty input");
    ok (!strcmp (hexof ("abc", 3, hex), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        "\"abc\"");
    const char *s448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    ok (!strcmp (hexof (s448, strlen (s448), hex),
                 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        "448-bit message");
    /* one million 'a' both one-shot and incrementally in odd pieces */
    size_t n = 1000000;
    char *a = malloc (n);
    memset (a, 'a', n);
    const char *want = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    ok (!strcmp (hexof (a, n, hex), want), "million a, one shot");
    sha256_ctx_t *c = sha256_ctx_new ();
    ok (c != NULL, "ctx_new");
    size_t off = 0, step = 1;
    while (off < n) {
        size_t k = step < n - off ? step : n - off;
        sha256_ctx_update (c, a + off, k);
        off += k;
        step = step * 3 + 1;
    }
    uint8_t h[SHA256_LEN], h2[SHA256_LEN];
    sha256_ctx_final (c, h);
    sha256_hex (h, hex);
    ok (!strcmp (hex, want), "million a, incremental");
    sha256_ctx_update (c, "abc", 3);   /* final resets the context */
    sha256_ctx_final (c, h);
    sha256_hex (h, hex);
    ok (!strcmp (hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        "context reusable after final");
    sha256_ctx_destroy (&c);
    ok (c == NULL, "destroy clears pointer");
    free (a);

    /* hex round trip and rejects */
    ok (sha256_parse_hex (hex, h2) == 0 && memcmp (h, h2, SHA256_LEN) == 0, "hex round trip");
    char up[65];
    for (int i = 0; i < 65; i++)
        up[i] = (hex[i] >= 'a' && hex[i] <= 'f') ? hex[i] - 32 : hex[i];
    ok (sha256_parse_hex (up, h2) == 0 && memcmp (h, h2, SHA256_LEN) == 0, "upper case accepted");
    ok (sha256_parse_hex ("abc", h2) < 0, "short hex rejected");
    char longer[70];
    snprintf (longer, sizeof longer, "%s00", hex);
    ok (sha256_parse_hex (longer, h2) < 0, "long hex rejected");
    char bad[65];
    memcpy (bad, hex, 65);
    bad[10] = 'g';
    ok (sha256_parse_hex (bad, h2) < 0, "non-hex digit rejected");
    ok (sha256_parse_hex (NULL, h2) < 0, "NULL rejected");
    return done ();
}
