/* ociauth.h - the text side of registry auth: WWW-Authenticate challenges
 * (Basic, Bearer realm/service/scope), token answers, and Docker's
 * config.json credentials (doc/images.md "Auth").  Pure: no I/O. */
#ifndef CANOPY_OCIAUTH_H
#define CANOPY_OCIAUTH_H
#include <stddef.h>

enum { OCIAUTH_BASIC = 1, OCIAUTH_BEARER = 2 };

typedef struct ociauth_challenge {
    int scheme;           /* OCIAUTH_BASIC or OCIAUTH_BEARER */
    char realm[1024];
    char service[256];
    char scope[512];
} ociauth_challenge_t;

/* Parse a WWW-Authenticate value: `Scheme k="v", k=v, ...`.  The first
 * Basic or Bearer challenge is taken.  0, or -1 with err. */
int ociauth_parse_challenge (const char *hdr, ociauth_challenge_t *c, char *err, size_t errlen);

/* The token of a token server's JSON answer ("token" or "access_token").
 * Malloc'd, or NULL with err. */
char *ociauth_token (const char *data, size_t len, char *err, size_t errlen);

/* Look host up in a Docker config.json ({"auths":{HOST:{"auth":b64}}},
 * also "https://HOST" keys and username/password fields).  1 found (user
 * and pass filled), 0 not found, -1 malformed (err). */
int ociauth_lookup (const char *json, size_t len, const char *host, char *user, size_t ulen, char *pass,
                    size_t plen, char *err, size_t errlen);

/* Percent-encode s for a URL query (RFC 3986 unreserved kept).  Returns buf
 * or NULL if it does not fit. */
char *ociauth_urlencode (const char *s, char *buf, size_t len);

#endif
