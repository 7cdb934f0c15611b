/* ociauth.c - parse registry auth challenges, token answers and Docker
 * config.json credentials (doc/images.md "Auth"). */
#include "ociauth.h"
#include "xalloc.h"
#include "errquote.h"
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *skip_ws (const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

static int is_tchar (char c)
{
    return c && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                 || strchr ("!#$%&'*+-.^_`|~", c));
}

int ociauth_parse_challenge (const char *hdr, ociauth_challenge_t *c, char *err, size_t errlen)
{
    char q[80];
    memset (c, 0, sizeof *c);
    const char *p = skip_ws (hdr);
    while (*p) {
        /* scheme token */
        const char *s = p;
        while (is_tchar (*p))
            p++;
        size_t slen = p - s;
        if (slen == 0)
            break;
        int scheme = 0;
        if (slen == 5 && !strncasecmp (s, "Basic", 5))
            scheme = OCIAUTH_BASIC;
        else if (slen == 6 && !strncasecmp (s, "Bearer", 6))
            scheme = OCIAUTH_BEARER;
        ociauth_challenge_t cur = { .scheme = scheme };
        /* params: k=v or k="v" separated by commas, until a token not followed by '=' */
        for (;;) {
            p = skip_ws (p);
            const char *save = p;
            const char *k = p;
            while (is_tchar (*p) && *p != '=')
                p++;
            size_t klen = p - k;
            p = skip_ws (p);
            if (klen == 0 || *p != '=') {
                p = save;   /* the next challenge's scheme (or the end) */
                break;
            }
            p = skip_ws (p + 1);
            char val[1024];
            size_t vlen = 0;
            if (*p == '"') {
                p++;
                while (*p && *p != '"') {
                    if (*p == '\\' && p[1])
                        p++;
                    if (vlen < sizeof val - 1)
                        val[vlen++] = *p;
                    else
                        return errfail (err, errlen, "WWW-Authenticate parameter too long");
                    p++;
                }
                if (*p != '"')
                    return errfail (err, errlen, "WWW-Authenticate: unterminated quoted string in '%s'",
                                    errquote (q, sizeof q, hdr, (size_t)-1));
                p++;
            }
            else {
                while (is_tchar (*p) || *p == '/' || *p == ':' || *p == '=') {
                    if (vlen < sizeof val - 1)
                        val[vlen++] = *p;
                    else
                        return errfail (err, errlen, "WWW-Authenticate parameter too long");
                    p++;
                }
            }
            val[vlen] = '\0';
            char *dst = NULL;
            size_t dlen = 0;
            if (klen == 5 && !strncasecmp (k, "realm", 5))
                dst = cur.realm, dlen = sizeof cur.realm;
            else if (klen == 7 && !strncasecmp (k, "service", 7))
                dst = cur.service, dlen = sizeof cur.service;
            else if (klen == 5 && !strncasecmp (k, "scope", 5))
                dst = cur.scope, dlen = sizeof cur.scope;
            if (dst) {
                if (vlen >= dlen)
                    return errfail (err, errlen, "WWW-Authenticate parameter too long");
                memcpy (dst, val, vlen + 1);
            }
            p = skip_ws (p);
            if (*p == ',')
                p++;
            else if (*p && !is_tchar (*p))
                return errfail (err, errlen, "WWW-Authenticate: unexpected '%c' in '%s'", *p,
                                errquote (q, sizeof q, hdr, (size_t)-1));
        }
        if (scheme) {
            if (scheme == OCIAUTH_BEARER && !cur.realm[0])
                return errfail (err, errlen, "WWW-Authenticate: Bearer challenge without a realm");
            *c = cur;
            return 0;
        }
        p = skip_ws (p);
        if (*p == ',')
            p = skip_ws (p + 1);
    }
    return errfail (err, errlen, "WWW-Authenticate: no Basic or Bearer challenge in '%s'",
                    errquote (q, sizeof q, hdr, (size_t)-1));
}

char *ociauth_token (const char *data, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *o = json_loadb (data, len, 0, &je);
    if (!json_is_object (o)) {
        json_decref (o);
        errfail (err, errlen, "token answer is not a JSON object");
        return NULL;
    }
    const char *t = json_string_value (json_object_get (o, "token"));
    if (!t || !*t)
        t = json_string_value (json_object_get (o, "access_token"));
    char *r = NULL;
    if (!t || !*t)
        errfail (err, errlen, "token answer has no token");
    else if (strlen (t) > 16384 || strpbrk (t, "\r\n"))
        errfail (err, errlen, "token answer's token is malformed");
    else
        r = xstrdup (t);
    json_decref (o);
    return r;
}

int ociauth_lookup (const char *json, size_t len, const char *host, char *user, size_t ulen, char *pass,
                    size_t plen, char *err, size_t errlen)
{
    json_error_t je;
    json_t *o = json_loadb (json, len, 0, &je);
    if (!json_is_object (o)) {
        json_decref (o);
        return errfail (err, errlen, "credentials file is not a JSON object (%s)", je.text);
    }
    json_t *auths = json_object_get (o, "auths");
    const char *key;
    json_t *v;
    int rc = 0;
    json_object_foreach (auths, key, v) {
        const char *k = key;
        if (!strncmp (k, "https://", 8))
            k += 8;
        else if (!strncmp (k, "http://", 7))
            k += 7;
        size_t hl = strlen (host);
        if (strncmp (k, host, hl) || (k[hl] && k[hl] != '/'))
            continue;
        const char *b64 = json_string_value (json_object_get (v, "auth"));
        const char *u = json_string_value (json_object_get (v, "username"));
        const char *pw = json_string_value (json_object_get (v, "password"));
        if (b64) {
            size_t n = strlen (b64);
            if (n > 4096 || n % 4) {
                rc = errfail (err, errlen, "credentials for %s: malformed auth", host);
                break;
            }
            unsigned char *dec = xmalloc (n / 4 * 3 + 1);
            int dl = EVP_DecodeBlock (dec, (const unsigned char *)b64, (int)n);
            if (dl < 0) {
                free (dec);
                rc = errfail (err, errlen, "credentials for %s: auth is not base64", host);
                break;
            }
            while (n > 0 && b64[n - 1] == '=') {   /* EVP_DecodeBlock counts the padding */
                n--;
                dl--;
            }
            dec[dl] = '\0';
            char *colon = memchr (dec, ':', dl);
            if (!colon || memchr (dec, '\0', dl) || (size_t)(colon - (char *)dec) >= ulen
                || strlen (colon + 1) >= plen) {
                free (dec);
                rc = errfail (err, errlen, "credentials for %s: auth is not user:password", host);
                break;
            }
            *colon = '\0';
            strcpy (user, (char *)dec);
            strcpy (pass, colon + 1);
            free (dec);
            rc = 1;
            break;
        }
        if (u && pw && strlen (u) < ulen && strlen (pw) < plen) {
            strcpy (user, u);
            strcpy (pass, pw);
            rc = 1;
            break;
        }
    }
    json_decref (o);
    return rc;
}

char *ociauth_urlencode (const char *s, char *buf, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr ("-._~", c)) {
            if (o + 1 >= len)
                return NULL;
            buf[o++] = c;
        }
        else {
            if (o + 3 >= len)
                return NULL;
            buf[o++] = '%';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        }
    }
    if (o >= len)
        return NULL;
    buf[o] = '\0';
    return buf;
}
