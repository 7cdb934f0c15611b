/* fuzz_ociauth.c - the WWW-Authenticate, token and credentials parsers on
 * arbitrary bytes: never crash, errors one line, results NUL-terminated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ociauth.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char s[4096], err[256];
    if (size >= sizeof s)
        size = sizeof s - 1;
    memcpy (s, data, size);
    s[size] = '\0';
    ociauth_challenge_t c;
    if (ociauth_parse_challenge (s, &c, err, sizeof err) == 0) {
        if ((c.scheme != OCIAUTH_BASIC && c.scheme != OCIAUTH_BEARER) || !memchr (c.realm, '\0', sizeof c.realm)
            || (c.scheme == OCIAUTH_BEARER && !c.realm[0]))
            abort ();
    }
    else if (strchr (err, '\n'))
        abort ();
    char *t = ociauth_token ((const char *)data, size, err, sizeof err);
    if (t && (!*t || strchr (t, '\n')))
        abort ();
    free (t);
    char u[128], p[128], enc[256];
    int r = ociauth_lookup ((const char *)data, size, "reg.example:5000", u, sizeof u, p, sizeof p, err, sizeof err);
    if (r == 1 && (strlen (u) >= sizeof u || strlen (p) >= sizeof p))
        abort ();
    ociauth_urlencode (s, enc, sizeof enc);
    return 0;
}
